"""``/v1/completion-messages`` and its stop endpoint: validate, hand off to the pipeline, render."""

from __future__ import annotations

from contextlib import aclosing

from fastapi import APIRouter, Request
from starlette.background import BackgroundTask
from starlette.responses import Response

from inkwell.apps.config import AppConfig
from inkwell.apps.service import LoadedApp
from inkwell.auth.deps import AppDep, RuntimeDep, get_runtime, require_app
from inkwell.completion.delivery import ClientDisconnected, EventStream, cancel_on_disconnect, detach
from inkwell.completion.pipeline import Generation
from inkwell.completion.protocol import CompletionRequest, FileInput
from inkwell.completion.sse import blocking_body, sse_stream
from inkwell.errors import AppUnavailable, InvalidParam
from inkwell.files.attach import FilePolicy, attach, resolve_files
from inkwell.http import JSONResponse, read_json_object
from inkwell.openapi import body_of, error_responses, json_response, sse_response
from inkwell.runtime import Runtime

router = APIRouter(prefix="/v1", tags=["completion"])

SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def completion_config(loaded: LoadedApp) -> AppConfig:
    if loaded.app.mode != "completion" or loaded.config is None:
        raise AppUnavailable()
    return loaded.config


@router.post(
    "/completion-messages",
    summary="Create a completion message",
    description="Blocking: one JSON body. Streaming: server-sent events (`message`..., `message_end`).",
    openapi_extra=body_of("CompletionRequest"),
    responses={
        200: {
            "description": "Blocking JSON or an event stream, by `response_mode`.",
            "content": {**json_response("CompletionResponse"), **sse_response()},
        },
        **error_responses(400, 401, 403, 404, 413, 415, 429, 503),
    },
)
async def create_completion_message(request: Request) -> Response:
    # the hot path resolves its two dependencies by hand: FastAPI's dependency solver cost ~0.3 ms per
    # request here, a tenth of the whole request (make bench)
    runtime = get_runtime(request)
    loaded = await require_app(request, runtime)
    body = CompletionRequest.parse(await read_json_object(request))
    config = completion_config(loaded)
    gen = runtime.pipeline.prepare(
        app_id=loaded.app.id,
        end_user_id="",
        invoke_from="service-api",
        config=config,
        inputs=body.inputs,
        query=body.query,
    )
    gen.set_end_user(await runtime.end_users.get_or_create(loaded.app.id, body.user))
    return await generate(request, runtime, loaded, gen, files=body.files, streaming=body.response_mode == "streaming")


async def generate(
    request: Request,
    runtime: Runtime,
    loaded: LoadedApp,
    gen: Generation,
    *,
    files: list[FileInput] | None,
    streaming: bool,
    full: bool = True,
) -> Response:
    """Attach the request's files, admit the task against the app's limits, run it, render it.

    Shared by ``/v1`` (``full``: usage in the metadata) and the web API ``/api`` (the simple form).
    ``gen`` is prepared and bound to its end user by the caller.
    """
    settings = runtime.settings
    if files:
        file_upload = loaded.app.app_model_config.get("file_upload")
        gen.attachments = await resolve_files(
            files,
            file_upload=file_upload,
            app_id=loaded.app.id,
            end_user_id=gen.end_user_id,
            service=runtime.files,
            fetcher=runtime.fetcher,
        )
        attach(
            gen.request.prompt,
            gen.attachments,
            detail=FilePolicy.of(file_upload).detail,
            send_urls=settings.multimodal_send_format == "url",
        )
    await runtime.tasks.admit(
        gen.handle,
        max_active=loaded.app.max_active_requests or settings.app_max_active_requests,
        rate_per_minute=loaded.app.rate_limit_per_minute or settings.app_rate_limit_per_minute,
    )
    events = runtime.pipeline.run(gen)
    if settings.continue_on_disconnect:
        events = detach(events)
    if streaming:  # speech while streaming, when the app autoplays it (blocking mode never speaks)
        handle = gen.handle
        events = runtime.audio.autoplay(loaded.app.app_model_config, events, stopped=lambda: handle.stop_requested)
        return EventStream(
            sse_stream(gen, events, full=full),
            headers=SSE_HEADERS,
            ping_interval=settings.ping_interval,
            background=BackgroundTask(runtime.pipeline.abandon, gen),
        )
    try:
        async with aclosing(events):
            if settings.continue_on_disconnect:
                return JSONResponse(await blocking_body(gen, events, full=full))
            return JSONResponse(await cancel_on_disconnect(request.receive, blocking_body(gen, events, full=full)))
    except ClientDisconnected:
        return Response(status_code=499)  # nobody reads it; the row was saved as stopped
    finally:
        await runtime.pipeline.abandon(gen)


@router.post(
    "/completion-messages/{task_id}/stop",
    summary="Stop a running generation (streaming or blocking)",
    description="Only the end user who started the task, in the same app, stops it; the answer is always "
    "success (unknown, foreign and finished tasks are not revealed). 503 when the stop must be forwarded "
    "to another worker and Redis is unavailable.",
    openapi_extra=body_of("StopRequest"),
    responses={200: {"content": json_response("ResultResponse")}, **error_responses(400, 401, 403, 503)},
)
async def stop_completion_message(task_id: str, request: Request, loaded: AppDep, runtime: RuntimeDep) -> Response:
    data = await read_json_object(request)
    user = data.get("user")
    if not isinstance(user, str) or not user:
        raise InvalidParam("Arg user must be provided.")
    # an end user never seen in this app owns no task: nothing to stop, and no row is created for it
    end_user_id = await runtime.end_users.find(loaded.app.id, user)
    if end_user_id is not None:
        await runtime.tasks.stop(task_id, app_id=loaded.app.id, end_user_id=end_user_id)
    return JSONResponse({"result": "success"})
