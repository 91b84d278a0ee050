"""``POST /v1/text-to-audio`` with the embedded voice (eSpeak NG + LAME), and with an OpenAI-compatible
speech provider (the fake upstream). Audio is decoded back with a real MP3 decoder."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from tests.api.conftest import assert_error
from tests.audio.conftest import SENTENCES, decode, pitch, seed_tts, text_to_audio
from tests.conftest import RunningServer, SeededApp, dsl, seed
from tests.fakes.openai_upstream import FakeOpenAI


async def _complete(client: httpx.AsyncClient, app_base: str, headers: dict[str, str], query: str) -> tuple[str, str]:
    """(message id, answer) of a blocking completion."""
    resp = await client.post(
        f"{app_base}/v1/completion-messages",
        headers=headers,
        json={"inputs": {"query": query}, "user": "reader", "response_mode": "blocking"},
    )
    assert resp.status_code == 200, resp.text
    return resp.json()["message_id"], resp.json()["answer"]


async def test_text_is_read_aloud_as_streamed_mp3(server: RunningServer, client: httpx.AsyncClient) -> None:
    app = await seed_tts(server)
    async with client.stream(
        "POST", f"{app.base_url}/v1/text-to-audio", headers=app.headers, json={"text": SENTENCES, "user": "u"}
    ) as resp:
        assert resp.status_code == 200
        assert resp.headers["content-type"] == "audio/mpeg"
        assert "content-length" not in resp.headers  # streamed as it is synthesized
        chunks = [chunk async for chunk in resp.aiter_bytes() if chunk]
    audio = decode(b"".join(chunks))
    # four sentences, about 6 s at eSpeak's 175 words per minute
    assert audio.duration > 3.0, audio.duration
    assert audio.num_frames > 0


async def test_message_id_reads_the_stored_answer_and_wins_over_text(
    server: RunningServer, client: httpx.AsyncClient
) -> None:
    app = await seed_tts(server)
    message_id, answer = await _complete(client, app.base_url, app.headers, "Read this stored answer aloud, please.")
    assert "Read this stored answer aloud" in answer
    by_message = await text_to_audio(client, app, message_id=message_id, text="Something else entirely.")
    assert by_message.status_code == 200, by_message.text
    assert decode(by_message.content).duration > 1.0
    # the same voice reading the answer's text gives audio of the same length (eSpeak's output varies by
    # a few samples from call to call); the request's text would be much shorter
    by_text = await text_to_audio(client, app, text=answer)
    other = await text_to_audio(client, app, text="Something else entirely.")
    assert abs(decode(by_text.content).duration - decode(by_message.content).duration) < 0.1
    assert decode(other.content).duration < decode(by_message.content).duration - 0.5


async def test_voices(server: RunningServer, client: httpx.AsyncClient) -> None:
    plain = await seed_tts(server)  # no voice: the default voice of en-US (a male voice)
    text = "Every voice reads this line, one after another."

    async def voice_pitch(app: SeededApp, voice: str | None = None) -> float:
        resp = await text_to_audio(client, app, text=text, **({"voice": voice} if voice else {}))
        assert resp.status_code == 200, resp.text
        assert decode(resp.content).duration > 1.0
        return pitch(resp.content)

    default = await voice_pitch(plain)
    nova = await voice_pitch(plain, "nova")  # OpenAI names map to eSpeak variants: nova is f3
    echo = await voice_pitch(plain, "echo")  # ... echo is m1
    assert nova > 1.5 * echo and nova > 1.5 * default, (nova, echo, default)
    assert await voice_pitch(plain, "en-us+f3") > 1.5 * default
    # a voice the embedded engine does not offer (an Azure voice of an exported app) -> the default
    assert abs(await voice_pitch(plain, "en-US-JennyNeural") - default) < 0.2 * default
    # the app's voice is used when the request names none; the request's voice wins over it
    app_voice = await seed_tts(server, voice="nova")
    assert await voice_pitch(app_voice) > 1.5 * default
    assert await voice_pitch(app_voice, "echo") < 1.2 * default


async def test_tts_disabled_is_refused_even_with_a_voice(server: RunningServer, client: httpx.AsyncClient) -> None:
    off = await seed(server, dsl("tts-off", text_to_speech={"enabled": False, "voice": "nova"}))
    for body in ({"text": "Hello there."}, {"text": "Hello there.", "voice": "nova"}):
        assert_error(await text_to_audio(client, off, **body), 400, "invalid_param", "TTS is not enabled")
    absent = await seed(server, dsl("tts-absent"))
    assert_error(await text_to_audio(client, absent, text="Hello there."), 400, "invalid_param", "TTS is not enabled")


async def test_text_or_message_is_required(server: RunningServer, client: httpx.AsyncClient) -> None:
    app = await seed_tts(server)
    assert_error(await text_to_audio(client, app), 400, "invalid_param", "Text is required")
    assert_error(await text_to_audio(client, app, text="  "), 400, "invalid_param", "Text is required")
    assert_error(await text_to_audio(client, app, text=None, message_id=None), 400, "invalid_param", "Text is required")
    resp = await text_to_audio(client, app, text=5)
    assert_error(resp, 400, "invalid_param")
    assert "text" in resp.json()["message"]


async def test_messages_of_other_apps_are_not_found(server: RunningServer, client: httpx.AsyncClient) -> None:
    mine = await seed_tts(server)
    theirs = await seed_tts(server)
    foreign, _ = await _complete(client, theirs.base_url, theirs.headers, "A message of another app.")
    assert_error(await text_to_audio(client, mine, message_id=foreign), 404, "message_not_found")
    assert_error(await text_to_audio(client, mine, message_id="not-a-uuid", text="x"), 404, "message_not_found")
    # the owner can read it
    assert (await text_to_audio(client, theirs, message_id=foreign)).status_code == 200


async def test_no_empty_audio(server: RunningServer, client: httpx.AsyncClient) -> None:
    app = await seed_tts(server)
    resp = await text_to_audio(client, app, text="... ? … —")
    assert_error(resp, 400, "invalid_param")
    assert "no speech" in resp.json()["message"]


async def test_text_length_limit(server_factory: Callable[..., RunningServer], client: httpx.AsyncClient) -> None:
    running = server_factory(tts_max_text_length=50)
    app = await seed_tts(running)
    resp = await text_to_audio(client, app, text="word " * 20)
    assert_error(resp, 400, "invalid_param")
    assert "at most 50 characters" in resp.json()["message"]
    assert (await text_to_audio(client, app, text="Short enough.")).status_code == 200


async def test_openai_compatible_speech_provider(
    fake_audio_server: Callable[..., RunningServer], fake_openai: FakeOpenAI, client: httpx.AsyncClient
) -> None:
    running = fake_audio_server(tts={"model": "tts-1-hd", "voice": "alloy", "voices": ["alloy", "nova"]})
    app = await seed_tts(running, voice="nova")
    resp = await text_to_audio(client, app, text="Hello from the remote voice.")
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"] == "audio/mpeg"
    assert decode(resp.content).duration > 0.5
    request = fake_openai.audio_requests[-1]
    assert request.path == "/v1/audio/speech"
    assert request.headers["authorization"] == "Bearer sk-audio"
    assert request.body == {
        "model": "tts-1-hd",
        "input": "Hello from the remote voice.",
        "voice": "nova",
        "response_format": "mp3",
    }
    # a voice outside the configured list -> the configured default
    assert (await text_to_audio(client, app, text="Again.", voice="Brian")).status_code == 200
    assert fake_openai.audio_requests[-1].body["voice"] == "alloy"
    # an upstream failure is a provider error before any audio is sent
    fake_openai.speech_status = 500
    assert_error(await text_to_audio(client, app, text="Fails."), 400, "completion_request_error")
    fake_openai.speech_status = 401
    assert_error(await text_to_audio(client, app, text="Fails."), 400, "provider_not_initialize")
