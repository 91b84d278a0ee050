"""Helpers for the feedback tests: messages created through the real API, rows read back directly."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import select
from sqlmodel import col

from inkwell.completion.models import Message
from inkwell.feedback.models import MessageFeedback
from tests.api.conftest import complete, database
from tests.conftest import RunningServer, SeededApp


async def make_message(client: httpx.AsyncClient, app: SeededApp, user: str, text: str = "hello") -> str:
    """A real message of ``user`` in ``app`` (blocking completion); returns its id."""
    resp = await complete(client, app, {"query": text}, user=user)
    assert resp.status_code == 200, resp.text
    return str(resp.json()["message_id"])


async def feedback(
    client: httpx.AsyncClient, app: SeededApp, message_id: str, body: Any, **kwargs: Any
) -> httpx.Response:
    return await client.post(
        f"{app.base_url}/v1/messages/{message_id}/feedbacks", headers=app.headers, json=body, **kwargs
    )


async def feedback_rows(running: RunningServer, message_id: str) -> list[MessageFeedback]:
    async with database(running) as db, db.session() as session:
        query = select(MessageFeedback).where(col(MessageFeedback.message_id) == message_id)
        return list((await session.execute(query)).scalars())


async def owner_of(running: RunningServer, message_id: str) -> str:
    async with database(running) as db, db.session() as session:
        owner = (
            await session.execute(select(col(Message.end_user_id)).where(col(Message.id) == message_id))
        ).scalar_one()
    return str(owner)


async def list_page(client: httpx.AsyncClient, app: SeededApp, **params: Any) -> httpx.Response:
    return await client.get(f"{app.base_url}/v1/app/feedbacks", headers=app.headers, params=params)
