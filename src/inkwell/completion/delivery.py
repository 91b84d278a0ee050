"""How a generation reaches its client, and what happens when the client goes away.

* Streaming: sse-starlette listens to the ASGI ``receive`` channel from the first byte (also while the
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
from collections.abc import AsyncGenerator, Awaitable
from contextlib import aclosing
from typing import Any, TypeVar

from sse_starlette import EventSourceResponse
from sse_starlette.sse import AppStatus
from starlette.types import Message, Receive, Send

from inkwell.completion.events import Event
from inkwell.tasks.service import TaskService

log = logging.getLogger(__name__)
T = TypeVar("T")
_END = object()
_detached: set[asyncio.Task[None]] = set()


class EventStream(EventSourceResponse):
    """sse-starlette's response without a cancel scope around every send when no send timeout is set
    (it opens one per send even then: a measurable share of a request's CPU in ``make bench``)."""

    async def _send_with_timeout(self, send: Send, message: Message) -> None:
        if self.send_timeout is None:
            await send(message)
        else:
            await super()._send_with_timeout(send, message)


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
