"""Graceful shutdown with running streams (SPEC §10, field notes §5).

SIGTERM to a server process: streams that end within ``INKWELL_SHUTDOWN_GRACE_SECONDS`` end normally;
the others are stopped the normal way when the grace runs out (partial answer saved, ``message_end``
sent, usage filled); the concurrency slots and ownership keys are given back and the process exits.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Callable
from pathlib import Path

import httpx
from redis.asyncio import Redis

from inkwell.providers.builtin import echo_tokens
from tests.conftest import SeededApp, ServerProcess
from tests.scaleout.conftest import (
    LONG_QUERY,
    SHORT_QUERY,
    TOKEN_DELAY_MS,
    active_slots,
    answer_of,
    assert_ends_with_message_end,
    assert_task_released,
    first_message,
    post_completion,
    read_to_end,
    redis_client,
    row_of,
    seed_app,
    start_serve,
    wait_for,
)
from tests.streaming.conftest import SSEReader, open_stream

ProcessFactory = Callable[..., ServerProcess]
GRACE = 3  # the server stops what still runs one second before the grace ends


async def wait_for_exit(server: ServerProcess, within: float) -> int:
    code = await asyncio.to_thread(server.process.wait, within)
    # uvicorn re-raises the captured SIGTERM once it has shut down gracefully
    assert code in (0, -signal.SIGTERM), f"exit code {code}:\n{server.log()}"
    return int(code)


def assert_clean_log(server: ServerProcess) -> None:
    log = server.log()
    assert "ASGI callable returned without completing response" not in log, log
    assert "Traceback" not in log, log
    assert "Cancel " not in log, log  # uvicorn's "Cancel N running task(s), timeout graceful shutdown exceeded"


async def shut_down_with_streams(server: ServerProcess, app: SeededApp, database_url: str, redis: Redis) -> None:
    """Streams and a blocking request in flight, SIGTERM: what ends within the grace ends normally, the rest
    is stopped the normal way; then every row, frame and Redis key is checked."""
    async with httpx.AsyncClient(timeout=30) as client:
        async with (
            open_stream(client, app, {"query": SHORT_QUERY}, user="short") as short,
            open_stream(client, app, {"query": LONG_QUERY}, user="long") as long,
        ):
            short_first = await first_message(short)
            long_first = await first_message(long)
            # a blocking request in flight too: it gets the same treatment as the long stream
            blocking = asyncio.ensure_future(post_completion(client, app, app.base_url, "blocking", LONG_QUERY))

            async def all_admitted() -> bool:
                return await active_slots(redis, app.app_id) == 3

            await wait_for(all_admitted, "the blocking request admitted")
            server.process.send_signal(signal.SIGTERM)
            signalled = time.monotonic()

            async def drain(reader: SSEReader) -> float:
                await read_to_end(reader, within=GRACE + 10)
                return time.monotonic() - signalled

            _, long_took = await asyncio.gather(drain(short), drain(long))
            async with asyncio.timeout(GRACE + 10):
                blocked = await blocking
        await wait_for_exit(server, within=GRACE + 10)

    # the short stream finished on its own, completely
    assert_ends_with_message_end(short)
    assert answer_of(short) == SHORT_QUERY + "\n"
    short_row = await row_of(database_url, short_first["message_id"])
    assert short_row.status == "normal"
    assert short_row.answer == SHORT_QUERY + "\n"

    # the long one had its grace, then was stopped the normal way
    assert long_took >= GRACE - 2, f"stopped {long_took:.2f} s after SIGTERM: the grace was not given"
    end = assert_ends_with_message_end(long)
    answer = answer_of(long)
    assert answer and LONG_QUERY.startswith(answer)
    assert len(echo_tokens(answer)) < len(echo_tokens(LONG_QUERY)) // 2
    usage = end["metadata"]["usage"]
    assert usage["completion_tokens"] == len(echo_tokens(answer))
    assert usage["prompt_tokens"] == len(echo_tokens(LONG_QUERY + "\n"))
    long_row = await row_of(database_url, long_first["message_id"])
    assert long_row.status == "stopped"
    assert long_row.answer == answer
    assert long_row.answer_tokens == usage["completion_tokens"]
    assert long_row.message_tokens == usage["prompt_tokens"]

    assert blocked.status_code == 200, blocked.text
    body = blocked.json()
    assert body["answer"] and LONG_QUERY.startswith(body["answer"])
    assert body["metadata"]["usage"]["completion_tokens"] == len(echo_tokens(body["answer"]))
    blocked_row = await row_of(database_url, body["message_id"])
    assert blocked_row.status == "stopped"
    assert blocked_row.answer == body["answer"]

    # nothing left behind in the shared state
    for first in (short_first, long_first):
        await assert_task_released(redis, app.app_id, first["task_id"])
    await assert_task_released(redis, app.app_id, body["task_id"])
    assert await active_slots(redis, app.app_id) == 0


async def test_sigterm_gives_streams_the_grace_then_stops_them(
    process_factory: ProcessFactory, database_url: str, redis_url: str
) -> None:
    server = process_factory(
        redis_url=redis_url,
        builtin_token_delay_ms=TOKEN_DELAY_MS,
        shutdown_grace_seconds=GRACE,
        log_level="info",
    )
    app = await seed_app(database_url, server, "shutdown", max_active_requests=5)
    async with redis_client(redis_url) as redis:
        await shut_down_with_streams(server, app, database_url, redis)
    assert_clean_log(server)


async def test_sigterm_with_several_workers(tmp_path: Path, database_url: str, redis_url: str) -> None:
    """``inkwell serve --workers 2``: each worker installs its signal handlers before it imports the app,
    so the shutdown must be noticed without sse-starlette's patch of uvicorn's handler."""
    server = start_serve(
        tmp_path,
        database_url,
        "--workers",
        "2",
        redis_url=redis_url,
        builtin_token_delay_ms=TOKEN_DELAY_MS,
        shutdown_grace_seconds=GRACE,
    )
    try:
        app = await seed_app(database_url, server, "shutdown-workers", max_active_requests=5)
        async with redis_client(redis_url) as redis:
            await shut_down_with_streams(server, app, database_url, redis)
        assert_clean_log(server)
    finally:
        server.terminate()
