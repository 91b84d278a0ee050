"""CORS (reference §1.5, §4.4): ``/api`` for the configured origins with credentials, ``/v1`` for any
origin without; preflights answered; no CORS elsewhere."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from tests.conftest import RunningServer, dsl, seed
from tests.webapi.conftest import published, visitor

ALLOWED = "https://pages.example.com"
PREFLIGHT = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type,x-app-passport"}


async def test_cors_headers(server_factory: Callable[..., RunningServer], client: httpx.AsyncClient) -> None:
    running = server_factory(web_api_cors_allow_origins=[ALLOWED, "http://localhost:3000"])
    app = await published(running)
    me = await visitor(client, app)

    # /api: preflight from an allowed origin
    resp = await client.options(app.url("/completion-messages"), headers={"Origin": ALLOWED, **PREFLIGHT})
    assert resp.status_code == 200
    assert resp.headers["access-control-allow-origin"] == ALLOWED
    assert resp.headers["access-control-allow-credentials"] == "true"
    assert "POST" in resp.headers["access-control-allow-methods"]
    allowed_headers = resp.headers["access-control-allow-headers"].lower()
    for name in ("content-type", "authorization", "x-app-code", "x-app-passport"):
        assert name in allowed_headers
    assert "origin" in resp.headers["vary"].lower()

    # /api: a real request, an error answer too
    resp = await client.get(app.url("/site"), headers={**me.headers, "Origin": ALLOWED})
    assert resp.status_code == 200
    assert resp.headers["access-control-allow-origin"] == ALLOWED
    assert resp.headers["access-control-allow-credentials"] == "true"
    assert "x-request-id" in resp.headers["access-control-expose-headers"].lower()
    resp = await client.get(app.url("/site"), headers={"Origin": ALLOWED})
    assert resp.status_code == 401 and resp.headers["access-control-allow-origin"] == ALLOWED

    # /api: another origin gets nothing
    evil = {"Origin": "https://evil.example", **PREFLIGHT}
    resp = await client.options(app.url("/completion-messages"), headers=evil)
    assert resp.status_code == 403
    assert "access-control-allow-origin" not in resp.headers
    resp = await client.get(app.url("/site"), headers={**me.headers, "Origin": "https://evil.example"})
    assert resp.status_code == 200 and "access-control-allow-origin" not in resp.headers

    # /v1: any origin, no credentials
    seeded = await seed(running, dsl("cors-v1"))
    resp = await client.options(
        f"{running.url}/v1/completion-messages", headers={"Origin": "https://evil.example", **PREFLIGHT}
    )
    assert resp.status_code == 200
    assert resp.headers["access-control-allow-origin"] == "*"
    assert "access-control-allow-credentials" not in resp.headers
    assert "authorization" in resp.headers["access-control-allow-headers"].lower()
    resp = await client.get(f"{running.url}/v1/info", headers={**seeded.headers, "Origin": "https://any.example"})
    assert resp.status_code == 200
    assert resp.headers["access-control-allow-origin"] == "*"
    assert "access-control-allow-credentials" not in resp.headers
    resp = await client.get(f"{running.url}/v1/info", headers={"Origin": "https://any.example"})
    assert resp.status_code == 401 and resp.headers["access-control-allow-origin"] == "*"

    # streams carry them too
    async with client.stream(
        "POST",
        app.url("/completion-messages"),
        headers={**me.headers, "Origin": ALLOWED},
        json={"inputs": {"query": "hi"}, "response_mode": "streaming"},
    ) as stream:
        assert stream.headers["access-control-allow-origin"] == ALLOWED
        await stream.aread()

    # no Origin, or not /api or /v1: no CORS headers
    resp = await client.get(app.url("/site"), headers=me.headers)
    assert "access-control-allow-origin" not in resp.headers
    resp = await client.get(f"{running.url}/healthz", headers={"Origin": ALLOWED})
    assert "access-control-allow-origin" not in resp.headers


async def test_web_api_allows_no_cross_origin_by_default(server: RunningServer, client: httpx.AsyncClient) -> None:
    app = await published(server)
    resp = await client.options(app.url("/passport"), headers={"Origin": "http://localhost:3000", **PREFLIGHT})
    assert resp.status_code == 403 and "access-control-allow-origin" not in resp.headers


async def test_wildcard_reflects_any_origin(
    server_factory: Callable[..., RunningServer], client: httpx.AsyncClient
) -> None:
    running = server_factory(web_api_cors_allow_origins=["*"])
    app = await published(running)
    resp = await client.get(app.url("/passport"), headers={"X-App-Code": app.code, "Origin": "https://x.example"})
    assert resp.status_code == 200
    assert resp.headers["access-control-allow-origin"] == "https://x.example"
    assert resp.headers["access-control-allow-credentials"] == "true"
