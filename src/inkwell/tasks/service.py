"""Admission, stop and release of generations, the same with one process or a fleet.

    admit    rate window -> concurrency slot -> ownership (Redis) -> local registry
    stop     the owner's stop reaches the task at once: directly when it runs here, else through Redis
             (flag + pub/sub); each worker also polls the flags of its tasks once per interval
    release  every path (end, stop, error, disconnect, time limit) gives the slot back, exactly once

A Redis failure while admitting is a fast 503 ``service_unavailable``; a Redis failure while a stream
runs is logged and never stops the stream. The maintenance loop reconnects on its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from typing import Any

from redis.exceptions import RedisError

from inkwell.errors import RateLimitExceeded, ServiceUnavailable, TooManyRequests
from inkwell.tasks.backends import STOP_CHANNEL, Backend, LocalBackend, RedisBackend, connect
from inkwell.tasks.registry import TaskHandle, TaskRegistry

log = logging.getLogger(__name__)

_BACKEND_ERRORS = (RedisError, OSError, asyncio.TimeoutError)


def _retry_after(seconds: float) -> dict[str, str]:
    return {"Retry-After": str(max(1, math.ceil(seconds)))}


class TaskService:
    def __init__(
        self,
        *,
        redis_url: str | None,
        redis_timeout: float = 2.0,
        redis_max_connections: int = 256,
        lease_seconds: float = 30.0,
        poll_interval: float = 1.0,
    ) -> None:
        self.registry = TaskRegistry()
        self.poll_interval = poll_interval
        self.lease_seconds = lease_seconds
        self.redis_backend: RedisBackend | None = None
        self.backend: Backend
        if redis_url:
            self.redis_backend = RedisBackend(
                connect(redis_url, redis_timeout, redis_max_connections), lease_seconds=lease_seconds
            )
            self.backend = self.redis_backend
        else:
            self.backend = LocalBackend()
        self._maintenance: asyncio.Task[None] | None = None

    # ---------------------------------------------------------------------------------------------
    # admission and release

    async def admit(self, handle: TaskHandle, *, max_active: int, rate_per_minute: int) -> None:
        """Take the app's rate budget and a concurrency slot, then register the task; or raise 429/503."""
        try:
            if rate_per_minute > 0:
                wait = await self.backend.hit_rate(handle.app_id, rate_per_minute, handle.task_id)
                if wait is not None:
                    raise RateLimitExceeded(
                        f"Rate limit exceeded: this app allows {rate_per_minute} requests per minute.",
                        headers=_retry_after(wait),
                    )
            if max_active > 0:
                if not await self.backend.acquire_slot(handle.app_id, handle.task_id, max_active):
                    raise TooManyRequests(
                        "Too many requests. Please try again later. The current maximum concurrent "
                        f"requests allowed for {handle.app_id} is {max_active}.",
                        headers=_retry_after(1),
                    )
                handle.holds_slot = True
            self.registry.register(handle)
            await self.backend.claim(handle.task_id, handle.end_user_id)
            handle.claimed = True  # (a claim that timed out half-way expires with its TTL)
        except _BACKEND_ERRORS as exc:
            await self.release(handle)
            log.warning("shared state unavailable while admitting task %s: %r", handle.task_id, exc)
            raise ServiceUnavailable("Shared state (Redis) is unavailable. Please try again later.") from exc
        except BaseException:
            await self.release(handle)
            raise

    async def release(self, handle: TaskHandle) -> None:
        """Idempotent: unregister, give the slot back, drop the ownership key."""
        if handle.released:
            return
        handle.released = True
        self.registry.unregister(handle.task_id)
        try:
            if handle.holds_slot:
                handle.holds_slot = False
                await self.backend.release_slot(handle.app_id, handle.task_id)
            if handle.claimed:
                handle.claimed = False
                await self.backend.forget(handle.task_id)
        except _BACKEND_ERRORS as exc:  # the lease expires on its own
            log.warning("could not release task %s in shared state: %r", handle.task_id, exc)

    # ---------------------------------------------------------------------------------------------
    # stop

    async def stop(self, task_id: str, *, app_id: str, end_user_id: str) -> None:
        """Stop the task if this end user of this app started it; otherwise do nothing, silently."""
        handle = self.registry.get(task_id)
        if handle is not None:
            if handle.app_id == app_id and handle.end_user_id == end_user_id:
                handle.request_stop()
            return
        if self.redis_backend is None:
            return
        try:
            # end-user ids are unique across apps, so the owner check also scopes the stop to the app
            await self.redis_backend.request_stop(task_id, end_user_id)
        except _BACKEND_ERRORS as exc:
            log.warning("could not forward the stop of task %s: %r", task_id, exc)
            raise ServiceUnavailable("Shared state (Redis) is unavailable. Please try again later.") from exc

    def stop_all(self) -> int:
        """Stop every task of this process the normal way (graceful shutdown); returns how many."""
        handles = list(self.registry.handles())
        for handle in handles:
            handle.request_stop()
        return len(handles)

    # ---------------------------------------------------------------------------------------------
    # the per-process maintenance loop (Redis only): stop notifications, flag polling, lease renewal

    def start(self) -> None:
        if self.redis_backend is not None and self._maintenance is None:
            self._maintenance = asyncio.get_running_loop().create_task(self._maintain(self.redis_backend))

    async def _maintain(self, backend: RedisBackend) -> None:
        delay = 0.1
        while True:
            try:
                await self._listen(backend)
            except asyncio.CancelledError:
                raise
            except _BACKEND_ERRORS as exc:
                log.warning("task maintenance lost Redis (%r); retrying in %.1fs", exc, delay)
            except Exception:
                log.exception("task maintenance failed; restarting")
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)

    async def _listen(self, backend: RedisBackend) -> None:
        pubsub = backend.redis.pubsub(ignore_subscribe_messages=True)
        try:
            await pubsub.subscribe(STOP_CHANNEL)
            next_poll = next_renew = time.monotonic()
            while True:
                message: dict[str, Any] | None = await pubsub.get_message(timeout=self.poll_interval)
                if message is not None and message.get("type") == "message":
                    handle = self.registry.get(str(message["data"]))
                    if handle is not None:
                        handle.request_stop()
                now = time.monotonic()
                if now >= next_poll:
                    next_poll = now + self.poll_interval
                    task_ids = self.registry.ids()
                    if task_ids:
                        for task_id in await backend.stopped(task_ids):
                            stopped = self.registry.get(task_id)
                            if stopped is not None:
                                stopped.request_stop()
                if now >= next_renew:
                    next_renew = now + self.lease_seconds / 3
                    slots = [(h.app_id, h.task_id) for h in self.registry.handles() if h.holds_slot]
                    if slots:
                        await backend.renew_slots(slots)
        finally:
            with contextlib.suppress(*_BACKEND_ERRORS):
                await pubsub.aclose()  # type: ignore[no-untyped-call]

    async def ping(self) -> None:
        if self.redis_backend is not None:
            await self.redis_backend.redis.ping()

    async def aclose(self) -> None:
        if self._maintenance is not None:
            self._maintenance.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._maintenance
            self._maintenance = None
        await self.backend.aclose()
