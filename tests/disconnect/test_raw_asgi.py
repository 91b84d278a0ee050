"""Client disconnects seen through the ASGI ``receive`` channel (SPEC §7), driven over raw ASGI.

The real application (``create_app``, its lifespan, middleware and routes) gets a hand-written scope
and a fake client (``conftest.FakeClient``): the disconnect is an ``http.disconnect`` message, exactly
what uvicorn delivers when the socket closes. After every disconnect: the call returns within a
bounded time, nothing more is written, the row is finalized, the concurrency slot and the task
registry are free again.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import orjson
import pytest

from inkwell.completion import delivery, pipeline
from inkwell.providers.builtin import echo_tokens
from tests.disconnect.conftest import BOUND, FakeClient, RawApp, raw_app
from tests.streaming.conftest import wait_until

PROMPT = " ".join(f"word{i}" for i in range(60))  # 60 tokens: 3 s at 50 ms per token
FULL_ANSWER = PROMPT + "\n"  # the echo model answers the rendered prompt (system body, empty user query)
SHORT_PROMPT = " ".join(f"otter{i}" for i in range(15))
SHORT_ANSWER = SHORT_PROMPT + "\n"


def body(mode: str, query: str = PROMPT) -> dict[str, Any]:
    return {"inputs": {"query": query}, "user": "raw-client", "response_mode": mode}


async def returns_promptly(call: asyncio.Task[None], within: float = 2.0) -> float:
    """Await the app call; it must return within ``within`` seconds. Returns how long it took."""
    started = time.monotonic()
    try:
        await asyncio.wait_for(call, timeout=within)
    except TimeoutError:
        raise AssertionError(f"the app call did not return within {within} s of the disconnect") from None
    return time.monotonic() - started


async def released(app: RawApp) -> None:
    """The slot and the registry entry are given back (after the row is written: bounded wait), and no
    shielded write or detached generation is left running."""
    await wait_until(lambda: app.active_slots == 0 and len(app.runtime.tasks.registry) == 0, "task released")
    await wait_until(lambda: not pipeline._background and not delivery._detached, "background work finished")


def nothing_sent_after_disconnect(client: FakeClient) -> None:
    assert client.left_at is not None, "the app never received http.disconnect"
    late = client.body_messages(client.sent[client.left_at :])
    assert late == [], f"the app wrote after the client left: {late!r}"


# --------------------------------------------------------------------------------------------------
# streaming


async def test_streaming_disconnect_mid_stream_cancels_and_saves_the_partial_answer(sqlite_url: str) -> None:
    async with raw_app(sqlite_url, builtin_token_delay_ms=50, app_max_active_requests=2) as app:
        client, call = app.start(body("streaming"))
        await client.wait_messages(2)
        assert client.status == 200
        assert app.active_slots == 1 and len(app.runtime.tasks.registry) == 1
        message_id = client.events[0]["message_id"]
        client.leave.set()

        await returns_promptly(call)
        nothing_sent_after_disconnect(client)
        received = client.answer()
        assert all(e["event"] == "message" for e in client.events), "no message_end for a client that left"
        await released(app)

        row = await app.only_row()
        assert row.id == message_id
        assert row.status == "stopped"
        assert row.error is None
        assert row.answer, "the partial answer must be saved, not blank"
        assert row.answer.startswith(received)
        assert FULL_ANSWER.startswith(row.answer) and len(row.answer) < len(FULL_ANSWER)
        assert row.answer_tokens == len(echo_tokens(row.answer))


async def test_streaming_disconnect_while_a_write_is_blocked(sqlite_url: str) -> None:
    """The client stops reading (its ``send`` blocks on the third write), then leaves: the blocked write
    is cancelled, the pipeline is closed from outside and still saves what it produced."""
    async with raw_app(sqlite_url, builtin_token_delay_ms=20, app_max_active_requests=2) as app:
        client, call = app.start(body("streaming"))
        client.stall_at_body = 3
        await client.wait_sent(lambda c: len(c.body_messages()) >= 3, "a third write")
        await asyncio.sleep(0.1)  # the generation is parked at its yield, behind the blocked write
        assert not call.done()
        client.leave.set()

        await returns_promptly(call)
        nothing_sent_after_disconnect(client)
        await released(app)
        row = await app.only_row()
        assert row.status == "stopped"
        assert row.answer.startswith(client.answer())
        assert FULL_ANSWER.startswith(row.answer) and len(row.answer) < len(FULL_ANSWER)
        assert row.answer_tokens == len(echo_tokens(row.answer))


async def test_streaming_disconnect_before_the_first_token(sqlite_url: str) -> None:
    async with raw_app(sqlite_url, builtin_ttft_ms=5000, app_max_active_requests=2) as app:
        client, call = app.start(body("streaming"))
        await client.wait_started()
        assert client.status == 200
        await wait_until(lambda: any(h.in_upstream for h in app.runtime.tasks.registry.handles()), "model called")
        client.leave.set()

        took = await returns_promptly(call)
        assert took < 2.0
        nothing_sent_after_disconnect(client)
        assert client.events == []
        await released(app)

        row = await app.only_row()
        assert row.status == "stopped"
        assert row.answer == ""
        assert row.answer_tokens == 0
        assert row.message_tokens == len(echo_tokens(FULL_ANSWER))


@pytest.mark.parametrize("start_delay", [0.0, 0.1], ids=["generation-started", "generation-never-started"])
async def test_streaming_client_gone_before_the_stream_opens(sqlite_url: str, start_delay: float) -> None:
    """``http.disconnect`` is the very next message after the body.

    With an instant ``send`` the stream starts the generation and it is cancelled at once; with a
    ``send`` that yields on the response start, the disconnect cancels the response before it ever
    reads the pipeline, and the response's background task records the generation that never ran.
    """
    async with raw_app(sqlite_url, builtin_ttft_ms=5000, app_max_active_requests=2) as app:
        client, scope = app.request(body("streaming"))
        client.start_delay = start_delay
        client.leave.set()
        call = asyncio.ensure_future(app.app(scope, client.receive, client.send))

        await returns_promptly(call)
        nothing_sent_after_disconnect(client)
        assert client.events == []
        await released(app)
        row = await app.only_row()
        assert row.status == "stopped"
        assert row.answer == ""
        assert row.answer_tokens == 0


# --------------------------------------------------------------------------------------------------
# blocking


async def test_blocking_disconnect_cancels_the_generation(sqlite_url: str) -> None:
    async with raw_app(sqlite_url, builtin_token_delay_ms=50, app_max_active_requests=2) as app:
        client, call = app.start(body("blocking"))
        await wait_until(lambda: any(h.task is not None for h in app.runtime.tasks.registry.handles()), "running")
        await asyncio.sleep(0.3)  # the first token comes at once, the next ones 50 ms apart
        assert not call.done()
        client.leave.set()

        await returns_promptly(call)
        await released(app)
        nothing_sent_after_disconnect(client)  # nobody is there to read an answer

        row = await app.only_row()
        assert row.status == "stopped"
        assert row.answer, "the partial answer must be saved, not blank"
        assert FULL_ANSWER.startswith(row.answer) and len(row.answer) < len(FULL_ANSWER)
        assert row.answer_tokens == len(echo_tokens(row.answer))


async def test_blocking_disconnect_before_the_first_token(sqlite_url: str) -> None:
    async with raw_app(sqlite_url, builtin_ttft_ms=5000, app_max_active_requests=2) as app:
        client, call = app.start(body("blocking"))
        await wait_until(lambda: any(h.in_upstream for h in app.runtime.tasks.registry.handles()), "model called")
        client.leave.set()

        took = await returns_promptly(call)
        assert took < 2.0
        await released(app)
        row = await app.only_row()
        assert row.status == "stopped"
        assert row.answer == ""
        assert row.answer_tokens == 0


# --------------------------------------------------------------------------------------------------
# INKWELL_CONTINUE_ON_DISCONNECT


async def test_continue_on_disconnect_streaming_finishes_and_saves_the_full_answer(sqlite_url: str) -> None:
    settings = {"builtin_token_delay_ms": 20, "app_max_active_requests": 2, "continue_on_disconnect": True}
    async with raw_app(sqlite_url, **settings) as app:
        client, call = app.start(body("streaming", SHORT_PROMPT))
        await client.wait_messages(2)
        message_id = client.events[0]["message_id"]
        client.leave.set()

        await returns_promptly(call)
        nothing_sent_after_disconnect(client)
        await released(app)  # the generation went on without its client and kept its slot until it ended

        row = await app.only_row()
        assert row.id == message_id
        assert row.status == "normal"
        assert row.answer == SHORT_ANSWER
        assert row.answer_tokens == len(echo_tokens(SHORT_ANSWER))


async def test_continue_on_disconnect_blocking_finishes_and_saves_the_full_answer(sqlite_url: str) -> None:
    settings = {"builtin_token_delay_ms": 20, "app_max_active_requests": 2, "continue_on_disconnect": True}
    async with raw_app(sqlite_url, **settings) as app:
        client, call = app.start(body("blocking", SHORT_PROMPT))
        await wait_until(lambda: any(h.task is not None for h in app.runtime.tasks.registry.handles()), "running")
        client.leave.set()

        await returns_promptly(call, within=BOUND)
        # the handler ran to the end and answered (the server drops what nobody reads)
        assert client.status == 200
        assert orjson.loads(b"".join(client.body_messages()))["answer"] == SHORT_ANSWER
        await released(app)
        row = await app.only_row()
        assert row.status == "normal"
        assert row.answer == SHORT_ANSWER
        assert row.answer_tokens == len(echo_tokens(SHORT_ANSWER))


async def test_continue_on_disconnect_client_gone_before_the_stream_opens(sqlite_url: str) -> None:
    """The response is cancelled before it reads a single event: the generation still runs to its end."""
    settings = {"builtin_token_delay_ms": 20, "app_max_active_requests": 2, "continue_on_disconnect": True}
    async with raw_app(sqlite_url, **settings) as app:
        client, scope = app.request(body("streaming", SHORT_PROMPT))
        client.start_delay = 0.1
        client.leave.set()
        call = asyncio.ensure_future(app.app(scope, client.receive, client.send))

        await returns_promptly(call)
        # frames already waiting may still be written before the disconnect is read (a server drops
        # them for a gone client); the stream never ends with a message_end it cannot deliver
        assert all(event["event"] == "message" for event in client.events)
        await released(app)  # the generation went on without its client and kept its slot until it ended
        row = await app.only_row()
        assert row.status == "normal"
        assert row.answer == SHORT_ANSWER
