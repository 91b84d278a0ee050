"""The one SSRF-safe client for ``remote_url`` files (SPEC §8, §11).

Every hop of a fetch goes through the same steps:

1. parse the URL: ``http``/``https`` only, no userinfo, a host is required;
2. refuse cloud-metadata host names outright (``metadata.google.internal``, ``metadata``);
3. resolve the host once with the running loop's ``getaddrinfo`` and check **every** address
   (private, loopback, link-local, multicast, reserved, unspecified, carrier-grade NAT, cloud
   metadata; IPv4-mapped, 6to4 and NAT64 IPv6 addresses are unwrapped and checked as IPv4);
4. connect to the checked addresses only: the aiohttp connector is given a resolver that answers
   with the pinned addresses and nothing else, so the ``Host`` header, SNI and certificate checks
   still use the real host name while DNS is never asked again (no rebinding window);
5. redirects are not followed by aiohttp: each ``Location`` is re-parsed, re-resolved and
   re-checked, up to ``max_redirects``;
6. the body is read in chunks and abandoned past ``max_bytes`` (a larger ``Content-Length`` is
   refused before reading), and the whole fetch, DNS included, is capped by ``timeout``.

Loopback (127.0.0.0/8 and ``::1`` only) is reachable only with ``allow_loopback=True``
(``INKWELL_SSRF_ALLOW_LOOPBACK``, for tests and local development); loopback hidden inside an
IPv4-mapped or translated IPv6 address stays refused.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
import ssl
from dataclasses import dataclass
from typing import Final

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from yarl import URL

from inkwell.errors import InvalidParam

__all__ = ["FetchedFile", "RemoteFetchError", "SafeFetcher", "check_address"]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_METADATA_HOSTS: Final = frozenset({"metadata.google.internal", "metadata"})
_METADATA_ADDRESSES: Final = frozenset(
    {
        ipaddress.ip_address("169.254.169.254"),  # AWS, GCP, Azure, OpenStack, ...
        ipaddress.ip_address("169.254.170.2"),  # AWS ECS task metadata
        ipaddress.ip_address("100.100.100.200"),  # Alibaba Cloud
        ipaddress.ip_address("fd00:ec2::254"),  # AWS IMDS over IPv6
    }
)
_CGNAT: Final = ipaddress.ip_network("100.64.0.0/10")
_V4_LOOPBACK: Final = ipaddress.ip_network("127.0.0.0/8")
_V6_LOOPBACK: Final = ipaddress.ip_address("::1")
_NAT64: Final = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
_REDIRECT_STATUSES: Final = frozenset({301, 302, 303, 307, 308})
_CHUNK: Final = 64 * 1024
_UNSAFE_FILENAME_CHARS: Final = re.compile(r'[\x00-\x1f\x7f"<>:|?*]')


class RemoteFetchError(InvalidParam):
    """A ``remote_url`` that was refused or could not be fetched: 400 ``invalid_param``."""


@dataclass(frozen=True, slots=True)
class FetchedFile:
    url: str  # the final URL, after redirects
    content: bytes
    content_type: str | None  # the Content-Type header as sent, if any
    filename: str  # from Content-Disposition or the URL path; never contains a path separator


def _article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


def check_address(ip: IPAddress, *, allow_loopback: bool = False) -> str | None:
    """Why ``ip`` must not be contacted (e.g. ``"a private address"``), or None if it may be."""
    if ip in _METADATA_ADDRESSES:
        return "a cloud metadata address"
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.scope_id is not None:  # fe80::1%eth0 and the like
            ip = ipaddress.IPv6Address(ip.packed)
        embedded = _embedded_ipv4(ip)
        if embedded is not None:
            # loopback smuggled inside IPv6 is never "plain" loopback: refuse it even when allowed
            reason = check_address(embedded, allow_loopback=False)
            return None if reason is None else f"{reason} ({embedded})"
    if ip.is_unspecified:
        return "an unspecified address"
    if ip.is_loopback:
        plain = ip in _V4_LOOPBACK if isinstance(ip, ipaddress.IPv4Address) else ip == _V6_LOOPBACK
        return None if allow_loopback and plain else "a loopback address"
    if ip.is_link_local:
        return "a link-local address"
    if ip.is_multicast:
        return "a multicast address"
    if isinstance(ip, ipaddress.IPv4Address) and ip in _CGNAT:
        return "a carrier-grade NAT address"
    if ip.is_private:
        return "a private address"
    if ip.is_reserved:
        return "a reserved address"
    if not ip.is_global:
        return "not a public address"
    return None


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if any(ip in net for net in _NAT64):
        return ipaddress.IPv4Address(ip.packed[-4:])
    return None


def _host_key(host: str) -> str:
    return host.rstrip(".").lower()


def _format_seconds(value: float) -> str:
    return f"{value:g}"


class _PinnedResolver(AbstractResolver):
    """Answers only for hosts that were resolved and checked beforehand, with those addresses."""

    def __init__(self) -> None:
        self._pinned: dict[str, list[IPAddress]] = {}

    def pin(self, host: str, addresses: list[IPAddress]) -> None:
        self._pinned[_host_key(host)] = addresses

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        addresses = self._pinned.get(_host_key(host))
        if not addresses:
            raise OSError(f"{host} was not checked before connecting")
        results: list[ResolveResult] = []
        for ip in addresses:
            ip_family = socket.AF_INET if ip.version == 4 else socket.AF_INET6
            if family not in (socket.AF_UNSPEC, ip_family):
                continue
            results.append(
                {
                    "hostname": host,
                    "host": str(ip),
                    "port": port,
                    "family": ip_family,
                    "proto": socket.IPPROTO_TCP,
                    "flags": socket.AI_NUMERICHOST | socket.AI_NUMERICSERV,
                }
            )
        if not results:
            raise OSError(f"{host} has no checked address of the requested family")
        return results

    async def close(self) -> None:
        return None


class SafeFetcher:
    """Fetches ``remote_url`` files; the only way the server makes requests to user-given URLs."""

    def __init__(
        self,
        *,
        allow_loopback: bool = False,
        max_bytes: int,
        timeout: float = 10.0,
        max_redirects: int = 3,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        if max_bytes <= 0:
            raise ValueError("max_bytes must be positive")
        self.allow_loopback = allow_loopback
        self.max_bytes = max_bytes
        self.timeout = timeout
        self.max_redirects = max_redirects
        # None: the default verifying context (system CAs, host name checked); tests pass their own CA
        self.ssl_context = ssl_context

    async def fetch(self, url: str) -> FetchedFile:
        try:
            async with asyncio.timeout(self.timeout):
                return await self._fetch(url)
        except TimeoutError:
            raise RemoteFetchError(f"remote_url took longer than {_format_seconds(self.timeout)} s") from None

    # -- internals -------------------------------------------------------------------------------

    async def _fetch(self, url: str) -> FetchedFile:
        current = self._parse(url)
        resolver = _PinnedResolver()
        connector = aiohttp.TCPConnector(
            resolver=resolver,
            use_dns_cache=False,
            family=socket.AF_UNSPEC,
            ssl=self.ssl_context if self.ssl_context is not None else True,
        )
        session = aiohttp.ClientSession(
            connector=connector,
            trust_env=False,  # never route through environment proxies
            timeout=aiohttp.ClientTimeout(total=None),  # the whole fetch is capped by asyncio.timeout
            auto_decompress=True,
        )
        async with session:
            redirects = 0
            while True:
                await self._pin(current, resolver)
                try:
                    response = await session.get(
                        current,
                        allow_redirects=False,
                        headers={"Accept-Encoding": "identity", "User-Agent": "Inkwell/remote-file"},
                    )
                except aiohttp.ClientError as exc:
                    raise RemoteFetchError(f"remote_url could not be fetched: {type(exc).__name__}") from exc
                async with response:
                    if response.status in _REDIRECT_STATUSES:
                        location = response.headers.get("Location")
                        if not location:
                            raise RemoteFetchError("remote_url redirected without a Location")
                        if redirects >= self.max_redirects:
                            raise RemoteFetchError("remote_url redirected too many times")
                        redirects += 1
                        try:
                            target = current.join(URL(location))
                        except ValueError:
                            raise RemoteFetchError("remote_url redirected to an invalid URL") from None
                        current = self._parse(str(target))
                        continue
                    if not 200 <= response.status < 300:
                        raise RemoteFetchError(f"remote_url returned HTTP {response.status}")
                    content = await self._read_body(response)
                    return FetchedFile(
                        url=str(current),
                        content=content,
                        content_type=response.headers.get("Content-Type"),
                        filename=_filename(response, current),
                    )

    def _parse(self, url: str) -> URL:
        try:
            parsed = URL(url)
        except (ValueError, TypeError):
            raise RemoteFetchError("remote_url is not a valid URL") from None
        if parsed.scheme not in ("http", "https"):
            raise RemoteFetchError("remote_url refused: only http and https URLs are allowed")
        if parsed.user is not None or parsed.password is not None or "@" in (parsed.raw_authority or ""):
            raise RemoteFetchError("remote_url refused: URLs with credentials are not allowed")
        if not parsed.raw_host:
            raise RemoteFetchError("remote_url is not a valid URL: it has no host")
        try:
            port = parsed.port
        except ValueError:
            raise RemoteFetchError("remote_url is not a valid URL: bad port") from None
        if port is None or not 0 < port < 65536:
            raise RemoteFetchError("remote_url is not a valid URL: bad port")
        if _host_key(parsed.raw_host) in _METADATA_HOSTS or _host_key(parsed.host or "") in _METADATA_HOSTS:
            raise RemoteFetchError(f"remote_url refused: {parsed.host} is a cloud metadata host")
        return parsed.with_fragment(None)

    async def _pin(self, url: URL, resolver: _PinnedResolver) -> None:
        """Resolve ``url``'s host once, check every address, and pin them for the connection."""
        host = url.raw_host
        assert host is not None and url.port is not None
        literal = _ip_literal(host)
        if literal is not None:
            self._check(literal)
            return  # aiohttp connects to an IP literal directly, without asking the resolver
        if _legacy_ipv4(host):
            raise RemoteFetchError(f"remote_url refused: {host} is not a canonical IP address")
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(
                host, url.port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
            )
        except (OSError, UnicodeError):
            raise RemoteFetchError(f"remote_url refused: {url.host} could not be resolved") from None
        addresses: list[IPAddress] = []
        for family, _type, _proto, _canon, sockaddr in infos:
            if family not in (socket.AF_INET, socket.AF_INET6):
                continue
            try:
                ip = ipaddress.ip_address(str(sockaddr[0]))
            except ValueError:
                raise RemoteFetchError(f"remote_url refused: {url.host} resolved to an invalid address") from None
            self._check(ip)
            if ip not in addresses:
                addresses.append(ip)
        if not addresses:
            raise RemoteFetchError(f"remote_url refused: {url.host} could not be resolved")
        resolver.pin(host, addresses)

    def _check(self, ip: IPAddress) -> None:
        reason = check_address(ip, allow_loopback=self.allow_loopback)
        if reason is not None:
            raise RemoteFetchError(f"remote_url refused: {ip} is {reason}")

    async def _read_body(self, response: aiohttp.ClientResponse) -> bytes:
        too_large = f"remote_url is larger than the limit of {self.max_bytes} bytes"
        if response.content_length is not None and response.content_length > self.max_bytes:
            raise RemoteFetchError(too_large)
        body = bytearray()
        try:
            async for chunk in response.content.iter_chunked(_CHUNK):
                body += chunk
                if len(body) > self.max_bytes:
                    raise RemoteFetchError(too_large)
        except aiohttp.ClientError as exc:
            raise RemoteFetchError(f"remote_url could not be read: {type(exc).__name__}") from exc
        return bytes(body)


def _ip_literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def _legacy_ipv4(host: str) -> bool:
    """``2130706433``, ``0x7f.1``, ``017700000001``: numbers the C resolver turns into an address."""
    try:
        socket.inet_aton(host)
    except (OSError, ValueError):
        return False
    return True


def _filename(response: aiohttp.ClientResponse, url: URL) -> str:
    name: str | None = None
    disposition = response.content_disposition
    if disposition is not None and disposition.filename:
        name = disposition.filename
    if not name:
        name = url.name
    return _sanitize_filename(name or "")


def _sanitize_filename(name: str) -> str:
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = _UNSAFE_FILENAME_CHARS.sub("", name).strip().lstrip(".")
    if len(name) > 200:
        stem, dot, ext = name.rpartition(".")
        name = (stem[: 200 - len(ext) - 1] + dot + ext) if dot and len(ext) <= 16 else name[:200]
    return name or "file"
