"""The error envelope of SPEC §5 for everything a client can get wrong, on SQLite and PostgreSQL.

Every error is exactly ``{"code", "message", "status"}`` (no FastAPI ``detail``, no traceback) and
carries ``X-Request-Id``; 401s carry ``WWW-Authenticate``.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlmodel import col

from inkwell.apps.models import ApiKey
from inkwell.apps.service import create_key, revoke_key
from inkwell.auth.keys import digest_key
from inkwell.db import Database
from tests.api.conftest import assert_error, complete, database, update_app
from tests.conftest import RunningServer, SeededApp, dsl, seed

GOOD = {"inputs": {"query": "hi"}, "user": "tester"}


def url(app: SeededApp) -> str:
    return f"{app.base_url}/v1/completion-messages"


# --------------------------------------------------------------------------------------------------
# routing


@pytest.mark.parametrize("path", ["/v1/nope", "/nope", "/", "/v1/completion-messages/abc", "/v1/info/extra"])
async def test_unknown_route_is_json_404(client: httpx.AsyncClient, shared_app: SeededApp, path: str) -> None:
    for method in ("GET", "POST"):
        resp = await client.request(method, shared_app.base_url + path, headers=shared_app.headers)
        assert_error(resp, 404, "not_found", "The requested URL was not found on the server.")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/completion-messages"),
        ("PUT", "/v1/completion-messages"),
        ("DELETE", "/v1/completion-messages"),
        ("GET", "/v1/completion-messages/some-task/stop"),
        ("POST", "/v1/info"),
        ("POST", "/v1/parameters"),
        ("DELETE", "/healthz"),
    ],
)
async def test_wrong_method_is_json_405(
    client: httpx.AsyncClient, shared_app: SeededApp, method: str, path: str
) -> None:
    resp = await client.request(method, shared_app.base_url + path, headers=shared_app.headers)
    assert_error(resp, 405, "method_not_allowed", "The method is not allowed for the requested URL.")


# --------------------------------------------------------------------------------------------------
# bodies


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "Request body is empty: a JSON object is required."),
        (b"   \n", "Request body is empty: a JSON object is required."),
        (b"[]", "Request body must be a JSON object."),
        (b'[{"inputs": {}, "user": "u"}]', "Request body must be a JSON object."),
        (b'"inputs"', "Request body must be a JSON object."),
        (b"42", "Request body must be a JSON object."),
        (b"null", "Request body must be a JSON object."),
    ],
)
async def test_body_that_is_not_a_json_object(
    client: httpx.AsyncClient, shared_app: SeededApp, content: bytes, message: str
) -> None:
    headers = {**shared_app.headers, "Content-Type": "application/json"}
    resp = await client.post(url(shared_app), headers=headers, content=content)
    assert_error(resp, 400, "invalid_param", message)


@pytest.mark.parametrize("content", [b'{"inputs": ', b"{'inputs': {}}", b'{"inputs": {}, "user": "u",}', b"\xff\xfe{}"])
async def test_malformed_json(client: httpx.AsyncClient, shared_app: SeededApp, content: bytes) -> None:
    headers = {**shared_app.headers, "Content-Type": "application/json"}
    resp = await client.post(url(shared_app), headers=headers, content=content)
    body = assert_error(resp, 400, "invalid_param")
    assert body["message"].startswith("Request body is not valid JSON"), body


@pytest.mark.parametrize(
    "content_type",
    [None, "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "application/jsonx"],
)
async def test_wrong_content_type_is_415(
    client: httpx.AsyncClient, shared_app: SeededApp, content_type: str | None
) -> None:
    headers = dict(shared_app.headers)
    if content_type is not None:
        headers["Content-Type"] = content_type
    resp = await client.post(url(shared_app), headers=headers, content=b'{"inputs": {"query": "hi"}, "user": "u"}')
    assert_error(
        resp,
        415,
        "unsupported_media_type",
        "Did not attempt to load JSON data because the request Content-Type was not 'application/json'.",
    )


async def test_json_content_type_with_parameters_is_accepted(client: httpx.AsyncClient, shared_app: SeededApp) -> None:
    headers = {**shared_app.headers, "Content-Type": "Application/JSON; charset=utf-8"}
    resp = await client.post(url(shared_app), headers=headers, content=b'{"inputs": {"query": "hi"}, "user": "u"}')
    assert resp.status_code == 200, resp.text
    assert resp.json()["answer"] == "hi\n"


@pytest.fixture
def small_server(server_factory: Callable[..., RunningServer]) -> RunningServer:
    return server_factory(max_request_bytes=2048)


async def test_body_over_the_limit_is_413(client: httpx.AsyncClient, small_server: RunningServer) -> None:
    app = await seed(small_server, dsl(f"small-{uuid.uuid4().hex[:6]}"))
    message = "Request body is larger than the limit of 2048 bytes."

    # declared by Content-Length
    resp = await complete(client, app, {"query": "x" * 4096})
    assert_error(resp, 413, "request_too_large", message)

    # chunked, no Content-Length: counted while reading
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"user": "u", "inputs": {"query": "'
        for _ in range(8):
            yield b"y" * 512
        yield b'"}}'

    headers = {**app.headers, "Content-Type": "application/json"}
    resp = await client.post(url(app), headers=headers, content=chunks())
    assert_error(resp, 413, "request_too_large", message)

    # just under the limit still works
    resp = await complete(client, app, {"query": "z" * 1500})
    assert resp.status_code == 200, resp.text


# --------------------------------------------------------------------------------------------------
# request schema


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"user": "u"}, "inputs"),
        ({"inputs": None, "user": "u"}, "inputs"),
        ({"inputs": [], "user": "u"}, "inputs"),
        ({"inputs": "query=hi", "user": "u"}, "inputs"),
        ({"inputs": 3, "user": "u"}, "inputs"),
        ({"inputs": {"query": "hi"}, "user": "u", "response_mode": "fast"}, "response_mode"),
        ({"inputs": {"query": "hi"}, "user": "u", "response_mode": 1}, "response_mode"),
        ({"inputs": {"query": "hi"}, "user": "u", "query": None}, "query"),
        ({"inputs": {"query": "hi"}, "user": "u", "query": 12}, "query"),
        ({"inputs": {"query": "hi"}, "user": "u", "query": ["hi"]}, "query"),
        ({"inputs": {"query": "hi"}, "user": "u", "files": "nope"}, "files"),
        ({"inputs": {"query": "hi"}, "user": ["u"]}, "user"),
        ({"inputs": {"query": "hi"}, "user": {"id": "u"}}, "user"),
    ],
)
async def test_schema_violations_name_the_field(
    client: httpx.AsyncClient, shared_app: SeededApp, body: dict[str, Any], field: str
) -> None:
    resp = await client.post(url(shared_app), headers=shared_app.headers, json=body)
    error = assert_error(resp, 400, "invalid_param")
    assert error["message"].startswith(f"{field}"), error
    assert "\n" not in error["message"], error


@pytest.mark.parametrize("user", [None, "", False, "missing"])
async def test_user_must_be_provided(client: httpx.AsyncClient, shared_app: SeededApp, user: Any) -> None:
    body: dict[str, Any] = {"inputs": {"query": "hi"}}
    if user != "missing":
        body["user"] = user
    resp = await client.post(url(shared_app), headers=shared_app.headers, json=body)
    assert_error(resp, 400, "invalid_param", "Arg user must be provided.")


async def test_user_that_cannot_be_stored_is_400_not_500(client: httpx.AsyncClient, shared_app: SeededApp) -> None:
    resp = await complete(client, shared_app, {"query": "hi"}, user="u" * 256)
    assert_error(resp, 400, "invalid_param", "Arg user must be at most 255 characters.")
    resp = await complete(client, shared_app, {"query": "hi"}, user="a\x00b")
    assert_error(resp, 400, "invalid_param", "Arg user must not contain NUL characters.")
    resp = await complete(client, shared_app, {"query": "hi"}, user="u" * 255)
    assert resp.status_code == 200, resp.text
    stop = f"{shared_app.base_url}/v1/completion-messages/any/stop"
    resp = await client.post(stop, headers=shared_app.headers, json={"user": "u" * 256})
    assert_error(resp, 400, "invalid_param", "Arg user must be at most 255 characters.")


async def test_numeric_user_is_accepted(client: httpx.AsyncClient, shared_app: SeededApp) -> None:
    resp = await complete(client, shared_app, {"query": "hi"}, user=12345)
    assert resp.status_code == 200, resp.text


async def test_extra_keys_are_ignored(client: httpx.AsyncClient, shared_app: SeededApp) -> None:
    resp = await complete(client, shared_app, {"query": "hi"}, retriever_from="dev", trace_id="t", whatever=[1])
    assert resp.status_code == 200, resp.text


# --------------------------------------------------------------------------------------------------
# authentication


def assert_unauthorized(resp: httpx.Response, message: str) -> None:
    assert_error(resp, 401, "unauthorized", message)
    assert resp.headers["www-authenticate"].startswith("Bearer"), resp.headers


NO_HEADER = "Authorization header must be provided and start with 'Bearer'"
BAD_SCHEME = "Authorization scheme must be 'Bearer'"
INVALID = "Access token is invalid"


@pytest.mark.parametrize(
    ("authorization", "message"),
    [
        (None, NO_HEADER),
        ("", NO_HEADER),
        ("Bearer", NO_HEADER),
        ("{key}", NO_HEADER),
        ("Basic {key}", BAD_SCHEME),
        ("Token {key}", BAD_SCHEME),
        ("Bearerx {key}", BAD_SCHEME),
        ("Bearer app-000000000000000000000000", INVALID),
        ("Bearer {key}x", INVALID),
        ("Bearer not-a-key", INVALID),
    ],
)
async def test_bad_authorization_is_401(
    client: httpx.AsyncClient, shared_app: SeededApp, authorization: str | None, message: str
) -> None:
    headers = {} if authorization is None else {"Authorization": authorization.format(key=shared_app.key)}
    for method, path, kwargs in (
        ("POST", "/v1/completion-messages", {"json": GOOD}),
        ("POST", "/v1/completion-messages/t/stop", {"json": {"user": "u"}}),
        ("GET", "/v1/info", {}),
        ("GET", "/v1/parameters", {}),
        ("GET", "/v1/meta", {}),
    ):
        resp = await client.request(method, shared_app.base_url + path, headers=headers, **kwargs)
        assert_unauthorized(resp, message)


@pytest.mark.parametrize("scheme", ["bearer", "BEARER", "BeArEr"])
async def test_scheme_is_case_insensitive(client: httpx.AsyncClient, shared_app: SeededApp, scheme: str) -> None:
    resp = await client.post(url(shared_app), headers={"Authorization": f"{scheme} {shared_app.key}"}, json=GOOD)
    assert resp.status_code == 200, resp.text


async def test_auth_comes_before_body_checks(client: httpx.AsyncClient, shared_app: SeededApp) -> None:
    resp = await client.post(url(shared_app), content=b"not json", headers={"Content-Type": "text/plain"})
    assert_unauthorized(resp, NO_HEADER)


async def key_id(db: Database, secret_key: str, api_key: str) -> str:
    async with db.session() as session:
        query = select(col(ApiKey.id)).where(col(ApiKey.digest) == digest_key(secret_key, api_key))
        return str((await session.execute(query)).scalar_one())


async def test_revoked_key_is_401(client: httpx.AsyncClient, server: RunningServer, echo_app: SeededApp) -> None:
    assert (await complete(client, echo_app, {"query": "hi"})).status_code == 200
    async with database(server) as db:
        revoked = await key_id(db, server.settings.secret_key, echo_app.key)
        assert await revoke_key(db, revoked) == 1
        assert await revoke_key(db, revoked) == 0  # already revoked
    assert_unauthorized(await complete(client, echo_app, {"query": "hi"}), INVALID)
    assert_unauthorized(await client.get(f"{echo_app.base_url}/v1/info", headers=echo_app.headers), INVALID)


async def test_revoking_one_key_leaves_the_others(
    client: httpx.AsyncClient, server: RunningServer, echo_app: SeededApp
) -> None:
    async with database(server) as db:
        other_key = await create_key(db, server.settings.secret_key, echo_app.app_id)
        assert await revoke_key(db, await key_id(db, server.settings.secret_key, echo_app.key)) == 1
    other = SeededApp(app_id=echo_app.app_id, key=other_key, base_url=echo_app.base_url)
    assert_unauthorized(await complete(client, echo_app, {"query": "hi"}), INVALID)
    assert (await complete(client, other, {"query": "hi"})).status_code == 200


# --------------------------------------------------------------------------------------------------
# app state


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"status": "archived"}, "The app's status is abnormal."),
        ({"status": "disabled"}, "The app's status is abnormal."),
        ({"enable_api": False}, "The app's API service has been disabled."),
    ],
)
async def test_disabled_app_is_403(
    client: httpx.AsyncClient, server: RunningServer, echo_app: SeededApp, values: dict[str, Any], message: str
) -> None:
    assert (await complete(client, echo_app, {"query": "hi"})).status_code == 200
    await update_app(server, echo_app.app_id, **values)
    for method, path, kwargs in (
        ("POST", "/v1/completion-messages", {"json": GOOD}),
        ("POST", "/v1/completion-messages/t/stop", {"json": {"user": "u"}}),
        ("GET", "/v1/info", {}),
        ("GET", "/v1/parameters", {}),
        ("GET", "/v1/meta", {}),
    ):
        resp = await client.request(method, echo_app.base_url + path, headers=echo_app.headers, **kwargs)
        assert_error(resp, 403, "forbidden", message)
    # and back on
    await update_app(server, echo_app.app_id, status="normal", enable_api=True)
    assert (await complete(client, echo_app, {"query": "hi"})).status_code == 200


async def test_chat_app_is_unavailable_on_completion_messages(
    client: httpx.AsyncClient, server: RunningServer, echo_app: SeededApp
) -> None:
    await update_app(server, echo_app.app_id, mode="chat")
    for mode in ("blocking", "streaming"):
        resp = await complete(client, echo_app, {"query": "hi"}, response_mode=mode)
        assert_error(resp, 400, "app_unavailable", "App unavailable, please check your app configurations.")


async def test_app_with_a_broken_config_is_unavailable(
    client: httpx.AsyncClient, server: RunningServer, echo_app: SeededApp
) -> None:
    await update_app(server, echo_app.app_id, app_model_config={"model": "nope"})
    resp = await complete(client, echo_app, {"query": "hi"})
    assert_error(resp, 400, "app_unavailable", "App unavailable, please check your app configurations.")
    resp = await client.get(f"{echo_app.base_url}/v1/parameters", headers=echo_app.headers)
    assert_error(resp, 400, "app_unavailable", "App unavailable, please check your app configurations.")


# --------------------------------------------------------------------------------------------------
# request id


async def test_request_id_is_echoed_when_sane(client: httpx.AsyncClient, shared_app: SeededApp) -> None:
    resp = await client.get(f"{shared_app.base_url}/v1/nope", headers={"X-Request-Id": "req-123.abc_X"})
    assert_error(resp, 404, "not_found")
    assert resp.headers["x-request-id"] == "req-123.abc_X"

    resp = await client.get(f"{shared_app.base_url}/v1/nope", headers={"X-Request-Id": "bad id\twith spaces"})
    assert_error(resp, 404, "not_found")
    assert resp.headers["x-request-id"] != "bad id\twith spaces"

    resp = await complete(client, shared_app, {"query": "hi"})
    assert resp.status_code == 200
    assert resp.headers["x-request-id"]
