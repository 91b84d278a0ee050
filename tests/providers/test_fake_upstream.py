"""The fake OpenAI upstream itself, spoken to with plain httpx: what other tests rely on it to do."""

from __future__ import annotations

import httpx
import orjson
import pytest

from tests.fakes.openai_upstream import FakeOpenAI


def data_frames(raw: bytes) -> list[bytes]:
    frames = [block for block in raw.split(b"\n\n") if block]
    assert all(f.startswith(b"data: ") for f in frames), frames
    return [f[len(b"data: ") :] for f in frames]


async def test_streaming_chat_with_and_without_include_usage(
    client: httpx.AsyncClient, fake_openai: FakeOpenAI
) -> None:
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], "stream": True}
    resp = await client.post(f"{fake_openai.base_url}/chat/completions", json=body)
    assert resp.status_code == 200
    assert resp.headers["content-type"] == "text/event-stream; charset=utf-8"
    frames = data_frames(resp.content)
    assert frames[-1] == b"[DONE]"
    chunks = [orjson.loads(f) for f in frames[:-1]]
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert [c["choices"][0]["delta"].get("content") for c in chunks[1:5]] == ["Hello", ",", " world", "!"]
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    assert all("usage" not in c for c in chunks)  # not asked for: not sent, like OpenAI

    resp = await client.post(
        f"{fake_openai.base_url}/chat/completions", json={**body, "stream_options": {"include_usage": True}}
    )
    chunks = [orjson.loads(f) for f in data_frames(resp.content)[:-1]]
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"] == {"prompt_tokens": 12, "completion_tokens": 7, "total_tokens": 19}
    assert [r.body["stream_options"] for r in fake_openai.requests[1:]] == [{"include_usage": True}]
    assert all(r.finished.is_set() for r in fake_openai.requests)


@pytest.mark.parametrize(
    ("path", "body", "choice"),
    [
        (
            "/chat/completions",
            {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]},
            {
                "index": 0,
                "message": {"role": "assistant", "content": "Hello, world!", "refusal": None},
                "logprobs": None,
                "finish_reason": "stop",
            },
        ),
        (
            "/completions",
            {"model": "gpt-3.5-turbo-instruct", "prompt": "hi", "stream": False},
            {"index": 0, "text": "Hello, world!", "logprobs": None, "finish_reason": "stop"},
        ),
    ],
)
async def test_non_streaming(
    client: httpx.AsyncClient, fake_openai: FakeOpenAI, path: str, body: dict[str, object], choice: dict[str, object]
) -> None:
    resp = await client.post(f"{fake_openai.base_url}{path}", json=body)
    assert resp.status_code == 200
    data = resp.json()
    assert data["choices"] == [choice]
    assert data["usage"] == {"prompt_tokens": 12, "completion_tokens": 7, "total_tokens": 19}
    assert data["model"] == body["model"]


async def test_streaming_completions_endpoint(client: httpx.AsyncClient, fake_openai: FakeOpenAI) -> None:
    fake_openai.set_scenario("no_usage", texts=["a", "b"])
    resp = await client.post(
        f"{fake_openai.base_url}/completions",
        json={"model": "m", "prompt": "p", "stream": True, "stream_options": {"include_usage": True}},
    )
    frames = data_frames(resp.content)
    chunks = [orjson.loads(f) for f in frames[:-1]]
    assert [c["choices"][0]["text"] for c in chunks] == ["a", "b", ""]
    assert all("usage" not in c for c in chunks)
    assert frames[-1] == b"[DONE]"


async def test_scenario_by_model_name_and_http_errors(client: httpx.AsyncClient, fake_openai: FakeOpenAI) -> None:
    fake_openai.set_model_scenario("quota-model", "http_429_quota")
    resp = await client.post(f"{fake_openai.base_url}/chat/completions", json={"model": "quota-model", "stream": True})
    assert resp.status_code == 429
    assert resp.json()["error"]["code"] == "insufficient_quota"
    assert resp.headers["retry-after"] == "20"
    # a model named like a scenario selects it
    resp = await client.post(f"{fake_openai.base_url}/chat/completions", json={"model": "http_401"})
    assert resp.status_code == 401
    assert resp.json()["error"]["code"] == "invalid_api_key"
    # others get the default
    resp = await client.post(f"{fake_openai.base_url}/chat/completions", json={"model": "other"})
    assert resp.status_code == 200
    assert [r.scenario.kind for r in fake_openai.requests] == ["http_429_quota", "http_401", "normal"]


async def test_malformed_and_inband_error_frames(client: httpx.AsyncClient, fake_openai: FakeOpenAI) -> None:
    body = {"model": "gpt-4o-mini", "stream": True}
    fake_openai.set_scenario("malformed_chunk", drop_after=1)
    frames = data_frames((await client.post(f"{fake_openai.base_url}/chat/completions", json=body)).content)
    assert frames[-2:] == [b"{this is not json", b"[DONE]"]
    assert fake_openai.last.chunks_sent == 1
    fake_openai.set_scenario("inband_error", drop_after=0)
    frames = data_frames((await client.post(f"{fake_openai.base_url}/chat/completions", json=body)).content)
    assert orjson.loads(frames[-2]) == {
        "error": {"message": "The model produced invalid content.", "type": "server_error", "code": None}
    }


async def test_drop_mid_stream_aborts_the_connection(client: httpx.AsyncClient, fake_openai: FakeOpenAI) -> None:
    fake_openai.set_scenario("drop_mid_stream", drop_after=2)
    received = b""
    with pytest.raises(httpx.RemoteProtocolError):
        async with client.stream(
            "POST", f"{fake_openai.base_url}/chat/completions", json={"model": "m", "stream": True}
        ) as resp:
            async for chunk in resp.aiter_raw():
                received += chunk
    assert received.count(b"data: ") == 3  # role chunk + 2 texts
    assert b"[DONE]" not in received
    assert fake_openai.last.dropped.is_set()
    assert not fake_openai.last.disconnected.is_set()


def test_unknown_scenario_is_refused(fake_openai: FakeOpenAI) -> None:
    with pytest.raises(ValueError, match="unknown scenario 'nope'"):
        fake_openai.set_scenario("nope")
