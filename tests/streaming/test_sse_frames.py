"""Streaming end to end through a real uvicorn server, read as raw bytes (SPEC §3, §7).

Frames are read with ``aiter_raw`` (the bytes each socket read delivered) or over a plain socket with
the chunked transfer encoding decoded by hand, so the HTTP chunks are exactly the server's writes.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable

import httpx
import orjson
import pytest

from inkwell.completion import pipeline
from inkwell.providers.builtin import echo_tokens
from tests.conftest import USAGE_KEYS, RunningServer, SeededApp, dsl, seed
from tests.streaming.conftest import (
    PING,
    blocking,
    frame_json,
    load_message,
    messages_write_lock,
    open_stream,
    raw_post,
    split_frames,
    stop_task,
    stream_all,
    wait_for_message,
    wait_until,
)

MESSAGE_KEYS = [
    "event",
    "message_id",
    "created_at",
    "task_id",
    "workflow_run_id",
    "id",
    "answer",
    "from_variable_selector",
]
MESSAGE_END_KEYS = ["event", "message_id", "created_at", "task_id", "workflow_run_id", "id", "metadata", "files"]

ServerFactory = Callable[..., RunningServer]

LONG_PROMPT = " ".join(f"word{i}" for i in range(200))  # 200 tokens: 10 s at 50 ms per token
MEDIUM_PROMPT = " ".join(f"otter{i}" for i in range(24))  # ~1.2 s at 50 ms per token


def _echo_dsl(**completion_params: object) -> str:
    model = {"provider": "builtin", "name": "echo", "mode": "chat", "completion_params": completion_params}
    return dsl(f"stream-{uuid.uuid4().hex[:6]}", model=model)


async def test_stream_status_headers_and_frame_format(client: httpx.AsyncClient, echo_app: SeededApp) -> None:
    inputs = {"query": "Hello there, streaming otter"}
    response, reader = await stream_all(client, echo_app, inputs)

    assert response.status_code == 200
    assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
    assert response.headers["cache-control"] == "no-cache"
    assert response.headers["x-accel-buffering"] == "no"
    assert "content-encoding" not in response.headers
    assert len(response.headers.get_list("content-type")) == 1
    assert len(response.headers.get_list("cache-control")) == 1

    raw = b"".join(reader.chunks)
    assert b"\r" not in raw
    assert b"event:" not in raw  # no pings here and no `event:` line on JSON frames
    assert reader.frames, raw
    for frame in reader.frames:
        assert frame.startswith(b"data: {") and frame.endswith(b"}\n\n"), frame
        assert frame.count(b"\n") == 2, frame  # one line, then the blank line
        payload = frame_json(frame)
        # compact JSON: re-encoding compactly gives back the same bytes (no spaces after separators)
        assert frame == b"data: " + orjson.dumps(payload) + b"\n\n", frame

    events = reader.events
    messages = [e for e in events if e["event"] == "message"]
    ends = [e for e in events if e["event"] == "message_end"]
    assert messages, events
    assert len(ends) == 1, events
    assert events[-1]["event"] == "message_end"
    assert [e["event"] for e in events] == ["message"] * len(messages) + ["message_end"]

    for message in messages:
        assert list(message) == MESSAGE_KEYS
        assert message["workflow_run_id"] is None
        assert message["from_variable_selector"] is None
        assert message["id"] == message["message_id"]
        assert isinstance(message["answer"], str)

    end = ends[0]
    assert list(end) == MESSAGE_END_KEYS
    assert end["id"] == end["message_id"]
    assert end["workflow_run_id"] is None
    assert list(end["metadata"]) == ["annotation_reply", "retriever_resources", "usage"]
    assert end["metadata"]["annotation_reply"] is None
    assert end["metadata"]["retriever_resources"] == []
    usage = end["metadata"]["usage"]
    assert list(usage) == USAGE_KEYS
    answer = "".join(m["answer"] for m in messages)
    assert usage["completion_tokens"] == len(echo_tokens(answer))
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    assert usage["total_price"] == "0.0000000"

    for key in ("task_id", "message_id", "created_at"):
        assert len({e[key] for e in events}) == 1, key
    assert isinstance(events[0]["created_at"], int)
    assert events[0]["task_id"] != events[0]["message_id"]


async def test_stream_sends_raw_utf8(client: httpx.AsyncClient, echo_app: SeededApp) -> None:
    text = "héllo 你好 🦦"
    _, reader = await stream_all(client, echo_app, {"query": text})
    raw = b"".join(reader.chunks)
    assert "héllo".encode() in raw
    assert "你好".encode() in raw
    assert "🦦".encode() in raw
    assert b"\\u" not in raw
    answer = "".join(e["answer"] for e in reader.events if e["event"] == "message")
    assert answer.startswith(text)


async def test_streamed_answer_equals_blocking_answer(client: httpx.AsyncClient, echo_app: SeededApp) -> None:
    inputs = {"query": "Tell me, in several words, about  spaced\tout\n otters. Ünïcödé too."}
    body = await blocking(client, echo_app, inputs)
    _, reader = await stream_all(client, echo_app, inputs)
    events = reader.events
    answer = "".join(e["answer"] for e in events if e["event"] == "message")
    assert answer == body["answer"]
    end = events[-1]
    assert end["metadata"]["usage"]["completion_tokens"] == body["metadata"]["usage"]["completion_tokens"]
    assert end["metadata"]["usage"]["prompt_tokens"] == body["metadata"]["usage"]["prompt_tokens"]


async def test_streaming_honours_max_tokens(client: httpx.AsyncClient, server: RunningServer) -> None:
    app = await seed(server, _echo_dsl(max_tokens=3))
    _, reader = await stream_all(client, app, {"query": "one two three four five six"})
    events = reader.events
    answer = "".join(e["answer"] for e in events if e["event"] == "message")
    assert answer == "one two three"
    assert events[-1]["event"] == "message_end"
    assert events[-1]["metadata"]["usage"]["completion_tokens"] == 3


async def test_streaming_honours_stop_sequences(client: httpx.AsyncClient, server: RunningServer) -> None:
    app = await seed(server, _echo_dsl(stop=["STOP", "HALT"]))
    _, reader = await stream_all(client, app, {"query": "alpha beta STOP gamma delta"})
    events = reader.events
    answer = "".join(e["answer"] for e in events if e["event"] == "message")
    assert answer == "alpha beta "  # cut before the stop sequence, which is not included
    assert events[-1]["event"] == "message_end"
    assert events[-1]["metadata"]["usage"]["completion_tokens"] == len(echo_tokens(answer))


# --------------------------------------------------------------------------------------------------
# pings


async def test_pings_flow_while_waiting_for_the_first_token(
    client: httpx.AsyncClient, server_factory: ServerFactory
) -> None:
    running = server_factory(builtin_ttft_ms=800, ping_interval=0.2)
    app = await seed(running, dsl(f"ping-{uuid.uuid4().hex[:6]}"))
    pings_before_first_message = 0
    async with open_stream(client, app, {"query": "slow to start"}) as reader:
        assert reader.response.status_code == 200
        while True:
            frame = await reader.next_frame()
            assert frame is not None, "stream ended before any message"
            if frame == PING:
                pings_before_first_message += 1
                continue
            assert frame_json(frame)["event"] == "message"
            break
        await reader.read_all()
    assert pings_before_first_message >= 1
    for frame in reader.frames:
        # a ping is exactly `event: ping` and a blank line, no data line; every other frame is JSON
        if frame.startswith(b"event:"):
            assert frame == PING
        else:
            frame_json(frame)
    assert reader.events[-1]["event"] == "message_end"


async def test_no_ping_with_the_default_interval(client: httpx.AsyncClient, echo_app: SeededApp) -> None:
    _, reader = await stream_all(client, echo_app, {"query": "quick answer"})
    assert PING not in reader.frames
    assert b"ping" not in b"".join(reader.chunks)


# --------------------------------------------------------------------------------------------------
# frames are written whole


def _assert_whole_frames(chunk: bytes) -> None:
    frames, rest = split_frames(chunk)
    assert frames and rest == b"", f"a write ends inside a frame: {chunk!r}"
    for frame in frames:
        if frame != PING:
            frame_json(frame)


async def test_every_server_write_holds_whole_frames(server_factory: ServerFactory) -> None:
    """Each HTTP chunk (= one server write) contains only complete frames.

    Over a plain socket the chunked transfer encoding is decoded by hand, so each chunk below is one
    ``send`` of the server, independent of how TCP segments or the client's reads group the bytes.
    """
    running = server_factory(builtin_token_delay_ms=5, ping_interval=0.01)
    app = await seed(running, dsl(f"frames-{uuid.uuid4().hex[:6]}"))
    body = (
        b'{"inputs": {"query": "several small tokens to write \xc3\xa9 \xe4\xbd\xa0\xe5\xa5\xbd one by one"},'
        b' "user": "framer", "response_mode": "streaming"}'
    )
    headers = {"Authorization": f"Bearer {app.key}", "Content-Type": "application/json"}
    raw = await raw_post(running.url, "/v1/completion-messages", headers, body)
    assert raw.status_line.startswith(b"HTTP/1.1 200"), raw.status_line
    assert raw.body_chunks
    for chunk in raw.body_chunks:
        _assert_whole_frames(chunk)
    events = [frame_json(f) for c in raw.body_chunks for f in split_frames(c)[0] if f != PING]
    assert events[-1]["event"] == "message_end"
    assert sum(e["event"] == "message_end" for e in events) == 1


async def test_client_chunks_end_on_frame_boundaries(client: httpx.AsyncClient, server_factory: ServerFactory) -> None:
    """What the client sees: after every network chunk, the bytes so far end on a frame boundary.

    The chunks are ``aiter_raw`` items, i.e. what each socket read delivered (small writes on loopback
    arrive whole). Joined and split on blank lines, they leave no half JSON at the end of the stream.
    """
    running = server_factory(builtin_token_delay_ms=5)
    app = await seed(running, dsl(f"chunks-{uuid.uuid4().hex[:6]}"))
    _, reader = await stream_all(client, app, {"query": "a b c d e f g h i j k l"})
    assert len(reader.chunks) > 1
    received = b""
    for chunk in reader.chunks:
        received += chunk
        frames, rest = split_frames(received)
        assert rest == b"", f"a chunk ends inside a frame: {chunk!r}"
        for frame in frames:
            frame_json(frame)
    answer = "".join(e["answer"] for e in reader.events if e["event"] == "message")
    assert answer.startswith("a b c d e f g h i j k l")


# --------------------------------------------------------------------------------------------------
# disconnect and stop (SPEC §7)


async def test_disconnect_saves_the_partial_answer_as_stopped(
    client: httpx.AsyncClient, echo_app: SeededApp, server_factory: ServerFactory
) -> None:
    full_answer = (await blocking(client, echo_app, {"query": LONG_PROMPT}))["answer"]  # no delay there
    running = server_factory(builtin_token_delay_ms=50)
    app = await seed(running, dsl(f"gone-{uuid.uuid4().hex[:6]}"))
    received: list[str] = []
    async with open_stream(client, app, {"query": LONG_PROMPT}) as reader:
        assert reader.response.status_code == 200
        while len(received) < 2:
            event = await reader.next_event()
            assert event is not None and event["event"] == "message", event
            received.append(event["answer"])
            message_id = event["message_id"]
    # leaving the block closes the connection before the body is complete

    row = await wait_for_message(running, message_id)
    assert row.status == "stopped"
    assert row.answer, "the partial answer must be saved, not blank"
    assert row.answer.startswith("".join(received))
    assert full_answer.startswith(row.answer)
    assert len(row.answer) < len(full_answer)
    assert row.answer_tokens == len(echo_tokens(row.answer))
    assert row.message_tokens == len(echo_tokens(full_answer))  # the prompt is what the model echoes


async def test_disconnect_while_the_row_is_being_saved_writes_it_once(
    client: httpx.AsyncClient, server_factory: ServerFactory, caplog: pytest.LogCaptureFixture
) -> None:
    """The client leaves after the last token, while the finished row is being written (Dify #26169).

    The save is held by a database lock, so the disconnect lands exactly during it. The row is written
    once, as the normal complete answer: no second "stopped" write racing it, no logged failure.
    """
    running = server_factory(builtin_token_delay_ms=50)
    runtime = running.server.config.app.state.runtime
    app = await seed(running, dsl(f"late-{uuid.uuid4().hex[:6]}"))
    tokens = len(echo_tokens(MEDIUM_PROMPT + "\n"))
    async with open_stream(client, app, {"query": MEDIUM_PROMPT}) as reader:
        first = await reader.next_event()
        assert first is not None and first["event"] == "message"
        message_id, task_id = first["message_id"], first["task_id"]
        async with messages_write_lock(running):
            for _ in range(tokens - 1):
                event = await reader.next_event()
                assert event is not None and event["event"] == "message", event
            # the last token is out: the server is now blocked writing the row; leave
            await reader.response.aclose()
            # the stream's task ends at the disconnect; the task stays registered (and keeps its
            # concurrency slot) until its row is written
            handle = runtime.tasks.registry.get(task_id)
            assert handle is not None and handle.task is not None
            await wait_until(handle.task.done, "the server saw the disconnect")
            assert await load_message(running, message_id) is None, "the lock was taken too late"
        row = await wait_for_message(running, message_id)
        await wait_until(lambda: not pipeline._background, "shielded writes finished")

    failures = [r for r in caplog.records if r.levelno >= logging.ERROR and r.name.startswith("inkwell")]
    assert not failures, [r.getMessage() for r in failures]
    assert row.status == "normal"
    assert row.answer == MEDIUM_PROMPT + "\n"
    assert row.answer_tokens == tokens


async def test_stop_ends_the_stream_with_message_end(client: httpx.AsyncClient, server_factory: ServerFactory) -> None:
    running = server_factory(builtin_token_delay_ms=50)
    app = await seed(running, dsl(f"stop-{uuid.uuid4().hex[:6]}"))
    async with open_stream(client, app, {"query": LONG_PROMPT}, user="alice") as reader:
        first = await reader.next_event()
        assert first is not None and first["event"] == "message"
        resp = await stop_task(client, app, first["task_id"], "alice")
        assert resp.status_code == 200, resp.text
        assert resp.json() == {"result": "success"}
        await reader.read_all()

    events = reader.events
    assert events[-1]["event"] == "message_end", events[-3:]
    assert sum(e["event"] == "message_end" for e in events) == 1
    assert all(e["event"] in ("message", "message_end") for e in events), "a stop is not an error"
    answer = "".join(e["answer"] for e in events if e["event"] == "message")
    assert answer and LONG_PROMPT.startswith(answer.rstrip("\n"))
    assert len(echo_tokens(answer)) < len(echo_tokens(LONG_PROMPT))
    usage = events[-1]["metadata"]["usage"]
    assert usage["completion_tokens"] == len(echo_tokens(answer))

    row = await wait_for_message(running, first["message_id"])
    assert row.status == "stopped"
    assert row.answer == answer
    assert row.answer_tokens == len(echo_tokens(answer))


async def test_stop_while_waiting_for_the_first_token(client: httpx.AsyncClient, server_factory: ServerFactory) -> None:
    """A stop that lands while the task awaits the model cancels that await (the task is inside
    sse-starlette's task group); the pipeline takes the cancellation back and still ends with message_end."""
    running = server_factory(builtin_ttft_ms=60_000, ping_interval=0.05)
    runtime = running.server.config.app.state.runtime
    app = await seed(running, dsl(f"ttft-{uuid.uuid4().hex[:6]}"))
    async with open_stream(client, app, {"query": "never reached"}, user="bob") as reader:
        assert await reader.next_frame() == PING  # the response is open and the task is waiting
        (task_id,) = runtime.tasks.registry.ids()  # not sent to the client before the first token
        assert runtime.tasks.registry.get(task_id).in_upstream
        resp = await stop_task(client, app, task_id, "bob")
        assert resp.json() == {"result": "success"}
        async with asyncio.timeout(10):  # bounded: without a working stop this waits for 60 s
            await reader.read_all()

    events = reader.events
    assert [e["event"] for e in events] == ["message_end"]
    end = events[0]
    assert end["task_id"] == task_id
    assert end["metadata"]["usage"]["completion_tokens"] == 0
    row = await wait_for_message(running, end["message_id"])
    assert row.status == "stopped"
    assert row.answer == ""
    assert len(runtime.tasks.registry) == 0


async def test_foreign_stop_answers_success_but_does_not_stop(
    client: httpx.AsyncClient, server_factory: ServerFactory
) -> None:
    running = server_factory(builtin_token_delay_ms=50)
    app = await seed(running, dsl(f"mine-{uuid.uuid4().hex[:6]}"))
    other = await seed(running, dsl(f"theirs-{uuid.uuid4().hex[:6]}"))
    async with open_stream(client, app, {"query": MEDIUM_PROMPT}, user="alice") as reader:
        first = await reader.next_event()
        assert first is not None and first["event"] == "message"
        task_id = first["task_id"]
        by_other_user = await stop_task(client, app, task_id, "mallory")
        with_other_key = await stop_task(client, other, task_id, "alice")
        for resp in (by_other_user, with_other_key):
            assert resp.status_code == 200, resp.text
            assert resp.json() == {"result": "success"}
        await reader.read_all()

    events = reader.events
    assert events[-1]["event"] == "message_end"
    answer = "".join(e["answer"] for e in events if e["event"] == "message")
    assert answer.rstrip("\n") == MEDIUM_PROMPT
    row = await wait_for_message(running, first["message_id"])
    assert row.status == "normal"
    assert row.answer == answer
