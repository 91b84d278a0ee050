"""The benchmark's load generator: N keep-alive clients on raw asyncio sockets (uvloop).

Each client loops POST + read the whole streamed response for ``--warmup`` + ``--duration`` seconds,
then finishes the request it has in flight (so every request the server started is also completed and
counted). Per request it records the time to first token (the first ``message`` frame for a Dify
stream, the first ``content`` chunk for an OpenAI stream) and the completion time, and it checks the
stream: a Dify stream must hold exactly ``--tokens`` ``message`` frames and one ``message_end``; an
OpenAI stream ``--tokens`` content chunks and one ``[DONE]``. Anything else counts as an error.

The report (one JSON object on stdout) covers requests that completed inside the measurement window:
requests/s, TTFT p50/p99, stream-time p50/p99, errors, and this process's own CPU over the window
(``cpu_pct``: CPU seconds / wall seconds, 100 = one core), so a saturated load generator shows.
``total_completed`` counts every completed request, warm-up and drain included (for CPU per request).

    python bench/loadgen.py --url http://127.0.0.1:5001/v1/completion-messages --kind dify \\
        --body '{"inputs": {"query": "x"}, "response_mode": "streaming", "user": "u"}' \\
        --header 'Authorization: Bearer KEY' --concurrency 16
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import sys
import time
from dataclasses import dataclass, field
from typing import Any, cast
from urllib.parse import urlsplit

import uvloop

# frame markers, as the servers under test write them (compact JSON)
DIFY_MESSAGE = b'{"event":"message",'
DIFY_END = b'{"event":"message_end",'
DIFY_ERROR = b'{"event":"error",'
OPENAI_CONTENT = b'"content":'
OPENAI_DONE = b"data: [DONE]"


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile of ``values`` (q in 0..100)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q / 100.0 * len(ordered) + 0.5)))
    return ordered[rank - 1]


@dataclass(slots=True)
class Stats:
    started: list[float] = field(default_factory=list)
    ttft: list[float] = field(default_factory=list)
    ended: list[float] = field(default_factory=list)
    ok: list[bool] = field(default_factory=list)
    parts: list[int] = field(default_factory=list)
    reads: list[int] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)

    def error(self, reason: str) -> None:
        self.errors[reason] = self.errors.get(reason, 0) + 1


class BadResponse(ConnectionError):
    pass


def dechunk(buf: bytearray, pos: int) -> tuple[bytes, int] | None:
    """(body, number of chunks) of a complete chunked body starting at ``pos``; None while incomplete."""
    parts: list[bytes] = []
    end = len(buf)
    while True:
        eol = buf.find(b"\r\n", pos)
        if eol == -1:
            return None
        try:
            size = int(bytes(buf[pos:eol]).split(b";", 1)[0], 16)
        except ValueError:
            raise BadResponse(f"bad chunk size line {bytes(buf[pos:eol])[:40]!r}") from None
        if size == 0:
            if end - eol < 4:
                return None
            if buf[eol + 2 : eol + 4] != b"\r\n":
                raise BadResponse("chunked trailers are not supported")
            return b"".join(parts), len(parts)
        data_end = eol + 2 + size
        if data_end + 2 > end:
            return None
        parts.append(bytes(buf[eol + 2 : data_end]))
        pos = data_end + 2


class Connection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection, one request at a time.

    The response is read with as little work per TCP read as possible (append, look for the end), so
    the load generator stays cheap even for the upstream's 66 tiny chunks per stream: the head is
    parsed once, a chunked body is decoded once when its last chunk is in.
    """

    def __init__(self, first_marker: bytes) -> None:
        self.first_marker = first_marker
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.waiter: asyncio.Future[None] | None = None
        self.buf = bytearray()
        self.head_end = 0
        self.scanned = 0
        self.first_at = 0.0
        self.status = 0
        self.chunked = False
        self.length = -1
        self.keep_alive = True
        self.body = b""
        self.chunks = 0
        self.reads = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports are not subclasses

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        waiter = self.waiter
        if waiter is None or waiter.done():
            return
        if self.head_end and not self.chunked and self.length < 0:  # body delimited by the close
            self.body = bytes(self.buf[self.head_end :])
            waiter.set_result(None)
        else:
            waiter.set_exception(ConnectionError(f"connection lost: {exc!r}"))

    def data_received(self, data: bytes) -> None:
        waiter = self.waiter
        if waiter is None or waiter.done():
            return
        self.reads += 1
        buf = self.buf
        buf += data
        try:
            if not self.head_end:
                end = buf.find(b"\r\n\r\n")
                if end == -1:
                    return
                self._head(bytes(buf[:end]))
                self.head_end = self.scanned = end + 4
            if not self.first_at:
                if buf.find(self.first_marker, max(self.head_end, self.scanned - len(self.first_marker))) != -1:
                    self.first_at = time.perf_counter()
                self.scanned = len(buf)
            if self.chunked:
                if buf.endswith(b"0\r\n\r\n"):
                    decoded = dechunk(buf, self.head_end)
                    if decoded is not None:
                        self.body, self.chunks = decoded
                        waiter.set_result(None)
            elif self.length >= 0 and len(buf) - self.head_end >= self.length:
                self.body = bytes(buf[self.head_end : self.head_end + self.length])
                waiter.set_result(None)
        except BadResponse as exc:
            waiter.set_exception(exc)
            assert self.transport is not None
            self.transport.close()

    def _head(self, head: bytes) -> None:
        lines = head.split(b"\r\n")
        version, _, rest = lines[0].partition(b" ")
        try:
            self.status = int(rest[:3])
        except ValueError:
            raise BadResponse(f"bad status line {lines[0][:60]!r}") from None
        self.keep_alive = version == b"HTTP/1.1"
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            name, value = name.strip().lower(), value.strip().lower()
            if name == b"transfer-encoding":
                self.chunked = value.endswith(b"chunked")
            elif name == b"content-length":
                self.length = int(value)
            elif name == b"connection":
                self.keep_alive = value != b"close" and (self.keep_alive or value == b"keep-alive")

    def start(self, request: bytes) -> asyncio.Future[None]:
        assert self.transport is not None
        self.buf = bytearray()
        self.head_end = self.scanned = 0
        self.first_at = 0.0
        self.status = 0
        self.chunked = False
        self.length = -1
        self.body = b""
        self.chunks = 0
        self.reads = 0
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(request)
        return self.waiter


def check_stream(kind: str, status: int, body: bytes, tokens: int) -> str | None:
    """None when the stream is complete and well-formed, else the reason it is not."""
    if status != 200:
        return f"HTTP {status}: {body[:200].decode('utf-8', 'replace')}"
    if kind == "dify":
        if DIFY_ERROR in body:
            start = body.find(DIFY_ERROR)
            return "error event: " + body[start : start + 300].decode("utf-8", "replace")
        messages, ends = body.count(DIFY_MESSAGE), body.count(DIFY_END)
        if messages != tokens or ends != 1:
            return f"{messages} message frames and {ends} message_end (want {tokens} and 1)"
        return None
    contents, done = body.count(OPENAI_CONTENT), body.count(OPENAI_DONE)
    if contents != tokens or done != 1:
        return f"{contents} content chunks and {done} [DONE] (want {tokens} and 1)"
    return None


async def client(
    index: int,
    args: argparse.Namespace,
    request: bytes,
    stats: Stats,
    stop_at: list[float],
) -> None:
    loop = asyncio.get_running_loop()
    marker = DIFY_MESSAGE if args.kind == "dify" else OPENAI_CONTENT
    conn: Connection | None = None
    # stagger the first connects a little so they do not all land in one accept burst
    await asyncio.sleep(index * 0.0005)
    while time.perf_counter() < stop_at[0]:
        if conn is None or conn.closed:
            try:
                _, conn = await loop.create_connection(lambda: Connection(marker), args.host, args.port)
            except OSError as exc:
                stats.error(f"connect: {exc.__class__.__name__}")
                await asyncio.sleep(0.05)
                continue
        started = time.perf_counter()
        try:
            await asyncio.wait_for(conn.start(request), args.timeout)
        except (ConnectionError, TimeoutError) as exc:
            stats.started.append(started)
            stats.ttft.append(0.0)
            stats.ended.append(time.perf_counter())
            stats.ok.append(False)
            stats.parts.append(0)
            stats.reads.append(0)
            stats.error(f"{exc.__class__.__name__}: {str(exc)[:120]}")
            if conn.transport is not None:
                conn.transport.close()
            conn = None
            continue
        ended = time.perf_counter()
        problem = check_stream(args.kind, conn.status, conn.body, args.tokens)
        stats.started.append(started)
        stats.ttft.append(conn.first_at - started if conn.first_at else 0.0)
        stats.ended.append(ended)
        stats.ok.append(problem is None)
        stats.parts.append(conn.chunks)
        stats.reads.append(conn.reads)
        if problem is not None:
            stats.error(problem)
        if not conn.keep_alive:
            assert conn.transport is not None
            conn.transport.close()
            conn = None
    if conn is not None and conn.transport is not None:
        conn.transport.close()


def build_request(args: argparse.Namespace) -> bytes:
    body = args.body.encode()
    lines = [
        f"POST {args.path} HTTP/1.1",
        f"Host: {args.host}:{args.port}",
        "Content-Type: application/json",
        "Accept: text/event-stream",
        f"Content-Length: {len(body)}",
        *args.header,
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def run(args: argparse.Namespace) -> dict[str, Any]:
    stats = Stats()
    request = build_request(args)
    began = time.perf_counter()
    window_start = began + args.warmup
    window_end = window_start + args.duration
    stop_at = [window_end]
    tasks = [asyncio.create_task(client(i, args, request, stats, stop_at)) for i in range(args.concurrency)]

    await asyncio.sleep(max(0.0, window_start - time.perf_counter()))
    cpu_start, wall_start = cpu_seconds(), time.perf_counter()
    await asyncio.sleep(max(0.0, window_end - time.perf_counter()))
    cpu_end, wall_end = cpu_seconds(), time.perf_counter()

    done, pending = await asyncio.wait(tasks, timeout=args.timeout + 5)
    for task in pending:
        task.cancel()
    drained = not pending
    for task in done:
        if task.exception() is not None:
            stats.error(f"client crashed: {task.exception()!r}")

    in_window = [i for i, end in enumerate(stats.ended) if wall_start <= end < wall_end]
    ok = [i for i in in_window if stats.ok[i]]
    ttft = [stats.ttft[i] * 1000.0 for i in ok]
    latency = [(stats.ended[i] - stats.started[i]) * 1000.0 for i in ok]
    wall = wall_end - wall_start
    return {
        "url": args.url,
        "kind": args.kind,
        "concurrency": args.concurrency,
        "window_seconds": round(wall, 3),
        "completed": len(ok),
        "rps": len(ok) / wall if wall > 0 else 0.0,
        "ttft_p50_ms": percentile(ttft, 50),
        "ttft_p90_ms": percentile(ttft, 90),
        "ttft_p99_ms": percentile(ttft, 99),
        "ttft_max_ms": max(ttft, default=None),
        "latency_p50_ms": percentile(latency, 50),
        "latency_p99_ms": percentile(latency, 99),
        "http_chunks_per_req": sum(stats.parts[i] for i in ok) / len(ok) if ok else None,
        "tcp_reads_per_req": sum(stats.reads[i] for i in ok) / len(ok) if ok else None,
        "errors": sum(1 for i in in_window if not stats.ok[i]),
        "total_completed": sum(stats.ok),
        "total_errors": sum(stats.errors.values()),
        "error_reasons": dict(sorted(stats.errors.items(), key=lambda kv: -kv[1])[:5]),
        "drained": drained,
        "loadgen_cpu_seconds": round(cpu_end - cpu_start, 4),
        "loadgen_cpu_pct": 100.0 * (cpu_end - cpu_start) / wall if wall > 0 else 0.0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", required=True)
    parser.add_argument("--kind", choices=["dify", "openai"], required=True)
    parser.add_argument("--body", required=True, help="the JSON request body")
    parser.add_argument("--header", action="append", default=[], help="an extra 'Name: value' header")
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--duration", type=float, default=5.0, help="measured seconds (after the warm-up)")
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--tokens", type=int, default=64, help="message frames each stream must hold")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds one request may take")
    parser.add_argument("--cpu", type=int, help="pin the process to this CPU")
    args = parser.parse_args()
    parts = urlsplit(args.url)
    if parts.scheme != "http" or not parts.hostname:
        parser.error("--url must be http://host:port/path")
    args.host, args.port = parts.hostname, parts.port or 80
    args.path = parts.path + (f"?{parts.query}" if parts.query else "")
    if args.cpu is not None:
        os.sched_setaffinity(0, {args.cpu})
    report = uvloop.run(run(args))
    json.dump(report, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
