"""Keyword output moderation: the answer is checked as it grows (every ~300 characters) and at the end;
a hit sends ``message_replace`` with the preset, forwards no more model text, closes the upstream, and
stores the replacement."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable
from typing import Any

import httpx

from inkwell.completion.models import Message
from inkwell.db import Database
from tests.conftest import RunningServer, dsl, seed
from tests.fakes.openai_upstream import FakeOpenAI

OUT_PRESET = "This answer was withheld."


def block(keywords: str) -> dict[str, Any]:
    return {
        "enabled": True,
        "type": "keywords",
        "config": {
            "keywords": keywords,
            "inputs_config": {"enabled": False, "preset_response": ""},
            "outputs_config": {"enabled": True, "preset_response": OUT_PRESET},
        },
    }


def frames(content: bytes) -> list[dict[str, Any]]:
    return [json.loads(f[6:]) for f in content.split(b"\n\n") if f.startswith(b"data: ")]


async def stored_answer(running: RunningServer, message_id: str) -> str:
    db = Database(running.settings.database_url)
    try:
        async with db.session() as session:
            row = await session.get(Message, message_id)
            assert row is not None
            return row.answer
    finally:
        await db.dispose()


async def test_a_hit_at_the_end_replaces_the_answer(client: httpx.AsyncClient, server: RunningServer) -> None:
    app = await seed(server, dsl(f"out-{uuid.uuid4().hex[:6]}", sensitive_word_avoidance=block("spoiler")))
    url = f"{app.base_url}/v1/completion-messages"
    blocking = await client.post(url, headers=app.headers, json={"inputs": {"query": "a Spoiler ahead"}, "user": "u"})
    body = blocking.json()
    assert body["answer"] == OUT_PRESET
    assert await stored_answer(server, body["message_id"]) == OUT_PRESET

    stream = await client.post(
        url,
        headers=app.headers,
        json={"inputs": {"query": "a spoiler ahead"}, "user": "u", "response_mode": "streaming"},
    )
    events = frames(stream.content)
    kinds = [e["event"] for e in events]
    assert kinds[-2:] == ["message_replace", "message_end"]
    replace = events[-2]
    assert replace["answer"] == OUT_PRESET and replace["reason"] == "output_moderation"
    assert await stored_answer(server, events[-1]["message_id"]) == OUT_PRESET

    clean = await client.post(url, headers=app.headers, json={"inputs": {"query": "all clear"}, "user": "u"})
    assert clean.json()["answer"] == "all clear\n"


async def test_a_hit_mid_stream_stops_forwarding_and_closes_the_upstream(
    client: httpx.AsyncClient, server_factory: Callable[..., RunningServer]
) -> None:
    fake = FakeOpenAI().start()
    try:
        texts = [f"word{i:03d} " for i in range(30)] + ["LEAKED "] + [f"more{i:03d} " for i in range(300)]
        fake.set_scenario("slow", texts=texts, delay=0.005)
        running = server_factory(openai_base_url=fake.base_url, openai_api_key="sk-test")
        model = {"provider": "openai", "name": "gpt-4o-mini", "mode": "chat", "completion_params": {}}
        app = await seed(
            running, dsl(f"out-{uuid.uuid4().hex[:6]}", model=model, sensitive_word_avoidance=block("leaked"))
        )
        stream = await client.post(
            f"{app.base_url}/v1/completion-messages",
            headers=app.headers,
            json={"inputs": {"query": "go"}, "user": "u", "response_mode": "streaming"},
        )
        events = frames(stream.content)
        kinds = [e["event"] for e in events]
        assert kinds[-2:] == ["message_replace", "message_end"]
        assert kinds.count("message_replace") == 1
        forwarded = "".join(e["answer"] for e in events if e["event"] == "message")
        assert len(forwarded) < 400  # checked at ~300 characters: the rest was never forwarded
        assert "more299" not in forwarded
        assert await asyncio.to_thread(fake.last.wait_disconnected, 5), "the upstream must be closed"
        assert await stored_answer(running, events[-1]["message_id"]) == OUT_PRESET
        assert events[-1]["metadata"]["usage"]["completion_tokens"] > 0  # what the model did produce
    finally:
        fake.stop()
