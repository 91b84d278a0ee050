"""Prompt building (reference §6.5): simple and advanced modes, chat and completion models.

Placeholders are ``{{name}}`` (ASCII, up to 30 characters) plus ``{{#context#}}`` and ``{{#query#}}``;
substituted values cannot inject placeholders (``{{x}}`` inside a value becomes ``{x}``), and
``<|...|>`` sequences are removed from the rendered text.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from inkwell.apps.config import AppConfig

PLACEHOLDER = re.compile(r"\{\{([a-zA-Z_][a-zA-Z0-9_]{0,29}|#histories#|#query#|#context#)\}\}")
SPECIAL_TOKENS = re.compile(r"<\|.*?\|>")

CONTEXT_BLOCK = (
    "Use the following context as your learned knowledge, inside <context></context> XML tags.\n\n"
    "<context>\n{{#context#}}\n</context>\n\n"
    "When answer to user:\n"
    "- If you don't know, just say that you don't know.\n"
    "- If you don't know when you are not sure, ask for clarification.\n"
    "Avoid mentioning that you obtained the information from the context.\n"
    "And answer according to the language of the user's question.\n\n"
)


@dataclass(slots=True)
class PromptMessage:
    role: str
    content: str
    # content parts added after the text (images): OpenAI-style dicts
    parts: list[dict[str, Any]] = field(default_factory=list)
    # what each part is, for people and the echo model: a file name or a URL
    labels: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        if not self.parts:
            return {"role": self.role, "content": self.content}
        return {"role": self.role, "content": [{"type": "text", "text": self.content}, *self.parts]}


@dataclass(slots=True)
class Prompt:
    messages: list[PromptMessage]
    # completion-model prompt (one string); None for chat models
    text: str | None = None

    def as_json(self) -> list[dict[str, Any]]:
        return [m.as_dict() for m in self.messages]


def _neutralize(value: str) -> str:
    return PLACEHOLDER.sub(r"{\1}", value)


def render(template: str, variables: Mapping[str, str]) -> str:
    """Substitute known placeholders; unknown ones stay verbatim."""

    def replace(match: re.Match[str]) -> str:
        value = variables.get(match.group(1))
        return match.group(0) if value is None else _neutralize(value)

    return SPECIAL_TOKENS.sub("", PLACEHOLDER.sub(replace, template))


def _as_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def build_prompt(config: AppConfig, inputs: Mapping[str, Any], query: str, context: str | None) -> Prompt:
    variables: dict[str, str] = {k: _as_text(v) for k, v in inputs.items()}
    variables["#query#"] = query
    variables["#context#"] = context or ""
    chat = config.model.mode == "chat"

    if config.prompt_type == "advanced":
        if chat:
            messages = [
                PromptMessage(role=m.role, content=render(m.text, variables)) for m in config.chat_prompt_messages
            ]
            # the query goes in as its own user message unless the template already placed it
            if query and not any("{{#query#}}" in m.text for m in config.chat_prompt_messages):
                messages.append(PromptMessage(role="user", content=query))
            return Prompt(messages=messages)
        text = render(config.completion_prompt_text, variables)
        return Prompt(messages=[PromptMessage(role="user", content=text)], text=text)

    body = CONTEXT_BLOCK if context is not None else ""
    if config.pre_prompt:
        body += config.pre_prompt + "\n"
    if chat:
        rendered = render(body, variables)
        if query:
            messages = [PromptMessage(role="system", content=rendered)] if rendered else []
            messages.append(PromptMessage(role="user", content=query))
            return Prompt(messages=messages)
        return Prompt(messages=[PromptMessage(role="user", content=rendered)])
    text = render(body + "{{#query#}}", variables)
    return Prompt(messages=[PromptMessage(role="user", content=text)], text=text)
