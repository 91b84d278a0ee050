"""Datasets, their documents and the segments (chunks) that retrieval returns.

The full-text index is engine-specific and lives beside these tables (migration 0005):

* PostgreSQL: ``dataset_segments.content_tsv``, a stored generated ``tsvector``
  (``to_tsvector('english', content)``) with a GIN index. Not mapped here: the ORM never writes it.
* SQLite: the FTS5 table ``dataset_segments_fts`` (``porter unicode61`` tokenizer), written by the
  service in the same transaction as the segments (``retrieval/search.py``).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, ForeignKey, Index, String, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from inkwell.db import new_id, utcnow


class Dataset(SQLModel, table=True):
    __tablename__ = "datasets"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    name: str = Field(max_length=255)
    description: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class DatasetDocument(SQLModel, table=True):
    """One source file of a dataset; its name is unique in the dataset (adding it again replaces it)."""

    __tablename__ = "dataset_documents"
    __table_args__ = (UniqueConstraint("dataset_id", "name", name="uq_dataset_documents_dataset_name"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    dataset_id: str = Field(
        sa_column=Column(String(36), ForeignKey("datasets.id", ondelete="CASCADE"), nullable=False, index=True)
    )
    name: str = Field(max_length=255)
    data_source_type: str = Field(default="upload_file", max_length=32)
    content_hash: str = Field(max_length=64)
    # characters, as the reference counts a document's "word_count"
    word_count: int = Field(default=0)
    segment_count: int = Field(default=0)
    chunk_size: int = Field(default=0)
    chunk_overlap: int = Field(default=0)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class DatasetSegment(SQLModel, table=True):
    """A chunk of a document: what retrieval ranks, cites and puts into the prompt's context."""

    __tablename__ = "dataset_segments"
    __table_args__ = (Index("ix_dataset_segments_document_position", "document_id", "position"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    dataset_id: str = Field(
        sa_column=Column(String(36), ForeignKey("datasets.id", ondelete="CASCADE"), nullable=False, index=True)
    )
    document_id: str = Field(
        sa_column=Column(String(36), ForeignKey("dataset_documents.id", ondelete="CASCADE"), nullable=False)
    )
    # 1-based order of the segment in its document
    position: int
    content: str = Field(sa_column=Column(Text, nullable=False))
    # characters (the reference's segment "word_count" is len(content))
    word_count: int = Field(default=0)
    # sha256 of the content (the reference's index_node_hash)
    index_node_hash: str = Field(max_length=64)
    hit_count: int = Field(default=0)
    created_at: datetime = Field(default_factory=utcnow)
