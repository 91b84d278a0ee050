"""``POST /v1/messages/{message_id}/feedbacks`` and ``GET /v1/app/feedbacks``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from inkwell.auth.deps import AppDep, RuntimeDep
from inkwell.errors import NotFound
from inkwell.feedback.protocol import FeedbackRequest
from inkwell.feedback.service import feedback_object, give_feedback, list_feedbacks
from inkwell.http import JSONResponse, read_json_object
from inkwell.openapi import body_of, error_responses, json_response

router = APIRouter(prefix="/v1", tags=["feedback"])

MAX_PAGE = 2**31 - 1  # keeps the offset and the echoed `page` within 64-bit integers


@router.post(
    "/messages/{message_id}/feedbacks",
    summary="Rate a message (like / dislike), or revoke the rating",
    description="Only the end user (`user`) who created the message, in this app, may rate it; otherwise 404 "
    "`not_found` (`Message Not Exists.`). One feedback per message and end user, updated in place; "
    "`rating: null` (or absent) deletes it, and succeeds when there is none.",
    openapi_extra=body_of("FeedbackRequest"),
    responses={200: {"content": json_response("ResultResponse")}, **error_responses(400, 401, 403, 404, 415)},
)
async def message_feedback(message_id: str, request: Request, loaded: AppDep, runtime: RuntimeDep) -> Response:
    body = FeedbackRequest.parse(await read_json_object(request))
    # an end user never seen in this app owns no message; no row is created for it
    end_user_id = await runtime.end_users.find(loaded.app.id, body.user)
    if end_user_id is None:
        raise NotFound("Message Not Exists.")
    await give_feedback(runtime.db, loaded.app.id, end_user_id, message_id, body.rating, body.content, "api")
    return JSONResponse({"result": "success"})


@router.get(
    "/app/feedbacks",
    summary="The app's feedbacks, newest first",
    description="Offset pages: `page` (1..2^31-1) and `limit` (1..100, default 20). The reference answers "
    'only `{"data": [...]}` (and allows `limit=101`); Inkwell adds `has_more`, `limit` and `page`.',
    responses={200: {"content": json_response("FeedbacksPage")}, **error_responses(400, 401, 403)},
)
async def app_feedbacks(
    loaded: AppDep,
    runtime: RuntimeDep,
    page: Annotated[int, Query(ge=1, le=MAX_PAGE, description="Page number, from 1.")] = 1,
    limit: Annotated[int, Query(ge=1, le=100, description="Page size.")] = 20,
) -> Response:
    found = await list_feedbacks(runtime.db, loaded.app.id, page=page, limit=limit)
    return JSONResponse(
        {
            "data": [feedback_object(row) for row in found.rows],
            "has_more": found.has_more,
            "limit": limit,
            "page": page,
        }
    )
