"""``POST /v1/files/upload`` and ``GET /v1/files/{file_id}/preview``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from urllib.parse import quote

from fastapi import APIRouter, Request
from starlette.datastructures import FormData
from starlette.datastructures import UploadFile as FormFile
from starlette.responses import Response, StreamingResponse

from inkwell.auth.deps import AppDep, RuntimeDep
from inkwell.files.models import UploadFile
from inkwell.files.service import NoFileUploaded, TooManyFiles, file_object
from inkwell.http import JSONResponse, multipart_form
from inkwell.openapi import error_responses, multipart_file_body
from inkwell.runtime import Runtime

router = APIRouter(prefix="/v1", tags=["files"])

DEFAULT_USER = "DEFAULT-USER"

FILE_OBJECT = {
    "type": "object",
    "properties": {
        "id": {"type": "string"},
        "name": {"type": "string"},
        "size": {"type": "integer"},
        "extension": {"type": "string"},
        "mime_type": {"type": "string"},
        "created_by": {"type": "string", "description": "end-user id"},
        "created_at": {"type": "integer", "description": "epoch seconds"},
        "preview_url": {"type": "string", "nullable": True},
        "source_url": {"type": "string", "nullable": True},
        "original_url": {"type": "string", "nullable": True},
        "user_id": {"type": "string", "nullable": True},
        "tenant_id": {"type": "string", "nullable": True},
        "conversation_id": {"type": "string", "nullable": True},
        "file_key": {"type": "string", "nullable": True},
    },
}


@router.post(
    "/files/upload",
    status_code=201,
    summary="Upload an image (multipart: exactly one `file` part, optional `user`)",
    description="The type is decided by the content (png, jpeg, gif, webp) and must agree with the extension.",
    openapi_extra=multipart_file_body(with_user=True),
    responses={
        201: {"description": "The stored file", "content": {"application/json": {"schema": FILE_OBJECT}}},
        **error_responses(400, 401, 403, 413, 415),
    },
)
async def upload_file(request: Request, loaded: AppDep, runtime: RuntimeDep) -> Response:
    async def end_user(form: FormData) -> str:
        user = form.get("user")
        session_id = user if isinstance(user, str) and user else DEFAULT_USER
        return await runtime.end_users.get_or_create(loaded.app.id, session_id)

    row = await receive_upload(request, runtime, loaded.app.id, end_user)
    return JSONResponse(file_object(row), status_code=201)


async def receive_upload(
    request: Request, runtime: Runtime, app_id: str, end_user: Callable[[FormData], Awaitable[str]]
) -> UploadFile:
    """The one ``file`` part of a multipart body, stored for ``app_id`` and the end user ``end_user``
    resolves from the form (``/v1`` reads a ``user`` field; ``/api`` has the passport's)."""
    async with multipart_form(
        request, max_files=2, not_multipart=NoFileUploaded(), too_many_files=TooManyFiles()
    ) as form:
        parts = [value for key, value in form.multi_items() if isinstance(value, FormFile)]
        if not parts or all(key != "file" for key, value in form.multi_items() if isinstance(value, FormFile)):
            raise NoFileUploaded()
        if len(parts) > 1:
            raise TooManyFiles()
        end_user_id = await end_user(form)
        return await runtime.files.upload(
            app_id=app_id, end_user_id=end_user_id, filename=parts[0].filename or "", source=parts[0]
        )


@router.get(
    "/files/{file_id}/preview",
    summary="The bytes of a file of this app",
    responses={
        200: {"description": "The file's bytes", "content": {"application/octet-stream": {}, "image/*": {}}},
        **error_responses(401, 403, 404),
    },
)
async def preview_file(file_id: str, loaded: AppDep, runtime: RuntimeDep, as_attachment: bool = False) -> Response:
    row = await runtime.files.get(app_id=loaded.app.id, file_id=file_id)
    headers = {
        "Content-Length": str(row.size),
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": "private, max-age=3600",
    }
    media_type = row.mime_type
    if as_attachment:
        headers["Content-Disposition"] = f"attachment; filename*=UTF-8''{quote(row.name)}"
        media_type = "application/octet-stream"
    return StreamingResponse(runtime.files.storage.open(row.storage_key), media_type=media_type, headers=headers)
