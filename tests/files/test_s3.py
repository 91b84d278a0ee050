"""The S3-compatible storage backend (SPEC §5, §8).

Runs without network: AWS's published SigV4 example, and an in-process fake bucket (httpx
MockTransport) that re-verifies every request's signature and payload hash. Set
``INKWELL_TEST_S3_URL`` (e.g. ``http://127.0.0.1:5000`` for ``moto_server``) to also run the
round trip against a real S3-compatible server.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest

from inkwell.files.s3 import (
    S3ConnectionFailed,
    S3PermissionDenied,
    S3Storage,
    sign_v4,
)
from inkwell.files.storage import MB, FileTooLarge, InvalidStorageKey, Storage, StoredFileNotFound

ACCESS = "AKIAIOSFODNN7EXAMPLE"
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
CHUNK = 64 * 1024


def test_signature_matches_the_aws_example() -> None:
    """AWS S3 docs, "Example: GET Object" (Signature Version 4, header-based auth)."""
    headers = sign_v4(
        "GET",
        httpx.URL("https://examplebucket.s3.amazonaws.com/test.txt"),
        {"Range": "bytes=0-9"},
        payload_sha256=hashlib.sha256(b"").hexdigest(),
        access_key=ACCESS,
        secret_key=SECRET,
        region="us-east-1",
        now=dt.datetime(2013, 5, 24, tzinfo=dt.UTC),
    )
    assert headers["authorization"] == (
        "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,"
        "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,"
        "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
    )
    assert headers["host"] == "examplebucket.s3.amazonaws.com"
    assert headers["x-amz-date"] == "20130524T000000Z"


_AUTH = re.compile(r"AWS4-HMAC-SHA256 Credential=([^/]+)/(\d{8})/([^/]+)/s3/aws4_request,SignedHeaders=([^,]+),")


class FakeBucket:
    """Just enough of S3 for the backend, checking each request's signature from what arrived."""

    def __init__(self, bucket: str = "inkwell", *, deny: bool = False, fail: bool = False) -> None:
        self.bucket = bucket
        self.objects: dict[str, bytes] = {}
        self.requests: list[str] = []
        self.deny = deny
        self.fail = fail

    def _verify(self, request: httpx.Request, body: bytes) -> None:
        auth = request.headers["authorization"]
        match = _AUTH.match(auth)
        assert match, auth
        signed = match.group(4).split(";")
        assert {"host", "x-amz-date", "x-amz-content-sha256"} <= set(signed)
        assert request.headers["x-amz-content-sha256"] == hashlib.sha256(body).hexdigest()
        when = dt.datetime.strptime(request.headers["x-amz-date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.UTC)
        again = sign_v4(
            request.method,
            request.url,
            {name: request.headers[name] for name in signed},
            payload_sha256=request.headers["x-amz-content-sha256"],
            access_key=ACCESS,
            secret_key=SECRET,
            region=match.group(3),
            now=when,
        )
        assert again["authorization"] == auth

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        if self.fail:
            raise httpx.ConnectError("connection refused", request=request)
        body = await request.aread()
        self._verify(request, body)
        self.requests.append(request.method)
        if self.deny:
            return httpx.Response(403, content=b"<Error><Code>AccessDenied</Code></Error>")
        prefix = f"/{self.bucket}/"
        assert request.url.path.startswith(prefix)
        key = request.url.path[len(prefix) :]
        if request.method == "PUT":
            assert int(request.headers["content-length"]) == len(body)
            self.objects[key] = body
            return httpx.Response(200)
        if key not in self.objects:
            return httpx.Response(404, content=b"<Error><Code>NoSuchKey</Code></Error>")
        if request.method == "GET":
            return httpx.Response(200, content=self.objects[key])
        if request.method == "HEAD":
            return httpx.Response(200, headers={"content-length": str(len(self.objects[key]))})
        if request.method == "DELETE":
            del self.objects[key]
            return httpx.Response(204)
        return httpx.Response(405)


def make_storage(fake: FakeBucket, prefix: str = "") -> S3Storage:
    client = httpx.AsyncClient(transport=httpx.MockTransport(fake))
    return S3Storage(
        endpoint_url="http://s3.test:9000",
        bucket=fake.bucket,
        access_key=ACCESS,
        secret_key=SECRET,
        region="eu-west-1",
        prefix=prefix,
        client=client,
    )


async def stream(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


async def collect(chunks: AsyncIterator[bytes]) -> bytes:
    return b"".join([c async for c in chunks])


def new_key() -> str:
    return f"{uuid.uuid4()}/{uuid.uuid4()}"


async def test_round_trip_against_the_fake_bucket() -> None:
    fake = FakeBucket()
    storage = make_storage(fake, prefix="uploads")
    assert isinstance(storage, Storage)
    key = new_key()
    data = os.urandom(3 * MB + 17)  # spills the spool to disk
    chunks = [data[i : i + CHUNK] for i in range(0, len(data), CHUNK)]
    assert await storage.save(key, stream(*chunks), max_bytes=10 * MB) == len(data)
    assert fake.objects == {f"uploads/{key}": data}
    assert await storage.size(key) == len(data)
    assert await collect(storage.open(key)) == data
    await storage.delete(key)
    await storage.delete(key)  # missing is fine
    with pytest.raises(StoredFileNotFound):
        await storage.size(key)
    with pytest.raises(StoredFileNotFound):
        await collect(storage.open(key))
    await storage.client.aclose()


async def test_oversize_upload_never_reaches_the_bucket() -> None:
    fake = FakeBucket()
    storage = make_storage(fake)
    produced = 0

    async def huge() -> AsyncIterator[bytes]:
        nonlocal produced
        for _ in range(50 * MB // CHUNK):
            produced += CHUNK
            yield b"\x00" * CHUNK

    with pytest.raises(FileTooLarge) as caught:
        await storage.save(new_key(), huge(), max_bytes=10 * MB)
    assert caught.value.message == "File size exceeded: the limit is 10 MB."
    assert produced == 10 * MB + CHUNK
    assert fake.requests == []
    await storage.client.aclose()


async def test_backend_failures_are_503() -> None:
    denied = make_storage(FakeBucket(deny=True))
    with pytest.raises(S3PermissionDenied) as perm:
        await denied.save(new_key(), stream(b"x"), max_bytes=10)
    assert (perm.value.status, perm.value.code) == (503, "s3_permission_denied")
    await denied.client.aclose()

    down = make_storage(FakeBucket(fail=True))
    with pytest.raises(S3ConnectionFailed) as conn:
        await down.size(new_key())
    assert (conn.value.status, conn.value.code) == (503, "s3_connection_failed")
    with pytest.raises(S3ConnectionFailed):
        await collect(down.open(new_key()))
    await down.client.aclose()


@pytest.mark.parametrize("key", ["../x", "/etc/passwd", "a/../../b", "a\\b", "a//b", ""])
async def test_hostile_keys_are_refused(key: str) -> None:
    fake = FakeBucket()
    storage = make_storage(fake)
    with pytest.raises(InvalidStorageKey):
        await storage.save(key, stream(b"x"), max_bytes=10)
    with pytest.raises(InvalidStorageKey):
        await storage.size(key)
    assert fake.requests == []
    await storage.client.aclose()


@pytest.mark.skipif(not os.environ.get("INKWELL_TEST_S3_URL"), reason="INKWELL_TEST_S3_URL not set")
async def test_round_trip_against_a_real_server() -> None:
    storage = S3Storage(
        endpoint_url=os.environ["INKWELL_TEST_S3_URL"],
        bucket=os.environ.get("INKWELL_TEST_S3_BUCKET", "inkwell-test"),
        access_key=os.environ.get("INKWELL_TEST_S3_ACCESS_KEY", "testing"),
        secret_key=os.environ.get("INKWELL_TEST_S3_SECRET_KEY", "testing"),
    )
    try:
        await storage.create_bucket()
        key = new_key()
        data = os.urandom(2 * MB + 5)
        assert await storage.save(key, stream(data[:MB], data[MB:]), max_bytes=10 * MB) == len(data)
        assert await storage.size(key) == len(data)
        assert await collect(storage.open(key)) == data
        await storage.delete(key)
        with pytest.raises(StoredFileNotFound):
            await storage.size(key)
    finally:
        await storage.aclose()
