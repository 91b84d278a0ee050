"""One feedback per (message, end user): a rating and an optional text, updated in place."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from inkwell.db import new_id, utcnow


class MessageFeedback(SQLModel, table=True):
    __tablename__ = "message_feedbacks"
    __table_args__ = (
        UniqueConstraint("message_id", "from_end_user_id", name="uq_message_feedbacks_message_end_user"),
        # the app's list, newest first (``GET /v1/app/feedbacks``)
        Index("ix_message_feedbacks_app_created", "app_id", "created_at"),
    )

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    app_id: str = Field(foreign_key="apps.id", max_length=36)
    message_id: str = Field(foreign_key="messages.id", max_length=36)
    from_end_user_id: str = Field(foreign_key="end_users.id", max_length=36)
    rating: str = Field(max_length=16)  # "like" | "dislike"; a revoked feedback is deleted
    content: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    from_source: str = Field(max_length=16)  # "api" (service API) | "webapp" (web API)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
