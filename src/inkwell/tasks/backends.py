"""Where the shared task state lives: this process (embedded default) or Redis (a fleet).

Both backends keep the same four things:

* **ownership** of a task: ``generate_task_belong:{task_id}`` = ``end-user-{end_user_id}`` (1800 s), so
  only the end user who started a task can stop it;
* **stop flags**: ``generate_task_stopped:{task_id}`` (600 s) plus a pub/sub notification on
  ``inkwell:task-stop``, so the worker that owns the task learns of a stop at once whichever worker got
  the request (the flags are also polled, so a missed notification still stops the task);
* **concurrency slots** per app: a sorted set of task ids scored by lease expiry; taking a slot is one
  atomic script (no check-then-set race) and leases are renewed by their worker, so the slots of a
  worker that died free themselves;
* **rate windows** per app: a sliding one-minute log, also one atomic script.
"""

from __future__ import annotations

import time
from collections import defaultdict, deque
from collections.abc import Iterable
from typing import Protocol

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError

BELONG_KEY = "generate_task_belong:{}"
STOPPED_KEY = "generate_task_stopped:{}"
SLOTS_KEY = "inkwell:active_requests:{}"
RATE_KEY = "inkwell:rate:{}"
STOP_CHANNEL = "inkwell:task-stop"
BELONG_TTL = 1800
STOPPED_TTL = 600
RATE_WINDOW = 60.0


def owner_of(end_user_id: str) -> str:
    return f"end-user-{end_user_id}"


class Backend(Protocol):
    async def hit_rate(self, app_id: str, limit: int, member: str) -> float | None:
        """Count one request; ``None`` if allowed, else seconds until the window has room."""
        ...

    async def acquire_slot(self, app_id: str, task_id: str, limit: int) -> bool: ...

    async def release_slot(self, app_id: str, task_id: str) -> None: ...

    async def claim(self, task_id: str, end_user_id: str) -> None: ...

    async def forget(self, task_id: str) -> None: ...

    async def request_stop(self, task_id: str, end_user_id: str) -> bool:
        """Flag the task stopped if ``end_user_id`` owns it; True when it did."""
        ...

    async def aclose(self) -> None: ...


class LocalBackend:
    """One process: ownership lives in the task registry itself; slots and windows in memory."""

    def __init__(self) -> None:
        self._slots: dict[str, set[str]] = defaultdict(set)
        self._hits: dict[str, deque[float]] = defaultdict(deque)

    async def hit_rate(self, app_id: str, limit: int, member: str) -> float | None:
        now = time.monotonic()
        hits = self._hits[app_id]
        while hits and hits[0] <= now - RATE_WINDOW:
            hits.popleft()
        if len(hits) >= limit:
            return max(hits[0] + RATE_WINDOW - now, 0.001)
        hits.append(now)
        return None

    async def acquire_slot(self, app_id: str, task_id: str, limit: int) -> bool:
        slots = self._slots[app_id]
        if len(slots) >= limit:
            return False
        slots.add(task_id)
        return True

    async def release_slot(self, app_id: str, task_id: str) -> None:
        slots = self._slots.get(app_id)
        if slots is not None:
            slots.discard(task_id)
            if not slots:
                del self._slots[app_id]

    def active(self, app_id: str) -> int:
        return len(self._slots.get(app_id, ()))

    async def claim(self, task_id: str, end_user_id: str) -> None:
        return None

    async def forget(self, task_id: str) -> None:
        return None

    async def request_stop(self, task_id: str, end_user_id: str) -> bool:
        return False  # nothing beyond this process: the registry already handled a local task

    async def aclose(self) -> None:
        return None


# KEYS[1] slot set; ARGV: now, lease expiry, limit, task id
_ACQUIRE = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then
  return 0
end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[4])
redis.call('PEXPIRE', KEYS[1], math.ceil((tonumber(ARGV[2]) - tonumber(ARGV[1])) * 2000))
return 1
"""

# KEYS[1] rate log; ARGV: now, window, limit, member -> 0 if allowed, else ms until room
_RATE = """
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return math.max(1, math.ceil((tonumber(oldest[2]) + window - now) * 1000))
end
redis.call('ZADD', KEYS[1], now, ARGV[4])
redis.call('PEXPIRE', KEYS[1], math.ceil(window * 1000) + 1000)
return 0
"""

# KEYS[1] belong key, KEYS[2] stopped key; ARGV: owner, channel, task id, flag TTL
_STOP = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return 0
end
redis.call('SET', KEYS[2], '1', 'EX', ARGV[4])
redis.call('PUBLISH', ARGV[2], ARGV[3])
return 1
"""


def connect(url: str, timeout: float, max_connections: int = 256) -> Redis:
    """A client that fails fast: bounded socket timeouts, and one immediate retry only for a broken
    connection (a stale one after Redis restarted), never for a timeout.

    The pool is bounded and *blocking*: a burst of requests waits briefly for a free connection
    (up to one timeout) instead of failing on the pool's limit or opening a connection each.
    """
    pool = BlockingConnectionPool.from_url(
        url,
        max_connections=max_connections,
        timeout=timeout,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        retry=Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,)),
        decode_responses=True,
        health_check_interval=10,
    )
    return Redis(connection_pool=pool)


class RedisBackend:
    def __init__(self, redis: Redis, *, lease_seconds: float) -> None:
        self.redis = redis
        self.lease = lease_seconds
        self._acquire = redis.register_script(_ACQUIRE)
        self._rate = redis.register_script(_RATE)
        self._stop = redis.register_script(_STOP)

    async def hit_rate(self, app_id: str, limit: int, member: str) -> float | None:
        wait_ms = int(await self._rate(keys=[RATE_KEY.format(app_id)], args=[time.time(), RATE_WINDOW, limit, member]))
        return None if wait_ms == 0 else wait_ms / 1000.0

    async def acquire_slot(self, app_id: str, task_id: str, limit: int) -> bool:
        now = time.time()
        return bool(await self._acquire(keys=[SLOTS_KEY.format(app_id)], args=[now, now + self.lease, limit, task_id]))

    async def release_slot(self, app_id: str, task_id: str) -> None:
        await self.redis.zrem(SLOTS_KEY.format(app_id), task_id)

    async def renew_slots(self, slots: Iterable[tuple[str, str]]) -> None:
        expiry = time.time() + self.lease
        async with self.redis.pipeline(transaction=False) as pipe:
            for app_id, task_id in slots:
                pipe.zadd(SLOTS_KEY.format(app_id), {task_id: expiry}, xx=True)
            await pipe.execute()

    async def claim(self, task_id: str, end_user_id: str) -> None:
        await self.redis.set(BELONG_KEY.format(task_id), owner_of(end_user_id), ex=BELONG_TTL)

    async def forget(self, task_id: str) -> None:
        await self.redis.delete(BELONG_KEY.format(task_id))

    async def request_stop(self, task_id: str, end_user_id: str) -> bool:
        keys = [BELONG_KEY.format(task_id), STOPPED_KEY.format(task_id)]
        return bool(await self._stop(keys=keys, args=[owner_of(end_user_id), STOP_CHANNEL, task_id, STOPPED_TTL]))

    async def stopped(self, task_ids: list[str]) -> list[str]:
        flags = await self.redis.mget([STOPPED_KEY.format(t) for t in task_ids])
        return [task_id for task_id, flag in zip(task_ids, flags, strict=True) if flag]

    async def aclose(self) -> None:
        await self.redis.aclose()
