"""Shared fixtures: real databases (SQLite and PostgreSQL), real uvicorn servers, seeded apps.

Every API test that takes ``server`` runs twice: once on SQLite, once on PostgreSQL (test ids end in
``[sqlite]`` / ``[postgres]``). PostgreSQL is required: an unreachable server fails the run.
"""

from __future__ import annotations

import asyncio
import os
import socket
import tempfile
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import uvicorn
import yaml

from inkwell.apps.service import create_key, import_app
from inkwell.cli import upgrade_database
from inkwell.db import Database
from inkwell.main import create_app
from inkwell.settings import Settings
from tests.fakes.openai_upstream import FakeOpenAI

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples" / "apps"
PG_ADMIN_URL = os.environ.get("INKWELL_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
SECRET = "test-secret-key-that-is-long-enough-0123456789"
STORAGE_DIR = Path(tempfile.mkdtemp(prefix="inkwell-test-files-"))
# the reference's LLMUsage keys, in its order (SPEC §3)
USAGE_KEYS = [
    "prompt_tokens",
    "prompt_unit_price",
    "prompt_price_unit",
    "prompt_price",
    "completion_tokens",
    "completion_unit_price",
    "completion_price_unit",
    "completion_price",
    "total_tokens",
    "total_price",
    "currency",
    "latency",
    "time_to_first_token",
    "time_to_generate",
]


# --------------------------------------------------------------------------------------------------
# databases


def _pg_dsn(database: str) -> str:
    base, _, _ = PG_ADMIN_URL.rpartition("/")
    return f"{base}/{database}"


async def _pg_admin(sql: str) -> None:
    conn = await asyncpg.connect(PG_ADMIN_URL, timeout=5)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session, migrated to head."""
    name = f"inkwell_test_{uuid.uuid4().hex[:10]}"
    try:
        asyncio.run(_pg_admin(f'CREATE DATABASE "{name}"'))
    except (OSError, asyncpg.PostgresError) as exc:
        pytest.fail(f"PostgreSQL is required for the test suite ({PG_ADMIN_URL}): {exc}")
    url = _pg_dsn(name).replace("postgresql://", "postgresql+asyncpg://", 1)
    upgrade_database(Settings(database_url=url, secret_key=SECRET))
    yield url
    asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("db") / "inkwell.db"
    url = f"sqlite+aiosqlite:///{path}"
    upgrade_database(Settings(database_url=url, secret_key=SECRET))
    return url


@pytest.fixture(scope="session", params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest) -> str:
    fixture = "sqlite_url" if request.param == "sqlite" else "postgres_url"
    return str(request.getfixturevalue(fixture))


# --------------------------------------------------------------------------------------------------
# servers


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class RunningServer:
    url: str
    settings: Settings
    server: uvicorn.Server
    thread: threading.Thread

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)


def start_server(settings: Settings) -> RunningServer:
    """A real uvicorn server in a thread (its own event loop), like httpx's own test suite does."""
    port = free_port()
    config = uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    return RunningServer(url=f"http://127.0.0.1:{port}", settings=settings, server=server, thread=thread)


def make_settings(database_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "env": "test",
        "database_url": database_url,
        "secret_key": SECRET,
        "api_key_cache_seconds": 0.0,
        "builtin_ttft_ms": 0.0,
        "builtin_token_delay_ms": 0.0,
        "storage_dir": STORAGE_DIR,
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture(scope="session")
def server(database_url: str) -> Iterator[RunningServer]:
    """The default server on each database: built-in model without delays."""
    running = start_server(make_settings(database_url))
    yield running
    running.stop()


@pytest.fixture
def server_factory(database_url: str) -> Iterator[Callable[..., RunningServer]]:
    """Start extra servers with other settings (same database); stopped after the test."""
    started: list[RunningServer] = []

    def factory(**overrides: Any) -> RunningServer:
        running = start_server(make_settings(database_url, **overrides))
        started.append(running)
        return running

    yield factory
    for running in started:
        running.stop()


# --------------------------------------------------------------------------------------------------
# apps and keys


@dataclass
class SeededApp:
    app_id: str
    key: str
    base_url: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}


def dsl(name: str, **model_config: Any) -> str:
    """A completion-app DSL document; ``model_config`` keys override the built-in echo defaults."""
    config: dict[str, Any] = {
        "model": {"provider": "builtin", "name": "echo", "mode": "chat", "completion_params": {}},
        "pre_prompt": "{{query}}",
        "prompt_type": "simple",
        "user_input_form": [{"paragraph": {"variable": "query", "label": "Query", "required": True}}],
    }
    config.update(model_config)
    return yaml.safe_dump(
        {
            "version": "0.6.0",
            "kind": "app",
            "app": {"name": name, "mode": "completion"},
            "model_config": config,
        }
    )


async def seed(running: RunningServer, text: str) -> SeededApp:
    db = Database(running.settings.database_url)
    try:
        app = await import_app(db, text)
        key = await create_key(db, running.settings.secret_key, app.id)
    finally:
        await db.dispose()
    return SeededApp(app_id=app.id, key=key, base_url=running.url)


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=30) as c:
        yield c


@pytest.fixture
async def echo_app(server: RunningServer) -> SeededApp:
    """A fresh app on the default server: ``{{query}}`` echoed by the built-in model."""
    return await seed(server, dsl(f"echo-{uuid.uuid4().hex[:6]}"))


# --------------------------------------------------------------------------------------------------
# Redis and server processes (several workers sharing PostgreSQL and Redis)

REDIS_URL = os.environ.get("INKWELL_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture(scope="session")
def redis_url() -> str:
    """The shared Redis; required (an unreachable Redis fails the run)."""
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        pytest.fail(f"Redis is required for the test suite ({REDIS_URL}): {exc}")
    finally:
        client.close()
    return REDIS_URL


@dataclass
class ServerProcess:
    """``inkwell serve`` in a process of its own (a real worker: own interpreter, own event loop)."""

    url: str
    env: dict[str, str]
    process: Any  # subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def terminate(self, timeout: float = 20) -> int:
        import signal
        import subprocess

        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        return int(self.process.returncode)


def start_process_server(
    tmp_path: Path, database_url: str, *args: str, log_level: str = "warning", **settings: Any
) -> ServerProcess:
    """``inkwell serve`` (plus extra command-line ``args``, e.g. ``--workers 2``); ready once
    ``/healthz`` answers."""
    import subprocess
    import sys

    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("INKWELL_")}
    env.update(
        {
            "INKWELL_ENV": "test",
            "INKWELL_DATABASE_URL": database_url,
            "INKWELL_SECRET_KEY": SECRET,
            "INKWELL_API_KEY_CACHE_SECONDS": "0",
            "INKWELL_LOG_LEVEL": log_level,
        }
    )
    env.update({f"INKWELL_{k.upper()}": str(v) for k, v in settings.items()})
    log_path = tmp_path / f"server-{port}.log"
    command = [sys.executable, "-m", "inkwell.cli", "serve", "--host", "127.0.0.1", "--port", str(port), *args]
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(command, env=env, stdout=log_file, stderr=subprocess.STDOUT, cwd=ROOT)
    running = ServerProcess(url=f"http://127.0.0.1:{port}", env=env, process=process, log_path=log_path)
    deadline = time.monotonic() + 30
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"inkwell serve exited with {process.returncode}:\n{running.log()}")
        try:
            if httpx.get(f"{running.url}/healthz", timeout=1).status_code == 200:
                return running
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            running.terminate()
            raise RuntimeError(f"inkwell serve did not start:\n{running.log()}")
        time.sleep(0.1)


@pytest.fixture
def process_factory(tmp_path: Path, database_url: str) -> Iterator[Callable[..., ServerProcess]]:
    """Start ``inkwell serve`` processes on the test database; all are stopped after the test."""
    started: list[ServerProcess] = []

    def factory(**settings: Any) -> ServerProcess:
        running = start_process_server(tmp_path, database_url, **settings)
        started.append(running)
        return running

    yield factory
    for running in started:
        running.terminate()


async def seed_db(database_url: str, text: str, base_url: str) -> SeededApp:
    """Like ``seed`` for servers that run in other processes: import the app straight into the database."""
    db = Database(database_url)
    try:
        app = await import_app(db, text)
        key = await create_key(db, SECRET, app.id)
    finally:
        await db.dispose()
    return SeededApp(app_id=app.id, key=key, base_url=base_url)


@pytest.fixture
def fake_openai() -> Iterator[FakeOpenAI]:
    """A fake OpenAI-compatible upstream on loopback (``tests/fakes/openai_upstream.py``), one per test."""
    with FakeOpenAI() as fake:
        yield fake
