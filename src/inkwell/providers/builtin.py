"""The built-in echo model: no network, no key, deterministic.

It answers with the rendered prompt (every message, in order, joined by newlines), token by token,
where a token is a run of whitespace followed by a run of non-whitespace. ``max_tokens`` and ``stop``
are honoured like a real model honours them (a stop sequence ends the answer and is not included).
Its speed is configurable, so it doubles as the load-test upstream.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncGenerator

from inkwell.completion.prompt import Prompt
from inkwell.providers.base import LLMChunk, LLMRequest, ModelInfo, TokenCounts

_TOKEN = re.compile(r"\s*\S+|\s+")


def echo_tokens(text: str) -> list[str]:
    return _TOKEN.findall(text)


def echo_text(prompt: Prompt) -> str:
    lines: list[str] = []
    for message in prompt.messages:
        lines.append(message.content)
        lines.extend(f"[image: {label}]" for label in message.labels)
    return "\n".join(lines)


def _cut_at_stop(text: str, stop: list[str]) -> str:
    cut = len(text)
    for sequence in stop:
        if sequence:
            index = text.find(sequence)
            if index != -1:
                cut = min(cut, index)
    return text[:cut]


class BuiltinProvider:
    name = "builtin"

    def __init__(self, *, ttft_ms: float = 0.0, token_delay_ms: float = 0.0) -> None:
        self.ttft = ttft_ms / 1000.0
        self.token_delay = token_delay_ms / 1000.0

    def model(self, name: str) -> ModelInfo:
        return ModelInfo(name=name)

    def _answer_tokens(self, request: LLMRequest) -> list[str]:
        tokens = echo_tokens(_cut_at_stop(echo_text(request.prompt), request.stop))
        max_tokens = request.params.get("max_tokens")
        if isinstance(max_tokens, int) and not isinstance(max_tokens, bool) and max_tokens > 0:
            tokens = tokens[:max_tokens]
        return tokens

    async def stream(self, request: LLMRequest) -> AsyncGenerator[LLMChunk, None]:
        tokens = self._answer_tokens(request)
        prompt_tokens = len(echo_tokens(echo_text(request.prompt)))
        if self.ttft:
            await asyncio.sleep(self.ttft)
        if not self.token_delay:
            yield LLMChunk(texts=tokens, usage=TokenCounts(prompt_tokens, len(tokens)))
            return
        for index, token in enumerate(tokens):
            if index:
                await asyncio.sleep(self.token_delay)
            yield LLMChunk(texts=[token])
        yield LLMChunk(texts=[], usage=TokenCounts(prompt_tokens, len(tokens)))

    def count_tokens(self, request: LLMRequest, answer: str) -> TokenCounts:
        return TokenCounts(len(echo_tokens(echo_text(request.prompt))), len(echo_tokens(answer)))

    async def aclose(self) -> None:
        return None
