"""Blocking completions through a real server, on SQLite and PostgreSQL."""

from __future__ import annotations

import httpx

from tests.conftest import USAGE_KEYS, SeededApp


async def test_blocking_answer_is_the_echoed_prompt(client: httpx.AsyncClient, echo_app: SeededApp) -> None:
    resp = await client.post(
        f"{echo_app.base_url}/v1/completion-messages",
        headers=echo_app.headers,
        json={"inputs": {"query": "Hello there, otter"}, "user": "alice"},
    )
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert list(body) == ["event", "task_id", "id", "message_id", "mode", "answer", "metadata", "created_at"]
    assert body["event"] == "message"
    assert body["mode"] == "completion"
    assert body["id"] == body["message_id"]
    assert body["task_id"] != body["message_id"]
    assert body["answer"] == "Hello there, otter\n"
    assert list(body["metadata"]) == ["annotation_reply", "retriever_resources", "usage"]
    usage = body["metadata"]["usage"]
    assert list(usage) == USAGE_KEYS
    assert usage["completion_tokens"] == 4  # "Hello", " there,", " otter", "\n"
    assert usage["prompt_tokens"] == 4
    assert usage["total_tokens"] == 8
    assert usage["total_price"] == "0.0000000"
    assert isinstance(body["created_at"], int)
