"""Fixtures and helpers for the provider tests: the fake OpenAI upstream, Inkwell servers pointed at it,
SSE reading and direct access to the ``messages`` table."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy import select
from sqlmodel import col

from inkwell.completion.models import Message
from inkwell.db import Database
from inkwell.providers.openai_compatible import create_http_client
from tests.conftest import RunningServer, SeededApp, dsl, seed
from tests.fakes.openai_upstream import FakeOpenAI

OPENAI_MODEL = {"provider": "langgenius/openai/openai", "name": "gpt-4o-mini", "mode": "chat"}


@pytest.fixture
async def http_client() -> AsyncIterator[httpx.AsyncClient]:
    """The provider's own client (aiohttp transport), as the registry builds it."""
    client = create_http_client(connect_timeout=5.0, read_timeout=10.0, max_connections=10)
    try:
        yield client
    finally:
        await client.aclose()


@pytest.fixture
def openai_server(
    server_factory: Callable[..., RunningServer], fake_openai: FakeOpenAI
) -> Callable[..., RunningServer]:
    """An Inkwell server whose ``openai`` provider is the fake (on each database)."""

    def start(**overrides: Any) -> RunningServer:
        settings: dict[str, Any] = {"openai_base_url": fake_openai.base_url, "openai_api_key": "sk-test"}
        settings.update(overrides)
        return server_factory(**settings)

    return start


async def seed_model_app(running: RunningServer, **model: Any) -> SeededApp:
    """An app whose ``{{query}}`` prompt goes to ``model`` (defaults: OpenAI gpt-4o-mini, chat)."""
    spec = {**OPENAI_MODEL, "completion_params": {}, **model}
    return await seed(running, dsl(f"openai-{uuid.uuid4().hex[:6]}", model=spec))


# --------------------------------------------------------------------------------------------------
# requests


async def post_blocking(client: httpx.AsyncClient, app: SeededApp, query: str, **extra: Any) -> httpx.Response:
    return await client.post(
        f"{app.base_url}/v1/completion-messages",
        headers=app.headers,
        json={"inputs": {"query": query}, "user": "tester", "response_mode": "blocking", **extra},
    )


def parse_frames(raw: bytes) -> list[dict[str, Any] | str]:
    """SSE frames: JSON ``data:`` frames as dicts, ``event: ping`` as the string ``"ping"``."""
    frames: list[dict[str, Any] | str] = []
    for block in raw.split(b"\n\n"):
        if not block.strip():
            continue
        if block == b"event: ping":
            frames.append("ping")
            continue
        assert block.startswith(b"data: "), block
        assert b"\n" not in block, block  # one data line per frame
        frames.append(orjson.loads(block[len(b"data: ") :]))
    return frames


def json_frames(frames: list[dict[str, Any] | str]) -> list[dict[str, Any]]:
    return [f for f in frames if isinstance(f, dict)]


async def post_streaming(
    client: httpx.AsyncClient, app: SeededApp, query: str
) -> tuple[httpx.Response, list[dict[str, Any]]]:
    """A streaming request read to its end; the JSON frames in order."""
    async with client.stream(
        "POST",
        f"{app.base_url}/v1/completion-messages",
        headers=app.headers,
        json={"inputs": {"query": query}, "user": "tester", "response_mode": "streaming"},
    ) as resp:
        raw = await resp.aread()
    if resp.status_code != 200:
        return resp, []
    assert raw.endswith(b"\n\n"), raw[-200:]
    return resp, json_frames(parse_frames(raw))


# --------------------------------------------------------------------------------------------------
# the server's database


async def message_rows(running: RunningServer, app_id: str) -> list[Message]:
    db = Database(running.settings.database_url)
    try:
        async with db.session() as session:
            result = await session.execute(
                select(Message).where(col(Message.app_id) == app_id).order_by(col(Message.created_at))
            )
            return list(result.scalars().all())
    finally:
        await db.dispose()


async def wait_for_message(running: RunningServer, app_id: str, within: float = 10.0) -> Message:
    """The app's one message row, polled until it is written (rows are inserted when finalized)."""
    deadline = time.monotonic() + within
    while True:
        rows = await message_rows(running, app_id)
        if rows:
            assert len(rows) == 1, [(r.id, r.status) for r in rows]
            return rows[0]
        if time.monotonic() > deadline:
            raise AssertionError(f"no message row for app {app_id} after {within} s")
        await asyncio.sleep(0.05)


async def wait_until(predicate: Callable[[], bool], within: float = 10.0, what: str = "condition") -> None:
    deadline = time.monotonic() + within
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)
