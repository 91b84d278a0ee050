"""feedbacks

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "message_feedbacks",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
        sa.Column("app_id", sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
        sa.Column("message_id", sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
        sa.Column("from_end_user_id", sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
        sa.Column("rating", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("content", sa.Text(), nullable=True),
        sa.Column("from_source", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["app_id"], ["apps.id"]),
        sa.ForeignKeyConstraint(["from_end_user_id"], ["end_users.id"]),
        sa.ForeignKeyConstraint(["message_id"], ["messages.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("message_id", "from_end_user_id", name="uq_message_feedbacks_message_end_user"),
    )
    with op.batch_alter_table("message_feedbacks", schema=None) as batch_op:
        batch_op.create_index("ix_message_feedbacks_app_created", ["app_id", "created_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("message_feedbacks", schema=None) as batch_op:
        batch_op.drop_index("ix_message_feedbacks_app_created")
    op.drop_table("message_feedbacks")
