"""Text-to-speech providers behind one interface; both produce MP3 (``audio/mpeg``).

``embedded``
    eSpeak NG (``espeak.py``) from the ``espeakng-loader`` wheel, encoded to MP3 with LAME from the
    ``lameenc`` wheel: works offline with nothing but ``pip install``. Synthesis is CPU-bound and the
    engine is single-threaded, so it runs on one worker thread of its own (never on the event loop,
    never holding the default executor's threads); a cancelled call aborts the engine at its next
    buffer. 22050 Hz mono, 48 kbit/s.

    Voices (``voice`` of a request or of the app's ``text_to_speech``), case-insensitive:

    * an eSpeak NG language (``en-us``, ``en``, ``de``, ``fr``, ``es``, ``cmn``, ``ja``, ... — every
      language the wheel ships): that language's own voice;
    * a variant (``f1``..``f5``, ``m1``..``m8``, ``klatt``, ``whisper``, ``Alex``, ...): that variant
      speaking the app's ``text_to_speech.language``;
    * ``language+variant`` (``de+f3``);
    * an OpenAI voice name (``alloy``, ``ash``, ``ballad``, ``coral``, ``echo``, ``fable``, ``nova``,
      ``onyx``, ``sage``, ``shimmer``, ``verse``): a fixed variant each (``VOICE_ALIASES``), so apps
      written for OpenAI keep sounding distinct;
    * anything else (an Azure or other vendor's voice of an app exported from Dify): the default
      voice, the language's own voice — as the reference's providers fall back to their default
      voice for a voice they do not offer.

    The language is the app's ``text_to_speech.language`` (Dify codes: ``en-US``, ``zh-Hans``,
    ``pt-BR``, ...), mapped to the closest eSpeak NG language; ``en-us`` when unset or unknown.

``openai_compatible``
    ``POST {base_url}/audio/speech`` (``model``, ``voice``, ``input``, ``response_format: mp3``) on the
    shared upstream client; the MP3 bytes are streamed through as they arrive. Texts longer than 4000
    characters are sent in consecutive pieces cut at sentence ends. The voice is passed as given;
    when ``voices`` is configured, a voice not in it (or none) becomes the configured default.

A synthesis that fails is an error; an empty answer is one too (never a 0-byte ``audio/mpeg``).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
from collections.abc import AsyncGenerator, Mapping
from dataclasses import dataclass
from typing import Protocol

import httpx
import lameenc
import orjson

from inkwell.audio.errors import NoSpeech, SynthesisFailed
from inkwell.audio.espeak import Cancelled, Engine, EngineError, Language
from inkwell.audio.text import split_text
from inkwell.errors import CompletionRequestError, ProviderError
from inkwell.providers.openai_compatible import map_status_error

log = logging.getLogger(__name__)

DEFAULT_LANGUAGE = "en-us"
BIT_RATE = 48
# pieces of text per engine call: small enough for the first audio to leave at once
EMBEDDED_PIECE_CHARS = 300
# OpenAI's /audio/speech takes at most 4096 characters per request
REMOTE_PIECE_CHARS = 4000

# OpenAI's voice names -> eSpeak NG variants (chosen for a similar register: nova, shimmer, coral and
# sage are the higher voices)
VOICE_ALIASES: dict[str, str] = {
    "alloy": "m3",
    "ash": "m2",
    "ballad": "m5",
    "coral": "f2",
    "echo": "m1",
    "fable": "m4",
    "nova": "f3",
    "onyx": "m7",
    "sage": "f4",
    "shimmer": "f5",
    "verse": "m6",
}

# Dify's text_to_speech.language codes that are not an eSpeak NG code or its prefix
LANGUAGE_ALIASES: dict[str, str] = {
    "zh": "cmn",
    "zh-hans": "cmn",
    "zh-hant": "cmn",
    "zh-cn": "cmn",
    "zh-tw": "cmn",
    "zh-hk": "yue",
    "zh-yue": "yue",
    "jp": "ja",
}


class SpeechSynthesizer(Protocol):
    """One TTS provider. ``resolve_voice`` picks the voice actually used; ``stream`` yields MP3 bytes
    (at least one non-empty chunk, or it raises)."""

    name: str

    async def resolve_voice(self, voice: str | None, language: str | None) -> str: ...

    def stream(self, text: str, voice: str) -> AsyncGenerator[bytes, None]: ...

    async def aclose(self) -> None: ...


@dataclass(frozen=True, slots=True)
class Catalogue:
    languages: dict[str, str]  # every declared language code (lower case) -> the code that selects it
    variants: dict[str, str]  # lower case -> the variant's own spelling

    @classmethod
    def of(cls, languages: list[Language], variants: list[str]) -> Catalogue:
        # each code goes to the voice that declares it with the best priority (``fr`` is ``fr-fr``)
        best: dict[str, tuple[int, int, str]] = {}
        for language in languages:
            for position, (code, priority) in enumerate(zip(language.codes, language.priorities, strict=True)):
                rank = (priority, position, language.code)
                if code not in best or rank < best[code]:
                    best[code] = rank
        by_code = {code: rank[2] for code, rank in best.items()}
        return cls(languages=by_code, variants={v.lower(): v for v in variants if " " not in v})

    def language(self, code: str | None) -> str | None:
        if not code:
            return None
        key = code.strip().lower().replace("_", "-")
        key = LANGUAGE_ALIASES.get(key, key)
        while key:
            if key in self.languages:
                return self.languages[key]
            if key in LANGUAGE_ALIASES:
                return self.languages.get(LANGUAGE_ALIASES[key])
            key = key.rpartition("-")[0]
        return None

    def voice(self, voice: str | None, language: str | None) -> str:
        """The eSpeak NG voice (``language`` or ``language+variant``) for an app's or request's voice."""
        lang = self.language(language) or self.languages.get(DEFAULT_LANGUAGE, DEFAULT_LANGUAGE)
        name = (voice or "").strip().lower()
        if not name:
            return lang
        if name in VOICE_ALIASES and VOICE_ALIASES[name] in self.variants:
            return f"{lang}+{self.variants[VOICE_ALIASES[name]]}"
        if "+" in name:
            head, _, tail = name.partition("+")
            own = self.language(head)
            if own is not None and tail in self.variants:
                return f"{own}+{self.variants[tail]}"
            if own is not None and not tail:
                return own
        if name in self.variants:
            return f"{lang}+{self.variants[name]}"
        own = self.language(name)
        return own if own is not None else lang


def _has_speech(pcm: bytes) -> bool:
    return bool(pcm.strip(b"\0"))


class EmbeddedSpeech:
    """eSpeak NG + LAME, on one worker thread of its own."""

    name = "embedded"

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._executor = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="inkwell-tts")
        self._catalogue: Catalogue | None = None

    async def _run_in_thread(self, text: str, voice: str, encoder: lameenc.Encoder) -> bytes:
        """Synthesize and encode one piece on the TTS thread; a cancellation aborts the engine."""
        cancelled = threading.Event()
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(self._executor, self._synthesize, text, voice, encoder, cancelled)
        try:
            return await future
        except asyncio.CancelledError:
            cancelled.set()  # a call already running stops at its next buffer; a queued one never starts
            raise

    def _synthesize(self, text: str, voice: str, encoder: lameenc.Encoder, cancelled: threading.Event) -> bytes:
        if cancelled.is_set():
            raise Cancelled()
        pcm = self.engine.synthesize(text, voice, cancelled=cancelled.is_set)
        if not _has_speech(pcm):
            return b""
        return bytes(encoder.encode(pcm))

    async def catalogue(self) -> Catalogue:
        if self._catalogue is None:
            loop = asyncio.get_running_loop()
            try:
                languages = await loop.run_in_executor(self._executor, self.engine.languages)
                variants = await loop.run_in_executor(self._executor, self.engine.variants)
            except EngineError as exc:
                log.exception("the embedded speech engine is not available")
                raise SynthesisFailed(f"Speech synthesis is not available: {exc}") from exc
            self._catalogue = Catalogue.of(languages, variants)
        return self._catalogue

    async def resolve_voice(self, voice: str | None, language: str | None) -> str:
        return (await self.catalogue()).voice(voice, language)

    def _encoder(self) -> lameenc.Encoder:
        encoder = lameenc.Encoder()
        encoder.set_bit_rate(BIT_RATE)
        encoder.set_in_sample_rate(self.engine.sample_rate)
        encoder.set_channels(1)
        encoder.set_quality(5)
        return encoder

    async def stream(self, text: str, voice: str) -> AsyncGenerator[bytes, None]:
        await self.catalogue()  # loads the engine (and so its sample rate) first
        encoder = self._encoder()
        spoken = False
        for piece in split_text(text, max_chars=EMBEDDED_PIECE_CHARS):
            try:
                mp3 = await self._run_in_thread(piece, voice, encoder)
            except EngineError as exc:
                log.exception("embedded speech synthesis failed (voice %s)", voice)
                raise SynthesisFailed(f"Speech synthesis failed: {exc}") from exc
            if mp3:
                spoken = True
                yield mp3
        if not spoken:
            raise NoSpeech()
        tail = bytes(encoder.flush())
        if tail:
            yield tail

    async def aclose(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


class RemoteSpeech:
    """Any server speaking OpenAI's ``/audio/speech``."""

    def __init__(
        self,
        *,
        name: str,
        base_url: str,
        headers: Mapping[str, str],
        client: httpx.AsyncClient,
        model: str,
        default_voice: str,
        voices: tuple[str, ...] = (),
    ) -> None:
        self.name = name
        self.url = f"{base_url.rstrip('/')}/audio/speech"
        self.headers = {**headers, "Content-Type": "application/json", "Accept": "audio/mpeg"}
        self.client = client
        self.model = model
        self.default_voice = default_voice
        self.voices = voices

    async def resolve_voice(self, voice: str | None, language: str | None) -> str:
        chosen = (voice or "").strip()
        if not chosen or (self.voices and chosen not in self.voices):
            return self.default_voice
        return chosen

    async def stream(self, text: str, voice: str) -> AsyncGenerator[bytes, None]:
        received = False
        for piece in split_text(text, max_chars=REMOTE_PIECE_CHARS):
            payload = {"model": self.model, "input": piece, "voice": voice, "response_format": "mp3"}
            try:
                async with self.client.stream(
                    "POST", self.url, content=orjson.dumps(payload), headers=self.headers
                ) as resp:
                    if resp.status_code >= 400:
                        raise map_status_error(self.name, self.model, resp.status_code, await resp.aread())
                    if resp.headers.get("content-type", "").startswith(("application/json", "text/")):
                        body = (await resp.aread())[:200].decode("utf-8", "replace")
                        raise CompletionRequestError(f"[{self.name}] upstream sent no audio: {body}")
                    async for chunk in resp.aiter_bytes():
                        if chunk:
                            received = True
                            yield chunk
            except ProviderError:
                raise
            except httpx.HTTPError as exc:
                raise CompletionRequestError(
                    f"[{self.name}] speech request failed: {type(exc).__name__}: {exc}"
                ) from exc
        if not received:
            raise CompletionRequestError(f"[{self.name}] upstream returned no audio")

    async def aclose(self) -> None:
        return None
