"""An S3-compatible bucket behind the :class:`~inkwell.files.storage.Storage` interface.

Plain httpx with AWS Signature Version 4 (no SDK dependency), path-style addressing
(``{endpoint}/{bucket}/{prefix}{key}``) so it works with AWS S3, MinIO, Ceph RGW, R2 and moto.

Uploads are spooled (memory up to 1 MiB, then a temporary file) while the size limit is enforced
chunk by chunk, then sent with one signed PUT carrying the payload's SHA-256; an oversize upload
never reaches the bucket. Backend failures become 503 errors with the reference's codes (SPEC §5):
``s3_connection_failed``, ``s3_permission_denied``, ``s3_file_too_large``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import hmac
import tempfile
from collections.abc import AsyncIterator, Mapping
from typing import IO
from urllib.parse import quote

import httpx

from inkwell.errors import ServiceUnavailable
from inkwell.files.storage import READ_CHUNK, StoredFileNotFound, check_key, within_limit

EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
_SPOOL_IN_MEMORY = 1024 * 1024


class S3ConnectionFailed(ServiceUnavailable):
    code = "s3_connection_failed"
    default_message = "Storage is unavailable: could not reach the S3 bucket."


class S3PermissionDenied(ServiceUnavailable):
    code = "s3_permission_denied"
    default_message = "Storage is unavailable: access to the S3 bucket was denied."


class S3FileTooLarge(ServiceUnavailable):
    code = "s3_file_too_large"
    default_message = "Storage refused the file: it is too large for the S3 bucket."


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def sign_v4(
    method: str,
    url: httpx.URL,
    headers: Mapping[str, str],
    *,
    payload_sha256: str,
    access_key: str,
    secret_key: str,
    region: str,
    now: dt.datetime,
    service: str = "s3",
    session_token: str | None = None,
) -> dict[str, str]:
    """``headers`` plus ``host``, ``x-amz-date``, ``x-amz-content-sha256`` (and the session token),
    and the ``Authorization`` header of an AWS Signature Version 4 over all of them."""
    amz_date = now.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    day = amz_date[:8]
    out = {k.lower(): v.strip() for k, v in headers.items()}
    out.setdefault("host", url.host + (f":{url.port}" if url.port else ""))
    out["x-amz-date"] = amz_date
    out["x-amz-content-sha256"] = payload_sha256
    if session_token:
        out["x-amz-security-token"] = session_token
    signed = sorted(out)
    query = "&".join(f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}" for k, v in sorted(url.params.multi_items()))
    canonical = "\n".join(
        [
            method.upper(),
            url.raw_path.split(b"?", 1)[0].decode() or "/",
            query,
            "".join(f"{name}:{' '.join(out[name].split())}\n" for name in signed),
            ";".join(signed),
            payload_sha256,
        ]
    )
    scope = f"{day}/{region}/{service}/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key = _hmac(_hmac(_hmac(_hmac(("AWS4" + secret_key).encode(), day), region), service), "aws4_request")
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    out["authorization"] = (
        f"AWS4-HMAC-SHA256 Credential={access_key}/{scope},SignedHeaders={';'.join(signed)},Signature={signature}"
    )
    return out


class S3Storage:
    """Objects in one bucket of an S3-compatible service."""

    def __init__(
        self,
        *,
        endpoint_url: str,
        bucket: str,
        access_key: str,
        secret_key: str,
        region: str = "us-east-1",
        prefix: str = "",
        session_token: str | None = None,
        client: httpx.AsyncClient | None = None,
        timeout: float = 30.0,
    ) -> None:
        self.endpoint = httpx.URL(endpoint_url.rstrip("/"))
        if self.endpoint.scheme not in ("http", "https"):
            raise ValueError(f"S3 endpoint must be an http(s) URL: {endpoint_url!r}")
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        if self.prefix:
            check_key(self.prefix.rstrip("/"))
        self.access_key = access_key
        self.secret_key = secret_key
        self.region = region
        self.session_token = session_token
        self._client = client
        self._own_client = client is None
        self._timeout = timeout

    @property
    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self._timeout, follow_redirects=False)
        return self._client

    async def aclose(self) -> None:
        if self._own_client and self._client is not None:
            await self._client.aclose()
            self._client = None

    def _url(self, key: str | None) -> httpx.URL:
        path = self.endpoint.path.rstrip("/") + "/" + quote(self.bucket, safe="")
        if key is not None:
            path += "/" + quote(self.prefix + check_key(key), safe="/")
        return self.endpoint.copy_with(path=path)

    def _headers(
        self, method: str, url: httpx.URL, payload_sha256: str = EMPTY_SHA256, extra: Mapping[str, str] | None = None
    ) -> dict[str, str]:
        return sign_v4(
            method,
            url,
            extra or {},
            payload_sha256=payload_sha256,
            access_key=self.access_key,
            secret_key=self.secret_key,
            region=self.region,
            now=dt.datetime.now(dt.UTC),
            session_token=self.session_token,
        )

    async def _send(
        self, method: str, url: httpx.URL, headers: dict[str, str], content: AsyncIterator[bytes] | None = None
    ) -> httpx.Response:
        try:
            return await self.client.request(method, url, headers=headers, content=content)
        except httpx.TransportError as exc:
            raise S3ConnectionFailed() from exc

    @staticmethod
    def _raise_for(response: httpx.Response, *, missing_ok: bool = False) -> None:
        if response.is_success or (missing_ok and response.status_code == 404):
            return
        if response.status_code == 404:
            raise StoredFileNotFound()
        if response.status_code == 403:
            raise S3PermissionDenied()
        if response.status_code in (400, 413) and b"EntityTooLarge" in response.content:
            raise S3FileTooLarge()
        raise S3ConnectionFailed(f"Storage is unavailable: the S3 bucket answered {response.status_code}.")

    async def create_bucket(self) -> None:
        """Create the bucket if it does not exist (for development and tests)."""
        url = self._url(None)
        response = await self._send("PUT", url, self._headers("PUT", url))
        if response.status_code == 409:  # BucketAlreadyOwnedByYou / BucketAlreadyExists
            return
        self._raise_for(response)

    async def save(self, key: str, chunks: AsyncIterator[bytes], *, max_bytes: int) -> int:
        url = self._url(key)
        spool: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=_SPOOL_IN_MEMORY)
        try:
            digest = hashlib.sha256()
            total = 0
            async for chunk in within_limit(chunks, max_bytes):
                total += len(chunk)
                await asyncio.to_thread(_spool_write, spool, digest, chunk)
            await asyncio.to_thread(spool.seek, 0)
            headers = self._headers(
                "PUT",
                url,
                digest.hexdigest(),
                {"content-length": str(total), "content-type": "application/octet-stream"},
            )
            response = await self._send("PUT", url, headers, _read_spool(spool, total))
            self._raise_for(response)
            return total
        finally:
            spool.close()

    async def open(self, key: str) -> AsyncIterator[bytes]:
        url = self._url(key)
        headers = self._headers("GET", url)
        try:
            async with self.client.stream("GET", url, headers=headers) as response:
                if not response.is_success:
                    await response.aread()
                    self._raise_for(response)
                async for chunk in response.aiter_bytes(READ_CHUNK):
                    yield chunk
        except httpx.TransportError as exc:
            raise S3ConnectionFailed() from exc

    async def delete(self, key: str) -> None:
        url = self._url(key)
        self._raise_for(await self._send("DELETE", url, self._headers("DELETE", url)), missing_ok=True)

    async def size(self, key: str) -> int:
        url = self._url(key)
        response = await self._send("HEAD", url, self._headers("HEAD", url))
        self._raise_for(response)
        try:
            return int(response.headers["content-length"])
        except (KeyError, ValueError):
            raise S3ConnectionFailed("Storage is unavailable: the S3 bucket gave no object size.") from None


def _spool_write(spool: IO[bytes], digest: hashlib._Hash, chunk: bytes) -> None:
    digest.update(chunk)
    spool.write(chunk)


async def _read_spool(spool: IO[bytes], total: int) -> AsyncIterator[bytes]:
    remaining = total
    while remaining > 0:
        chunk = await asyncio.to_thread(spool.read, min(READ_CHUNK, remaining))
        if not chunk:
            break
        remaining -= len(chunk)
        yield chunk
