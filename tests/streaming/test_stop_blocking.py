"""A blocking request can be stopped too: its task is in the registry like a stream's (issue 3)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable

import httpx

from inkwell.providers.builtin import echo_tokens
from tests.conftest import RunningServer, dsl, seed
from tests.streaming.conftest import stop_task, wait_for_message, wait_until

PROMPT = " ".join(f"beaver{i}" for i in range(200))  # 200 tokens: 10 s at 50 ms per token


async def test_stop_a_blocking_request_answers_the_partial_answer(
    client: httpx.AsyncClient, server_factory: Callable[..., RunningServer]
) -> None:
    running = server_factory(builtin_token_delay_ms=50)
    runtime = running.server.config.app.state.runtime
    app = await seed(running, dsl(f"block-{uuid.uuid4().hex[:6]}"))
    request = asyncio.ensure_future(
        client.post(
            f"{app.base_url}/v1/completion-messages",
            headers=app.headers,
            json={"inputs": {"query": PROMPT}, "user": "carol", "response_mode": "blocking"},
        )
    )
    await wait_until(lambda: len(runtime.tasks.registry) == 1, "the blocking task is running")
    (task_id,) = runtime.tasks.registry.ids()
    await asyncio.sleep(0.3)  # a few tokens out

    other = await stop_task(client, app, task_id, "mallory")  # not the owner: nothing happens
    assert other.json() == {"result": "success"}
    assert runtime.tasks.registry.get(task_id) is not None

    assert (await stop_task(client, app, task_id, "carol")).json() == {"result": "success"}
    async with asyncio.timeout(5):  # bounded: unstopped, it would take 10 s
        resp = await request

    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["task_id"] == task_id
    answer = body["answer"]
    assert answer and PROMPT.startswith(answer) and len(answer) < len(PROMPT)
    usage = body["metadata"]["usage"]
    assert usage["completion_tokens"] == len(echo_tokens(answer))
    row = await wait_for_message(running, body["message_id"])
    assert row.status == "stopped"
    assert row.answer == answer
    assert len(runtime.tasks.registry) == 0
