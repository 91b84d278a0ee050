"""Cutting text into sentences for synthesis: incrementally while an answer streams, or all at once.

A sentence ends at ``.``, ``!``, ``?``, ``;`` or ``…`` (with any closing quotes or brackets) followed by
white space, or at a CJK full stop, exclamation or question mark, semicolon, or a line break (the
reference splits on ``。.!?``; requiring the space keeps ``3.14`` and ``example.com`` whole). Sentences
shorter than ``min_chars`` are joined to the next one (fewer, more natural synthesis calls); a run of
text longer than ``max_chars`` without an end is cut at its last space or comma before the limit.
"""

from __future__ import annotations

import re

_BOUNDARY = re.compile(r"[.!?;…]+[\"'”’)\]]*(?=\s)|[。！？；\n]+[\"'”’」』）]*")
_SOFT_BREAK = re.compile(r"[\s,，、:：]")


class SentenceSplitter:
    def __init__(self, *, min_chars: int = 1, max_chars: int = 400) -> None:
        if max_chars < 2 or min_chars > max_chars:
            raise ValueError("need 1 <= min_chars <= max_chars and max_chars >= 2")
        self.min_chars = min_chars
        self.max_chars = max_chars
        self._buffer = ""
        self._held = ""  # complete sentences too short to send alone

    def reset(self) -> None:
        self._buffer = ""
        self._held = ""

    def feed(self, text: str) -> list[str]:
        """The sentences that ``text`` completes."""
        self._buffer += text
        out: list[str] = []
        while True:
            match = _BOUNDARY.search(self._buffer)
            if match is None or match.end() > self.max_chars:
                if len(self._buffer) <= self.max_chars:
                    break
                cut = self._cut_point(self._buffer)
                piece, self._buffer = self._buffer[:cut], self._buffer[cut:]
            else:
                piece, self._buffer = self._buffer[: match.end()], self._buffer[match.end() :]
            self._emit(piece, out)
        return out

    def flush(self) -> list[str]:
        """Whatever is left, as the last sentence(s)."""
        out: list[str] = []
        rest = (self._held + self._buffer).strip()
        self.reset()
        while len(rest) > self.max_chars:
            cut = self._cut_point(rest)
            piece, rest = rest[:cut].strip(), rest[cut:].strip()
            if piece:
                out.append(piece)
        if rest:
            out.append(rest)
        return out

    def _cut_point(self, text: str) -> int:
        window = text[: self.max_chars]
        breaks = [m.end() for m in _SOFT_BREAK.finditer(window)]
        usable = [b for b in breaks if b > self.max_chars // 2]
        return usable[-1] if usable else self.max_chars

    def _emit(self, piece: str, out: list[str]) -> None:
        joined = (self._held + piece) if self._held else piece
        if len(joined.strip()) < self.min_chars and len(joined) < self.max_chars:
            self._held = joined
            return
        self._held = ""
        sentence = joined.strip()
        if sentence:
            out.append(sentence)


def split_text(text: str, *, max_chars: int) -> list[str]:
    """``text`` as consecutive pieces of at most ``max_chars`` characters, cut at sentence ends where
    possible (whole sentences are packed together up to the limit)."""
    splitter = SentenceSplitter(max_chars=max_chars)
    sentences = [*splitter.feed(text), *splitter.flush()]
    pieces: list[str] = []
    for sentence in sentences:
        if pieces and len(pieces[-1]) + 1 + len(sentence) <= max_chars:
            pieces[-1] = f"{pieces[-1]} {sentence}"
        else:
            pieces.append(sentence)
    return pieces
