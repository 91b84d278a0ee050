"""The local storage backend: streamed saves with a size limit, safe keys (SPEC §5, §8)."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from inkwell.files.storage import (
    MB,
    FileTooLarge,
    InvalidStorageKey,
    LocalStorage,
    Storage,
    StoredFileNotFound,
    megabytes,
)

CHUNK = 64 * 1024


async def stream(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


async def collect(chunks: AsyncIterator[bytes]) -> bytes:
    return b"".join([c async for c in chunks])


def all_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


@pytest.fixture
def storage(tmp_path: Path) -> LocalStorage:
    return LocalStorage(tmp_path / "files")


def new_key() -> str:
    return f"{uuid.uuid4()}/{uuid.uuid4()}"


async def test_is_a_storage(storage: LocalStorage) -> None:
    assert isinstance(storage, Storage)


async def test_save_open_round_trip(storage: LocalStorage) -> None:
    key = new_key()
    data = os.urandom(200_000)
    size = await storage.save(key, stream(data[:1000], b"", data[1000:150_000], data[150_000:]), max_bytes=MB)
    assert size == len(data)
    assert await storage.size(key) == len(data)
    assert await collect(storage.open(key)) == data
    # exactly one file, at the key's path, no temporaries left
    assert all_files(storage.root) == [storage.root.joinpath(*key.split("/"))]


async def test_save_replaces_existing(storage: LocalStorage) -> None:
    key = new_key()
    await storage.save(key, stream(b"first"), max_bytes=100)
    await storage.save(key, stream(b"second!"), max_bytes=100)
    assert await collect(storage.open(key)) == b"second!"
    assert await storage.size(key) == 7


async def test_empty_and_exact_limit(storage: LocalStorage) -> None:
    empty = new_key()
    assert await storage.save(empty, stream(), max_bytes=10) == 0
    assert await collect(storage.open(empty)) == b""
    exact = new_key()
    assert await storage.save(exact, stream(b"12345", b"67890"), max_bytes=10) == 10  # the limit is inclusive


async def test_one_byte_over_is_too_large(storage: LocalStorage) -> None:
    key = new_key()
    with pytest.raises(FileTooLarge):
        await storage.save(key, stream(b"12345", b"678901"), max_bytes=10)
    assert all_files(storage.root) == []


async def test_oversize_stream_stops_early_and_leaves_nothing(storage: LocalStorage) -> None:
    """50 MB offered in 64 KiB chunks against a 10 MB limit: the generator is abandoned right after
    the limit is passed and no partial or temporary file remains."""
    produced = 0
    chunk = b"\x00" * CHUNK

    async def huge() -> AsyncIterator[bytes]:
        nonlocal produced
        for _ in range(50 * MB // CHUNK):
            produced += len(chunk)
            yield chunk

    key = new_key()
    with pytest.raises(FileTooLarge) as caught:
        await storage.save(key, huge(), max_bytes=megabytes(10))
    err = caught.value
    assert err.status == 413
    assert err.code == "file_too_large"
    assert err.message == "File size exceeded: the limit is 10 MB."
    assert produced == 10 * MB + CHUNK  # stopped at the first chunk past the limit
    assert all_files(storage.root) == []
    with pytest.raises(StoredFileNotFound):
        await storage.size(key)


async def test_failed_stream_leaves_nothing(storage: LocalStorage) -> None:
    async def broken() -> AsyncIterator[bytes]:
        yield b"x" * CHUNK
        raise ConnectionResetError("client went away")

    with pytest.raises(ConnectionResetError):
        await storage.save(new_key(), broken(), max_bytes=MB)
    assert all_files(storage.root) == []


async def test_cancelled_save_leaves_nothing(storage: LocalStorage) -> None:
    started = asyncio.Event()

    async def slow() -> AsyncIterator[bytes]:
        yield b"x" * CHUNK
        started.set()
        await asyncio.sleep(3600)
        yield b"never"

    task = asyncio.create_task(storage.save(new_key(), slow(), max_bytes=MB))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert all_files(storage.root) == []


async def test_limit_message_states_the_limit() -> None:
    assert FileTooLarge(limit_bytes=megabytes(15)).message == "File size exceeded: the limit is 15 MB."
    assert FileTooLarge(limit_bytes=megabytes(2.5)).message == "File size exceeded: the limit is 2.5 MB."
    assert FileTooLarge().message == "File size exceeded."


async def test_missing_key(storage: LocalStorage) -> None:
    key = new_key()
    with pytest.raises(StoredFileNotFound) as caught:
        await storage.size(key)
    assert (caught.value.status, caught.value.code) == (404, "file_not_found")
    with pytest.raises(StoredFileNotFound):
        await collect(storage.open(key))
    await storage.delete(key)  # idempotent


async def test_delete(storage: LocalStorage) -> None:
    key = new_key()
    await storage.save(key, stream(b"bytes"), max_bytes=100)
    await storage.delete(key)
    with pytest.raises(StoredFileNotFound):
        await storage.size(key)
    await storage.delete(key)


async def test_directory_is_not_a_file(storage: LocalStorage) -> None:
    app = str(uuid.uuid4())
    await storage.save(f"{app}/{uuid.uuid4()}", stream(b"x"), max_bytes=10)
    with pytest.raises(StoredFileNotFound):
        await storage.size(app)
    with pytest.raises(StoredFileNotFound):
        await collect(storage.open(app))


HOSTILE_KEYS = [
    "../x",
    "/etc/passwd",
    "a/../../b",
    "a\\b",
    "..",
    ".",
    "a/./b",
    "a//b",
    "a/",
    "",
    ".hidden",
    "a/.upload-x.part",
    "a\x00b",
    "a\nb",
    "C:/windows",
    "~/x",
    "a b",
    "x" * 600,
    "/".join(["a"] * 9),
]


@pytest.mark.parametrize("key", HOSTILE_KEYS)
async def test_hostile_keys_are_refused(storage: LocalStorage, key: str) -> None:
    with pytest.raises(InvalidStorageKey):
        await storage.save(key, stream(b"pwned"), max_bytes=100)
    with pytest.raises(InvalidStorageKey):
        await collect(storage.open(key))
    with pytest.raises(InvalidStorageKey):
        await storage.size(key)
    with pytest.raises(InvalidStorageKey):
        await storage.delete(key)
    assert not storage.root.exists() or all_files(storage.root) == []


async def test_key_with_dots_inside_a_segment_is_fine(storage: LocalStorage) -> None:
    key = f"{uuid.uuid4()}/{uuid.uuid4()}.png"
    await storage.save(key, stream(b"ok"), max_bytes=10)
    assert await collect(storage.open(key)) == b"ok"
