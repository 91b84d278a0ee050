"""Token counting with OpenAI's BPE vocabularies, shipped inside the ``bpe-openai`` wheel (no download)."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from inkwell.completion.prompt import Prompt

# per-message overhead of the chat format (role markers), as OpenAI documents for its chat models
_PER_MESSAGE = 3
_PER_REPLY = 3


@lru_cache(maxsize=4)
def _encoding(name: str) -> Any:
    import bpe_openai  # on first use: importing it loads every vocabulary (~100 MB and ~0.5 s)

    return bpe_openai.get_encoding(name)


def warm() -> None:
    _encoding("cl100k_base")
    _encoding("o200k_base")


def encoding_for(model: str) -> Any:
    lowered = model.lower()
    if lowered.startswith(("gpt-4o", "gpt-4.1", "gpt-5", "o1", "o3", "o4")):
        return _encoding("o200k_base")
    return _encoding("cl100k_base")


def count_text(model: str, text: str) -> int:
    if not text:
        return 0
    return len(encoding_for(model).encode_ordinary(text))


def count_prompt(model: str, prompt: Prompt) -> int:
    if prompt.text is not None:
        return count_text(model, prompt.text)
    return sum(_PER_MESSAGE + count_text(model, m.content) for m in prompt.messages) + _PER_REPLY
