"""Web-API authentication as an ``Annotated`` dependency: the passport (``X-App-Passport`` or
``Authorization: Bearer``, with ``X-App-Code``) -> the app, its site and the end user.

Every request re-checks that the app and its site are still enabled (the reference does not re-check
the app, reference §8.21); apps and sites come from the per-process caches, so that costs no SQL
within ``INKWELL_API_KEY_CACHE_SECONDS``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from inkwell.apps.config import AppConfig
from inkwell.apps.models import App
from inkwell.apps.service import LoadedApp
from inkwell.auth.deps import RuntimeDep
from inkwell.errors import Forbidden, InkwellError, NotCompletionApp, NotFound, Unauthorized
from inkwell.sites.models import Site
from inkwell.webapi.passport import verify


class BadRequest(InkwellError):
    """The reference's plain 400 (``Site is disabled.``, ``Site URL is no longer valid.``)."""

    status = 400
    code = "bad_request"
    default_message = "The browser (or proxy) sent a request that this server could not understand."


class AppMoreLikeThisDisabled(InkwellError):
    status = 403
    code = "app_more_like_this_disabled"
    default_message = "The 'More like this' feature is disabled. Please refresh your page."


@dataclass(slots=True)
class WebContext:
    loaded: LoadedApp
    site: Site
    end_user_id: str

    @property
    def app(self) -> App:
        return self.loaded.app

    def completion_config(self) -> AppConfig:
        """The app's config for the completion-only endpoints; 400 ``not_completion_app`` otherwise."""
        if self.loaded.app.mode != "completion" or self.loaded.config is None:
            raise NotCompletionApp()
        return self.loaded.config


def passport_token(request: Request) -> str:
    token = request.headers.get("x-app-passport", "").strip()
    if token:
        return token
    header = request.headers.get("authorization", "").strip()
    if not header:
        raise Unauthorized("App token is missing.")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("Invalid Authorization header format. Expected 'Bearer <api-key>' format.")
    return token.strip()


def site_is_live(loaded: LoadedApp | None, site: Site | None) -> bool:
    """Whether a site serves at all: the passport endpoint answers 404 when not."""
    return (
        loaded is not None
        and site is not None
        and site.app_id == loaded.app.id
        and site.enabled
        and loaded.app.enable_site
        and loaded.app.status == "normal"
    )


async def require_web(request: Request, runtime: RuntimeDep) -> WebContext:
    passport = verify(runtime.settings.secret_key, passport_token(request))
    code = request.headers.get("x-app-code")
    if code is not None and code.strip() != passport.app_code:
        raise Unauthorized("The passport was issued for another app.")
    loaded = await runtime.apps.app(passport.app_id)
    if loaded is None:
        raise NotFound("The app no longer exists.")
    site = await runtime.sites.by_code(passport.app_code)
    if site is None or site.app_id != loaded.app.id:
        raise BadRequest("Site URL is no longer valid.")
    if not site.enabled or not loaded.app.enable_site:
        raise BadRequest("Site is disabled.")
    if loaded.app.status != "normal":
        raise Forbidden("The app's status is abnormal.")
    return WebContext(loaded=loaded, site=site, end_user_id=passport.end_user_id)


WebDep = Annotated[WebContext, Depends(require_web)]
