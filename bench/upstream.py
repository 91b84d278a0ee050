"""A fast fake OpenAI-compatible upstream for the benchmark (raw asyncio protocol on uvloop + httptools).

``POST /v1/chat/completions`` (any body) streams ``--tokens`` chunks of one token each as
``data: {...}\\n\\n`` (HTTP/1.1 chunked, keep-alive), then a usage chunk and ``data: [DONE]``.
``POST /v1/completions`` does the same with ``choices[].text``. ``GET /health`` answers 200.

Every frame is encoded once at start-up, so a request costs little more than its ``send()`` calls. By
default there is no delay between chunks: each chunk is one ``write()``, and the next one is scheduled
with ``call_soon`` so concurrent streams interleave like a real server's (under load several tokens then
arrive in one TCP read, as they do from a fast real upstream). ``--burst N`` writes N chunks per
write; ``--delay-ms`` spaces the writes out.

    python bench/upstream.py --port 8001 [--tokens 64] [--delay-ms 0] [--burst 1] [--cpu 0]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
from typing import cast

import httptools
import orjson
import uvloop

MODEL = "gpt-4o-mini"


def _chunked(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


def _sse(obj: object) -> bytes:
    return b"data: " + orjson.dumps(obj) + b"\n\n"


def build_frames(tokens: int, *, chat: bool) -> tuple[list[bytes], bytes]:
    """(one SSE frame per token, the tail: usage chunk + [DONE]), both unchunked."""
    head = {"id": "chatcmpl-bench", "created": 1_700_000_000, "model": MODEL}
    frames: list[bytes] = []
    for index in range(tokens):
        word = f" w{index}"
        finish = "stop" if index == tokens - 1 else None
        if chat:
            delta: dict[str, str] = {"content": word}
            if index == 0:
                delta = {"role": "assistant", "content": word}
            choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
            frames.append(_sse({**head, "object": "chat.completion.chunk", "choices": [choice]}))
        else:
            choice = {"index": 0, "text": word, "logprobs": None, "finish_reason": finish}
            frames.append(_sse({**head, "object": "text_completion", "choices": [choice]}))
    usage = {"prompt_tokens": 12, "completion_tokens": tokens, "total_tokens": 12 + tokens}
    obj = "chat.completion.chunk" if chat else "text_completion"
    tail = _sse({**head, "object": obj, "choices": [], "usage": usage}) + b"data: [DONE]\n\n"
    return frames, tail


HEADERS = (
    b"HTTP/1.1 200 OK\r\n"
    b"Content-Type: text/event-stream; charset=utf-8\r\n"
    b"Cache-Control: no-cache\r\n"
    b"Transfer-Encoding: chunked\r\n"
)


class Stream:
    """The pre-encoded writes of one response body."""

    def __init__(self, tokens: int, burst: int, *, chat: bool) -> None:
        frames, tail = build_frames(tokens, chat=chat)
        burst = max(1, burst)
        self.writes = [_chunked(b"".join(frames[i : i + burst])) for i in range(0, len(frames), burst)]
        self.tail = _chunked(tail) + b"0\r\n\r\n"


class UpstreamProtocol(asyncio.Protocol):
    __slots__ = (
        "delay",
        "keep_alive",
        "loop",
        "parser",
        "paused",
        "plan",
        "position",
        "streams",
        "transport",
        "url",
    )

    def __init__(self, streams: dict[bytes, Stream], delay: float) -> None:
        self.streams = streams
        self.delay = delay
        self.loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpRequestParser(self)
        self.url = b""
        self.plan: Stream | None = None
        self.position = 0
        self.keep_alive = True
        self.paused = False

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports are not subclasses

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            self._simple(b"400 Bad Request", b"bad request", close=True)

    def connection_lost(self, exc: Exception | None) -> None:
        self.plan = None

    def pause_writing(self) -> None:
        self.paused = True

    def resume_writing(self) -> None:
        self.paused = False
        if self.plan is not None:
            self._next()

    # httptools callbacks

    def on_message_begin(self) -> None:
        self.url = b""

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_message_complete(self) -> None:
        self.keep_alive = self.parser.should_keep_alive()
        method = self.parser.get_method()
        path = self.url.split(b"?", 1)[0]
        if method == b"GET" and path == b"/health":
            self._simple(b"200 OK", b"ok")
            return
        stream = self.streams.get(path) if method == b"POST" else None
        if stream is None:
            self._simple(b"404 Not Found", b'{"error":{"message":"not found","type":"invalid_request_error"}}')
            return
        assert self.transport is not None
        connection = b"Connection: keep-alive\r\n\r\n" if self.keep_alive else b"Connection: close\r\n\r\n"
        self.transport.write(HEADERS + connection)
        self.plan = stream
        self.position = 0
        self._next()

    # response

    def _simple(self, status: bytes, body: bytes, *, close: bool = False) -> None:
        assert self.transport is not None
        close = close or not self.keep_alive
        self.transport.write(
            b"HTTP/1.1 %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: %s\r\n\r\n%s"
            % (status, len(body), b"close" if close else b"keep-alive", body)
        )
        if close:
            self.transport.close()

    def _next(self) -> None:
        plan, transport = self.plan, self.transport
        if plan is None or transport is None or transport.is_closing() or self.paused:
            return
        if self.position < len(plan.writes):
            transport.write(plan.writes[self.position])
            self.position += 1
            if self.delay:
                self.loop.call_later(self.delay, self._next)
            else:
                self.loop.call_soon(self._next)
            return
        transport.write(plan.tail)
        self.plan = None
        if not self.keep_alive:
            transport.close()


async def serve(host: str, port: int, tokens: int, delay: float, burst: int) -> None:
    streams = {
        b"/v1/chat/completions": Stream(tokens, burst, chat=True),
        b"/v1/completions": Stream(tokens, burst, chat=False),
    }
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: UpstreamProtocol(streams, delay), host, port, backlog=2048)
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with server:
        await stop.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--delay-ms", type=float, default=0.0, help="pause between writes (default: none)")
    parser.add_argument("--burst", type=int, default=1, help="token chunks per write (default: 1)")
    parser.add_argument("--cpu", type=int, help="pin the process to this CPU")
    args = parser.parse_args()
    if args.cpu is not None:
        os.sched_setaffinity(0, {args.cpu})
    uvloop.run(serve(args.host, args.port, args.tokens, args.delay_ms / 1000.0, args.burst))


if __name__ == "__main__":
    main()
