"""What an uploaded recording is, decided by its first bytes (the name and the part's declared type are
not trusted; the reference's mimetype allow-list even refused ``audio/mpeg``, reference §8.7).

    mp3   "ID3" (an ID3v2 tag), or an MPEG audio frame header: 11 sync bits, a valid version and
          layer III (mpga: any layer)
    m4a   an ISO base-media file: <size:4> "ftyp" with an MPEG-4 audio/video brand
    wav   "RIFF" <size:4> "WAVE"
    webm  the EBML magic 1A 45 DF A3 with the "webm" doc type in the header
    amr   "#!AMR\\n" or "#!AMR-WB\\n"
"""

from __future__ import annotations

from dataclasses import dataclass

SNIFF_BYTES = 64
ACCEPTED = ("mp3", "m4a", "wav", "webm", "mpga", "amr")

_M4A_BRANDS = (b"M4A ", b"M4B ", b"M4P ", b"mp41", b"mp42", b"isom", b"iso2", b"iso4", b"iso5", b"iso6", b"dash")


@dataclass(frozen=True, slots=True)
class AudioType:
    extension: str  # what the recording is sent upstream as: ``audio.<extension>``
    mime_type: str


MP3 = AudioType("mp3", "audio/mpeg")
MPGA = AudioType("mpga", "audio/mpeg")
M4A = AudioType("m4a", "audio/mp4")
WAV = AudioType("wav", "audio/wav")
WEBM = AudioType("webm", "audio/webm")
AMR = AudioType("amr", "audio/amr")


def _mpeg_frame(head: bytes) -> int | None:
    """The layer (1..3) of an MPEG audio frame header at the start of ``head``, else None."""
    if len(head) < 4 or head[0] != 0xFF or head[1] & 0xE0 != 0xE0:
        return None
    version = (head[1] >> 3) & 0b11
    layer_bits = (head[1] >> 1) & 0b11
    bitrate = head[2] >> 4
    rate = (head[2] >> 2) & 0b11
    if version == 0b01 or layer_bits == 0 or bitrate == 0xF or rate == 0b11:
        return None  # reserved values (layer 00 is also how ADTS AAC starts)
    return 4 - layer_bits


def sniff_audio(head: bytes) -> AudioType | None:
    """The type of a recording whose first bytes (at least :data:`SNIFF_BYTES` when it is that long)
    are ``head``, or None when it is none of the accepted types."""
    if head.startswith(b"ID3") and len(head) >= 10:
        return MP3
    layer = _mpeg_frame(head)
    if layer is not None:
        return MP3 if layer == 3 else MPGA
    if len(head) >= 12 and head[4:8] == b"ftyp" and head[8:12] in _M4A_BRANDS:
        return M4A
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return WAV
    if head[:4] == b"\x1a\x45\xdf\xa3" and b"webm" in head[4:SNIFF_BYTES]:
        return WEBM
    if head.startswith((b"#!AMR\n", b"#!AMR-WB\n")):
        return AMR
    return None
