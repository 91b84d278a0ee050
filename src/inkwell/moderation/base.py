"""The moderation interface: one class per ``sensitive_word_avoidance`` type behind one async protocol.

    Moderation                       inputs_enabled / outputs_enabled
    ├── KeywordModeration (keywords.py)      in-process; also checks synchronously (``prepare``'s fast path)
    ├── OpenAIModeration  (openai.py)        an OpenAI-compatible ``/moderations`` endpoint
    └── ApiModeration     (api.py)           an API-based extension (reference protocol)

``moderate_inputs`` answers an ``InputVerdict`` (flagged -> ``direct_output`` with a preset, or
``overridden`` with new inputs/query); ``moderate_output`` an ``OutputVerdict`` (flagged ->
``direct_output`` with a preset, or ``overridden`` with new text). A moderation that could not decide
raises ``ModerationFailed``: the pipeline fails closed on inputs (400 ``invalid_param`` / ``error``
event) and open on outputs (logged, counted in ``stats``, the answer passes), as the reference does.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from inkwell.errors import InvalidParam

# what a flagged side answers when neither the extension nor the app configured a preset response
FALLBACK_PRESET = "This content was blocked by moderation."


class ModerationAction(StrEnum):
    DIRECT_OUTPUT = "direct_output"
    OVERRIDDEN = "overridden"


@dataclass(frozen=True, slots=True)
class InputVerdict:
    flagged: bool = False
    action: ModerationAction = ModerationAction.DIRECT_OUTPUT
    preset_response: str = ""
    inputs: dict[str, Any] | None = None  # overridden: the new inputs (None: unchanged)
    query: str | None = None  # overridden: the new query (None: unchanged)


@dataclass(frozen=True, slots=True)
class OutputVerdict:
    flagged: bool = False
    action: ModerationAction = ModerationAction.DIRECT_OUTPUT
    preset_response: str = ""
    text: str | None = None  # overridden: the new text of the whole checked answer

    def replacement(self) -> str | None:
        """The text that takes the checked answer's place, or None when it passes."""
        if not self.flagged:
            return None
        if self.action is ModerationAction.OVERRIDDEN and self.text is not None:
            return self.text
        return self.preset_response or FALLBACK_PRESET


class ModerationFailed(InvalidParam):
    """A moderation that could not decide: extension down, timed out, answered something unusable."""


@dataclass(slots=True)
class ModerationStats:
    """Process-wide counters (read by tests; the place a metrics exporter would read them)."""

    input_failures: int = 0  # input checks that failed (the request failed closed)
    output_failures: int = 0  # output checks that failed (the answer passed: fail open)
    output_checks: int = 0  # output checks started


stats = ModerationStats()


class Moderation(Protocol):
    @property
    def inputs_enabled(self) -> bool: ...

    @property
    def outputs_enabled(self) -> bool: ...

    async def moderate_inputs(self, app_id: str, inputs: Mapping[str, Any], query: str) -> InputVerdict: ...

    async def moderate_output(self, app_id: str, text: str) -> OutputVerdict: ...


def input_texts(inputs: Mapping[str, Any], query: str) -> list[str]:
    """Every non-empty input value and the query, as text: what input moderation looks at."""
    texts = [str(v) for v in inputs.values() if v is not None and v != ""]
    if query:
        texts.append(query)
    return texts


def side_preset(config: Mapping[str, Any], key: str, side: str, *, required: bool) -> str | None:
    """The preset response of one side (``inputs_config`` / ``outputs_config``); None when the side is
    off. ``required``: the reference refuses an enabled side without a 1-100 character preset
    (``keywords``, ``openai_moderation``); an ``api`` extension answers its own preset instead."""
    block = config.get(key)
    if not isinstance(block, dict) or not block.get("enabled"):
        return None
    preset = str(block.get("preset_response") or "")
    if len(preset) > 100 or (required and not preset):
        raise ValueError(f"the {side} preset response must be 1 to 100 characters")
    return preset


def side_presets(config: Mapping[str, Any], *, required: bool) -> tuple[str | None, str | None]:
    """(inputs preset, outputs preset) of a ``sensitive_word_avoidance.config``; raises ``ValueError``
    for a block the reference would refuse."""
    return (
        side_preset(config, "inputs_config", "input", required=required),
        side_preset(config, "outputs_config", "output", required=required),
    )


class PresetSides:
    """``inputs_enabled`` / ``outputs_enabled`` of a moderation that keeps one preset per side (None:
    that side is off)."""

    __slots__ = ()
    inputs_preset: str | None
    outputs_preset: str | None

    @property
    def inputs_enabled(self) -> bool:
        return self.inputs_preset is not None

    @property
    def outputs_enabled(self) -> bool:
        return self.outputs_preset is not None
