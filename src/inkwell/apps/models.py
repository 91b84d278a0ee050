"""Apps and their API keys."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Text
from sqlmodel import Field, SQLModel

from inkwell.db import new_id, utcnow


class App(SQLModel, table=True):
    __tablename__ = "apps"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    name: str = Field(max_length=255)
    description: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    mode: str = Field(default="completion", max_length=32)
    icon: str | None = Field(default=None, max_length=255)
    icon_type: str | None = Field(default=None, max_length=32)
    icon_background: str | None = Field(default=None, max_length=32)
    author_name: str | None = Field(default=None, max_length=255)
    tags: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    status: str = Field(default="normal", max_length=32)
    enable_api: bool = Field(default=True)
    enable_site: bool = Field(default=True)
    max_active_requests: int = Field(default=0)
    rate_limit_per_minute: int = Field(default=0)
    app_model_config: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class ApiKey(SQLModel, table=True):
    __tablename__ = "api_keys"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    app_id: str = Field(foreign_key="apps.id", index=True, max_length=36)
    digest: str = Field(max_length=64, unique=True)
    prefix: str = Field(max_length=16)
    created_at: datetime = Field(default_factory=utcnow)
    revoked_at: datetime | None = Field(default=None)
