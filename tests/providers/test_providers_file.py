"""Providers declared in a providers file (``INKWELL_PROVIDERS_FILE``): routing, credentials, headers and
pricing (reference §6.7: ``price = tokens x unit_price x unit``, half-up to 7 decimals)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.conftest import RunningServer
from tests.fakes.openai_upstream import FakeOpenAI
from tests.providers.conftest import post_blocking, post_streaming, seed_model_app, wait_for_message

KEY_ENV = "INKWELL_TEST_LOCAL_PROVIDER_KEY"


@pytest.fixture
def files_server(
    fake_openai: FakeOpenAI,
    server_factory: Callable[..., RunningServer],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> RunningServer:
    """A server whose only upstream providers come from a providers file (no ``INKWELL_OPENAI_*``)."""
    monkeypatch.setenv(KEY_ENV, "sk-local-secret")
    spec: dict[str, Any] = {
        "providers": {
            "local": {
                "type": "openai_compatible",
                "base_url": fake_openai.base_url,
                "api_key_env": KEY_ENV,
                "headers": {"X-Tenant": "acme"},
                "models": {
                    "local-model": {
                        "pricing": {"input": "0.001", "output": "0.002", "unit": "0.001", "currency": "USD"}
                    },
                    "local-per-million": {
                        "pricing": {"input": "0.25", "output": "1.25", "unit": "0.000001", "currency": "EUR"}
                    },
                },
            },
            "openai": {
                "type": "openai_compatible",
                "base_url": fake_openai.base_url,
                "api_key": "sk-inline",
                "models": {
                    "gpt-4o-mini": {
                        "pricing": {"input": "0.00015", "output": "0.0006", "unit": "0.001", "currency": "USD"}
                    }
                },
            },
        }
    }
    path = tmp_path / "providers.yaml"
    path.write_text(yaml.safe_dump(spec), encoding="utf-8")
    return server_factory(providers_file=path)


async def test_priced_model_blocking_streaming_and_row(
    client: httpx.AsyncClient, fake_openai: FakeOpenAI, files_server: RunningServer
) -> None:
    app = await seed_model_app(files_server, provider="local", name="local-model", mode="chat")
    resp = await post_blocking(client, app, "Hello there")
    assert resp.status_code == 200, resp.text
    assert resp.json()["answer"] == "Hello, world!"
    usage = resp.json()["metadata"]["usage"]
    # 12 prompt and 7 completion tokens reported by the upstream
    expected = {
        "prompt_tokens": 12,
        "prompt_unit_price": "0.001",
        "prompt_price_unit": "0.001",
        "prompt_price": "0.0000120",  # 12 x 0.001 x 0.001
        "completion_tokens": 7,
        "completion_unit_price": "0.002",
        "completion_price_unit": "0.001",
        "completion_price": "0.0000140",  # 7 x 0.002 x 0.001
        "total_tokens": 19,
        "total_price": "0.0000260",
        "currency": "USD",
    }
    assert {k: usage[k] for k in expected} == expected

    sent = fake_openai.last
    assert sent.path == "/v1/chat/completions"
    assert sent.body["model"] == "local-model"
    assert sent.headers["authorization"] == "Bearer sk-local-secret"  # read from api_key_env
    assert sent.headers["x-tenant"] == "acme"

    row = await wait_for_message(files_server, app.app_id)
    assert row.status == "normal"
    assert row.model_provider == "local"
    assert (row.message_tokens, row.message_unit_price, row.message_price_unit, row.message_price) == (
        12,
        "0.001",
        "0.001",
        "0.0000120",
    )
    assert (row.answer_tokens, row.answer_unit_price, row.answer_price_unit, row.answer_price) == (
        7,
        "0.002",
        "0.001",
        "0.0000140",
    )
    assert row.total_price == "0.0000260"
    assert row.currency == "USD"

    # streaming: the same prices in message_end
    streaming_app = await seed_model_app(files_server, provider="local", name="local-model", mode="chat")
    _, frames = await post_streaming(client, streaming_app, "Hello there")
    assert frames[-1]["event"] == "message_end"
    stream_usage = frames[-1]["metadata"]["usage"]
    assert {k: stream_usage[k] for k in expected} == expected


async def test_prices_round_half_up_to_seven_decimals(
    client: httpx.AsyncClient, fake_openai: FakeOpenAI, files_server: RunningServer
) -> None:
    fake_openai.set_model_scenario("local-per-million", "normal", prompt_tokens=1, completion_tokens=3)
    app = await seed_model_app(files_server, provider="local", name="local-per-million", mode="completion")
    resp = await post_blocking(client, app, "Hello there")
    assert resp.status_code == 200, resp.text
    usage = resp.json()["metadata"]["usage"]
    expected = {
        "prompt_tokens": 1,
        "prompt_unit_price": "0.25",
        "prompt_price_unit": "0.000001",
        "prompt_price": "0.0000003",  # 0.00000025 half-up (half-even would give 0.0000002)
        "completion_tokens": 3,
        "completion_unit_price": "1.25",
        "completion_price_unit": "0.000001",
        "completion_price": "0.0000038",  # 0.00000375
        "total_tokens": 4,
        "total_price": "0.0000041",
        "currency": "EUR",
    }
    assert {k: usage[k] for k in expected} == expected
    assert fake_openai.last.path == "/v1/completions"
    row = await wait_for_message(files_server, app.app_id)
    assert (row.message_price, row.answer_price, row.total_price, row.currency) == (
        "0.0000003",
        "0.0000038",
        "0.0000041",
        "EUR",
    )


async def test_routing_by_provider_name(
    client: httpx.AsyncClient, fake_openai: FakeOpenAI, files_server: RunningServer
) -> None:
    # "langgenius/openai/openai" means the file's provider named "openai", with its own key and prices
    app = await seed_model_app(files_server, provider="langgenius/openai/openai", name="gpt-4o-mini")
    resp = await post_blocking(client, app, "Hello there")
    assert resp.status_code == 200, resp.text
    usage = resp.json()["metadata"]["usage"]
    assert (usage["prompt_price"], usage["completion_price"], usage["total_price"]) == (
        "0.0000018",  # 12 x 0.00015 x 0.001
        "0.0000042",  # 7 x 0.0006 x 0.001
        "0.0000060",
    )
    assert fake_openai.last.headers["authorization"] == "Bearer sk-inline"
    assert "x-tenant" not in fake_openai.last.headers

    # a model the file does not price: zero prices, never an error
    unlisted = await seed_model_app(files_server, provider="local", name="unlisted-model")
    resp = await post_blocking(client, unlisted, "Hello there")
    assert resp.status_code == 200, resp.text
    usage = resp.json()["metadata"]["usage"]
    assert (usage["prompt_tokens"], usage["completion_tokens"]) == (12, 7)
    assert (usage["prompt_unit_price"], usage["prompt_price"], usage["total_price"], usage["currency"]) == (
        "0",
        "0.0000000",
        "0.0000000",
        "USD",
    )
    assert fake_openai.last.body["model"] == "unlisted-model"

    # a provider the file does not declare
    missing = await seed_model_app(files_server, provider="elsewhere", name="some-model")
    resp = await post_blocking(client, missing, "Hello there")
    assert resp.status_code == 400
    assert resp.json() == {
        "code": "provider_not_initialize",
        "message": "Model some-model credentials is not initialized.",
        "status": 400,
    }
    assert len(fake_openai.requests) == 2
