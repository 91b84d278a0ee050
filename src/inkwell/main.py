"""The ASGI application: ``create_app()`` wires settings, runtime, routes and middleware."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.routing import Route

from inkwell import openapi
from inkwell.apps.views import router as app_router
from inkwell.audio.errors import AudioTooLarge
from inkwell.audio.views import router as audio_router
from inkwell.completion.views import create_completion_message
from inkwell.completion.views import router as completion_router
from inkwell.endusers.views import router as end_users_router
from inkwell.feedback.views import router as feedback_router
from inkwell.files.storage import FileTooLarge, megabytes
from inkwell.files.views import router as files_router
from inkwell.http import RequestContextMiddleware, install_error_handlers, request_id_var
from inkwell.ops.views import router as ops_router
from inkwell.runtime import Runtime
from inkwell.settings import Settings, get_settings
from inkwell.sites.views import router as sites_router
from inkwell.webapi.cors import CORSMiddleware
from inkwell.webapi.views import router as web_router
from inkwell.webpage.views import router as webpage_router

__version__ = "0.1.0"


class _RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        return True


def configure_logging(level: str) -> None:
    """Log lines carry the request id that is also returned in ``X-Request-Id``."""
    root = logging.getLogger()
    if any(isinstance(f, _RequestIdFilter) for h in root.handlers for f in h.filters):
        return
    handler = logging.StreamHandler()
    handler.addFilter(_RequestIdFilter())
    handler.setFormatter(
        logging.Formatter("%(asctime)s %(levelname)s %(name)s [request_id=%(request_id)s] %(message)s")
    )
    root.addHandler(handler)
    root.setLevel(level.upper())


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s")

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runtime = Runtime(settings)
        app.state.runtime = runtime
        runtime.start()
        try:
            yield
        finally:
            await runtime.aclose()

    app = FastAPI(
        title="Inkwell",
        version=__version__,
        description='A Dify-compatible server for Completion Apps. Errors are always `{"code", "message", "status"}`.',
        lifespan=lifespan,
        docs_url="/docs",
        redoc_url=None,
    )
    install_error_handlers(app)
    # the hot path is also served by Starlette directly, ahead of FastAPI's route for the same path
    # (which stays for the OpenAPI document): FastAPI's per-route layer cost ~10% of a stream (make bench)
    app.router.routes.append(Route("/v1/completion-messages", create_completion_message, methods=["POST"]))
    app.include_router(completion_router)
    app.include_router(app_router)
    app.include_router(files_router)
    app.include_router(feedback_router)
    app.include_router(end_users_router)
    app.include_router(audio_router)
    app.include_router(ops_router)
    app.include_router(sites_router)
    app.include_router(web_router)
    app.include_router(webpage_router)
    app.add_middleware(
        RequestContextMiddleware,
        max_body=settings.max_request_bytes,
        # uploads: the exact limit is enforced while the file streams to storage; the body may carry
        # up to 1 MiB more (multipart framing) before it is cut off here
        max_large_body=megabytes(settings.upload_image_file_size_limit) + 1024 * 1024,
        large_path_suffixes=("/files/upload",),
        large_error=lambda: FileTooLarge(limit_bytes=megabytes(settings.upload_image_file_size_limit)),
        # recordings: the exact limit is checked while the file is read, the same 1 MiB of framing here
        path_limits=(
            (
                "/audio-to-text",
                megabytes(settings.asr_file_size_limit) + 1024 * 1024,
                lambda: AudioTooLarge(settings.asr_file_size_limit),
            ),
        ),
    )
    # outermost: preflights are answered before anything else, and every answer (errors included) of
    # /api and /v1 carries its CORS headers
    app.add_middleware(CORSMiddleware, web_origins=settings.web_api_cors_allow_origins)
    openapi.install(app)
    return app


def app_factory() -> FastAPI:
    """Entry point for ``uvicorn --factory inkwell.main:app_factory``."""
    return create_app()
