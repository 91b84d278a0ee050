"""End users: the `user` strings callers send, scoped to one app."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from inkwell.db import new_id, utcnow


class EndUser(SQLModel, table=True):
    __tablename__ = "end_users"
    __table_args__ = (UniqueConstraint("app_id", "session_id", name="uq_end_users_app_session"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    app_id: str = Field(foreign_key="apps.id", max_length=36)
    session_id: str = Field(max_length=255)
    type: str = Field(default="service-api", max_length=32)
    is_anonymous: bool = Field(default=False)
    created_at: datetime = Field(default_factory=utcnow)
