"""Feedback on messages, independent of HTTP: the service API (``from_source="api"``) and the web API
(``from_source="webapp"``) both call :func:`give_feedback` with the end user they authenticated."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy import delete, select
from sqlmodel import col

from inkwell.completion.models import Message
from inkwell.db import Database, new_id, utcnow
from inkwell.errors import NotFound
from inkwell.feedback.models import MessageFeedback

Source = Literal["api", "webapp"]
Rating = Literal["like", "dislike"]


def naive_iso(value: datetime) -> str:
    """The reference's timestamp form: naive UTC ISO-8601 to the second (``2025-04-24T09:24:38``)."""
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.replace(microsecond=0).isoformat()


def is_uuid(value: str) -> bool:
    """Ids are UUIDs: anything else names no row (and is never sent to the database)."""
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


async def give_feedback(
    db: Database,
    app_id: str,
    end_user_id: str,
    message_id: str,
    rating: Rating | None,
    content: str | None,
    source: Source,
) -> None:
    """Rate a message of this end user in this app; ``rating=None`` revokes (deletes) the feedback.

    One feedback per (message, end user), updated in place (``created_at`` kept, ``updated_at``
    moved): concurrent calls converge on one row through the unique constraint. Revoking when there is
    nothing to revoke succeeds. 404 ``Message Not Exists.`` unless the message is this end user's in
    this app (the reference's wording; a foreign message is indistinguishable from a missing one).
    """
    if not is_uuid(message_id):
        raise NotFound("Message Not Exists.")
    async with db.session() as session:
        owned = (
            await session.execute(
                select(col(Message.id)).where(
                    col(Message.id) == message_id,
                    col(Message.app_id) == app_id,
                    col(Message.end_user_id) == end_user_id,
                )
            )
        ).scalar_one_or_none()
        if owned is None:
            raise NotFound("Message Not Exists.")
        if rating is None:
            await session.execute(
                delete(MessageFeedback).where(
                    col(MessageFeedback.message_id) == message_id,
                    col(MessageFeedback.from_end_user_id) == end_user_id,
                )
            )
        else:
            now = utcnow()
            insert = db.insert_into(MessageFeedback)
            statement = insert.values(
                id=new_id(),
                app_id=app_id,
                message_id=message_id,
                from_end_user_id=end_user_id,
                rating=rating,
                content=content,
                from_source=source,
                created_at=now,
                updated_at=now,
            ).on_conflict_do_update(
                index_elements=["message_id", "from_end_user_id"],
                set_={"rating": rating, "content": content, "from_source": source, "updated_at": now},
            )
            await session.execute(statement)
        await session.commit()


@dataclass(frozen=True)
class FeedbackPage:
    rows: list[MessageFeedback]
    has_more: bool


async def list_feedbacks(db: Database, app_id: str, *, page: int, limit: int) -> FeedbackPage:
    """The app's feedbacks, newest first (``created_at`` then ``id``, descending), offset pages."""
    offset = (page - 1) * limit
    async with db.session() as session:
        rows = list(
            (
                await session.execute(
                    select(MessageFeedback)
                    .where(col(MessageFeedback.app_id) == app_id)
                    .order_by(col(MessageFeedback.created_at).desc(), col(MessageFeedback.id).desc())
                    .offset(offset)
                    .limit(limit + 1)
                )
            ).scalars()
        )
    return FeedbackPage(rows=rows[:limit], has_more=len(rows) > limit)


async def ratings(db: Database, *, app_id: str, end_user_id: str, message_ids: list[str]) -> dict[str, str]:
    """This end user's rating of each of ``message_ids`` that has one (for the web's saved messages)."""
    if not message_ids:
        return {}
    async with db.session() as session:
        found = (
            await session.execute(
                select(col(MessageFeedback.message_id), col(MessageFeedback.rating)).where(
                    col(MessageFeedback.app_id) == app_id,
                    col(MessageFeedback.from_end_user_id) == end_user_id,
                    col(MessageFeedback.message_id).in_(message_ids),
                )
            )
        ).all()
    return {str(message_id): str(rating) for message_id, rating in found}


def feedback_object(row: MessageFeedback) -> dict[str, Any]:
    """The reference's feedback shape (``MessageFeedback.to_dict``). ``from_source`` is the reference's
    ``"user"`` (given by an end user) whichever surface it came through; the stored column tells
    ``api`` from ``webapp``."""
    return {
        "id": row.id,
        "app_id": row.app_id,
        "conversation_id": None,
        "message_id": row.message_id,
        "rating": row.rating,
        "content": row.content,
        "from_source": "user",
        "from_end_user_id": row.from_end_user_id,
        "from_account_id": None,
        "created_at": naive_iso(row.created_at),
        "updated_at": naive_iso(row.updated_at),
    }
