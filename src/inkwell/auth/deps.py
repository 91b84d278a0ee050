"""Service-API authentication as an ``Annotated`` dependency: ``Authorization: Bearer <app key>``."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from inkwell.apps.service import LoadedApp
from inkwell.errors import Forbidden, Unauthorized
from inkwell.runtime import Runtime


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


async def require_app(request: Request, runtime: RuntimeDep) -> LoadedApp:
    header = request.headers.get("authorization")
    if not header or " " not in header.strip():
        raise Unauthorized("Authorization header must be provided and start with 'Bearer'")
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        raise Unauthorized("Authorization scheme must be 'Bearer'")
    token = token.strip()
    loaded = await runtime.apps.app_for_key(token) if token else None
    if loaded is None:
        raise Unauthorized("Access token is invalid")
    if loaded.app.status != "normal":
        raise Forbidden("The app's status is abnormal.")
    if not loaded.app.enable_api:
        raise Forbidden("The app's API service has been disabled.")
    return loaded


AppDep = Annotated[LoadedApp, Depends(require_app)]
