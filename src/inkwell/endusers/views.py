"""``GET /v1/end-users/{end_user_id}``: one end user of the key's app."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from sqlalchemy import select
from sqlmodel import col
from starlette.responses import Response

from inkwell.auth.deps import AppDep, RuntimeDep
from inkwell.db import Database
from inkwell.endusers.models import EndUser
from inkwell.errors import NotFound
from inkwell.feedback.service import is_uuid, naive_iso
from inkwell.http import JSONResponse
from inkwell.openapi import error_responses, json_response

router = APIRouter(prefix="/v1", tags=["app"])


class EndUserNotFound(NotFound):
    code = "end_user_not_found"
    default_message = "End user not found."


async def app_end_user(db: Database, app_id: str, end_user_id: str) -> EndUser:
    """The end user if it belongs to this app; 404 ``end_user_not_found`` otherwise (also for another
    app's end user: ids of other apps are not revealed)."""
    if not is_uuid(end_user_id):
        raise EndUserNotFound()
    async with db.session() as session:
        row = (
            await session.execute(select(EndUser).where(col(EndUser.id) == end_user_id, col(EndUser.app_id) == app_id))
        ).scalar_one_or_none()
    if row is None:
        raise EndUserNotFound()
    return row


def end_user_object(row: EndUser) -> dict[str, Any]:
    """The reference's end-user detail. Inkwell has no tenants and no end-user names, and end users are
    never modified after creation, so ``updated_at`` is the creation time. ``external_user_id`` is the
    ``user`` string of service-API end users (web visitors have none), as the reference records it."""
    created = naive_iso(row.created_at)
    return {
        "id": row.id,
        "tenant_id": None,
        "app_id": row.app_id,
        "type": row.type,
        "external_user_id": row.session_id if row.type == "service-api" else None,
        "name": None,
        "is_anonymous": row.is_anonymous,
        "session_id": row.session_id,
        "created_at": created,
        "updated_at": created,
    }


@router.get(
    "/end-users/{end_user_id}",
    summary="One end user of this app",
    description="404 `end_user_not_found` for an unknown id and for an end user of another app.",
    responses={200: {"content": json_response("EndUserObject")}, **error_responses(401, 403, 404)},
)
async def get_end_user(end_user_id: str, loaded: AppDep, runtime: RuntimeDep) -> Response:
    return JSONResponse(end_user_object(await app_end_user(runtime.db, loaded.app.id, end_user_id)))
