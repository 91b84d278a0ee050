"""Upload type checks: content sniffing, name checks and the 415 verdict (SPEC §5, §8)."""

from __future__ import annotations

import struct
import zlib

import pytest

from inkwell.errors import InvalidParam
from inkwell.files.sniff import (
    GIF,
    IMAGE_EXTENSIONS,
    JPEG,
    PNG,
    SNIFF_BYTES,
    WEBP,
    UnsupportedFileType,
    check_upload_name,
    sniff,
    verify,
)


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def make_png() -> bytes:
    """A real 1×1 RGB PNG."""
    ihdr = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    raw = b"\x00" + b"\xff\x00\x00"  # filter byte + one red pixel
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", zlib.compress(raw))
        + _png_chunk(b"IEND", b"")
    )


def make_gif(version: bytes = b"89a") -> bytes:
    """A minimal 1×1 GIF."""
    return (
        b"GIF" + version + struct.pack("<HH", 1, 1) + b"\x80\x00\x00"  # screen descriptor, 2-colour table
        b"\x00\x00\x00\xff\xff\xff"  # palette
        b"\x2c" + struct.pack("<HHHH", 0, 0, 1, 1) + b"\x00"  # image descriptor
        b"\x02\x02\x44\x01\x00"  # LZW data
        b"\x3b"
    )


def make_jpeg() -> bytes:
    """SOI + JFIF APP0 header + EOI (enough for the signature)."""
    app0 = b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    return b"\xff\xd8" + b"\xff\xe0" + struct.pack(">H", len(app0) + 2) + app0 + b"\xff\xd9"


def make_webp() -> bytes:
    """RIFF/WEBP container with a VP8L chunk (lossless 1×1)."""
    vp8l = b"\x2f\x00\x00\x00\x00\x88\x88\x08"
    chunk = b"VP8L" + struct.pack("<I", len(vp8l)) + vp8l
    body = b"WEBP" + chunk
    return b"RIFF" + struct.pack("<I", len(body)) + body


@pytest.mark.parametrize(
    ("data", "expected", "mime"),
    [
        (make_png(), PNG, "image/png"),
        (make_jpeg(), JPEG, "image/jpeg"),
        (make_gif(b"89a"), GIF, "image/gif"),
        (make_gif(b"87a"), GIF, "image/gif"),
        (make_webp(), WEBP, "image/webp"),
    ],
    ids=["png", "jpeg", "gif89a", "gif87a", "webp"],
)
def test_each_image_type_is_recognised(data: bytes, expected: object, mime: str) -> None:
    sniffed = sniff(data[:SNIFF_BYTES])
    assert sniffed is expected
    assert sniffed is not None
    assert sniffed.kind == "image"
    assert sniffed.mime_type == mime
    assert sniffed.extension in sniffed.extensions
    # and the whole file sniffs the same
    assert sniff(data) is expected


def test_jpeg_accepts_both_extensions() -> None:
    assert JPEG.extensions == {"jpg", "jpeg"}
    assert verify("jpg", sniff(make_jpeg()), IMAGE_EXTENSIONS) is JPEG
    assert verify("JPEG", sniff(make_jpeg()), IMAGE_EXTENSIONS) is JPEG


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"hello, world\n",
        b"%PDF-1.7\n",
        b"\x89PNG\r\n\x1a\n",  # a signature alone, no IHDR
        b"RIFF\x10\x00\x00\x00WAVEfmt ",  # RIFF but not WEBP
        b"GIF88a",
        b"<svg xmlns='http://www.w3.org/2000/svg'/>",
    ],
)
def test_other_content_is_not_recognised(data: bytes) -> None:
    assert sniff(data) is None


def test_png_named_jpg_is_415_mentioning_the_mismatch() -> None:
    with pytest.raises(UnsupportedFileType) as caught:
        verify("jpg", sniff(make_png()), IMAGE_EXTENSIONS)
    err = caught.value
    assert err.status == 415
    assert err.code == "unsupported_file_type"
    assert "'.jpg'" in err.message
    assert "does not match" in err.message
    assert "image/png" in err.message
    assert err.body() == {"code": "unsupported_file_type", "message": err.message, "status": 415}


def test_text_named_png_is_415() -> None:
    with pytest.raises(UnsupportedFileType) as caught:
        verify("png", sniff(b"just some text, honestly\n"), IMAGE_EXTENSIONS)
    assert caught.value.status == 415
    assert "not a recognised" in caught.value.message


def test_zero_bytes_is_415() -> None:
    with pytest.raises(UnsupportedFileType):
        verify("png", sniff(b""), IMAGE_EXTENSIONS)


def test_missing_extension_is_415() -> None:
    with pytest.raises(UnsupportedFileType) as caught:
        verify("", sniff(make_png()), IMAGE_EXTENSIONS)
    assert "(none)" in caught.value.message


def test_type_outside_the_allowed_set_is_415() -> None:
    with pytest.raises(UnsupportedFileType) as caught:
        verify("gif", sniff(make_gif()), {"png", "jpg", "jpeg"})
    assert "image/gif is not allowed" in caught.value.message
    # jpeg allowed only as .jpg: the content is allowed but that extension is not
    with pytest.raises(UnsupportedFileType):
        verify("jpeg", sniff(make_jpeg()), {".JPG"})
    assert verify("jpg", sniff(make_jpeg()), {".JPG"}) is JPEG


def test_matching_upload_passes() -> None:
    name, ext = check_upload_name("Holiday Photo.PNG")
    assert (name, ext) == ("Holiday Photo.PNG", "png")
    assert verify(ext, sniff(make_png()), IMAGE_EXTENSIONS) is PNG
    assert verify("webp", sniff(make_webp()), IMAGE_EXTENSIONS) is WEBP


@pytest.mark.parametrize(
    "name",
    [
        "../etc/passwd.png",
        "dir/picture.png",
        "C:\\Users\\me\\picture.png",
        "pic\x00ture.png",
        "picture\n.png",
        "picture\r.png",
        "pic\tture.png",
        "pic\x7f.png",
        "pic\u2028.png",
        "evil\u202egnp.exe",
    ],
)
def test_hostile_names_are_rejected(name: str) -> None:
    with pytest.raises(InvalidParam) as caught:
        check_upload_name(name)
    assert caught.value.status == 400
    assert "invalid characters" in caught.value.message


@pytest.mark.parametrize("name", ["", "   "])
def test_empty_names_are_rejected(name: str) -> None:
    with pytest.raises(InvalidParam):
        check_upload_name(name)


def test_long_name_is_shortened_keeping_the_extension() -> None:
    long_name = "a" * 296 + ".png"
    assert len(long_name) == 300
    name, ext = check_upload_name(long_name)
    assert ext == "png"
    assert len(name) == 200
    assert name.endswith(".png")
    assert name.startswith("a" * 196)


def test_long_name_without_extension_is_cut() -> None:
    name, ext = check_upload_name("b" * 300)
    assert (name, ext) == ("b" * 200, "")


def test_extension_is_text_after_the_last_dot() -> None:
    assert check_upload_name("archive.tar.GZ") == ("archive.tar.GZ", "gz")
    assert check_upload_name("noext") == ("noext", "")
    assert check_upload_name("trailing.") == ("trailing.", "")
    assert check_upload_name("名前.jpg") == ("名前.jpg", "jpg")
