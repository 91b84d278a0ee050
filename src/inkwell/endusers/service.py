"""End users: get-or-create per (app, user string), race-free through the unique constraint."""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from sqlalchemy import select
from sqlmodel import col

from inkwell.db import Database, new_id, utcnow
from inkwell.endusers.models import EndUser
from inkwell.errors import InvalidParam

_CACHE_SIZE = 50_000
MAX_SESSION_ID_LENGTH = 255  # end_users.session_id is VARCHAR(255)


class EndUserService:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._ids: OrderedDict[tuple[str, str, str], str] = OrderedDict()

    async def get_or_create(
        self, app_id: str, session_id: str, *, type: str = "service-api", is_anonymous: bool = False
    ) -> str:
        """Return the end user's id, creating the row on first use.

        Concurrent first requests race on ``INSERT ... ON CONFLICT DO NOTHING``: one inserts, all then
        read the same row; nobody fails and nothing is duplicated.
        """
        _check(session_id)
        key = (app_id, session_id, type)
        cached = self._ids.get(key)
        if cached is not None:
            self._ids.move_to_end(key)
            return cached
        values = {
            "id": new_id(),
            "app_id": app_id,
            "session_id": session_id,
            "type": type,
            "is_anonymous": is_anonymous,
            "created_at": utcnow(),
        }
        insert = self.db.insert_into(EndUser)
        async with self.db.session() as session:
            await session.execute(insert.values(**values).on_conflict_do_nothing())
            await session.commit()
            user_id = str((await session.execute(_id_of(app_id, session_id))).scalar_one())
        self._remember(key, user_id)
        return user_id

    async def find(self, app_id: str, session_id: str, *, type: str = "service-api") -> str | None:
        """The end user's id if this ``user`` string was ever seen in this app; never creates one."""
        _check(session_id)
        key = (app_id, session_id, type)
        cached = self._ids.get(key)
        if cached is not None:
            return cached
        async with self.db.session() as session:
            found = (await session.execute(_id_of(app_id, session_id))).scalar_one_or_none()
        if found is None:
            return None
        self._remember(key, str(found))
        return str(found)

    def _remember(self, key: tuple[str, str, str], user_id: str) -> None:
        self._ids[key] = user_id
        if len(self._ids) > _CACHE_SIZE:
            self._ids.popitem(last=False)


def _check(session_id: str) -> None:
    """A ``user`` string the end_users table can hold, or the 400 saying why not."""
    if len(session_id) > MAX_SESSION_ID_LENGTH:
        raise InvalidParam(f"Arg user must be at most {MAX_SESSION_ID_LENGTH} characters.")
    if "\x00" in session_id:  # PostgreSQL text cannot hold NUL
        raise InvalidParam("Arg user must not contain NUL characters.")


def _id_of(app_id: str, session_id: str) -> Any:
    return select(col(EndUser.id)).where(col(EndUser.app_id) == app_id, col(EndUser.session_id) == session_id)
