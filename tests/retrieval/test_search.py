"""Full-text search on SQLite (FTS5, bm25) and PostgreSQL (tsvector, GIN, ts_rank_cd): ranking on a
small corpus, scores in [0, 1], top_k, threshold, several datasets merged, re-adding a document,
deleting a dataset, the ``single`` strategy, unavailable datasets and hit counts."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from sqlalchemy import func, select, text
from sqlmodel import col

from inkwell.retrieval.config import RetrievalConfig
from inkwell.retrieval.models import DatasetDocument, DatasetSegment
from inkwell.retrieval.service import DatasetExists, DatasetNotFound, RetrievalService
from tests.retrieval.conftest import CORPUS, doc, make_dataset, retrieval_service


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("How many vacation days do I get per year?", "leave.md"),
        ("Where do I submit receipts for reimbursement?", "expenses.md"),
        ("I forgot my VPN password", "security.md"),
        ("How long is parental leave after an adoption?", "parental.md"),
        ("Can I work from home? Is there a stipend for the home office?", "remote.md"),
        ("per diem for meals abroad when travelling", "travel.md"),
        ("dental insurance and pension", "benefits.md"),
        ("who do I report harassment to", "conduct.md"),
    ],
)
async def test_ranking_puts_the_right_document_first(database_url: str, query: str, expected: str) -> None:
    async with retrieval_service(database_url) as service:
        dataset_id = await make_dataset(service, CORPUS)
        hits = await service.search([dataset_id], query, top_k=5)
    assert hits, query
    assert hits[0].document_name == expected, [(h.document_name, h.score) for h in hits]
    scores = [h.score for h in hits]
    assert scores == sorted(scores, reverse=True)
    assert all(0.0 <= s <= 1.0 for s in scores)
    assert hits[0].score > 0
    assert all(h.dataset_id == dataset_id for h in hits)


async def test_hits_carry_what_citations_need(database_url: str) -> None:
    async with retrieval_service(database_url) as service:
        dataset = await service.create_dataset("Handbook")
        added = await service.add_document(
            dataset.id, doc("leave.md", CORPUS["leave.md"]), chunk_size=150, chunk_overlap=0
        )
        hits = await service.search([dataset.id], "carry over unused vacation days", top_k=1)
    assert added.segments >= 2 and not added.replaced
    (hit,) = hits
    assert hit.dataset_name == "Handbook"
    assert hit.document_id == added.document_id
    assert hit.document_name == "leave.md"
    assert hit.data_source_type == "upload_file"
    assert "carry over" in hit.content
    assert hit.position >= 2  # the carry-over section comes after the first one
    assert hit.word_count == len(hit.content)
    assert len(hit.index_node_hash) == 64


async def test_nothing_matches(database_url: str) -> None:
    async with retrieval_service(database_url) as service:
        dataset_id = await make_dataset(service, CORPUS)
        assert await service.search([dataset_id], "xylophone zeppelin", top_k=4) == []
        assert await service.search([dataset_id], "what is the", top_k=4) == []  # stop words only
        assert await service.search([dataset_id], "?!", top_k=4) == []
        # quotes and operators are only punctuation to the search
        hits = await service.search([dataset_id], 'vacation" OR NOT "x* AND (NEAR', top_k=4)
        assert hits and hits[0].document_name == "leave.md"


async def test_top_k(database_url: str) -> None:
    async with retrieval_service(database_url) as service:
        dataset_id = await make_dataset(service, CORPUS)
        query = "employees leave days weeks year office"
        many = await service.search([dataset_id], query, top_k=20)
        assert len(many) >= 5
        for k in (1, 2, 3):
            top = await service.search([dataset_id], query, top_k=k)
            assert [h.segment_id for h in top] == [h.segment_id for h in many[:k]]


async def test_score_threshold(database_url: str) -> None:
    async with retrieval_service(database_url) as service:
        dataset_id = await make_dataset(service, CORPUS)
        query = "parental leave weeks after a birth"
        hits = await service.search([dataset_id], query, top_k=10)
        assert len(hits) >= 2 and hits[0].score > hits[1].score
        between = (hits[0].score + hits[1].score) / 2
        kept = await service.search([dataset_id], query, top_k=10, score_threshold=between)
        assert [h.segment_id for h in kept] == [hits[0].segment_id]
        # inclusive at the score itself; nothing above the best
        at = await service.search([dataset_id], query, top_k=10, score_threshold=hits[1].score)
        assert [h.segment_id for h in at] == [h.segment_id for h in hits if h.score >= hits[1].score]
        assert await service.search([dataset_id], query, top_k=10, score_threshold=min(1.0, hits[0].score + 1e-6)) == []
        assert len(await service.search([dataset_id], query, top_k=10, score_threshold=0.0)) == len(hits)


async def test_several_datasets_are_merged_by_score(database_url: str) -> None:
    names = list(CORPUS)
    async with retrieval_service(database_url) as service:
        first = await make_dataset(service, {n: CORPUS[n] for n in names[:5]})
        second = await make_dataset(service, {n: CORPUS[n] for n in names[5:]})
        query = "health insurance for employees and vacation days, leave and holidays"
        a = await service.search([first], query, top_k=10)
        b = await service.search([second], query, top_k=10)
        merged = await service.search([first, second], query, top_k=4)
        reversed_order = await service.search([second, first], query, top_k=4)
    assert {h.dataset_id for h in a} == {first} and {h.dataset_id for h in b} == {second}
    assert len(merged) == 4
    assert {h.dataset_id for h in merged} == {first, second}
    # ties are broken by segment id on both engines
    expected = sorted(a + b, key=lambda h: (-h.score, h.segment_id))[:4]
    assert [h.score for h in merged] == pytest.approx([h.score for h in expected])
    assert {h.segment_id for h in merged} == {h.segment_id for h in expected}
    assert [h.segment_id for h in reversed_order] == [h.segment_id for h in merged]


async def test_adding_a_file_again_replaces_its_segments(database_url: str) -> None:
    async with retrieval_service(database_url) as service:
        dataset = await service.create_dataset("replace")
        old = await service.add_document(
            dataset.id, doc("animals.md", "# Animals\n\nThe zebrafish lives in rivers.\n\n## More\n\nzebrafish again")
        )
        await service.add_document(dataset.id, doc("other.txt", "A quokka elsewhere."))
        assert [h.document_name for h in await service.search([dataset.id], "zebrafish", top_k=4)] == ["animals.md"] * 2
        new = await service.add_document(dataset.id, doc("animals.md", "The quokka smiles."))
        assert new.replaced and new.document_id == old.document_id and new.segments == 1
        assert await service.search([dataset.id], "zebrafish", top_k=4) == []
        quokka = await service.search([dataset.id], "quokka", top_k=4)
        assert sorted(h.document_name for h in quokka) == ["animals.md", "other.txt"]
        async with service.db.session() as session:
            documents = (
                await session.execute(select(func.count()).where(col(DatasetDocument.dataset_id) == dataset.id))
            ).scalar_one()
            segments = (
                await session.execute(select(func.count()).where(col(DatasetSegment.dataset_id) == dataset.id))
            ).scalar_one()
        assert (documents, segments) == (2, 2)
        (summary,) = [d for d in await service.list_datasets() if d.id == dataset.id]
        assert (summary.name, summary.documents, summary.segments) == ("replace", 2, 2)


async def test_delete_dataset(database_url: str) -> None:
    async with retrieval_service(database_url) as service:
        keep = await make_dataset(service, {"k.txt": "the armadillo digs"})
        gone = await make_dataset(service, {"g.txt": "the armadillo sleeps", "h.txt": "another armadillo"})
        await service.delete_dataset(gone)
        hits = await service.search([keep, gone], "armadillo", top_k=4)
        assert [h.dataset_id for h in hits] == [keep]
        assert await service.get_dataset(gone) is None
        with pytest.raises(DatasetNotFound):
            await service.delete_dataset(gone)
        with pytest.raises(DatasetNotFound):
            await service.add_document(gone, doc("x.txt", "x"))
        if service.db.is_sqlite:  # the FTS rows went with the segments
            async with service.db.engine.connect() as conn:
                left = await conn.execute(
                    text("SELECT count(*) FROM dataset_segments_fts WHERE dataset_id = :id"), {"id": gone}
                )
                assert left.scalar_one() == 0


async def test_create_with_a_fixed_id(database_url: str) -> None:
    fixed = str(uuid.uuid4())
    async with retrieval_service(database_url) as service:
        dataset = await service.create_dataset("fixed", dataset_id=fixed.upper())
        assert dataset.id == fixed
        with pytest.raises(DatasetExists):
            await service.create_dataset("again", dataset_id=fixed)
        with pytest.raises(ValueError, match="not a UUID"):
            await service.create_dataset("bad", dataset_id="handbook")
        with pytest.raises(ValueError, match="needs a name"):
            await service.create_dataset("  ")


async def test_retrieve_skips_unavailable_datasets(database_url: str, caplog: pytest.LogCaptureFixture) -> None:
    async with retrieval_service(database_url) as service:
        dataset_id = await make_dataset(service, CORPUS)
        empty = (await service.create_dataset("empty")).id
        unknown = str(uuid.uuid4())
        config = RetrievalConfig(dataset_ids=(unknown, empty, dataset_id), top_k=2)
        found = await service.retrieve(config, "vacation days")
        assert found is not None and len(found.hits) == 2
        assert found.context == "\n".join(h.content for h in found.hits)
        assert "vacation days" in found.context
        assert unknown in caplog.text and empty in caplog.text
        # none available: no retrieval at all (no context block); available but no match: empty context
        assert await service.retrieve(RetrievalConfig(dataset_ids=(unknown, empty)), "vacation") is None
        nothing = await service.retrieve(config, "xylophone")
        assert nothing is not None and nothing.hits == [] and nothing.context == ""


async def test_single_strategy_answers_from_one_dataset(database_url: str) -> None:
    names = list(CORPUS)
    async with retrieval_service(database_url) as service:
        first = await make_dataset(service, {n: CORPUS[n] for n in names[:5]})  # leave, expenses, ...
        second = await make_dataset(service, {n: CORPUS[n] for n in names[5:]})  # travel, benefits, ...
        query = "flights hotels and the travel desk, and also vacation"
        single = await service.retrieve(RetrievalConfig(dataset_ids=(first, second), strategy="single"), query)
        multiple = await service.retrieve(RetrievalConfig(dataset_ids=(first, second)), query)
    assert single is not None and multiple is not None
    assert {h.dataset_id for h in multiple.hits} == {first, second}
    assert {h.dataset_id for h in single.hits} == {multiple.hits[0].dataset_id}


async def test_hit_counts(database_url: str) -> None:
    async with retrieval_service(database_url) as service:
        service.hits.delay = 0.05
        dataset_id = await make_dataset(service, CORPUS)
        config = RetrievalConfig(dataset_ids=(dataset_id,), top_k=1)
        first = await service.retrieve(config, "dental pension")
        await service.retrieve(config, "dental pension")
        assert first is not None and first.hits[0].hit_count == 0
        await asyncio.sleep(0.3)
        (again,) = await service.search([dataset_id], "dental pension", top_k=1)
        assert again.segment_id == first.hits[0].segment_id and again.hit_count == 2


async def test_service_is_per_engine(database_url: str) -> None:
    async with retrieval_service(database_url) as service:
        assert type(service.backend).__name__ == (
            "SqliteSearch" if database_url.startswith("sqlite") else "PostgresSearch"
        )
        assert isinstance(service, RetrievalService)


async def test_common_words_are_not_ranked_when_rarer_ones_are_there(database_url: str) -> None:
    filler = "\n\n".join(f"Filler paragraph {i} about widgets." for i in range(1000))
    async with retrieval_service(database_url) as service:
        dataset_id = await make_dataset(
            service, {"filler.txt": filler, "rare.txt": "Widgets and the narwhal."}, chunk_size=50
        )
        # "widgets" is in every segment: the query ranks on "narwhal" alone
        hits = await service.search([dataset_id], "widgets narwhal", top_k=10)
        assert [h.document_name for h in hits] == ["rare.txt"]
        # alone, or with words no segment has, a common word is still searched
        assert len(await service.search([dataset_id], "widgets", top_k=10)) == 10
        assert len(await service.search([dataset_id], "widgets xylophone", top_k=10)) == 10
