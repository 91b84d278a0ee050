"""A client that leaves closes the upstream connection too (SPEC §6.7, §7), through a real server.

Inkwell runs in uvicorn (SQLite and PostgreSQL) and its ``openai`` provider is the fake OpenAI
upstream (``tests/fakes/openai_upstream.py``), which records when its client - Inkwell - goes away.
With ``max_active_requests`` = 1 the app has one concurrency slot: a new request is admitted after
the disconnect only if the slot was given back.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import redis.asyncio

from inkwell.providers import tokenizer
from inkwell.runtime import Runtime
from inkwell.tasks.backends import SLOTS_KEY, LocalBackend
from tests.conftest import RunningServer, SeededApp
from tests.disconnect.conftest import BOUND
from tests.fakes.openai_upstream import FakeOpenAI, RecordedRequest
from tests.providers.conftest import post_blocking, seed_model_app
from tests.providers.conftest import wait_for_message as wait_for_app_message
from tests.streaming.conftest import open_stream, wait_for_message, wait_until


def runtime_of(running: RunningServer) -> Runtime:
    runtime: Runtime = running.server.config.app.state.runtime
    return runtime


async def upstream_request(fake: FakeOpenAI) -> RecordedRequest:
    (record,) = await asyncio.to_thread(fake.wait_for_requests, 1, BOUND)
    return record


async def upstream_closed(record: RecordedRequest) -> None:
    assert await asyncio.to_thread(record.wait_disconnected, BOUND), "Inkwell kept the upstream connection open"
    assert not record.finished.is_set()


async def slot_free(running: RunningServer, app: SeededApp, redis_url: str | None) -> None:
    """The app's concurrency slot is given back (bounded wait: it follows the row's write)."""
    runtime = runtime_of(running)
    if redis_url is None:
        backend = runtime.tasks.backend
        assert isinstance(backend, LocalBackend)
        await wait_until(lambda: backend.active(app.app_id) == 0, "slot released")
    else:
        client = redis.asyncio.Redis.from_url(redis_url, socket_timeout=2)
        try:
            for _ in range(int(BOUND / 0.02)):
                if await client.zcard(SLOTS_KEY.format(app.app_id)) == 0:
                    break
                await asyncio.sleep(0.02)
            else:
                raise AssertionError("the Redis slot was not released")
        finally:
            await client.aclose()
    await wait_until(lambda: len(runtime.tasks.registry) == 0, "task unregistered")


async def next_request_is_admitted(client: httpx.AsyncClient, fake: FakeOpenAI, app: SeededApp) -> None:
    fake.set_scenario("normal")
    resp = await post_blocking(client, app, "again")
    assert resp.status_code == 200, resp.text
    assert resp.json()["answer"] == "Hello, world!"


@pytest.mark.parametrize("shared_state", ["local", "redis"])
async def test_streaming_disconnect_mid_stream_closes_the_upstream(
    client: httpx.AsyncClient,
    fake_openai: FakeOpenAI,
    openai_server: Callable[..., RunningServer],
    shared_state: str,
    request: pytest.FixtureRequest,
) -> None:
    redis_url: str | None = request.getfixturevalue("redis_url") if shared_state == "redis" else None
    fake_openai.set_scenario("slow", delay=0.05)
    running = openai_server(app_max_active_requests=1, redis_url=redis_url)
    app = await seed_model_app(running)
    received: list[str] = []
    async with open_stream(client, app, {"query": "Hello there"}) as reader:
        assert reader.response.status_code == 200
        while len(received) < 2:
            event = await reader.next_event()
            assert event is not None and event["event"] == "message", event
            received.append(event["answer"])
            message_id = event["message_id"]
    # leaving the block closed the connection mid-stream

    await upstream_closed(fake_openai.last)
    row = await wait_for_message(running, message_id, within=BOUND)
    assert row.status == "stopped"
    assert row.error is None
    assert row.answer.startswith("".join(received))
    assert row.answer_tokens == tokenizer.count_text("gpt-4o-mini", row.answer)
    await slot_free(running, app, redis_url)
    await next_request_is_admitted(client, fake_openai, app)


def delay_first_token(fake: FakeOpenAI, upstream: str) -> None:
    """Five seconds before the first token: after the response headers (a model that is slow to start)
    or before them (``ignores_stream`` answers with one JSON body at the end: a queueing server)."""
    if upstream == "headers-sent":
        fake.set_scenario("slow", delay=5.0, texts=["late"])
    else:
        fake.set_scenario("ignores_stream", delay=5.0, texts=["late"])


@pytest.mark.parametrize("upstream", ["headers-sent", "no-headers-yet"])
async def test_streaming_disconnect_before_the_first_token_closes_the_upstream(
    client: httpx.AsyncClient, fake_openai: FakeOpenAI, openai_server: Callable[..., RunningServer], upstream: str
) -> None:
    delay_first_token(fake_openai, upstream)
    running = openai_server(app_max_active_requests=1)
    app = await seed_model_app(running)
    async with open_stream(client, app, {"query": "Hello there"}) as reader:
        assert reader.response.status_code == 200
        record = await upstream_request(fake_openai)
        await wait_until(lambda: any(h.in_upstream for h in runtime_of(running).tasks.registry.handles()), "waiting")
    # left before any token: the response had opened, no frame had come

    await upstream_closed(record)
    assert record.chunks_sent == 0
    row = await wait_for_app_message(running, app.app_id, within=BOUND)
    assert row.status == "stopped"
    assert row.answer == ""
    assert row.answer_tokens == 0
    await slot_free(running, app, None)
    await next_request_is_admitted(client, fake_openai, app)


@pytest.mark.parametrize("moment", ["headers-sent", "no-headers-yet", "mid-stream"])
async def test_blocking_disconnect_closes_the_upstream(
    client: httpx.AsyncClient, fake_openai: FakeOpenAI, openai_server: Callable[..., RunningServer], moment: str
) -> None:
    if moment == "mid-stream":
        fake_openai.set_scenario("slow", delay=0.05)
    else:
        delay_first_token(fake_openai, moment)
    running = openai_server(app_max_active_requests=1)
    app = await seed_model_app(running)
    call: asyncio.Task[Any] = asyncio.ensure_future(post_blocking(client, app, "Hello there"))
    try:
        record = await upstream_request(fake_openai)
        if moment == "mid-stream":
            await wait_until(lambda: record.chunks_sent >= 4, "four upstream chunks")
        else:
            await wait_until(
                lambda: any(h.in_upstream for h in runtime_of(running).tasks.registry.handles()), "waiting"
            )
    finally:
        call.cancel()  # the client gives up: httpx closes its connection
    with pytest.raises(asyncio.CancelledError):
        await call

    await upstream_closed(record)
    row = await wait_for_app_message(running, app.app_id, within=BOUND)
    assert row.status == "stopped"
    assert row.error is None
    if moment == "mid-stream":
        assert row.answer.startswith("tok0 tok1 ")
        assert row.answer == "".join(f"tok{i} " for i in range(len(row.answer.split())))
        assert row.answer_tokens == tokenizer.count_text("gpt-4o-mini", row.answer)
    else:
        assert row.answer == ""
        assert row.answer_tokens == 0
    await slot_free(running, app, None)
    await next_request_is_admitted(client, fake_openai, app)


async def test_continue_on_disconnect_keeps_the_upstream_until_the_end(
    client: httpx.AsyncClient, fake_openai: FakeOpenAI, openai_server: Callable[..., RunningServer]
) -> None:
    texts = [f"tok{i} " for i in range(12)]
    fake_openai.set_scenario("slow", delay=0.05, texts=texts)
    running = openai_server(app_max_active_requests=1, continue_on_disconnect=True)
    app = await seed_model_app(running)
    async with open_stream(client, app, {"query": "Hello there"}) as reader:
        assert reader.response.status_code == 200
        first = await reader.next_event()
        assert first is not None and first["event"] == "message", first
    # the client left after the first token; the generation goes on

    record = fake_openai.last
    assert await asyncio.to_thread(record.finished.wait, BOUND), "the upstream was not read to its end"
    assert not record.disconnected.is_set()
    row = await wait_for_message(running, first["message_id"], within=BOUND)
    assert row.status == "normal"
    assert row.answer == "".join(texts)
    assert row.answer_tokens == 7  # the upstream's reported usage
    await slot_free(running, app, None)
    await next_request_is_admitted(client, fake_openai, app)
