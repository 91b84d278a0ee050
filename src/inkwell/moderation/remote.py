"""One JSON POST to a moderation service over the process's shared upstream client (the providers'
``httpx.AsyncClient`` on the aiohttp transport), with a connect timeout and a deadline for the whole
exchange. Every way it can go wrong is a ``ModerationFailed`` naming the service."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import httpx
import orjson

from inkwell.moderation.base import ModerationFailed

MAX_RESPONSE_BYTES = 1024 * 1024


async def post_json(
    client: httpx.AsyncClient,
    url: str,
    payload: Any,
    *,
    headers: Mapping[str, str],
    seconds: float,
    connect_timeout: float,
    service: str,
) -> dict[str, Any]:
    """POST ``payload`` as JSON and return the JSON object answered with a 200, all within ``seconds``."""
    request_timeout = httpx.Timeout(connect=min(connect_timeout, seconds), read=seconds, write=seconds, pool=seconds)
    try:
        async with (
            asyncio.timeout(seconds),
            client.stream(
                "POST",
                url,
                content=orjson.dumps(payload),
                headers={"Content-Type": "application/json", "Accept": "application/json", **headers},
                timeout=request_timeout,
            ) as resp,
        ):
            body = b""
            async for part in resp.aiter_bytes():
                body += part
                if len(body) > MAX_RESPONSE_BYTES:
                    raise ModerationFailed(f"{service}: the response is larger than {MAX_RESPONSE_BYTES} bytes")
    except TimeoutError:
        raise ModerationFailed(f"{service}: request timeout (no answer within {seconds:g} s)") from None
    except httpx.TimeoutException as exc:
        # httpx-aiohttp maps aiohttp's connection errors (refused, reset) to ConnectTimeout
        if exc.__cause__ is None or isinstance(exc.__cause__, TimeoutError):
            raise ModerationFailed(f"{service}: request timeout") from exc
        raise ModerationFailed(f"{service}: connection failed: {type(exc.__cause__).__name__}") from exc
    except httpx.HTTPError as exc:
        raise ModerationFailed(f"{service}: connection failed: {type(exc).__name__}") from exc
    if resp.status_code != 200:
        text = body[:300].decode("utf-8", "replace").strip()
        raise ModerationFailed(f"{service}: request error, status_code: {resp.status_code}, content: {text}")
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise ModerationFailed(f"{service}: the response is not JSON") from None
    if not isinstance(data, dict):
        raise ModerationFailed(f"{service}: the response is not a JSON object")
    return data
