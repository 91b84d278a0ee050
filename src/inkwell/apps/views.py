"""``/v1/info``, ``/v1/parameters``, ``/v1/meta``: what a client reads about the app."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import Response

from inkwell.apps.config import parameters_view
from inkwell.auth.deps import AppDep, RuntimeDep
from inkwell.errors import AppUnavailable
from inkwell.http import JSONResponse
from inkwell.openapi import error_responses, json_response

router = APIRouter(prefix="/v1", tags=["app"])


@router.get(
    "/info",
    summary="Basic information about the app",
    responses={200: {"content": json_response("AppInfo")}, **error_responses(401, 403)},
)
async def app_info(loaded: AppDep) -> Response:
    app = loaded.app
    return JSONResponse(
        {
            "name": app.name,
            "description": app.description,
            "tags": list(app.tags),
            "mode": app.mode,
            "author_name": app.author_name,
        }
    )


@router.get(
    "/parameters",
    summary="The app's input form and features",
    description='The moderation configuration is reduced to `{"enabled": bool}`.',
    responses={200: {"content": json_response("AppParameters")}, **error_responses(400, 401, 403)},
)
async def app_parameters(loaded: AppDep, runtime: RuntimeDep) -> Response:
    if loaded.config is None:
        raise AppUnavailable()
    return JSONResponse(
        parameters_view(
            loaded.app.app_model_config, image_file_size_limit=runtime.settings.upload_image_file_size_limit
        )
    )


@router.get(
    "/meta",
    summary="Tool icons (completion apps have no tools)",
    responses={200: {"content": json_response("AppMeta")}, **error_responses(401, 403)},
)
async def app_meta(loaded: AppDep) -> Response:
    del loaded
    return JSONResponse({"tool_icons": {}})
