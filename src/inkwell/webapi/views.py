"""The web API (``/api``): what an app's published page calls, as the passport's end user (reference
§1.2). Thin views: the passport dependency gives (app, site, end user); the completion itself is the
service API's ``generate`` with the simple metadata form."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from inkwell.apps.config import parameters_view
from inkwell.audio.views import audio_to_text, text_to_audio
from inkwell.auth.deps import RuntimeDep
from inkwell.completion.protocol import FileInput
from inkwell.completion.views import generate
from inkwell.errors import AppUnavailable, InvalidParam, NotFound, Unauthorized
from inkwell.feedback.protocol import FeedbackFields
from inkwell.feedback.service import give_feedback, ratings
from inkwell.files.models import MessageFile
from inkwell.files.service import file_object
from inkwell.files.views import FILE_OBJECT, receive_upload
from inkwell.http import JSONResponse, read_json_object
from inkwell.openapi import MP3_RESPONSE, body_of, error_responses, json_response, multipart_file_body, sse_response
from inkwell.runtime import Runtime
from inkwell.sites.service import message_file_object, message_files, own_message, web_site_object
from inkwell.webapi import passport
from inkwell.webapi.deps import AppMoreLikeThisDisabled, WebDep, site_is_live
from inkwell.webapi.protocol import SaveMessageRequest, WebCompletionRequest

router = APIRouter(prefix="/api", tags=["web"])

# the OpenAPI security of the passport-protected endpoints and of the passport endpoint itself
WEB_SECURITY: dict[str, Any] = {"security": [{"WebPassport": [], "AppCode": []}]}
CODE_SECURITY: dict[str, Any] = {"security": [{"AppCode": []}]}
WEB_ERRORS = error_responses(400, 401, 403, 404)
MORE_LIKE_THIS_TEMPERATURE = 0.9  # the reference forces 0.9; a hotter app keeps its own
# a generation over the web: like the service API's, with `metadata` reduced to `retriever_resources`
WEB_COMPLETION_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "Blocking JSON or an event stream, by `response_mode`; `metadata` is the simple form "
        '`{"retriever_resources": [...]}` (no `usage`, no `annotation_reply`), in `message_end` too.',
        "content": {**json_response("SimpleCompletionResponse"), **sse_response()},
    },
    **error_responses(400, 401, 403, 404, 413, 415, 429, 503),
}


def _uuid(value: str, what: str) -> str:
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise InvalidParam(f"{what} is not a valid UUID.") from None


# --------------------------------------------------------------------------------------------------
# passport


@router.get(
    "/passport",
    summary="A passport for the page of a published app",
    description="`X-App-Code: <site code>` required. Binds the passport to a new end user of the app, or to "
    "the end user with session id `user_id` (created when new). The passport expires after "
    "`INKWELL_PASSPORT_TTL_SECONDS`. 404 when the code is unknown or its site or app is disabled.",
    openapi_extra={**CODE_SECURITY},
    responses={200: {"content": json_response("PassportResponse")}, **error_responses(400, 401, 404)},
)
async def get_passport(request: Request, runtime: RuntimeDep, user_id: str | None = None) -> Response:
    code = request.headers.get("x-app-code")
    if code is None:
        raise Unauthorized("X-App-Code header is missing.")
    site = await runtime.sites.by_code(code.strip()) if code.strip() else None
    loaded = await runtime.apps.app(site.app_id) if site is not None else None
    if site is None or loaded is None or not site_is_live(loaded, site):
        raise NotFound("The requested URL was not found on the server.")
    session_id = user_id or str(uuid.uuid4())
    end_user_id = await runtime.end_users.get_or_create(loaded.app.id, session_id, type="browser", is_anonymous=True)
    token = passport.issue(
        runtime.settings.secret_key,
        app_id=loaded.app.id,
        app_code=site.code,
        end_user_id=end_user_id,
        ttl_seconds=runtime.settings.passport_ttl_seconds,
    )
    return JSONResponse({"access_token": token})


# --------------------------------------------------------------------------------------------------
# completion


@router.post(
    "/completion-messages",
    summary="Create a completion message (web)",
    description="As `POST /v1/completion-messages`, without `user`: the passport's end user is the caller.",
    openapi_extra={**body_of("WebCompletionRequest"), **WEB_SECURITY},
    responses=WEB_COMPLETION_RESPONSES,
)
async def web_completion(request: Request, web: WebDep, runtime: RuntimeDep) -> Response:
    body = WebCompletionRequest.parse(await read_json_object(request))
    config = web.completion_config()
    gen = runtime.pipeline.prepare(
        app_id=web.app.id,
        end_user_id=web.end_user_id,
        invoke_from="web-app",
        config=config,
        inputs=body.inputs,
        query=body.query,
    )
    return await generate(
        request, runtime, web.loaded, gen, files=body.files, streaming=body.response_mode == "streaming", full=False
    )


@router.post(
    "/completion-messages/{task_id}/stop",
    summary="Stop a running generation of this end user (web)",
    description="Always success: unknown, foreign and finished tasks are not revealed.",
    openapi_extra={**WEB_SECURITY},
    responses={200: {"content": json_response("ResultResponse")}, **error_responses(400, 401, 403, 404, 503)},
)
async def web_stop(task_id: str, web: WebDep, runtime: RuntimeDep) -> Response:
    web.completion_config()
    await runtime.tasks.stop(task_id, app_id=web.app.id, end_user_id=web.end_user_id)
    return JSONResponse({"result": "success"})


@router.get(
    "/messages/{message_id}/more-like-this",
    summary="Generate again from one of this end user's messages, at a higher temperature",
    description="Same inputs, query and files as the original message, temperature raised to at least 0.9; a new "
    "message. Only when the app's `more_like_this` is enabled (else 403 `app_more_like_this_disabled`); "
    "counts against the app's concurrency and rate limits.",
    openapi_extra={**WEB_SECURITY},
    responses=WEB_COMPLETION_RESPONSES,
)
async def more_like_this(
    message_id: str,
    request: Request,
    web: WebDep,
    runtime: RuntimeDep,
    response_mode: Annotated[Literal["blocking", "streaming"], Query()],
) -> Response:
    config = web.completion_config()
    original = await own_message(runtime.db, app_id=web.app.id, end_user_id=web.end_user_id, message_id=message_id)
    if not config.more_like_this.enabled:
        raise AppMoreLikeThisDisabled()
    gen = runtime.pipeline.prepare(
        app_id=web.app.id,
        end_user_id=web.end_user_id,
        invoke_from="web-app",
        config=config,
        inputs=dict(original.inputs),
        query=original.query,
    )
    temperature = gen.request.params.get("temperature")
    current = float(temperature) if isinstance(temperature, int | float) and not isinstance(temperature, bool) else 0
    gen.request.params["temperature"] = max(MORE_LIKE_THIS_TEMPERATURE, current)
    files = [
        FileInput(
            type=f.type,
            transfer_method="local_file" if f.transfer_method == "local_file" else "remote_url",
            upload_file_id=f.upload_file_id,
            url=f.url,
        )
        for f in (await _message_files(runtime, original.id))
        if f.belongs_to == "user"
    ]
    return await generate(
        request, runtime, web.loaded, gen, files=files or None, streaming=response_mode == "streaming", full=False
    )


async def _message_files(runtime: Runtime, message_id: str) -> list[MessageFile]:
    return (await message_files(runtime.db, [message_id])).get(message_id, [])


# --------------------------------------------------------------------------------------------------
# the app


@router.get(
    "/parameters",
    summary="The app's input form and features (web)",
    description='As `GET /v1/parameters`; the moderation configuration is reduced to `{"enabled": bool}`.',
    openapi_extra={**WEB_SECURITY},
    responses={200: {"content": json_response("AppParameters")}, **WEB_ERRORS},
)
async def web_parameters(web: WebDep, runtime: RuntimeDep) -> Response:
    if web.loaded.config is None:
        raise AppUnavailable()
    return JSONResponse(
        parameters_view(web.app.app_model_config, image_file_size_limit=runtime.settings.upload_image_file_size_limit)
    )


@router.get(
    "/meta",
    summary="Tool icons (web; completion apps have no tools)",
    openapi_extra={**WEB_SECURITY},
    responses={200: {"content": json_response("AppMeta")}, **WEB_ERRORS},
)
async def web_meta(web: WebDep) -> Response:
    del web
    return JSONResponse({"tool_icons": {}})


@router.get(
    "/site",
    summary="The page's settings: title, description, icon, language, ...",
    openapi_extra={**WEB_SECURITY},
    responses={200: {"content": json_response("WebSite")}, **WEB_ERRORS},
)
async def web_site(web: WebDep) -> Response:
    return JSONResponse(web_site_object(web.app, web.site, web.end_user_id))


# --------------------------------------------------------------------------------------------------
# feedback


@router.post(
    "/messages/{message_id}/feedbacks",
    summary="Rate one of this end user's messages (like / dislike), or revoke the rating",
    description="As `POST /v1/messages/{message_id}/feedbacks`, without `user`; stored with `from_source` "
    "`webapp`. 404 `not_found` (`Message Not Exists.`) unless the message is this end user's.",
    openapi_extra={**body_of("FeedbackFields"), **WEB_SECURITY},
    responses={200: {"content": json_response("ResultResponse")}, **error_responses(400, 401, 403, 404, 415)},
)
async def web_feedback(message_id: str, request: Request, web: WebDep, runtime: RuntimeDep) -> Response:
    body = FeedbackFields.parse(await read_json_object(request))
    await give_feedback(runtime.db, web.app.id, web.end_user_id, message_id, body.rating, body.content, "webapp")
    return JSONResponse({"result": "success"})


# --------------------------------------------------------------------------------------------------
# saved messages


@router.get(
    "/saved-messages",
    summary="This end user's saved messages, newest first",
    description="Pages by `last_id` (the last message id of the previous page) and `limit` (1..100, default 20).",
    openapi_extra={**WEB_SECURITY},
    responses={200: {"content": json_response("SavedMessagesPage")}, **WEB_ERRORS},
)
async def list_saved_messages(
    web: WebDep,
    runtime: RuntimeDep,
    last_id: Annotated[str | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> Response:
    web.completion_config()
    if last_id:
        last_id = _uuid(last_id, "last_id")
    page = await runtime.saved_messages.page(
        app_id=web.app.id, end_user_id=web.end_user_id, last_id=last_id or None, limit=limit
    )
    message_ids = [m.id for m in page.messages]
    rated = await ratings(runtime.db, app_id=web.app.id, end_user_id=web.end_user_id, message_ids=message_ids)
    data = [
        {
            "id": m.id,
            "inputs": m.inputs,
            "query": m.query,
            "answer": m.answer,
            "message_files": [message_file_object(f) for f in page.files.get(m.id, [])],
            "feedback": {"rating": rated[m.id]} if m.id in rated else None,
            "created_at": int(m.created_at.timestamp()),
        }
        for m in page.messages
    ]
    return JSONResponse({"limit": limit, "has_more": page.has_more, "data": data})


@router.post(
    "/saved-messages",
    summary="Save one of this end user's messages (idempotent)",
    openapi_extra={**body_of("SaveMessageRequest"), **WEB_SECURITY},
    responses={200: {"content": json_response("ResultResponse")}, **WEB_ERRORS},
)
async def save_message(request: Request, web: WebDep, runtime: RuntimeDep) -> Response:
    web.completion_config()
    data = await read_json_object(request)
    message_id = data.get("message_id")
    if not isinstance(message_id, str) or not message_id:
        raise InvalidParam("message_id is required.")
    body = SaveMessageRequest(message_id=_uuid(message_id, "message_id"))
    await runtime.saved_messages.save(app_id=web.app.id, end_user_id=web.end_user_id, message_id=body.message_id)
    return JSONResponse({"result": "success"})


@router.delete(
    "/saved-messages/{message_id}",
    status_code=204,
    summary="Remove a message from this end user's saved messages (idempotent)",
    openapi_extra={**WEB_SECURITY},
    responses={204: {"description": "Removed (or was not saved)"}, **WEB_ERRORS},
)
async def delete_saved_message(message_id: str, web: WebDep, runtime: RuntimeDep) -> Response:
    web.completion_config()
    try:
        message_id = str(uuid.UUID(message_id))
    except ValueError:  # the reference's route only matches UUIDs
        raise NotFound("The requested URL was not found on the server.") from None
    await runtime.saved_messages.delete(app_id=web.app.id, end_user_id=web.end_user_id, message_id=message_id)
    return Response(status_code=204)


# --------------------------------------------------------------------------------------------------
# files


@router.post(
    "/files/upload",
    status_code=201,
    summary="Upload an image for this end user (multipart: exactly one `file` part)",
    description="The type is decided by the content (png, jpeg, gif, webp) and must agree with the extension.",
    openapi_extra={**multipart_file_body(with_user=False), **WEB_SECURITY},
    responses={
        201: {"description": "The stored file", "content": {"application/json": {"schema": FILE_OBJECT}}},
        **error_responses(400, 401, 403, 404, 413, 415),
    },
)
async def web_upload(request: Request, web: WebDep, runtime: RuntimeDep) -> Response:
    async def end_user(_form: object) -> str:
        return web.end_user_id

    row = await receive_upload(request, runtime, web.app.id, end_user)
    return JSONResponse(file_object(row), status_code=201)


# --------------------------------------------------------------------------------------------------
# audio: the service API's handlers, for the passport's end user


@router.post(
    "/text-to-audio",
    summary="Read one of this end user's answers, or a text, aloud (MP3)",
    description="As `POST /v1/text-to-audio`; `message_id` must be a UUID of one of this end user's messages.",
    openapi_extra={**body_of("TextToAudioRequest"), **WEB_SECURITY},
    responses={200: MP3_RESPONSE, **error_responses(400, 401, 403, 404, 413, 415)},
)
async def web_text_to_audio(request: Request, web: WebDep, runtime: RuntimeDep) -> Response:
    message_id = (await read_json_object(request)).get("message_id")
    if message_id is not None:
        if not isinstance(message_id, str):
            raise InvalidParam("message_id: Input should be a valid string")
        await own_message(
            runtime.db, app_id=web.app.id, end_user_id=web.end_user_id, message_id=_uuid(message_id, "message_id")
        )
    return await text_to_audio(request, web.loaded, runtime)  # reads the (cached) body again


@router.post(
    "/audio-to-text",
    summary="Transcribe a recording (multipart: `file`)",
    description="As `POST /v1/audio-to-text`.",
    openapi_extra={**multipart_file_body(with_user=False), **WEB_SECURITY},
    responses={200: {"content": json_response("AudioToTextResponse")}, **error_responses(400, 401, 403, 413, 415)},
)
async def web_audio_to_text(request: Request, web: WebDep, runtime: RuntimeDep) -> Response:
    return await audio_to_text(request, web.loaded, runtime)
