"""Stop across workers (SPEC §7): a stream served by worker A is stopped by a request to worker B.

Both workers are real ``inkwell serve`` processes sharing Redis and the database. The stop travels as
the reference's Redis flag plus a pub/sub notification; each worker also polls the flags of its tasks.
"""

from __future__ import annotations

import time

import httpx

from inkwell.providers.builtin import echo_tokens
from inkwell.tasks.backends import BELONG_KEY, SLOTS_KEY, STOPPED_KEY
from tests.scaleout.conftest import (
    LONG_QUERY,
    Pair,
    answer_of,
    assert_ends_with_message_end,
    assert_task_released,
    first_message,
    read_to_end,
    redis_client,
    row_of,
)
from tests.streaming.conftest import open_stream, stop_task

# 40 echo tokens: about 2 s at 50 ms per token, long enough for a few stop requests to land first
MEDIUM_QUERY = " ".join(f"heron{i}" for i in range(40))


async def test_stop_sent_to_another_worker_ends_the_stream(pair: Pair) -> None:
    app = await pair.seed("cross-stop", max_active_requests=5)
    async with httpx.AsyncClient(timeout=30) as client, redis_client(pair.redis_url) as redis:
        async with open_stream(client, app, {"query": LONG_QUERY}, user="alice", base_url=pair.a.url) as reader:
            first = await first_message(reader)
            task_id = first["task_id"]

            # while it runs, the task is owned and holds a slot in the shared state
            owner = await redis.get(BELONG_KEY.format(task_id))
            assert owner is not None and owner.startswith("end-user-"), owner
            assert 0 < await redis.ttl(BELONG_KEY.format(task_id)) <= 1800
            lease = await redis.zscore(SLOTS_KEY.format(app.app_id), task_id)
            assert lease is not None and lease > time.time(), lease

            resp = await stop_task(client, app, task_id, "alice", base_url=pair.b.url)
            assert resp.status_code == 200, resp.text
            assert resp.json() == {"result": "success"}
            took = await read_to_end(reader, within=10)

    # bounded, not a latency measurement: unstopped, this stream runs for 20 s
    assert took < 5, f"the stream ended {took:.2f} s after the stop"
    end = assert_ends_with_message_end(reader)
    answer = answer_of(reader)
    assert answer and LONG_QUERY.startswith(answer)
    assert len(echo_tokens(answer)) < len(echo_tokens(LONG_QUERY)) // 2
    usage = end["metadata"]["usage"]
    assert usage["completion_tokens"] == len(echo_tokens(answer))
    assert usage["prompt_tokens"] == len(echo_tokens(LONG_QUERY + "\n"))
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    assert usage["latency"] > 0

    row = await row_of(pair.database_url, first["message_id"])
    assert row.status == "stopped"
    assert row.answer == answer, "the partial answer is saved"
    assert row.answer_tokens == usage["completion_tokens"]
    assert row.message_tokens == usage["prompt_tokens"]
    assert row.error is None
    assert owner == f"end-user-{row.end_user_id}"

    async with redis_client(pair.redis_url) as redis:
        await assert_task_released(redis, app.app_id, task_id)
        assert await redis.get(STOPPED_KEY.format(task_id)) == "1"
        assert 0 < await redis.ttl(STOPPED_KEY.format(task_id)) <= 600
        assert await redis.zcard(SLOTS_KEY.format(app.app_id)) == 0


async def test_foreign_stops_sent_to_another_worker_do_nothing(pair: Pair) -> None:
    app = await pair.seed("cross-mine")
    other = await pair.seed("cross-theirs")
    async with httpx.AsyncClient(timeout=30) as client, redis_client(pair.redis_url) as redis:
        async with open_stream(client, app, {"query": MEDIUM_QUERY}, user="alice", base_url=pair.a.url) as reader:
            first = await first_message(reader)
            task_id = first["task_id"]
            attempts = [
                await stop_task(client, app, task_id, "mallory", base_url=pair.b.url),  # another end user
                await stop_task(client, other, task_id, "alice", base_url=pair.b.url),  # another app's key
                await stop_task(client, other, task_id, "alice", base_url=pair.a.url),  # ... on the owner's worker
                await stop_task(client, app, "no-such-task", "alice", base_url=pair.b.url),
            ]
            for resp in attempts:
                assert resp.status_code == 200, resp.text
                assert resp.json() == {"result": "success"}  # no task existence oracle
            assert not await redis.exists(STOPPED_KEY.format(task_id))
            assert await redis.exists(BELONG_KEY.format(task_id)), "the stops must have reached a running task"
            await read_to_end(reader, within=15)

    assert_ends_with_message_end(reader)
    assert answer_of(reader) == MEDIUM_QUERY + "\n"
    row = await row_of(pair.database_url, first["message_id"])
    assert row.status == "normal"
    assert row.answer == MEDIUM_QUERY + "\n"
    async with redis_client(pair.redis_url) as redis:
        await assert_task_released(redis, app.app_id, task_id)


async def test_stop_flag_alone_reaches_the_worker(pair: Pair) -> None:
    """A missed pub/sub notification (a worker reconnecting to Redis) still stops the task: workers poll
    the ``generate_task_stopped`` flags of their tasks."""
    app = await pair.seed("cross-flag")
    async with httpx.AsyncClient(timeout=30) as client, redis_client(pair.redis_url) as redis:
        async with open_stream(client, app, {"query": LONG_QUERY}, user="carol", base_url=pair.b.url) as reader:
            first = await first_message(reader)
            await redis.set(STOPPED_KEY.format(first["task_id"]), "1", ex=600)  # the flag, no notification
            took = await read_to_end(reader, within=10)

    assert took < 5, f"the stream ended {took:.2f} s after the flag was set"
    end = assert_ends_with_message_end(reader)
    answer = answer_of(reader)
    assert end["metadata"]["usage"]["completion_tokens"] == len(echo_tokens(answer))
    row = await row_of(pair.database_url, first["message_id"])
    assert row.status == "stopped"
    assert row.answer == answer
    async with redis_client(pair.redis_url) as redis:
        await assert_task_released(redis, app.app_id, first["task_id"])
