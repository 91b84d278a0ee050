"""The page of a published app in headless Chromium: the form from ``/api/parameters``, streaming,
stop, feedback, saved answers, errors in words, passports, escaping."""

from __future__ import annotations

import asyncio
import os
import shutil
import time
from collections.abc import Callable
from typing import Any

import httpx
from playwright.async_api import Browser, expect

from tests.browser.conftest import DOCS_SCREENSHOT, OpenedPage, disable_site, echo_dsl, publish_app
from tests.conftest import EXAMPLES, RunningServer

OpenPage = Callable[..., Any]
DEMO_APP = (EXAMPLES / "demo.yml").read_text()

# a long answer: the echo model writes it one word per token
LONG_TEXT = " ".join(f"word{i:03d}" for i in range(120))

FORM = [
    {"text-input": {"variable": "topic", "label": "Topic", "required": True, "max_length": 20, "default": "otters"}},
    {"paragraph": {"variable": "notes", "label": "Notes", "required": False}},
    {"select": {"variable": "tone", "label": "Tone", "required": True, "options": ["calm", "loud"], "default": "loud"}},
    {"number": {"variable": "count", "label": "How many", "required": False, "default": 3}},
    {"checkbox": {"variable": "short", "label": "Keep it short", "required": False, "default": True}},
    {"text-input": {"variable": "secret", "label": "Hidden", "required": False, "hide": True}},
]
FORM_PROMPT = "topic={{topic}} notes={{notes}} tone={{tone}} count={{count}} short={{short}}"


async def run_and_wait(opened: OpenedPage, state: str = "done", index: int = 0) -> None:
    await opened.page.get_by_role("button", name="Run", exact=True).click()
    await expect(opened.result(index)).to_have_attribute("data-state", state, timeout=20_000)


async def test_form_is_rendered_from_parameters(web_server: RunningServer, open_page: OpenPage) -> None:
    published = await publish_app(web_server, echo_dsl(user_input_form=FORM, pre_prompt=FORM_PROMPT))
    opened = await open_page(published.page_url)
    page = opened.page

    topic = page.get_by_label("Topic")
    await expect(topic).to_have_value("otters")
    await expect(topic).to_have_attribute("maxlength", "20")
    await expect(topic).to_have_attribute("aria-required", "true")
    await expect(page.get_by_text("6 / 20")).to_be_visible()
    notes = page.get_by_label("Notes")
    assert await notes.evaluate("el => el.tagName") == "TEXTAREA"
    assert await notes.get_attribute("aria-required") is None
    tone = page.get_by_label("Tone")
    await expect(tone).to_have_value("loud")
    assert await tone.locator("option").all_text_contents() == ["Choose…", "calm", "loud"]
    await expect(page.get_by_label("How many")).to_have_value("3")
    await expect(page.get_by_label("Keep it short")).to_be_checked()
    assert await page.get_by_label("Hidden").count() == 0  # hidden items are not shown
    # required fields are marked, optional ones say so
    assert await page.locator(".required-mark").count() == 2
    assert await page.locator(".optional-mark").count() == 3

    await topic.fill("seals")
    await expect(page.get_by_text("5 / 20")).to_be_visible()
    await notes.fill("two\nlines")
    await tone.select_option("calm")
    await page.get_by_label("How many").fill("7")
    await page.get_by_label("Keep it short").uncheck()
    await run_and_wait(opened)
    text = await opened.output().text_content()
    # the echo model answers with the rendered prompt (simple mode ends it with a new line)
    assert text == "topic=seals notes=two\nlines tone=calm count=7 short=false\n"
    title = await page.locator("#site-title").inner_text()
    assert title.startswith("page-")
    await expect(page).to_have_title(title)


async def test_required_field_is_checked_before_sending(web_server: RunningServer, open_page: OpenPage) -> None:
    published = await publish_app(web_server, echo_dsl())
    opened = await open_page(published.page_url)
    page = opened.page
    query = page.get_by_label("Query")

    await query.fill("   ")
    await page.get_by_role("button", name="Run", exact=True).click()
    error = page.locator(".field-error")
    await expect(error).to_have_text("Query is required.")
    await expect(error).to_be_visible()
    await expect(query).to_have_attribute("aria-invalid", "true")
    await expect(query).to_be_focused()
    await expect(page.locator("#form-error")).to_have_text("Query is required.")
    assert opened.requested("/api/completion-messages") == 0
    assert await page.locator("article.result").count() == 0

    await query.fill("now it is filled")
    await expect(error).to_be_hidden()  # typing clears the message
    await run_and_wait(opened)
    await expect(opened.output()).to_have_text("now it is filled")
    await expect(page.locator("#form-error")).to_be_hidden()
    assert opened.requested("/api/completion-messages") == 1


async def test_streamed_text_grows_while_it_is_written(
    server_factory: Callable[..., RunningServer], open_page: OpenPage
) -> None:
    slow = server_factory(builtin_token_delay_ms=40)  # 120 words: about 5 s
    published = await publish_app(slow, echo_dsl())
    opened = await open_page(published.page_url)
    page = opened.page
    await page.get_by_label("Query").fill(LONG_TEXT)
    await page.get_by_role("button", name="Run", exact=True).click()

    await expect(opened.result()).to_have_attribute("data-state", "streaming")
    await expect(page.locator("#run")).to_be_disabled()
    await expect(page.locator("#run")).to_have_text("Running…")
    await expect(opened.result().get_by_role("button", name="Stop")).to_be_visible()
    samples: list[int] = []
    for _ in range(5):
        samples.append(await opened.output_length())
        await asyncio.sleep(0.4)
    await opened.screenshot("streaming")
    await expect(opened.result()).to_have_attribute("data-state", "done", timeout=20_000)
    final = await opened.output_length()

    assert await opened.output().text_content() == LONG_TEXT + "\n"
    assert final == len(LONG_TEXT) + 1
    # the text arrived piece by piece: every sample is longer than the one before, none is the whole
    assert all(b > a for a, b in zip(samples, samples[1:], strict=False)), samples
    assert 0 < samples[0] and samples[-1] < final, samples
    await expect(opened.result().locator(".result-status")).to_have_text("Done")
    await expect(opened.result().get_by_role("button", name="Stop")).to_be_hidden()
    await expect(page.locator("#run")).to_be_enabled()


async def test_stop_like_save_and_the_saved_list(
    server_factory: Callable[..., RunningServer], open_page: OpenPage, client: httpx.AsyncClient
) -> None:
    slow = server_factory(builtin_token_delay_ms=150)  # 120 words: 18 s unless stopped
    published = await publish_app(slow, echo_dsl())
    opened = await open_page(published.page_url)
    page = opened.page
    await expect(page.get_by_text("Nothing saved yet.")).to_be_visible()
    await page.get_by_label("Query").fill(LONG_TEXT)
    await page.get_by_role("button", name="Run", exact=True).click()

    result = opened.result()
    await expect(result).to_have_attribute("data-state", "streaming")
    started = time.monotonic()
    while await opened.output_length() < 40:
        assert time.monotonic() - started < 10
        await asyncio.sleep(0.05)
    await result.get_by_role("button", name="Stop").click()
    await expect(result).to_have_attribute("data-state", "stopped", timeout=5_000)
    await expect(result.locator(".result-status")).to_have_text("Stopped")
    assert opened.requested("/stop") == 1
    stopped_at = await opened.output_length()
    await asyncio.sleep(1.0)  # several tokens' worth: nothing more arrives
    assert await opened.output_length() == stopped_at
    assert 40 <= stopped_at < len(LONG_TEXT)
    partial = await opened.output().text_content()
    assert partial and LONG_TEXT.startswith(partial)
    await expect(page.locator("#run")).to_be_enabled()

    # like it
    like = result.get_by_role("button", name="Like", exact=True)
    dislike = result.get_by_role("button", name="Dislike", exact=True)
    await like.click()
    await expect(like).to_have_attribute("aria-pressed", "true")
    await expect(dislike).to_have_attribute("aria-pressed", "false")
    await expect(result.locator(".result-note")).to_have_text("Thanks for the feedback.")
    feedbacks = await client.get(f"{slow.url}/v1/app/feedbacks", headers=published.app.headers)
    assert feedbacks.status_code == 200, feedbacks.text
    ratings = [f["rating"] for f in feedbacks.json()["data"]]
    assert ratings == ["like"]

    # save it: it shows in the saved list, with its words
    save = result.get_by_role("button", name="Save", exact=True)
    await save.click()
    await expect(result.get_by_role("button", name="Saved", exact=True)).to_have_attribute("aria-pressed", "true")
    saved = page.locator(".saved-item")
    await expect(saved).to_have_count(1)
    await expect(saved.locator(".saved-answer")).to_have_text(partial)
    await expect(saved.locator(".saved-rating")).to_have_text("Liked")  # the feedback comes with it
    await expect(page.locator("#saved-count")).to_have_text("(1)")
    await expect(page.get_by_text("Nothing saved yet.")).to_be_hidden()
    await opened.screenshot("stopped-liked-saved")

    # it is still there after a reload (same passport, same end user)
    await page.reload()
    await page.wait_for_selector("body[data-ready='true']")
    await expect(page.locator(".saved-item .saved-answer")).to_have_text(partial)

    # and deleting it empties the list
    await page.locator(".saved-item").get_by_role("button", name="Delete this saved answer").click()
    await expect(page.locator(".saved-item")).to_have_count(0)
    await expect(page.get_by_text("Nothing saved yet.")).to_be_visible()
    await page.reload()
    await page.wait_for_selector("body[data-ready='true']")
    await expect(page.locator(".saved-item")).to_have_count(0)


async def test_stop_before_the_first_token(server_factory: Callable[..., RunningServer], open_page: OpenPage) -> None:
    """No task id yet: the page closes the stream, which cancels the generation."""
    slow = server_factory(builtin_ttft_ms=5000, builtin_token_delay_ms=10)
    published = await publish_app(slow, echo_dsl())
    opened = await open_page(published.page_url)
    await opened.page.get_by_label("Query").fill("never written")
    await opened.page.get_by_role("button", name="Run", exact=True).click()
    result = opened.result()
    await expect(result).to_have_attribute("data-state", "waiting")
    await expect(result.locator(".result-status")).to_have_text("Waiting for the model…")
    await result.get_by_role("button", name="Stop").click()
    await expect(result).to_have_attribute("data-state", "stopped", timeout=3_000)
    assert await opened.output_length() == 0
    await expect(opened.page.locator("#run")).to_be_enabled()


async def test_an_error_before_the_stream_is_shown_in_words(web_server: RunningServer, open_page: OpenPage) -> None:
    published = await publish_app(web_server, echo_dsl())
    opened = await open_page(published.page_url)
    await disable_site(published)  # the page is open; the next request is refused
    await opened.page.get_by_label("Query").fill("hello")
    await run_and_wait(opened, state="failed")
    alert = opened.result().get_by_role("alert")
    await expect(alert).to_have_text("Site is disabled.")
    await expect(opened.result().locator(".result-status")).to_have_text("Failed")
    await expect(opened.result().locator(".result-actions")).to_be_hidden()
    await expect(opened.page.locator("#run")).to_be_enabled()


async def test_a_page_of_a_disabled_site_says_so(web_server: RunningServer, open_page: OpenPage) -> None:
    published = await publish_app(web_server, echo_dsl())
    await disable_site(published)
    opened = await open_page(published.page_url, ready="failed")
    banner = opened.page.locator("#page-error")
    await expect(banner).to_be_visible()
    await expect(banner).to_contain_text("This app cannot be used right now: ")
    await expect(opened.page.locator("#input-form")).to_be_hidden()


async def test_an_error_during_the_stream_is_shown_in_words(
    server_factory: Callable[..., RunningServer], open_page: OpenPage, client: httpx.AsyncClient
) -> None:
    """The model fails after the stream opened: the ``error`` event's message is what the page shows."""
    from tests.fakes.openai_upstream import FakeOpenAI

    with FakeOpenAI() as fake:
        fake.set_scenario("inband_error", drop_after=3)
        running = server_factory(openai_base_url=fake.base_url, openai_api_key="sk-test")
        model = {"provider": "openai", "name": "gpt-4o-mini", "mode": "chat", "completion_params": {}}
        published = await publish_app(running, echo_dsl(model=model))
        # what the API itself says for the same failure
        token = (await client.get(f"{running.url}/api/passport", headers={"X-App-Code": published.code})).json()[
            "access_token"
        ]
        async with client.stream(
            "POST",
            f"{running.url}/api/completion-messages",
            headers={"X-App-Code": published.code, "Authorization": f"Bearer {token}"},
            json={"inputs": {"query": "hi"}, "response_mode": "streaming"},
        ) as resp:
            body = (await resp.aread()).decode()
        assert resp.status_code == 200
        error_frames = [line for line in body.splitlines() if '"event":"error"' in line.replace(" ", "")]
        assert len(error_frames) == 1, body
        import json

        expected = json.loads(error_frames[0].removeprefix("data:").strip())["message"]
        assert expected

        opened = await open_page(published.page_url)
        await opened.page.get_by_label("Query").fill("hi")
        await run_and_wait(opened, state="failed")
        await expect(opened.result().get_by_role("alert")).to_have_text(expected)
        assert await opened.output_length() > 0  # the text before the failure stays
        await expect(opened.result().locator(".result-actions")).to_be_hidden()
        await opened.screenshot("stream-error")


async def test_an_expired_or_forged_passport_is_replaced(web_server: RunningServer, open_page: OpenPage) -> None:
    published = await publish_app(web_server, echo_dsl())
    opened = await open_page(published.page_url)
    page = opened.page
    key = f"inkwell.passport.{published.code}"
    first = await page.evaluate("key => localStorage.getItem(key)", key)
    assert first and first.count(".") == 2  # a JWT
    assert opened.requested("/api/passport") == 1

    # a reload reuses the stored passport
    await page.reload()
    await page.wait_for_selector("body[data-ready='true']")
    assert opened.requested("/api/passport") == 1

    await page.get_by_label("Query").fill("kept across passports")
    await run_and_wait(opened)
    await opened.result().get_by_role("button", name="Save", exact=True).click()
    await expect(page.locator(".saved-item")).to_have_count(1)

    # a passport the server refuses is dropped and a new one fetched, for the same end user (the
    # browser's session id): the page works and the saved answer is still listed
    await page.evaluate("key => localStorage.setItem(key, 'not.a.passport')", key)
    await page.reload()
    await page.wait_for_selector("body[data-ready='true']")
    assert opened.requested("/api/passport") == 2
    second = await page.evaluate("key => localStorage.getItem(key)", key)
    assert second and second not in (first, "not.a.passport")
    await expect(page.locator(".saved-item .saved-answer")).to_have_text("kept across passports")
    await page.get_by_label("Query").fill("works again")
    await run_and_wait(opened)
    await expect(opened.output()).to_have_text("works again")


async def test_a_passport_that_expires_while_the_page_is_open(
    server_factory: Callable[..., RunningServer], open_page: OpenPage
) -> None:
    """The stream request gets 401 ``Token has expired.``; the page fetches a new passport (same end
    user) and sends the request again, unseen by the user."""
    running = server_factory(passport_ttl_seconds=2, builtin_token_delay_ms=5)  # valid 1 to 2 s
    published = await publish_app(running, echo_dsl())
    opened = await open_page(published.page_url)
    page = opened.page
    await page.get_by_label("Query").fill("before")
    await run_and_wait(opened)
    await opened.result().get_by_role("button", name="Save", exact=True).click()
    await expect(page.locator(".saved-item")).to_have_count(1)
    passports = opened.requested("/api/passport")

    await asyncio.sleep(2.2)  # the passport is now expired (2 s, counted from a whole second)
    statuses: list[int] = []
    page.on("response", lambda r: statuses.append(r.status) if "/api/completion-messages" in r.url else None)
    await page.get_by_label("Query").fill("after expiry")
    await run_and_wait(opened)
    await expect(opened.output()).to_have_text("after expiry")
    assert statuses == [401, 200]
    assert opened.requested("/api/passport") == passports + 1
    # expired again: saving (a JSON request) is retried the same way, for the same end user, so the
    # answer saved before is still listed beside the new one
    await asyncio.sleep(2.2)
    await opened.result().get_by_role("button", name="Save", exact=True).click()
    await expect(page.locator(".saved-item")).to_have_count(2)


async def test_text_from_the_server_is_never_markup(web_server: RunningServer, open_page: OpenPage) -> None:
    markup = '<img src=x onerror="window.pwned=1"><b>bold</b>'
    form = [{"text-input": {"variable": "query", "label": markup, "required": True}}]
    published = await publish_app(web_server, echo_dsl(user_input_form=form))
    opened = await open_page(published.page_url)
    page = opened.page
    await expect(page.locator(".field-label")).to_contain_text(markup)
    await page.get_by_label(markup).fill(markup)
    await run_and_wait(opened)
    await expect(opened.output()).to_have_text(markup)
    assert await page.locator("main img, main b").count() == 0
    assert await page.evaluate("() => window.pwned === undefined")


async def test_more_like_this(web_server: RunningServer, open_page: OpenPage) -> None:
    published = await publish_app(web_server, echo_dsl(more_like_this={"enabled": True}))
    opened = await open_page(published.page_url)
    await opened.page.get_by_label("Query").fill("the same again")
    await run_and_wait(opened)
    await opened.result().get_by_role("button", name="More like this").click()
    second = opened.result(1)
    await expect(second).to_have_attribute("data-state", "done")
    await expect(second.locator("h3")).to_have_text("More like this (1)")
    await expect(opened.output(1)).to_have_text("the same again")  # the echo model repeats the prompt
    assert opened.requested("/more-like-this?response_mode=streaming") == 1
    # the new answer is a message of its own: it can be saved on its own
    await second.get_by_role("button", name="Save", exact=True).click()
    await expect(opened.page.locator(".saved-item")).to_have_count(1)
    await expect(opened.result().get_by_role("button", name="Save", exact=True)).to_be_visible()


async def test_more_like_this_is_offered_only_when_enabled(web_server: RunningServer, open_page: OpenPage) -> None:
    published = await publish_app(web_server, echo_dsl())
    opened = await open_page(published.page_url)
    await opened.page.get_by_label("Query").fill("once")
    await run_and_wait(opened)
    await expect(opened.result().get_by_role("button", name="Save", exact=True)).to_be_visible()
    assert await opened.result().get_by_role("button", name="More like this").count() == 0
    assert await opened.result().get_by_role("button", name="Read aloud").count() == 0


async def test_phone_sized_screen(web_server: RunningServer, open_page: OpenPage) -> None:
    published = await publish_app(web_server, echo_dsl(user_input_form=FORM, pre_prompt=FORM_PROMPT))
    opened = await open_page(
        published.page_url,
        viewport={"width": 390, "height": 844},
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
    )
    page = opened.page
    width = 390

    async def fits(locator: Any) -> None:
        box = await locator.bounding_box()
        assert box is not None
        assert box["x"] >= 0 and box["x"] + box["width"] <= width + 0.5, box

    # nothing is wider than the screen: no sideways scrolling
    assert await page.evaluate("() => document.documentElement.scrollWidth") <= width
    for label in ("Topic", "Notes", "Tone", "How many"):
        await fits(page.get_by_label(label))
    run = page.get_by_role("button", name="Run", exact=True)
    await fits(run)
    box = await run.bounding_box()
    assert box is not None and box["height"] >= 44  # a finger-sized target

    await page.get_by_label("Topic").tap()
    await page.get_by_label("Topic").fill("phones")
    await run.tap()
    result = opened.result()
    await expect(result).to_have_attribute("data-state", "done")
    await expect(opened.output()).to_have_text("topic=phones notes= tone=loud count=3 short=true")
    await fits(opened.output())
    await fits(result.get_by_role("button", name="Save", exact=True))
    assert await page.evaluate("() => document.documentElement.scrollWidth") <= width
    await opened.screenshot("phone")


async def test_screenshot_of_the_page(web_server: RunningServer, open_page: OpenPage) -> None:
    """The README's picture: the demo app after a run, saved. Kept as an artifact of every run; written
    to docs/page.png when INKWELL_UPDATE_DOCS_SCREENSHOT=1."""
    published = await publish_app(web_server, DEMO_APP)
    opened = await open_page(published.page_url, viewport={"width": 1100, "height": 640})
    page = opened.page
    await expect(page.locator("#site-title")).to_have_text("Inkwell demo")
    await expect(page).to_have_title("Inkwell demo")
    await page.get_by_label("Topic").fill("otters")
    await run_and_wait(opened)
    await opened.result().get_by_role("button", name="Like", exact=True).click()
    await opened.result().get_by_role("button", name="Save", exact=True).click()
    await expect(page.locator(".saved-item")).to_have_count(1)
    path = await opened.screenshot("page", full_page=False)
    assert path.stat().st_size > 10_000
    if os.environ.get("INKWELL_UPDATE_DOCS_SCREENSHOT") == "1":
        DOCS_SCREENSHOT.parent.mkdir(exist_ok=True)
        shutil.copyfile(path, DOCS_SCREENSHOT)


async def test_a_wrong_link_shows_a_page_that_says_so(web_server: RunningServer, browser: Browser) -> None:
    context = await browser.new_context()
    try:
        page = await context.new_page()
        response = await page.goto(f"{web_server.url}/completion/NoSuchCode000000")
        assert response is not None and response.status == 404
        await expect(page.get_by_role("heading", name="App not found")).to_be_visible()
        await expect(page).to_have_title("App not found")
    finally:
        await context.close()
