"""Text-to-audio, audio-to-text and speech while streaming, over the configured providers.

* ``text_to_audio``: the app's ``text_to_speech`` must be enabled (400 ``invalid_param`` ``TTS is not
  enabled``, also when the request names a voice — the reference skipped the check then, §8.8);
  ``message_id`` wins over ``text`` and must name a message of this app (404 otherwise; the reference
  answered any message of the installation, or 200 ``null``); the voice is the request's, else the
  app's, resolved by the provider. The first audio is made before the response opens, so a failure
  is a plain HTTP error and the answer is never an empty ``audio/mpeg``.
* ``audio_to_text``: ``speech_to_text`` must be enabled (400 ``Speech to text is not enabled``); the
  recording is at most ``INKWELL_ASR_FILE_SIZE_LIMIT`` MB (413 ``audio_too_large``), its type is
  decided by its content (415 ``unsupported_audio_type``), and a provider must be configured
  (400 ``provider_not_support_speech_to_text``).
* ``autoplay``: wraps a streaming generation's events (``streaming.py``) when the app has
  ``text_to_speech.enabled`` and ``autoPlay == "enabled"``; each sentence gets
  ``INKWELL_TTS_TIMEOUT`` seconds.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from contextlib import aclosing
from typing import Any

from sqlalchemy import select
from sqlmodel import col
from starlette.datastructures import UploadFile

from inkwell.apps.models import App
from inkwell.audio.asr import SpeechRecognizer
from inkwell.audio.config import (
    TextToSpeechFeature,
    build_recognizer,
    build_synthesizer,
    speech_to_text_enabled,
)
from inkwell.audio.errors import (
    AudioTooLarge,
    NoAudioUploaded,
    NoSpeech,
    ProviderNotSupportSpeechToText,
    UnsupportedAudioType,
)
from inkwell.audio.sniff import ACCEPTED, SNIFF_BYTES, sniff_audio
from inkwell.audio.streaming import speak_while_streaming
from inkwell.audio.tts import SpeechSynthesizer
from inkwell.completion.events import Event
from inkwell.completion.models import Message
from inkwell.db import Database
from inkwell.errors import InvalidParam, MessageNotFound
from inkwell.files.storage import megabytes
from inkwell.providers.registry import ProviderRegistry, read_sections
from inkwell.settings import Settings

READ_CHUNK = 1024 * 1024


async def _prepend(first: bytes, rest: AsyncGenerator[bytes, None]) -> AsyncIterator[bytes]:
    async with aclosing(rest):
        yield first
        async for chunk in rest:
            yield chunk


class AudioService:
    def __init__(
        self,
        *,
        db: Database,
        synthesizer: SpeechSynthesizer,
        recognizer: SpeechRecognizer | None,
        max_text_length: int,
        asr_limit_mb: int,
        concurrency: int,
        timeout: float,
    ) -> None:
        self.db = db
        self.synthesizer = synthesizer
        self.recognizer = recognizer
        self.max_text_length = max_text_length
        self.asr_limit_mb = asr_limit_mb
        self.concurrency = concurrency
        self.timeout = timeout

    @classmethod
    def from_settings(cls, settings: Settings, providers: ProviderRegistry, db: Database) -> AudioService:
        tts, asr = read_sections(settings.providers_file, "text_to_speech", "speech_to_text")
        return cls(
            db=db,
            synthesizer=build_synthesizer(tts, providers),
            recognizer=build_recognizer(asr, providers, settings.upstream_read_timeout),
            max_text_length=settings.tts_max_text_length,
            asr_limit_mb=settings.asr_file_size_limit,
            concurrency=settings.tts_max_concurrency,
            timeout=settings.tts_timeout,
        )

    @property
    def asr_limit_bytes(self) -> int:
        return megabytes(self.asr_limit_mb)

    # ------------------------------------------------------------------------------- text-to-audio

    async def _message_answer(self, app_id: str, message_id: str) -> str:
        async with self.db.session() as session:
            answer: str | None = (
                await session.execute(
                    select(col(Message.answer)).where(col(Message.id) == message_id, col(Message.app_id) == app_id)
                )
            ).scalar_one_or_none()
        if answer is None:
            raise MessageNotFound()
        if not answer.strip():
            raise InvalidParam("The message has no answer to read aloud.")
        return answer

    async def text_to_audio(
        self, app: App, *, message_id: str | None, text: str | None, voice: str | None
    ) -> AsyncIterator[bytes]:
        """The MP3 stream; its first chunk is already made (errors are raised here, not mid-stream)."""
        feature = TextToSpeechFeature.of(app.app_model_config)
        if not feature.enabled:
            raise InvalidParam("TTS is not enabled")
        if message_id:
            content = await self._message_answer(app.id, message_id)
        elif text is None or not text.strip():
            raise InvalidParam("Text is required")
        else:
            content = text
        content = content.replace("\0", "").strip()
        if len(content) > self.max_text_length:
            raise InvalidParam(f"Text is too long: at most {self.max_text_length} characters can be read aloud.")
        chosen = await self.synthesizer.resolve_voice(voice or feature.voice, feature.language)
        chunks = self.synthesizer.stream(content, chosen)
        try:
            first = await anext(chunks)
        except BaseException:
            await chunks.aclose()
            raise
        return _prepend(first, chunks)

    # ------------------------------------------------------------------------------- audio-to-text

    async def audio_to_text(self, app: App, upload: UploadFile) -> str:
        if not speech_to_text_enabled(app.app_model_config):
            raise InvalidParam("Speech to text is not enabled")
        limit = self.asr_limit_bytes
        parts: list[bytes] = []
        size = 0
        while chunk := await upload.read(READ_CHUNK):
            size += len(chunk)
            if size > limit:
                raise AudioTooLarge(self.asr_limit_mb)
            parts.append(chunk)
        audio = b"".join(parts)
        if not audio:
            raise NoAudioUploaded()
        kind = sniff_audio(audio[:SNIFF_BYTES])
        if kind is None:
            raise UnsupportedAudioType(f"Audio type not allowed: the content is not one of {', '.join(ACCEPTED)}.")
        if self.recognizer is None:
            raise ProviderNotSupportSpeechToText()
        return await self.recognizer.transcribe(audio, kind)

    # ------------------------------------------------------------------------------- autoplay

    def autoplay(
        self, model_config: dict[str, Any], events: AsyncGenerator[Event, None], *, stopped: Callable[[], bool]
    ) -> AsyncGenerator[Event, None]:
        """``events`` with speech when the app autoplays TTS; otherwise ``events`` itself."""
        feature = TextToSpeechFeature.of(model_config)
        if not (feature.enabled and feature.autoplay):
            return events
        synthesizer = self.synthesizer
        voice: asyncio.Future[str] | None = None
        timeout = self.timeout

        async def synthesize(sentence: str) -> bytes:
            nonlocal voice
            if voice is None:
                voice = asyncio.ensure_future(synthesizer.resolve_voice(feature.voice, feature.language))
            async with asyncio.timeout(timeout):
                chosen = await asyncio.shield(voice)
                try:
                    async with aclosing(synthesizer.stream(sentence, chosen)) as chunks:
                        return b"".join([chunk async for chunk in chunks])
                except NoSpeech:
                    return b""

        return speak_while_streaming(events, synthesize=synthesize, concurrency=self.concurrency, stopped=stopped)

    async def aclose(self) -> None:
        await self.synthesizer.aclose()
