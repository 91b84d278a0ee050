"""Speech while streaming: ``tts_message`` events beside unchanged message events, ``tts_message_end``
after ``message_end``, no TTS work in blocking mode, and a stop or a disconnect ends the synthesis."""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Callable
from typing import Any

import httpx

from tests.audio.conftest import SENTENCES, decode, seed_tts
from tests.conftest import RunningServer, SeededApp, dsl, seed
from tests.fakes.openai_upstream import FakeOpenAI
from tests.streaming.conftest import blocking, open_stream, stop_task, stream_all, wait_until

TTS_KEYS = ["event", "message_id", "created_at", "task_id", "workflow_run_id", "audio"]
AUTOPLAY = {"autoPlay": "enabled"}


def _message_events(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in events if e["event"] in ("message", "message_replace", "message_end", "error")]


def _without_ids(event: dict[str, Any]) -> dict[str, Any]:
    varying = ("id", "message_id", "task_id", "created_at", "metadata")
    return {k: v for k, v in event.items() if k not in varying}


async def test_tts_messages_beside_unchanged_message_events(server: RunningServer, client: httpx.AsyncClient) -> None:
    speaking = await seed_tts(server, **AUTOPLAY)
    silent = await seed(server, dsl("no-tts"))
    _, spoken = await stream_all(client, speaking, {"query": SENTENCES})
    _, plain = await stream_all(client, silent, {"query": SENTENCES})
    events = spoken.events
    # the text events are exactly those of the same request without speech
    assert [_without_ids(e) for e in _message_events(events)] == [
        _without_ids(e) for e in _message_events(plain.events)
    ]
    kinds = [e["event"] for e in events]
    assert kinds.count("message_end") == 1 and kinds.count("tts_message_end") == 1
    assert kinds[-1] == "tts_message_end"
    assert kinds.index("message_end") < kinds.index("tts_message_end")
    assert all(k != "message" for k in kinds[kinds.index("message_end") :])
    tts = [e for e in events if e["event"] == "tts_message"]
    assert len(tts) >= 2  # one clip per sentence or two
    end = events[-1]
    for event in [*tts, end]:
        assert list(event) == TTS_KEYS
        assert event["message_id"] == events[0]["message_id"] and event["task_id"] == events[0]["task_id"]
        assert event["workflow_run_id"] is None
    assert end["audio"] == ""
    clips = [base64.b64decode(e["audio"]) for e in tts]
    assert all(decode(clip).duration > 0.3 for clip in clips)
    assert sum(decode(clip).duration for clip in clips) > 3.0  # the whole answer was spoken


async def test_no_speech_without_autoplay_or_in_blocking_mode(server: RunningServer, client: httpx.AsyncClient) -> None:
    manual = await seed_tts(server, autoPlay="disabled")
    _, reader = await stream_all(client, manual, {"query": SENTENCES})
    assert not [e for e in reader.events if e["event"].startswith("tts")]
    speaking = await seed_tts(server, **AUTOPLAY)
    body = await blocking(client, speaking, {"query": SENTENCES})
    assert "audio" not in body and SENTENCES in body["answer"]


async def test_remote_voice_while_streaming_and_nothing_when_blocking(
    fake_audio_server: Callable[..., RunningServer], fake_openai: FakeOpenAI, client: httpx.AsyncClient
) -> None:
    running = fake_audio_server(tts={"model": "tts-1"})
    app = await seed_tts(running, voice="shimmer", **AUTOPLAY)
    await blocking(client, app, {"query": SENTENCES})
    assert fake_openai.audio_requests == []  # blocking mode does no TTS work
    _, reader = await stream_all(client, app, {"query": SENTENCES})
    tts = [e for e in reader.events if e["event"] == "tts_message"]
    assert tts and reader.events[-1]["event"] == "tts_message_end"
    spoken = [r.body["input"] for r in fake_openai.audio_requests]
    assert all(r.body["voice"] == "shimmer" and r.body["model"] == "tts-1" for r in fake_openai.audio_requests)
    sentences = [
        "The otter floats on its back.",
        "It cracks a shell with a stone!",
        "Does it ever get cold?",
        "Never, the fur is thick.",
    ]
    assert sorted(spoken) == sorted(sentences)  # synthesized concurrently: they arrive in any order
    # ... but the clips go out in sentence order: the fake's clip lasts 50 ms per character
    durations = [decode(base64.b64decode(event["audio"])).duration for event in tts]
    assert len(durations) == len(sentences)
    for duration, sentence in zip(durations, sentences, strict=True):
        assert abs(duration - 0.05 * len(sentence)) < 0.1, (durations, sentences)


async def _slow_speech_stream(
    fake_audio_server: Callable[..., RunningServer], fake_openai: FakeOpenAI
) -> tuple[RunningServer, SeededApp]:
    fake_openai.speech_delay = 30.0  # no clip is ever ready in time
    running = fake_audio_server(tts={}, builtin_token_delay_ms=20)
    return running, await seed_tts(running, **AUTOPLAY)


async def test_stop_during_autoplay_ends_synthesis_and_stream(
    fake_audio_server: Callable[..., RunningServer], fake_openai: FakeOpenAI, client: httpx.AsyncClient
) -> None:
    running, app = await _slow_speech_stream(fake_audio_server, fake_openai)
    async with open_stream(client, app, {"query": SENTENCES * 20}, user="stopper") as reader:
        first = await reader.next_event()
        assert first is not None and first["event"] == "message"
        await wait_until(lambda: len(fake_openai.audio_requests) >= 3, "three sentences sent to the voice")
        # at most INKWELL_TTS_MAX_CONCURRENCY (3) syntheses at once
        await asyncio.sleep(0.3)
        assert len(fake_openai.audio_requests) == 3
        assert (await stop_task(client, app, first["task_id"], "stopper")).json() == {"result": "success"}
        stopped_at = time.monotonic()
        await reader.read_all()
        took = time.monotonic() - stopped_at
    kinds = [e["event"] for e in reader.events]
    assert kinds[-2:] == ["message_end", "tts_message_end"]
    assert "tts_message" not in kinds
    assert took < 3.0, took
    for request in fake_openai.audio_requests:  # the pending speech requests were closed
        assert request.wait_disconnected(5.0)
    assert len(fake_openai.audio_requests) == 3


async def test_disconnect_during_autoplay_ends_synthesis(
    fake_audio_server: Callable[..., RunningServer], fake_openai: FakeOpenAI, client: httpx.AsyncClient
) -> None:
    _, app = await _slow_speech_stream(fake_audio_server, fake_openai)
    async with open_stream(client, app, {"query": SENTENCES * 20}, user="leaver") as reader:
        assert await reader.next_event() is not None
        await wait_until(lambda: len(fake_openai.audio_requests) >= 1, "a sentence sent to the voice")
    for request in fake_openai.audio_requests:
        assert request.wait_disconnected(5.0)
