"""``/api`` completion, stop, parameters, meta, site, file upload and ``/v1/site`` (SPEC §4, §9)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable

import httpx
import orjson
import yaml

from inkwell.sites.service import publish
from tests.conftest import RunningServer, dsl, seed
from tests.webapi.conftest import WebApp, database, message, published, update_app, visitor

PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4890000000d4944415478da63f8ffff3f0005fe02fe"
    "a7d6a4f30000000049454e44ae426082"
)


async def test_blocking_answer_has_the_simple_metadata_form(server: RunningServer, client: httpx.AsyncClient) -> None:
    app = await published(server)
    me = await visitor(client, app)
    resp = await me.complete("otters")
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert list(body) == ["event", "task_id", "id", "message_id", "mode", "answer", "metadata", "created_at"]
    assert body["event"] == "message" and body["mode"] == "completion"
    assert body["answer"].rstrip("\n") == "otters"
    assert body["metadata"] == {"retriever_resources": []}  # no usage, no annotation_reply

    row = await message(app, body["id"])
    assert row is not None
    assert row.invoke_from == "web-app"
    assert row.end_user_id == (await me.get("/site")).json()["end_user_id"]
    assert row.answer.rstrip("\n") == "otters"


async def test_streaming_answer_has_the_simple_metadata_form(server: RunningServer, client: httpx.AsyncClient) -> None:
    app = await published(server)
    me = await visitor(client, app)
    resp, frames = await me.stream(
        "POST", "/completion-messages", json={"inputs": {"query": "sea otters"}, "response_mode": "streaming"}
    )
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/event-stream")
    events = [f["event"] for f in frames]
    assert events[-1] == "message_end" and events.count("message_end") == 1
    assert "".join(f["answer"] for f in frames if f["event"] == "message").rstrip("\n") == "sea otters"
    end = frames[-1]
    assert end["metadata"] == {"retriever_resources": []}
    assert "usage" not in end["metadata"]


async def test_completion_request_errors(server: RunningServer, client: httpx.AsyncClient) -> None:
    app = await published(server)
    me = await visitor(client, app)
    resp = await me.post("/completion-messages", json={"response_mode": "blocking"})
    assert resp.status_code == 400 and resp.json()["code"] == "invalid_param"
    assert "inputs" in resp.json()["message"]
    resp = await me.post("/completion-messages", json={"inputs": {}})
    assert resp.status_code == 400 and resp.json()["message"] == "query is required in input form"
    resp = await me.post("/completion-messages", content=b"[]", headers={"Content-Type": "text/plain"})
    assert resp.status_code == 415
    # no user field is needed, and one sent is ignored: the passport's end user is the caller
    resp = await me.complete("hi", user="someone-else")
    assert resp.status_code == 200
    row = await message(app, resp.json()["id"])
    assert row is not None and row.end_user_id == (await me.get("/site")).json()["end_user_id"]


async def test_wrong_app_mode_is_not_completion_app(server: RunningServer, client: httpx.AsyncClient) -> None:
    app = await published(server)
    me = await visitor(client, app)
    await update_app(app, mode="chat")
    for resp in (
        await me.complete("hi"),
        await me.post("/completion-messages/some-task/stop"),
        await me.get("/saved-messages"),
        await me.post("/saved-messages", json={"message_id": str(uuid.uuid4())}),
        await me.get(f"/messages/{uuid.uuid4()}/more-like-this", params={"response_mode": "blocking"}),
    ):
        assert resp.status_code == 400, resp.text
        assert resp.json() == {
            "code": "not_completion_app",
            "message": "Please check if your Completion app mode matches the right API route.",
            "status": 400,
        }


async def test_stop_only_stops_the_own_task(
    server_factory: Callable[..., RunningServer], client: httpx.AsyncClient
) -> None:
    running = server_factory(builtin_token_delay_ms=40)
    app = await published(running)
    me = await visitor(client, app)
    stranger = await visitor(client, app)
    query = " ".join(f"w{i}" for i in range(200))  # ~8 s at 40 ms per token
    frames: list[dict[str, object]] = []
    first_frame = asyncio.Event()

    async def read() -> None:
        async with client.stream(
            "POST",
            app.url("/completion-messages"),
            headers=me.headers,
            json={"inputs": {"query": query}, "response_mode": "streaming"},
        ) as resp:
            assert resp.status_code == 200
            async for line in resp.aiter_lines():
                if line.startswith("data: "):
                    frames.append(orjson.loads(line[6:]))
                    first_frame.set()

    reader = asyncio.create_task(read())
    await asyncio.wait_for(first_frame.wait(), 10)
    task_id = str(frames[0]["task_id"])

    resp = await stranger.post(f"/completion-messages/{task_id}/stop")
    assert resp.status_code == 200 and resp.json() == {"result": "success"}
    await asyncio.sleep(0.3)
    assert not reader.done()  # another end user's stop did nothing

    started = asyncio.get_running_loop().time()
    resp = await me.post(f"/completion-messages/{task_id}/stop")
    assert resp.json() == {"result": "success"}
    await asyncio.wait_for(reader, 5)
    assert asyncio.get_running_loop().time() - started < 2
    assert frames[-1]["event"] == "message_end"
    row = await message(app, str(frames[-1]["id"]))
    assert row is not None and row.status == "stopped"
    # unknown tasks are not revealed
    assert (await me.post("/completion-messages/no-such-task/stop")).json() == {"result": "success"}


async def test_parameters_meta_and_site(server: RunningServer, client: httpx.AsyncClient) -> None:
    app = await published(server)
    me = await visitor(client, app)
    web = (await me.get("/parameters")).json()
    service = (await client.get(f"{app.base_url}/v1/parameters", headers=app.service_headers)).json()
    assert web == service
    assert (await me.get("/meta")).json() == {"tool_icons": {}}

    site = (await me.get("/site")).json()
    assert list(site) == [
        "app_id",
        "end_user_id",
        "enable_site",
        "site",
        "model_config",
        "plan",
        "can_replace_logo",
        "custom_config",
    ]
    assert site["app_id"] == app.app_id and site["enable_site"] is True and site["model_config"] is None
    assert site["site"]["title"].startswith("web-")
    assert site["site"]["prompt_public"] is False


async def test_dsl_app_block_feeds_the_site(server: RunningServer, client: httpx.AsyncClient) -> None:
    doc = yaml.safe_load(dsl("ignored"))
    doc["app"].update(
        {"name": "Otter Writer", "description": "Writes about otters.", "icon": "🦦", "icon_background": "#FFEAD5"}
    )
    seeded = await seed(server, yaml.safe_dump(doc, allow_unicode=True))
    async with database(server.settings.database_url) as db:
        code = (await publish(db, seeded.app_id)).code
    app = WebApp(seeded.app_id, seeded.key, code, server.url, server.settings.database_url)
    me = await visitor(client, app)
    site = (await me.get("/site")).json()["site"]
    assert site["title"] == "Otter Writer"
    assert site["description"] == "Writes about otters."
    assert site["icon"] == "🦦" and site["icon_background"] == "#FFEAD5"

    # the service API sees the same page settings
    resp = await client.get(f"{server.url}/v1/site", headers=app.service_headers)
    assert resp.status_code == 200
    body = resp.json()
    assert list(body) == [
        "title",
        "chat_color_theme",
        "chat_color_theme_inverted",
        "icon_type",
        "icon",
        "icon_background",
        "description",
        "copyright",
        "privacy_policy",
        "custom_disclaimer",
        "default_language",
        "show_workflow_steps",
        "use_icon_as_answer_icon",
        "icon_url",
    ]
    assert body["title"] == "Otter Writer" and body["default_language"] == "en-US"


async def test_v1_site_without_a_published_site_is_forbidden(server: RunningServer, client: httpx.AsyncClient) -> None:
    seeded = await seed(server, dsl(f"unpublished-{uuid.uuid4().hex[:6]}"))
    resp = await client.get(f"{server.url}/v1/site", headers=seeded.headers)
    assert resp.status_code == 403 and resp.json()["code"] == "forbidden"
    assert (await client.get(f"{server.url}/v1/site")).status_code == 401


async def test_upload_belongs_to_the_passport_end_user(server: RunningServer, client: httpx.AsyncClient) -> None:
    app = await published(
        server,
        file_upload={"image": {"enabled": True, "number_limits": 2, "transfer_methods": ["local_file"]}},
        more_like_this={"enabled": True},
    )
    me = await visitor(client, app)
    resp = await me.post("/files/upload", files={"file": ("otter.png", PNG, "image/png")})
    assert resp.status_code == 201, resp.text
    uploaded = resp.json()
    my_id = (await me.get("/site")).json()["end_user_id"]
    assert uploaded["created_by"] == my_id and uploaded["extension"] == "png"

    resp = await me.post("/files/upload", data={"x": "y"})
    assert resp.status_code == 400 and resp.json()["code"] == "no_file_uploaded"

    image = [{"type": "image", "transfer_method": "local_file", "upload_file_id": uploaded["id"]}]
    resp = await me.complete("look", files=image)
    assert resp.status_code == 200, resp.text
    assert "[image: otter.png]" in resp.json()["answer"]
    # more-like-this sends the original message's image again
    again = await me.get(f"/messages/{resp.json()['id']}/more-like-this", params={"response_mode": "blocking"})
    assert again.status_code == 200, again.text
    assert "[image: otter.png]" in again.json()["answer"]
    # another end user of the app cannot use it
    stranger = await visitor(client, app)
    resp = await stranger.complete("look", files=image)
    assert resp.status_code == 400 and resp.json()["code"] == "invalid_param"
