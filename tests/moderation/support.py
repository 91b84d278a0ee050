"""Helpers of the moderation tests: providers files, timed SSE reading, the stored message row."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import orjson
import yaml
from sqlalchemy import select
from sqlmodel import col

from inkwell.completion.models import Message
from inkwell.db import Database
from tests.conftest import RunningServer

EXT_ID = "5b2c1a3e-0000-4000-8000-000000000001"
OPENAI_MODEL = {"provider": "openai", "name": "gpt-4o-mini", "mode": "chat", "completion_params": {}}
FORM = [
    {"text-input": {"variable": "topic", "label": "Topic", "required": True}},
    {"paragraph": {"variable": "notes", "label": "Notes", "required": False}},
]


def write_providers_file(
    directory: Path,
    *,
    openai_url: str | None = None,
    extension_url: str | None = None,
    api_key: str = "ext-secret-key",
    timeout: float = 2.0,
    moderation: dict[str, Any] | None = None,
) -> Path:
    doc: dict[str, Any] = {"providers": {}}
    if openai_url is not None:
        doc["providers"]["openai"] = {"type": "openai_compatible", "base_url": openai_url, "api_key": "sk-test"}
    else:
        doc["providers"]["echo"] = {"type": "builtin"}
    if extension_url is not None:
        doc["extensions"] = {
            EXT_ID: {"name": "content-filter", "api_endpoint": extension_url, "api_key": api_key, "timeout": timeout}
        }
    if moderation is not None:
        doc["moderation"] = moderation
    path = directory / f"providers-{uuid.uuid4().hex[:8]}.yml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    return path


def api_block(*, inputs: bool = True, outputs: bool = False, extension_id: str = EXT_ID) -> dict[str, Any]:
    return {
        "enabled": True,
        "type": "api",
        "config": {
            "inputs_config": {"enabled": inputs, "preset_response": ""},
            "outputs_config": {"enabled": outputs, "preset_response": ""},
            "api_based_extension_id": extension_id,
        },
    }


def openai_block(*, inputs: str | None = None, outputs: str | None = None) -> dict[str, Any]:
    return {
        "enabled": True,
        "type": "openai_moderation",
        "config": {
            "inputs_config": {"enabled": inputs is not None, "preset_response": inputs or ""},
            "outputs_config": {"enabled": outputs is not None, "preset_response": outputs or ""},
        },
    }


def frames(content: bytes) -> list[dict[str, Any]]:
    return [orjson.loads(f[6:]) for f in content.split(b"\n\n") if f.startswith(b"data: ")]


async def timed_stream(
    client: httpx.AsyncClient, url: str, headers: dict[str, str], body: dict[str, Any]
) -> list[tuple[float, dict[str, Any]]]:
    """The ``data:`` events of a streaming request, each with the time it arrived."""
    events: list[tuple[float, dict[str, Any]]] = []
    buffer = b""
    async with client.stream("POST", url, headers=headers, json={**body, "response_mode": "streaming"}) as resp:
        assert resp.status_code == 200, await resp.aread()
        async for raw in resp.aiter_bytes():
            buffer += raw
            *complete, buffer = buffer.split(b"\n\n")
            now = time.monotonic()
            events.extend((now, orjson.loads(f[6:])) for f in complete if f.startswith(b"data: "))
    return events


async def stored_message(running: RunningServer, message_id: str) -> Message:
    db = Database(running.settings.database_url)
    try:
        async with db.session() as session:
            row = await session.get(Message, message_id)
            assert row is not None, f"message {message_id} was not saved"
            return row
    finally:
        await db.dispose()


async def last_message(running: RunningServer, app_id: str, *, wait: float = 5.0) -> Message:
    """The app's newest message row, waiting up to ``wait`` seconds for one to be written (after a
    disconnect the row is written just after the response ended)."""
    db = Database(running.settings.database_url)
    deadline = time.monotonic() + wait
    try:
        while True:
            async with db.session() as session:
                result = await session.execute(
                    select(Message).where(col(Message.app_id) == app_id).order_by(col(Message.created_at).desc())
                )
                row = result.scalars().first()
            if row is not None:
                return row
            assert time.monotonic() < deadline, f"no message saved for app {app_id}"
            await asyncio.sleep(0.05)
    finally:
        await db.dispose()
