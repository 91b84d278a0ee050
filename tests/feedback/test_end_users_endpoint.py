"""``GET /v1/end-users/{id}``: the reference's end-user detail, for this app's end users only."""

from __future__ import annotations

import re
import uuid

import httpx
import pytest

from inkwell.endusers.service import EndUserService
from tests.api.conftest import assert_error, database
from tests.conftest import RunningServer, SeededApp, dsl, seed
from tests.feedback.conftest import make_message, owner_of

NAIVE_ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d$")
END_USER_KEYS = {
    "id",
    "tenant_id",
    "app_id",
    "type",
    "external_user_id",
    "name",
    "is_anonymous",
    "session_id",
    "created_at",
    "updated_at",
}


async def _get(client: httpx.AsyncClient, app: SeededApp, end_user_id: str) -> httpx.Response:
    return await client.get(f"{app.base_url}/v1/end-users/{end_user_id}", headers=app.headers)


async def test_service_api_end_user(client: httpx.AsyncClient, server: RunningServer, echo_app: SeededApp) -> None:
    user = f"eu-{uuid.uuid4().hex[:8]} ü"
    end_user_id = await owner_of(server, await make_message(client, echo_app, user))
    resp = await _get(client, echo_app, end_user_id)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert set(body) == END_USER_KEYS
    assert {k: v for k, v in body.items() if k not in ("created_at", "updated_at")} == {
        "id": end_user_id,
        "tenant_id": None,
        "app_id": echo_app.app_id,
        "type": "service-api",
        "external_user_id": user,
        "name": None,
        "is_anonymous": False,
        "session_id": user,
    }
    assert NAIVE_ISO.match(body["created_at"]) and body["updated_at"] == body["created_at"], body


async def test_web_visitor_end_user(client: httpx.AsyncClient, server: RunningServer, echo_app: SeededApp) -> None:
    session_id = str(uuid.uuid4())
    async with database(server) as db:
        end_user_id = await EndUserService(db).get_or_create(
            echo_app.app_id, session_id, type="browser", is_anonymous=True
        )
    body = (await _get(client, echo_app, end_user_id)).json()
    assert (body["type"], body["is_anonymous"], body["session_id"], body["external_user_id"]) == (
        "browser",
        True,
        session_id,
        None,
    )


async def test_another_apps_end_user_is_404(
    client: httpx.AsyncClient, server: RunningServer, echo_app: SeededApp
) -> None:
    other_app = await seed(server, dsl(f"eu-other-{uuid.uuid4().hex[:6]}"))
    user = f"eu-{uuid.uuid4().hex[:8]}"
    mine = await owner_of(server, await make_message(client, echo_app, user))
    theirs = await owner_of(server, await make_message(client, other_app, user))  # same user string, other app
    assert mine != theirs

    assert (await _get(client, echo_app, mine)).status_code == 200
    assert (await _get(client, other_app, theirs)).status_code == 200
    assert_error(await _get(client, echo_app, theirs), 404, "end_user_not_found", "End user not found.")
    assert_error(await _get(client, other_app, mine), 404, "end_user_not_found", "End user not found.")


@pytest.mark.parametrize("end_user_id", [str(uuid.uuid4()), "nope", "1" * 400, "%00"])
async def test_unknown_end_user_is_404(client: httpx.AsyncClient, echo_app: SeededApp, end_user_id: str) -> None:
    assert_error(await _get(client, echo_app, end_user_id), 404, "end_user_not_found", "End user not found.")


async def test_needs_a_valid_key(client: httpx.AsyncClient, echo_app: SeededApp) -> None:
    assert_error(await client.get(f"{echo_app.base_url}/v1/end-users/{uuid.uuid4()}"), 401, "unauthorized")
