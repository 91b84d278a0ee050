"""``api`` moderation: an API-based extension (reference protocol) on a local test server, in front of
the fake OpenAI model, on both databases."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from inkwell.moderation.base import stats
from tests.conftest import RunningServer, SeededApp, dsl, free_port, seed
from tests.fakes.moderation_extension import POINT_INPUT, POINT_OUTPUT, REDACTED, FakeExtension
from tests.fakes.openai_upstream import FakeOpenAI
from tests.moderation.support import (
    EXT_ID,
    FORM,
    OPENAI_MODEL,
    api_block,
    frames,
    last_message,
    stored_message,
    timed_stream,
    write_providers_file,
)


@pytest.fixture
def extension() -> Iterator[FakeExtension]:
    with FakeExtension() as fake:
        yield fake


Moderated = Callable[..., Awaitable[tuple[RunningServer, SeededApp, str]]]


@pytest.fixture
def moderated_app(
    server_factory: Callable[..., RunningServer], tmp_path: Path, fake_openai: FakeOpenAI, extension: FakeExtension
) -> Moderated:
    """Starts a server whose providers file points at the fake model and an extension (``extension``
    unless ``extension_url`` says otherwise), and seeds an app with the ``api`` moderation ``block``;
    gives (server, app, completion URL)."""

    async def start(
        block: dict[str, Any],
        *,
        extension_url: str | None = None,
        api_key: str = "ext-secret-key",
        check_seconds: float = 2.0,
    ) -> tuple[RunningServer, SeededApp, str]:
        path = write_providers_file(
            tmp_path,
            openai_url=fake_openai.base_url,
            extension_url=extension_url or extension.url,
            api_key=api_key,
            timeout=check_seconds,
        )
        running = server_factory(providers_file=path)
        app = await seed(
            running,
            dsl(
                f"api-mod-{uuid.uuid4().hex[:6]}",
                model=OPENAI_MODEL,
                pre_prompt="Write about {{topic}}. {{notes}}",
                user_input_form=FORM,
                sensitive_word_avoidance=block,
            ),
        )
        return running, app, f"{app.base_url}/v1/completion-messages"

    return start


async def test_flagged_input_answers_the_extensions_preset_and_never_calls_the_model(
    client: httpx.AsyncClient, fake_openai: FakeOpenAI, extension: FakeExtension, moderated_app: Moderated
) -> None:
    extension.flag_words = {"forbidden"}
    running, app, url = await moderated_app(api_block())
    body = {"inputs": {"topic": "otters", "notes": "something FORBIDDEN"}, "query": "and more", "user": "u"}
    resp = await client.post(url, headers=app.headers, json=body)
    assert resp.status_code == 200, resp.text
    answer = resp.json()
    assert answer["answer"] == extension.preset
    usage = answer["metadata"]["usage"]
    assert (usage["prompt_tokens"], usage["completion_tokens"], usage["total_price"]) == (0, 0, "0.0000000")
    row = await stored_message(running, answer["message_id"])
    assert (row.answer, row.status) == (extension.preset, "normal")

    # the reference protocol: point, params (app_id, inputs, query) and the extension's bearer key
    sent = extension.requests[-1]
    assert sent.headers["authorization"] == "Bearer ext-secret-key"
    assert sent.headers["content-type"].startswith("application/json")
    assert sent.body == {
        "point": POINT_INPUT,
        "params": {
            "app_id": app.app_id,
            "inputs": {"topic": "otters", "notes": "something FORBIDDEN"},
            "query": "and more",
        },
    }

    events = frames((await client.post(url, headers=app.headers, json={**body, "response_mode": "streaming"})).content)
    assert [e["event"] for e in events] == ["message", "message_end"]
    assert events[0]["answer"] == extension.preset
    assert events[1]["metadata"]["usage"]["total_tokens"] == 0
    assert fake_openai.requests == [], "the model must not be called on an input hit"

    clean = await client.post(url, headers=app.headers, json={"inputs": {"topic": "otters"}, "user": "u"})
    assert clean.status_code == 200 and clean.json()["answer"] == "Hello, world!"
    assert len(fake_openai.requests) == 1


async def test_overridden_input_reaches_the_model_and_is_stored(
    client: httpx.AsyncClient, fake_openai: FakeOpenAI, extension: FakeExtension, moderated_app: Moderated
) -> None:
    extension.flag_words = {"555-0199"}
    extension.action = "overridden"
    running, app, url = await moderated_app(api_block())
    for mode in ("blocking", "streaming"):
        body = {
            "inputs": {"topic": "call me at 555-0199", "notes": ""},
            "query": "my number is 555-0199",
            "user": "u",
            "response_mode": mode,
        }
        resp = await client.post(url, headers=app.headers, json=body)
        assert resp.status_code == 200, resp.text
        if mode == "blocking":
            message_id = resp.json()["message_id"]
            assert resp.json()["answer"] == "Hello, world!"
        else:
            events = frames(resp.content)
            assert [e["event"] for e in events][-1] == "message_end"
            message_id = events[-1]["message_id"]
        sent = fake_openai.last.body["messages"]
        assert sent == [
            {"role": "system", "content": f"Write about call me at {REDACTED}. \n"},
            {"role": "user", "content": f"my number is {REDACTED}"},
        ]
        assert "555-0199" not in fake_openai.last.raw.decode()
        row = await stored_message(running, message_id)
        assert row.inputs["topic"] == f"call me at {REDACTED}"
        assert row.query == f"my number is {REDACTED}"
        assert "555-0199" not in str(row.prompt)


async def test_output_flagged_mid_stream_without_stalling_the_tokens(
    client: httpx.AsyncClient, fake_openai: FakeOpenAI, extension: FakeExtension, moderated_app: Moderated
) -> None:
    extension.flag_words = {"leaked"}
    extension.preset = "Withheld by the content filter."
    extension.delay = {POINT_OUTPUT: 0.4}  # a slow check: tokens must keep flowing meanwhile
    texts = [f"word{i:03d} " for i in range(30)] + ["LEAKED "] + [f"more{i:03d} " for i in range(300)]
    fake_openai.set_scenario("slow", texts=texts, delay=0.005)
    running, app, url = await moderated_app(api_block(inputs=False, outputs=True))
    events = await timed_stream(client, url, app.headers, {"inputs": {"topic": "otters"}, "user": "u"})
    kinds = [e["event"] for _, e in events]
    assert kinds[-2:] == ["message_replace", "message_end"], kinds[-5:]
    assert kinds.count("message_replace") == 1
    replace = events[-2][1]
    assert replace["answer"] == "Withheld by the content filter." and replace["reason"] == "output_moderation"

    forwarded = "".join(e["answer"] for _, e in events if e["event"] == "message")
    # the check started at ~300 characters; while it ran (0.4 s) tokens kept flowing to the client
    first_check_at = 300
    assert len(forwarded) > first_check_at + 200, len(forwarded)
    assert "more299" not in forwarded  # ...but once the verdict came, no more model text was forwarded
    assert await asyncio.to_thread(fake_openai.last.wait_disconnected, 5), "the upstream must be closed"
    row = await stored_message(running, events[-1][1]["message_id"])
    assert row.answer == "Withheld by the content filter."
    output_checks = [r for r in extension.requests if r.point == POINT_OUTPUT]
    assert output_checks[0].params["app_id"] == app.app_id
    assert "LEAKED" in output_checks[0].params["text"] and len(output_checks[0].params["text"]) >= first_check_at


async def test_a_flag_while_waiting_for_the_model_is_applied_at_once(
    client: httpx.AsyncClient, fake_openai: FakeOpenAI, extension: FakeExtension, moderated_app: Moderated
) -> None:
    """The model sends 310 characters, then is silent for 3 s: the verdict must not wait for it."""
    extension.flag_words = {"leaked"}
    fake_openai.set_scenario("slow", texts=["LEAKED " + "x" * 303, "tail"], delay=3.0)
    running, app, url = await moderated_app(api_block(inputs=False, outputs=True))
    events = await timed_stream(client, url, app.headers, {"inputs": {"topic": "otters"}, "user": "u"})
    kinds = [e["event"] for _, e in events]
    assert kinds == ["message", "message_replace", "message_end"], kinds
    assert events[1][0] - events[0][0] < 1.5, "the replace waited for the model's next token"
    assert "tail" not in "".join(e.get("answer", "") for _, e in events)
    assert await asyncio.to_thread(fake_openai.last.wait_disconnected, 5)
    assert (await stored_message(running, events[-1][1]["message_id"])).answer == extension.preset

    # blocking: the answer comes ~3 s after the request (the first chunk), not ~6 s (after the silence)
    started = time.monotonic()
    resp = await client.post(url, headers=app.headers, json={"inputs": {"topic": "otters"}, "user": "u"})
    assert resp.json()["answer"] == extension.preset
    assert time.monotonic() - started < 4.5, "the blocking request waited for the model's next token"


async def test_output_overridden_rewrites_the_answer(
    client: httpx.AsyncClient, fake_openai: FakeOpenAI, extension: FakeExtension, moderated_app: Moderated
) -> None:
    extension.flag_words = {"secret"}
    extension.action = "overridden"
    fake_openai.set_scenario("normal", texts=["The ", "secret ", "is ", "out."])
    running, app, url = await moderated_app(api_block(inputs=False, outputs=True))
    blocking = await client.post(url, headers=app.headers, json={"inputs": {"topic": "x"}, "user": "u"})
    assert blocking.json()["answer"] == f"The {REDACTED} is out."
    assert (await stored_message(running, blocking.json()["message_id"])).answer == f"The {REDACTED} is out."
    stream = await client.post(
        url, headers=app.headers, json={"inputs": {"topic": "x"}, "user": "u", "response_mode": "streaming"}
    )
    events = frames(stream.content)
    assert [e["event"] for e in events][-2:] == ["message_replace", "message_end"]
    assert events[-2]["answer"] == f"The {REDACTED} is out."


@pytest.mark.parametrize("failure", ["down", "wrong_key", "http_500", "timeout"])
async def test_input_moderation_fails_closed(
    failure: str, client: httpx.AsyncClient, fake_openai: FakeOpenAI, extension: FakeExtension, moderated_app: Moderated
) -> None:
    extension_url, api_key, check_seconds = extension.url, "ext-secret-key", 2.0
    if failure == "down":
        extension_url = f"http://127.0.0.1:{free_port()}/moderation"  # nothing listens there
    elif failure == "wrong_key":
        api_key = "not-the-key"
    elif failure == "http_500":
        extension.status = 500
    else:
        extension.delay = {POINT_INPUT: 3.0}
        check_seconds = 0.3
    running, app, url = await moderated_app(
        api_block(),
        extension_url=extension_url,
        api_key=api_key,
        check_seconds=check_seconds,
    )
    before = stats.input_failures
    started = asyncio.get_running_loop().time()
    resp = await client.post(url, headers=app.headers, json={"inputs": {"topic": "otters"}, "user": "u"})
    assert resp.status_code == 400, resp.text
    error = resp.json()
    assert error["code"] == "invalid_param" and error["status"] == 400
    assert "content-filter" in error["message"]
    expected = {"down": "connection failed", "wrong_key": "401", "http_500": "500", "timeout": "timeout"}[failure]
    assert expected in error["message"]
    if failure == "timeout":
        assert asyncio.get_running_loop().time() - started < 2.5, "the extension timeout was not applied"
    if failure == "wrong_key":
        assert extension.requests[-1].headers["authorization"] == "Bearer not-the-key"
    row = await last_message(running, app.app_id)
    assert row.status == "error" and row.answer == ""

    stream = await client.post(
        url, headers=app.headers, json={"inputs": {"topic": "otters"}, "user": "u", "response_mode": "streaming"}
    )
    assert stream.status_code == 200
    events = frames(stream.content)
    assert [e["event"] for e in events] == ["error"]
    assert events[0]["code"] == "invalid_param" and events[0]["status"] == 400
    assert fake_openai.requests == [], "input moderation fails closed: the model is never called"
    assert stats.input_failures >= before + 2


async def test_output_moderation_fails_open_and_is_counted(
    client: httpx.AsyncClient, extension: FakeExtension, moderated_app: Moderated
) -> None:
    extension.status = 503
    running, app, url = await moderated_app(api_block(inputs=False, outputs=True))
    before = stats.output_failures
    resp = await client.post(url, headers=app.headers, json={"inputs": {"topic": "otters"}, "user": "u"})
    assert resp.status_code == 200, resp.text
    assert resp.json()["answer"] == "Hello, world!"
    assert (await stored_message(running, resp.json()["message_id"])).answer == "Hello, world!"
    assert stats.output_failures == before + 1
    assert [r.point for r in extension.requests] == [POINT_OUTPUT]

    stream = await client.post(
        url, headers=app.headers, json={"inputs": {"topic": "otters"}, "user": "u", "response_mode": "streaming"}
    )
    events = frames(stream.content)
    assert [e["event"] for e in events][-1] == "message_end"
    assert "message_replace" not in [e["event"] for e in events]
    assert stats.output_failures == before + 2


async def test_an_unconfigured_extension_is_refused(
    client: httpx.AsyncClient, fake_openai: FakeOpenAI, moderated_app: Moderated
) -> None:
    running, app, url = await moderated_app(
        api_block(extension_id="00000000-0000-4000-8000-00000000dead"),
        extension_url="http://127.0.0.1:9/unused",
    )
    resp = await client.post(url, headers=app.headers, json={"inputs": {"topic": "otters"}, "user": "u"})
    assert resp.status_code == 400
    assert resp.json()["code"] == "invalid_param"
    assert "00000000-0000-4000-8000-00000000dead" in resp.json()["message"]
    assert EXT_ID not in resp.json()["message"]
    assert fake_openai.requests == []


@pytest.mark.parametrize("how", ["stop", "disconnect"])
async def test_stop_and_disconnect_cancel_a_pending_output_check(
    how: str, client: httpx.AsyncClient, fake_openai: FakeOpenAI, extension: FakeExtension, moderated_app: Moderated
) -> None:
    extension.delay = {POINT_OUTPUT: 30.0}  # a check that would hang far longer than the test
    fake_openai.set_scenario("slow", texts=[f"tok{i:04d} " for i in range(2000)], delay=0.005)
    running, app, url = await moderated_app(
        api_block(inputs=False, outputs=True),
        check_seconds=60.0,  # so only a cancellation can end the check in time
    )
    body = {"inputs": {"topic": "otters"}, "user": "u", "response_mode": "streaming"}
    kinds: list[str] = []
    async with client.stream("POST", url, headers=app.headers, json=body) as resp:
        received = 0
        buffer = b""
        async for raw in resp.aiter_bytes():
            buffer += raw
            *complete, buffer = buffer.split(b"\n\n")
            for event in frames(b"\n\n".join(complete) + b"\n\n"):
                kinds.append(event["event"])
                received += len(event.get("answer", ""))
                if received > 400 and extension.requests and kinds.count("message") and how == "stop":
                    stop = await client.post(f"{url}/{event['task_id']}/stop", headers=app.headers, json={"user": "u"})
                    assert stop.json() == {"result": "success"}
                    received = -(10**9)  # stop once
            if how == "disconnect" and received > 400 and extension.requests:
                break  # leaving the block closes the connection
    assert [r.point for r in extension.requests] == [POINT_OUTPUT]
    check = extension.requests[0]
    assert await asyncio.to_thread(check.disconnected.wait, 5), "the pending check was not cancelled"
    assert not check.answered.is_set()
    assert (await last_message(running, app.app_id)).status == "stopped"
    if how == "stop":
        assert kinds[-1] == "message_end" and "message_replace" not in kinds
