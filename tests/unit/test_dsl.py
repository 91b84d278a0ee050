"""Dify DSL import (SPEC §10): the examples parse; bad documents fail with a message saying why."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from inkwell.apps.config import AppConfig
from inkwell.apps.service import DSLError, parse_dsl

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "apps"
EXAMPLE_FILES = sorted(EXAMPLES.glob("*.yml"))


def document(**changes: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "version": "0.6.0",
        "kind": "app",
        "app": {"name": "Doc", "mode": "completion"},
        "model_config": {
            "model": {"provider": "builtin", "name": "echo", "mode": "chat", "completion_params": {}},
            "pre_prompt": "{{query}}",
            "user_input_form": [{"paragraph": {"variable": "query", "label": "Query", "required": True}}],
        },
    }
    doc.update(changes)
    return doc


def text(doc: Any) -> str:
    return yaml.safe_dump(doc)


def test_there_are_examples() -> None:
    assert {p.name for p in EXAMPLE_FILES} >= {"demo.yml", "translator.yml"}


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=lambda p: p.name)
def test_examples_parse(path: Path) -> None:
    raw = path.read_text(encoding="utf-8")
    fields = parse_dsl(raw)
    doc = yaml.safe_load(raw)
    assert fields["name"] == doc["app"]["name"]
    assert fields["mode"] == "completion"
    assert fields["description"] == doc["app"].get("description", "")
    assert fields["app_model_config"] == doc["model_config"]  # stored verbatim
    config = AppConfig.from_model_config(fields["app_model_config"])
    assert config.user_input_form, path
    assert config.model.name


def test_demo_fields() -> None:
    fields = parse_dsl((EXAMPLES / "demo.yml").read_text(encoding="utf-8"))
    assert fields["name"] == "Inkwell demo"
    assert fields["icon"] == "🖋️"
    assert fields["tags"] == []
    config = AppConfig.from_model_config(fields["app_model_config"])
    assert [(i.type, i.variable, i.required) for i in config.user_input_form] == [
        ("text-input", "topic", True),
        ("select", "tone", False),
    ]
    assert config.user_input_form[0].max_length == 200
    assert config.user_input_form[1].options == ["friendly", "formal", "playful"]
    assert config.user_input_form[1].default == "friendly"


def test_translator_provider_key() -> None:
    fields = parse_dsl((EXAMPLES / "translator.yml").read_text(encoding="utf-8"))
    config = AppConfig.from_model_config(fields["app_model_config"])
    assert config.model.provider == "langgenius/openai/openai"
    assert config.model.provider_key == "openai"
    assert config.more_like_this.enabled is True
    assert config.retriever_resource.enabled is False


def test_minimal_document_and_defaults() -> None:
    doc = document()
    del doc["version"]
    del doc["kind"]
    fields = parse_dsl(text(doc))
    assert fields["name"] == "Doc"
    assert fields["description"] == ""
    assert fields["tags"] == []
    assert fields["icon"] is None


def test_older_minor_versions_are_accepted() -> None:
    assert parse_dsl(text(document(version="0.1.5")))["name"] == "Doc"


def test_tags_are_strings() -> None:
    doc = document()
    doc["app"]["tags"] = ["a", 1]
    assert parse_dsl(text(doc))["tags"] == ["a", "1"]


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("app: [unclosed\n", "not valid YAML"),
        ("key: value\n  bad indent: x\n", "not valid YAML"),
        ("", "a DSL file must be a YAML mapping"),
        ("- a\n- b\n", "a DSL file must be a YAML mapping"),
        ("just a string\n", "a DSL file must be a YAML mapping"),
        ("42\n", "a DSL file must be a YAML mapping"),
    ],
)
def test_not_a_mapping(raw: str, message: str) -> None:
    with pytest.raises(DSLError, match=message):
        parse_dsl(raw)


def _without_app() -> dict[str, Any]:
    doc = document()
    del doc["app"]
    return doc


def _without_model_config() -> dict[str, Any]:
    doc = document()
    del doc["model_config"]
    return doc


def _app(**changes: Any) -> dict[str, Any]:
    doc = document()
    doc["app"].update(changes)
    return doc


def _model_config(**changes: Any) -> dict[str, Any]:
    doc = document()
    doc["model_config"].update(changes)
    return doc


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        pytest.param(document(kind="workflow"), "kind must be 'app', not 'workflow'", id="kind"),
        pytest.param(document(version="1.0.0"), "DSL version 1.0.0 is newer than this server supports", id="newer"),
        pytest.param(document(version="abc"), "unparsable DSL version 'abc'", id="unparsable-version"),
        pytest.param(_without_app(), "the 'app' section is missing", id="no-app"),
        pytest.param(document(app="completion"), "the 'app' section is missing", id="app-not-mapping"),
        pytest.param(_app(mode="chat"), "app.mode is 'chat': only completion apps can be imported", id="chat"),
        pytest.param(_app(mode="workflow"), "app.mode is 'workflow'", id="workflow"),
        pytest.param(_app(mode=None), "app.mode is None", id="no-mode"),
        pytest.param(_app(name=""), "app.name is required", id="no-name"),
        pytest.param(_without_model_config(), "the 'model_config' section is missing", id="no-model-config"),
        pytest.param(document(model_config=[]), "the 'model_config' section is missing", id="model-config-list"),
        pytest.param(_model_config(model="gpt-4o"), "model_config is invalid: model_config.model", id="model-str"),
        pytest.param(
            _model_config(model={"provider": "builtin", "name": "echo", "mode": "agent"}),
            "model_config is invalid",
            id="model-mode",
        ),
        pytest.param(_model_config(model={"provider": "builtin"}), "model_config is invalid", id="model-no-name"),
        pytest.param(
            _model_config(user_input_form={"paragraph": {}}),
            "user_input_form must be a list",
            id="form-not-list",
        ),
        pytest.param(
            _model_config(user_input_form=[{"file": {"variable": "f", "label": "F"}}]),
            "user_input_form type 'file' is not supported in completion apps",
            id="form-file",
        ),
        pytest.param(
            _model_config(user_input_form=[{"paragraph": {"label": "no variable"}}]),
            "user_input_form item 'paragraph' needs a variable name",
            id="form-no-variable",
        ),
        pytest.param(
            _model_config(user_input_form=[{"paragraph": {"variable": "a"}, "select": {"variable": "b"}}]),
            "exactly one form type key",
            id="form-two-keys",
        ),
        pytest.param(_model_config(user_input_form=["query"]), "exactly one form type key", id="form-str"),
        pytest.param(_model_config(prompt_type="weird"), "model_config is invalid", id="prompt-type"),
    ],
)
def test_bad_documents(doc: dict[str, Any], message: str) -> None:
    with pytest.raises(DSLError) as info:
        parse_dsl(text(doc))
    assert message in str(info.value)


def test_dsl_error_is_a_value_error() -> None:
    assert issubclass(DSLError, ValueError)
