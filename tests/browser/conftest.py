"""Browser tests: the page of a published app in real headless Chromium (Debian's ``chromium``, driven by
Playwright's Python package; nothing downloads a browser) against real uvicorn servers.

Chromium is required like PostgreSQL is: a missing browser fails the run (in CI and locally), unless
``INKWELL_BROWSER_TESTS=skip`` is set outside CI (``CI`` unset) for a machine that cannot have one.
Screenshots go to ``tests/browser/artifacts/`` (git-ignored); their paths are printed.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, ConsoleMessage, Page, Playwright, async_playwright

from inkwell.db import Database
from inkwell.sites.service import disable, publish
from tests.conftest import ROOT, RunningServer, SeededApp, dsl, seed

CHROMIUM = os.environ.get("INKWELL_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
ARTIFACTS = ROOT / "tests" / "browser" / "artifacts"
DOCS_SCREENSHOT = ROOT / "docs" / "page.png"
# the form, the stream and the other answers of the page: quick enough for tests, slow enough to watch
TOKEN_DELAY_MS = 15


def _chromium_path() -> str:
    path = CHROMIUM if os.path.isabs(CHROMIUM) else shutil.which(CHROMIUM)
    if path and os.access(path, os.X_OK):
        return path
    message = f"Chromium is required for the browser tests ({CHROMIUM}): apt-get install -y chromium"
    if not os.environ.get("CI") and os.environ.get("INKWELL_BROWSER_TESTS") == "skip":
        pytest.skip(message)
    pytest.fail(message)


@pytest.fixture(scope="session")
async def playwright_driver() -> AsyncIterator[Playwright]:
    async with async_playwright() as driver:
        yield driver


@pytest.fixture(scope="session")
async def browser(playwright_driver: Playwright) -> AsyncIterator[Browser]:
    launched = await playwright_driver.chromium.launch(
        executable_path=_chromium_path(), args=CHROMIUM_ARGS, headless=True
    )
    try:
        yield launched
    finally:
        await launched.close()


@dataclass
class OpenedPage:
    """A page in a fresh browser context (its own localStorage), with what it logged."""

    page: Page
    url: str
    errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)

    def output(self, index: int = 0) -> Any:
        return self.page.locator("[data-testid=output]").nth(index)

    def result(self, index: int = 0) -> Any:
        return self.page.locator("article.result").nth(index)

    async def output_length(self, index: int = 0) -> int:
        return len(await self.output(index).text_content() or "")

    def requested(self, fragment: str) -> int:
        return sum(1 for url in self.requests if fragment in url)

    async def screenshot(self, name: str, *, full_page: bool = True) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        await self.page.screenshot(path=str(path), full_page=full_page)
        print(f"screenshot: {path}")  # noqa: T201 - the artifact's path in the test log
        return path


@pytest.fixture
async def open_page(browser: Browser) -> AsyncIterator[Callable[..., Any]]:
    """``await open_page(url, viewport=..., **context_options)``: a page loaded and ready (the form
    rendered from ``/api/parameters``). Uncaught page errors fail the test."""
    contexts: list[Any] = []
    opened: list[OpenedPage] = []

    async def factory(url: str, *, ready: str = "true", **options: Any) -> OpenedPage:
        options.setdefault("viewport", {"width": 1280, "height": 900})
        context = await browser.new_context(**options)
        contexts.append(context)
        page = await context.new_page()
        page.set_default_timeout(15_000)
        result = OpenedPage(page=page, url=url)
        opened.append(result)
        page.on("pageerror", lambda exc: result.errors.append(f"page error: {exc}"))

        def on_console(message: ConsoleMessage) -> None:
            if message.type == "error" and "Failed to load resource" not in message.text:
                result.errors.append(f"console: {message.text}")

        page.on("console", on_console)
        page.on("request", lambda request: result.requests.append(request.method + " " + request.url))
        await page.goto(url)
        await page.wait_for_selector(f"body[data-ready='{ready}']")
        return result

    yield factory
    for context in contexts:
        await context.close()
    errors = [e for page in opened for e in page.errors]
    assert not errors, errors


# --------------------------------------------------------------------------------------------------
# published apps


@dataclass
class PublishedApp:
    app: SeededApp
    code: str
    database_url: str

    @property
    def page_url(self) -> str:
        return f"{self.app.base_url}/completion/{self.code}"


async def publish_app(running: RunningServer, text: str) -> PublishedApp:
    app = await seed(running, text)
    db = Database(running.settings.database_url)
    try:
        site = await publish(db, app.app_id)
    finally:
        await db.dispose()
    return PublishedApp(app=app, code=site.code, database_url=running.settings.database_url)


async def disable_site(published: PublishedApp) -> None:
    db = Database(published.database_url)
    try:
        await disable(db, published.app.app_id)
    finally:
        await db.dispose()


def echo_dsl(**model_config: Any) -> str:
    """An echo app: the answer is the rendered ``pre_prompt`` (by default the ``query`` input)."""
    return dsl(f"page-{uuid.uuid4().hex[:6]}", **model_config)


@pytest.fixture
def web_server(server_factory: Callable[..., RunningServer]) -> RunningServer:
    """A server whose echo model writes one token every ``TOKEN_DELAY_MS``."""
    return server_factory(builtin_token_delay_ms=TOKEN_DELAY_MS)
