"""Uploaded files: each belongs to one app and one end user; the bytes live in storage under a key
made by the server (never from the client's file name)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index
from sqlmodel import Field, SQLModel

from inkwell.db import new_id, utcnow


class UploadFile(SQLModel, table=True):
    __tablename__ = "upload_files"
    __table_args__ = (Index("ix_upload_files_app_end_user", "app_id", "end_user_id"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    app_id: str = Field(foreign_key="apps.id", max_length=36)
    end_user_id: str = Field(foreign_key="end_users.id", max_length=36)
    name: str = Field(max_length=255)
    size: int
    extension: str = Field(max_length=16)
    mime_type: str = Field(max_length=64)
    storage_key: str = Field(max_length=255)
    sha256: str = Field(max_length=64)
    created_at: datetime = Field(default_factory=utcnow)


class MessageFile(SQLModel, table=True):
    """A file a message used (``belongs_to="user"``: sent with the request)."""

    __tablename__ = "message_files"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    message_id: str = Field(foreign_key="messages.id", index=True, max_length=36)
    app_id: str = Field(foreign_key="apps.id", max_length=36)
    type: str = Field(default="image", max_length=16)
    transfer_method: str = Field(max_length=16)
    upload_file_id: str | None = Field(default=None, max_length=36)
    url: str | None = Field(default=None, max_length=2048)
    filename: str = Field(default="", max_length=255)
    extension: str = Field(default="", max_length=16)
    mime_type: str = Field(default="", max_length=64)
    size: int = Field(default=0)
    belongs_to: str = Field(default="user", max_length=16)
    created_at: datetime = Field(default_factory=utcnow)
