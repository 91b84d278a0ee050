"""Helpers for the retrieval tests: a small handbook corpus, datasets made from it on the test
database, and apps whose ``dataset_configs`` name them."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from inkwell.db import Database
from inkwell.retrieval.loaders import LoadedDocument
from inkwell.retrieval.service import RetrievalService
from tests.conftest import dsl

# ten short policy documents on distinct topics; the queries of the tests name one topic each
CORPUS: dict[str, str] = {
    "leave.md": """# Annual leave

Every employee receives 25 vacation days per calendar year. Vacation requests go to your manager
at least two weeks ahead.

## Carry-over

Up to five unused vacation days carry over into the next year; the rest expire on 31 March.
""",
    "expenses.md": """# Expenses

Submit expense claims with the original receipts within 30 days. Reimbursement is paid with the
next salary. Meals with clients need the names of the guests on the receipt.
""",
    "security.md": """# IT security

Connect to the VPN before opening internal tools from outside the office. Passwords are at least
14 characters long and are changed when a breach is suspected. Report phishing mails to the
security team.
""",
    "onboarding.md": """# Onboarding

On the first morning the new hire picks up a laptop and a door badge at the reception. A buddy
shows them around during the first week.
""",
    "parental.md": """# Parental leave

Parents may take up to 16 weeks of paid parental leave within the first year after a birth or an
adoption.
""",
    "travel.md": """# Business travel

Book flights and hotels through the travel desk. Economy class for flights under six hours; the
daily allowance (per diem) covers meals abroad.
""",
    "benefits.md": """# Benefits

The company pays health insurance, dental care and a pension contribution of 5 percent of the
gross salary.
""",
    "remote.md": """# Remote work

Employees may work from home up to three days a week. A one-time stipend of 500 euros pays for a
desk and a chair in the home office.
""",
    "conduct.md": """# Code of conduct

Treat colleagues with respect. Harassment and discrimination are not tolerated; report incidents
to human resources or anonymously through the ethics hotline.
""",
    "holidays.md": """# Public holidays

The offices are closed on public holidays and between Christmas and New Year.
""",
}


@asynccontextmanager
async def retrieval_service(database_url: str) -> AsyncIterator[RetrievalService]:
    """A service on its own engine, made in the test's event loop."""
    db = Database(database_url)
    service = RetrievalService(db)
    try:
        yield service
    finally:
        await service.aclose()
        await db.dispose()


def doc(name: str, text: str) -> LoadedDocument:
    return LoadedDocument(name=name, text=text, markdown=name.endswith(".md"))


async def make_dataset(
    service: RetrievalService,
    documents: dict[str, str],
    *,
    name: str | None = None,
    chunk_size: int = 400,
    chunk_overlap: int = 0,
) -> str:
    dataset = await service.create_dataset(name or f"ds-{uuid.uuid4().hex[:8]}")
    for doc_name, text in documents.items():
        await service.add_document(dataset.id, doc(doc_name, text), chunk_size=chunk_size, chunk_overlap=chunk_overlap)
    return dataset.id


def dataset_configs(
    *dataset_ids: str,
    top_k: int = 4,
    threshold: float | None = None,
    strategy: str = "multiple",
    disabled: tuple[str, ...] = (),
) -> dict[str, Any]:
    """A ``dataset_configs`` block as Dify exports it."""
    entries = [{"dataset": {"enabled": True, "id": d}} for d in dataset_ids]
    entries += [{"dataset": {"enabled": False, "id": d}} for d in disabled]
    block: dict[str, Any] = {
        "retrieval_model": strategy,
        "top_k": top_k,
        "reranking_enable": False,
        "datasets": {"datasets": entries},
    }
    if threshold is not None:
        block["score_threshold_enabled"] = True
        block["score_threshold"] = threshold
    return block


def retrieval_app(*dataset_ids: str, **model_config: Any) -> str:
    """An echo app (``{{query}}`` prompt) that retrieves from ``dataset_ids`` with the ``query`` input."""
    settings = {k: model_config.pop(k) for k in ("top_k", "threshold", "strategy") if k in model_config}
    config: dict[str, Any] = {"dataset_configs": dataset_configs(*dataset_ids, **settings)}
    config["dataset_query_variable"] = "query"
    config.update(model_config)
    return dsl(f"rag-{uuid.uuid4().hex[:6]}", **config)
