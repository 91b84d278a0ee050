"""Alembic environment: one migration chain for SQLite and PostgreSQL, run through the async engine."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

from inkwell.db import create_engine
from inkwell.models import metadata
from inkwell.settings import Settings

config = context.config


def _url() -> str:
    return config.attributes.get("database_url") or Settings().database_url


def _include_object(_obj: object, name: str | None, type_: str, reflected: bool, _compare_to: object) -> bool:
    """Autogenerate leaves alone what the models do not map: the engine-specific full-text index of
    dataset segments (SQLite FTS5 tables, PostgreSQL ``content_tsv`` column and its GIN index; 0005)."""
    if type_ == "table" and name is not None and name.startswith("dataset_segments_fts"):
        return False
    return not (name in ("content_tsv", "ix_dataset_segments_content_tsv") and reflected)


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        include_object=_include_object,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_async() -> None:
    engine = create_engine(_url())
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_configure)
            await connection.commit()
    finally:
        await engine.dispose()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure(connection)
    else:
        asyncio.run(_run_async())


if context.is_offline_mode():
    context.configure(url=_url(), target_metadata=metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    run_migrations_online()
