"""What ``sensitive_word_avoidance`` blocks the reference refuses to save, refused at import too."""

from __future__ import annotations

from typing import Any

from inkwell.moderation.api import ApiModeration
from inkwell.moderation.keywords import KeywordModeration
from inkwell.moderation.openai import OpenAIModeration

TYPES = ("keywords", "openai_moderation", "api")


def validate_block(raw: Any) -> None:
    """Refuse at import what the reference refuses to save (a ``sensitive_word_avoidance`` block);
    whether the named service is configured is only known where the app runs."""
    if not isinstance(raw, dict) or not raw.get("enabled"):
        return
    kind = raw.get("type")
    config: dict[str, Any] = raw["config"] if isinstance(raw.get("config"), dict) else {}
    if kind == "keywords":
        KeywordModeration.of(raw)
    elif kind == "openai_moderation":
        OpenAIModeration.presets(config)
    elif kind == "api":
        ApiModeration.presets(config)
        if not isinstance(config.get("api_based_extension_id"), str) or not config["api_based_extension_id"]:
            raise ValueError("api moderation needs an api_based_extension_id")
    else:
        raise ValueError(f"sensitive_word_avoidance.type must be one of {', '.join(TYPES)}, not {kind!r}")
