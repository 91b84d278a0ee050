"""More-like-this and saved messages (reference §1.2, §6.8): own messages only, feature switch, limits,
``last_id`` paging."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import httpx

from inkwell.apps.models import App
from tests.conftest import RunningServer
from tests.fakes.openai_upstream import FakeOpenAI
from tests.webapi.conftest import Visitor, WebApp, database, message, published, update_app, visitor

MORE = {"more_like_this": {"enabled": True}}


async def answered(me: Visitor, query: str) -> str:
    resp = await me.complete(query)
    assert resp.status_code == 200, resp.text
    message_id = resp.json()["id"]
    assert isinstance(message_id, str)
    return message_id


async def test_more_like_this_generates_a_new_message_from_the_same_inputs(
    server: RunningServer, client: httpx.AsyncClient
) -> None:
    app = await published(server, **MORE)
    me = await visitor(client, app)
    original = await answered(me, "otters hold hands")

    resp = await me.get(f"/messages/{original}/more-like-this", params={"response_mode": "blocking"})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["id"] != original and body["message_id"] == body["id"]
    assert body["answer"].rstrip("\n") == "otters hold hands"
    assert body["metadata"] == {"retriever_resources": []}
    again = await message(app, body["id"])
    first = await message(app, original)
    assert again is not None and first is not None
    assert again.inputs == first.inputs and again.query == first.query
    assert again.end_user_id == first.end_user_id and again.invoke_from == "web-app"

    resp, frames = await me.stream("GET", f"/messages/{original}/more-like-this", params={"response_mode": "streaming"})
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/event-stream")
    assert frames[-1]["event"] == "message_end" and frames[-1]["metadata"] == {"retriever_resources": []}
    assert frames[-1]["id"] not in (original, body["id"])


async def test_more_like_this_rules(server: RunningServer, client: httpx.AsyncClient) -> None:
    app = await published(server)  # more_like_this off
    me = await visitor(client, app)
    original = await answered(me, "hello")
    path = f"/messages/{original}/more-like-this"
    resp = await me.get(path, params={"response_mode": "blocking"})
    assert resp.status_code == 403
    assert resp.json() == {
        "code": "app_more_like_this_disabled",
        "message": "The 'More like this' feature is disabled. Please refresh your page.",
        "status": 403,
    }
    await update_app(app, app_model_config={**(await _config(app)), **MORE})
    assert (await me.get(path, params={"response_mode": "blocking"})).status_code == 200

    # response_mode is required and checked
    for params in ({}, {"response_mode": "sometimes"}):
        resp = await me.get(path, params=params)
        assert resp.status_code == 400 and resp.json()["code"] == "invalid_param"
    # another end user's message, an unknown one, another app's one: 404
    stranger = await visitor(client, app)
    resp = await stranger.get(path, params={"response_mode": "blocking"})
    assert resp.status_code == 404
    assert resp.json() == {"code": "not_found", "message": "Message Not Exists.", "status": 404}
    assert (await me.get(f"/messages/{uuid.uuid4()}/more-like-this?response_mode=blocking")).status_code == 404
    other_app = await published(server, **MORE)
    other_me = await visitor(client, other_app)
    resp = await other_me.get(path, params={"response_mode": "blocking"})
    assert resp.status_code == 404


async def _config(app: WebApp) -> dict[str, object]:
    async with database(app.database_url) as db, db.session() as session:
        row = await session.get(App, app.app_id)
        assert row is not None
        return dict(row.app_model_config)


async def test_more_like_this_counts_against_the_app_limits(server: RunningServer, client: httpx.AsyncClient) -> None:
    app = await published(server, **MORE)
    me = await visitor(client, app)
    original = await answered(me, "hello")
    await update_app(app, rate_limit_per_minute=1)  # the original request was before the limit
    assert (await me.get(f"/messages/{original}/more-like-this?response_mode=blocking")).status_code == 200
    resp = await me.get(f"/messages/{original}/more-like-this?response_mode=blocking")
    assert resp.status_code == 429 and resp.json()["code"] == "rate_limit_error"
    assert "retry-after" in resp.headers


async def test_more_like_this_raises_the_temperature_the_model_gets(
    server_factory: Callable[..., RunningServer], fake_openai: FakeOpenAI, client: httpx.AsyncClient
) -> None:
    running = server_factory(openai_base_url=fake_openai.base_url, openai_api_key="sk-test")
    model = {
        "provider": "langgenius/openai/openai",
        "name": "gpt-4o-mini",
        "mode": "chat",
        "completion_params": {"temperature": 0.2, "max_tokens": 64},
    }
    app = await published(running, model=model, **MORE)
    me = await visitor(client, app)
    original = await answered(me, "write about otters")
    resp = await me.get(f"/messages/{original}/more-like-this", params={"response_mode": "blocking"})
    assert resp.status_code == 200, resp.text
    first, second = fake_openai.requests[-2:]
    assert first.body["temperature"] == 0.2
    assert second.body["temperature"] == 0.9
    assert second.body["messages"] == first.body["messages"]
    assert second.body["max_tokens"] == 64
    assert resp.json()["answer"] == "Hello, world!"


async def test_saved_messages(server: RunningServer, client: httpx.AsyncClient) -> None:
    app = await published(server)
    me = await visitor(client, app)
    ids = [await answered(me, f"note {i}") for i in range(5)]

    assert (await me.get("/saved-messages")).json() == {"limit": 20, "has_more": False, "data": []}
    for message_id in ids:
        resp = await me.post("/saved-messages", json={"message_id": message_id})
        assert resp.status_code == 200 and resp.json() == {"result": "success"}
    # saving twice is fine
    assert (await me.post("/saved-messages", json={"message_id": ids[0]})).json() == {"result": "success"}

    page = (await me.get("/saved-messages")).json()
    assert page["has_more"] is False and page["limit"] == 20
    assert [item["id"] for item in page["data"]] == ids[::-1]  # newest first
    item = page["data"][0]
    assert list(item) == ["id", "inputs", "query", "answer", "message_files", "feedback", "created_at"]
    assert item["inputs"] == {"query": "note 4"} and item["answer"].rstrip("\n") == "note 4"
    assert item["message_files"] == [] and item["feedback"] is None and isinstance(item["created_at"], int)

    # paging by last_id
    seen: list[str] = []
    last_id = ""
    while True:
        resp = await me.get("/saved-messages", params={"last_id": last_id, "limit": 2})
        assert resp.status_code == 200
        body = resp.json()
        assert body["limit"] == 2 and len(body["data"]) <= 2
        seen += [item["id"] for item in body["data"]]
        if not body["has_more"]:
            break
        last_id = body["data"][-1]["id"]
    assert seen == ids[::-1]

    for params in ({"limit": 0}, {"limit": 101}, {"limit": "x"}, {"last_id": "not-a-uuid"}):
        resp = await me.get("/saved-messages", params=params)
        assert resp.status_code == 400 and resp.json()["code"] == "invalid_param", params
    resp = await me.get("/saved-messages", params={"last_id": str(uuid.uuid4())})
    assert resp.status_code == 404

    # delete: 204, idempotent
    resp = await me.delete(f"/saved-messages/{ids[2]}")
    assert resp.status_code == 204 and resp.content == b""
    assert (await me.delete(f"/saved-messages/{ids[2]}")).status_code == 204
    assert (await me.delete("/saved-messages/not-a-uuid")).status_code == 404
    assert [i["id"] for i in (await me.get("/saved-messages")).json()["data"]] == [ids[4], ids[3], ids[1], ids[0]]


async def test_saved_messages_are_per_end_user(server: RunningServer, client: httpx.AsyncClient) -> None:
    app = await published(server)
    me = await visitor(client, app)
    stranger = await visitor(client, app)
    mine = await answered(me, "mine")
    theirs = await answered(stranger, "theirs")

    # only own messages can be saved
    resp = await me.post("/saved-messages", json={"message_id": theirs})
    assert resp.status_code == 404
    assert resp.json() == {"code": "not_found", "message": "Message Not Exists.", "status": 404}
    assert (await me.post("/saved-messages", json={"message_id": str(uuid.uuid4())})).status_code == 404
    for body in ({}, {"message_id": 5}, {"message_id": "nope"}):
        resp = await me.post("/saved-messages", json=body)
        assert resp.status_code == 400 and resp.json()["code"] == "invalid_param"

    assert (await me.post("/saved-messages", json={"message_id": mine})).status_code == 200
    assert (await stranger.post("/saved-messages", json={"message_id": theirs})).status_code == 200
    assert [i["id"] for i in (await me.get("/saved-messages")).json()["data"]] == [mine]
    assert [i["id"] for i in (await stranger.get("/saved-messages")).json()["data"]] == [theirs]
    # deleting someone else's saved message changes nothing; their last_id is not mine to page from
    assert (await me.delete(f"/saved-messages/{theirs}")).status_code == 204
    assert [i["id"] for i in (await stranger.get("/saved-messages")).json()["data"]] == [theirs]
    assert (await me.get("/saved-messages", params={"last_id": theirs})).status_code == 404

    # the same browser session (user_id) keeps its saved messages across passports
    first = await visitor(client, app, user_id="session-42")
    saved = await answered(first, "keep me")
    assert (await first.post("/saved-messages", json={"message_id": saved})).status_code == 200
    later = await visitor(client, app, user_id="session-42")
    assert [i["id"] for i in (await later.get("/saved-messages")).json()["data"]] == [saved]
