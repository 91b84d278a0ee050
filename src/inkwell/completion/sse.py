"""The two renderings of the event stream: SSE frames and the blocking JSON body (SPEC §3, §4).

Frames are ``data: `` + compact JSON (raw UTF-8) + ``\\n\\n``, the event type inside the JSON; the
constant part of every ``message`` frame is encoded once per generation. All frames of one upstream
read leave in one write.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing
from typing import Any

import orjson

from inkwell.completion.events import (
    ErrorEvent,
    Event,
    MessageChunk,
    MessageEnd,
    MessageReplace,
    TtsMessage,
    TtsMessageEnd,
)
from inkwell.completion.pipeline import Generation
from inkwell.errors import InkwellError

PING = b"event: ping\n\n"


def _frame(payload: dict[str, Any]) -> bytes:
    return b"data: " + orjson.dumps(payload) + b"\n\n"


# what the simple (web) form of a citation leaves out (reference §1.3)
_FULL_FORM_ONLY = ("retriever_from", "doc_metadata")


def end_metadata(event: MessageEnd, *, full: bool) -> dict[str, Any]:
    if not full:
        simple = [{k: v for k, v in r.items() if k not in _FULL_FORM_ONLY} for r in event.retriever_resources]
        return {"retriever_resources": simple}
    return {
        "annotation_reply": None,
        "retriever_resources": event.retriever_resources,
        "usage": event.usage.as_dict(),
    }


class FrameEncoder:
    def __init__(self, gen: Generation, *, full: bool = True) -> None:
        self.gen = gen
        self.full = full
        head = {"message_id": gen.message_id, "created_at": gen.created_at, "task_id": gen.task_id}
        self._head = head
        ids = orjson.dumps({**head, "workflow_run_id": None, "id": gen.message_id})[1:-1]
        self._message_prefix = b'data: {"event":"message",' + ids + b',"answer":'
        self._message_suffix = b',"from_variable_selector":null}\n\n'

    def encode(self, event: Event) -> bytes:
        if isinstance(event, MessageChunk):
            prefix, suffix = self._message_prefix, self._message_suffix
            return b"".join(prefix + orjson.dumps(text) + suffix for text in event.texts)
        if isinstance(event, MessageEnd):
            return _frame(
                {
                    "event": "message_end",
                    **self._head,
                    "workflow_run_id": None,
                    "id": self.gen.message_id,
                    "metadata": end_metadata(event, full=self.full),
                    "files": event.files,
                }
            )
        if isinstance(event, MessageReplace):
            return _frame(
                {
                    "event": "message_replace",
                    **self._head,
                    "workflow_run_id": None,
                    "answer": event.answer,
                    "reason": event.reason,
                }
            )
        if isinstance(event, TtsMessage | TtsMessageEnd):
            audio = event.audio if isinstance(event, TtsMessage) else ""
            event_name = "tts_message" if isinstance(event, TtsMessage) else "tts_message_end"
            return _frame({"event": event_name, **self._head, "workflow_run_id": None, "audio": audio})
        assert isinstance(event, ErrorEvent)
        error = event.error
        return _frame(
            {
                "event": "error",
                **self._head,
                "code": error.code,
                "status": error.status,
                "message": error.message,
            }
        )


async def sse_stream(
    gen: Generation, events: AsyncGenerator[Event, None], *, full: bool = True
) -> AsyncIterator[bytes]:
    encoder = FrameEncoder(gen, full=full)
    async with aclosing(events):  # a failed or cancelled send closes the pipeline here, not in GC
        async for event in events:
            yield encoder.encode(event)


async def blocking_body(gen: Generation, events: AsyncGenerator[Event, None], *, full: bool = True) -> dict[str, Any]:
    """Fold the events into the blocking response; an error event becomes the HTTP error."""
    answer: list[str] = []
    end: MessageEnd | None = None
    async for event in events:
        if isinstance(event, MessageChunk):
            answer.extend(event.texts)
        elif isinstance(event, MessageReplace):  # the whole answer so far; later chunks follow it
            answer = [event.answer]
        elif isinstance(event, MessageEnd):
            end = event
        elif isinstance(event, ErrorEvent):
            raise event.error
    if end is None:  # pragma: no cover - the pipeline always ends with message_end or error
        raise InkwellError()
    body = {
        "event": "message",
        "task_id": gen.task_id,
        "id": gen.message_id,
        "message_id": gen.message_id,
        "mode": "completion",
        "answer": "".join(answer),
        "metadata": end_metadata(end, full=full),
        "created_at": gen.created_at,
    }
    if end.files:  # the files the request sent (the reference's shape has no key for them)
        body["files"] = end.files
    return body
