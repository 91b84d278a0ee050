"""Helpers for the API tests: direct database access next to a running server, and request shortcuts."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from sqlalchemy import update
from sqlmodel import col

from inkwell.apps.models import App
from inkwell.db import Database
from tests.conftest import RunningServer, SeededApp, dsl, seed


@pytest.fixture(scope="module")
async def shared_app(server: RunningServer) -> SeededApp:
    """One echo app per module and database, for tests that do not change the app or its keys."""
    return await seed(server, dsl(f"shared-{uuid.uuid4().hex[:6]}"))


@asynccontextmanager
async def database(running: RunningServer) -> AsyncIterator[Database]:
    """A separate engine on the server's database (the server keeps its own)."""
    db = Database(running.settings.database_url)
    try:
        yield db
    finally:
        await db.dispose()


async def update_app(running: RunningServer, app_id: str, **values: Any) -> None:
    """Change an ``apps`` row behind the server's back (its cache TTL is 0 in tests)."""
    async with database(running) as db, db.session() as session:
        await session.execute(update(App).where(col(App.id) == app_id).values(**values))
        await session.commit()


async def complete(
    client: httpx.AsyncClient,
    app: SeededApp,
    inputs: Any,
    *,
    user: Any = "tester",
    **extra: Any,
) -> httpx.Response:
    """A blocking ``POST /v1/completion-messages``."""
    return await client.post(
        f"{app.base_url}/v1/completion-messages",
        headers=app.headers,
        json={"inputs": inputs, "user": user, **extra},
    )


def assert_error(resp: httpx.Response, status: int, code: str, message: str | None = None) -> dict[str, Any]:
    """The SPEC §5 envelope: exactly ``code``, ``message``, ``status``; optionally the exact message."""
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/json"), resp.headers
    body = resp.json()
    assert set(body) == {"code", "message", "status"}, body
    assert body["code"] == code, body
    assert body["status"] == status, body
    assert isinstance(body["message"], str) and body["message"], body
    if message is not None:
        assert body["message"] == message, body
    assert "Traceback" not in resp.text
    assert resp.headers.get("x-request-id"), resp.headers
    return body
