"""End users: one row per (app, user string), even when the first requests race (SPEC §6.1)."""

from __future__ import annotations

import asyncio
import uuid

import httpx
from sqlalchemy import func, select
from sqlmodel import col

from inkwell.completion.models import Message
from inkwell.endusers.models import EndUser
from tests.api.conftest import complete, database
from tests.conftest import RunningServer, SeededApp, dsl, seed


async def end_user_rows(running: RunningServer, user: str) -> list[tuple[str, str, str]]:
    async with database(running) as db, db.session() as session:
        query = select(col(EndUser.id), col(EndUser.app_id), col(EndUser.type)).where(col(EndUser.session_id) == user)
        return [(str(r[0]), str(r[1]), str(r[2])) for r in (await session.execute(query)).all()]


async def test_concurrent_first_requests_create_one_end_user(
    client: httpx.AsyncClient, server: RunningServer, echo_app: SeededApp
) -> None:
    user = f"racer-{uuid.uuid4().hex}"
    responses = await asyncio.gather(*(complete(client, echo_app, {"query": f"hi {i}"}, user=user) for i in range(20)))
    assert [r.status_code for r in responses] == [200] * 20, [r.text for r in responses if r.status_code != 200]
    assert sorted(r.json()["answer"] for r in responses) == sorted(f"hi {i}\n" for i in range(20))

    rows = await end_user_rows(server, user)
    assert len(rows) == 1
    assert rows[0][1] == echo_app.app_id
    assert rows[0][2] == "service-api"

    # every message of the burst belongs to that one end user
    async with database(server) as db, db.session() as session:
        owners = (
            await session.execute(
                select(col(Message.end_user_id), func.count())
                .where(col(Message.app_id) == echo_app.app_id)
                .group_by(col(Message.end_user_id))
            )
        ).all()
    assert [(str(o[0]), int(o[1])) for o in owners] == [(rows[0][0], 20)]


async def test_same_user_string_in_two_apps_is_two_end_users(
    client: httpx.AsyncClient, server: RunningServer, echo_app: SeededApp
) -> None:
    other = await seed(server, dsl(f"other-{uuid.uuid4().hex[:6]}"))
    user = f"shared-{uuid.uuid4().hex}"
    for app in (echo_app, other, echo_app, other):
        resp = await complete(client, app, {"query": "hi"}, user=user)
        assert resp.status_code == 200, resp.text
    rows = await end_user_rows(server, user)
    assert sorted(r[1] for r in rows) == sorted([echo_app.app_id, other.app_id])
    assert len({r[0] for r in rows}) == 2


async def test_stop_with_a_new_user_creates_no_duplicate(
    client: httpx.AsyncClient, server: RunningServer, echo_app: SeededApp
) -> None:
    user = f"stopper-{uuid.uuid4().hex}"
    stop = f"{echo_app.base_url}/v1/completion-messages/{uuid.uuid4()}/stop"
    results = await asyncio.gather(
        *(client.post(stop, headers=echo_app.headers, json={"user": user}) for _ in range(5)),
        *(complete(client, echo_app, {"query": "hi"}, user=user) for _ in range(5)),
    )
    assert [r.status_code for r in results] == [200] * 10
    assert len(await end_user_rows(server, user)) == 1


async def test_a_stop_from_an_unknown_user_creates_no_end_user(
    client: httpx.AsyncClient, server: RunningServer, echo_app: SeededApp
) -> None:
    user = f"stranger-{uuid.uuid4().hex}"
    resp = await client.post(
        f"{echo_app.base_url}/v1/completion-messages/{uuid.uuid4()}/stop", headers=echo_app.headers, json={"user": user}
    )
    assert resp.json() == {"result": "success"}
    assert await end_user_rows(server, user) == []
