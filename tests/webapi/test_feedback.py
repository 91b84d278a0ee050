"""``POST /api/messages/{id}/feedbacks``: own messages only, stored as the web's feedback, shown in the
saved-messages list."""

from __future__ import annotations

import uuid

import httpx
from sqlalchemy import select
from sqlmodel import col

from inkwell.feedback.models import MessageFeedback
from tests.conftest import RunningServer
from tests.webapi.conftest import WebApp, database, published, visitor


async def feedback_rows(app: WebApp, message_id: str) -> list[MessageFeedback]:
    async with database(app.database_url) as db, db.session() as session:
        found = await session.execute(select(MessageFeedback).where(col(MessageFeedback.message_id) == message_id))
        return list(found.scalars())


async def test_feedback_on_own_messages(server: RunningServer, client: httpx.AsyncClient) -> None:
    app = await published(server)
    me = await visitor(client, app)
    message_id = (await me.complete("rate me")).json()["id"]
    my_id = (await me.get("/site")).json()["end_user_id"]

    resp = await me.post(f"/messages/{message_id}/feedbacks", json={"rating": "like", "content": "nice"})
    assert resp.status_code == 200 and resp.json() == {"result": "success"}
    (row,) = await feedback_rows(app, message_id)
    assert (row.rating, row.content, row.from_end_user_id, row.from_source) == ("like", "nice", my_id, "webapp")

    # shown in the saved list
    assert (await me.post("/saved-messages", json={"message_id": message_id})).status_code == 200
    assert (await me.get("/saved-messages")).json()["data"][0]["feedback"] == {"rating": "like"}

    assert (await me.post(f"/messages/{message_id}/feedbacks", json={"rating": "dislike"})).status_code == 200
    (row,) = await feedback_rows(app, message_id)
    assert row.rating == "dislike"
    assert (await me.get("/saved-messages")).json()["data"][0]["feedback"] == {"rating": "dislike"}

    # null revokes
    assert (await me.post(f"/messages/{message_id}/feedbacks", json={"rating": None})).status_code == 200
    assert await feedback_rows(app, message_id) == []
    assert (await me.get("/saved-messages")).json()["data"][0]["feedback"] is None

    resp = await me.post(f"/messages/{message_id}/feedbacks", json={"rating": "love"})
    assert resp.status_code == 400 and resp.json()["code"] == "invalid_param"


async def test_feedback_on_someone_elses_message_is_not_found(server: RunningServer, client: httpx.AsyncClient) -> None:
    app = await published(server)
    me = await visitor(client, app)
    stranger = await visitor(client, app)
    message_id = (await me.complete("mine")).json()["id"]
    for resp in (
        await stranger.post(f"/messages/{message_id}/feedbacks", json={"rating": "dislike"}),
        await me.post(f"/messages/{uuid.uuid4()}/feedbacks", json={"rating": "like"}),
        await me.post("/messages/not-a-uuid/feedbacks", json={"rating": "like"}),
    ):
        assert resp.status_code == 404
        assert resp.json() == {"code": "not_found", "message": "Message Not Exists.", "status": 404}
    assert await feedback_rows(app, message_id) == []

    # a visitor of another app
    other_app = await published(server)
    foreign = await visitor(client, other_app)
    resp = await foreign.post(f"/messages/{message_id}/feedbacks", json={"rating": "like"})
    assert resp.status_code == 404
