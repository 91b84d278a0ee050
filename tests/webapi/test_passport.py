"""Passports (SPEC §9, §11; reference §4.4): issue, expiry, forgery, transport, and the per-request
re-check of the app and its site."""

from __future__ import annotations

import asyncio
import base64
import time
import warnings
from collections.abc import Callable

import httpx
import jwt
import orjson

from tests.conftest import SECRET, RunningServer
from tests.webapi.conftest import (
    disable_site,
    end_user,
    passport,
    published,
    republish,
    update_app,
    visitor,
    web_headers,
)


def claims(token: str) -> dict[str, object]:
    decoded: dict[str, object] = jwt.decode(token, SECRET, algorithms=["HS256"])
    return decoded


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def assert_401(resp: httpx.Response, message: str) -> None:
    assert resp.status_code == 401, resp.text
    assert resp.json() == {"code": "unauthorized", "message": message, "status": 401}
    assert resp.headers["www-authenticate"].startswith("Bearer")


async def test_passport_is_a_signed_expiring_jwt_bound_to_a_new_browser_end_user(
    server: RunningServer, client: httpx.AsyncClient
) -> None:
    app = await published(server)
    token = await passport(client, app)
    header = jwt.get_unverified_header(token)
    assert header["alg"] == "HS256"
    body = claims(token)
    assert body["app_id"] == app.app_id and body["iss"] == app.app_id
    assert body["app_code"] == app.code
    assert body["sub"] == "Web API Passport"
    assert isinstance(body["exp"], int) and isinstance(body["iat"], int)
    assert body["exp"] - body["iat"] == server.settings.passport_ttl_seconds
    assert abs(body["iat"] - time.time()) < 60
    user = await end_user(app, str(body["end_user_id"]))
    assert user is not None and user.app_id == app.app_id
    assert user.type == "browser" and user.is_anonymous

    # each passport without user_id is a new end user
    other = claims(await passport(client, app))
    assert other["end_user_id"] != body["end_user_id"]


async def test_user_id_reuses_the_end_user_of_that_session(server: RunningServer, client: httpx.AsyncClient) -> None:
    app = await published(server)
    first = claims(await passport(client, app, user_id="browser-session-1"))
    again = claims(await passport(client, app, user_id="browser-session-1"))
    other = claims(await passport(client, app, user_id="browser-session-2"))
    assert first["end_user_id"] == again["end_user_id"] != other["end_user_id"]
    user = await end_user(app, str(first["end_user_id"]))
    assert user is not None and user.session_id == "browser-session-1"


async def test_passport_errors(server: RunningServer, client: httpx.AsyncClient) -> None:
    app = await published(server)
    url = app.url("/passport")
    assert_401(await client.get(url), "X-App-Code header is missing.")
    resp = await client.get(url, headers={"X-App-Code": "no-such-code"})
    assert resp.status_code == 404 and resp.json()["code"] == "not_found"
    resp = await client.get(url, headers={"X-App-Code": ""})
    assert resp.status_code == 404

    await disable_site(app)
    resp = await client.get(url, headers={"X-App-Code": app.code})
    assert resp.status_code == 404 and resp.json()["code"] == "not_found"
    assert await republish(app) == app.code  # re-publishing keeps the code
    assert (await client.get(url, headers={"X-App-Code": app.code})).status_code == 200

    await update_app(app, enable_site=False)
    assert (await client.get(url, headers={"X-App-Code": app.code})).status_code == 404
    await update_app(app, enable_site=True, status="archived")
    assert (await client.get(url, headers={"X-App-Code": app.code})).status_code == 404


async def test_passport_travels_as_x_app_passport_or_bearer(server: RunningServer, client: httpx.AsyncClient) -> None:
    app = await published(server)
    token = await passport(client, app)
    site = app.url("/site")
    assert (await client.get(site, headers=web_headers(app, token))).status_code == 200
    bearer = {"X-App-Code": app.code, "Authorization": f"Bearer {token}"}
    assert (await client.get(site, headers=bearer)).status_code == 200
    assert (await client.get(site, headers={"Authorization": f"bearer {token}"})).status_code == 200

    assert_401(await client.get(site, headers={"X-App-Code": app.code}), "App token is missing.")
    assert_401(
        await client.get(site, headers={"X-App-Code": app.code, "Authorization": f"Basic {token}"}),
        "Invalid Authorization header format. Expected 'Bearer <api-key>' format.",
    )
    assert_401(await client.get(site, headers=web_headers(app, "not-a-jwt")), "Invalid token.")
    # an API key is not a passport
    assert_401(await client.get(site, headers=web_headers(app, app.key)), "Invalid token.")


async def test_forged_passports_are_refused(server: RunningServer, client: httpx.AsyncClient) -> None:
    app = await published(server)
    token = await passport(client, app)
    body = claims(token)
    site = app.url("/site")

    wrong_key = jwt.encode(body, "another-secret-key-of-sufficient-length-123", algorithm="HS256")
    assert_401(await client.get(site, headers=web_headers(app, wrong_key)), "Invalid token signature.")

    # alg "none": no signature at all
    none_header = _b64(orjson.dumps({"alg": "none", "typ": "JWT"}))
    unsigned = f"{none_header}.{_b64(orjson.dumps(body))}."
    assert_401(await client.get(site, headers=web_headers(app, unsigned)), "Invalid token.")

    # tampered claims (another end user) with the original signature
    head, _, signature = token.split(".")
    tampered = {**body, "end_user_id": "00000000-0000-0000-0000-000000000000"}
    forged = f"{head}.{_b64(orjson.dumps(tampered))}.{signature}"
    assert_401(await client.get(site, headers=web_headers(app, forged)), "Invalid token signature.")

    # signed with the right key but without an expiry (the reference's never-expiring passports)
    no_exp = {k: v for k, v in body.items() if k != "exp"}
    eternal = jwt.encode(no_exp, SECRET, algorithm="HS256")
    assert_401(await client.get(site, headers=web_headers(app, eternal)), "Invalid token.")

    # another algorithm with the same secret is not accepted either
    with warnings.catch_warnings():  # the test secret is short for HS512, which is beside the point
        warnings.simplefilter("ignore")
        hs512 = jwt.encode(body, SECRET, algorithm="HS512")
    assert_401(await client.get(site, headers=web_headers(app, hs512)), "Invalid token.")


async def test_passport_of_another_app_is_refused(server: RunningServer, client: httpx.AsyncClient) -> None:
    app = await published(server)
    other = await published(server)
    foreign = await passport(client, other)
    resp = await client.get(app.url("/site"), headers=web_headers(app, foreign))
    assert_401(resp, "The passport was issued for another app.")
    # its own code still works with it
    assert (await client.get(other.url("/site"), headers=web_headers(other, foreign))).status_code == 200


async def test_passports_expire(server_factory: Callable[..., RunningServer], client: httpx.AsyncClient) -> None:
    running = server_factory(passport_ttl_seconds=1)
    app = await published(running)
    token = await passport(client, app)
    body = claims(token)
    assert body["exp"] - body["iat"] == 1
    assert (await client.get(app.url("/site"), headers=web_headers(app, token))).status_code == 200
    await asyncio.sleep(max(0.0, float(body["exp"]) - time.time()) + 1.1)
    assert_401(await client.get(app.url("/site"), headers=web_headers(app, token)), "Token has expired.")
    # a fresh passport works again
    fresh = await passport(client, app)
    assert (await client.get(app.url("/site"), headers=web_headers(app, fresh))).status_code == 200


async def test_every_request_rechecks_the_site_and_the_app(server: RunningServer, client: httpx.AsyncClient) -> None:
    app = await published(server)
    me = await visitor(client, app)
    assert (await me.get("/parameters")).status_code == 200

    await disable_site(app)
    resp = await me.get("/parameters")
    assert resp.status_code == 400
    assert resp.json() == {"code": "bad_request", "message": "Site is disabled.", "status": 400}
    assert (await me.complete("hello")).status_code == 400
    await republish(app)
    assert (await me.get("/parameters")).status_code == 200

    await update_app(app, enable_site=False)
    resp = await me.get("/site")
    assert resp.status_code == 400 and resp.json()["message"] == "Site is disabled."
    await update_app(app, enable_site=True, status="archived")
    resp = await me.get("/site")
    assert resp.status_code == 403 and resp.json()["code"] == "forbidden"
    await update_app(app, status="normal")
    assert (await me.get("/site")).status_code == 200


async def test_a_passport_from_one_worker_is_good_on_another(
    server: RunningServer, server_factory: Callable[..., RunningServer], client: httpx.AsyncClient
) -> None:
    """Passports are stateless (SPEC §10): a second server on the same database accepts them, and a
    site disabled through the database is refused by both."""
    other = server_factory()
    app = await published(server)
    token = await passport(client, app)
    resp = await client.post(
        f"{other.url}/api/completion-messages",
        headers=web_headers(app, token),
        json={"inputs": {"query": "across workers"}, "response_mode": "blocking"},
    )
    assert resp.status_code == 200, resp.text
    await disable_site(app)
    for running in (server, other):
        resp = await client.get(f"{running.url}/api/site", headers=web_headers(app, token))
        assert resp.status_code == 400
