"""datasets

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22

Datasets, their documents and segments, and the full-text index of the segments, which is
engine-specific (see ``inkwell/retrieval/search.py``):

* PostgreSQL: a stored generated ``tsvector`` column ``content_tsv`` (``english`` configuration) with
  a GIN index;
* SQLite: the FTS5 table ``dataset_segments_fts`` (``porter unicode61`` tokenizer), written by the
  service together with the segments.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "datasets",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "dataset_documents",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
        sa.Column("dataset_id", sa.String(length=36), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("data_source_type", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("content_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("word_count", sa.Integer(), nullable=False),
        sa.Column("segment_count", sa.Integer(), nullable=False),
        sa.Column("chunk_size", sa.Integer(), nullable=False),
        sa.Column("chunk_overlap", sa.Integer(), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["dataset_id"], ["datasets.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("dataset_id", "name", name="uq_dataset_documents_dataset_name"),
    )
    with op.batch_alter_table("dataset_documents", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_dataset_documents_dataset_id"), ["dataset_id"], unique=False)

    op.create_table(
        "dataset_segments",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
        sa.Column("dataset_id", sa.String(length=36), nullable=False),
        sa.Column("document_id", sa.String(length=36), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("word_count", sa.Integer(), nullable=False),
        sa.Column("index_node_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("hit_count", sa.Integer(), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["dataset_id"], ["datasets.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["document_id"], ["dataset_documents.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("dataset_segments", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_dataset_segments_dataset_id"), ["dataset_id"], unique=False)
        batch_op.create_index("ix_dataset_segments_document_position", ["document_id", "position"], unique=False)

    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "ALTER TABLE dataset_segments ADD COLUMN content_tsv tsvector "
            "GENERATED ALWAYS AS (to_tsvector('english', content)) STORED"
        )
        op.execute("CREATE INDEX ix_dataset_segments_content_tsv ON dataset_segments USING gin (content_tsv)")
    else:
        op.execute(
            "CREATE VIRTUAL TABLE dataset_segments_fts USING fts5("
            "content, segment_id UNINDEXED, dataset_id UNINDEXED, document_id UNINDEXED, "
            "tokenize = 'porter unicode61 remove_diacritics 2')"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_dataset_segments_content_tsv")
    else:
        op.execute("DROP TABLE IF EXISTS dataset_segments_fts")
    with op.batch_alter_table("dataset_segments", schema=None) as batch_op:
        batch_op.drop_index("ix_dataset_segments_document_position")
        batch_op.drop_index(batch_op.f("ix_dataset_segments_dataset_id"))
    op.drop_table("dataset_segments")
    with op.batch_alter_table("dataset_documents", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_dataset_documents_dataset_id"))
    op.drop_table("dataset_documents")
    op.drop_table("datasets")
