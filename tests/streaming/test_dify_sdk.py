"""The official Dify SDK (``dify-client-python``, import name ``dify_client``) against the real server.

Its own pydantic models parse every response and stream event; errors surface as its error types.
The SDK keeps module-level httpx clients; the sync client runs in a worker thread so it never blocks the
test's event loop, the async one runs on the session loop like every other test.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from dify_client import AsyncClient, Client, errors, models

from inkwell.providers.builtin import echo_tokens
from tests.conftest import USAGE_KEYS, RunningServer, SeededApp, dsl, seed
from tests.streaming.conftest import wait_for_message

ServerFactory = Callable[..., RunningServer]
QUERY = "Dify SDK, meet the otter: héllo 你好"
LONG_PROMPT = " ".join(f"token{i}" for i in range(200))


def _request(mode: models.ResponseMode, inputs: dict[str, Any], user: str = "sdk-user") -> models.CompletionRequest:
    return models.CompletionRequest(inputs=inputs, response_mode=mode, user=user)


def _check_blocking(resp: Any) -> None:
    assert isinstance(resp, models.CompletionResponse)
    assert resp.mode == models.Mode.COMPLETION
    assert resp.event == "message"
    assert resp.id == resp.message_id
    assert resp.task_id and resp.task_id != resp.message_id
    assert isinstance(resp.metadata.usage, models.Usage)
    assert resp.metadata.usage.completion_tokens == len(echo_tokens(resp.answer))
    assert resp.metadata.retriever_resources == []


def _check_stream(events: list[Any]) -> str:
    """Every event parsed into the SDK's own models; returns the concatenated answer."""
    assert events, "no events"
    *messages, end = events
    assert messages
    for event in messages:
        assert type(event) is models.MessageStreamResponse, event
        assert event.event == models.StreamEvent.MESSAGE
    assert type(end) is models.MessageEndStreamResponse, end
    assert end.event == models.StreamEvent.MESSAGE_END
    assert end.metadata is not None
    usage = end.metadata.usage
    assert isinstance(usage, models.Usage)
    assert set(USAGE_KEYS) >= set(models.Usage.model_fields)
    assert {e.task_id for e in events} == {end.task_id}
    assert {e.message_id for e in events} == {end.message_id}
    assert {e.created_at for e in events} == {end.created_at}
    answer = "".join(e.answer for e in messages)
    assert usage.completion_tokens == len(echo_tokens(answer))
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    return answer


# --------------------------------------------------------------------------------------------------
# blocking and streaming


def _sync_blocking_and_stream(app: SeededApp, inputs: dict[str, Any]) -> tuple[Any, list[Any]]:
    client = Client(api_key=app.key, api_base=f"{app.base_url}/v1")
    blocking = client.completion_messages(_request(models.ResponseMode.BLOCKING, inputs))
    stream = client.completion_messages(_request(models.ResponseMode.STREAMING, inputs))
    assert isinstance(stream, Iterator)
    return blocking, list(stream)


async def test_sync_client_blocking_and_streaming(echo_app: SeededApp) -> None:
    blocking, events = await asyncio.to_thread(_sync_blocking_and_stream, echo_app, {"query": QUERY})
    _check_blocking(blocking)
    assert _check_stream(events) == blocking.answer
    assert blocking.answer.startswith(QUERY)


async def test_async_client_blocking_and_streaming(echo_app: SeededApp) -> None:
    client = AsyncClient(api_key=echo_app.key, api_base=f"{echo_app.base_url}/v1")
    blocking = await client.acompletion_messages(_request(models.ResponseMode.BLOCKING, {"query": QUERY}))
    _check_blocking(blocking)
    stream = await client.acompletion_messages(_request(models.ResponseMode.STREAMING, {"query": QUERY}))
    events = [event async for event in stream]  # type: ignore[union-attr]
    assert _check_stream(events) == blocking.answer  # type: ignore[union-attr]


async def test_sdk_skips_pings_and_parses_every_event(server_factory: ServerFactory) -> None:
    running = server_factory(builtin_ttft_ms=500, ping_interval=0.1)
    app = await seed(running, dsl(f"sdk-ping-{uuid.uuid4().hex[:6]}"))
    client = AsyncClient(api_key=app.key, api_base=f"{running.url}/v1")
    stream = await client.acompletion_messages(_request(models.ResponseMode.STREAMING, {"query": QUERY}))
    events = [event async for event in stream]  # type: ignore[union-attr]
    assert _check_stream(events).startswith(QUERY)


# --------------------------------------------------------------------------------------------------
# stop


def _sync_stream_and_stop(app: SeededApp, user: str) -> tuple[Any, list[Any]]:
    client = Client(api_key=app.key, api_base=f"{app.base_url}/v1")
    stream = client.completion_messages(_request(models.ResponseMode.STREAMING, {"query": LONG_PROMPT}, user))
    assert isinstance(stream, Iterator)
    first = next(stream)
    assert isinstance(first, models.MessageStreamResponse)
    assert first.task_id
    stopped = client.stop_completion_messages(first.task_id, models.StopRequest(user=user))
    return stopped, [first, *stream]


async def test_sync_client_stop(server_factory: ServerFactory) -> None:
    running = server_factory(builtin_token_delay_ms=50)
    app = await seed(running, dsl(f"sdk-stop-{uuid.uuid4().hex[:6]}"))
    stopped, events = await asyncio.to_thread(_sync_stream_and_stop, app, "sdk-stopper")
    assert isinstance(stopped, models.StopResponse)
    assert stopped.result == "success"
    answer = _check_stream(events)
    assert LONG_PROMPT.startswith(answer) and len(answer) < len(LONG_PROMPT)
    row = await wait_for_message(running, events[-1].message_id)
    assert row.status == "stopped"
    assert row.answer == answer


async def test_async_client_stop(server_factory: ServerFactory) -> None:
    running = server_factory(builtin_token_delay_ms=50)
    app = await seed(running, dsl(f"sdk-astop-{uuid.uuid4().hex[:6]}"))
    client = AsyncClient(api_key=app.key, api_base=f"{running.url}/v1")
    req = _request(models.ResponseMode.STREAMING, {"query": LONG_PROMPT}, "sdk-astopper")
    stream = await client.acompletion_messages(req)
    events: list[Any] = []
    async for event in stream:  # type: ignore[union-attr]
        events.append(event)
        if len(events) == 1:
            assert event.task_id
            stopped = await client.astop_completion_messages(event.task_id, models.StopRequest(user="sdk-astopper"))
            assert isinstance(stopped, models.StopResponse)
            assert stopped.result == "success"
    answer = _check_stream(events)
    assert LONG_PROMPT.startswith(answer) and len(answer) < len(LONG_PROMPT)
    row = await wait_for_message(running, events[-1].message_id)
    assert row.status == "stopped"
    assert row.answer == answer


# --------------------------------------------------------------------------------------------------
# errors


def _sync_error(app: SeededApp, mode: models.ResponseMode) -> None:
    client = Client(api_key=app.key, api_base=f"{app.base_url}/v1")
    result = client.completion_messages(_request(mode, {}))
    if isinstance(result, Iterator):
        list(result)


@pytest.mark.parametrize("mode", [models.ResponseMode.BLOCKING, models.ResponseMode.STREAMING])
async def test_sync_client_raises_the_sdk_error_type(echo_app: SeededApp, mode: models.ResponseMode) -> None:
    with pytest.raises(errors.DifyInvalidParam) as info:
        await asyncio.to_thread(_sync_error, echo_app, mode)
    assert info.value.status == 400
    assert info.value.code == "invalid_param"
    assert info.value.message == "query is required in input form"


@pytest.mark.parametrize("mode", [models.ResponseMode.BLOCKING, models.ResponseMode.STREAMING])
async def test_async_client_raises_the_sdk_error_type(echo_app: SeededApp, mode: models.ResponseMode) -> None:
    client = AsyncClient(api_key=echo_app.key, api_base=f"{echo_app.base_url}/v1")
    with pytest.raises(errors.DifyInvalidParam) as info:
        result = await client.acompletion_messages(_request(mode, {}))
        if mode == models.ResponseMode.STREAMING:
            [event async for event in result]  # type: ignore[union-attr]
    assert info.value.status == 400
    assert info.value.code == "invalid_param"
    assert info.value.message == "query is required in input form"


async def test_sdk_reports_a_bad_key_as_an_api_error(echo_app: SeededApp) -> None:
    client = AsyncClient(api_key="app-not-a-real-key-000000000", api_base=f"{echo_app.base_url}/v1")
    with pytest.raises(errors.DifyAPIError) as info:
        await client.acompletion_messages(_request(models.ResponseMode.BLOCKING, {"query": "x"}))
    assert info.value.status == 401
    assert info.value.code == "unauthorized"
