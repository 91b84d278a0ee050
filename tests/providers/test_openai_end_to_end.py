"""The OpenAI-compatible provider end to end: a real Inkwell server (SQLite and PostgreSQL) in front of
the fake OpenAI upstream, checked on the wire and in the ``messages`` table."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
import orjson
import pytest

from inkwell.providers import tokenizer
from tests.conftest import RunningServer
from tests.fakes.openai_upstream import FakeOpenAI
from tests.providers.conftest import (
    message_rows,
    parse_frames,
    post_blocking,
    post_streaming,
    seed_model_app,
    wait_for_message,
)

ZERO_PRICES = {
    "prompt_unit_price": "0",
    "prompt_price_unit": "0",
    "prompt_price": "0.0000000",
    "completion_unit_price": "0",
    "completion_price_unit": "0",
    "completion_price": "0.0000000",
    "total_price": "0.0000000",
    "currency": "USD",
}
ERROR_FRAME_KEYS = {"event", "message_id", "created_at", "task_id", "code", "status", "message"}
MESSAGE_FRAME_KEYS = ["event", "message_id", "created_at", "task_id", "workflow_run_id", "id", "answer"]

# what the fake's failure scenarios become, for a gpt-4o-mini app on the provider named "openai"
UPSTREAM_FAILURES = {
    "http_401": (
        "provider_not_initialize",
        "Model gpt-4o-mini credentials are invalid: [openai] Incorrect API key provided: sk-test. "
        "You can find your API key at https://platform.openai.com/account/api-keys.",
    ),
    "http_403": (
        "provider_not_initialize",
        "Model gpt-4o-mini credentials are invalid: [openai] Country, region, or territory not supported",
    ),
    "http_429_quota": (
        "provider_quota_exceeded",
        "Your quota for openai has been exhausted: [openai] "
        "You exceeded your current quota, please check your plan and billing details.",
    ),
    "http_429_rate": (
        "completion_request_error",
        "Rate Limit Error: [openai] Rate limit reached for gpt-4o-mini in organization org-test on requests "
        "per min (RPM): Limit 3, Used 3, Requested 1. Please try again in 20s.",
    ),
    "http_404_model": (
        "model_currently_not_support",
        "Model gpt-4o-mini is not supported by openai: [openai] "
        "The model `gpt-4o-mini` does not exist or you do not have access to it.",
    ),
    "http_500": (
        "completion_request_error",
        "Server Unavailable Error: [openai] The server had an error while processing your request. Sorry about that!",
    ),
    "malformed_chunk": ("completion_request_error", "[openai] upstream sent a malformed chunk: {this is not json"),
    "inband_error": ("completion_request_error", "[openai] The model produced invalid content."),
}
DROP_MESSAGE_PREFIX = "[openai] upstream connection failed: ReadError: Response payload is not completed"


def assert_envelope(resp: httpx.Response, code: str, message: str) -> None:
    assert resp.status_code == 400, resp.text
    assert resp.headers["content-type"].startswith("application/json")
    assert resp.json() == {"code": code, "message": message, "status": 400}


def assert_error_frame(frame: dict[str, Any], code: str) -> str:
    assert set(frame) == ERROR_FRAME_KEYS, frame
    assert frame["event"] == "error"
    assert frame["code"] == code
    assert frame["status"] == 400
    assert isinstance(frame["message"], str) and frame["message"]
    return str(frame["message"])


# --------------------------------------------------------------------------------------------------
# blocking


@pytest.mark.parametrize(
    ("model", "path", "prompt_field"),
    [
        (
            {"provider": "langgenius/openai/openai", "name": "gpt-4o-mini", "mode": "chat"},
            "/v1/chat/completions",
            {"messages": [{"role": "user", "content": "Hello there\n"}]},
        ),
        (
            {"provider": "openai", "name": "gpt-4o-mini", "mode": "chat"},
            "/v1/chat/completions",
            {"messages": [{"role": "user", "content": "Hello there\n"}]},
        ),
        (
            {"provider": "langgenius/openai/openai", "name": "gpt-3.5-turbo-instruct", "mode": "completion"},
            "/v1/completions",
            {"prompt": "Hello there\n"},
        ),
    ],
    ids=["langgenius-chat", "short-name-chat", "completion-mode"],
)
async def test_blocking_success(
    client: httpx.AsyncClient,
    fake_openai: FakeOpenAI,
    openai_server: Callable[..., RunningServer],
    model: dict[str, Any],
    path: str,
    prompt_field: dict[str, Any],
) -> None:
    running = openai_server()
    app = await seed_model_app(
        running, **model, completion_params={"temperature": 0.2, "max_tokens": 32, "stop": ["END"], "echo": True}
    )
    resp = await post_blocking(client, app, "Hello there")
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["answer"] == "Hello, world!"
    usage = body["metadata"]["usage"]
    assert usage["prompt_tokens"] == 12  # as the upstream reported, not counted
    assert usage["completion_tokens"] == 7
    assert usage["total_tokens"] == 19
    assert {k: usage[k] for k in ZERO_PRICES} == ZERO_PRICES

    assert len(fake_openai.requests) == 1
    sent = fake_openai.last
    assert sent.path == path
    assert sent.headers["authorization"] == "Bearer sk-test"
    assert sent.body == {
        "model": model["name"],
        "stream": True,
        "stream_options": {"include_usage": True},
        "temperature": 0.2,
        "max_tokens": 32,
        "stop": ["END"],
        **prompt_field,
    }

    row = await wait_for_message(running, app.app_id)
    assert row.id == body["message_id"]
    assert row.task_id == body["task_id"]
    assert row.status == "normal"
    assert row.error is None
    assert row.answer == "Hello, world!"
    assert row.message_tokens == 12
    assert row.answer_tokens == 7
    assert row.total_price == "0.0000000"
    assert row.model_provider == model["provider"]
    assert row.model_id == model["name"]


@pytest.mark.parametrize("kind", sorted(UPSTREAM_FAILURES))
async def test_blocking_upstream_failure(
    client: httpx.AsyncClient, fake_openai: FakeOpenAI, openai_server: Callable[..., RunningServer], kind: str
) -> None:
    code, message = UPSTREAM_FAILURES[kind]
    fake_openai.set_scenario(kind)
    running = openai_server()
    app = await seed_model_app(running)
    resp = await post_blocking(client, app, "Hello there")
    assert_envelope(resp, code, message)
    assert "x-request-id" in resp.headers

    row = await wait_for_message(running, app.app_id)
    assert row.status == "error"
    assert row.error == message
    # the failing scenarios that stream first send two texts before failing
    assert row.answer == ("Hello," if kind in ("malformed_chunk", "inband_error") else "")


async def test_blocking_drop_mid_stream(
    client: httpx.AsyncClient, fake_openai: FakeOpenAI, openai_server: Callable[..., RunningServer]
) -> None:
    fake_openai.set_scenario("drop_mid_stream", drop_after=2)
    running = openai_server()
    app = await seed_model_app(running)
    resp = await post_blocking(client, app, "Hello there")
    assert resp.status_code == 400, resp.text
    body = resp.json()
    assert set(body) == {"code", "message", "status"}
    assert body["code"] == "completion_request_error"
    assert body["status"] == 400
    assert body["message"].startswith(DROP_MESSAGE_PREFIX), body
    row = await wait_for_message(running, app.app_id)
    assert row.status == "error"
    assert row.error == body["message"]
    assert row.answer == "Hello,"
    assert row.answer_tokens == 2  # counted: "Hello", ","


async def test_provider_not_configured(client: httpx.AsyncClient, server: RunningServer) -> None:
    """The default server has no ``openai`` provider: refused before any response opens."""
    app = await seed_model_app(server)
    resp = await post_blocking(client, app, "Hello there")
    assert_envelope(resp, "provider_not_initialize", "Model gpt-4o-mini credentials is not initialized.")
    resp, frames = await post_streaming(client, app, "Hello there")
    assert frames == []
    assert_envelope(resp, "provider_not_initialize", "Model gpt-4o-mini credentials is not initialized.")
    assert await message_rows(server, app.app_id) == []


# --------------------------------------------------------------------------------------------------
# streaming


async def test_streaming_success(
    client: httpx.AsyncClient, fake_openai: FakeOpenAI, openai_server: Callable[..., RunningServer]
) -> None:
    running = openai_server()
    app = await seed_model_app(running)
    resp, frames = await post_streaming(client, app, "Hello there")
    assert resp.status_code == 200
    assert resp.headers["content-type"] == "text/event-stream; charset=utf-8"
    assert [f["event"] for f in frames] == ["message"] * 4 + ["message_end"]
    assert [f["answer"] for f in frames[:-1]] == ["Hello", ",", " world", "!"]
    assert list(frames[0])[: len(MESSAGE_FRAME_KEYS)] == MESSAGE_FRAME_KEYS
    end = frames[-1]
    usage = end["metadata"]["usage"]
    assert (usage["prompt_tokens"], usage["completion_tokens"], usage["total_tokens"]) == (12, 7, 19)
    assert {k: usage[k] for k in ZERO_PRICES} == ZERO_PRICES
    assert fake_openai.last.body["stream_options"] == {"include_usage": True}

    row = await wait_for_message(running, app.app_id)
    assert row.id == end["message_id"]
    assert row.status == "normal"
    assert row.answer == "Hello, world!"
    assert (row.message_tokens, row.answer_tokens) == (12, 7)


async def test_streaming_without_upstream_usage_counts_tokens(
    client: httpx.AsyncClient, fake_openai: FakeOpenAI, openai_server: Callable[..., RunningServer]
) -> None:
    fake_openai.set_scenario("no_usage")
    running = openai_server()
    app = await seed_model_app(running)
    _, frames = await post_streaming(client, app, "Hello there")
    assert [f["event"] for f in frames] == ["message"] * 4 + ["message_end"]
    usage = frames[-1]["metadata"]["usage"]
    # o200k: 3 + len("Hello there\n")=3 + 3 for the chat prompt; "Hello, world!" is 4 tokens
    assert usage["prompt_tokens"] == 9
    assert usage["completion_tokens"] == 4
    assert usage["total_tokens"] == 13
    row = await wait_for_message(running, app.app_id)
    assert row.status == "normal"
    assert (row.message_tokens, row.answer_tokens) == (9, 4)


@pytest.mark.parametrize("kind", ["http_401", "http_429_quota", "http_404_model", "http_500", "inband_error"])
async def test_streaming_upstream_failure_is_an_error_event(
    client: httpx.AsyncClient, fake_openai: FakeOpenAI, openai_server: Callable[..., RunningServer], kind: str
) -> None:
    code, message = UPSTREAM_FAILURES[kind]
    fake_openai.set_scenario(kind)
    running = openai_server()
    app = await seed_model_app(running)
    resp, frames = await post_streaming(client, app, "Hello there")
    assert resp.status_code == 200
    assert resp.headers["content-type"] == "text/event-stream; charset=utf-8"
    events = [f["event"] for f in frames]
    assert "message_end" not in events
    texts = ["Hello", ","] if kind == "inband_error" else []
    assert events == ["message"] * len(texts) + ["error"]
    assert [f["answer"] for f in frames[:-1]] == texts
    assert assert_error_frame(frames[-1], code) == message
    assert frames[-1]["task_id"] == frames[0]["task_id"]

    row = await wait_for_message(running, app.app_id)
    assert row.id == frames[-1]["message_id"]
    assert row.status == "error"
    assert row.error == message
    assert row.answer == "".join(texts)


@pytest.mark.parametrize("kind", ["drop_mid_stream", "malformed_chunk"])
async def test_streaming_failure_after_first_texts(
    client: httpx.AsyncClient, fake_openai: FakeOpenAI, openai_server: Callable[..., RunningServer], kind: str
) -> None:
    fake_openai.set_scenario(kind, drop_after=3)
    running = openai_server()
    app = await seed_model_app(running)
    resp, frames = await post_streaming(client, app, "Hello there")
    assert resp.status_code == 200
    assert [f["event"] for f in frames] == ["message", "message", "message", "error"]
    assert [f["answer"] for f in frames[:3]] == ["Hello", ",", " world"]
    message = assert_error_frame(frames[-1], "completion_request_error")
    if kind == "drop_mid_stream":
        assert message.startswith(DROP_MESSAGE_PREFIX), message
    else:
        assert message == UPSTREAM_FAILURES[kind][1]
    row = await wait_for_message(running, app.app_id)
    assert row.status == "error"
    assert row.error == message
    assert row.answer == "Hello, world"
    assert row.answer_tokens == 3  # the tokenizer's count of the partial answer


async def read_until_messages(resp: httpx.Response, count: int) -> list[dict[str, Any]]:
    """Read frames until ``count`` message events arrived (bounded by the stream itself)."""
    raw = b""
    async for chunk in resp.aiter_raw():
        raw += chunk
        complete = raw[: raw.rfind(b"\n\n") + 2] if b"\n\n" in raw else b""
        frames = [f for f in parse_frames(complete) if isinstance(f, dict)]
        if sum(1 for f in frames if f["event"] == "message") >= count:
            return frames
    raise AssertionError(f"the stream ended before {count} message events: {raw[-300:]!r}")


async def test_client_disconnect_closes_upstream_and_saves_partial_answer(
    client: httpx.AsyncClient, fake_openai: FakeOpenAI, openai_server: Callable[..., RunningServer]
) -> None:
    fake_openai.set_scenario("slow", delay=0.05)
    running = openai_server()
    app = await seed_model_app(running)
    async with client.stream(
        "POST",
        f"{app.base_url}/v1/completion-messages",
        headers=app.headers,
        json={"inputs": {"query": "Hello there"}, "user": "tester", "response_mode": "streaming"},
    ) as resp:
        assert resp.status_code == 200
        frames = await read_until_messages(resp, 3)
    # leaving the block closed the connection mid-stream
    received = "".join(f["answer"] for f in frames if f["event"] == "message")
    assert received.startswith("tok0 tok1 tok2 ")

    record = fake_openai.last
    assert await asyncio.to_thread(record.wait_disconnected, 10), "Inkwell kept the upstream connection open"
    assert not record.finished.is_set()

    row = await wait_for_message(running, app.app_id)
    assert row.status == "stopped"
    assert row.error is None
    assert row.answer.startswith(received)
    words = row.answer.split()
    assert words == [f"tok{i}" for i in range(len(words))]
    assert len(words) < 400
    assert row.answer == "".join(f"tok{i} " for i in range(len(words)))
    # no usage came from the upstream: both sides counted with the tokenizer
    assert row.message_tokens == 9
    assert row.answer_tokens == tokenizer.count_text("gpt-4o-mini", row.answer)
    assert row.answer_tokens >= 6


async def test_stop_request_closes_upstream_and_ends_with_message_end(
    client: httpx.AsyncClient, fake_openai: FakeOpenAI, openai_server: Callable[..., RunningServer]
) -> None:
    fake_openai.set_scenario("slow", delay=0.05)
    running = openai_server()
    app = await seed_model_app(running)
    async with client.stream(
        "POST",
        f"{app.base_url}/v1/completion-messages",
        headers=app.headers,
        json={"inputs": {"query": "Hello there"}, "user": "tester", "response_mode": "streaming"},
    ) as resp:
        assert resp.status_code == 200
        raw = b""
        stopped = False
        async for chunk in resp.aiter_raw():
            raw += chunk
            if not stopped and raw.count(b'"event":"message"') >= 2:
                task_id = orjson.loads(raw.split(b"\n\n", 1)[0][len(b"data: ") :])["task_id"]
                stop = await client.post(
                    f"{app.base_url}/v1/completion-messages/{task_id}/stop",
                    headers=app.headers,
                    json={"user": "tester"},
                )
                assert stop.json() == {"result": "success"}
                stopped = True
    assert stopped
    frames = [f for f in parse_frames(raw) if isinstance(f, dict)]
    assert frames[-1]["event"] == "message_end"
    answer = "".join(f["answer"] for f in frames if f["event"] == "message")
    assert await asyncio.to_thread(fake_openai.last.wait_disconnected, 10)
    assert not fake_openai.last.finished.is_set()
    usage = frames[-1]["metadata"]["usage"]
    assert usage["completion_tokens"] == tokenizer.count_text("gpt-4o-mini", answer)
    row = await wait_for_message(running, app.app_id)
    assert row.status == "stopped"
    assert row.answer == answer
