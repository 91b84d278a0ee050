"""``GET /completion/{code}`` (the page) and ``GET /completion-assets/{version}/{name}`` (its files).

The files in ``static/`` are read once at import. ``version`` is a digest of all of them, so an asset
URL names exactly one content: the current version is cached for a year (``immutable``), any other
version is served with ``no-cache`` (a page loaded before an upgrade still works). Every asset has a
strong ``ETag`` and answers ``If-None-Match`` with 304. The page itself is ``no-cache`` and carries a
Content-Security-Policy that allows only this origin's scripts, styles and API.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from inkwell.auth.deps import RuntimeDep
from inkwell.errors import NotFound
from inkwell.openapi import error_responses

STATIC_DIR = Path(__file__).resolve().parent / "static"
ASSETS_PREFIX = "/completion-assets"
CONTENT_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}
IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"
_CODE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")

# scripts and styles only from this origin (no inline code at all); audio from blob: URLs (read aloud);
# images also from data: and https: (site icons)
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data: blob: https:",
        "media-src 'self' blob: data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
    ]
)
PAGE_HEADERS = {
    "Cache-Control": REVALIDATE,
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}

NOT_FOUND_PAGE = """<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <title>App not found</title>
    <link rel="stylesheet" href="@ASSETS@/style.css">
  </head>
  <body>
    <main class="layout">
      <section class="panel">
        <h1>App not found</h1>
        <p class="muted">There is no published app at this address. Check the link you were given.</p>
      </section>
    </main>
  </body>
</html>
"""


@dataclass(frozen=True, slots=True)
class Asset:
    body: bytes
    content_type: str
    etag: str


@dataclass(frozen=True, slots=True)
class Bundle:
    version: str
    assets: dict[str, Asset]
    page: bytes
    not_found_page: bytes


def load_bundle(directory: Path = STATIC_DIR) -> Bundle:
    """Every servable file of ``directory`` (by suffix), the version digest and the rendered pages."""
    assets: dict[str, Asset] = {}
    digest = hashlib.sha256()
    for path in sorted(directory.iterdir()):
        content_type = CONTENT_TYPES.get(path.suffix)
        if content_type is None or not path.is_file():
            continue
        body = path.read_bytes()
        file_digest = hashlib.sha256(body).hexdigest()
        assets[path.name] = Asset(body=body, content_type=content_type, etag=f'"{file_digest[:32]}"')
        digest.update(path.name.encode() + b"\0" + file_digest.encode() + b"\0")
    version = digest.hexdigest()[:16]
    base = f"{ASSETS_PREFIX}/{version}"
    page = (directory / "index.html").read_text(encoding="utf-8").replace("@ASSETS@", base)
    return Bundle(
        version=version,
        assets=assets,
        page=page.encode(),
        not_found_page=NOT_FOUND_PAGE.replace("@ASSETS@", base).encode(),
    )


BUNDLE = load_bundle()

router = APIRouter(tags=["web page"])

_HTML_CONTENT = {"text/html": {"schema": {"type": "string"}}}
_HTML: dict[int | str, dict[str, Any]] = {
    200: {"description": "The page (HTML)", "content": _HTML_CONTENT},
    404: {
        "description": "No site with this code: an HTML page for browsers (`Accept: text/html`), else the "
        "error envelope",
        "content": {**error_responses(404)[404]["content"], **_HTML_CONTENT},
    },
}


@router.get(
    "/completion/{code}",
    summary="The web page of a published completion app",
    description="The page renders the app's form from `/api/parameters`, streams the answer from "
    "`/api/completion-messages` and offers stop, like/dislike, more-like-this, save and read-aloud. "
    "The code comes from `inkwell sites publish APP_ID`. A disabled site still serves the page, which "
    "then shows the web API's error.",
    response_class=Response,
    responses=_HTML,
)
async def completion_page(code: str, request: Request, runtime: RuntimeDep) -> Response:
    if not _CODE.match(code) or await runtime.sites.by_code(code) is None:
        if "text/html" in request.headers.get("accept", ""):  # a person following a wrong link
            return Response(BUNDLE.not_found_page, status_code=404, media_type="text/html", headers=PAGE_HEADERS)
        raise NotFound("There is no published app with this code.")
    return Response(BUNDLE.page, media_type="text/html", headers=PAGE_HEADERS)


@router.get(
    ASSETS_PREFIX + "/{version}/{name}",
    summary="A static file of the web page (JavaScript module, stylesheet, icon)",
    description="Cached for a year when `version` is the current one, else revalidated; `ETag` and "
    "`If-None-Match` (304) on every file.",
    response_class=Response,
    responses={
        200: {"description": "The file", "content": {"text/javascript": {}, "text/css": {}, "image/svg+xml": {}}},
        304: {"description": "Not modified (`If-None-Match` matched the `ETag`)"},
        **error_responses(404),
    },
)
async def completion_asset(version: str, name: str, request: Request) -> Response:
    asset = BUNDLE.assets.get(name)
    if asset is None:
        raise NotFound("The requested URL was not found on the server.")
    headers = {
        "ETag": asset.etag,
        "Cache-Control": IMMUTABLE if version == BUNDLE.version else REVALIDATE,
        "X-Content-Type-Options": "nosniff",
    }
    if_none_match = request.headers.get("if-none-match")
    if if_none_match is not None and _etag_matches(if_none_match, asset.etag):
        return Response(status_code=304, headers=headers)
    return Response(asset.body, media_type=asset.content_type, headers=headers)


def _etag_matches(header: str, etag: str) -> bool:
    candidates = [part.strip() for part in header.split(",")]
    return "*" in candidates or any(c.removeprefix("W/") == etag for c in candidates)
