"""Persistence of generations: one row per message, written whole when the generation ends."""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert

from inkwell.completion.models import Message
from inkwell.completion.usage import Usage, fixed
from inkwell.db import Database, utcnow


class MessageStore:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._table = Message.__table__  # type: ignore[attr-defined]

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
        async with self.db.session() as session:
            await session.execute(insert(self._table).values(**row))
            await session.commit()
