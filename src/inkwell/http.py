"""HTTP plumbing shared by every view: JSON in and out, the error envelope, pure-ASGI middleware.

No ``BaseHTTPMiddleware`` (it hides disconnects from streams) and no compression.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from contextvars import ContextVar
from typing import Any, TypeVar

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from inkwell.errors import (
    InkwellError,
    InternalServerError,
    InvalidParam,
    MethodNotAllowed,
    NotFound,
    RequestTooLarge,
    UnsupportedMediaType,
)

log = logging.getLogger("inkwell")
request_id_var: ContextVar[str] = ContextVar("request_id", default="-")
_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class JSONResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def error_response(error: InkwellError) -> JSONResponse:
    return JSONResponse(error.body(), status_code=error.status, headers=error.headers or None)


async def read_json_object(request: Request) -> dict[str, Any]:
    """The request body as a JSON object, or the SPEC §5 error for why it is not one."""
    content_type = request.headers.get("content-type", "")
    if content_type.split(";", 1)[0].strip().lower() != "application/json":
        raise UnsupportedMediaType()
    body = await request.body()
    if not body.strip():
        raise InvalidParam("Request body is empty: a JSON object is required.")
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidParam(f"Request body is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise InvalidParam("Request body must be a JSON object.")
    return data


@asynccontextmanager
async def multipart_form(
    request: Request, *, max_files: int, not_multipart: InkwellError, too_many_files: InkwellError
) -> AsyncIterator[FormData]:
    """The request's ``multipart/form-data`` body (at most ``max_files`` files and 16 fields), closed
    (its spooled files deleted) on exit. Raises ``not_multipart`` for another Content-Type and
    ``too_many_files`` past ``max_files``."""
    if not request.headers.get("content-type", "").lower().startswith("multipart/form-data"):
        raise not_multipart
    try:
        form = await request.form(max_files=max_files, max_fields=16)
    except StarletteHTTPException as exc:
        if "files" in str(exc.detail).lower():
            raise too_many_files from None
        raise InvalidParam(f"Malformed multipart body: {exc.detail}") from None
    try:
        yield form
    finally:
        await form.close()


def validation_message(exc: Any) -> str:
    """One line naming the field, from a pydantic or FastAPI validation error."""
    errors = exc.errors()
    if not errors:
        return "Invalid request."
    first = errors[0]
    loc = [str(p) for p in first.get("loc", ())]
    # FastAPI prefixes the location ("body", "query", ...); a model's own field may be named "query"
    if isinstance(exc, RequestValidationError) and loc and loc[0] in ("body", "query", "path", "header", "cookie"):
        loc = loc[1:]
    field = ".".join(loc) or "body"
    return f"{field}: {first.get('msg', 'invalid value')}"


ModelT = TypeVar("ModelT", bound=BaseModel)


def parse_body(model: type[ModelT], data: dict[str, Any]) -> ModelT:
    """``data`` as ``model``, or ``invalid_param`` naming the first bad field."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise InvalidParam(validation_message(exc)) from None


def install_error_handlers(app: FastAPI) -> None:
    async def on_inkwell_error(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, InkwellError)
        return error_response(exc)

    async def on_validation_error(_request: Request, exc: Exception) -> Response:
        return error_response(InvalidParam(validation_message(exc)))

    async def on_http_error(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        error: InkwellError
        if exc.status_code == 404:
            error = NotFound("The requested URL was not found on the server.")
        elif exc.status_code == 405:
            error = MethodNotAllowed(headers=dict(exc.headers or {}))
        else:
            error = InkwellError(str(exc.detail), headers=dict(exc.headers or {}))
            error.status = exc.status_code  # type: ignore[misc]
            error.code = re.sub(r"\W+", "_", str(exc.detail)).strip("_").lower() or "error"  # type: ignore[misc]
        return error_response(error)

    app.add_exception_handler(InkwellError, on_inkwell_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(StarletteHTTPException, on_http_error)


class RequestContextMiddleware:
    """Request id, body-size limit and the last-resort 500 envelope, as pure ASGI.

    * ``X-Request-Id``: taken from the request when it is a sane token, else generated; echoed on every
      response and bound to the logs of the request.
    * Bodies larger than ``max_body`` are refused with 413 (``Content-Length`` and streamed bytes
      both count); ``large_paths`` get ``max_large_body`` (uploads); a path ending in a suffix of
      ``path_limits`` gets that entry's limit and error instead (audio-to-text).
    * An unhandled exception becomes a logged 500 ``internal_server_error`` envelope, never a trace.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body: int,
        max_large_body: int | None = None,
        large_path_suffixes: tuple[str, ...] = (),
        large_error: Callable[[], InkwellError] | None = None,
        path_limits: tuple[tuple[str, int, Callable[[], InkwellError]], ...] = (),
    ) -> None:
        self.app = app
        self.path_limits = path_limits
        self.max_body = max_body
        self.max_large_body = max_large_body or max_body
        self.large_path_suffixes = large_path_suffixes
        self.large_error = large_error

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = ""
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                candidate = value.decode("latin-1")
                if _SAFE_REQUEST_ID.match(candidate):
                    request_id = candidate
                break
        request_id = request_id or uuid.uuid4().hex
        token = request_id_var.set(request_id)
        large = scope["path"].endswith(self.large_path_suffixes)
        limit = self.max_large_body if large else self.max_body
        large_error = self.large_error if large else None
        for suffix, path_limit, path_error in self.path_limits:
            if scope["path"].endswith(suffix):
                limit, large_error = path_limit, path_error
                break

        def too_large_error() -> InkwellError:
            if large_error is not None:
                return large_error()
            return RequestTooLarge(f"Request body is larger than the limit of {limit} bytes.")

        started = False
        received = 0
        too_large = False
        raw_id = request_id.encode()

        for name, value in scope["headers"]:
            if name == b"content-length":
                try:
                    too_large = int(value) > limit
                except ValueError:
                    too_large = False
                break

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise too_large_error()
            return message

        async def send_with_id(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message["headers"] = [*message.get("headers", []), (b"x-request-id", raw_id)]
            await send(message)

        try:
            if too_large:
                raise too_large_error()
            await self.app(scope, limited_receive, send_with_id)
        except InkwellError as exc:
            if started:
                raise
            await error_response(exc)(scope, receive, send_with_id)
        except Exception:
            log.exception("unhandled error (request id %s)", request_id)
            if started:
                raise
            await error_response(InternalServerError())(scope, receive, send_with_id)
        finally:
            request_id_var.reset(token)
