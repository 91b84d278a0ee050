"""Helpers for the scale-out tests: ``inkwell serve`` processes sharing Redis and the test database.

Every test runs on both databases (``[sqlite]`` / ``[postgres]``) like the rest of the suite. Servers are
real processes (``tests/conftest.py::start_process_server``); the Redis keys they write are checked
straight in Redis, the message rows straight in the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
import redis
import yaml
from redis.asyncio import Redis

from inkwell.completion.models import Message
from inkwell.settings import Settings
from inkwell.tasks.backends import BELONG_KEY, SLOTS_KEY
from tests.conftest import (
    SECRET,
    RunningServer,
    SeededApp,
    ServerProcess,
    dsl,
    free_port,
    seed_db,
    start_process_server,
)
from tests.fakes.openai_upstream import FakeOpenAI
from tests.streaming.conftest import SSEReader, load_message, wait_for_message

# 400 echo tokens: 20 s at 50 ms per token, far longer than any test waits for it
LONG_QUERY = " ".join(f"word{i}" for i in range(400))
# 16 echo tokens: under a second at 50 ms per token
SHORT_QUERY = " ".join(f"otter{i}" for i in range(16))
TOKEN_DELAY_MS = 50
# INKWELL_APP_MAX_ACTIVE_REQUESTS of the ``pair`` servers: the limit of apps without one of their own
PAIR_DEFAULT_MAX_ACTIVE = 3


def app_dsl(prefix: str, *, max_active_requests: int = 0, rate_limit_per_minute: int = 0, **model_config: Any) -> str:
    """``tests.conftest.dsl`` plus the app-level limits (Inkwell's ``app.*`` DSL extensions)."""
    doc = yaml.safe_load(dsl(f"{prefix}-{uuid.uuid4().hex[:8]}", **model_config))
    doc["app"]["max_active_requests"] = max_active_requests
    doc["app"]["rate_limit_per_minute"] = rate_limit_per_minute
    return str(yaml.safe_dump(doc))


async def seed_app(database_url: str, server: ServerProcess, prefix: str, **kwargs: Any) -> SeededApp:
    return await seed_db(database_url, app_dsl(prefix, **kwargs), server.url)


@dataclass
class DatabaseOnly:
    """Quacks like ``RunningServer`` for the row helpers of ``tests.streaming.conftest``."""

    settings: Settings


def db_handle(database_url: str) -> RunningServer:
    return cast(RunningServer, DatabaseOnly(Settings(database_url=database_url, secret_key=SECRET)))


async def row_of(database_url: str, message_id: str, *, within: float = 5.0) -> Message:
    return await wait_for_message(db_handle(database_url), message_id, within=within)


async def row_or_none(database_url: str, message_id: str) -> Message | None:
    return await load_message(db_handle(database_url), message_id)


# --------------------------------------------------------------------------------------------------
# streams


def answer_of(reader: SSEReader) -> str:
    return "".join(e["answer"] for e in reader.events if e["event"] == "message")


async def first_message(reader: SSEReader) -> dict[str, Any]:
    """The first JSON event of an open stream; it must be a ``message``."""
    assert reader.response.status_code == 200, await reader.response.aread()
    async with asyncio.timeout(10):
        event = await reader.next_event()
    assert event is not None and event["event"] == "message", event
    return event


async def read_to_end(reader: SSEReader, *, within: float) -> float:
    """Read the rest of the stream; returns how long that took (bounded: fails after ``within`` s)."""
    started = time.monotonic()
    async with asyncio.timeout(within):
        await reader.read_all()
    return time.monotonic() - started


def assert_ends_with_message_end(reader: SSEReader) -> dict[str, Any]:
    events = reader.events
    assert events, "no events"
    kinds = [e["event"] for e in events]
    assert kinds[-1] == "message_end", kinds[-3:]
    assert kinds.count("message_end") == 1, kinds
    assert set(kinds) <= {"message", "message_end"}, kinds
    return events[-1]


def completion_body(user: str, query: str, mode: str = "streaming") -> dict[str, Any]:
    return {"inputs": {"query": query}, "user": user, "response_mode": mode}


async def post_completion(
    client: httpx.AsyncClient, app: SeededApp, base_url: str, user: str, query: str, mode: str = "blocking"
) -> httpx.Response:
    return await client.post(
        f"{base_url}/v1/completion-messages", headers=app.headers, json=completion_body(user, query, mode)
    )


def assert_error(resp: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    body: dict[str, Any] = resp.json()
    assert body["code"] == code, body
    assert body["status"] == status, body
    assert isinstance(body["message"], str) and body["message"], body
    return body


def assert_retry_after(resp: httpx.Response, *, at_most: int) -> int:
    value = resp.headers.get("retry-after")
    assert value is not None and value.isdigit(), resp.headers
    seconds = int(value)
    assert 1 <= seconds <= at_most, seconds
    return seconds


# --------------------------------------------------------------------------------------------------
# Redis


@contextlib.asynccontextmanager
async def redis_client(url: str) -> AsyncIterator[Redis]:
    client: Redis = Redis.from_url(url, decode_responses=True, socket_timeout=5, socket_connect_timeout=5)
    try:
        yield client
    finally:
        await client.aclose()


async def wait_for(
    condition: Callable[[], Awaitable[bool]], what: str, *, within: float = 5.0, every: float = 0.05
) -> None:
    """Poll an async predicate until it holds (bounded wait)."""
    deadline = time.monotonic() + within
    while not await condition():
        assert time.monotonic() < deadline, f"{what}: not within {within} s"
        await asyncio.sleep(every)


async def assert_task_released(redis: Redis, app_id: str, task_id: str, *, within: float = 5.0) -> None:
    """The task's ownership key is gone and it holds no concurrency slot."""

    async def released() -> bool:
        belongs = await redis.exists(BELONG_KEY.format(task_id))
        score = await redis.zscore(SLOTS_KEY.format(app_id), task_id)
        return not belongs and score is None

    await wait_for(released, f"task {task_id} released in Redis", within=within)


async def active_slots(redis: Redis, app_id: str) -> int:
    return int(await redis.zcard(SLOTS_KEY.format(app_id)))


# --------------------------------------------------------------------------------------------------
# a private redis-server, for the tests that kill it


@dataclass
class PrivateRedis:
    port: int
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        assert self.process is None or self.process.poll() is not None
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--daemonize",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while True:
            client = redis.Redis(port=self.port, socket_connect_timeout=0.5)
            try:
                if client.ping():
                    return
            except redis.RedisError:
                pass
            finally:
                client.close()
            assert self.process.poll() is None, f"redis-server on port {self.port} exited"
            assert time.monotonic() < deadline, f"redis-server on port {self.port} did not start"
            time.sleep(0.05)

    def pause(self) -> None:
        """SIGSTOP: connections stay open and nothing answers (a partitioned or wedged Redis)."""
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)

    def kill(self) -> None:
        """SIGKILL: connections drop at once, nothing is saved (like a crashed or rescheduled Redis)."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)  # also ends a paused (SIGSTOP) server
            self.process.wait(timeout=10)


@pytest.fixture(scope="package")
def fake_upstream() -> Iterator[FakeOpenAI]:
    """An OpenAI-compatible upstream the servers of ``pair`` know as provider ``openai``."""
    fake = FakeOpenAI().start()
    try:
        yield fake
    finally:
        fake.stop()


@dataclass
class Pair:
    """Two workers sharing Redis and the database, as two machines behind a load balancer would."""

    a: ServerProcess
    b: ServerProcess
    database_url: str
    redis_url: str

    async def seed(self, prefix: str, **kwargs: Any) -> SeededApp:
        return await seed_app(self.database_url, self.a, prefix, **kwargs)


def start_servers(tmp_path: Path, database_url: str, count: int, **settings: Any) -> list[ServerProcess]:
    """Start ``count`` server processes at once (their start-up is mostly imports)."""
    with ThreadPoolExecutor(count) as pool:
        futures = [pool.submit(start_process_server, tmp_path, database_url, **settings) for _ in range(count)]
        servers: list[ServerProcess] = []
        failure: BaseException | None = None
        for future in futures:
            try:
                servers.append(future.result())
            except BaseException as exc:  # stop the others before failing
                failure = exc
    if failure is not None:
        for server in servers:
            server.terminate()
        raise failure
    return servers


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[pytest.TestReport]:
    """A failed test's report carries the logs of the server processes it used."""
    report: pytest.TestReport = yield
    if report.failed and call.when in ("call", "setup"):
        funcargs = getattr(item, "funcargs", {})
        servers: list[ServerProcess] = []
        if isinstance(funcargs.get("pair"), Pair):
            servers += [funcargs["pair"].a, funcargs["pair"].b]
        servers += getattr(funcargs.get("server_group"), "started", [])
        for server in servers:
            report.sections.append((f"log of the server at {server.url}", server.log()[-20_000:]))
    return report


@pytest.fixture
def server_group(tmp_path: Path, database_url: str) -> Iterator[Callable[..., list[ServerProcess]]]:
    """``start_servers`` for one test: every process it started is stopped after the test."""
    started: list[ServerProcess] = []

    def start(count: int, **settings: Any) -> list[ServerProcess]:
        servers = start_servers(tmp_path, database_url, count, **settings)
        started.extend(servers)
        return servers

    start.started = started  # type: ignore[attr-defined]
    yield start
    for server in started:
        server.terminate()


@pytest.fixture(scope="package")
def pair(
    tmp_path_factory: pytest.TempPathFactory, database_url: str, redis_url: str, fake_upstream: FakeOpenAI
) -> Iterator[Pair]:
    """Servers A and B on the shared Redis (reused by the tests of this package: apps keep them apart)."""
    a, b = start_servers(
        tmp_path_factory.mktemp("pair"),
        database_url,
        2,
        redis_url=redis_url,
        builtin_token_delay_ms=TOKEN_DELAY_MS,
        openai_base_url=fake_upstream.base_url,
        openai_api_key="sk-test",
        app_max_active_requests=PAIR_DEFAULT_MAX_ACTIVE,
    )
    try:
        yield Pair(a=a, b=b, database_url=database_url, redis_url=redis_url)
    finally:
        a.terminate()
        b.terminate()


@pytest.fixture
def private_redis() -> Iterator[PrivateRedis]:
    server = PrivateRedis(port=free_port())
    server.start()
    try:
        yield server
    finally:
        server.kill()


# --------------------------------------------------------------------------------------------------
# ``inkwell serve --workers N`` (the fixtures of tests/conftest.py start one worker per process)


def start_serve(tmp_path: Path, database_url: str, *args: str, **settings: Any) -> ServerProcess:
    """``inkwell serve`` with extra command-line arguments, logging at info (shutdown messages)."""
    return start_process_server(tmp_path, database_url, *args, log_level="info", **settings)
