"""Splitting a document into segments (chunks) of at most ``chunk_size`` characters.

* Text is normalized first: BOM and NUL removed, ``\\r\\n`` -> ``\\n``, trailing spaces trimmed, runs of
  blank lines collapsed to one.
* Markdown is cut into sections at its headings (outside code fences) first; a chunk never spans two
  sections, so a heading always starts a chunk and stays with its text.
* Inside a section, text is cut at the coarsest boundary that makes pieces fit: paragraphs, then lines,
  then sentences, then words, then (for a single over-long word) anywhere. Pieces are then packed
  greedily into chunks of at most ``chunk_size`` characters.
* Each chunk after the first of a section starts with the last ``chunk_overlap`` characters (at most;
  cut at a word boundary) of the chunk before it, so a sentence cut in two is found from either side.
  Unless given, the overlap is a tenth of the chunk size.
"""

from __future__ import annotations

import re

DEFAULT_CHUNK_SIZE = 1000
# unless given: a tenth of the chunk size (100 for the default size), the reference's proportion
DEFAULT_OVERLAP_SHARE = 10
MIN_CHUNK_SIZE = 50
MAX_CHUNK_SIZE = 20_000

# boundaries, coarsest first; each separator stays at the end of the piece before it
_BOUNDARIES = (
    re.compile(r"\n\n+"),
    re.compile(r"\n"),
    re.compile(r"(?<=[.!?;:。！？；])\s+"),
    re.compile(r"\s+"),
)
_HEADING = re.compile(r"^#{1,6}\s")
_FENCE = re.compile(r"^(```|~~~)")


class ChunkingError(ValueError):
    """Chunk settings that cannot work; the message says which."""


def default_overlap(chunk_size: int) -> int:
    return chunk_size // DEFAULT_OVERLAP_SHARE


def check_settings(chunk_size: int, chunk_overlap: int) -> None:
    if not MIN_CHUNK_SIZE <= chunk_size <= MAX_CHUNK_SIZE:
        raise ChunkingError(f"chunk size must be from {MIN_CHUNK_SIZE} to {MAX_CHUNK_SIZE} characters")
    if not 0 <= chunk_overlap < chunk_size // 2:
        raise ChunkingError("chunk overlap must be at least 0 and less than half the chunk size")


def normalize(text: str) -> str:
    text = text.replace("\ufeff", "").replace("\x00", "").replace("\r\n", "\n").replace("\r", "\n")
    text = "\n".join(line.rstrip() for line in text.split("\n"))
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def markdown_sections(text: str) -> list[str]:
    """Cut Markdown before each heading line that is not inside a fenced code block."""
    sections: list[list[str]] = [[]]
    fenced = False
    for line in text.split("\n"):
        if _FENCE.match(line):
            fenced = not fenced
        elif not fenced and _HEADING.match(line) and any(s.strip() for s in sections[-1]):
            sections.append([])
        sections[-1].append(line)
    return [joined for lines in sections if (joined := "\n".join(lines).strip())]


def _pieces(text: str, size: int, level: int = 0) -> list[str]:
    if len(text) <= size:
        return [text]
    if level == len(_BOUNDARIES):
        return [text[i : i + size] for i in range(0, len(text), size)]
    parts: list[str] = []
    start = 0
    for match in _BOUNDARIES[level].finditer(text):
        if match.end() > start:
            parts.append(text[start : match.end()])
            start = match.end()
    if start < len(text):
        parts.append(text[start:])
    if len(parts) == 1:
        return _pieces(text, size, level + 1)
    out: list[str] = []
    for part in parts:
        out.extend([part] if len(part) <= size else _pieces(part, size, level + 1))
    return out


def _tail(chunk: str, overlap: int) -> str:
    """The last ``overlap`` characters at most, starting at a word."""
    if overlap <= 0 or not chunk:
        return ""
    if len(chunk) <= overlap:
        return chunk
    tail = chunk[-overlap:]
    if not chunk[-overlap - 1].isspace():
        cut = re.search(r"\s", tail)
        tail = tail[cut.end() :] if cut else ""
    return tail.lstrip()


def _pack(text: str, size: int, overlap: int) -> list[str]:
    chunks: list[str] = []
    current = ""
    for piece in _pieces(text, size):
        if current and len(current) + len(piece) > size:
            chunks.append(current)
            tail = _tail(current.rstrip(), overlap)
            joiner = "" if not tail or tail[-1].isspace() else " "
            current = tail + joiner if len(tail) + len(joiner) + len(piece) <= size else ""
        current += piece
    if current:
        chunks.append(current)
    return [c.strip() for c in chunks if c.strip()]


def chunk_text(
    text: str,
    *,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    chunk_overlap: int | None = None,
    markdown: bool = False,
) -> list[str]:
    """The segments of one document, in order (``chunk_overlap`` None: ``default_overlap``)."""
    if chunk_overlap is None:
        chunk_overlap = default_overlap(chunk_size)
    check_settings(chunk_size, chunk_overlap)
    text = normalize(text)
    if not text:
        return []
    sections = markdown_sections(text) if markdown else [text]
    return [chunk for section in sections for chunk in _pack(section, chunk_size, chunk_overlap)]
