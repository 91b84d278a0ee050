"""Any server that speaks OpenAI's ``/chat/completions`` and ``/completions`` (OpenAI, vLLM, Ollama,
llama.cpp, LM Studio, LiteLLM, DeepSeek, ...).

One shared ``httpx.AsyncClient`` per process, on the aiohttp transport (``httpx-aiohttp``): the same
httpx API and exceptions, at a fraction of the CPU per streamed chunk. Timeouts and connection limits
are explicit. Streams ask for ``stream_options.include_usage``; leaving the ``async with`` closes the
upstream connection, so the upstream stops generating.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, Mapping
from typing import Any

import httpx
import orjson
from httpx_aiohttp import AiohttpTransport

from inkwell.errors import (
    CompletionRequestError,
    ModelCurrentlyNotSupport,
    ProviderError,
    ProviderNotInitialize,
    ProviderQuotaExceeded,
)
from inkwell.providers import tokenizer
from inkwell.providers.base import LLMChunk, LLMRequest, ModelInfo, TokenCounts

log = logging.getLogger(__name__)

# parameters of a DSL ``completion_params`` block that OpenAI-compatible servers understand
PASSED_PARAMS = (
    "temperature",
    "top_p",
    "max_tokens",
    "presence_penalty",
    "frequency_penalty",
    "seed",
    "n",
    "logit_bias",
    "response_format",
)


def create_http_client(*, connect_timeout: float, read_timeout: float, max_connections: int) -> httpx.AsyncClient:
    limits = httpx.Limits(
        max_connections=max_connections, max_keepalive_connections=max_connections, keepalive_expiry=30.0
    )
    timeout = httpx.Timeout(connect=connect_timeout, read=read_timeout, write=30.0, pool=connect_timeout)
    return httpx.AsyncClient(transport=AiohttpTransport(limits=limits), timeout=timeout, limits=limits)


def _upstream_message(body: bytes) -> tuple[str, str]:
    """(message, code) from an OpenAI-style error body, or the raw text."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return body.decode("utf-8", "replace")[:500].strip(), ""
    error = data.get("error") if isinstance(data, dict) else None
    if isinstance(error, dict):
        return str(error.get("message") or error), str(error.get("code") or error.get("type") or "")
    if isinstance(error, str):
        return error, ""
    return str(data)[:500], ""


def map_status_error(provider: str, model: str, status: int, body: bytes) -> ProviderError:
    message, code = _upstream_message(body)
    detail = f"[{provider}] {message}" if message else f"[{provider}] HTTP {status}"
    if status in (401, 403):
        return ProviderNotInitialize(f"Model {model} credentials are invalid: {detail}")
    if status == 429:
        if "quota" in code or "quota" in message.lower() or "billing" in message.lower():
            return ProviderQuotaExceeded(f"Your quota for {provider} has been exhausted: {detail}")
        return CompletionRequestError(f"Rate Limit Error: {detail}")
    if status == 404:
        return ModelCurrentlyNotSupport(f"Model {model} is not supported by {provider}: {detail}")
    if status >= 500:
        return CompletionRequestError(f"Server Unavailable Error: {detail}")
    return CompletionRequestError(f"Bad Request Error: {detail}")


class OpenAICompatibleProvider:
    def __init__(
        self,
        *,
        name: str,
        base_url: str,
        api_key: str | None,
        client: httpx.AsyncClient,
        models: Mapping[str, ModelInfo] | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> None:
        self.name = name
        self.base_url = base_url.rstrip("/")
        self.client = client
        self.models = dict(models or {})
        self.headers = {
            "Content-Type": "application/json",
            "Accept": "text/event-stream",
            **(extra_headers or {}),
        }
        if api_key:
            self.headers["Authorization"] = f"Bearer {api_key}"

    def model(self, name: str) -> ModelInfo:
        return self.models.get(name) or ModelInfo(name=name)

    def _payload(self, request: LLMRequest) -> tuple[str, dict[str, Any]]:
        payload: dict[str, Any] = {
            "model": request.model,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        for key in PASSED_PARAMS:
            value = request.params.get(key)
            if value is not None:
                payload[key] = value
        if request.stop:
            payload["stop"] = request.stop
        if request.mode == "completion":
            payload["prompt"] = request.prompt.text if request.prompt.text is not None else ""
            return f"{self.base_url}/completions", payload
        payload["messages"] = [m.as_dict() for m in request.prompt.messages]
        return f"{self.base_url}/chat/completions", payload

    async def stream(self, request: LLMRequest) -> AsyncGenerator[LLMChunk, None]:
        url, payload = self._payload(request)
        chat = request.mode != "completion"
        try:
            async with self.client.stream("POST", url, content=orjson.dumps(payload), headers=self.headers) as resp:
                if resp.status_code >= 400:
                    body = await resp.aread()
                    raise map_status_error(self.name, request.model, resp.status_code, body)
                if resp.headers.get("content-type", "").startswith("application/json"):
                    # a server that ignores ``stream: true`` answers with one JSON completion
                    yield self._parse_whole(await resp.aread(), chat)
                    return
                buffer = b""
                async for raw in resp.aiter_raw():
                    buffer += raw
                    if b"\n\n" not in buffer and b"\r\n\r\n" not in buffer:
                        continue
                    if b"\r\n" in buffer:
                        buffer = buffer.replace(b"\r\n", b"\n")
                    *events, buffer = buffer.split(b"\n\n")
                    chunk, done, failure = self._parse_events(events, chat)
                    if chunk.texts or chunk.usage is not None:
                        yield chunk
                    if failure is not None:
                        raise failure
                    if done:
                        return
                if buffer.strip():
                    chunk, _, failure = self._parse_events([buffer], chat)
                    if chunk.texts or chunk.usage is not None:
                        yield chunk
                    if failure is not None:
                        raise failure
        except ProviderError:
            raise
        except httpx.TimeoutException as exc:
            # httpx-aiohttp maps every aiohttp connection error (refused, server disconnected) to
            # ConnectTimeout: only a real timeout underneath is reported as one
            if exc.__cause__ is None or isinstance(exc.__cause__, TimeoutError):
                raise CompletionRequestError(f"[{self.name}] upstream timed out: {type(exc).__name__}") from exc
            raise CompletionRequestError(
                f"[{self.name}] upstream connection failed: {type(exc.__cause__).__name__}: {exc}"
            ) from exc
        except httpx.HTTPError as exc:
            raise CompletionRequestError(
                f"[{self.name}] upstream connection failed: {type(exc).__name__}: {exc}"
            ) from exc

    def _parse_whole(self, body: bytes, chat: bool) -> LLMChunk:
        try:
            obj = orjson.loads(body)
        except orjson.JSONDecodeError:
            raise CompletionRequestError(f"[{self.name}] upstream sent a malformed response") from None
        if not isinstance(obj, dict) or not isinstance(obj.get("choices"), list):
            message, _ = _upstream_message(body)
            raise CompletionRequestError(f"[{self.name}] upstream sent no completion: {message}")
        texts: list[str] = []
        for choice in obj["choices"]:
            if not isinstance(choice, dict):
                continue
            text = (choice.get("message") or {}).get("content") if chat else choice.get("text")
            if isinstance(text, str) and text:
                texts.append(text)
        reported = obj.get("usage")
        usage = (
            TokenCounts(int(reported.get("prompt_tokens") or 0), int(reported.get("completion_tokens") or 0))
            if isinstance(reported, dict)
            else None
        )
        return LLMChunk(texts=texts, usage=usage)

    def _parse_events(self, events: list[bytes], chat: bool) -> tuple[LLMChunk, bool, ProviderError | None]:
        """Texts and usage of ``events``, whether ``[DONE]`` came, and the failure that ended them (the
        texts before a bad event are still returned, whatever the network read boundaries were)."""
        texts: list[str] = []
        usage: TokenCounts | None = None
        done = False
        for event in events:
            for line in event.split(b"\n"):
                if not line.startswith(b"data:"):
                    continue
                data = line[5:].strip()
                if data == b"[DONE]":
                    done = True
                    continue
                try:
                    obj = orjson.loads(data)
                except orjson.JSONDecodeError:
                    failure = CompletionRequestError(
                        f"[{self.name}] upstream sent a malformed chunk: {data[:200].decode('utf-8', 'replace')}"
                    )
                    return LLMChunk(texts=texts, usage=usage), done, failure
                if not isinstance(obj, dict):
                    failure = CompletionRequestError(f"[{self.name}] upstream sent a malformed chunk")
                    return LLMChunk(texts=texts, usage=usage), done, failure
                if "error" in obj:
                    message, _ = _upstream_message(data)
                    return LLMChunk(texts=texts, usage=usage), done, CompletionRequestError(f"[{self.name}] {message}")
                for choice in obj.get("choices") or ():
                    if chat:
                        delta = choice.get("delta") or {}
                        text = delta.get("content")
                    else:
                        text = choice.get("text")
                    if text:
                        texts.append(text)
                reported = obj.get("usage")
                if isinstance(reported, dict):
                    usage = TokenCounts(
                        int(reported.get("prompt_tokens") or 0), int(reported.get("completion_tokens") or 0)
                    )
        return LLMChunk(texts=texts, usage=usage), done, None

    def count_tokens(self, request: LLMRequest, answer: str) -> TokenCounts:
        return TokenCounts(
            tokenizer.count_prompt(request.model, request.prompt), tokenizer.count_text(request.model, answer)
        )

    async def aclose(self) -> None:
        return None  # the shared client is closed by the registry
