"""``POST /v1/audio-to-text`` against the OpenAI-protocol fake: types by content, size limits, the
feature switch and the provider."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from tests.api.conftest import assert_error
from tests.audio.conftest import audio_to_text, tts_dsl, wav_bytes
from tests.conftest import RunningServer, seed
from tests.fakes.openai_upstream import FakeOpenAI, tone_mp3

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + b"\x00" * 64


async def test_transcribes_by_content(
    fake_audio_server: Callable[..., RunningServer], fake_openai: FakeOpenAI, client: httpx.AsyncClient
) -> None:
    running = fake_audio_server(asr={"model": "whisper-large"})
    app = await seed(running, tts_dsl(asr=True))
    fake_openai.transcript = "the otter floats"
    resp = await audio_to_text(client, app, wav_bytes())
    assert resp.status_code == 200, resp.text
    assert resp.json() == {"text": "the otter floats"}
    request = fake_openai.audio_requests[-1]
    assert request.path == "/v1/audio/transcriptions"
    assert request.headers["authorization"] == "Bearer sk-audio"
    assert request.body["model"] == "whisper-large"
    assert request.body["file"]["filename"] == "audio.wav"
    assert request.body["file"]["content_type"] == "audio/wav"
    assert request.body["file"]["size"] == len(wav_bytes())
    # MP3 sent as audio/mpeg (the reference refused that type) under a name that says nothing
    mp3 = tone_mp3(0.5)
    resp = await audio_to_text(client, app, mp3, filename="recording.bin", content_type="audio/mpeg")
    assert resp.status_code == 200, resp.text
    assert fake_openai.audio_requests[-1].body["file"] == {
        "filename": "audio.mp3",
        "content_type": "audio/mpeg",
        "size": len(mp3),
    }
    # webm as browsers record it (the EBML header with the webm doc type)
    webm = b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\xf7\x81\x01\x42\xf2\x81\x04\x42\xf3\x81\x08\x42\x82\x84webm"
    resp = await audio_to_text(client, app, webm + b"\x00" * 256, filename="blob", content_type="audio/webm")
    assert resp.status_code == 200, resp.text
    assert fake_openai.audio_requests[-1].body["file"]["filename"] == "audio.webm"


async def test_wrong_type_is_refused_whatever_its_name(
    fake_audio_server: Callable[..., RunningServer], fake_openai: FakeOpenAI, client: httpx.AsyncClient
) -> None:
    running = fake_audio_server(asr={})
    app = await seed(running, tts_dsl(asr=True))
    for data, name in ((PNG, "voice.mp3"), (b"just some text, not audio at all", "voice.wav")):
        resp = await audio_to_text(client, app, data, filename=name, content_type="audio/mp3")
        assert_error(resp, 415, "unsupported_audio_type")
        assert resp.json()["message"].startswith("Audio type not allowed")
    assert_error(await audio_to_text(client, app, b"", filename="empty.mp3"), 400, "no_audio_uploaded")
    no_file = await client.post(
        f"{app.base_url}/v1/audio-to-text", headers=app.headers, files={"other": ("a.wav", wav_bytes(), "audio/wav")}
    )
    assert_error(no_file, 400, "no_audio_uploaded", "Please upload your audio.")
    json_body = await client.post(f"{app.base_url}/v1/audio-to-text", headers=app.headers, json={"file": "x"})
    assert_error(json_body, 400, "no_audio_uploaded")
    assert fake_openai.audio_requests == []  # nothing reached the provider


async def test_oversize_recordings(
    fake_audio_server: Callable[..., RunningServer], fake_openai: FakeOpenAI, client: httpx.AsyncClient
) -> None:
    running = fake_audio_server(asr={}, asr_file_size_limit=1)
    app = await seed(running, tts_dsl(asr=True))
    header = wav_bytes(0.01)
    # just over the limit: counted while the file is read
    resp = await audio_to_text(client, app, header + b"\x00" * (1024 * 1024))
    assert_error(resp, 413, "audio_too_large", "Audio size larger than 1 mb")
    # far over it: cut off while the body arrives
    resp = await audio_to_text(client, app, header + b"\x00" * (3 * 1024 * 1024))
    assert_error(resp, 413, "audio_too_large", "Audio size larger than 1 mb")
    # exactly at the limit is fine
    ok = await audio_to_text(client, app, header + b"\x00" * (1024 * 1024 - len(header)))
    assert ok.status_code == 200, ok.text
    assert len(fake_openai.audio_requests) == 1


async def test_speech_to_text_disabled(
    fake_audio_server: Callable[..., RunningServer], fake_openai: FakeOpenAI, client: httpx.AsyncClient
) -> None:
    running = fake_audio_server(asr={})
    app = await seed(running, tts_dsl(asr=False))
    assert_error(await audio_to_text(client, app, wav_bytes()), 400, "invalid_param", "Speech to text is not enabled")
    assert fake_openai.audio_requests == []


async def test_no_provider(server: RunningServer, client: httpx.AsyncClient) -> None:
    app = await seed(server, tts_dsl(asr=True))
    resp = await audio_to_text(client, app, wav_bytes())
    assert_error(resp, 400, "provider_not_support_speech_to_text", "Provider not support speech to text.")


async def test_provider_failures(
    fake_audio_server: Callable[..., RunningServer], fake_openai: FakeOpenAI, client: httpx.AsyncClient
) -> None:
    running = fake_audio_server(asr={})
    app = await seed(running, tts_dsl(asr=True))
    fake_openai.transcription_status = 500
    assert_error(await audio_to_text(client, app, wav_bytes()), 400, "completion_request_error")
    fake_openai.transcription_status = 401
    assert_error(await audio_to_text(client, app, wav_bytes()), 400, "provider_not_initialize")
