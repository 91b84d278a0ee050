"""The SSRF-safe remote_url client (SPEC §8, §11).

No test sends traffic anywhere but 127.0.0.1: refused addresses are refused before any socket is
connected (``no_connect`` turns every connection attempt into a recorded failure), and host names
are "resolved" by a patched ``getaddrinfo``, never by real DNS.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
import struct
import subprocess
import zlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from aiohttp import web

from inkwell.errors import InvalidParam
from inkwell.files.fetch import RemoteFetchError, SafeFetcher, check_address


def make_png(width: int = 2, height: int = 2) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    raw = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


PNG = make_png()
LIMIT = 4096


# -- a real local server ------------------------------------------------------------------------


async def _image(_: web.Request) -> web.Response:
    return web.Response(body=PNG, content_type="image/png")


async def _download(_: web.Request) -> web.Response:
    return web.Response(
        body=PNG,
        content_type="image/png",
        headers={"Content-Disposition": 'attachment; filename="../../etc/cat\\\\photo.png"'},
    )


async def _host(request: web.Request) -> web.Response:
    return web.Response(text=request.host, content_type="text/plain")


async def _redirect(_: web.Request) -> web.Response:
    raise web.HTTPFound("/image.png")


async def _redirect_private(_: web.Request) -> web.Response:
    raise web.HTTPFound("http://10.0.0.1/x")


async def _redirect_metadata(_: web.Request) -> web.Response:
    raise web.HTTPTemporaryRedirect("http://169.254.169.254/latest/meta-data/")


async def _redirect_file(_: web.Request) -> web.Response:
    raise web.HTTPFound("file:///etc/passwd")


async def _chain(request: web.Request) -> web.Response:
    n = int(request.match_info["n"])
    if n == 0:
        return web.Response(body=PNG, content_type="image/png")
    raise web.HTTPFound(f"/chain/{n - 1}")


async def _big(_: web.Request) -> web.Response:
    return web.Response(body=b"x" * (LIMIT + 1), content_type="application/octet-stream")


async def _big_chunked(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Type": "application/octet-stream"})
    response.enable_chunked_encoding()
    await response.prepare(request)
    for _ in range(64):  # 64 KiB in total, far past LIMIT
        await response.write(b"y" * 1024)
    await response.write_eof()
    return response


async def _slow_headers(_: web.Request) -> web.Response:
    await asyncio.sleep(1.0)
    return web.Response(body=PNG, content_type="image/png")


async def _slow_body(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Type": "image/png"})
    await response.prepare(request)
    for _ in range(20):
        await response.write(b"z")
        await asyncio.sleep(0.1)
    await response.write_eof()
    return response


async def _missing(_: web.Request) -> web.Response:
    raise web.HTTPNotFound()


@pytest.fixture(scope="module")
async def server() -> AsyncIterator[str]:
    app = web.Application()
    app.router.add_get("/image.png", _image)
    app.router.add_get("/download", _download)
    app.router.add_get("/host", _host)
    app.router.add_get("/redirect", _redirect)
    app.router.add_get("/redirect-private", _redirect_private)
    app.router.add_get("/redirect-metadata", _redirect_metadata)
    app.router.add_get("/redirect-file", _redirect_file)
    app.router.add_get("/chain/{n}", _chain)
    app.router.add_get("/big", _big)
    app.router.add_get("/big-chunked", _big_chunked)
    app.router.add_get("/slow-headers", _slow_headers)
    app.router.add_get("/slow-body", _slow_body)
    app.router.add_get("/missing", _missing)
    runner = web.AppRunner(app, handler_cancellation=True, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


def port_of(base: str) -> int:
    return int(base.rsplit(":", 1)[1])


# -- guards: nothing leaves the machine -----------------------------------------------------------


class Recorder:
    def __init__(self) -> None:
        self.connects: list[Any] = []
        self.lookups: list[str] = []


@pytest.fixture
async def no_connect(monkeypatch: pytest.MonkeyPatch) -> Recorder:
    """Every connection attempt and every DNS lookup on the running loop fails the fetch and is recorded."""
    loop = asyncio.get_running_loop()
    record = Recorder()

    async def sock_connect(_sock: socket.socket, address: Any) -> None:
        record.connects.append(address)
        raise ConnectionRefusedError("connection attempted in a test that must not connect")

    async def create_connection(*args: Any, **kwargs: Any) -> Any:
        record.connects.append((args, kwargs))
        raise ConnectionRefusedError("connection attempted in a test that must not connect")

    async def getaddrinfo(host: str, *_args: Any, **_kwargs: Any) -> Any:
        record.lookups.append(host)
        raise socket.gaierror(socket.EAI_NONAME, "no DNS in tests")

    monkeypatch.setattr(loop, "sock_connect", sock_connect)
    monkeypatch.setattr(loop, "create_connection", create_connection)
    monkeypatch.setattr(loop, "getaddrinfo", getaddrinfo)
    return record


def fake_dns(monkeypatch: pytest.MonkeyPatch, answer: Callable[[int], list[str]]) -> list[str]:
    """Patch the running loop's getaddrinfo: the n-th lookup (0-based) answers ``answer(n)``."""
    loop = asyncio.get_running_loop()
    lookups: list[str] = []

    async def getaddrinfo(host: str, port: Any, *_args: Any, **_kwargs: Any) -> list[Any]:
        addresses = answer(len(lookups))
        lookups.append(host)
        result: list[Any] = []
        for address in addresses:
            family = socket.AF_INET6 if ":" in address else socket.AF_INET
            sockaddr = (address, int(port), 0, 0) if family == socket.AF_INET6 else (address, int(port))
            result.append((family, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", sockaddr))
        return result

    monkeypatch.setattr(loop, "getaddrinfo", getaddrinfo)
    return lookups


def fetcher(**kwargs: Any) -> SafeFetcher:
    options: dict[str, Any] = {"max_bytes": LIMIT, "timeout": 2.0, "max_redirects": 3}
    options.update(kwargs)
    return SafeFetcher(**options)


# -- refused before connecting ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://10.0.0.5/a.png", "10.0.0.5 is a private address"),
        ("http://172.16.3.4/a.png", "172.16.3.4 is a private address"),
        ("http://192.168.1.1/a.png", "192.168.1.1 is a private address"),
        ("http://169.254.169.254/latest/meta-data/", "169.254.169.254 is a cloud metadata address"),
        ("http://169.254.10.10/", "169.254.10.10 is a link-local address"),
        ("http://[fd00:ec2::254]/", "is a cloud metadata address"),
        ("http://127.0.0.1/a.png", "127.0.0.1 is a loopback address"),
        ("http://127.8.9.10:8080/a.png", "127.8.9.10 is a loopback address"),
        ("http://[::1]/a.png", "::1 is a loopback address"),
        ("http://[::ffff:127.0.0.1]/a.png", "is a loopback address"),
        ("http://[::ffff:10.0.0.1]/a.png", "is a private address"),
        ("http://[::ffff:169.254.169.254]/", "is a cloud metadata address"),
        ("http://[2002:a00:1::]/", "is a private address"),  # 6to4 around 10.0.0.1
        ("http://[64:ff9b::a9fe:a9fe]/", "is a cloud metadata address"),  # NAT64 around 169.254.169.254
        ("http://0.0.0.0/", "0.0.0.0 is an unspecified address"),
        ("http://[::]/", ":: is an unspecified address"),
        ("http://224.0.0.1/", "224.0.0.1 is a multicast address"),
        ("http://[ff02::1]/", "is a multicast address"),
        ("http://[fe80::1]/", "is a link-local address"),
        ("http://[fc00::1]/", "is a private address"),
        ("http://100.64.0.1/", "100.64.0.1 is a carrier-grade NAT address"),
        ("http://240.0.0.1/", "240.0.0.1 is"),
        ("http://255.255.255.255/", "255.255.255.255 is"),
        ("http://metadata.google.internal/computeMetadata/v1/", "metadata.google.internal is a cloud metadata host"),
        ("http://METADATA.google.internal./", "is a cloud metadata host"),
        ("http://metadata/computeMetadata/v1/", "metadata is a cloud metadata host"),
        ("http://2130706433/", "2130706433 is not a canonical IP address"),
        ("http://0x7f.1/", "0x7f.1 is not a canonical IP address"),
        ("http://0177.0.0.1/", "is not a canonical IP address"),
        ("http://10.1/", "10.1 is not a canonical IP address"),
        ("ftp://example.com/a.png", "only http and https URLs are allowed"),
        ("file:///etc/passwd", "only http and https URLs are allowed"),
        ("gopher://127.0.0.1:70/", "only http and https URLs are allowed"),
        ("data:image/png;base64,AAAA", "only http and https URLs are allowed"),
        ("http://user:pass@example.com/a.png", "credentials"),
        ("http://user@example.com/a.png", "credentials"),
        ("http:///a.png", "no host"),
    ],
)
async def test_refused_before_connecting(no_connect: Recorder, url: str, reason: str) -> None:
    with pytest.raises(RemoteFetchError) as caught:
        await fetcher().fetch(url)
    assert reason in caught.value.message
    assert no_connect.connects == []
    assert no_connect.lookups == []  # literal addresses and refused names never reach DNS


@pytest.mark.parametrize("url", ["http://127.0.0.1:9/a.png", "http://[::ffff:127.0.0.1]:9/"])
async def test_loopback_allowed_setting_does_not_cover_mapped_or_private(no_connect: Recorder, url: str) -> None:
    if "ffff" in url:
        with pytest.raises(RemoteFetchError, match="loopback"):
            await fetcher(allow_loopback=True).fetch(url)
        assert no_connect.connects == []
    for private in ("http://10.0.0.1/", "http://169.254.169.254/", "http://[fe80::1]/", "http://192.168.0.1/"):
        with pytest.raises(RemoteFetchError, match="refused"):
            await fetcher(allow_loopback=True).fetch(private)
    assert no_connect.connects == []


def test_refusal_is_a_400_invalid_param() -> None:
    error = RemoteFetchError("remote_url refused: 10.0.0.5 is a private address")
    assert isinstance(error, InvalidParam)
    assert error.body() == {
        "code": "invalid_param",
        "message": "remote_url refused: 10.0.0.5 is a private address",
        "status": 400,
    }


def test_check_address_allows_public_addresses() -> None:
    for public in ("93.184.216.34", "8.8.8.8", "2606:4700:4700::1111"):
        assert check_address(ipaddress.ip_address(public)) is None
    assert check_address(ipaddress.ip_address("127.0.0.1"), allow_loopback=True) is None
    assert check_address(ipaddress.ip_address("::1"), allow_loopback=True) is None
    assert check_address(ipaddress.ip_address("::ffff:127.0.0.1"), allow_loopback=True) is not None


async def test_hostname_resolving_to_private_is_refused_without_connecting(
    no_connect: Recorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    lookups = fake_dns(monkeypatch, lambda _: ["10.0.0.1"])
    # port 9 (discard) has nothing listening; a connection attempt would be recorded anyway
    with pytest.raises(RemoteFetchError, match=r"remote_url refused: 10\.0\.0\.1 is a private address"):
        await fetcher().fetch("http://innocent.example:9/a.png")
    assert lookups == ["innocent.example"]
    assert no_connect.connects == []


async def test_every_resolved_address_is_checked(no_connect: Recorder, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_dns(monkeypatch, lambda _: ["93.184.216.34", "169.254.169.254"])
    with pytest.raises(RemoteFetchError, match="169.254.169.254 is a cloud metadata address"):
        await fetcher().fetch("http://mixed.example/a.png")
    assert no_connect.connects == []


async def test_loopback_name_refused_by_default(no_connect: Recorder, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_dns(monkeypatch, lambda _: ["127.0.0.1"])
    with pytest.raises(RemoteFetchError, match="127.0.0.1 is a loopback address"):
        await fetcher().fetch("http://localhost:9/a.png")
    assert no_connect.connects == []


async def test_unresolvable_host(no_connect: Recorder) -> None:
    with pytest.raises(RemoteFetchError, match="could not be resolved"):
        await fetcher().fetch("http://nowhere.invalid/a.png")
    assert no_connect.connects == []


# -- allowed loopback against a real local server ----------------------------------------------------


async def test_fetches_png_from_loopback_when_allowed(server: str) -> None:
    fetched = await fetcher(allow_loopback=True).fetch(f"{server}/image.png")
    assert fetched.content == PNG
    assert fetched.content_type == "image/png"
    assert fetched.filename == "image.png"
    assert fetched.url == f"{server}/image.png"


async def test_loopback_refused_by_default_even_with_a_server_listening(server: str) -> None:
    with pytest.raises(RemoteFetchError, match="127.0.0.1 is a loopback address"):
        await fetcher().fetch(f"{server}/image.png")


async def test_follows_a_checked_redirect(server: str) -> None:
    fetched = await fetcher(allow_loopback=True).fetch(f"{server}/redirect")
    assert fetched.content == PNG
    assert fetched.url == f"{server}/image.png"
    assert fetched.filename == "image.png"


async def test_filename_from_content_disposition_is_sanitized(server: str) -> None:
    fetched = await fetcher(allow_loopback=True).fetch(f"{server}/download")
    assert fetched.filename == "photo.png"
    assert "/" not in fetched.filename and "\\" not in fetched.filename


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("/redirect-private", r"remote_url refused: 10\.0\.0\.1 is a private address"),
        ("/redirect-metadata", "169.254.169.254 is a cloud metadata address"),
        ("/redirect-file", "only http and https URLs are allowed"),
    ],
)
async def test_redirect_to_refused_target_is_not_followed(
    server: str, monkeypatch: pytest.MonkeyPatch, path: str, reason: str
) -> None:
    loop = asyncio.get_running_loop()
    connects: list[Any] = []
    real_sock_connect = loop.sock_connect

    async def sock_connect(sock: socket.socket, address: Any) -> None:
        connects.append(address[0])
        if address[0] != "127.0.0.1":
            raise AssertionError(f"connection attempted to {address}")
        await real_sock_connect(sock, address)

    monkeypatch.setattr(loop, "sock_connect", sock_connect)
    with pytest.raises(RemoteFetchError, match=reason):
        await fetcher(allow_loopback=True).fetch(f"{server}{path}")
    assert set(connects) <= {"127.0.0.1"}


async def test_redirect_chain_within_the_limit(server: str) -> None:
    fetched = await fetcher(allow_loopback=True, max_redirects=3).fetch(f"{server}/chain/3")
    assert fetched.content == PNG


async def test_redirect_chain_too_long(server: str) -> None:
    with pytest.raises(RemoteFetchError, match="remote_url redirected too many times"):
        await fetcher(allow_loopback=True, max_redirects=3).fetch(f"{server}/chain/4")
    with pytest.raises(RemoteFetchError, match="redirected too many times"):
        await fetcher(allow_loopback=True, max_redirects=0).fetch(f"{server}/redirect")


async def test_oversize_body_with_content_length(server: str) -> None:
    with pytest.raises(RemoteFetchError, match=f"remote_url is larger than the limit of {LIMIT} bytes"):
        await fetcher(allow_loopback=True).fetch(f"{server}/big")


async def test_oversize_chunked_body(server: str) -> None:
    with pytest.raises(RemoteFetchError, match=f"remote_url is larger than the limit of {LIMIT} bytes"):
        await fetcher(allow_loopback=True).fetch(f"{server}/big-chunked")


async def test_body_exactly_at_the_limit(server: str) -> None:
    fetched = await fetcher(allow_loopback=True, max_bytes=len(PNG)).fetch(f"{server}/image.png")
    assert fetched.content == PNG


@pytest.mark.parametrize("path", ["/slow-headers", "/slow-body"])
async def test_slow_server_times_out(server: str, path: str) -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(RemoteFetchError, match=r"remote_url took longer than 0\.3 s"):
        await fetcher(allow_loopback=True, timeout=0.3).fetch(f"{server}{path}")
    assert loop.time() - started < 1.0


async def test_error_status_is_refused(server: str) -> None:
    with pytest.raises(RemoteFetchError, match="remote_url returned HTTP 404"):
        await fetcher(allow_loopback=True).fetch(f"{server}/missing")


async def test_closed_port() -> None:
    # bind and close a socket to get a loopback port with nothing listening
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(RemoteFetchError, match="could not be fetched"):
        await fetcher(allow_loopback=True).fetch(f"http://127.0.0.1:{port}/image.png")


# -- DNS rebinding: one lookup, pinned for the connection ----------------------------------------------


async def test_dns_rebinding_uses_the_pinned_address(server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    lookups = fake_dns(monkeypatch, lambda n: ["127.0.0.1"] if n == 0 else ["10.0.0.1"])
    port = port_of(server)
    fetched = await fetcher(allow_loopback=True).fetch(f"http://rebind.test:{port}/image.png")
    assert fetched.content == PNG
    assert lookups == ["rebind.test"]  # resolved once; the connection never asked DNS again


async def test_pinned_connection_sends_the_original_host_header(server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    lookups = fake_dns(monkeypatch, lambda n: ["127.0.0.1"] if n == 0 else ["10.0.0.1"])
    port = port_of(server)
    fetched = await fetcher(allow_loopback=True).fetch(f"http://rebind.test:{port}/host")
    assert fetched.content.decode() == f"rebind.test:{port}"
    assert lookups == ["rebind.test"]


async def test_redirect_hop_is_resolved_and_checked_again(server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # the second hop (same host name) is looked up again and now answers a private address: refused
    lookups = fake_dns(monkeypatch, lambda n: ["127.0.0.1"] if n == 0 else ["10.0.0.1"])
    port = port_of(server)
    with pytest.raises(RemoteFetchError, match=r"10\.0\.0\.1 is a private address"):
        await fetcher(allow_loopback=True).fetch(f"http://rebind.test:{port}/redirect")
    assert lookups == ["rebind.test", "rebind.test"]


# -- https: connect to the pinned address, verify the real host name -----------------------------------


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """A self-signed certificate naming only ``pinned.test``."""
    directory = tmp_path_factory.mktemp("tls")
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", str(key), "-out", str(cert), "-days", "1", "-subj", "/CN=pinned.test",
            "-addext", "subjectAltName=DNS:pinned.test",
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return str(cert), str(key)


@pytest.fixture(scope="module")
async def tls_server(certificate: tuple[str, str]) -> AsyncIterator[tuple[str, ssl.SSLContext, list[str]]]:
    """An https server on 127.0.0.1 presenting the ``pinned.test`` certificate; records the SNI it gets."""
    cert, key = certificate
    server_names: list[str] = []
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(cert, key)

    def sni(_sock: Any, name: str | None, _context: Any) -> None:
        server_names.append(name or "")

    server_context.sni_callback = sni
    client_context = ssl.create_default_context(cafile=cert)
    app = web.Application()
    app.router.add_get("/image.png", _image)
    app.router.add_get("/host", _host)
    runner = web.AppRunner(app, handler_cancellation=True, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=server_context)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"https://127.0.0.1:{port}", client_context, server_names
    finally:
        await runner.cleanup()


async def test_https_connects_to_pinned_address_with_real_sni(
    tls_server: tuple[str, ssl.SSLContext, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    base, context, server_names = tls_server
    lookups = fake_dns(monkeypatch, lambda _: ["127.0.0.1"])
    port = port_of(base)
    safe = fetcher(allow_loopback=True, ssl_context=context)
    fetched = await safe.fetch(f"https://pinned.test:{port}/image.png")
    assert fetched.content == PNG
    assert server_names[-1] == "pinned.test"
    assert lookups == ["pinned.test"]
    host = await safe.fetch(f"https://pinned.test:{port}/host")
    assert host.content.decode() == f"pinned.test:{port}"
    assert lookups == ["pinned.test", "pinned.test"]  # once per fetch


async def test_https_still_verifies_the_certificate(tls_server: tuple[str, ssl.SSLContext, list[str]]) -> None:
    base, context, _ = tls_server
    # the certificate names pinned.test, not 127.0.0.1: verification stays on, so this fails
    with pytest.raises(RemoteFetchError, match="could not be fetched"):
        await fetcher(allow_loopback=True, ssl_context=context).fetch(f"{base}/image.png")
    # and without the test CA, the default context does not trust the certificate at all
    with pytest.raises(RemoteFetchError, match="could not be fetched"):
        await fetcher(allow_loopback=True).fetch(f"{base}/image.png")
