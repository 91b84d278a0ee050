"""``openai_moderation`` against the OpenAI-protocol fixture's ``/v1/moderations``, on both databases:
the real text is sent, a flag answers the preset, failures close inputs and open outputs."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from inkwell.moderation.base import stats
from tests.conftest import RunningServer, SeededApp, dsl, seed
from tests.fakes.openai_upstream import FakeOpenAI
from tests.moderation.support import (
    FORM,
    OPENAI_MODEL,
    frames,
    openai_block,
    stored_message,
    write_providers_file,
)

IN_PRESET = "I can't help with that request."
OUT_PRESET = "The answer was withheld."


@pytest.fixture
def fake_openai() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as fake:
        fake.moderation_flags = {"forbidden"}
        yield fake


async def moderated_app(
    running: RunningServer, block: dict[str, Any], model: dict[str, Any] | None = None
) -> tuple[SeededApp, str]:
    app = await seed(
        running,
        dsl(
            f"oai-mod-{uuid.uuid4().hex[:6]}",
            model=model or OPENAI_MODEL,
            pre_prompt="Write about {{topic}}. {{notes}}",
            user_input_form=FORM,
            sensitive_word_avoidance=block,
        ),
    )
    return app, f"{app.base_url}/v1/completion-messages"


async def test_the_real_input_text_is_moderated_and_a_flag_answers_the_preset(
    client: httpx.AsyncClient, server_factory: Callable[..., RunningServer], fake_openai: FakeOpenAI
) -> None:
    running = server_factory(openai_base_url=fake_openai.base_url, openai_api_key="sk-test")
    app, url = await moderated_app(running, openai_block(inputs=IN_PRESET))
    body = {"inputs": {"topic": "otters", "notes": "a FORBIDDEN thing"}, "query": "tell me", "user": "u"}
    resp = await client.post(url, headers=app.headers, json=body)
    assert resp.status_code == 200, resp.text
    assert resp.json()["answer"] == IN_PRESET
    assert resp.json()["metadata"]["usage"]["total_tokens"] == 0
    assert (await stored_message(running, resp.json()["message_id"])).answer == IN_PRESET

    sent = fake_openai.moderation_requests[-1]
    assert sent.path == "/v1/moderations"
    assert sent.headers["authorization"] == "Bearer sk-test"
    # every input value and the query, as text (not the characters of a repr, as the reference sends)
    assert sent.body == {"model": "omni-moderation-latest", "input": "otters\na FORBIDDEN thing\ntell me"}
    assert fake_openai.requests == [], "the model must not be called on an input hit"

    stream = await client.post(url, headers=app.headers, json={**body, "response_mode": "streaming"})
    events = frames(stream.content)
    assert [e["event"] for e in events] == ["message", "message_end"]
    assert events[0]["answer"] == IN_PRESET

    clean = await client.post(url, headers=app.headers, json={"inputs": {"topic": "otters"}, "user": "u"})
    assert clean.json()["answer"] == "Hello, world!"
    assert fake_openai.moderation_requests[-1].body["input"] == "otters"
    assert len(fake_openai.requests) == 1


async def test_long_texts_go_in_pieces_and_any_flagged_piece_flags(
    client: httpx.AsyncClient, server_factory: Callable[..., RunningServer], fake_openai: FakeOpenAI
) -> None:
    running = server_factory(openai_base_url=fake_openai.base_url, openai_api_key="sk-test")
    app, url = await moderated_app(running, openai_block(inputs=IN_PRESET))
    notes = "calm words " * 400 + "forbidden"  # 4409 characters: three pieces, the last one flagged
    resp = await client.post(
        url, headers=app.headers, json={"inputs": {"topic": "otters", "notes": notes}, "user": "u"}
    )
    assert resp.json()["answer"] == IN_PRESET
    pieces = fake_openai.moderation_requests[-1].body["input"]
    assert isinstance(pieces, list) and [len(p) for p in pieces] == [2000, 2000, 416]
    assert "".join(pieces) == f"otters\n{notes}"


async def test_output_flag_replaces_the_answer(
    client: httpx.AsyncClient, server_factory: Callable[..., RunningServer], fake_openai: FakeOpenAI, tmp_path: Path
) -> None:
    # the moderation endpoint chosen in the providers file: another provider entry and model
    fake_openai.set_scenario("normal", texts=["This ", "is ", "forbidden ", "talk."])
    path = write_providers_file(
        tmp_path,
        openai_url=fake_openai.base_url,
        moderation={"provider": "openai", "model": "text-moderation-stable", "timeout": 5},
    )
    running = server_factory(providers_file=path)
    app, url = await moderated_app(running, openai_block(outputs=OUT_PRESET))
    resp = await client.post(url, headers=app.headers, json={"inputs": {"topic": "otters"}, "user": "u"})
    assert resp.json()["answer"] == OUT_PRESET
    assert (await stored_message(running, resp.json()["message_id"])).answer == OUT_PRESET
    sent = fake_openai.moderation_requests[-1].body
    assert sent == {"model": "text-moderation-stable", "input": "This is forbidden talk."}
    assert len(fake_openai.moderation_requests) == 1, "inputs are not checked when only outputs are on"

    stream = await client.post(
        url, headers=app.headers, json={"inputs": {"topic": "otters"}, "user": "u", "response_mode": "streaming"}
    )
    events = frames(stream.content)
    assert [e["event"] for e in events][-2:] == ["message_replace", "message_end"]
    assert events[-2]["answer"] == OUT_PRESET


async def test_a_failing_endpoint_closes_inputs_and_opens_outputs(
    client: httpx.AsyncClient, server_factory: Callable[..., RunningServer], fake_openai: FakeOpenAI
) -> None:
    fake_openai.moderation_status = 500
    running = server_factory(openai_base_url=fake_openai.base_url, openai_api_key="sk-test")
    inputs_app, inputs_url = await moderated_app(running, openai_block(inputs=IN_PRESET))
    resp = await client.post(inputs_url, headers=inputs_app.headers, json={"inputs": {"topic": "otters"}, "user": "u"})
    assert resp.status_code == 400
    assert resp.json()["code"] == "invalid_param"
    assert "openai_moderation [openai]" in resp.json()["message"] and "500" in resp.json()["message"]
    assert fake_openai.requests == []

    outputs_app, outputs_url = await moderated_app(running, openai_block(outputs=OUT_PRESET))
    before = stats.output_failures
    resp = await client.post(
        outputs_url, headers=outputs_app.headers, json={"inputs": {"topic": "otters"}, "user": "u"}
    )
    assert resp.status_code == 200 and resp.json()["answer"] == "Hello, world!"
    assert stats.output_failures == before + 1


async def test_without_a_moderation_endpoint_the_app_is_refused(
    client: httpx.AsyncClient, server: RunningServer
) -> None:
    app, url = await moderated_app(
        server, openai_block(inputs=IN_PRESET), model={"provider": "builtin", "name": "echo", "mode": "chat"}
    )
    resp = await client.post(url, headers=app.headers, json={"inputs": {"topic": "otters"}, "user": "u"})
    assert resp.status_code == 400
    assert resp.json()["code"] == "invalid_param"
    assert "openai_moderation is not configured" in resp.json()["message"]
