"""CORS as pure ASGI (reference §4.4): ``/api`` answers the configured origins
(``INKWELL_WEB_API_CORS_ALLOW_ORIGINS``) with credentials; ``/v1`` answers any origin, without
credentials. Preflight ``OPTIONS`` requests are answered here; other paths get no CORS headers."""

from __future__ import annotations

from collections.abc import Sequence

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from inkwell.errors import Forbidden
from inkwell.http import error_response

ALLOW_METHODS = b"GET, PUT, POST, DELETE, OPTIONS, PATCH"
ALLOW_HEADERS = b"Content-Type, Authorization, X-App-Code, X-App-Passport"
EXPOSE_HEADERS = b"X-Version, X-Env, X-Trace-Id, X-Request-Id"
MAX_AGE = b"600"


class CORSMiddleware:
    def __init__(self, app: ASGIApp, *, web_origins: Sequence[str]) -> None:
        self.app = app
        self.any_web_origin = "*" in web_origins
        self.web_origins = frozenset(o for o in web_origins if o != "*")

    def _allowed(self, path: str, origin: str) -> tuple[bytes, bool] | None:
        """(``Access-Control-Allow-Origin`` value, credentials) for this path and origin, or None."""
        if path.startswith("/v1/") or path == "/v1":
            return b"*", False
        if path.startswith("/api/") or path == "/api":
            if self.any_web_origin or origin.rstrip("/") in self.web_origins:
                return origin.encode("latin-1"), True
            return None
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        if not (path.startswith(("/v1/", "/api/")) or path in ("/v1", "/api")):
            await self.app(scope, receive, send)
            return
        origin = ""
        preflight_method = False
        for name, value in scope["headers"]:
            if name == b"origin":
                origin = value.decode("latin-1")
            elif name == b"access-control-request-method":
                preflight_method = True
        if not origin:
            await self.app(scope, receive, send)
            return
        allowed = self._allowed(path, origin)
        if scope["method"] == "OPTIONS" and preflight_method:
            if allowed is None:
                await error_response(Forbidden("This origin may not call the web API."))(scope, receive, send)
                return
            headers = [
                *self._headers(allowed),
                (b"access-control-allow-methods", ALLOW_METHODS),
                (b"access-control-allow-headers", ALLOW_HEADERS),
                (b"access-control-max-age", MAX_AGE),
                (b"content-length", b"0"),
            ]
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await send({"type": "http.response.body", "body": b""})
            return
        if allowed is None:
            await self.app(scope, receive, send)
            return
        extra = [*self._headers(allowed), (b"access-control-expose-headers", EXPOSE_HEADERS)]

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await self.app(scope, receive, send_with_cors)

    @staticmethod
    def _headers(allowed: tuple[bytes, bool]) -> list[tuple[bytes, bytes]]:
        value, credentials = allowed
        headers = [(b"access-control-allow-origin", value)]
        if credentials:
            headers += [(b"access-control-allow-credentials", b"true"), (b"vary", b"Origin")]
        return headers
