"""The page's HTTP surface (no browser): ``/completion/{code}`` and its static assets - content types,
caching headers, ETags, the Content-Security-Policy, unknown codes and files."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

from inkwell.webpage.views import BUNDLE, load_bundle
from tests.browser.conftest import disable_site, echo_dsl, publish_app
from tests.conftest import RunningServer


async def test_page_is_served_for_a_published_code(server: RunningServer, client: httpx.AsyncClient) -> None:
    published = await publish_app(server, echo_dsl())
    resp = await client.get(published.page_url)
    assert resp.status_code == 200
    assert resp.headers["content-type"] == "text/html; charset=utf-8"
    assert resp.headers["cache-control"] == "no-cache"
    assert resp.headers["x-content-type-options"] == "nosniff"
    csp = resp.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    html = resp.text
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in html
    # every asset the page names is the current version, and is served
    urls = re.findall(r'(?:src|href)="(/completion-assets/[^"]+)"', html)
    assert {u.rsplit("/", 1)[1] for u in urls} >= {"app.js", "style.css"}
    assert all(u.startswith(f"/completion-assets/{BUNDLE.version}/") for u in urls)
    for url in urls:
        asset = await client.get(server.url + url)
        assert asset.status_code == 200, url
    # no inline script or style: the CSP would block them
    assert "<script>" not in html and "<style" not in html and " style=" not in html
    # the page holds no data of the app: everything comes from the web API
    assert published.code not in html and published.app.app_id not in html


async def test_unknown_or_malformed_code_is_a_404(server: RunningServer, client: httpx.AsyncClient) -> None:
    """A page for browsers, the error envelope for everyone else."""
    browser_accept = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
    for code in ("doesnotexist0000", "bad%20code", "x" * 80):
        resp = await client.get(f"{server.url}/completion/{code}", headers={"Accept": browser_accept})
        assert resp.status_code == 404, code
        assert resp.headers["content-type"] == "text/html; charset=utf-8"
        assert "App not found" in resp.text
        resp = await client.get(f"{server.url}/completion/{code}")
        assert resp.status_code == 404, code
        assert resp.json() == {
            "code": "not_found",
            "message": "There is no published app with this code.",
            "status": 404,
        }


async def test_a_disabled_site_still_serves_the_page(server: RunningServer, client: httpx.AsyncClient) -> None:
    """The page then shows the web API's refusal in words (see the browser tests)."""
    published = await publish_app(server, echo_dsl())
    await disable_site(published)
    resp = await client.get(published.page_url)
    assert resp.status_code == 200


@pytest.mark.parametrize(
    ("name", "content_type"),
    [
        ("app.js", "text/javascript; charset=utf-8"),
        ("sse.js", "text/javascript; charset=utf-8"),
        ("style.css", "text/css; charset=utf-8"),
        ("icon.svg", "image/svg+xml"),
    ],
)
async def test_assets_have_types_and_cache_headers(
    server: RunningServer, client: httpx.AsyncClient, name: str, content_type: str
) -> None:
    current = await client.get(f"{server.url}/completion-assets/{BUNDLE.version}/{name}")
    assert current.status_code == 200
    assert current.headers["content-type"] == content_type
    assert current.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert current.headers["x-content-type-options"] == "nosniff"
    etag = current.headers["etag"]
    assert re.fullmatch(r'"[0-9a-f]{32}"', etag)

    again = await client.get(f"{server.url}/completion-assets/{BUNDLE.version}/{name}", headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == etag
    weak = await client.get(
        f"{server.url}/completion-assets/{BUNDLE.version}/{name}", headers={"If-None-Match": f'"other", W/{etag}'}
    )
    assert weak.status_code == 304
    changed = await client.get(
        f"{server.url}/completion-assets/{BUNDLE.version}/{name}", headers={"If-None-Match": '"something-else"'}
    )
    assert changed.status_code == 200 and changed.content == current.content

    # an old version's URL (a page loaded before an upgrade) gets the current file, revalidated each time
    old = await client.get(f"{server.url}/completion-assets/0000000000000000/{name}")
    assert old.status_code == 200
    assert old.headers["cache-control"] == "no-cache"
    assert old.content == current.content


async def test_unknown_assets_are_404_envelopes(server: RunningServer, client: httpx.AsyncClient) -> None:
    for path in ("nope.js", "index.html", "..%2Fviews.py", "%2E%2E%2F__init__.py"):
        resp = await client.get(f"{server.url}/completion-assets/{BUNDLE.version}/{path}")
        assert resp.status_code == 404, path
        assert resp.json()["code"] == "not_found"
    resp = await client.get(f"{server.url}/completion-assets/{BUNDLE.version}/../../healthz")
    assert resp.status_code in (200, 404)  # normalised by the client to /healthz, never a file
    assert "text/javascript" not in resp.headers.get("content-type", "")


def test_version_changes_with_any_asset(tmp_path: Path) -> None:
    directory = tmp_path
    (directory / "index.html").write_text('<script type="module" src="@ASSETS@/app.js"></script>')
    (directory / "app.js").write_text("export const a = 1;\n")
    (directory / "notes.txt").write_text("not served")
    first = load_bundle(directory)
    assert set(first.assets) == {"app.js"}
    assert f"/completion-assets/{first.version}/app.js".encode() in first.page
    (directory / "app.js").write_text("export const a = 2;\n")
    second = load_bundle(directory)
    assert second.version != first.version
    assert second.assets["app.js"].etag != first.assets["app.js"].etag
