"""What an upload really is: content sniffing, upload-name checks and the type verdict (SPEC §8).

The type of an upload is decided by its first bytes, never by its name or the part's declared
mime type; the name's extension must agree with the content. Only the four image formats below are
recognised (the signatures are small enough not to need a dependency):

    png   89 50 4E 47 0D 0A 1A 0A, then the IHDR chunk
    jpeg  FF D8 FF
    gif   "GIF87a" / "GIF89a"
    webp  "RIFF" <size:4> "WEBP" "VP8" (VP8 / VP8L / VP8X)

Names are only ever *displayed*: :func:`check_upload_name` refuses names that carry path
separators or control characters and shortens very long ones; storage keys are generated
elsewhere and never derived from a name.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

from inkwell.errors import InkwellError, InvalidParam

# How many leading bytes :func:`sniff` needs to decide.
SNIFF_BYTES = 16
# The longest name kept (Dify shortens names over 200 characters, reference §6.3).
MAX_NAME_LENGTH = 200
# Extensions of the image types Inkwell accepts by default (SPEC §8).
IMAGE_EXTENSIONS: frozenset[str] = frozenset({"png", "jpg", "jpeg", "webp", "gif"})

# bidirectional overrides/isolates: a name like "gnp.exe" shown as "exe.png" is a known trick
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f")


class UnsupportedFileType(InkwellError):
    status = 415
    code = "unsupported_file_type"
    default_message = "File type not allowed."


@dataclass(frozen=True, slots=True)
class SniffedType:
    """A recognised content type: ``kind`` is the Dify file type ("image")."""

    kind: str
    mime_type: str
    extension: str  # canonical, lower case, without the dot
    extensions: frozenset[str]  # every extension that may name this content


PNG = SniffedType("image", "image/png", "png", frozenset({"png"}))
JPEG = SniffedType("image", "image/jpeg", "jpg", frozenset({"jpg", "jpeg"}))
GIF = SniffedType("image", "image/gif", "gif", frozenset({"gif"}))
WEBP = SniffedType("image", "image/webp", "webp", frozenset({"webp"}))

KNOWN_TYPES: tuple[SniffedType, ...] = (PNG, JPEG, GIF, WEBP)


def sniff(head: bytes) -> SniffedType | None:
    """The type of a file whose first bytes are ``head`` (at least :data:`SNIFF_BYTES` of them
    when the file is that long), or None when it is none of the known types."""
    if head.startswith(b"\x89PNG\r\n\x1a\n") and head[12:16] == b"IHDR":
        return PNG
    if head.startswith(b"\xff\xd8\xff"):
        return JPEG
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return GIF
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP" and head[12:15] == b"VP8":
        return WEBP
    return None


def _bad_character(ch: str) -> bool:
    # Cc: C0/C1 controls incl. NUL, tab, CR, LF, DEL; Zl/Zp: line and paragraph separators
    return unicodedata.category(ch) in ("Cc", "Zl", "Zp") or ch in _BIDI_CONTROLS


def check_upload_name(filename: str) -> tuple[str, str]:
    """Return (display name, lower-case extension without the dot) for an uploaded file's name.

    Raises :class:`InvalidParam` for an empty name, or one containing ``/``, ``\\`` or control
    characters. Names longer than :data:`MAX_NAME_LENGTH` characters are shortened, keeping the
    extension. The extension is the text after the last dot ("" when there is none).
    """
    if not filename or not filename.strip():
        raise InvalidParam("Filename is empty.")
    if "/" in filename or "\\" in filename:
        raise InvalidParam("Filename contains invalid characters: path separators are not allowed.")
    if any(_bad_character(ch) for ch in filename):
        raise InvalidParam("Filename contains invalid characters: control characters are not allowed.")

    stem, dot, ext = filename.rpartition(".")
    extension = ext.lower() if dot else ""
    name = filename
    if len(name) > MAX_NAME_LENGTH:
        if extension and len(ext) < MAX_NAME_LENGTH // 2:
            name = stem[: MAX_NAME_LENGTH - len(ext) - 1] + "." + ext
        else:
            name = name[:MAX_NAME_LENGTH]
    return name, extension


def _normalise(extensions: Iterable[str]) -> frozenset[str]:
    return frozenset(e.strip().lower().lstrip(".") for e in extensions if e.strip().lstrip("."))


def verify(filename_ext: str, sniffed: SniffedType | None, allowed_extensions: Iterable[str]) -> SniffedType:
    """The verdict on an upload: its sniffed type when the content is an allowed type and the name's
    extension (``filename_ext``, as returned by :func:`check_upload_name`) agrees with it; otherwise
    :class:`UnsupportedFileType` (415) saying why."""
    allowed = _normalise(allowed_extensions)
    listed = ", ".join(sorted(allowed)) or "none"
    ext = filename_ext.strip().lower().lstrip(".")
    if sniffed is None:
        raise UnsupportedFileType(
            f"File type not allowed: the content is not a recognised file type (allowed: {listed})."
        )
    if not sniffed.extensions & allowed:
        raise UnsupportedFileType(f"File type not allowed: {sniffed.mime_type} is not allowed (allowed: {listed}).")
    if ext not in sniffed.extensions:
        shown = f"'.{ext}'" if ext else "(none)"
        raise UnsupportedFileType(
            f"File type not allowed: the file extension {shown} does not match the content "
            f"({sniffed.mime_type}, expected {' or '.join('.' + e for e in sorted(sniffed.extensions))})."
        )
    if ext not in allowed:
        raise UnsupportedFileType(f"File type not allowed: the extension '.{ext}' is not allowed (allowed: {listed}).")
    return sniffed
