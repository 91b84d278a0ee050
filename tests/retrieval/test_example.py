"""The example in the README works as written: the handbook dataset under the fixed id that
``examples/apps/handbook.yml`` names, its documents added with the CLI, the app answering with citations."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import yaml

from tests.conftest import ROOT, RunningServer, seed
from tests.retrieval.test_cli import ok, run

APP = ROOT / "examples" / "apps" / "handbook.yml"
DOCUMENTS = sorted((ROOT / "examples" / "datasets" / "handbook").glob("*.md"))


def example_dataset_id() -> str:
    config = yaml.safe_load(APP.read_text(encoding="utf-8"))["model_config"]
    (entry,) = config["dataset_configs"]["datasets"]["datasets"]
    return str(entry["dataset"]["id"])


async def test_handbook_example(client: httpx.AsyncClient, server: RunningServer) -> None:
    dataset_id = example_dataset_id()
    url = server.settings.database_url
    assert len(DOCUMENTS) >= 4
    created = ok(await asyncio.to_thread(run, url, "datasets", "create", "Staff handbook", "--id", dataset_id))
    assert created.lines[-1] == dataset_id
    documents: list[str | Path] = list(DOCUMENTS)
    ok(await asyncio.to_thread(run, url, "datasets", "add", dataset_id, *documents))

    app = await seed(server, APP.read_text(encoding="utf-8"))
    questions = {
        "How many vacation days do I get?": "leave.md",
        "What is the per diem abroad?": "expenses.md",
        "My laptop was stolen, what do I do?": "it-security.md",
        "Is there money for a desk at home?": "remote-work.md",
    }
    for question, document in questions.items():
        resp = await client.post(
            f"{app.base_url}/v1/completion-messages",
            headers=app.headers,
            json={"inputs": {"question": question}, "user": "new-hire"},
        )
        assert resp.status_code == 200, resp.text
        body = resp.json()
        resources = body["metadata"]["retriever_resources"]
        assert 1 <= len(resources) <= 3
        assert resources[0]["document_name"] == document, (question, [r["document_name"] for r in resources])
        assert resources[0]["dataset_name"] == "Staff handbook"
        assert resources[0]["content"] in body["answer"]  # the echo model shows the context it was given
        assert body["answer"].endswith("\n" + question)
