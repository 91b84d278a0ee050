"""Retrieval in the pipeline, end to end through a real server on both databases: the context in the
prompt the model receives, citations (``retriever_resources``) in ``message_end`` and in the blocking
body and in the stored row, ``retriever_resource`` switched off, top_k, threshold, several datasets,
``dataset_query_variable``, unknown datasets and the advanced prompt's ``{{#context#}}``."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import httpx
import yaml
from sqlalchemy import select
from sqlmodel import col

from inkwell.completion.events import MessageEnd
from inkwell.completion.models import Message
from inkwell.completion.prompt import CONTEXT_BLOCK
from inkwell.completion.sse import end_metadata
from inkwell.completion.usage import Pricing, Usage
from inkwell.db import Database
from tests.conftest import RunningServer, SeededApp, dsl, seed
from tests.fakes.openai_upstream import FakeOpenAI
from tests.retrieval.conftest import CORPUS, dataset_configs, make_dataset, retrieval_app, retrieval_service

# the reference's full citation form, in its order (reference §1.3)
RESOURCE_KEYS = [
    "position",
    "dataset_id",
    "dataset_name",
    "document_id",
    "document_name",
    "data_source_type",
    "segment_id",
    "retriever_from",
    "score",
    "hit_count",
    "word_count",
    "segment_position",
    "index_node_hash",
    "content",
    "page",
    "doc_metadata",
    "title",
    "files",
    "summary",
]
CONTEXT_HEAD = CONTEXT_BLOCK.split("{{#context#}}")[0]
VACATION = "How many vacation days do I get per year?"


async def handbook(running: RunningServer, documents: dict[str, str] | None = None, name: str = "Handbook") -> str:
    async with retrieval_service(running.settings.database_url) as service:
        return await make_dataset(service, documents or CORPUS, name=name, chunk_size=300)


async def blocking(client: httpx.AsyncClient, app: SeededApp, inputs: dict[str, Any]) -> dict[str, Any]:
    resp = await client.post(
        f"{app.base_url}/v1/completion-messages", headers=app.headers, json={"inputs": inputs, "user": "reader"}
    )
    assert resp.status_code == 200, resp.text
    body: dict[str, Any] = resp.json()
    return body


async def streaming(client: httpx.AsyncClient, app: SeededApp, inputs: dict[str, Any]) -> list[dict[str, Any]]:
    resp = await client.post(
        f"{app.base_url}/v1/completion-messages",
        headers=app.headers,
        json={"inputs": inputs, "user": "reader", "response_mode": "streaming"},
    )
    assert resp.status_code == 200, resp.text
    return [json.loads(f[6:]) for f in resp.content.split(b"\n\n") if f.startswith(b"data: ")]


async def stored_metadata(running: RunningServer, message_id: str) -> dict[str, Any]:
    db = Database(running.settings.database_url)
    try:
        async with db.session() as session:
            row = (await session.execute(select(Message).where(col(Message.id) == message_id))).scalar_one()
            return dict(row.message_metadata)
    finally:
        await db.dispose()


def check_resources(resources: list[dict[str, Any]], dataset_ids: set[str]) -> None:
    assert resources
    for position, resource in enumerate(resources, start=1):
        assert list(resource) == RESOURCE_KEYS
        assert resource["position"] == position
        assert resource["dataset_id"] in dataset_ids
        assert resource["retriever_from"] == "api"
        assert resource["data_source_type"] == "upload_file"
        assert 0 < resource["score"] <= 1
        assert resource["word_count"] == len(resource["content"])
        assert resource["segment_position"] >= 1
        assert len(resource["index_node_hash"]) == 64
        assert resource["page"] is None and resource["doc_metadata"] is None
    scores = [r["score"] for r in resources]
    assert scores == sorted(scores, reverse=True)


async def test_citations_and_context_blocking(client: httpx.AsyncClient, server: RunningServer) -> None:
    dataset_id = await handbook(server)
    app = await seed(server, retrieval_app(dataset_id))
    body = await blocking(client, app, {"query": VACATION})
    resources = body["metadata"]["retriever_resources"]
    check_resources(resources, {dataset_id})
    assert len(resources) <= 4
    first = resources[0]
    assert (first["dataset_name"], first["document_name"]) == ("Handbook", "leave.md")
    assert "25 vacation days" in first["content"]
    # the echo model answers with the prompt: [system: context block + pre_prompt, user: query]
    context = "\n".join(r["content"] for r in resources)
    system = CONTEXT_BLOCK.replace("{{#context#}}", context) + VACATION + "\n"
    assert body["answer"] == system + "\n" + VACATION
    # the stored row carries the same citations
    stored = await stored_metadata(server, body["id"])
    assert stored["retriever_resources"] == resources


async def test_citations_streaming(client: httpx.AsyncClient, server: RunningServer) -> None:
    dataset_id = await handbook(server)
    app = await seed(server, retrieval_app(dataset_id, top_k=2))
    events = await streaming(client, app, {"query": "Where do I submit my receipts for meals?"})
    assert [e["event"] for e in events][-1] == "message_end"
    answer = "".join(e["answer"] for e in events if e["event"] == "message")
    end = events[-1]
    resources = end["metadata"]["retriever_resources"]
    check_resources(resources, {dataset_id})
    assert len(resources) == 2
    assert resources[0]["document_name"] == "expenses.md"
    assert answer.startswith(CONTEXT_HEAD + resources[0]["content"] + "\n" + resources[1]["content"] + "\n</context>")
    assert list(end["metadata"]) == ["annotation_reply", "retriever_resources", "usage"]
    stored = await stored_metadata(server, end["message_id"])
    assert stored["retriever_resources"] == resources
    # the same request blocking cites the same segments
    again = await blocking(client, app, {"query": "Where do I submit my receipts for meals?"})
    same = again["metadata"]["retriever_resources"]
    assert [r["segment_id"] for r in same] == [r["segment_id"] for r in resources]


async def test_context_reaches_the_upstream(
    client: httpx.AsyncClient, server_factory: Callable[..., RunningServer], fake_openai: FakeOpenAI
) -> None:
    running = server_factory(openai_base_url=fake_openai.base_url, openai_api_key="sk-test")
    dataset_id = await handbook(running)
    model = {"provider": "openai", "name": "gpt-4o-mini", "mode": "chat", "completion_params": {}}
    app = await seed(running, retrieval_app(dataset_id, top_k=1, model=model, pre_prompt="Answer briefly: {{query}}"))
    body = await blocking(client, app, {"query": "how long is parental leave"})
    assert body["answer"] == "Hello, world!"  # the fake's answer
    (resource,) = body["metadata"]["retriever_resources"]
    assert resource["document_name"] == "parental.md"
    messages = fake_openai.last.body["messages"]
    assert messages == [
        {
            "role": "system",
            "content": CONTEXT_BLOCK.replace("{{#context#}}", resource["content"])
            + "Answer briefly: how long is parental leave\n",
        },
        {"role": "user", "content": "how long is parental leave"},
    ]
    assert "16 weeks of paid parental leave" in messages[0]["content"]


async def test_citations_off_still_uses_the_context(client: httpx.AsyncClient, server: RunningServer) -> None:
    dataset_id = await handbook(server)
    app = await seed(server, retrieval_app(dataset_id, retriever_resource={"enabled": False}))
    body = await blocking(client, app, {"query": VACATION})
    assert body["metadata"]["retriever_resources"] == []
    assert body["answer"].startswith(CONTEXT_HEAD)
    assert "25 vacation days" in body["answer"]
    assert (await stored_metadata(server, body["id"]))["retriever_resources"] == []
    events = await streaming(client, app, {"query": VACATION})
    assert events[-1]["metadata"]["retriever_resources"] == []


async def test_top_k_and_threshold(client: httpx.AsyncClient, server: RunningServer) -> None:
    dataset_id = await handbook(server)
    one = await seed(server, retrieval_app(dataset_id, top_k=1))
    (resource,) = (await blocking(client, one, {"query": VACATION}))["metadata"]["retriever_resources"]
    wide = await seed(server, retrieval_app(dataset_id, top_k=10))
    resources = (await blocking(client, wide, {"query": VACATION}))["metadata"]["retriever_resources"]
    assert len(resources) > 2 and resources[0]["segment_id"] == resource["segment_id"]
    # a threshold between the first and the second score keeps the first only
    cut = (resources[0]["score"] + resources[1]["score"]) / 2
    strict = await seed(server, retrieval_app(dataset_id, top_k=10, threshold=cut))
    kept = (await blocking(client, strict, {"query": VACATION}))["metadata"]["retriever_resources"]
    assert [r["segment_id"] for r in kept] == [resources[0]["segment_id"]]
    # above every score: no citation, and the context block is there but empty (as in the reference)
    none = await seed(server, retrieval_app(dataset_id, threshold=1.0))
    body = await blocking(client, none, {"query": VACATION})
    assert body["metadata"]["retriever_resources"] == []
    assert body["answer"].startswith(CONTEXT_HEAD + "\n</context>")


async def test_several_datasets(client: httpx.AsyncClient, server: RunningServer) -> None:
    names = list(CORPUS)
    first = await handbook(server, {n: CORPUS[n] for n in names[:5]}, name="People")
    second = await handbook(server, {n: CORPUS[n] for n in names[5:]}, name="Money")
    app = await seed(server, retrieval_app(first, second, top_k=6))
    body = await blocking(client, app, {"query": "vacation days, health insurance and the per diem"})
    resources = body["metadata"]["retriever_resources"]
    check_resources(resources, {first, second})
    assert {r["dataset_name"] for r in resources} == {"People", "Money"}
    documents = {r["document_name"] for r in resources}
    assert {"leave.md", "benefits.md", "travel.md"} <= documents


async def test_unknown_datasets_are_skipped(client: httpx.AsyncClient, server: RunningServer) -> None:
    dataset_id = await handbook(server)
    ghost = str(uuid.uuid4())
    only_ghost = await seed(server, retrieval_app(ghost))
    body = await blocking(client, only_ghost, {"query": VACATION})
    assert body["metadata"]["retriever_resources"] == []
    assert body["answer"] == VACATION + "\n\n" + VACATION  # no context block at all
    mixed = await seed(server, retrieval_app(ghost, dataset_id))
    resources = (await blocking(client, mixed, {"query": VACATION}))["metadata"]["retriever_resources"]
    check_resources(resources, {dataset_id})


async def test_dataset_query_variable(client: httpx.AsyncClient, server: RunningServer) -> None:
    dataset_id = await handbook(server)
    config = yaml.safe_load(dsl("qv"))["model_config"]
    config.update(
        pre_prompt="Topic: {{topic}}",
        user_input_form=[
            {"text-input": {"variable": "topic", "label": "Topic", "required": True}},
            {"paragraph": {"variable": "question", "label": "Question", "required": True}},
        ],
        dataset_configs=dataset_configs(dataset_id, top_k=1),
        dataset_query_variable="question",
    )
    app = await seed(server, dsl(f"qv-{uuid.uuid4().hex[:6]}", **config))
    question = "Who pays for the desk in my home office?"
    body = await blocking(client, app, {"topic": "holidays", "question": question})
    (resource,) = body["metadata"]["retriever_resources"]
    assert resource["document_name"] == "remote.md"  # retrieved with the question, not the topic
    # as in the reference, the question also takes the query's place in the prompt (the user message)
    context = CONTEXT_BLOCK.replace("{{#context#}}", resource["content"])
    assert body["answer"] == context + "Topic: holidays\n" + "\n" + question


async def test_advanced_prompt_context_placeholder(client: httpx.AsyncClient, server: RunningServer) -> None:
    dataset_id = await handbook(server)
    app = await seed(
        server,
        retrieval_app(
            dataset_id,
            top_k=1,
            prompt_type="advanced",
            chat_prompt_config={
                "prompt": [
                    {"role": "system", "text": "Facts:\n{{#context#}}\nEnd of facts."},
                    {"role": "user", "text": "{{#query#}}"},
                ]
            },
        ),
    )
    body = await blocking(client, app, {"query": "phishing mails"})
    (resource,) = body["metadata"]["retriever_resources"]
    assert resource["document_name"] == "security.md"
    assert body["answer"] == f"Facts:\n{resource['content']}\nEnd of facts.\nphishing mails"


def test_simple_form_drops_retriever_from_and_doc_metadata() -> None:
    resource = dict.fromkeys(RESOURCE_KEYS)
    usage = Usage(
        prompt_tokens=0, completion_tokens=0, pricing=Pricing(Decimal(0), Decimal(0), Decimal(0)), latency=0.0
    )
    end = MessageEnd(usage=usage, retriever_resources=[resource])
    simple = end_metadata(end, full=False)
    assert list(simple) == ["retriever_resources"]
    assert list(simple["retriever_resources"][0]) == [
        k for k in RESOURCE_KEYS if k not in ("retriever_from", "doc_metadata")
    ]
    assert list(end_metadata(end, full=True)["retriever_resources"][0]) == RESOURCE_KEYS
