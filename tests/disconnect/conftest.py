"""Helpers for the disconnect tests: the real app driven over raw ASGI with a fake client.

The fake client plays the ASGI server's part, as Starlette's own streaming tests do
(``tests/test_responses.py::test_streaming_response_stops_if_receiving_http_disconnect``): ``receive``
hands over the request body, then blocks until the test lets the client leave and answers
``http.disconnect`` from then on (as uvicorn does); ``send`` records every message. Nothing else runs:
no server, no socket, one event loop.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import orjson
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlmodel import col
from starlette.types import Message as ASGIMessage

from inkwell.completion.models import Message
from inkwell.main import create_app
from inkwell.runtime import Runtime
from inkwell.tasks.backends import LocalBackend
from tests.conftest import SeededApp, dsl, make_settings, seed_db
from tests.providers.conftest import openai_server  # noqa: F401 - a fixture for test_upstream_closed
from tests.streaming.conftest import PING, frame_json

BOUND = 5.0  # seconds: every wait in these tests is bounded by this


@pytest.fixture(autouse=True)
def no_logged_errors(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """A disconnect is an ordinary event: nothing on its path may log an error (or a lost task)."""
    yield
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not errors, [f"{r.name}: {r.getMessage()}" for r in errors]


@dataclass
class FakeClient:
    """One HTTP request as an ASGI server presents it to the app."""

    body: bytes
    # seconds the server takes to hand the response start to the socket (a ``send`` that yields)
    start_delay: float = 0.0
    # a reader that stops reading: from this body write on, ``send`` blocks until the client leaves
    stall_at_body: int | None = None
    leave: asyncio.Event = field(default_factory=asyncio.Event)
    sent: list[ASGIMessage] = field(default_factory=list)
    # how many messages the app had sent when it received ``http.disconnect`` (None: not yet)
    left_at: int | None = None
    _body_given: bool = False
    _sent_changed: asyncio.Event = field(default_factory=asyncio.Event)

    async def receive(self) -> ASGIMessage:
        if not self._body_given:
            self._body_given = True
            return {"type": "http.request", "body": self.body, "more_body": False}
        await self.leave.wait()
        if self.left_at is None:
            self.left_at = len(self.sent)
        return {"type": "http.disconnect"}

    async def send(self, message: ASGIMessage) -> None:
        self.sent.append(message)
        self._sent_changed.set()
        if message["type"] == "http.response.start" and self.start_delay:
            await asyncio.sleep(self.start_delay)
        if self.stall_at_body is not None and len(self.body_messages()) >= self.stall_at_body:
            await self.leave.wait()

    # ---------------------------------------------------------------------------------------- reading

    @property
    def status(self) -> int | None:
        starts = [m for m in self.sent if m["type"] == "http.response.start"]
        return int(starts[0]["status"]) if starts else None

    def body_messages(self, sent: list[ASGIMessage] | None = None) -> list[bytes]:
        """The non-empty bodies sent (one per write)."""
        return [
            bytes(m["body"])
            for m in (self.sent if sent is None else sent)
            if m["type"] == "http.response.body" and m.get("body")
        ]

    @property
    def events(self) -> list[dict[str, Any]]:
        """The JSON events of a streaming response (pings skipped)."""
        frames = b"".join(self.body_messages()).split(b"\n\n")
        assert frames[-1] == b"", "the stream ends inside a frame"
        return [frame_json(frame + b"\n\n") for frame in frames[:-1] if frame + b"\n\n" != PING]

    def answer(self) -> str:
        return "".join(e["answer"] for e in self.events if e["event"] == "message")

    async def wait_sent(self, predicate: Callable[[FakeClient], bool], what: str, within: float = BOUND) -> None:
        """Wait (bounded) until ``predicate(self)`` holds after some send."""
        try:
            async with asyncio.timeout(within):
                while not predicate(self):
                    self._sent_changed.clear()
                    await self._sent_changed.wait()
        except TimeoutError:
            raise AssertionError(f"{what}: not sent within {within} s; sent {self.sent!r}") from None

    async def wait_messages(self, count: int) -> None:
        await self.wait_sent(lambda c: sum(e["event"] == "message" for e in c.events) >= count, f"{count} messages")

    async def wait_started(self) -> None:
        await self.wait_sent(lambda c: c.status is not None, "the response start")


@dataclass
class RawApp:
    """The real application after its lifespan started, with the runtime the lifespan built."""

    app: FastAPI
    runtime: Runtime
    seeded: SeededApp

    def request(self, body: dict[str, Any], path: str = "/v1/completion-messages") -> tuple[FakeClient, dict[str, Any]]:
        raw = orjson.dumps(body)
        scope: dict[str, Any] = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},  # what uvicorn advertises
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "root_path": "",
            "query_string": b"",
            "headers": [
                (b"host", b"testserver"),
                (b"authorization", f"Bearer {self.seeded.key}".encode()),
                (b"content-type", b"application/json"),
                (b"content-length", str(len(raw)).encode()),
            ],
            "client": ("127.0.0.1", 50000),
            "server": ("testserver", 80),
            "state": {},
        }
        return FakeClient(raw), scope

    def start(self, body: dict[str, Any]) -> tuple[FakeClient, asyncio.Task[None]]:
        """Call the app with one request, as a task of its own; returns the client and the call."""
        client, scope = self.request(body)
        return client, asyncio.ensure_future(self.app(scope, client.receive, client.send))

    @property
    def active_slots(self) -> int:
        backend = self.runtime.tasks.backend
        assert isinstance(backend, LocalBackend)
        return backend.active(self.seeded.app_id)

    async def rows(self) -> list[Message]:
        async with self.runtime.db.session() as session:
            result = await session.execute(select(Message).where(col(Message.app_id) == self.seeded.app_id))
            return list(result.scalars().all())

    async def only_row(self) -> Message:
        rows = await self.rows()
        assert len(rows) == 1, [(r.id, r.status) for r in rows]
        return rows[0]


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Run the app's lifespan over the ASGI lifespan protocol, as a server does."""
    inbox: asyncio.Queue[ASGIMessage] = asyncio.Queue()
    outbox: asyncio.Queue[ASGIMessage] = asyncio.Queue()
    scope = {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.0"}, "state": {}}
    task = asyncio.ensure_future(app(scope, inbox.get, outbox.put))
    try:
        await inbox.put({"type": "lifespan.startup"})
        async with asyncio.timeout(BOUND):
            started = await outbox.get()
        assert started["type"] == "lifespan.startup.complete", started
        yield
    finally:
        await inbox.put({"type": "lifespan.shutdown"})
        async with asyncio.timeout(BOUND * 3):
            stopped = await outbox.get()
            await task
        assert stopped["type"] == "lifespan.shutdown.complete", stopped


@asynccontextmanager
async def raw_app(database_url: str, **settings: Any) -> AsyncIterator[RawApp]:
    """``create_app`` on ``database_url`` with ``settings``, started, with a fresh echo app seeded.

    No Redis: the in-process registry and slots are what the tests look at.
    """
    app = create_app(make_settings(database_url, redis_url=None, **settings))
    seeded = await seed_db(database_url, dsl(f"raw-{uuid.uuid4().hex[:6]}"), base_url="")
    async with lifespan(app):
        runtime: Runtime = app.state.runtime
        yield RawApp(app=app, runtime=runtime, seeded=seeded)
