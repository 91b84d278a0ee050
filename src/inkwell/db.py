"""Database engine and sessions (SQLite via aiosqlite, PostgreSQL via asyncpg)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import event
from sqlalchemy.dialects.postgresql import Insert as PostgresInsert
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import Insert as SQLiteInsert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine


def new_id() -> str:
    return str(uuid.uuid4())


def utcnow() -> datetime:
    """Aware UTC timestamp, the form stored in every table."""
    return datetime.now(UTC)


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def create_engine(url: str) -> AsyncEngine:
    if url.startswith("sqlite"):
        path = url.split(":///", 1)[1] if ":///" in url else ""
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        # a file database keeps up to 20 idle connections (SQLAlchemy's default: 5): at 16 concurrent
        # requests the overflow ones were closed and reopened all the time, each a new aiosqlite thread
        # and PRAGMAs, then a cold page cache (a full-text search read its index pages again: ~5 ms)
        pool: dict[str, Any] = {"pool_size": 20, "max_overflow": 20} if path and path != ":memory:" else {}
        engine = create_async_engine(url, connect_args={"timeout": 30}, json_serializer=_json, **pool)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    return create_async_engine(
        url,
        pool_size=10,
        max_overflow=20,
        pool_timeout=10,
        pool_recycle=1800,
        pool_pre_ping=True,
        json_serializer=_json,
    )


class Database:
    """Owns the engine; hands out sessions."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = create_engine(url)
        self.sessionmaker = async_sessionmaker(self.engine, expire_on_commit=False)

    @property
    def is_sqlite(self) -> bool:
        return self.url.startswith("sqlite")

    def insert_into(self, model: Any) -> SQLiteInsert | PostgresInsert:
        """``INSERT INTO`` the table of ``model`` in this database's dialect, for ``ON CONFLICT`` clauses."""
        table = model.__table__
        return sqlite_insert(table) if self.is_sqlite else pg_insert(table)

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        async with self.sessionmaker() as session:
            yield session

    async def dispose(self) -> None:
        await self.engine.dispose()
