"""Which TTS and ASR providers a process uses, and an app's speech features.

Both providers come from the providers file (``INKWELL_PROVIDERS_FILE``), beside its ``providers:``
section (the bare form of the file, providers only, has no room for them)::

    providers:
      openai: {type: openai_compatible, base_url: https://api.openai.com/v1, api_key_env: OPENAI_API_KEY}
    text_to_speech:                 # optional; without it the embedded eSpeak NG voice speaks
      provider: openai              # an openai_compatible provider (its base_url, key, headers), or embedded
      model: tts-1                  # default tts-1
      voice: alloy                  # when neither the request nor the app names one; default alloy
      voices: [alloy, echo, fable, onyx, nova, shimmer]   # optional: any other voice becomes `voice`
    speech_to_text:                 # optional; without it audio-to-text answers 400
      provider: openai              # provider_not_support_speech_to_text
      model: whisper-1              # default whisper-1
      timeout: 60                   # seconds per transcription; default INKWELL_UPSTREAM_READ_TIMEOUT

``provider: openai`` may also name the provider of the ``INKWELL_OPENAI_*`` shortcut (then the file
needs only ``providers: {}`` and these sections).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from inkwell.audio.asr import RemoteTranscription, SpeechRecognizer
from inkwell.audio.espeak import engine
from inkwell.audio.tts import EmbeddedSpeech, RemoteSpeech, SpeechSynthesizer
from inkwell.providers.registry import ProviderConfigError, ProviderRegistry, positive_seconds, upstream_headers

EMBEDDED = "embedded"
DEFAULT_TTS_MODEL = "tts-1"
DEFAULT_REMOTE_VOICE = "alloy"
DEFAULT_ASR_MODEL = "whisper-1"


def _section(raw: Any, where: str) -> dict[str, Any]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ProviderConfigError(f"{where} must be a mapping (provider, model, ...)")
    return raw


def build_synthesizer(raw: Any, providers: ProviderRegistry) -> SpeechSynthesizer:
    spec = _section(raw, "text_to_speech")
    name = str(spec.get("provider") or EMBEDDED)
    if name == EMBEDDED:
        return EmbeddedSpeech(engine())
    provider = providers.openai_compatible(name, "text_to_speech")
    voices = spec.get("voices") or []
    if not isinstance(voices, list) or not all(isinstance(v, str) and v for v in voices):
        raise ProviderConfigError("text_to_speech.voices must be a list of voice names")
    default_voice = str(spec.get("voice") or (voices[0] if voices else DEFAULT_REMOTE_VOICE))
    return RemoteSpeech(
        name=name,
        base_url=provider.base_url,
        headers=upstream_headers(provider),
        client=providers.http,
        model=str(spec.get("model") or DEFAULT_TTS_MODEL),
        default_voice=default_voice,
        voices=tuple(voices),
    )


def build_recognizer(raw: Any, providers: ProviderRegistry, default_timeout: float) -> SpeechRecognizer | None:
    if raw is None:
        return None
    spec = _section(raw, "speech_to_text")
    if not spec.get("provider"):
        raise ProviderConfigError("speech_to_text.provider must name an openai_compatible provider")
    name = str(spec["provider"])
    provider = providers.openai_compatible(name, "speech_to_text")
    return RemoteTranscription(
        name=name,
        base_url=provider.base_url,
        headers=upstream_headers(provider),
        client=providers.http,
        model=str(spec.get("model") or DEFAULT_ASR_MODEL),
        timeout=positive_seconds(spec, "speech_to_text", default_timeout),
    )


@dataclass(frozen=True, slots=True)
class TextToSpeechFeature:
    """An app's ``text_to_speech`` block: ``{"enabled", "voice", "language", "autoPlay"}``."""

    enabled: bool = False
    voice: str | None = None
    language: str | None = None
    autoplay: bool = False

    @classmethod
    def of(cls, model_config: dict[str, Any]) -> TextToSpeechFeature:
        raw = model_config.get("text_to_speech")
        if not isinstance(raw, dict):
            return cls()
        voice = raw.get("voice")
        language = raw.get("language")
        return cls(
            enabled=raw.get("enabled") is True,
            voice=voice if isinstance(voice, str) and voice.strip() else None,
            language=language if isinstance(language, str) and language.strip() else None,
            autoplay=raw.get("autoPlay") == "enabled",
        )


def speech_to_text_enabled(model_config: dict[str, Any]) -> bool:
    raw = model_config.get("speech_to_text")
    return isinstance(raw, dict) and raw.get("enabled") is True
