"""``GET /v1/site``: the app's web-page settings, for service-API clients (reference §1.4)."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import Response

from inkwell.auth.deps import AppDep, RuntimeDep
from inkwell.errors import Forbidden
from inkwell.http import JSONResponse
from inkwell.openapi import error_responses, json_response
from inkwell.sites.service import site_object

router = APIRouter(prefix="/v1", tags=["app"])


@router.get(
    "/site",
    summary="The app's web-page settings",
    description="403 `forbidden` when the app has no published site (`inkwell sites publish APP_ID`).",
    responses={200: {"content": json_response("SiteObject")}, **error_responses(401, 403)},
)
async def app_site(loaded: AppDep, runtime: RuntimeDep) -> Response:
    site = await runtime.sites.by_app(loaded.app.id)
    if site is None:
        raise Forbidden("The app has no published site.")
    return JSONResponse(site_object(site))
