"""``GET /v1/app/feedbacks``: newest first, offset pages with ``has_more``/``limit``/``page``, bounds."""

from __future__ import annotations

import uuid

import httpx
import pytest

from tests.api.conftest import assert_error
from tests.conftest import RunningServer, SeededApp, dsl, seed
from tests.feedback.conftest import feedback, list_page, make_message


async def _rated_app(client: httpx.AsyncClient, server: RunningServer, count: int) -> tuple[SeededApp, list[str]]:
    """A fresh app with ``count`` feedbacks, given one after the other; returns their message ids in
    the order they were rated."""
    app = await seed(server, dsl(f"fb-list-{uuid.uuid4().hex[:6]}"))
    rated: list[str] = []
    for i in range(count):
        user = f"lister-{i % 3}"
        message_id = await make_message(client, app, user, f"message {i}")
        resp = await feedback(client, app, message_id, {"rating": "like" if i % 2 else "dislike", "user": user})
        assert resp.status_code == 200, resp.text
        rated.append(message_id)
    return app, rated


async def test_newest_first_in_pages(client: httpx.AsyncClient, server: RunningServer) -> None:
    app, rated = await _rated_app(client, server, 5)
    newest_first = list(reversed(rated))

    body = (await list_page(client, app)).json()
    assert set(body) == {"data", "has_more", "limit", "page"}
    assert (body["has_more"], body["limit"], body["page"]) == (False, 20, 1)  # the defaults
    assert [item["message_id"] for item in body["data"]] == newest_first
    assert {item["app_id"] for item in body["data"]} == {app.app_id}

    pages = []
    for page in (1, 2, 3):
        resp = await list_page(client, app, page=page, limit=2)
        assert resp.status_code == 200, resp.text
        pages.append(resp.json())
    assert [[item["message_id"] for item in p["data"]] for p in pages] == [
        newest_first[0:2],
        newest_first[2:4],
        newest_first[4:5],
    ]
    assert [(p["has_more"], p["limit"], p["page"]) for p in pages] == [(True, 2, 1), (True, 2, 2), (False, 2, 3)]

    # exactly a full last page: no more
    resp = await list_page(client, app, page=1, limit=5)
    assert (len(resp.json()["data"]), resp.json()["has_more"]) == (5, False)
    # past the end: empty, up to the largest page number
    for page in (4, 2**31 - 1):
        resp = await list_page(client, app, page=page, limit=2)
        assert resp.status_code == 200, resp.text
        assert (resp.json()["data"], resp.json()["has_more"], resp.json()["page"]) == ([], False, page)


async def test_updating_keeps_the_position_and_revoking_removes(
    client: httpx.AsyncClient, server: RunningServer
) -> None:
    app, rated = await _rated_app(client, server, 3)
    oldest = rated[0]
    resp = await feedback(client, app, oldest, {"rating": "like", "user": "lister-0", "content": "changed my mind"})
    assert resp.status_code == 200, resp.text
    data = (await list_page(client, app)).json()["data"]
    assert [item["message_id"] for item in data] == list(reversed(rated))  # ordered by creation, not update
    assert (data[-1]["rating"], data[-1]["content"]) == ("like", "changed my mind")
    assert data[-1]["updated_at"] >= data[-1]["created_at"]

    resp = await feedback(client, app, rated[1], {"rating": None, "user": "lister-1"})
    assert resp.status_code == 200, resp.text
    assert [item["message_id"] for item in (await list_page(client, app)).json()["data"]] == [rated[2], rated[0]]


async def test_only_this_apps_feedbacks(client: httpx.AsyncClient, server: RunningServer) -> None:
    first, first_rated = await _rated_app(client, server, 2)
    second, second_rated = await _rated_app(client, server, 1)
    assert [i["message_id"] for i in (await list_page(client, first)).json()["data"]] == first_rated[::-1]
    assert [i["message_id"] for i in (await list_page(client, second)).json()["data"]] == second_rated


async def test_limit_100_is_accepted(client: httpx.AsyncClient, echo_app: SeededApp) -> None:
    resp = await list_page(client, echo_app, limit=100, page=1)
    assert resp.status_code == 200, resp.text
    assert (resp.json()["limit"], resp.json()["page"]) == (100, 1)


@pytest.mark.parametrize(
    "params",
    [
        {"limit": 0},
        {"limit": 101},  # the reference allows 101; SPEC §2 says 1..100
        {"limit": -1},
        {"limit": "ten"},
        {"limit": "1.5"},
        {"page": 0},
        {"page": 2**31},
        {"page": 10**30},
        {"page": -3},
        {"page": "first"},
        {"page": ""},
    ],
)
async def test_bounds_are_400(client: httpx.AsyncClient, echo_app: SeededApp, params: dict[str, object]) -> None:
    body = assert_error(await list_page(client, echo_app, **params), 400, "invalid_param")
    assert next(iter(params)) in body["message"], body


async def test_needs_a_valid_key(client: httpx.AsyncClient, echo_app: SeededApp) -> None:
    resp = await client.get(f"{echo_app.base_url}/v1/app/feedbacks")
    assert_error(resp, 401, "unauthorized")
    resp = await client.get(f"{echo_app.base_url}/v1/app/feedbacks", headers={"Authorization": "Bearer app-nope"})
    assert_error(resp, 401, "unauthorized")
