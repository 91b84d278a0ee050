"""A fake OpenAI-compatible upstream: a real aiohttp server on 127.0.0.1, in a thread with its own loop.

It speaks ``POST /v1/chat/completions`` and ``POST /v1/completions``, streaming (SSE ``data: {...}``
frames, then ``data: [DONE]``) and non-streaming, like OpenAI does. Every request is recorded - path,
headers, JSON body - together with what happened to it: how many chunks were sent, whether the
response finished, whether the client went away before it finished.

Behaviour is chosen per request: a scenario set for the request's model (``set_model_scenario``),
else a model name that *is* a scenario name (``"http_401"``), else the default (``set_scenario``).

Scenarios:

``normal``           the texts as chunks, a ``finish_reason`` chunk, a usage chunk when the request
                     asked for ``stream_options.include_usage`` (as OpenAI does), ``[DONE]``
``no_usage``         the same without any usage chunk
``slow``             ``normal`` with ``delay`` seconds before each text chunk (many chunks by default)
``http_401``         401 ``invalid_api_key``
``http_403``         403 ``unsupported_country_region_territory``
``http_429_quota``   429 ``insufficient_quota``
``http_429_rate``    429 ``rate_limit_exceeded``
``http_500``         500 ``server_error``
``http_404_model``   404 ``model_not_found``
``drop_mid_stream``  ``drop_after`` text chunks, then the TCP connection is aborted (no ``[DONE]``)
``malformed_chunk``  ``drop_after`` text chunks, then a ``data:`` line that is not JSON
``inband_error``     ``drop_after`` text chunks, then ``data: {"error": {...}}``
``ignores_stream``   answers a streaming request with one JSON completion, as some servers do

``POST /v1/moderations`` answers like OpenAI's moderation endpoint: one result per input string (a
string or an array of strings), ``flagged`` when it contains one of ``moderation_flags``
(case-insensitive). Those requests are recorded in ``moderation_requests`` (not in ``requests``);
``moderation_status`` other than 200 answers that status with an OpenAI error body.

``POST /v1/audio/speech`` answers real MP3 (a 440 Hz tone, 50 ms per input character, at most 2 s,
LAME-encoded) in two chunks, ``speech_delay`` seconds after the request; ``speech_status`` other than
200 answers that status with an OpenAI error body. ``POST /v1/audio/transcriptions`` (multipart
``file``, ``model``, ...) answers ``{"text": transcript}`` or ``transcription_status`` with an error
body. Both are recorded in ``audio_requests``: ``body`` is the JSON (speech) or the form fields with
``file`` as ``{"filename", "content_type", "size"}`` (transcriptions).
"""

from __future__ import annotations

import array
import asyncio
import contextlib
import math
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web

SCENARIOS = (
    "normal",
    "no_usage",
    "slow",
    "http_401",
    "http_403",
    "http_429_quota",
    "http_429_rate",
    "http_500",
    "http_404_model",
    "drop_mid_stream",
    "malformed_chunk",
    "inband_error",
    "ignores_stream",
)

DEFAULT_TEXTS = ("Hello", ",", " world", "!")

# status and OpenAI error body of each HTTP failure scenario (bodies as OpenAI sends them)
HTTP_ERRORS: dict[str, tuple[int, dict[str, Any]]] = {
    "http_401": (
        401,
        {
            "message": "Incorrect API key provided: sk-test. You can find your API key at "
            "https://platform.openai.com/account/api-keys.",
            "type": "invalid_request_error",
            "param": None,
            "code": "invalid_api_key",
        },
    ),
    "http_403": (
        403,
        {
            "message": "Country, region, or territory not supported",
            "type": "request_forbidden",
            "param": None,
            "code": "unsupported_country_region_territory",
        },
    ),
    "http_429_quota": (
        429,
        {
            "message": "You exceeded your current quota, please check your plan and billing details.",
            "type": "insufficient_quota",
            "param": None,
            "code": "insufficient_quota",
        },
    ),
    "http_429_rate": (
        429,
        {
            "message": "Rate limit reached for gpt-4o-mini in organization org-test on requests per min (RPM): "
            "Limit 3, Used 3, Requested 1. Please try again in 20s.",
            "type": "requests",
            "param": None,
            "code": "rate_limit_exceeded",
        },
    ),
    "http_500": (
        500,
        {
            "message": "The server had an error while processing your request. Sorry about that!",
            "type": "server_error",
            "param": None,
            "code": None,
        },
    ),
    "http_404_model": (
        404,
        {
            "message": "The model `gpt-4o-mini` does not exist or you do not have access to it.",
            "type": "invalid_request_error",
            "param": None,
            "code": "model_not_found",
        },
    ),
}

INBAND_ERROR = {"message": "The model produced invalid content.", "type": "server_error", "code": None}
MALFORMED_LINE = b"data: {this is not json\n\n"


@dataclass(frozen=True)
class Scenario:
    kind: str = "normal"
    texts: tuple[str, ...] = DEFAULT_TEXTS
    prompt_tokens: int = 12
    completion_tokens: int = 7
    delay: float = 0.0  # seconds before each text chunk
    drop_after: int = 2  # text chunks sent before the failure of drop/malformed/inband scenarios

    def __post_init__(self) -> None:
        if self.kind not in SCENARIOS:
            raise ValueError(f"unknown scenario {self.kind!r}; one of {', '.join(SCENARIOS)}")


def scenario(kind: str, **overrides: Any) -> Scenario:
    """A scenario with its defaults (``slow`` streams 400 chunks 50 ms apart unless told otherwise)."""
    if kind == "slow":
        overrides.setdefault("delay", 0.05)
        overrides.setdefault("texts", tuple(f"tok{i} " for i in range(400)))
    if "texts" in overrides:
        overrides["texts"] = tuple(overrides["texts"])
    return Scenario(kind=kind, **overrides)


@dataclass
class RecordedRequest:
    """One request the fake received, and what became of it (fields written by the server thread)."""

    method: str
    path: str
    headers: dict[str, str]  # lower-case names
    raw: bytes
    body: Any  # the parsed JSON, or None if the body was not JSON
    scenario: Scenario
    peer: Any = None  # (host, port) of the client's end of the connection
    chunks_sent: int = 0  # text chunks written
    finished: threading.Event = field(default_factory=threading.Event)  # the last bytes were handed to the socket
    disconnected: threading.Event = field(default_factory=threading.Event)  # the client left before the end
    dropped: threading.Event = field(default_factory=threading.Event)  # the fake aborted the connection

    @property
    def model(self) -> Any:
        return self.body.get("model") if isinstance(self.body, dict) else None

    @property
    def stream(self) -> bool:
        return isinstance(self.body, dict) and bool(self.body.get("stream"))

    def wait_disconnected(self, timeout: float) -> bool:
        return self.disconnected.wait(timeout)


class _ClientGone(Exception):
    pass


class FakeOpenAI:
    """Start with ``start()`` (or ``with FakeOpenAI() as fake``); ``base_url`` ends in ``/v1``."""

    def __init__(self) -> None:
        self.requests: list[RecordedRequest] = []
        self.moderation_requests: list[RecordedRequest] = []
        self.moderation_flags: set[str] = set()
        self.moderation_status = 200
        self.audio_requests: list[RecordedRequest] = []
        self.speech_status = 200
        self.speech_delay = 0.0
        self.transcript = "hello from the fake transcriber"
        self.transcription_status = 200
        self.default = scenario("normal")
        self.by_model: dict[str, Scenario] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._stopping = threading.Event()
        self.port = 0

    # ---------------------------------------------------------------------------------------- control

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"

    def set_scenario(self, kind: str, **overrides: Any) -> Scenario:
        """The scenario of every request whose model has none of its own."""
        self.default = scenario(kind, **overrides)
        return self.default

    def set_model_scenario(self, model: str, kind: str, **overrides: Any) -> Scenario:
        self.by_model[model] = scenario(kind, **overrides)
        return self.by_model[model]

    def scenario_for(self, model: Any) -> Scenario:
        if isinstance(model, str):
            if model in self.by_model:
                return self.by_model[model]
            if model in SCENARIOS:
                return scenario(model)
        return self.default

    @property
    def last(self) -> RecordedRequest:
        assert self.requests, "the fake upstream received no request"
        return self.requests[-1]

    def wait_for_requests(self, count: int, timeout: float = 10.0) -> list[RecordedRequest]:
        deadline = time.monotonic() + timeout
        while len(self.requests) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"expected {count} upstream requests, got {len(self.requests)}")
            time.sleep(0.01)
        return list(self.requests)

    # ---------------------------------------------------------------------------------------- life

    def start(self) -> FakeOpenAI:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self.port = int(sock.getsockname()[1])
        loop = asyncio.new_event_loop()
        self._loop = loop
        ready = threading.Event()
        failure: list[BaseException] = []
        self._thread = threading.Thread(
            target=self._run, args=(loop, sock, ready, failure), name="fake-openai", daemon=True
        )
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("the fake OpenAI server did not start")
        if failure:
            raise RuntimeError("the fake OpenAI server did not start") from failure[0]
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._loop is not None and self._thread is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=15)

    def __enter__(self) -> FakeOpenAI:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run(
        self, loop: asyncio.AbstractEventLoop, sock: socket.socket, ready: threading.Event, failure: list[BaseException]
    ) -> None:
        asyncio.set_event_loop(loop)
        try:
            app = web.Application(client_max_size=64 * 1024 * 1024)  # audio uploads
            app.router.add_post("/v1/chat/completions", self._handle)
            app.router.add_post("/v1/completions", self._handle)
            app.router.add_post("/v1/moderations", self._moderate)
            app.router.add_post("/v1/audio/speech", self._speech)
            app.router.add_post("/v1/audio/transcriptions", self._transcribe)
            # handler_cancellation: a client that goes away cancels its handler, which records it
            self._runner = web.AppRunner(app, handler_cancellation=True, access_log=None, shutdown_timeout=2.0)
            loop.run_until_complete(self._runner.setup())
            site = web.SockSite(self._runner, sock)
            loop.run_until_complete(site.start())
        except BaseException as exc:
            failure.append(exc)
            ready.set()
            loop.close()
            return
        ready.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(self._runner.cleanup())
            pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
            for task in pending:
                task.cancel()
            if pending:
                loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    # ---------------------------------------------------------------------------------------- protocol

    def _record(self, request: web.Request, raw: bytes, body: Any) -> RecordedRequest:
        """What ``request`` was, under the scenario of the ``model`` its body names."""
        model = body.get("model") if isinstance(body, dict) else None
        return RecordedRequest(
            method=request.method,
            path=request.path,
            headers={k.lower(): v for k, v in request.headers.items()},
            raw=raw,
            body=body,
            scenario=self.scenario_for(model),
            peer=request.transport.get_extra_info("peername") if request.transport is not None else None,
        )

    async def _receive_json(self, request: web.Request) -> RecordedRequest:
        """The request with its JSON body read (``body`` None when it is not JSON)."""
        raw = await request.read()
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError:
            body = None
        return self._record(request, raw, body)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        record = await self._receive_json(request)
        body = record.body
        self.requests.append(record)
        if not isinstance(body, dict):
            return web.json_response(
                {"error": {"message": "We could not parse the JSON body of your request.", "code": None}}, status=400
            )
        kind = record.scenario.kind
        if kind in HTTP_ERRORS:
            status, error = HTTP_ERRORS[kind]
            headers = {"retry-after": "20"} if status == 429 else None
            record.finished.set()
            return web.json_response({"error": error}, status=status, headers=headers)
        chat = request.path.endswith("/chat/completions")
        try:
            if record.stream and kind != "ignores_stream":
                return await self._stream(request, record, chat)
            return await self._whole(request, record, chat)
        except (asyncio.CancelledError, ConnectionError, _ClientGone):
            if not record.dropped.is_set():
                record.disconnected.set()
            raise

    async def _moderate(self, request: web.Request) -> web.StreamResponse:
        record = await self._receive_json(request)
        body = record.body
        self.moderation_requests.append(record)
        record.finished.set()
        if self.moderation_status != 200:
            error = {"message": "moderation failed", "type": "server_error", "param": None, "code": None}
            return web.json_response({"error": error}, status=self.moderation_status)
        texts = body.get("input") if isinstance(body, dict) else None
        if isinstance(texts, str):
            texts = [texts]
        if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
            return web.json_response({"error": {"message": "'input' is required", "code": None}}, status=400)
        results = []
        for text in texts:
            hit = any(word.lower() in text.lower() for word in self.moderation_flags)
            results.append(
                {
                    "flagged": hit,
                    "categories": {"violence": hit, "harassment": False},
                    "category_scores": {"violence": 0.98 if hit else 0.001, "harassment": 0.0001},
                }
            )
        return web.json_response({"id": "modr-fake", "model": body.get("model"), "results": results})

    async def _speech(self, request: web.Request) -> web.StreamResponse:
        record = await self._receive_json(request)
        body = record.body
        self.audio_requests.append(record)
        if self.speech_status != 200:
            record.finished.set()
            error = {"message": "speech failed", "type": "server_error", "param": None, "code": None}
            return web.json_response({"error": error}, status=self.speech_status)
        text = body.get("input") if isinstance(body, dict) else None
        if not isinstance(text, str) or not text or not body.get("voice"):
            record.finished.set()
            error = {"message": "'input' and 'voice' are required", "type": "invalid_request_error", "code": None}
            return web.json_response({"error": error}, status=400)
        try:
            if self.speech_delay:
                await self._pause(request, self.speech_delay)
            audio = tone_mp3(min(0.05 * len(text), 2.0))
            resp = web.StreamResponse(status=200, headers={"Content-Type": "audio/mpeg"})
            await resp.prepare(request)
            half = len(audio) // 2
            await self._write(request, resp, audio[:half])
            record.finished.set()
            await resp.write_eof(audio[half:])
            return resp
        except (asyncio.CancelledError, ConnectionError, _ClientGone):
            record.disconnected.set()
            raise

    async def _transcribe(self, request: web.Request) -> web.StreamResponse:
        fields: dict[str, Any] = {}
        form = await request.post()
        for name, value in form.items():
            if isinstance(value, web.FileField):
                data = value.file.read()
                fields[name] = {"filename": value.filename, "content_type": value.content_type, "size": len(data)}
            else:
                fields[name] = str(value)
        record = self._record(request, b"", fields)
        self.audio_requests.append(record)
        record.finished.set()
        if self.transcription_status != 200:
            error = {"message": "transcription failed", "type": "server_error", "param": None, "code": None}
            return web.json_response({"error": error}, status=self.transcription_status)
        if "file" not in fields or not fields.get("model"):
            error = {"message": "'file' and 'model' are required", "type": "invalid_request_error", "code": None}
            return web.json_response({"error": error}, status=400)
        return web.json_response({"text": self.transcript})

    # one chunk object of each protocol ----------------------------------------------------------

    @staticmethod
    def _chunk(record: RecordedRequest, chat: bool, text: str | None, finish: str | None = None) -> dict[str, Any]:
        if chat:
            delta: dict[str, Any] = {} if text is None else {"content": text}
            if text == "" and finish is None:
                delta = {"role": "assistant", "content": ""}
            choice: dict[str, Any] = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
            obj = "chat.completion.chunk"
        else:
            choice = {"index": 0, "text": text or "", "logprobs": None, "finish_reason": finish}
            obj = "text_completion"
        return {
            "id": "chatcmpl-fake" if chat else "cmpl-fake",
            "object": obj,
            "created": 1700000000,
            "model": record.model,
            "system_fingerprint": None,
            "choices": [choice],
        }

    @staticmethod
    def _usage(sc: Scenario) -> dict[str, int]:
        return {
            "prompt_tokens": sc.prompt_tokens,
            "completion_tokens": sc.completion_tokens,
            "total_tokens": sc.prompt_tokens + sc.completion_tokens,
        }

    async def _write(self, request: web.Request, resp: web.StreamResponse, payload: Any) -> None:
        data = payload if isinstance(payload, bytes) else b"data: " + orjson.dumps(payload) + b"\n\n"
        transport = request.transport
        if transport is None or transport.is_closing():
            raise _ClientGone()
        await resp.write(data)

    async def _pause(self, request: web.Request, seconds: float) -> None:
        """Sleep, noticing a client that leaves meanwhile."""
        deadline = time.monotonic() + seconds
        while True:
            transport = request.transport
            if transport is None or transport.is_closing():
                raise _ClientGone()
            if self._stopping.is_set():
                raise _ClientGone()
            left = deadline - time.monotonic()
            if left <= 0:
                return
            await asyncio.sleep(min(left, 0.01))

    async def _abort(self, request: web.Request, record: RecordedRequest) -> None:
        record.dropped.set()
        transport = request.transport
        if transport is not None:
            transport.abort()
        await asyncio.sleep(0)

    async def _stream(self, request: web.Request, record: RecordedRequest, chat: bool) -> web.StreamResponse:
        sc = record.scenario
        include_usage = bool((record.body.get("stream_options") or {}).get("include_usage"))
        resp = web.StreamResponse(
            status=200, headers={"Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-cache"}
        )
        await resp.prepare(request)
        if chat:
            await self._write(request, resp, self._chunk(record, chat, ""))
        failing = sc.kind in ("drop_mid_stream", "malformed_chunk", "inband_error")
        for i, text in enumerate(sc.texts):
            if failing and i == sc.drop_after:
                break
            if sc.delay:
                await self._pause(request, sc.delay)
            await self._write(request, resp, self._chunk(record, chat, text))
            record.chunks_sent += 1
        if sc.kind == "drop_mid_stream":
            await self._abort(request, record)
            return resp
        if sc.kind == "malformed_chunk":
            await self._write(request, resp, MALFORMED_LINE)
        elif sc.kind == "inband_error":
            await self._write(request, resp, {"error": INBAND_ERROR})
        else:
            await self._write(request, resp, self._chunk(record, chat, None, "stop"))
            if include_usage and sc.kind != "no_usage":
                await self._write(
                    request,
                    resp,
                    {**self._chunk(record, chat, None), "choices": [], "usage": self._usage(sc)},
                )
        transport = request.transport
        if transport is None or transport.is_closing():
            raise _ClientGone()
        # set before the last write: a client that stops reading at [DONE] must find it set already
        record.finished.set()
        # [DONE] and the end of the chunked body leave in one write, as most servers flush them
        await resp.write_eof(b"data: [DONE]\n\n")
        return resp

    async def _whole(self, request: web.Request, record: RecordedRequest, chat: bool) -> web.StreamResponse:
        sc = record.scenario
        if sc.kind == "drop_mid_stream":
            await self._abort(request, record)
            return web.Response(status=200)
        if sc.kind == "malformed_chunk":
            record.finished.set()
            return web.Response(status=200, body=b"{this is not json", content_type="application/json")
        if sc.kind == "inband_error":
            record.finished.set()
            return web.json_response({"error": INBAND_ERROR}, status=200)
        if sc.delay:
            await self._pause(request, sc.delay * len(sc.texts))
        text = "".join(sc.texts)
        record.chunks_sent = len(sc.texts)
        if chat:
            choice: dict[str, Any] = {
                "index": 0,
                "message": {"role": "assistant", "content": text, "refusal": None},
                "logprobs": None,
                "finish_reason": "stop",
            }
        else:
            choice = {"index": 0, "text": text, "logprobs": None, "finish_reason": "stop"}
        body: dict[str, Any] = {
            "id": "chatcmpl-fake" if chat else "cmpl-fake",
            "object": "chat.completion" if chat else "text_completion",
            "created": 1700000000,
            "model": record.model,
            "choices": [choice],
        }
        if sc.kind != "no_usage":
            body["usage"] = self._usage(sc)
        record.finished.set()
        return web.json_response(body)


def tone_mp3(seconds: float, rate: int = 22050) -> bytes:
    """A 440 Hz tone as MP3 (real frames a decoder plays)."""
    import lameenc

    samples = array.array("h", (int(8000 * math.sin(2 * math.pi * 440 * i / rate)) for i in range(int(seconds * rate))))
    encoder = lameenc.Encoder()
    encoder.set_bit_rate(48)
    encoder.set_in_sample_rate(rate)
    encoder.set_channels(1)
    return bytes(encoder.encode(samples.tobytes()) + encoder.flush())


@contextlib.contextmanager
def running_fake() -> Iterator[FakeOpenAI]:
    fake = FakeOpenAI().start()
    try:
        yield fake
    finally:
        fake.stop()


__all__ = ["HTTP_ERRORS", "INBAND_ERROR", "SCENARIOS", "FakeOpenAI", "RecordedRequest", "Scenario", "running_fake"]
