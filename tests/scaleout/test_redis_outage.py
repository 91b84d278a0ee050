"""Redis goes away while workers serve (SPEC §7, §10; field notes §5: fail closed, fast).

A private ``redis-server`` is stalled, killed and restarted under two workers: new generations are
refused at once with 503 ``service_unavailable`` (never a hang), streams already running finish, a stop
still reaches a task on the worker that runs it, and everything works again once Redis is back.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx

from inkwell.providers.builtin import echo_tokens
from tests.conftest import SeededApp, ServerProcess
from tests.scaleout.conftest import (
    LONG_QUERY,
    TOKEN_DELAY_MS,
    PrivateRedis,
    active_slots,
    answer_of,
    assert_ends_with_message_end,
    assert_error,
    assert_task_released,
    first_message,
    post_completion,
    read_to_end,
    redis_client,
    row_of,
    seed_app,
    wait_for,
)
from tests.streaming.conftest import open_stream, stop_task

ServerGroup = Callable[..., list[ServerProcess]]
# 100 echo tokens: about 5 s at 50 ms per token, so it is still running well after Redis died
RUNNING_QUERY = " ".join(f"badger{i}" for i in range(100))
FAIL_FAST = 5.0  # generous: the Redis client gives up after 0.5 s and one retry


async def assert_refused_fast(
    client: httpx.AsyncClient,
    app: SeededApp,
    servers: list[ServerProcess],
    user: str,
    modes: tuple[str, ...] = ("streaming", "blocking"),
) -> None:
    for server in servers:
        for mode in modes:
            started = time.monotonic()
            resp = await post_completion(client, app, server.url, user, "hi", mode)
            took = time.monotonic() - started
            assert_error(resp, 503, "service_unavailable")
            assert took < FAIL_FAST, f"{mode} request on {server.url} took {took:.2f} s to fail"


async def test_generations_fail_fast_without_redis_and_recover_when_it_returns(
    server_group: ServerGroup, database_url: str, private_redis: PrivateRedis
) -> None:
    a, b = servers = server_group(2, redis_url=private_redis.url, builtin_token_delay_ms=TOKEN_DELAY_MS)
    app = await seed_app(database_url, a, "outage", max_active_requests=5, rate_limit_per_minute=100)
    async with httpx.AsyncClient(timeout=30) as client:
        # Redis stalls (connections open, nothing answers): refused within the bound, not hanging
        private_redis.pause()
        try:
            await assert_refused_fast(client, app, [a], "carol", modes=("streaming",))
        finally:
            private_redis.resume()

        sent = time.monotonic()  # the server's latency clock starts after this
        async with (
            open_stream(client, app, {"query": RUNNING_QUERY}, user="alice", base_url=a.url) as running,
            open_stream(client, app, {"query": LONG_QUERY}, user="bob", base_url=b.url) as stopped,
        ):
            running_first = await first_message(running)
            stopped_first = await first_message(stopped)

            # Redis dies
            private_redis.kill()
            killed = time.monotonic()
            await assert_refused_fast(client, app, servers, "carol")
            ready = await client.get(f"{a.url}/readyz")
            assert ready.status_code == 503, ready.text
            assert ready.json()["checks"]["redis"].startswith("error"), ready.json()

            # a stop for a task on another worker cannot be forwarded: said so, not a silent success
            resp = await stop_task(client, app, running_first["task_id"], "alice", base_url=b.url)
            assert_error(resp, 503, "service_unavailable")
            # a stop sent to the worker that runs the task still works
            resp = await stop_task(client, app, stopped_first["task_id"], "bob", base_url=b.url)
            assert resp.status_code == 200, resp.text
            assert resp.json() == {"result": "success"}
            await read_to_end(stopped, within=10)

            # the stream that was running goes on to its normal end
            await read_to_end(running, within=15)

    end = assert_ends_with_message_end(running)
    assert answer_of(running) == RUNNING_QUERY + "\n"
    # it ran well past the moment Redis died
    assert sent + end["metadata"]["usage"]["latency"] > killed + 1
    row = await row_of(database_url, running_first["message_id"])
    assert row.status == "normal"
    assert row.answer == RUNNING_QUERY + "\n"

    end = assert_ends_with_message_end(stopped)
    answer = answer_of(stopped)
    assert answer and LONG_QUERY.startswith(answer)
    assert end["metadata"]["usage"]["completion_tokens"] == len(echo_tokens(answer))
    row = await row_of(database_url, stopped_first["message_id"])
    assert row.status == "stopped"
    assert row.answer == answer

    # Redis comes back (empty, as after a crash): recovery needs nobody's help
    private_redis.start()
    async with httpx.AsyncClient(timeout=30) as client, redis_client(private_redis.url) as redis:

        async def both_admit() -> bool:
            for server in servers:
                resp = await post_completion(client, app, server.url, "dave", "hi")
                if resp.status_code != 200:
                    assert_error(resp, 503, "service_unavailable")
                    return False
            return True

        await wait_for(both_admit, "generations admitted again after Redis returned", within=15, every=0.2)
        for server in servers:
            resp = await client.get(f"{server.url}/readyz")
            assert resp.status_code == 200, resp.text

        # stops cross workers again: the workers resubscribed to the notifications and poll the flags
        async with open_stream(client, app, {"query": LONG_QUERY}, user="erin", base_url=a.url) as reader:
            first = await first_message(reader)
            resp = await stop_task(client, app, first["task_id"], "erin", base_url=b.url)
            assert resp.json() == {"result": "success"}
            took = await read_to_end(reader, within=10)
        assert took < 5, f"the stream ended {took:.2f} s after the stop"
        assert_ends_with_message_end(reader)
        assert (await row_of(database_url, first["message_id"])).status == "stopped"
        await assert_task_released(redis, app.app_id, first["task_id"])
        assert await active_slots(redis, app.app_id) == 0
