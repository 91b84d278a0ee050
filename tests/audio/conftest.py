"""Fixtures for the audio tests: apps with speech features, the fake OpenAI upstream as TTS/ASR provider,
and MP3 decoding with a real decoder (miniaudio)."""

from __future__ import annotations

import io
import math
import struct
import uuid
import wave
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import miniaudio
import pytest
import yaml

from tests.conftest import RunningServer, SeededApp, dsl, seed
from tests.fakes.openai_upstream import FakeOpenAI

SENTENCES = (
    "The otter floats on its back. It cracks a shell with a stone! Does it ever get cold? Never, the fur is thick."
)


def tts_dsl(*, tts: dict[str, Any] | None = None, asr: bool = False, **model_config: Any) -> str:
    config: dict[str, Any] = dict(model_config)
    if tts is not None:
        config["text_to_speech"] = tts
    config["speech_to_text"] = {"enabled": asr}
    return dsl(f"audio-{uuid.uuid4().hex[:6]}", **config)


async def seed_tts(running: RunningServer, **tts: Any) -> SeededApp:
    """An echo app with ``text_to_speech`` enabled (plus ``tts`` keys)."""
    return await seed(running, tts_dsl(tts={"enabled": True, "language": "en-US", **tts}))


def decode(mp3: bytes) -> miniaudio.DecodedSoundFile:
    """Decode MP3 with a real decoder; raises when the bytes are not MP3."""
    assert mp3, "no audio bytes"
    return miniaudio.decode(mp3)


def pitch(mp3: bytes, *, frames: int = 8) -> float:
    """Median fundamental frequency (Hz) of the loudest stretches, by autocorrelation: about 100 Hz for
    eSpeak's male voices, 200 Hz for its female ones."""
    rate = 22050
    sound = miniaudio.decode(mp3, output_format=miniaudio.SampleFormat.SIGNED16, nchannels=1, sample_rate=rate)
    samples = sound.samples
    size = 1024
    windows = [samples[i : i + size] for i in range(0, len(samples) - size, size)]
    voiced = sorted(windows, key=lambda w: max(abs(x) for x in w), reverse=True)[:frames]
    estimates: list[float] = []
    for window in voiced:
        best_lag, best = 0, float("-inf")
        for lag in range(40, 300):  # 73..551 Hz
            score = sum(window[i] * window[i + lag] for i in range(0, size - lag, 4))
            if score > best:
                best_lag, best = lag, score
        estimates.append(rate / best_lag)
    estimates.sort()
    return estimates[len(estimates) // 2]


def wav_bytes(seconds: float = 0.5, rate: int = 16000) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        frames = b"".join(
            struct.pack("<h", int(6000 * math.sin(2 * math.pi * 330 * i / rate))) for i in range(int(seconds * rate))
        )
        out.writeframes(frames)
    return buffer.getvalue()


async def text_to_audio(client: httpx.AsyncClient, app: SeededApp, **body: Any) -> httpx.Response:
    return await client.post(f"{app.base_url}/v1/text-to-audio", headers=app.headers, json={"user": "reader", **body})


async def audio_to_text(
    client: httpx.AsyncClient,
    app: SeededApp,
    data: bytes,
    *,
    filename: str = "clip.wav",
    content_type: str = "audio/wav",
) -> httpx.Response:
    return await client.post(
        f"{app.base_url}/v1/audio-to-text",
        headers=app.headers,
        files={"file": (filename, data, content_type)},
        data={"user": "speaker"},
    )


def write_providers_file(
    path: Path, fake: FakeOpenAI, *, tts: dict[str, Any] | None, asr: dict[str, Any] | None
) -> Path:
    document: dict[str, Any] = {
        "providers": {"fake": {"type": "openai_compatible", "base_url": fake.base_url, "api_key": "sk-audio"}}
    }
    if tts is not None:
        document["text_to_speech"] = {"provider": "fake", **tts}
    if asr is not None:
        document["speech_to_text"] = {"provider": "fake", **asr}
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    return path


@pytest.fixture
def fake_audio_server(
    server_factory: Callable[..., RunningServer], fake_openai: FakeOpenAI, tmp_path: Path
) -> Callable[..., RunningServer]:
    """An Inkwell server whose TTS (``tts``) and/or ASR (``asr``) provider is the fake upstream."""

    def start(
        *, tts: dict[str, Any] | None = None, asr: dict[str, Any] | None = None, **settings: Any
    ) -> RunningServer:
        path = write_providers_file(tmp_path / f"providers-{uuid.uuid4().hex[:6]}.yaml", fake_openai, tts=tts, asr=asr)
        return server_factory(providers_file=path, **settings)

    return start
