"""The page's pieces that need more than the echo app: the SSE parser on awkward chunking, citations
from a dataset, read-aloud with the embedded speech synthesizer."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from playwright.async_api import expect

from inkwell.webpage.views import BUNDLE
from tests.browser.conftest import echo_dsl, publish_app
from tests.browser.test_page import run_and_wait
from tests.conftest import RunningServer
from tests.retrieval.conftest import CORPUS, make_dataset, retrieval_app, retrieval_service

OpenPage = Callable[..., Any]

# every frame shape the parser must handle: JSON data, a ping, a comment, CRLF and CR line ends, a
# multi-line data field, a field without a space after the colon, an unterminated last frame
STREAM = (
    'data: {"event":"message","answer":"a"}\n\n'
    "event: ping\n\n"
    ": a comment, ignored\n\n"
    'data: {"event":"message",\r\ndata: "answer":"b é 🖋️"}\r\n\r\n'
    "retry: 1000\n"
    'data:{"event":"message_end","id":"m1"}\r\r'
    'data: {"event":"lost"}'
)
EXPECTED = [
    {"event": "message", "data": '{"event":"message","answer":"a"}', "id": ""},
    {"event": "ping", "data": "", "id": ""},
    {"event": "message", "data": '{"event":"message",\n"answer":"b é 🖋️"}', "id": ""},
    {"event": "message", "data": '{"event":"message_end","id":"m1"}', "id": ""},
]

SPLIT_EVERYWHERE = """async ([url, stream]) => {
  const { SSEParser } = await import(url);
  const results = [];
  const whole = new SSEParser();
  results.push(whole.push(stream));
  for (let cut = 1; cut < stream.length; cut += 1) {
    const parser = new SSEParser();
    results.push([...parser.push(stream.slice(0, cut)), ...parser.push(stream.slice(cut))]);
  }
  const single = new SSEParser();
  const events = [];
  for (const ch of stream) events.push(...single.push(ch));
  results.push(events);
  return results;
}"""

READ_BYTES = """async ([url, stream]) => {
  const { readEventStream } = await import(url);
  const bytes = new TextEncoder().encode(stream);
  // one byte per chunk: multi-byte characters arrive split
  const body = new ReadableStream({
    start(controller) {
      for (const byte of bytes) controller.enqueue(new Uint8Array([byte]));
      controller.close();
    },
  });
  const events = [];
  let pings = 0;
  await readEventStream(new Response(body), { onEvent: (e) => events.push(e), onPing: () => { pings += 1; } });
  let failure = null;
  try {
    await readEventStream(new Response("data: not json\\n\\n"), { onEvent: () => {} });
  } catch (error) {
    failure = error.message;
  }
  return { events, pings, failure };
}"""


async def test_sse_parser_handles_any_chunking(web_server: RunningServer, open_page: OpenPage) -> None:
    published = await publish_app(web_server, echo_dsl())
    opened = await open_page(published.page_url)
    url = f"/completion-assets/{BUNDLE.version}/sse.js"
    results = await opened.page.evaluate(SPLIT_EVERYWHERE, [url, STREAM])
    assert len(results) == len(STREAM.encode("utf-16-le")) // 2 + 1  # every cut between JS code units
    for cut, events in enumerate(results):
        assert events == EXPECTED, f"split at {cut}"

    read = await opened.page.evaluate(READ_BYTES, [url, STREAM])
    assert read["events"] == [
        {"event": "message", "answer": "a"},
        {"event": "message", "answer": "b é 🖋️"},
        {"event": "message_end", "id": "m1"},
    ]
    assert read["pings"] == 1
    assert read["failure"] == "The server sent an event that is not JSON."


async def test_citations_are_shown(web_server: RunningServer, open_page: OpenPage) -> None:
    async with retrieval_service(web_server.settings.database_url) as service:
        dataset_id = await make_dataset(service, CORPUS, name="Handbook", chunk_size=300)
    published = await publish_app(web_server, retrieval_app(dataset_id, top_k=2))
    opened = await open_page(published.page_url)
    page = opened.page
    await page.get_by_label("Query").fill("How many vacation days do I get per year?")
    await run_and_wait(opened)
    citations = opened.result().locator(".citations")
    await expect(citations).to_be_visible()
    await expect(citations.get_by_role("heading", name="Citations")).to_be_visible()
    items = citations.locator("li")
    await expect(items).to_have_count(2)
    first = items.first
    await expect(first.locator("summary")).to_contain_text("leave.md")
    await expect(first.locator("summary")).to_contain_text("score ")
    await expect(first.locator(".citation-dataset")).to_have_text("Handbook")
    await expect(first.locator(".citation-content")).to_be_hidden()  # folded until opened
    await first.locator("summary").click()
    await expect(first.locator(".citation-content")).to_contain_text("25 vacation days")
    await opened.screenshot("citations")


async def test_no_citations_without_resources(web_server: RunningServer, open_page: OpenPage) -> None:
    published = await publish_app(web_server, echo_dsl())
    opened = await open_page(published.page_url)
    await opened.page.get_by_label("Query").fill("no datasets here")
    await run_and_wait(opened)
    await expect(opened.result().locator(".citations")).to_be_hidden()


# long enough to be still playing when the test presses Stop reading (about ten seconds of speech)
SPOKEN = "Hello there. This answer is read aloud by the page, sentence after sentence, " * 3

READ_ALOUD_PROBE = """() => {
  // records what the page plays: the Audio elements it creates and whether playback started
  window.audioLog = [];
  const blobs = new Map();
  const createObjectURL = URL.createObjectURL;
  URL.createObjectURL = (blob) => {
    const url = createObjectURL(blob);
    blobs.set(url, blob);
    return url;
  };
  const original = window.Audio;
  window.Audio = function (src) {
    const audio = new original(src);
    const blob = blobs.get(src);
    const entry = { src, played: false, error: null, size: blob ? blob.size : null, type: blob ? blob.type : null };
    window.audioLog.push(entry);
    audio.addEventListener("playing", () => { entry.played = true; });
    audio.addEventListener("error", () => { entry.error = audio.error && audio.error.code; });
    return audio;
  };
}"""


async def test_read_aloud(web_server: RunningServer, open_page: OpenPage) -> None:
    published = await publish_app(web_server, echo_dsl(text_to_speech={"enabled": True, "language": "en-US"}))
    opened = await open_page(published.page_url)
    page = opened.page
    await page.evaluate(READ_ALOUD_PROBE)
    await page.get_by_label("Query").fill(SPOKEN)
    await run_and_wait(opened)
    speak = opened.result().get_by_role("button", name="Read aloud")
    await speak.click()
    await page.wait_for_function("() => window.audioLog.length === 1 && window.audioLog[0].size !== null")
    log = await page.evaluate("() => window.audioLog")
    assert opened.requested("/api/text-to-audio") == 1
    assert log[0]["src"].startswith("blob:")
    assert log[0]["size"] > 1000  # real MP3 bytes from the embedded synthesizer
    assert log[0]["type"] == "audio/mpeg"
    # it plays, the button offers to stop it, and stopping pauses it
    await page.wait_for_function("() => window.audioLog[0].played || window.audioLog[0].error !== null")
    entry = (await page.evaluate("() => window.audioLog"))[0]
    assert entry["played"] and entry["error"] is None, entry
    stop = opened.result().get_by_role("button", name="Stop reading")
    await expect(stop).to_be_visible()
    await stop.click()
    await expect(opened.result().get_by_role("button", name="Read aloud")).to_be_visible()
    await expect(opened.result()).not_to_have_attribute("data-speaking", "true")


async def test_speech_while_streaming_is_played(web_server: RunningServer, open_page: OpenPage) -> None:
    """``autoPlay``: the stream carries ``tts_message`` audio; the page plays it once the audio ends."""
    tts = {"enabled": True, "language": "en-US", "autoPlay": "enabled"}
    published = await publish_app(web_server, echo_dsl(text_to_speech=tts))
    opened = await open_page(published.page_url)
    page = opened.page
    await page.evaluate(READ_ALOUD_PROBE)
    await page.get_by_label("Query").fill(SPOKEN)
    await run_and_wait(opened)
    await page.wait_for_function("() => window.audioLog.length === 1")
    await page.wait_for_function("() => window.audioLog[0].played || window.audioLog[0].error !== null")
    entry = (await page.evaluate("() => window.audioLog"))[0]
    assert entry["played"] and entry["error"] is None, entry
    assert entry["type"] == "audio/mpeg" and entry["size"] > 1000
    assert opened.requested("/api/text-to-audio") == 0  # the audio came with the stream
    await expect(opened.result().get_by_role("button", name="Stop reading")).to_be_visible()
    await opened.result().get_by_role("button", name="Stop reading").click()
    await expect(opened.result().get_by_role("button", name="Read aloud")).to_be_visible()
