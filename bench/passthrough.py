"""The benchmark's floor (b): a bare Starlette pass-through, no DB, no auth, no FastAPI.

``POST /v1/completion-messages`` takes the Dify request body, calls the upstream's
``/chat/completions`` with the same HTTP client stack Inkwell uses (one shared ``httpx.AsyncClient``
on ``httpx_aiohttp.AiohttpTransport``, built by Inkwell's own ``create_http_client``), re-frames every
upstream delta as a Dify ``message`` frame, writes all frames of one upstream read in one send, and
ends with a ``message_end`` frame carrying the upstream's usage. It is what any Python gateway has to
do at least, so Inkwell's rate divided by this one is the cost of everything else.

    python bench/passthrough.py --port 8002 --upstream http://127.0.0.1:8001/v1 [--cpu 1]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import orjson
import uvicorn
from sse_starlette import EventSourceResponse
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from inkwell.providers.openai_compatible import create_http_client

SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
RAW_HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
]
MESSAGE_SUFFIX = b',"from_variable_selector":null}\n\n'


class RawStream(Response):
    """A bare ASGI event stream: the body task plus one plain asyncio task watching for the disconnect."""

    def __init__(self, body: AsyncIterator[bytes]) -> None:
        self.body_iterator = body
        self.background = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": RAW_HEADERS})
        task = asyncio.current_task()
        assert task is not None
        gone = False

        async def watch() -> None:
            nonlocal gone
            while (await receive())["type"] != "http.disconnect":
                pass
            gone = True
            task.cancel()

        watcher = asyncio.ensure_future(watch())
        try:
            async for chunk in self.body_iterator:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            watcher.cancel()
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        except asyncio.CancelledError:
            if not gone:
                raise
        finally:
            watcher.cancel()


def create_app(upstream: str, api_key: str, model: str, response: str = "starlette") -> Starlette:
    url = upstream.rstrip("/") + "/chat/completions"
    headers = {"Content-Type": "application/json", "Accept": "text/event-stream", "Authorization": f"Bearer {api_key}"}
    state: dict[str, Any] = {}

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        state["client"] = create_http_client(connect_timeout=10.0, read_timeout=300.0, max_connections=1000)
        try:
            yield
        finally:
            await state["client"].aclose()

    async def completion(request: Request) -> Response:
        body = orjson.loads(await request.body())
        inputs = body.get("inputs") or {}
        prompt = f"Write about {inputs.get('query', '')}."
        payload = orjson.dumps(
            {
                "model": model,
                "stream": True,
                "stream_options": {"include_usage": True},
                "messages": [{"role": "user", "content": prompt}],
            }
        )
        message_id, task_id, created = str(uuid.uuid4()), str(uuid.uuid4()), int(time.time())
        head = {"message_id": message_id, "created_at": created, "task_id": task_id}
        ids = orjson.dumps({**head, "workflow_run_id": None, "id": message_id})[1:-1]
        prefix = b'data: {"event":"message",' + ids + b',"answer":'

        async def frames() -> AsyncIterator[bytes]:
            usage: dict[str, Any] | None = None
            async with state["client"].stream("POST", url, content=payload, headers=headers) as resp:
                if resp.status_code >= 400:
                    await resp.aread()
                    error = {"event": "error", **head, "status": 400, "code": "completion_request_error"}
                    yield b"data: " + orjson.dumps({**error, "message": f"upstream HTTP {resp.status_code}"}) + b"\n\n"
                    return
                buffer = b""
                async for raw in resp.aiter_raw():
                    buffer += raw
                    if b"\n\n" not in buffer:
                        continue
                    *events, buffer = buffer.split(b"\n\n")
                    out: list[bytes] = []
                    for event in events:
                        if not event.startswith(b"data:"):
                            continue
                        data = event[5:].strip()
                        if data == b"[DONE]":
                            continue
                        obj = orjson.loads(data)
                        for choice in obj.get("choices") or ():
                            text = (choice.get("delta") or {}).get("content")
                            if text:
                                out.append(prefix + orjson.dumps(text) + MESSAGE_SUFFIX)
                        if obj.get("usage"):
                            usage = obj["usage"]
                    if out:
                        yield b"".join(out)
            end = {
                "event": "message_end",
                **head,
                "workflow_run_id": None,
                "id": message_id,
                "metadata": {"annotation_reply": None, "retriever_resources": [], "usage": usage},
                "files": None,
            }
            yield b"data: " + orjson.dumps(end) + b"\n\n"

        if response == "sse-starlette":
            return EventSourceResponse(frames(), headers=SSE_HEADERS, ping=10.0, sep="\n")
        if response == "asgi":
            return RawStream(frames())
        return StreamingResponse(frames(), media_type="text/event-stream", headers=SSE_HEADERS)

    return Starlette(routes=[Route("/v1/completion-messages", completion, methods=["POST"])], lifespan=lifespan)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream", required=True, help="OpenAI-compatible base URL, e.g. http://127.0.0.1:8001/v1")
    parser.add_argument("--api-key", default="sk-bench")
    parser.add_argument("--model", default="gpt-4o-mini")
    parser.add_argument(
        "--response",
        choices=["starlette", "sse-starlette", "asgi"],
        default="starlette",
        help="how the stream is sent: Starlette's StreamingResponse (the floor, default), sse-starlette's "
        "EventSourceResponse (as Inkwell), or a bare ASGI loop with one disconnect-watching task",
    )
    parser.add_argument("--cpu", type=int, help="pin the process to this CPU")
    args = parser.parse_args()
    if args.cpu is not None:
        os.sched_setaffinity(0, {args.cpu})
    uvicorn.run(
        create_app(args.upstream, args.api_key, args.model, args.response),
        host=args.host,
        port=args.port,
        loop="uvloop",
        http="httptools",
        log_level="warning",
    )


if __name__ == "__main__":
    main()
