"""The stored record of one generation."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Index, Text
from sqlmodel import Field, SQLModel

from inkwell.db import new_id, utcnow


class Message(SQLModel, table=True):
    __tablename__ = "messages"
    __table_args__ = (Index("ix_messages_app_end_user", "app_id", "end_user_id"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    app_id: str = Field(foreign_key="apps.id", max_length=36)
    end_user_id: str = Field(foreign_key="end_users.id", max_length=36)
    task_id: str = Field(max_length=36, index=True)
    invoke_from: str = Field(default="service-api", max_length=32)
    model_provider: str = Field(default="", max_length=255)
    model_id: str = Field(default="", max_length=255)
    inputs: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    query: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    prompt: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    answer: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    message_tokens: int = Field(default=0)
    message_unit_price: str = Field(default="0", max_length=32)
    message_price_unit: str = Field(default="0", max_length=32)
    message_price: str = Field(default="0", max_length=32)
    answer_tokens: int = Field(default=0)
    answer_unit_price: str = Field(default="0", max_length=32)
    answer_price_unit: str = Field(default="0", max_length=32)
    answer_price: str = Field(default="0", max_length=32)
    total_price: str = Field(default="0", max_length=32)
    currency: str = Field(default="USD", max_length=16)
    latency: float = Field(default=0.0)
    status: str = Field(default="normal", max_length=16)
    error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    message_metadata: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
