"""Files in completion requests (issue 4): config enforced, ownership checked, remote images fetched
safely, images reach the model (the echo reports them; an OpenAI-protocol upstream gets image parts)."""

from __future__ import annotations

import base64
import json
import socket
import threading
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from aiohttp import web
from sqlalchemy import select
from sqlmodel import col

from inkwell.db import Database
from inkwell.files.models import MessageFile
from tests.conftest import RunningServer, SeededApp, dsl, seed
from tests.fakes.openai_upstream import FakeOpenAI
from tests.files.test_sniff import make_png

VISION = {
    "enabled": True,
    "image": {"enabled": True, "number_limits": 2, "detail": "low", "transfer_methods": ["local_file", "remote_url"]},
}


async def vision_app(running: RunningServer, **config: Any) -> SeededApp:
    return await seed(
        running, dsl(f"vision-{uuid.uuid4().hex[:6]}", file_upload=config.pop("file_upload", VISION), **config)
    )


async def upload_png(client: httpx.AsyncClient, app: SeededApp, user: str, name: str = "cat.png") -> str:
    resp = await client.post(
        f"{app.base_url}/v1/files/upload",
        headers=app.headers,
        files=[("file", (name, make_png(), "image/png"))],
        data={"user": user},
    )
    assert resp.status_code == 201, resp.text
    return str(resp.json()["id"])


async def complete(
    client: httpx.AsyncClient,
    app: SeededApp,
    files: list[dict[str, Any]],
    *,
    user: str = "viewer",
    mode: str = "blocking",
) -> httpx.Response:
    return await client.post(
        f"{app.base_url}/v1/completion-messages",
        headers=app.headers,
        json={"inputs": {"query": "Describe it."}, "user": user, "files": files, "response_mode": mode},
    )


def local(file_id: str) -> dict[str, Any]:
    return {"type": "image", "transfer_method": "local_file", "upload_file_id": file_id}


def assert_invalid(resp: httpx.Response, fragment: str) -> None:
    assert resp.status_code == 400, resp.text
    body = resp.json()
    assert body["code"] == "invalid_param"
    assert fragment in body["message"], body["message"]


async def test_local_image_reaches_the_model_and_is_recorded(client: httpx.AsyncClient, server: RunningServer) -> None:
    app = await vision_app(server)
    file_id = await upload_png(client, app, "viewer")
    resp = await complete(client, app, [local(file_id)])
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["answer"] == "Describe it.\n\n[image: cat.png]"
    (record,) = body["files"]
    assert record["upload_file_id"] == file_id and record["transfer_method"] == "local_file"
    assert record["mime_type"] == "image/png" and record["filename"] == "cat.png"

    db = Database(server.settings.database_url)
    try:
        async with db.session() as session:
            rows = (
                (await session.execute(select(MessageFile).where(col(MessageFile.message_id) == body["message_id"])))
                .scalars()
                .all()
            )
    finally:
        await db.dispose()
    assert [(r.upload_file_id, r.belongs_to, r.type) for r in rows] == [(file_id, "user", "image")]

    stream = await complete(client, app, [local(file_id)], mode="streaming")
    assert b'"files":[{"related_id":"' + file_id.encode() in stream.content
    events = [json.loads(f[6:]) for f in stream.content.split(b"\n\n") if f.startswith(b"data: ")]
    assert "".join(e["answer"] for e in events if e["event"] == "message") == "Describe it.\n\n[image: cat.png]"


async def test_files_are_never_dropped_silently(client: httpx.AsyncClient, server: RunningServer) -> None:
    plain = await seed(server, dsl(f"plain-{uuid.uuid4().hex[:6]}"))
    file_id = await upload_png(client, plain, "viewer")
    assert_invalid(await complete(client, plain, [local(file_id)]), "File upload is not enabled")

    app = await vision_app(server)
    mine = await upload_png(client, app, "viewer")
    assert_invalid(await complete(client, app, [local(mine)] * 3), "exceeds the maximum limit 2")
    assert_invalid(await complete(client, app, [local(file_id)]), "invalid upload file")  # another app's
    theirs = await upload_png(client, app, "someone-else")
    assert_invalid(await complete(client, app, [local(theirs)]), "invalid upload file")  # another end user's
    assert_invalid(await complete(client, app, [local(str(uuid.uuid4()))]), "invalid upload file")
    doc = {"type": "document", "transfer_method": "local_file", "upload_file_id": mine}
    assert_invalid(await complete(client, app, [doc]), "not supported")
    local_only = await vision_app(
        server, file_upload={"enabled": True, "image": {"enabled": True, "transfer_methods": ["local_file"]}}
    )
    remote = {"type": "image", "transfer_method": "remote_url", "url": "http://127.0.0.1:1/x.png"}
    assert_invalid(await complete(client, local_only, [remote]), "transfer method 'remote_url' is not allowed")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def image_host() -> Iterator[str]:
    """A local HTTP server with ``/cat.png``, ``/notes.txt`` and a redirect to a private address."""
    import asyncio

    async def cat(_: web.Request) -> web.Response:
        return web.Response(body=make_png(), content_type="image/png")

    async def notes(_: web.Request) -> web.Response:
        return web.Response(text="not an image")

    async def sneaky(_: web.Request) -> web.Response:
        raise web.HTTPFound("http://10.0.0.1/cat.png")

    app = web.Application()
    app.router.add_get("/cat.png", cat)
    app.router.add_get("/notes.txt", notes)
    app.router.add_get("/sneaky", sneaky)
    port = _free_port()
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(app)
    loop.run_until_complete(runner.setup())
    loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", port).start())
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=5)
        loop.run_until_complete(runner.cleanup())
        loop.close()


def remote(url: str) -> dict[str, Any]:
    return {"type": "image", "transfer_method": "remote_url", "url": url}


async def test_remote_images_are_fetched_safely(
    client: httpx.AsyncClient, server: RunningServer, server_factory: Callable[..., RunningServer], image_host: str
) -> None:
    refusing = await vision_app(server)  # the default: loopback refused like any private address
    assert_invalid(await complete(client, refusing, [remote(f"{image_host}/cat.png")]), "remote_url refused")

    allowing = await vision_app(server_factory(ssrf_allow_loopback=True))
    resp = await complete(client, allowing, [remote(f"{image_host}/cat.png")])
    assert resp.status_code == 200, resp.text
    assert resp.json()["answer"] == f"Describe it.\n\n[image: {image_host}/cat.png]"
    assert_invalid(await complete(client, allowing, [remote(f"{image_host}/notes.txt")]), "not an image")
    assert_invalid(await complete(client, allowing, [remote(f"{image_host}/sneaky")]), "remote_url refused")
    assert_invalid(await complete(client, allowing, [remote("http://169.254.169.254/latest")]), "remote_url refused")
    assert_invalid(await complete(client, allowing, [remote("file:///etc/passwd")]), "remote_url refused")


async def test_vision_request_body_seen_by_the_upstream(
    client: httpx.AsyncClient, server_factory: Callable[..., RunningServer]
) -> None:
    fake = FakeOpenAI().start()
    try:
        running = server_factory(openai_base_url=fake.base_url, openai_api_key="sk-test")
        model = {"provider": "openai", "name": "gpt-4o-mini", "mode": "chat", "completion_params": {}}
        app = await vision_app(running, model=model)
        file_id = await upload_png(client, app, "viewer")
        resp = await complete(client, app, [local(file_id)])
        assert resp.status_code == 200, resp.text
        messages = fake.last.body["messages"]
        content = messages[-1]["content"]
        assert content[0] == {"type": "text", "text": "Describe it.\n"}  # pre_prompt "{{query}}" + "\n"
        part = content[1]
        assert part["type"] == "image_url"
        assert part["image_url"]["detail"] == "low"
        assert part["image_url"]["url"] == "data:image/png;base64," + base64.b64encode(make_png()).decode()
        assert all(set(p) <= {"type", "text", "image_url"} for p in content)
    finally:
        fake.stop()
