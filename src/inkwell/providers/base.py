"""The provider interface: one streaming call, chunks of text, usage when the model reports it."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from typing import Any, Protocol

from inkwell.completion.prompt import Prompt
from inkwell.completion.usage import NO_PRICING, Pricing


@dataclass(frozen=True, slots=True)
class ModelInfo:
    name: str
    pricing: Pricing = NO_PRICING


@dataclass(slots=True)
class LLMRequest:
    model: str
    mode: str  # "chat" | "completion"
    prompt: Prompt
    params: dict[str, Any] = field(default_factory=dict)
    stop: list[str] = field(default_factory=list)


@dataclass(slots=True)
class TokenCounts:
    prompt_tokens: int
    completion_tokens: int


@dataclass(slots=True)
class LLMChunk:
    """What one upstream read produced: zero or more text deltas, and usage if reported."""

    texts: list[str]
    usage: TokenCounts | None = None


class Provider(Protocol):
    name: str

    def model(self, name: str) -> ModelInfo: ...

    def stream(self, request: LLMRequest) -> AsyncGenerator[LLMChunk, None]:
        """Yield chunks until the model finishes. Closing the iterator closes the upstream call."""
        ...

    def count_tokens(self, request: LLMRequest, answer: str) -> TokenCounts:
        """Tokenizer count for when the model reported no usage (cut-short streams, terse servers)."""
        ...

    async def aclose(self) -> None: ...
