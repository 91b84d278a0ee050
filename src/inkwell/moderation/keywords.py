"""Keyword moderation (reference §6.1): one keyword per line, a case-insensitive substring of any input
value or of the query is a hit; the preset response becomes the whole answer and the model is not
called. Output moderation checks the answer as it grows and replaces it with its preset on a hit.

The check needs no I/O, so besides the async ``Moderation`` protocol (base.py) it offers synchronous
``check_inputs`` / ``check_output``: the pipeline runs them inline (``prepare``, and on each chunk)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from inkwell.moderation.base import InputVerdict, OutputVerdict, PresetSides, side_presets

MAX_KEYWORDS_LENGTH = 10_000
MAX_KEYWORD_LINES = 100


@dataclass(frozen=True, slots=True)
class KeywordModeration(PresetSides):
    keywords: tuple[str, ...]
    inputs_preset: str | None  # None: input moderation off
    outputs_preset: str | None = None  # None: output moderation off

    @classmethod
    def of(cls, raw: Any) -> KeywordModeration | None:
        """From the app's ``sensitive_word_avoidance`` block; None when keyword input moderation is off.
        Raises ``ValueError`` for a block the reference would refuse to save."""
        if not isinstance(raw, dict) or not raw.get("enabled") or raw.get("type") != "keywords":
            return None
        config: dict[str, Any] = raw["config"] if isinstance(raw.get("config"), dict) else {}
        text = config.get("keywords") or ""
        if not isinstance(text, str) or not text.strip():
            raise ValueError("keywords moderation needs a non-empty keywords list")
        if len(text) > MAX_KEYWORDS_LENGTH:
            raise ValueError(f"keywords may be at most {MAX_KEYWORDS_LENGTH} characters")
        lines = [line.strip() for line in text.splitlines()]
        if len(lines) > MAX_KEYWORD_LINES:
            raise ValueError(f"keywords may have at most {MAX_KEYWORD_LINES} lines")
        inputs_preset, outputs_preset = side_presets(config, required=True)
        return cls(
            keywords=tuple(k.lower() for k in lines if k), inputs_preset=inputs_preset, outputs_preset=outputs_preset
        )

    def hit(self, texts: Iterable[str]) -> bool:
        lowered = [t.lower() for t in texts if t]
        return any(keyword in text for keyword in self.keywords for text in lowered)

    def check_inputs(self, inputs: Mapping[str, Any], query: str) -> str | None:
        """The preset response when an input value or the query contains a keyword, else None."""
        if self.inputs_preset is None:
            return None
        texts = [str(v) for v in inputs.values() if v is not None and v != ""]
        return self.inputs_preset if self.hit([*texts, query]) else None

    def check_output(self, answer: str) -> str | None:
        """The output preset when the answer so far contains a keyword, else None."""
        if self.outputs_preset is None:
            return None
        return self.outputs_preset if self.hit([answer]) else None

    async def moderate_inputs(self, app_id: str, inputs: Mapping[str, Any], query: str) -> InputVerdict:
        preset = self.check_inputs(inputs, query)
        return InputVerdict(flagged=True, preset_response=preset) if preset is not None else InputVerdict()

    async def moderate_output(self, app_id: str, text: str) -> OutputVerdict:
        preset = self.check_output(text)
        return OutputVerdict(flagged=True, preset_response=preset) if preset is not None else OutputVerdict()
