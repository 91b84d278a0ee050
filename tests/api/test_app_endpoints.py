"""``/v1/info``, ``/v1/parameters``, ``/v1/meta``, the stop endpoint, ``/healthz`` and ``/readyz``."""

from __future__ import annotations

import uuid

import httpx
import pytest
import yaml

from tests.api.conftest import assert_error
from tests.conftest import EXAMPLES, RunningServer, SeededApp, dsl, seed

PARAMETER_KEYS = [
    "opening_statement",
    "suggested_questions",
    "suggested_questions_after_answer",
    "speech_to_text",
    "text_to_speech",
    "retriever_resource",
    "annotation_reply",
    "more_like_this",
    "user_input_form",
    "sensitive_word_avoidance",
    "file_upload",
    "system_parameters",
]
SYSTEM_PARAMETERS = {
    "image_file_size_limit": 10,
    "video_file_size_limit": 100,
    "audio_file_size_limit": 50,
    "file_size_limit": 15,
    "workflow_file_upload_limit": 10,
}
FORM = [
    {"text-input": {"variable": "topic", "label": "Topic", "required": True, "max_length": 48, "default": ""}},
    {"select": {"variable": "tone", "label": "Tone", "required": False, "options": ["a", "b"], "default": "a"}},
    {"paragraph": {"variable": "notes", "label": {"en_US": "Notes"}, "required": False, "hide": True}},
    {"number": {"variable": "n", "label": "N", "required": False}},
    {"checkbox": {"variable": "ok", "label": "OK", "required": False}},
]
SECRET_WORDS = "forbidden-otter\nsecret-badger"
PRESET = "Sorry, I cannot talk about that."
MODERATION = {
    "enabled": True,
    "type": "keywords",
    "config": {
        "keywords": SECRET_WORDS,
        "inputs_config": {"enabled": True, "preset_response": PRESET},
        "outputs_config": {"enabled": False, "preset_response": ""},
    },
}


async def get(client: httpx.AsyncClient, app: SeededApp, path: str) -> httpx.Response:
    return await client.get(app.base_url + path, headers=app.headers)


# --------------------------------------------------------------------------------------------------
# /v1/info, /v1/meta


async def test_info(client: httpx.AsyncClient, server: RunningServer) -> None:
    doc = yaml.safe_load(dsl("unused"))
    name = f"Info app {uuid.uuid4().hex[:6]}"
    doc["app"].update(name=name, description="Says hello.", tags=["demo", "echo"], author_name="Ada")
    app = await seed(server, yaml.safe_dump(doc))
    resp = await get(client, app, "/v1/info")
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"].startswith("application/json")
    assert resp.json() == {
        "name": name,
        "description": "Says hello.",
        "tags": ["demo", "echo"],
        "mode": "completion",
        "author_name": "Ada",
    }
    assert list(resp.json()) == ["name", "description", "tags", "mode", "author_name"]


async def test_info_defaults(client: httpx.AsyncClient, shared_app: SeededApp) -> None:
    body = (await get(client, shared_app, "/v1/info")).json()
    assert body["description"] == ""
    assert body["tags"] == []
    assert body["mode"] == "completion"
    assert body["author_name"] is None


async def test_meta(client: httpx.AsyncClient, shared_app: SeededApp) -> None:
    resp = await get(client, shared_app, "/v1/meta")
    assert resp.status_code == 200, resp.text
    assert resp.json() == {"tool_icons": {}}


# --------------------------------------------------------------------------------------------------
# /v1/parameters


async def test_parameters_exact_keys_and_form_verbatim(client: httpx.AsyncClient, server: RunningServer) -> None:
    app = await seed(
        server,
        dsl(
            f"params-{uuid.uuid4().hex[:6]}",
            user_input_form=FORM,
            sensitive_word_avoidance=MODERATION,
            more_like_this={"enabled": True},
            text_to_speech={"enabled": True, "voice": "alloy", "language": "en-US", "autoPlay": "disabled"},
            opening_statement="Hello!",
            suggested_questions=["What?", "Why?"],
        ),
    )
    resp = await get(client, app, "/v1/parameters")
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert set(body) == set(PARAMETER_KEYS)
    assert len(body) == len(PARAMETER_KEYS)
    assert body["user_input_form"] == FORM
    assert body["system_parameters"] == SYSTEM_PARAMETERS
    assert body["opening_statement"] == "Hello!"
    assert body["suggested_questions"] == ["What?", "Why?"]
    assert body["more_like_this"] == {"enabled": True}
    assert body["text_to_speech"] == {"enabled": True, "voice": "alloy", "language": "en-US", "autoPlay": "disabled"}

    # the moderation configuration never leaks: only whether it is on
    assert body["sensitive_word_avoidance"] == {"enabled": True}
    for secret in ("forbidden-otter", "secret-badger", PRESET, "keywords", "inputs_config"):
        assert secret not in resp.text


async def test_parameters_defaults(client: httpx.AsyncClient, shared_app: SeededApp) -> None:
    body = (await get(client, shared_app, "/v1/parameters")).json()
    assert set(body) == set(PARAMETER_KEYS)
    assert body["opening_statement"] is None
    assert body["suggested_questions"] == []
    assert body["retriever_resource"] == {"enabled": True}  # the reference's NULL default
    for key in ("suggested_questions_after_answer", "speech_to_text", "text_to_speech", "annotation_reply"):
        assert body[key] == {"enabled": False}, key
    assert body["more_like_this"] == {"enabled": False}
    assert body["sensitive_word_avoidance"] == {"enabled": False}
    assert body["file_upload"] == {
        "image": {
            "enabled": False,
            "number_limits": 3,
            "detail": "high",
            "transfer_methods": ["remote_url", "local_file"],
        }
    }
    assert body["user_input_form"] == [{"paragraph": {"variable": "query", "label": "Query", "required": True}}]
    assert body["system_parameters"] == SYSTEM_PARAMETERS


async def test_parameters_disabled_moderation_with_keywords(client: httpx.AsyncClient, server: RunningServer) -> None:
    app = await seed(
        server, dsl(f"mod-off-{uuid.uuid4().hex[:6]}", sensitive_word_avoidance={**MODERATION, "enabled": False})
    )
    resp = await get(client, app, "/v1/parameters")
    assert resp.json()["sensitive_word_avoidance"] == {"enabled": False}
    assert "forbidden-otter" not in resp.text


@pytest.mark.parametrize("example", ["demo.yml", "translator.yml"])
async def test_parameters_of_the_examples(client: httpx.AsyncClient, server: RunningServer, example: str) -> None:
    text = (EXAMPLES / example).read_text(encoding="utf-8")
    app = await seed(server, text)
    body = (await get(client, app, "/v1/parameters")).json()
    config = yaml.safe_load(text)["model_config"]
    assert set(body) == set(PARAMETER_KEYS)
    assert body["user_input_form"] == config["user_input_form"]
    assert body["file_upload"] == config["file_upload"]
    assert body["more_like_this"] == config["more_like_this"]
    assert body["retriever_resource"] == {"enabled": False}
    assert body["sensitive_word_avoidance"] == {"enabled": False}
    assert body["opening_statement"] is None  # "" in the file: no opening statement


# --------------------------------------------------------------------------------------------------
# stop


@pytest.mark.parametrize("task_id", ["not-a-task", str(uuid.uuid4()), "0"])
async def test_stop_always_succeeds(client: httpx.AsyncClient, shared_app: SeededApp, task_id: str) -> None:
    resp = await client.post(
        f"{shared_app.base_url}/v1/completion-messages/{task_id}/stop",
        headers=shared_app.headers,
        json={"user": "someone"},
    )
    assert resp.status_code == 200, resp.text
    assert resp.json() == {"result": "success"}


async def test_stop_of_a_finished_task_succeeds(client: httpx.AsyncClient, shared_app: SeededApp) -> None:
    done = await client.post(
        f"{shared_app.base_url}/v1/completion-messages",
        headers=shared_app.headers,
        json={"inputs": {"query": "hi"}, "user": "owner"},
    )
    assert done.status_code == 200
    task_id = done.json()["task_id"]
    for user in ("owner", "stranger"):
        resp = await client.post(
            f"{shared_app.base_url}/v1/completion-messages/{task_id}/stop",
            headers=shared_app.headers,
            json={"user": user},
        )
        assert resp.status_code == 200, resp.text
        assert resp.json() == {"result": "success"}


@pytest.mark.parametrize("body", [{}, {"user": ""}, {"user": None}, {"other": "x"}])
async def test_stop_without_user_is_400(
    client: httpx.AsyncClient, shared_app: SeededApp, body: dict[str, object]
) -> None:
    resp = await client.post(
        f"{shared_app.base_url}/v1/completion-messages/some-task/stop", headers=shared_app.headers, json=body
    )
    assert_error(resp, 400, "invalid_param", "Arg user must be provided.")


async def test_stop_body_must_be_json(client: httpx.AsyncClient, shared_app: SeededApp) -> None:
    stop = f"{shared_app.base_url}/v1/completion-messages/some-task/stop"
    resp = await client.post(stop, headers={**shared_app.headers, "Content-Type": "application/json"}, content=b"")
    assert_error(resp, 400, "invalid_param")
    resp = await client.post(stop, headers={**shared_app.headers, "Content-Type": "text/plain"}, content=b"user=u")
    assert_error(resp, 415, "unsupported_media_type")


# --------------------------------------------------------------------------------------------------
# ops


async def test_healthz(client: httpx.AsyncClient, server: RunningServer) -> None:
    resp = await client.get(f"{server.url}/healthz")
    assert resp.status_code == 200, resp.text
    assert resp.json() == {"status": "ok"}
    assert resp.headers["x-request-id"]


async def test_readyz(client: httpx.AsyncClient, server: RunningServer) -> None:
    resp = await client.get(f"{server.url}/readyz")
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["status"] == "ok"
    assert body["checks"]["database"] == "ok"


async def test_ops_endpoints_need_no_key(client: httpx.AsyncClient, server: RunningServer) -> None:
    for path in ("/healthz", "/readyz"):
        resp = await client.get(f"{server.url}{path}", headers={"Authorization": "Bearer app-nonsense"})
        assert resp.status_code == 200, resp.text
