"""Helpers for the streaming tests: raw SSE reading, frame parsing, and the stored message row.

Everything goes through a real uvicorn server (``tests/conftest.py``). Bytes are read with
``aiter_raw``: each item is what one socket read delivered, i.e. the chunk boundaries the client sees.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import httpx
from sqlalchemy import select
from sqlmodel import col

from inkwell.completion.models import Message
from inkwell.db import Database
from tests.conftest import RunningServer, SeededApp

PING = b"event: ping\n\n"


def split_frames(data: bytes) -> tuple[list[bytes], bytes]:
    """Complete frames (each with its ``\\n\\n``) and the incomplete rest."""
    parts = data.split(b"\n\n")
    return [part + b"\n\n" for part in parts[:-1]], parts[-1]


def frame_json(frame: bytes) -> dict[str, Any]:
    """The payload of a JSON frame; asserts the exact ``data: <json>\\n\\n`` form."""
    assert frame.startswith(b"data: "), frame
    assert frame.endswith(b"\n\n"), frame
    body = frame[len(b"data: ") : -2]
    assert b"\n" not in body and b"\r" not in body, frame
    payload = json.loads(body)
    assert isinstance(payload, dict), frame
    return payload


@dataclass
class SSEReader:
    """One open streaming response, read frame by frame from the raw bytes."""

    response: httpx.Response
    chunks: list[bytes] = field(default_factory=list)
    frames: list[bytes] = field(default_factory=list)
    _buffer: bytes = b""
    _raw: AsyncIterator[bytes] | None = None

    async def next_frame(self) -> bytes | None:
        """The next complete frame (JSON or ping), or None at the end of the stream."""
        if self._raw is None:
            self._raw = self.response.aiter_raw()
        while True:
            frames, rest = split_frames(self._buffer)
            if frames:
                self._buffer = self._buffer[len(frames[0]) :]
                self.frames.append(frames[0])
                return frames[0]
            try:
                chunk = await anext(self._raw)
            except StopAsyncIteration:
                assert not rest, f"stream ended inside a frame: {rest!r}"
                return None
            self.chunks.append(chunk)
            self._buffer += chunk

    async def next_event(self) -> dict[str, Any] | None:
        """The next JSON event, skipping pings."""
        while True:
            frame = await self.next_frame()
            if frame is None:
                return None
            if frame != PING:
                return frame_json(frame)

    async def read_all(self) -> list[bytes]:
        while await self.next_frame() is not None:
            pass
        return self.frames

    @property
    def events(self) -> list[dict[str, Any]]:
        return [frame_json(frame) for frame in self.frames if frame != PING]


@asynccontextmanager
async def open_stream(
    client: httpx.AsyncClient,
    app: SeededApp,
    inputs: dict[str, Any],
    *,
    user: str = "streamer",
    base_url: str | None = None,
    **extra: Any,
) -> AsyncIterator[SSEReader]:
    """``POST /v1/completion-messages`` in streaming mode, left open for frame-by-frame reading."""
    url = f"{base_url or app.base_url}/v1/completion-messages"
    body = {"inputs": inputs, "user": user, "response_mode": "streaming", **extra}
    async with client.stream("POST", url, headers=app.headers, json=body) as response:
        yield SSEReader(response)


async def stream_all(
    client: httpx.AsyncClient, app: SeededApp, inputs: dict[str, Any], **kwargs: Any
) -> tuple[httpx.Response, SSEReader]:
    async with open_stream(client, app, inputs, **kwargs) as reader:
        assert reader.response.status_code == 200, await reader.response.aread()
        await reader.read_all()
    return reader.response, reader


async def blocking(
    client: httpx.AsyncClient, app: SeededApp, inputs: dict[str, Any], *, user: str = "streamer"
) -> dict[str, Any]:
    resp = await client.post(
        f"{app.base_url}/v1/completion-messages",
        headers=app.headers,
        json={"inputs": inputs, "user": user, "response_mode": "blocking"},
    )
    assert resp.status_code == 200, resp.text
    body: dict[str, Any] = resp.json()
    return body


async def stop_task(
    client: httpx.AsyncClient, app: SeededApp, task_id: str, user: str, *, base_url: str | None = None
) -> httpx.Response:
    return await client.post(
        f"{base_url or app.base_url}/v1/completion-messages/{task_id}/stop",
        headers=app.headers,
        json={"user": user},
    )


async def load_message(running: RunningServer, message_id: str) -> Message | None:
    db = Database(running.settings.database_url)
    try:
        async with db.session() as session:
            result = await session.execute(select(Message).where(col(Message.id) == message_id))
            return result.scalar_one_or_none()
    finally:
        await db.dispose()


async def wait_for_message(running: RunningServer, message_id: str, *, within: float = 5.0) -> Message:
    """Poll the database until the row exists (bounded wait, no timing assertion)."""
    deadline = time.monotonic() + within
    while True:
        row = await load_message(running, message_id)
        if row is not None:
            return row
        assert time.monotonic() < deadline, f"message {message_id} was not saved within {within} s"
        await asyncio.sleep(0.1)


@asynccontextmanager
async def messages_write_lock(running: RunningServer) -> AsyncIterator[None]:
    """Hold a lock that makes every INSERT into ``messages`` wait until the block ends (rolled back)."""
    url = running.settings.database_url
    if running.settings.is_sqlite:
        conn = sqlite3.connect(url.split(":///", 1)[1], isolation_level=None)
        try:
            conn.execute("BEGIN IMMEDIATE")  # the write lock: other writers wait (busy timeout)
            yield
            conn.execute("ROLLBACK")
        finally:
            conn.close()
        return
    pg = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://", 1), timeout=5)
    try:
        async with pg.transaction():
            await pg.execute("LOCK TABLE messages IN SHARE MODE")  # conflicts with INSERT's ROW EXCLUSIVE
            yield
            raise _Rollback
    except _Rollback:
        pass
    finally:
        await pg.close()


class _Rollback(Exception):
    pass


async def wait_until(condition: Callable[[], bool], what: str, *, within: float = 5.0) -> None:
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, f"{what}: not within {within} s"
        await asyncio.sleep(0.02)


@dataclass
class RawHTTPResponse:
    status_line: bytes
    headers: list[tuple[str, str]]
    body_chunks: list[bytes]  # the chunked transfer-encoding chunks: one per server write


async def raw_post(url: str, path: str, headers: dict[str, str], body: bytes) -> RawHTTPResponse:
    """An HTTP/1.1 POST over a plain socket, keeping the server's chunk boundaries."""
    parts = urlsplit(url)
    assert parts.hostname is not None and parts.port is not None
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    try:
        head = [f"POST {path} HTTP/1.1", f"Host: {parts.netloc}", "Connection: close"]
        head += [f"{name}: {value}" for name, value in headers.items()]
        head.append(f"Content-Length: {len(body)}")
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + body)
        await writer.drain()
        status_line = (await reader.readline()).rstrip(b"\r\n")
        response_headers: list[tuple[str, str]] = []
        while (line := await reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            response_headers.append((name.strip().lower(), value.strip()))
        assert ("transfer-encoding", "chunked") in response_headers, response_headers
        chunks: list[bytes] = []
        while True:
            size = int((await reader.readline()).split(b";")[0].strip(), 16)
            if size == 0:
                await reader.readline()
                break
            chunks.append(await reader.readexactly(size))
            assert await reader.readexactly(2) == b"\r\n"
        return RawHTTPResponse(status_line, response_headers, chunks)
    finally:
        writer.close()
        await writer.wait_closed()
