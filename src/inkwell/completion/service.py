"""Persistence of generations: one row per message, written whole when the generation ends.

Rows are written by one writer task per process with group commit: every row waiting when the writer
is free goes into the same transaction (one ``executemany``, one commit). A caller's ``save`` returns
once its row is committed, so ``message_end`` still means "stored". Under load this turns N commits into
one; alone, a row is written at once. A batch that fails is retried row by row, so one bad row cannot
sink the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from sqlalchemy import insert

from inkwell.completion.models import Message
from inkwell.completion.usage import Usage, fixed
from inkwell.db import Database, utcnow
from inkwell.files.models import MessageFile

log = logging.getLogger(__name__)

MAX_BATCH = 256

Entry = tuple[dict[str, Any], list[dict[str, Any]]]


class MessageStore:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._table = Message.__table__  # type: ignore[attr-defined]
        self._files = MessageFile.__table__  # type: ignore[attr-defined]
        # (message row, its message_files rows) and the future its caller awaits
        self._queue: asyncio.Queue[tuple[Entry, asyncio.Future[None]]] = asyncio.Queue()
        self._writer: asyncio.Task[None] | None = None

    async def _write(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < MAX_BATCH and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                await self._commit(batch)
            finally:
                for _ in batch:
                    self._queue.task_done()

    async def _commit(self, batch: list[tuple[Entry, asyncio.Future[None]]]) -> None:
        try:
            await self._insert([row for row, _ in batch])
        except Exception as exc:
            if len(batch) == 1:
                _settle(batch[0][1], exc)
                return
            log.warning("a batch of %d messages failed (%r); writing them one by one", len(batch), exc)
            for row, future in batch:
                try:
                    await self._insert([row])
                except Exception as row_exc:
                    _settle(future, row_exc)
                else:
                    _settle(future, None)
            return
        for _, future in batch:
            _settle(future, None)

    async def _insert(self, entries: list[Entry]) -> None:
        async with self.db.engine.begin() as conn:
            await conn.execute(insert(self._table), [row for row, _ in entries])
            files = [f for _, file_rows in entries for f in file_rows]
            if files:
                await conn.execute(insert(self._files), files)

    async def aclose(self) -> None:
        if self._writer is not None:
            await self._queue.join()  # whatever is still queued is written before we stop
            self._writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._writer
            self._writer = None

    async def save(
        self,
        *,
        message_id: str,
        task_id: str,
        app_id: str,
        end_user_id: str,
        invoke_from: str,
        model_provider: str,
        model_id: str,
        inputs: dict[str, Any],
        query: str,
        prompt: list[dict[str, Any]],
        answer: str,
        usage: Usage,
        status: str,
        error: str | None,
        created_at: Any,
        metadata: dict[str, Any],
        files: list[dict[str, Any]] | None = None,
    ) -> None:
        pricing = usage.pricing
        row = {
            "id": message_id,
            "app_id": app_id,
            "end_user_id": end_user_id,
            "task_id": task_id,
            "invoke_from": invoke_from,
            "model_provider": model_provider,
            "model_id": model_id,
            "inputs": inputs,
            "query": query,
            "prompt": prompt,
            "answer": answer,
            "message_tokens": usage.prompt_tokens,
            "message_unit_price": fixed(pricing.input),
            "message_price_unit": fixed(pricing.unit),
            "message_price": fixed(usage.prompt_price),
            "answer_tokens": usage.completion_tokens,
            "answer_unit_price": fixed(pricing.output),
            "answer_price_unit": fixed(pricing.unit),
            "answer_price": fixed(usage.completion_price),
            "total_price": fixed(usage.total_price),
            "currency": pricing.currency,
            "latency": usage.latency,
            "status": status,
            "error": error,
            "message_metadata": metadata,
            "created_at": created_at,
            "updated_at": utcnow(),
        }
        if self._writer is None or self._writer.done():
            self._writer = asyncio.get_running_loop().create_task(self._write())
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(((row, files or []), future))
        await future


def _settle(future: asyncio.Future[None], exc: BaseException | None) -> None:
    if future.done():
        return
    if exc is None:
        future.set_result(None)
    else:
        future.set_exception(exc)
