"""The audio endpoints' errors, in the one tree of ``inkwell.errors`` (reference §3.2 codes and texts)."""

from __future__ import annotations

from inkwell.errors import InkwellError, InvalidParam


class NoAudioUploaded(InkwellError):
    status = 400
    code = "no_audio_uploaded"
    default_message = "Please upload your audio."


class AudioTooLarge(InkwellError):
    status = 413
    code = "audio_too_large"
    default_message = "Audio size exceeded."

    def __init__(self, limit_mb: int) -> None:
        super().__init__(f"Audio size larger than {limit_mb} mb")
        self.limit_mb = limit_mb


class UnsupportedAudioType(InkwellError):
    status = 415
    code = "unsupported_audio_type"
    default_message = "Audio type not allowed."


class ProviderNotSupportSpeechToText(InkwellError):
    status = 400
    code = "provider_not_support_speech_to_text"
    default_message = "Provider not support speech to text."


class NoSpeech(InvalidParam):
    """The text gave no audible speech (only punctuation, symbols the voice cannot read, ...)."""

    default_message = "The text produced no speech: there is nothing the voice can read aloud."


class SynthesisFailed(InkwellError):
    """The embedded engine failed (a server fault, logged)."""

    status = 500
    code = "internal_server_error"
    default_message = "Speech synthesis failed."
