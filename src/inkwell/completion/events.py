"""The typed events the pipeline yields. SSE and blocking responses are two renderings of them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from inkwell.completion.usage import Usage
from inkwell.errors import InkwellError


@dataclass(slots=True)
class MessageChunk:
    """Text deltas from one upstream read; each becomes one ``message`` event."""

    texts: list[str]


@dataclass(slots=True)
class MessageReplace:
    answer: str
    reason: str


@dataclass(slots=True)
class MessageEnd:
    usage: Usage
    retriever_resources: list[dict[str, Any]] = field(default_factory=list)
    files: list[dict[str, Any]] | None = None


@dataclass(slots=True)
class ErrorEvent:
    error: InkwellError


@dataclass(slots=True)
class TtsMessage:
    """Speech while streaming (audio/streaming.py): base64 of an MP3 clip of the next sentence(s)."""

    audio: str


@dataclass(slots=True)
class TtsMessageEnd:
    """After the last ``tts_message`` (its ``audio`` is ``""``)."""


Event = MessageChunk | MessageReplace | MessageEnd | ErrorEvent | TtsMessage | TtsMessageEnd
