"""OpenAICompatibleProvider against a real local OpenAI-protocol server (tests/fakes/openai_upstream.py).

The provider is driven directly, with the same aiohttp-backed httpx client the registry builds.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from inkwell.completion.prompt import Prompt, PromptMessage
from inkwell.errors import (
    CompletionRequestError,
    ModelCurrentlyNotSupport,
    ProviderError,
    ProviderNotInitialize,
    ProviderQuotaExceeded,
)
from inkwell.providers.base import LLMRequest, TokenCounts
from inkwell.providers.openai_compatible import OpenAICompatibleProvider, create_http_client, map_status_error
from tests.conftest import free_port
from tests.fakes.openai_upstream import FakeOpenAI
from tests.providers.conftest import wait_until

CHAT_PROMPT = Prompt(messages=[PromptMessage("system", "You are terse."), PromptMessage("user", "Say hello")])
COMPLETION_PROMPT = Prompt(messages=[PromptMessage("user", "Say hello")], text="Say hello")


def chat_request(**overrides: Any) -> LLMRequest:
    values: dict[str, Any] = {"model": "gpt-4o-mini", "mode": "chat", "prompt": CHAT_PROMPT}
    values.update(overrides)
    return LLMRequest(**values)


def completion_request(**overrides: Any) -> LLMRequest:
    values: dict[str, Any] = {"model": "gpt-3.5-turbo-instruct", "mode": "completion", "prompt": COMPLETION_PROMPT}
    values.update(overrides)
    return LLMRequest(**values)


@pytest.fixture
def provider(fake_openai: FakeOpenAI, http_client: httpx.AsyncClient) -> OpenAICompatibleProvider:
    return OpenAICompatibleProvider(name="openai", base_url=fake_openai.base_url, api_key="sk-test", client=http_client)


async def collect(
    provider: OpenAICompatibleProvider, request: LLMRequest
) -> tuple[list[str], TokenCounts | None, ProviderError | None]:
    """All texts, the last reported usage, and the provider error that ended the stream (if any)."""
    texts: list[str] = []
    usage: TokenCounts | None = None
    try:
        async for chunk in provider.stream(request):
            texts.extend(chunk.texts)
            if chunk.usage is not None:
                usage = chunk.usage
    except ProviderError as exc:
        return texts, usage, exc
    return texts, usage, None


# --------------------------------------------------------------------------------------------------
# what Inkwell sends


async def test_chat_request_payload_and_headers(provider: OpenAICompatibleProvider, fake_openai: FakeOpenAI) -> None:
    request = chat_request(
        params={
            "temperature": 0.3,
            "top_p": 0.9,
            "max_tokens": 64,
            "presence_penalty": 0.5,
            "frequency_penalty": 0.25,
            "seed": 7,
            "not_an_openai_param": "dropped",
            "stop": ["ignored: stop comes from request.stop"],
        },
        stop=["\n\nUser:", "END"],
    )
    texts, usage, error = await collect(provider, request)
    assert error is None
    assert texts == ["Hello", ",", " world", "!"]
    assert usage == TokenCounts(prompt_tokens=12, completion_tokens=7)

    assert len(fake_openai.requests) == 1
    sent = fake_openai.last
    assert sent.method == "POST"
    assert sent.path == "/v1/chat/completions"
    assert sent.body == {
        "model": "gpt-4o-mini",
        "stream": True,
        "stream_options": {"include_usage": True},
        "temperature": 0.3,
        "top_p": 0.9,
        "max_tokens": 64,
        "presence_penalty": 0.5,
        "frequency_penalty": 0.25,
        "seed": 7,
        "stop": ["\n\nUser:", "END"],
        "messages": [
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": "Say hello"},
        ],
    }
    assert sent.headers["authorization"] == "Bearer sk-test"
    assert sent.headers["content-type"] == "application/json"
    assert sent.headers["accept"] == "text/event-stream"
    assert sent.finished.is_set()
    assert not sent.disconnected.is_set()


async def test_completion_mode_sends_prompt_to_completions(
    provider: OpenAICompatibleProvider, fake_openai: FakeOpenAI
) -> None:
    texts, usage, error = await collect(provider, completion_request(params={"max_tokens": 16}, stop=["\n"]))
    assert error is None
    assert texts == ["Hello", ",", " world", "!"]
    assert usage == TokenCounts(prompt_tokens=12, completion_tokens=7)
    sent = fake_openai.last
    assert sent.path == "/v1/completions"
    assert sent.body == {
        "model": "gpt-3.5-turbo-instruct",
        "stream": True,
        "stream_options": {"include_usage": True},
        "max_tokens": 16,
        "stop": ["\n"],
        "prompt": "Say hello",
    }
    assert "messages" not in sent.body


async def test_no_stop_key_and_no_auth_header_when_absent(
    fake_openai: FakeOpenAI, http_client: httpx.AsyncClient
) -> None:
    provider = OpenAICompatibleProvider(
        name="local",
        base_url=fake_openai.base_url + "/",  # a trailing slash does not double the path
        api_key=None,
        client=http_client,
        extra_headers={"X-Org": "acme"},
    )
    texts, _, error = await collect(provider, chat_request(params={"temperature": None}))
    assert error is None
    assert "".join(texts) == "Hello, world!"
    sent = fake_openai.last
    assert sent.path == "/v1/chat/completions"
    assert "stop" not in sent.body
    assert "temperature" not in sent.body  # None values are not sent
    assert "authorization" not in sent.headers
    assert sent.headers["x-org"] == "acme"


async def test_multibyte_texts_survive_chunking(provider: OpenAICompatibleProvider, fake_openai: FakeOpenAI) -> None:
    fake_openai.set_scenario("normal", texts=("héllo", " 世界", " 🙂", "\n", "data: [DONE]"))
    texts, usage, error = await collect(provider, chat_request())
    assert error is None
    assert texts == ["héllo", " 世界", " 🙂", "\n", "data: [DONE]"]  # a [DONE] inside content is just text
    assert usage == TokenCounts(prompt_tokens=12, completion_tokens=7)


async def test_stream_without_usage_yields_none_and_tokenizer_counts(
    provider: OpenAICompatibleProvider, fake_openai: FakeOpenAI
) -> None:
    fake_openai.set_scenario("no_usage")
    request = chat_request()
    texts, usage, error = await collect(provider, request)
    assert error is None
    assert texts == ["Hello", ",", " world", "!"]
    assert usage is None
    assert fake_openai.last.body["stream_options"] == {"include_usage": True}
    # the pipeline's fallback: 3 per message + 3 for the reply + content tokens (o200k)
    assert provider.count_tokens(request, "Hello, world!") == TokenCounts(prompt_tokens=15, completion_tokens=4)


@pytest.mark.parametrize("mode", ["chat", "completion"])
async def test_json_reply_to_a_streaming_request(
    provider: OpenAICompatibleProvider, fake_openai: FakeOpenAI, mode: str
) -> None:
    fake_openai.set_scenario("ignores_stream")
    texts, usage, error = await collect(provider, chat_request() if mode == "chat" else completion_request())
    assert error is None
    assert "".join(texts) == "Hello, world!"
    assert usage is not None and usage.prompt_tokens > 0 and usage.completion_tokens > 0


async def test_concurrent_streams_share_one_client(provider: OpenAICompatibleProvider, fake_openai: FakeOpenAI) -> None:
    for i in range(5):
        fake_openai.set_model_scenario(f"m{i}", "normal", texts=(f"model {i}", " says", " hi"), completion_tokens=i)
    results = await asyncio.gather(*(collect(provider, chat_request(model=f"m{i}")) for i in range(5)))
    for i, (texts, usage, error) in enumerate(results):
        assert error is None
        assert texts == [f"model {i}", " says", " hi"]
        assert usage == TokenCounts(prompt_tokens=12, completion_tokens=i)
    assert sorted(r.model for r in fake_openai.requests) == ["m0", "m1", "m2", "m3", "m4"]


# --------------------------------------------------------------------------------------------------
# upstream HTTP errors


@pytest.mark.parametrize(
    ("kind", "error_class", "message"),
    [
        (
            "http_401",
            ProviderNotInitialize,
            "Model gpt-4o-mini credentials are invalid: [openai] Incorrect API key provided: sk-test. "
            "You can find your API key at https://platform.openai.com/account/api-keys.",
        ),
        (
            "http_403",
            ProviderNotInitialize,
            "Model gpt-4o-mini credentials are invalid: [openai] Country, region, or territory not supported",
        ),
        (
            "http_429_quota",
            ProviderQuotaExceeded,
            "Your quota for openai has been exhausted: [openai] "
            "You exceeded your current quota, please check your plan and billing details.",
        ),
        (
            "http_429_rate",
            CompletionRequestError,
            "Rate Limit Error: [openai] Rate limit reached for gpt-4o-mini in organization org-test on requests "
            "per min (RPM): Limit 3, Used 3, Requested 1. Please try again in 20s.",
        ),
        (
            "http_404_model",
            ModelCurrentlyNotSupport,
            "Model gpt-4o-mini is not supported by openai: [openai] "
            "The model `gpt-4o-mini` does not exist or you do not have access to it.",
        ),
        (
            "http_500",
            CompletionRequestError,
            "Server Unavailable Error: [openai] "
            "The server had an error while processing your request. Sorry about that!",
        ),
    ],
)
@pytest.mark.parametrize("mode", ["chat", "completion"])
async def test_http_errors_map_to_provider_errors(
    provider: OpenAICompatibleProvider,
    fake_openai: FakeOpenAI,
    kind: str,
    error_class: type[ProviderError],
    message: str,
    mode: str,
) -> None:
    fake_openai.set_scenario(kind)
    request = chat_request() if mode == "chat" else completion_request(model="gpt-4o-mini")
    texts, usage, error = await collect(provider, request)
    assert texts == []
    assert usage is None
    assert type(error) is error_class
    assert error.message == message
    assert error.status == 400
    assert len(fake_openai.requests) == 1  # no retry behind the caller's back


def test_non_json_error_bodies() -> None:
    # a proxy in front of the model answering with plain text: the 502 is still a completion error
    error = map_status_error("openai", "gpt-4o-mini", 502, b"<html>Bad Gateway</html>\n")
    assert type(error) is CompletionRequestError
    assert error.message == "Server Unavailable Error: [openai] <html>Bad Gateway</html>"
    error = map_status_error("openai", "gpt-4o-mini", 400, b"")
    assert type(error) is CompletionRequestError
    assert error.message == "Bad Request Error: [openai] HTTP 400"


# --------------------------------------------------------------------------------------------------
# failures inside the stream


async def test_drop_mid_stream_after_first_texts(provider: OpenAICompatibleProvider, fake_openai: FakeOpenAI) -> None:
    fake_openai.set_scenario("drop_mid_stream", drop_after=2)
    texts, usage, error = await collect(provider, chat_request())
    assert texts == ["Hello", ","]
    assert usage is None
    assert type(error) is CompletionRequestError
    assert error.message.startswith("[openai] upstream connection failed: ReadError: Response payload is not completed")
    assert fake_openai.last.dropped.is_set()
    assert fake_openai.last.chunks_sent == 2


@pytest.mark.parametrize("mode", ["chat", "completion"])
async def test_malformed_chunk_keeps_texts_before_it(
    provider: OpenAICompatibleProvider, fake_openai: FakeOpenAI, mode: str
) -> None:
    fake_openai.set_scenario("malformed_chunk", drop_after=3)
    texts, usage, error = await collect(provider, chat_request() if mode == "chat" else completion_request())
    # the texts before the bad line arrive whatever the network read boundaries were
    assert texts == ["Hello", ",", " world"]
    assert usage is None
    assert type(error) is CompletionRequestError
    assert error.message == "[openai] upstream sent a malformed chunk: {this is not json"


async def test_inband_error_event(provider: OpenAICompatibleProvider, fake_openai: FakeOpenAI) -> None:
    fake_openai.set_scenario("inband_error", drop_after=1)
    texts, usage, error = await collect(provider, chat_request())
    assert texts == ["Hello"]
    assert usage is None
    assert type(error) is CompletionRequestError
    assert error.message == "[openai] The model produced invalid content."


async def test_inband_error_before_any_text(provider: OpenAICompatibleProvider, fake_openai: FakeOpenAI) -> None:
    fake_openai.set_scenario("inband_error", drop_after=0)
    texts, _, error = await collect(provider, chat_request())
    assert texts == []
    assert type(error) is CompletionRequestError
    assert error.message == "[openai] The model produced invalid content."


async def test_connection_refused(http_client: httpx.AsyncClient) -> None:
    port = free_port()  # bound then released: nothing listens there
    provider = OpenAICompatibleProvider(
        name="openai", base_url=f"http://127.0.0.1:{port}/v1", api_key="sk-test", client=http_client
    )
    texts, usage, error = await collect(provider, chat_request())
    assert texts == []
    assert usage is None
    assert type(error) is CompletionRequestError
    assert error.status == 400
    assert error.code == "completion_request_error"
    # not reported as a timeout (httpx-aiohttp maps a refused connection to ConnectTimeout)
    assert error.message.startswith("[openai] upstream connection failed: ClientConnectorError: "), error.message
    assert f"127.0.0.1:{port}" in error.message


async def test_read_timeout(fake_openai: FakeOpenAI) -> None:
    fake_openai.set_scenario("slow", delay=5.0, texts=("late",))
    client = create_http_client(connect_timeout=5.0, read_timeout=0.2, max_connections=2)
    try:
        provider = OpenAICompatibleProvider(name="openai", base_url=fake_openai.base_url, api_key="k", client=client)
        texts, _, error = await collect(provider, chat_request())
    finally:
        await client.aclose()
    assert texts == []
    assert type(error) is CompletionRequestError
    assert error.message == "[openai] upstream timed out: ReadTimeout"
    # and the upstream sees the connection go
    assert await asyncio.to_thread(fake_openai.last.wait_disconnected, 10)


# --------------------------------------------------------------------------------------------------
# closing the stream closes the upstream connection


async def test_closing_the_generator_closes_the_upstream_connection(
    provider: OpenAICompatibleProvider, fake_openai: FakeOpenAI
) -> None:
    fake_openai.set_scenario("slow", delay=0.05)
    stream = provider.stream(chat_request())
    first = await anext(stream)
    second = await anext(stream)
    assert first.texts + second.texts == ["tok0 ", "tok1 "]
    await stream.aclose()
    record = fake_openai.last
    assert await asyncio.to_thread(record.wait_disconnected, 10), "the upstream did not see the client go"
    assert not record.finished.is_set()
    assert record.chunks_sent < 400


async def test_cancelling_the_consumer_closes_the_upstream_connection(
    provider: OpenAICompatibleProvider, fake_openai: FakeOpenAI
) -> None:
    """What a stop request does: cancel the task while it awaits the model."""
    fake_openai.set_scenario("slow", delay=0.05)
    received: list[str] = []

    async def consume() -> None:
        async for chunk in provider.stream(chat_request()):
            received.extend(chunk.texts)

    task = asyncio.create_task(consume())
    await wait_until(lambda: len(received) >= 2, what="two chunks")
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    record = fake_openai.last
    assert await asyncio.to_thread(record.wait_disconnected, 10)
    assert not record.finished.is_set()
    assert received == [f"tok{i} " for i in range(len(received))]


async def test_connection_is_reused_after_a_complete_stream(
    provider: OpenAICompatibleProvider, fake_openai: FakeOpenAI
) -> None:
    for _ in range(3):
        texts, _, error = await collect(provider, chat_request())
        assert error is None
        assert "".join(texts) == "Hello, world!"
    assert len(fake_openai.requests) == 3
    assert all(r.finished.is_set() and not r.disconnected.is_set() for r in fake_openai.requests)
    # keep-alive: one TCP connection served all three
    assert len({r.peer for r in fake_openai.requests}) == 1


async def test_a_closed_stream_is_not_reused(provider: OpenAICompatibleProvider, fake_openai: FakeOpenAI) -> None:
    fake_openai.set_scenario("slow", delay=0.05)
    stream = provider.stream(chat_request())
    assert (await anext(stream)).texts == ["tok0 "]
    await stream.aclose()
    assert await asyncio.to_thread(fake_openai.last.wait_disconnected, 10)
    fake_openai.set_scenario("normal")
    texts, _, error = await collect(provider, chat_request())
    assert error is None
    assert "".join(texts) == "Hello, world!"
    first, second = fake_openai.requests
    assert first.peer != second.peer  # a half-read response's connection is closed, never pooled
