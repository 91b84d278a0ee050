"""Helpers for the web-API tests: apps with a published site, passports, direct database access."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
from sqlalchemy import select, update
from sqlmodel import col

from inkwell.apps.models import App
from inkwell.completion.models import Message
from inkwell.db import Database
from inkwell.endusers.models import EndUser
from inkwell.sites.models import Site
from inkwell.sites.service import disable, publish
from tests.conftest import RunningServer, SeededApp, dsl, seed


@dataclass
class WebApp:
    app_id: str
    key: str
    code: str
    base_url: str
    database_url: str

    @property
    def service_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}

    def url(self, path: str) -> str:
        return f"{self.base_url}/api{path}"


@asynccontextmanager
async def database(url: str) -> AsyncIterator[Database]:
    db = Database(url)
    try:
        yield db
    finally:
        await db.dispose()


async def published(running: RunningServer, name: str = "web", **model_config: Any) -> WebApp:
    """A fresh echo app (``{{query}}``) with its site published."""
    app: SeededApp = await seed(running, dsl(f"{name}-{uuid.uuid4().hex[:6]}", **model_config))
    async with database(running.settings.database_url) as db:
        site = await publish(db, app.app_id)
    return WebApp(
        app_id=app.app_id,
        key=app.key,
        code=site.code,
        base_url=running.url,
        database_url=running.settings.database_url,
    )


async def disable_site(app: WebApp) -> None:
    async with database(app.database_url) as db:
        await disable(db, app.app_id)


async def republish(app: WebApp) -> str:
    async with database(app.database_url) as db:
        return (await publish(db, app.app_id)).code


async def update_app(app: WebApp, **values: Any) -> None:
    async with database(app.database_url) as db, db.session() as session:
        await session.execute(update(App).where(col(App.id) == app.app_id).values(**values))
        await session.commit()


async def site_row(app: WebApp) -> Site:
    async with database(app.database_url) as db, db.session() as session:
        return (await session.execute(select(Site).where(col(Site.app_id) == app.app_id))).scalar_one()


async def end_user(app: WebApp, end_user_id: str) -> EndUser | None:
    async with database(app.database_url) as db, db.session() as session:
        return await session.get(EndUser, end_user_id)


async def message(app: WebApp, message_id: str) -> Message | None:
    async with database(app.database_url) as db, db.session() as session:
        return await session.get(Message, message_id)


async def passport(client: httpx.AsyncClient, app: WebApp, user_id: str | None = None) -> str:
    params = {"user_id": user_id} if user_id is not None else None
    resp = await client.get(app.url("/passport"), headers={"X-App-Code": app.code}, params=params)
    assert resp.status_code == 200, resp.text
    token = resp.json()["access_token"]
    assert isinstance(token, str)
    return token


def web_headers(app: WebApp, token: str) -> dict[str, str]:
    return {"X-App-Code": app.code, "X-App-Passport": token}


@dataclass
class Visitor:
    """One browser: a passport for one end user of one app."""

    app: WebApp
    token: str
    client: httpx.AsyncClient

    @property
    def headers(self) -> dict[str, str]:
        return web_headers(self.app, self.token)

    async def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return await self.client.get(self.app.url(path), headers=self.headers, **kwargs)

    async def post(self, path: str, headers: dict[str, str] | None = None, **kwargs: Any) -> httpx.Response:
        return await self.client.post(self.app.url(path), headers={**self.headers, **(headers or {})}, **kwargs)

    async def delete(self, path: str) -> httpx.Response:
        return await self.client.delete(self.app.url(path), headers=self.headers)

    async def complete(self, query: str, **extra: Any) -> httpx.Response:
        return await self.post(
            "/completion-messages", json={"inputs": {"query": query}, "response_mode": "blocking", **extra}
        )

    async def stream(self, method: str, path: str, **kwargs: Any) -> tuple[httpx.Response, list[dict[str, Any]]]:
        async with self.client.stream(method, self.app.url(path), headers=self.headers, **kwargs) as resp:
            raw = await resp.aread()
        return resp, frames(raw)


async def visitor(client: httpx.AsyncClient, app: WebApp, user_id: str | None = None) -> Visitor:
    return Visitor(app=app, token=await passport(client, app, user_id), client=client)


def frames(raw: bytes) -> list[dict[str, Any]]:
    """The JSON ``data:`` frames of an event stream (pings skipped)."""
    out: list[dict[str, Any]] = []
    for block in raw.split(b"\n\n"):
        if block.startswith(b"data: "):
            out.append(orjson.loads(block[len(b"data: ") :]))
    return out
