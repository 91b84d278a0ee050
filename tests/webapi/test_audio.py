"""``/api/text-to-audio`` and ``/api/audio-to-text``: the service API's audio, as the passport's end user
(own messages only, ``message_id`` a UUID as in the reference's web API)."""

from __future__ import annotations

import uuid

import httpx

from tests.conftest import RunningServer
from tests.webapi.conftest import published, visitor

TTS = {"text_to_speech": {"enabled": True, "language": "en-US"}}


def wav(seconds: float = 0.3, rate: int = 16000) -> bytes:
    import io
    import wave

    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(b"\x00\x10" * int(seconds * rate))
    return buffer.getvalue()


async def test_text_to_audio_reads_own_answers(server: RunningServer, client: httpx.AsyncClient) -> None:
    app = await published(server, **TTS)
    me = await visitor(client, app)
    resp = await me.post("/text-to-audio", json={"text": "Otters hold hands while they sleep."})
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"] == "audio/mpeg" and len(resp.content) > 1000

    answer = await me.complete("Read this answer aloud.")
    message_id = answer.json()["id"]
    resp = await me.post("/text-to-audio", json={"message_id": message_id})
    assert resp.status_code == 200 and resp.headers["content-type"] == "audio/mpeg"

    stranger = await visitor(client, app)
    resp = await stranger.post("/text-to-audio", json={"message_id": message_id})
    assert resp.status_code == 404
    resp = await me.post("/text-to-audio", json={"message_id": str(uuid.uuid4())})
    assert resp.status_code == 404
    resp = await me.post("/text-to-audio", json={"message_id": "not-a-uuid"})
    assert resp.status_code == 400 and resp.json()["code"] == "invalid_param"
    resp = await me.post("/text-to-audio", json={})
    assert resp.status_code == 400 and resp.json()["message"] == "Text is required"


async def test_audio_features_switched_off(server: RunningServer, client: httpx.AsyncClient) -> None:
    app = await published(server)
    me = await visitor(client, app)
    resp = await me.post("/text-to-audio", json={"text": "hello"})
    assert resp.status_code == 400 and resp.json() == {
        "code": "invalid_param",
        "message": "TTS is not enabled",
        "status": 400,
    }
    resp = await me.post("/audio-to-text", files={"file": ("clip.wav", wav(), "audio/wav")})
    assert resp.status_code == 400 and resp.json()["message"] == "Speech to text is not enabled"


async def test_audio_to_text_goes_to_the_app_speech_to_text(server: RunningServer, client: httpx.AsyncClient) -> None:
    app = await published(server, speech_to_text={"enabled": True})
    me = await visitor(client, app)
    resp = await me.post("/audio-to-text", data={"x": "y"})
    assert resp.status_code == 400
    # the default server has no speech-to-text provider configured
    resp = await me.post("/audio-to-text", files={"file": ("clip.wav", wav(), "audio/wav")})
    assert resp.status_code == 400, resp.text
    assert resp.json()["code"] == "provider_not_support_speech_to_text"
