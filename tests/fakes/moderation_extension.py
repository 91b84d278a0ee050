"""A fake API-based moderation extension (the reference protocol): a real aiohttp server on 127.0.0.1,
in a thread with its own loop.

``POST /moderation`` with ``Authorization: Bearer <api_key>`` (anything else: 401) and a body
``{"point": "app.moderation.input" | "app.moderation.output", "params": {...}}``. A text is flagged
when it contains one of ``flag_words`` (case-insensitive; the input point looks at every input value
and the query). A flagged answer is ``action``:

* ``direct_output``: ``{"flagged": true, "action": "direct_output", "preset_response": preset}``
* ``overridden``: each flag word replaced by ``[redacted]`` - in ``inputs`` and ``query`` (input point)
  or in ``text`` (output point).

``delay`` (seconds, per point) holds the answer back; ``status`` other than 200 answers that status.
Every request is recorded (headers, JSON body, whether the client left while it was held back) in
``requests``.
"""

from __future__ import annotations

import asyncio
import re
import socket
import threading
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web

POINT_INPUT = "app.moderation.input"
POINT_OUTPUT = "app.moderation.output"
REDACTED = "[redacted]"


@dataclass
class ExtensionRequest:
    headers: dict[str, str]  # lower-case names
    body: Any
    answered: threading.Event = field(default_factory=threading.Event)
    disconnected: threading.Event = field(default_factory=threading.Event)  # the client left before the answer

    @property
    def point(self) -> Any:
        return self.body.get("point") if isinstance(self.body, dict) else None

    @property
    def params(self) -> dict[str, Any]:
        params = self.body.get("params") if isinstance(self.body, dict) else None
        return params if isinstance(params, dict) else {}


@dataclass
class FakeExtension:
    api_key: str = "ext-secret-key"
    flag_words: set[str] = field(default_factory=set)
    action: str = "direct_output"
    preset: str = "Blocked by the content filter."
    delay: dict[str, float] = field(default_factory=dict)  # point -> seconds
    status: int = 200
    requests: list[ExtensionRequest] = field(default_factory=list)
    port: int = 0
    _loop: asyncio.AbstractEventLoop | None = None
    _thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/moderation"

    def points(self) -> list[Any]:
        return [r.point for r in self.requests]

    # ---------------------------------------------------------------------------------------- life

    def start(self) -> FakeExtension:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self.port = int(sock.getsockname()[1])
        loop = asyncio.new_event_loop()
        self._loop = loop
        ready = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(loop, sock, ready), name="fake-ext", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("the fake extension did not start")
        return self

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=15)

    def __enter__(self) -> FakeExtension:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run(self, loop: asyncio.AbstractEventLoop, sock: socket.socket, ready: threading.Event) -> None:
        asyncio.set_event_loop(loop)
        app = web.Application()
        app.router.add_post("/moderation", self._handle)
        runner = web.AppRunner(app, handler_cancellation=True, access_log=None, shutdown_timeout=1.0)
        loop.run_until_complete(runner.setup())
        loop.run_until_complete(web.SockSite(runner, sock).start())
        ready.set()
        try:
            loop.run_forever()
        finally:
            pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
            for task in pending:
                task.cancel()
            if pending:
                loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.run_until_complete(runner.cleanup())
            loop.close()

    # ---------------------------------------------------------------------------------------- protocol

    def _hit(self, text: str) -> bool:
        return any(word.lower() in text.lower() for word in self.flag_words)

    def _redact(self, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        for word in self.flag_words:
            value = re.sub(re.escape(word), REDACTED, value, flags=re.IGNORECASE)
        return value

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError:
            body = None
        record = ExtensionRequest(headers={k.lower(): v for k, v in request.headers.items()}, body=body)
        self.requests.append(record)
        if request.headers.get("Authorization") != f"Bearer {self.api_key}":
            return web.json_response({"error": "unauthorized"}, status=401)
        if self.status != 200:
            return web.json_response({"error": "extension failure"}, status=self.status)
        try:
            await asyncio.sleep(self.delay.get(str(record.point), 0.0))
        except asyncio.CancelledError:
            record.disconnected.set()
            raise
        record.answered.set()
        params = record.params
        if record.point == POINT_INPUT:
            inputs = params.get("inputs") or {}
            texts = [str(v) for v in inputs.values()] + [str(params.get("query") or "")]
            if not any(self._hit(t) for t in texts):
                return web.json_response({"flagged": False, "action": "direct_output", "preset_response": ""})
            if self.action == "overridden":
                return web.json_response(
                    {
                        "flagged": True,
                        "action": "overridden",
                        "inputs": {k: self._redact(v) for k, v in inputs.items()},
                        "query": self._redact(params.get("query") or ""),
                    }
                )
        elif record.point == POINT_OUTPUT:
            text = str(params.get("text") or "")
            if not self._hit(text):
                return web.json_response({"flagged": False, "action": "direct_output", "preset_response": ""})
            if self.action == "overridden":
                return web.json_response({"flagged": True, "action": "overridden", "text": self._redact(text)})
        else:
            return web.json_response({"error": f"unknown point {record.point!r}"}, status=400)
        return web.json_response({"flagged": True, "action": "direct_output", "preset_response": self.preset})
