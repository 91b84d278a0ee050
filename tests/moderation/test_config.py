"""Moderation configuration: what import refuses, the providers file's ``moderation`` and ``extensions``
sections, and ``/parameters`` never showing more than whether moderation is on."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from inkwell.apps.service import DSLError, parse_dsl
from inkwell.moderation.api import ApiModeration
from inkwell.moderation.base import ModerationFailed
from inkwell.moderation.keywords import KeywordModeration
from inkwell.moderation.openai import OpenAIModeration
from inkwell.moderation.registry import ModerationRegistry
from inkwell.providers.registry import ProviderConfigError, ProviderRegistry
from inkwell.settings import Settings
from tests.conftest import EXAMPLES, RunningServer, dsl, seed
from tests.moderation.support import EXT_ID, api_block, frames, openai_block, write_providers_file


@pytest.mark.parametrize(
    ("block", "message"),
    [
        (api_block(extension_id=""), "needs an api_based_extension_id"),
        (openai_block(inputs=""), "input preset response must be 1 to 100 characters"),
        (openai_block(outputs="p" * 101), "output preset response must be 1 to 100 characters"),
        ({"enabled": True, "type": "regex", "config": {}}, "must be one of keywords, openai_moderation, api"),
    ],
)
def test_import_refuses_what_the_reference_refuses(block: dict[str, Any], message: str) -> None:
    with pytest.raises(DSLError, match=message):
        parse_dsl(dsl("bad-moderation", sensitive_word_avoidance=block))


def test_import_accepts_the_io_types_without_knowing_the_services() -> None:
    parse_dsl(dsl("api", sensitive_word_avoidance=api_block(outputs=True)))
    parse_dsl(dsl("openai", sensitive_word_avoidance=openai_block(inputs="no", outputs="no")))
    parse_dsl(dsl("off", sensitive_word_avoidance={"enabled": False, "type": "regex"}))


def registry(tmp_path: Path, text: str) -> ModerationRegistry:
    path = tmp_path / f"providers-{uuid.uuid4().hex[:6]}.yml"
    path.write_text(text, encoding="utf-8")
    settings = Settings(providers_file=path, moderation_timeout=7.0)
    return ModerationRegistry.from_settings(settings, ProviderRegistry(settings))


def test_the_providers_file_names_extensions_and_the_moderation_endpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FILTER_KEY", "key-from-env")
    moderation = registry(
        tmp_path,
        f"""
providers:
  mod: {{type: openai_compatible, base_url: "http://127.0.0.1:9/v1", api_key: sk-mod, headers: {{X-Org: o1}}}}
moderation: {{provider: mod, model: my-moderation}}
extensions:
  {EXT_ID}: {{name: filter, api_endpoint: "http://127.0.0.1:9/x", api_key_env: FILTER_KEY, timeout: 3}}
  other: {{api_endpoint: "https://example.com/x", api_key: literal}}
""",
    )
    assert moderation.openai is not None
    assert moderation.openai.base_url == "http://127.0.0.1:9/v1" and moderation.openai.model == "my-moderation"
    assert moderation.openai.headers == {"X-Org": "o1", "Authorization": "Bearer sk-mod"}
    assert moderation.openai.timeout == 7.0
    ext = moderation.extensions[EXT_ID]
    assert (ext.name, ext.api_key, ext.timeout) == ("filter", "key-from-env", 3.0)
    assert moderation.extensions["other"].api_key == "literal"

    api = moderation.for_app(api_block(outputs=True))
    assert isinstance(api, ApiModeration) and api.inputs_enabled and api.outputs_enabled
    assert api.headers == {"Authorization": "Bearer key-from-env"}
    oai = moderation.for_app(openai_block(inputs="no"))
    assert isinstance(oai, OpenAIModeration) and oai.url == "http://127.0.0.1:9/v1/moderations"
    assert oai.inputs_enabled and not oai.outputs_enabled
    assert isinstance(
        moderation.for_app({"enabled": True, "type": "keywords", "config": {"keywords": "x"}}), KeywordModeration
    )
    assert moderation.for_app({"enabled": False, "type": "api"}) is None
    with pytest.raises(ModerationFailed, match="'missing' is not configured"):
        moderation.for_app(api_block(extension_id="missing"))


def test_openai_moderation_defaults_to_the_openai_provider(tmp_path: Path) -> None:
    moderation = registry(tmp_path, "providers:\n  openai: {base_url: 'http://127.0.0.1:9/v1'}\n")
    assert moderation.openai is not None and moderation.openai.model == "omni-moderation-latest"
    assert moderation.openai.provider == "openai"
    nothing = registry(tmp_path, "providers:\n  local: {type: builtin}\n")
    assert nothing.openai is None
    with pytest.raises(ModerationFailed, match="openai_moderation is not configured"):
        nothing.for_app(openai_block(inputs="no"))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("providers: {}\nextensions: [a]\n", "extensions must map extension ids"),
        (
            "providers: {}\nextensions: {x: {api_endpoint: ftp://x}}\n",
            r"extensions.x.api_endpoint must be an http\(s\)",
        ),
        ("providers: {}\nextensions: {x: {api_endpoint: 'http://x', timeout: 0}}\n", "extensions.x.timeout"),
        ("providers: {}\nmoderation: {provider: nope}\n", "'nope' is not a configured provider"),
        ("providers: {b: {type: builtin}}\nmoderation: {provider: b}\n", "must be an openai_compatible provider"),
    ],
)
def test_bad_sections_are_refused_at_start(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ProviderConfigError, match=message):
        registry(tmp_path, text)


@pytest.mark.parametrize("kind", ["api", "openai_moderation", "keywords"])
async def test_parameters_show_only_whether_moderation_is_on(
    kind: str, client: httpx.AsyncClient, server: RunningServer
) -> None:
    secrets = ["Blocked-preset-xyz", "Output-preset-xyz", EXT_ID, "secretword"]
    block = {
        "enabled": True,
        "type": kind,
        "config": {
            "inputs_config": {"enabled": True, "preset_response": "Blocked-preset-xyz"},
            "outputs_config": {"enabled": True, "preset_response": "Output-preset-xyz"},
            **({"api_based_extension_id": EXT_ID} if kind == "api" else {}),
            **({"keywords": "secretword"} if kind == "keywords" else {}),
        },
    }
    app = await seed(server, dsl(f"params-{kind}-{uuid.uuid4().hex[:6]}", sensitive_word_avoidance=block))
    resp = await client.get(f"{app.base_url}/v1/parameters", headers=app.headers)
    assert resp.status_code == 200
    assert resp.json()["sensitive_word_avoidance"] == {"enabled": True}
    for secret in [*secrets, "api_based_extension_id", "inputs_config", "preset_response"]:
        assert secret not in resp.text


def test_write_providers_file_helper_round_trips(tmp_path: Path) -> None:
    # the helper the HTTP tests use writes what the registry reads
    path = write_providers_file(tmp_path, openai_url="http://127.0.0.1:9/v1", extension_url="http://127.0.0.1:9/m")
    settings = Settings(providers_file=path)
    moderation = ModerationRegistry.from_settings(settings, ProviderRegistry(settings))
    assert list(moderation.extensions) == [EXT_ID] and moderation.openai is not None


async def test_the_moderation_example_shows_both_hits(client: httpx.AsyncClient, server: RunningServer) -> None:
    app = await seed(server, (EXAMPLES / "moderated.yml").read_text(encoding="utf-8"))
    url = f"{app.base_url}/v1/completion-messages"
    ok = await client.post(url, headers=app.headers, json={"inputs": {"film": "Alien"}, "user": "u"})
    assert ok.json()["answer"] == "Review Alien without spoilers. Say whether the acting is worth it.\n"
    hit = await client.post(url, headers=app.headers, json={"inputs": {"film": "my Password"}, "user": "u"})
    assert hit.json()["answer"] == "I can't help with that request."
    body = {"inputs": {"film": "Alien", "aspect": "ending"}, "user": "u", "response_mode": "streaming"}
    events = frames((await client.post(url, headers=app.headers, json=body)).content)
    assert [e["event"] for e in events][-2:] == ["message_replace", "message_end"]
    assert events[-2]["answer"] == "No spoilers here: that part of the review was withheld."
