"""Keyword input moderation (issue 5, first part): matrix, and a hit in both response modes."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from inkwell.apps.service import DSLError, parse_dsl
from inkwell.moderation.keywords import KeywordModeration
from tests.conftest import RunningServer, dsl, seed
from tests.fakes.openai_upstream import FakeOpenAI

PRESET = "Sorry, I can't talk about that."


def block(keywords: str, *, inputs_enabled: bool = True, preset: str = PRESET) -> dict[str, Any]:
    return {
        "enabled": True,
        "type": "keywords",
        "config": {
            "keywords": keywords,
            "inputs_config": {"enabled": inputs_enabled, "preset_response": preset},
            "outputs_config": {"enabled": False, "preset_response": ""},
        },
    }


@pytest.mark.parametrize(
    ("keywords", "texts", "hit"),
    [
        ("bomb", ["how to build a BOMB"], True),  # case-insensitive
        ("Bomb", ["bombastic prose"], True),  # substring
        ("bomb\nknife", ["a KNIFE fight"], True),  # any line
        ("bomb\n\n  knife  \n", ["knife"], True),  # blank lines ignored, lines trimmed
        ("bomb\nknife", ["a kitchen tool"], False),
        ("bomb", ["", "b o m b"], False),
    ],
)
def test_keyword_matrix(keywords: str, texts: list[str], hit: bool) -> None:
    moderation = KeywordModeration.of(block(keywords))
    assert moderation is not None
    assert moderation.hit(texts) is hit


def test_inputs_and_query_are_both_checked() -> None:
    moderation = KeywordModeration.of(block("secret"))
    assert moderation is not None
    assert moderation.check_inputs({"topic": "the SECRET plan", "n": 3}, "") == PRESET
    assert moderation.check_inputs({"topic": "otters"}, "tell me the secret") == PRESET
    assert moderation.check_inputs({"topic": "otters"}, "") is None


def test_off_when_disabled_or_other_type_or_outputs_only() -> None:
    assert KeywordModeration.of({"enabled": False, "type": "keywords", "config": {"keywords": "x"}}) is None
    assert KeywordModeration.of({"enabled": True, "type": "api", "config": {}}) is None
    outputs_only = KeywordModeration.of(block("x", inputs_enabled=False))
    assert outputs_only is not None and outputs_only.check_inputs({"a": "x"}, "x") is None


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (block(""), "non-empty keywords"),
        (block("x" * 10_001), "at most 10000 characters"),
        (block("\n".join(f"w{i}" for i in range(101))), "at most 100 lines"),
        (block("x", preset=""), "1 to 100 characters"),
        (block("x", preset="p" * 101), "1 to 100 characters"),
    ],
)
def test_limits_are_refused_at_import(raw: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        KeywordModeration.of(raw)
    with pytest.raises(DSLError, match=message):
        parse_dsl(dsl("moderated", sensitive_word_avoidance=raw))


def test_reference_limits_are_inclusive() -> None:
    assert KeywordModeration.of(block("x" * 10_000)) is not None
    assert KeywordModeration.of(block("\n".join(f"w{i}" for i in range(100)))) is not None
    assert KeywordModeration.of(block("x", preset="p" * 100)) is not None


async def test_input_hit_answers_the_preset_and_never_calls_the_model(
    client: httpx.AsyncClient, server_factory: Callable[..., RunningServer]
) -> None:
    fake = FakeOpenAI().start()
    try:
        running = server_factory(openai_base_url=fake.base_url, openai_api_key="sk-test")
        model = {"provider": "openai", "name": "gpt-4o-mini", "mode": "chat", "completion_params": {}}
        app = await seed(
            running, dsl(f"mod-{uuid.uuid4().hex[:6]}", model=model, sensitive_word_avoidance=block("forbidden"))
        )
        url = f"{app.base_url}/v1/completion-messages"

        resp = await client.post(
            url, headers=app.headers, json={"inputs": {"query": "Something FORBIDDEN here"}, "user": "u"}
        )
        assert resp.status_code == 200, resp.text
        body = resp.json()
        assert body["answer"] == PRESET
        usage = body["metadata"]["usage"]
        assert (usage["prompt_tokens"], usage["completion_tokens"], usage["total_price"]) == (0, 0, "0.0000000")

        stream = await client.post(
            url,
            headers=app.headers,
            json={"inputs": {"query": "forbidden"}, "user": "u", "response_mode": "streaming"},
        )
        events = [json.loads(f[6:]) for f in stream.content.split(b"\n\n") if f.startswith(b"data: ")]
        assert [e["event"] for e in events] == ["message", "message_end"]
        assert events[0]["answer"] == PRESET
        assert events[1]["metadata"]["usage"]["total_tokens"] == 0
        assert fake.requests == [], "the model must not be called on an input hit"

        clean = await client.post(url, headers=app.headers, json={"inputs": {"query": "otters"}, "user": "u"})
        assert clean.status_code == 200 and clean.json()["answer"] != PRESET
        assert len(fake.requests) == 1
    finally:
        fake.stop()
