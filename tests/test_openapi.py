"""``openapi.yaml`` at the repository root is generated from the application and kept in sync (SPEC §10)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from inkwell.main import create_app
from inkwell.openapi import to_yaml
from inkwell.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
COMMITTED = ROOT / "openapi.yaml"
DRIFT = "openapi.yaml is out of date with the application: run `make openapi` and commit the result"

REQUIRED_PATHS = [
    "/v1/completion-messages",
    "/v1/completion-messages/{task_id}/stop",
    "/v1/info",
    "/v1/parameters",
    "/v1/meta",
    "/healthz",
    "/readyz",
]
ERROR_BODY = {"$ref": "#/components/schemas/ErrorBody"}


def _generate(**settings: Any) -> str:
    return to_yaml(create_app(Settings(secret_key="x" * 40, **settings)))


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    loaded = yaml.safe_load(COMMITTED.read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


def test_committed_document_matches_the_application() -> None:
    assert COMMITTED.is_file(), f"{COMMITTED} is missing: run `make openapi`"
    assert COMMITTED.read_text(encoding="utf-8") == _generate(database_url="sqlite+aiosqlite:///./var/x.db"), DRIFT


def test_generation_does_not_depend_on_settings() -> None:
    sqlite = _generate(database_url="sqlite+aiosqlite:///./var/a.db")
    fleet = _generate(
        env="production",
        database_url="postgresql://inkwell@db.internal:5432/inkwell",
        redis_url="redis://cache.internal:6379/0",
        ping_interval=3,
        builtin_token_delay_ms=30,
        max_request_bytes=4096,
    )
    assert sqlite == fleet


def test_cli_writes_the_committed_document(tmp_path: Path) -> None:
    """``inkwell openapi`` in a fresh process (other hash seed, other database URL) writes the same bytes."""
    output = tmp_path / "openapi.yaml"
    env = {
        **os.environ,
        "PYTHONHASHSEED": "12345",
        "INKWELL_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'other.db'}",
    }
    subprocess.run(
        [sys.executable, "-m", "inkwell.cli", "openapi", "--output", str(output)],
        check=True,
        env=env,
        cwd=tmp_path,
        timeout=60,
    )
    assert output.read_text(encoding="utf-8") == COMMITTED.read_text(encoding="utf-8"), DRIFT


def test_document_has_the_paths(document: dict[str, Any]) -> None:
    assert document["openapi"].startswith("3.")
    for path in REQUIRED_PATHS:
        assert path in document["paths"], path


def test_completion_request_and_responses(document: dict[str, Any]) -> None:
    operation = document["paths"]["/v1/completion-messages"]["post"]
    body = operation["requestBody"]
    assert body["required"] is True
    assert body["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/CompletionRequest"}
    ok = operation["responses"]["200"]["content"]
    assert ok["application/json"]["schema"] == {"$ref": "#/components/schemas/CompletionResponse"}
    frames = {item["$ref"].rsplit("/", 1)[-1] for item in ok["text/event-stream"]["schema"]["oneOf"]}
    assert {"MessageEventFrame", "MessageEndEventFrame", "ErrorEventFrame", "PingFrame"} <= frames


def test_stop_endpoint(document: dict[str, Any]) -> None:
    operation = document["paths"]["/v1/completion-messages/{task_id}/stop"]["post"]
    body = operation["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/StopRequest"}
    ok = operation["responses"]["200"]["content"]["application/json"]["schema"]
    assert ok == {"$ref": "#/components/schemas/ResultResponse"}


def test_error_responses_reference_the_error_body(document: dict[str, Any]) -> None:
    seen = 0
    for path, item in document["paths"].items():
        for method, operation in item.items():
            for status, response in operation["responses"].items():
                if int(status) < 400:
                    continue
                assert int(status) != 422, f"{method} {path}: Inkwell answers validation errors with 400"
                assert response["content"]["application/json"]["schema"] == ERROR_BODY, (method, path, status)
                seen += 1
    assert seen
    errors = document["paths"]["/v1/completion-messages"]["post"]["responses"]
    assert {"400", "401", "403", "429"} <= set(map(str, errors))
    error_body = document["components"]["schemas"]["ErrorBody"]
    assert set(error_body["properties"]) == {"code", "message", "status"}


def test_every_reference_resolves(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            target = node.get("$ref")
            if isinstance(target, str):
                assert target.startswith("#/components/schemas/"), target
                assert target.rsplit("/", 1)[-1] in schemas, target
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(document)
