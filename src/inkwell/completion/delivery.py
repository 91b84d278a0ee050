"""How a generation reaches its client, and what happens when the client goes away.

* Streaming: ``EventStream`` listens to the ASGI ``receive`` channel from the first byte (also while the
  model has not answered yet); a disconnect cancels the pipeline, which closes the upstream and saves
  the partial answer. With ``INKWELL_CONTINUE_ON_DISCONNECT`` the pipeline runs in a task of its own
  instead and finishes (and is saved) whatever the client does.
* Blocking: ``cancel_on_disconnect`` races the pipeline against ``http.disconnect``, the way vLLM's
  ``with_cancellation`` does (``request.is_disconnected()`` polling misses it behind middleware).
* Shutdown: on SIGTERM running streams get ``INKWELL_SHUTDOWN_GRACE_SECONDS`` to end; a second before
  the grace runs out the rest are stopped the normal way (partial answer saved, ``message_end`` sent).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Mapping
from contextlib import aclosing
from typing import Any, TypeVar

from sse_starlette.sse import AppStatus
from starlette.background import BackgroundTask
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from inkwell.completion.events import Event
from inkwell.completion.sse import PING
from inkwell.tasks.service import TaskService

log = logging.getLogger(__name__)
T = TypeVar("T")
_END = object()
_detached: set[asyncio.Task[None]] = set()


class EventStream(Response):
    """A server-sent-event response as pure ASGI, with one helper task per stream.

    The body (already framed bytes) is sent from the request's own task; one watcher task waits on
    ``receive`` for ``http.disconnect`` and sends ``event: ping`` whenever ``ping_interval`` passes
    without a message from the client, from the moment the response opens. A disconnect cancels the
    body's task, which closes the pipeline (upstream closed, partial answer saved). This replaced
    sse-starlette's ``EventSourceResponse``, whose four tasks, task group and cancel scopes per response
    cost ~0.75 ms of CPU per stream, a quarter of the whole request (``make bench``); graceful shutdown
    is the runtime's job (``stop_at_end_of_grace``), not each response's.
    """

    media_type = "text/event-stream"

    def __init__(
        self,
        body: AsyncIterator[bytes],
        *,
        ping_interval: float,
        headers: Mapping[str, str] | None = None,
        background: BackgroundTask | None = None,
    ) -> None:
        self.body_iterator = body
        self.ping_interval = ping_interval
        self.status_code = 200
        self.background = background
        self.init_headers(headers)
        self.disconnected = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        body_task = asyncio.current_task()
        assert body_task is not None
        watcher = asyncio.get_running_loop().create_task(self._watch(receive, send, body_task))
        try:
            async for chunk in self.body_iterator:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
        except asyncio.CancelledError:
            if not self.disconnected:
                raise
            body_task.uncancel()  # our own cancellation, for a client that left: end quietly
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
            aclose = getattr(self.body_iterator, "aclose", None)
            if aclose is not None:
                await aclose()
        if not self.disconnected:
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        if self.background is not None:
            await self.background()

    async def _watch(self, receive: Receive, send: Send, body_task: asyncio.Task[Any]) -> None:
        while True:
            try:
                message = await asyncio.wait_for(receive(), self.ping_interval)
            except TimeoutError:
                try:
                    await send({"type": "http.response.body", "body": PING, "more_body": True})
                except OSError:  # a server that reports a broken connection on send: the client is gone
                    message = {"type": "http.disconnect"}
                else:
                    continue
            if message["type"] == "http.disconnect":
                self.disconnected = True
                body_task.cancel()
                return


class ClientDisconnected(Exception):
    """The client of a blocking request left before the answer was ready."""


async def _until_disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


async def cancel_on_disconnect(receive: Receive, work: Awaitable[T]) -> T:
    task = asyncio.ensure_future(work)
    watcher = asyncio.ensure_future(_until_disconnect(receive))
    try:
        await asyncio.wait({task, watcher}, return_when=asyncio.FIRST_COMPLETED)
    except asyncio.CancelledError:
        task.cancel()
        raise
    finally:
        watcher.cancel()
    if task.done():
        return task.result()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    raise ClientDisconnected()


def detach(events: AsyncGenerator[Event, None]) -> AsyncGenerator[Event, None]:
    """Run ``events`` to the end in a task of its own; the returned generator only reads its output."""
    queue: asyncio.Queue[Any] = asyncio.Queue()

    async def pump() -> None:
        try:
            async with aclosing(events):
                async for event in events:
                    queue.put_nowait(event)
        finally:
            queue.put_nowait(_END)

    task = asyncio.get_running_loop().create_task(pump())
    _detached.add(task)
    task.add_done_callback(_detached.discard)

    async def read() -> AsyncGenerator[Event, None]:
        while (event := await queue.get()) is not _END:
            yield event

    return read()


def shutting_down() -> bool:
    """True once the server shuts down. sse-starlette's flag is set only when its patch of uvicorn's
    signal handler came first; a ``--workers N`` worker installs its handlers before it imports the app,
    so also ask the uvicorn server that owns SIGTERM (what sse-starlette's own watcher does)."""
    if AppStatus.should_exit:
        return True
    server = getattr(signal.getsignal(signal.SIGTERM), "__self__", None)
    return getattr(server, "should_exit", False) is True


async def stop_at_end_of_grace(tasks: TaskService, grace: float, poll: float = 0.1) -> None:
    """Wait for the server's shutdown signal, give running generations ``grace`` seconds (less one, so
    their last frames still go out before the server closes connections), then stop the rest."""
    while not shutting_down():  # noqa: ASYNC110 - a flag set by uvicorn's signal handler, nothing to await
        await asyncio.sleep(poll)
    deadline = time.monotonic() + max(grace - 1.0, 0.0)
    while len(tasks.registry) and time.monotonic() < deadline:  # noqa: ASYNC110 - tasks end on their own
        await asyncio.sleep(poll)
    stopped = tasks.stop_all()
    if stopped:
        log.info("shutdown: stopped %d running generation(s) at the end of the grace period", stopped)
