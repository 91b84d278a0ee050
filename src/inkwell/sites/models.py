"""Sites (an app's published web page) and saved messages (web end users' bookmarks)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from inkwell.db import new_id, utcnow


class Site(SQLModel, table=True):
    """The web page of one app, at ``/completion/{code}``. Title, description and icon come from the
    DSL ``app`` block when the site is published; ``enabled`` is the on/off switch."""

    __tablename__ = "sites"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    app_id: str = Field(foreign_key="apps.id", unique=True, max_length=36)
    code: str = Field(unique=True, max_length=32)
    title: str = Field(max_length=255)
    description: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    icon_type: str | None = Field(default=None, max_length=32)
    icon: str | None = Field(default=None, max_length=255)
    icon_background: str | None = Field(default=None, max_length=32)
    chat_color_theme: str | None = Field(default=None, max_length=32)
    chat_color_theme_inverted: bool = Field(default=False)
    default_language: str = Field(default="en-US", max_length=32)
    copyright: str | None = Field(default=None, max_length=255)
    privacy_policy: str | None = Field(default=None, max_length=255)
    custom_disclaimer: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    show_workflow_steps: bool = Field(default=True)
    use_icon_as_answer_icon: bool = Field(default=False)
    prompt_public: bool = Field(default=False)
    enabled: bool = Field(default=True)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class SavedMessage(SQLModel, table=True):
    """A message an end user saved from the web page; once per (message, end user)."""

    __tablename__ = "saved_messages"
    __table_args__ = (
        UniqueConstraint("message_id", "created_by_end_user_id", name="uq_saved_messages_message_end_user"),
        Index("ix_saved_messages_app_end_user", "app_id", "created_by_end_user_id"),
    )

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    app_id: str = Field(foreign_key="apps.id", max_length=36)
    message_id: str = Field(foreign_key="messages.id", max_length=36)
    created_by_end_user_id: str = Field(foreign_key="end_users.id", max_length=36)
    created_at: datetime = Field(default_factory=utcnow)
