"""``POST /v1/messages/{id}/feedbacks``: the ownership matrix, update in place, revoke, body validation.

Each test runs on SQLite and on PostgreSQL (the ``server`` fixture)."""

from __future__ import annotations

import asyncio
import re
import uuid
from typing import Any

import httpx
import pytest
from dify_client import AsyncClient, models
from sqlalchemy import func, select
from sqlmodel import col

from inkwell.endusers.models import EndUser
from inkwell.errors import NotFound
from inkwell.feedback.service import give_feedback, ratings
from tests.api.conftest import assert_error, database
from tests.conftest import RunningServer, SeededApp, dsl, seed
from tests.feedback.conftest import feedback, feedback_rows, list_page, make_message, owner_of

NAIVE_ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d$")
FEEDBACK_KEYS = {
    "id",
    "app_id",
    "conversation_id",
    "message_id",
    "rating",
    "content",
    "from_source",
    "from_end_user_id",
    "from_account_id",
    "created_at",
    "updated_at",
}
SUCCESS = {"result": "success"}


def _user() -> str:
    return f"fb-{uuid.uuid4().hex[:10]}"


async def test_owner_likes_updates_in_place_and_revokes(
    client: httpx.AsyncClient, server: RunningServer, echo_app: SeededApp
) -> None:
    user = _user()
    message_id = await make_message(client, echo_app, user)

    resp = await feedback(client, echo_app, message_id, {"rating": "like", "user": user, "content": "great, 好"})
    assert resp.status_code == 200, resp.text
    assert resp.json() == SUCCESS
    [row] = await feedback_rows(server, message_id)
    assert (row.rating, row.content, row.from_source, row.app_id) == ("like", "great, 好", "api", echo_app.app_id)
    assert row.from_end_user_id == await owner_of(server, message_id)

    listed = (await list_page(client, echo_app)).json()["data"]
    assert len(listed) == 1
    item = listed[0]
    assert set(item) == FEEDBACK_KEYS
    assert item == {
        "id": row.id,
        "app_id": echo_app.app_id,
        "conversation_id": None,
        "message_id": message_id,
        "rating": "like",
        "content": "great, 好",
        "from_source": "user",
        "from_end_user_id": row.from_end_user_id,
        "from_account_id": None,
        "created_at": item["created_at"],
        "updated_at": item["updated_at"],
    }
    assert NAIVE_ISO.match(item["created_at"]) and NAIVE_ISO.match(item["updated_at"]), item

    # dislike, content null: the same row, updated in place; null content stays null
    resp = await feedback(client, echo_app, message_id, {"rating": "dislike", "user": user, "content": None})
    assert resp.status_code == 200 and resp.json() == SUCCESS, resp.text
    [updated] = await feedback_rows(server, message_id)
    assert (updated.id, updated.rating, updated.content) == (row.id, "dislike", None)
    assert updated.created_at == row.created_at
    assert updated.updated_at > row.updated_at

    # content is stored as given (an empty string is not turned into null, whitespace is kept)
    resp = await feedback(client, echo_app, message_id, {"rating": "like", "user": user, "content": ""})
    assert resp.status_code == 200, resp.text
    [again] = await feedback_rows(server, message_id)
    assert (again.id, again.rating, again.content) == (row.id, "like", "")
    resp = await feedback(client, echo_app, message_id, {"rating": "like", "user": user, "content": "  two\nlines "})
    assert resp.status_code == 200, resp.text
    assert (await feedback_rows(server, message_id))[0].content == "  two\nlines "

    # null revokes: the row is gone, the list is empty
    resp = await feedback(client, echo_app, message_id, {"rating": None, "user": user})
    assert resp.status_code == 200 and resp.json() == SUCCESS, resp.text
    assert await feedback_rows(server, message_id) == []
    assert (await list_page(client, echo_app)).json()["data"] == []

    # revoking again (nothing to revoke) and an absent rating both succeed and change nothing
    for body in ({"rating": None, "user": user}, {"user": user}):
        resp = await feedback(client, echo_app, message_id, body)
        assert resp.status_code == 200 and resp.json() == SUCCESS, resp.text
    assert await feedback_rows(server, message_id) == []

    # rating again after a revoke: a new row
    resp = await feedback(client, echo_app, message_id, {"rating": "dislike", "user": user})
    assert resp.status_code == 200, resp.text
    [fresh] = await feedback_rows(server, message_id)
    assert fresh.id != row.id and fresh.rating == "dislike" and fresh.content is None


async def test_numeric_user_is_the_same_end_user_as_its_string(
    client: httpx.AsyncClient, server: RunningServer, echo_app: SeededApp
) -> None:
    number = int(uuid.uuid4().int % 10**12) + 1
    message_id = await make_message(client, echo_app, str(number))
    resp = await feedback(client, echo_app, message_id, {"rating": "like", "user": number})
    assert resp.status_code == 200, resp.text
    assert [r.rating for r in await feedback_rows(server, message_id)] == ["like"]


async def test_another_end_user_of_the_same_app_gets_404(
    client: httpx.AsyncClient, server: RunningServer, echo_app: SeededApp
) -> None:
    owner, other = _user(), _user()
    message_id = await make_message(client, echo_app, owner)
    await make_message(client, echo_app, other)  # a known end user of the app, with messages of its own

    for user in (other, _user()):  # known and never-seen user strings alike
        resp = await feedback(client, echo_app, message_id, {"rating": "like", "user": user})
        assert_error(resp, 404, "not_found", "Message Not Exists.")
    assert await feedback_rows(server, message_id) == []

    # a revoke by someone else does not touch the owner's feedback
    assert (await feedback(client, echo_app, message_id, {"rating": "like", "user": owner})).status_code == 200
    resp = await feedback(client, echo_app, message_id, {"rating": None, "user": other})
    assert_error(resp, 404, "not_found", "Message Not Exists.")
    assert [r.rating for r in await feedback_rows(server, message_id)] == ["like"]


async def test_never_seen_user_is_not_created(
    client: httpx.AsyncClient, server: RunningServer, echo_app: SeededApp
) -> None:
    message_id = await make_message(client, echo_app, _user())
    stranger = _user()
    resp = await feedback(client, echo_app, message_id, {"rating": "like", "user": stranger})
    assert_error(resp, 404, "not_found", "Message Not Exists.")
    async with database(server) as db, db.session() as session:
        count = (
            await session.execute(select(func.count()).select_from(EndUser).where(col(EndUser.session_id) == stranger))
        ).scalar_one()
    assert count == 0


async def test_another_apps_key_gets_404(client: httpx.AsyncClient, server: RunningServer, echo_app: SeededApp) -> None:
    other_app = await seed(server, dsl(f"other-{uuid.uuid4().hex[:6]}"))
    user = _user()
    message_id = await make_message(client, echo_app, user)
    await make_message(client, other_app, user)  # the same user string exists in the other app too

    resp = await feedback(client, other_app, message_id, {"rating": "like", "user": user})
    assert_error(resp, 404, "not_found", "Message Not Exists.")
    assert await feedback_rows(server, message_id) == []
    assert (await list_page(client, other_app)).json()["data"] == []


@pytest.mark.parametrize("message_id", [str(uuid.uuid4()), "not-a-uuid", "0" * 300, "%00"])
async def test_unknown_message_gets_404(client: httpx.AsyncClient, echo_app: SeededApp, message_id: str) -> None:
    user = _user()
    await make_message(client, echo_app, user)
    resp = await feedback(client, echo_app, message_id, {"rating": "like", "user": user})
    assert_error(resp, 404, "not_found", "Message Not Exists.")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"rating": "love"}, "rating"),
        ({"rating": "LIKE"}, "rating"),
        ({"rating": ""}, "rating"),
        ({"rating": 1}, "rating"),
        ({"rating": True}, "rating"),
        ({"rating": ["like"]}, "rating"),
        ({"rating": {"value": "like"}}, "rating"),
        ({"rating": "like", "content": 5}, "content"),
        ({"rating": "like", "content": True}, "content"),
        ({"rating": "like", "content": ["a"]}, "content"),
        ({"rating": "like", "content": {"a": 1}}, "content"),
        ({"rating": "like", "content": "nul\x00byte"}, "content"),
        ({"rating": "like", "user": ["x"]}, "user"),
        ({"rating": "like", "user": {"id": "x"}}, "user"),
    ],
)
async def test_invalid_body_is_400_and_changes_nothing(
    client: httpx.AsyncClient, server: RunningServer, echo_app: SeededApp, body: dict[str, Any], field: str
) -> None:
    user = _user()
    message_id = await make_message(client, echo_app, user)
    assert (await feedback(client, echo_app, message_id, {"rating": "dislike", "user": user})).status_code == 200
    resp = await feedback(client, echo_app, message_id, {"user": user, **body})
    error = assert_error(resp, 400, "invalid_param")
    assert field in error["message"], error
    [row] = await feedback_rows(server, message_id)
    assert (row.rating, row.content) == ("dislike", None)


@pytest.mark.parametrize("user", [None, "", 0, False, [], "missing"])
async def test_user_is_required(client: httpx.AsyncClient, echo_app: SeededApp, user: Any) -> None:
    message_id = await make_message(client, echo_app, _user())
    body: dict[str, Any] = {"rating": "like"} if user == "missing" else {"rating": "like", "user": user}
    assert_error(await feedback(client, echo_app, message_id, body), 400, "invalid_param", "Arg user must be provided.")


async def test_malformed_bodies(client: httpx.AsyncClient, echo_app: SeededApp) -> None:
    message_id = await make_message(client, echo_app, _user())
    url = f"{echo_app.base_url}/v1/messages/{message_id}/feedbacks"
    json_headers = {**echo_app.headers, "Content-Type": "application/json"}
    for content in (b"", b"{", b"[1, 2]", b'"like"', b"null", b"\xff\xfe"):
        assert_error(await client.post(url, headers=json_headers, content=content), 400, "invalid_param")
    resp = await client.post(url, headers={**echo_app.headers, "Content-Type": "text/plain"}, content=b"{}")
    assert_error(resp, 415, "unsupported_media_type")
    assert_error(await client.post(url, json={"rating": "like", "user": "u"}), 401, "unauthorized")
    assert_error(await client.get(url, headers=echo_app.headers), 405, "method_not_allowed")


async def test_concurrent_ratings_leave_one_row(
    client: httpx.AsyncClient, server: RunningServer, echo_app: SeededApp
) -> None:
    user = _user()
    message_id = await make_message(client, echo_app, user)
    votes = ["like" if i % 2 else "dislike" for i in range(16)]
    responses = await asyncio.gather(
        *(
            feedback(client, echo_app, message_id, {"rating": v, "user": user, "content": str(i)})
            for i, v in enumerate(votes)
        )
    )
    assert [r.status_code for r in responses] == [200] * len(votes), [r.text for r in responses]
    rows = await feedback_rows(server, message_id)
    assert len(rows) == 1
    assert rows[0].rating == votes[int(rows[0].content or "-1")]  # one of the writes won, whole


async def test_service_is_reusable_by_the_web_api(
    client: httpx.AsyncClient, server: RunningServer, echo_app: SeededApp
) -> None:
    """The web API calls the same service with its own end user and ``source="webapp"``."""
    user = _user()
    liked, disliked, unrated = [await make_message(client, echo_app, user, f"m{i}") for i in range(3)]
    end_user_id = await owner_of(server, liked)
    async with database(server) as db:
        await give_feedback(db, echo_app.app_id, end_user_id, liked, "like", None, "webapp")
        await give_feedback(db, echo_app.app_id, end_user_id, disliked, "dislike", "meh", "webapp")
        found = await ratings(
            db, app_id=echo_app.app_id, end_user_id=end_user_id, message_ids=[liked, disliked, unrated]
        )
        assert found == {liked: "like", disliked: "dislike"}
        assert await ratings(db, app_id=echo_app.app_id, end_user_id=end_user_id, message_ids=[]) == {}
        with pytest.raises(NotFound, match="Message Not Exists."):  # another end user: not theirs
            await give_feedback(db, echo_app.app_id, str(uuid.uuid4()), liked, "like", None, "webapp")
    assert [r.from_source for r in await feedback_rows(server, liked)] == ["webapp"]
    listed = {item["message_id"]: item for item in (await list_page(client, echo_app)).json()["data"]}
    assert listed[disliked]["content"] == "meh"
    assert listed[liked]["from_source"] == "user"


async def test_dify_sdk_feedback(client: httpx.AsyncClient, server: RunningServer, echo_app: SeededApp) -> None:
    user = _user()
    message_id = await make_message(client, echo_app, user)
    sdk = AsyncClient(api_key=echo_app.key, api_base=f"{echo_app.base_url}/v1")
    resp = await sdk.afeedback_messages(
        message_id, models.FeedbackRequest(rating=models.Rating.LIKE, user=user, content="from the SDK")
    )
    assert resp.result == "success"
    assert [(r.rating, r.content) for r in await feedback_rows(server, message_id)] == [("like", "from the SDK")]
    resp = await sdk.afeedback_messages(message_id, models.FeedbackRequest(rating=None, user=user))
    assert resp.result == "success"
    assert await feedback_rows(server, message_id) == []
