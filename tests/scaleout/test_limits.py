"""Per-app limits shared by every worker (SPEC §5, §6.2, §7): concurrency slots, the rate window, the
execution time limit, and slots that free themselves when their worker dies.

The concurrency slot is released on every ending - normal, stopped, errored, disconnected (Dify PR
#11540, #35895) - and a rejected request never takes one.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
import uuid
from collections.abc import Callable

import httpx

from inkwell.providers.builtin import echo_tokens
from inkwell.tasks.backends import BELONG_KEY, RATE_KEY, SLOTS_KEY
from tests.conftest import ServerProcess
from tests.fakes.openai_upstream import FakeOpenAI
from tests.scaleout.conftest import (
    LONG_QUERY,
    PAIR_DEFAULT_MAX_ACTIVE,
    SHORT_QUERY,
    TOKEN_DELAY_MS,
    Pair,
    active_slots,
    answer_of,
    assert_ends_with_message_end,
    assert_error,
    assert_retry_after,
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

ProcessFactory = Callable[..., ServerProcess]


async def test_concurrency_limit_holds_across_workers_and_every_ending_frees_the_slot(
    pair: Pair, fake_upstream: FakeOpenAI
) -> None:
    app = await pair.seed("slots", max_active_requests=2)
    async with httpx.AsyncClient(timeout=30) as client, redis_client(pair.redis_url) as redis:
        # two streams, one on each worker, fill the app's two slots
        async with (
            open_stream(client, app, {"query": LONG_QUERY}, user="alice", base_url=pair.a.url) as stopped,
            open_stream(client, app, {"query": LONG_QUERY}, user="bob", base_url=pair.b.url) as gone,
        ):
            stopped_first = await first_message(stopped)
            gone_first = await first_message(gone)
            assert await active_slots(redis, app.app_id) == 2

            # the third concurrent request is refused on either worker, streaming or blocking
            for base_url, mode in ((pair.a.url, "streaming"), (pair.b.url, "blocking"), (pair.b.url, "streaming")):
                resp = await post_completion(client, app, base_url, "carol", SHORT_QUERY, mode)
                assert_error(resp, 429, "too_many_requests")
                assert resp.headers["content-type"].startswith("application/json")
                assert_retry_after(resp, at_most=60)
            assert await active_slots(redis, app.app_id) == 2, "a refused request must not take a slot"

            # ended by a stop (sent to the other worker): the slot is free by the time message_end arrives
            resp = await stop_task(client, app, stopped_first["task_id"], "alice", base_url=pair.b.url)
            assert resp.json() == {"result": "success"}
            await read_to_end(stopped, within=10)
            assert_ends_with_message_end(stopped)
            assert await redis.zscore(SLOTS_KEY.format(app.app_id), stopped_first["task_id"]) is None
            assert await active_slots(redis, app.app_id) == 1
            # leaving the block disconnects the client of the other stream
        await assert_task_released(redis, app.app_id, gone_first["task_id"])
        assert await active_slots(redis, app.app_id) == 0
        gone_row = await row_of(pair.database_url, gone_first["message_id"])
        assert gone_row.status == "stopped"
        assert gone_row.answer and LONG_QUERY.startswith(gone_row.answer)

        # normal endings, both slots at once again: a stream on A and a blocking request on B
        async def short_stream() -> str:
            async with open_stream(client, app, {"query": SHORT_QUERY}, user="dave", base_url=pair.a.url) as reader:
                await read_to_end(reader, within=15)
            assert_ends_with_message_end(reader)
            return answer_of(reader)

        streamed, blocked = await asyncio.gather(
            short_stream(), post_completion(client, app, pair.b.url, "erin", SHORT_QUERY)
        )
        assert streamed == SHORT_QUERY + "\n"
        assert blocked.status_code == 200, blocked.text
        assert blocked.json()["answer"] == SHORT_QUERY + "\n"
        assert await active_slots(redis, app.app_id) == 0

    # errored: an upstream that drops the connection mid-stream; one slot, so a leak would refuse the next
    model = f"drops-{uuid.uuid4().hex[:6]}"
    texts = [f"t{i} " for i in range(20)]
    fake_upstream.set_model_scenario(model, "drop_mid_stream", delay=0.1, drop_after=5, texts=texts)
    failing = await pair.seed(
        "slots-error",
        max_active_requests=1,
        model={"provider": "openai", "name": model, "mode": "chat", "completion_params": {}},
    )
    async with httpx.AsyncClient(timeout=30) as client, redis_client(pair.redis_url) as redis:
        for base_url in (pair.a.url, pair.b.url):
            async with open_stream(client, failing, {"query": "fail"}, user="frank", base_url=base_url) as reader:
                assert reader.response.status_code == 200, await reader.response.aread()
                await read_to_end(reader, within=15)
            events = reader.events
            kinds = [e["event"] for e in events]
            assert kinds == ["message"] * 5 + ["error"], kinds
            assert events[-1]["code"] == "completion_request_error", events[-1]
            row = await row_of(pair.database_url, events[-1]["message_id"])
            assert row.status == "error"
            assert row.answer == "".join(texts[:5])
            assert row.error
            assert await active_slots(redis, failing.app_id) == 0
            assert not await redis.exists(BELONG_KEY.format(events[-1]["task_id"]))


async def test_server_default_limit_applies_to_apps_without_their_own(pair: Pair) -> None:
    """``INKWELL_APP_MAX_ACTIVE_REQUESTS`` (the pair runs with 3) counts across workers too."""
    app = await pair.seed("slots-default")
    async with httpx.AsyncClient(timeout=30) as client, redis_client(pair.redis_url) as redis:
        async with contextlib.AsyncExitStack() as streams:
            # keep the readers: a reader that is garbage-collected closes its response (a disconnect)
            readers = []
            for i in range(PAIR_DEFAULT_MAX_ACTIVE):
                url = (pair.a.url, pair.b.url)[i % 2]
                stream = open_stream(client, app, {"query": LONG_QUERY}, user=f"user{i}", base_url=url)
                readers.append(await streams.enter_async_context(stream))
                await first_message(readers[-1])
            assert await active_slots(redis, app.app_id) == PAIR_DEFAULT_MAX_ACTIVE
            resp = await post_completion(client, app, pair.b.url, "one-more", "hi")
            assert_error(resp, 429, "too_many_requests")
            assert_retry_after(resp, at_most=60)
            # leaving the block disconnects all three clients

        async def released() -> bool:
            return await active_slots(redis, app.app_id) == 0

        await wait_for(released, "every slot released after the clients left")


async def test_rate_limit_window_is_shared_by_workers(pair: Pair) -> None:
    app = await pair.seed("rate", rate_limit_per_minute=3)
    async with httpx.AsyncClient(timeout=30) as client, redis_client(pair.redis_url) as redis:
        for base_url in (pair.a.url, pair.b.url, pair.a.url):
            resp = await post_completion(client, app, base_url, "alice", "hi")
            assert resp.status_code == 200, resp.text

        for base_url, mode in ((pair.b.url, "blocking"), (pair.a.url, "streaming")):
            resp = await post_completion(client, app, base_url, "bob", "hi", mode)
            assert_error(resp, 429, "rate_limit_error")
            assert resp.headers["content-type"].startswith("application/json")
            assert_retry_after(resp, at_most=60)
        rate_key = RATE_KEY.format(app.app_id)
        assert await redis.zcard(rate_key) == 3, "refused requests must not count"

        # let 50 s of the window pass: Retry-After says how long is left of it
        async def age(seconds: float) -> None:
            for member in await redis.zrange(rate_key, 0, -1):
                await redis.zincrby(rate_key, -seconds, member)

        await age(50)
        resp = await post_completion(client, app, pair.b.url, "bob", "hi")
        assert_error(resp, 429, "rate_limit_error")
        assert_retry_after(resp, at_most=11)

        # and once the window has passed, the app may call again
        await age(11)
        resp = await post_completion(client, app, pair.b.url, "bob", "hi")
        assert resp.status_code == 200, resp.text
        assert await redis.zcard(rate_key) == 1


async def test_execution_time_limit_ends_a_generation_like_a_stop(
    process_factory: ProcessFactory, database_url: str, redis_url: str
) -> None:
    limit = 1.0
    server = process_factory(redis_url=redis_url, builtin_token_delay_ms=TOKEN_DELAY_MS, app_max_execution_time=limit)
    app = await seed_app(database_url, server, "time-limit", max_active_requests=5)
    async with httpx.AsyncClient(timeout=30) as client, redis_client(redis_url) as redis:
        async with open_stream(client, app, {"query": LONG_QUERY}, user="alice") as reader:
            first = await first_message(reader)
            await read_to_end(reader, within=15)  # 20 s without the limit
        end = assert_ends_with_message_end(reader)
        answer = answer_of(reader)
        assert answer and LONG_QUERY.startswith(answer)
        assert len(echo_tokens(answer)) < len(echo_tokens(LONG_QUERY)) // 2
        usage = end["metadata"]["usage"]
        assert usage["completion_tokens"] == len(echo_tokens(answer))
        assert usage["prompt_tokens"] == len(echo_tokens(LONG_QUERY + "\n"))
        assert usage["latency"] >= limit - 0.1
        row = await row_of(database_url, first["message_id"])
        assert row.status == "stopped"
        assert row.answer == answer
        assert row.answer_tokens == usage["completion_tokens"]
        assert row.error is None
        await assert_task_released(redis, app.app_id, first["task_id"])

        # blocking: the partial answer comes back as a normal response
        resp = await post_completion(client, app, server.url, "bob", LONG_QUERY)
        assert resp.status_code == 200, resp.text
        body = resp.json()
        assert body["answer"] and LONG_QUERY.startswith(body["answer"])
        assert body["metadata"]["usage"]["completion_tokens"] == len(echo_tokens(body["answer"]))
        assert (await row_of(database_url, body["message_id"])).status == "stopped"
        assert await active_slots(redis, app.app_id) == 0


async def test_slot_of_a_killed_worker_frees_itself(
    pair: Pair, process_factory: ProcessFactory, redis_url: str
) -> None:
    """A worker that dies without releasing (SIGKILL, OOM, lost machine) holds its slots only until their
    lease runs out: the other workers stop counting them. While it lives, it renews the lease."""
    lease = 2
    doomed = process_factory(redis_url=redis_url, builtin_token_delay_ms=TOKEN_DELAY_MS, slot_lease_seconds=lease)
    app = await seed_app(pair.database_url, doomed, "lease", max_active_requests=1)
    slots_key = SLOTS_KEY.format(app.app_id)
    async with httpx.AsyncClient(timeout=30) as client, redis_client(redis_url) as redis:
        async with open_stream(client, app, {"query": LONG_QUERY}, user="alice") as reader:
            first = await first_message(reader)
            granted = await redis.zscore(slots_key, first["task_id"])
            assert granted is not None

            async def renewed() -> bool:
                score = await redis.zscore(slots_key, first["task_id"])
                return score is not None and score > granted

            await wait_for(renewed, "the lease renewed by its worker", within=lease * 2)
            doomed.process.send_signal(signal.SIGKILL)
            await asyncio.to_thread(doomed.process.wait, 10)
            killed = time.monotonic()

            resp = await post_completion(client, app, pair.a.url, "bob", "hi")
            assert_error(resp, 429, "too_many_requests")

            async def admitted() -> bool:
                resp = await post_completion(client, app, pair.b.url, "bob", "hi")
                assert resp.status_code in (200, 429), resp.text
                return resp.status_code == 200

            await wait_for(admitted, "a request admitted after the lease ran out", within=lease + 8, every=0.2)
            assert time.monotonic() - killed >= 0.5, "the dead worker's slot was freed before its lease ran out"
        assert await active_slots(redis, app.app_id) == 0
