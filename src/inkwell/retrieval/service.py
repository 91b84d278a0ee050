"""Datasets: creating them, adding documents (chunked and indexed), searching them, and the retrieval
stage of the pipeline (SPEC §6.5, reference §6.2).

Every call is async (SQLAlchemy's async engine: aiosqlite or asyncpg), so retrieval never blocks the
event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel import col

from inkwell.db import Database, new_id, utcnow
from inkwell.retrieval.chunking import DEFAULT_CHUNK_SIZE, chunk_text, default_overlap
from inkwell.retrieval.config import RetrievalConfig
from inkwell.retrieval.loaders import LoadedDocument
from inkwell.retrieval.models import Dataset, DatasetDocument, DatasetSegment
from inkwell.retrieval.search import (
    Hit,
    PostgresSearch,
    SearchBackend,
    SqliteSearch,
    query_terms,
    selective_terms,
)

log = logging.getLogger(__name__)

# how long hit counts gather in memory before one UPDATE writes them (off the request path)
HIT_FLUSH_DELAY = 1.0
# how long a word's segment count (and the number of all segments) is trusted; they only decide which
# words are too common to rank on (search.selective_terms), so a stale count costs nothing but time
FREQUENCY_TTL = 60.0
FREQUENCY_CACHE_SIZE = 50_000


class DatasetNotFound(LookupError):
    def __init__(self, dataset_id: str) -> None:
        super().__init__(f"no dataset with id {dataset_id}")


class DatasetExists(ValueError):
    def __init__(self, dataset_id: str) -> None:
        super().__init__(f"a dataset with id {dataset_id} already exists")


@dataclass(frozen=True, slots=True)
class DatasetSummary:
    id: str
    name: str
    documents: int
    segments: int


@dataclass(frozen=True, slots=True)
class AddedDocument:
    document_id: str
    name: str
    segments: int
    replaced: bool


@dataclass(frozen=True, slots=True)
class Retrieval:
    """What the retrieval stage found: the context for the prompt and the hits to cite."""

    hits: list[Hit]

    @property
    def context(self) -> str:
        # reference: the chunks' text, best first, joined by newlines
        return "\n".join(hit.content for hit in self.hits)


def canonical_id(value: str) -> str:
    """A dataset id given by an operator: any UUID spelling -> the lower-case canonical form."""
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise ValueError(f"not a UUID: {value!r}") from None


def retriever_resources(hits: Sequence[Hit], *, retriever_from: str) -> list[dict[str, Any]]:
    """Citations in the reference's full form (``core/rag/entities/citation_metadata.py``), best first,
    ``position`` from 1. ``hit_count``, ``word_count``, ``segment_position`` and ``index_node_hash`` are
    filled (the reference fills them only for its debugger)."""
    return [
        {
            "position": position,
            "dataset_id": hit.dataset_id,
            "dataset_name": hit.dataset_name,
            "document_id": hit.document_id,
            "document_name": hit.document_name,
            "data_source_type": hit.data_source_type,
            "segment_id": hit.segment_id,
            "retriever_from": retriever_from,
            "score": hit.score,
            "hit_count": hit.hit_count,
            "word_count": hit.word_count,
            "segment_position": hit.position,
            "index_node_hash": hit.index_node_hash,
            "content": hit.content,
            "page": None,
            "doc_metadata": None,
            "title": None,
            "files": None,
            "summary": None,
        }
        for position, hit in enumerate(hits, start=1)
    ]


class HitCounter:
    """Counts how often each segment was retrieved; the counts gather in memory for ``delay`` seconds
    and are then written in one ``executemany``, so retrieval adds no write to the request path."""

    _UPDATE = text("UPDATE dataset_segments SET hit_count = hit_count + :n WHERE id = :id")

    def __init__(self, db: Database, delay: float = HIT_FLUSH_DELAY) -> None:
        self.db = db
        self.delay = delay
        self._counts: Counter[str] = Counter()
        self._timer: asyncio.Task[None] | None = None

    def add(self, segment_ids: Sequence[str]) -> None:
        if not segment_ids:
            return
        self._counts.update(segment_ids)
        if self._timer is None:
            self._timer = asyncio.get_running_loop().create_task(self._later())

    async def _later(self) -> None:
        try:
            await asyncio.sleep(self.delay)
        finally:
            self._timer = None
        await self.flush()

    async def flush(self) -> None:
        counts, self._counts = self._counts, Counter()
        if not counts:
            return
        try:
            async with self.db.engine.begin() as conn:
                await conn.execute(self._UPDATE, [{"id": i, "n": n} for i, n in sorted(counts.items())])
        except Exception:
            log.exception("could not record the hit counts of %d segments", len(counts))

    async def aclose(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._timer
        await self.flush()


class RetrievalService:
    def __init__(self, db: Database) -> None:
        self.db = db
        self.backend: SearchBackend = SqliteSearch() if db.is_sqlite else PostgresSearch()
        self.hits = HitCounter(db)
        self._warned: set[str] = set()
        # term -> (valid until, segments holding it); "" -> the number of all segments
        self._frequencies: dict[str, tuple[float, int]] = {}

    async def aclose(self) -> None:
        await self.hits.aclose()

    # ----------------------------------------------------------------------------------------------
    # datasets and documents (the CLI)

    async def create_dataset(self, name: str, *, dataset_id: str | None = None, description: str = "") -> Dataset:
        name = name.strip()
        if not name:
            raise ValueError("a dataset needs a name")
        if len(name) > 255:
            raise ValueError("a dataset name is at most 255 characters")
        dataset = Dataset(id=canonical_id(dataset_id) if dataset_id else new_id(), name=name, description=description)
        async with self.db.session() as session:
            if await session.get(Dataset, dataset.id) is not None:
                raise DatasetExists(dataset.id)
            session.add(dataset)
            await session.commit()
        return dataset

    async def get_dataset(self, dataset_id: str) -> Dataset | None:
        async with self.db.session() as session:
            return await session.get(Dataset, dataset_id)

    async def list_datasets(self) -> list[DatasetSummary]:
        documents = select(func.count()).where(col(DatasetDocument.dataset_id) == col(Dataset.id)).scalar_subquery()
        segments = select(func.count()).where(col(DatasetSegment.dataset_id) == col(Dataset.id)).scalar_subquery()
        query = select(col(Dataset.id), col(Dataset.name), documents, segments).order_by(
            col(Dataset.created_at), col(Dataset.id)
        )
        async with self.db.session() as session:
            rows = (await session.execute(query)).all()
        return [DatasetSummary(id=r[0], name=r[1], documents=int(r[2]), segments=int(r[3])) for r in rows]

    async def delete_dataset(self, dataset_id: str) -> None:
        async with self.db.engine.begin() as conn:
            found = await conn.execute(select(col(Dataset.id)).where(col(Dataset.id) == dataset_id))
            if found.first() is None:
                raise DatasetNotFound(dataset_id)
            await self.backend.unindex(conn, dataset_id=dataset_id)
            await conn.execute(delete(DatasetSegment).where(col(DatasetSegment.dataset_id) == dataset_id))
            await conn.execute(delete(DatasetDocument).where(col(DatasetDocument.dataset_id) == dataset_id))
            await conn.execute(delete(Dataset).where(col(Dataset.id) == dataset_id))

    async def add_document(
        self,
        dataset_id: str,
        document: LoadedDocument,
        *,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        chunk_overlap: int | None = None,
    ) -> AddedDocument:
        """Chunk and index one document; a document of the same name in the dataset is replaced (same
        document id, all its segments new), in one transaction."""
        if chunk_overlap is None:
            chunk_overlap = default_overlap(chunk_size)
        chunks = chunk_text(
            document.text, chunk_size=chunk_size, chunk_overlap=chunk_overlap, markdown=document.markdown
        )
        now = utcnow()
        digest = hashlib.sha256(document.text.encode()).hexdigest()
        async with self.db.engine.begin() as conn:
            found = await conn.execute(select(col(Dataset.id)).where(col(Dataset.id) == dataset_id))
            if found.first() is None:
                raise DatasetNotFound(dataset_id)
            existing = (
                await conn.execute(
                    select(col(DatasetDocument.id)).where(
                        col(DatasetDocument.dataset_id) == dataset_id, col(DatasetDocument.name) == document.name
                    )
                )
            ).first()
            values = {
                "content_hash": digest,
                "word_count": sum(len(c) for c in chunks),
                "segment_count": len(chunks),
                "chunk_size": chunk_size,
                "chunk_overlap": chunk_overlap,
                "updated_at": now,
            }
            if existing is not None:
                document_id = str(existing[0])
                await self.backend.unindex(conn, document_id=document_id)
                await conn.execute(delete(DatasetSegment).where(col(DatasetSegment.document_id) == document_id))
                await conn.execute(
                    DatasetDocument.__table__.update()  # type: ignore[attr-defined]
                    .where(DatasetDocument.__table__.c.id == document_id)  # type: ignore[attr-defined]
                    .values(**values)
                )
            else:
                document_id = new_id()
                await conn.execute(
                    insert(DatasetDocument),
                    [{"id": document_id, "dataset_id": dataset_id, "name": document.name, "created_at": now, **values}],
                )
            rows = [
                {
                    "id": new_id(),
                    "dataset_id": dataset_id,
                    "document_id": document_id,
                    "position": position,
                    "content": chunk,
                    "word_count": len(chunk),
                    "index_node_hash": hashlib.sha256(chunk.encode()).hexdigest(),
                    "hit_count": 0,
                    "created_at": now,
                }
                for position, chunk in enumerate(chunks, start=1)
            ]
            if rows:
                await conn.execute(insert(DatasetSegment), rows)
                await self.backend.index(conn, rows)
            await conn.execute(
                Dataset.__table__.update()  # type: ignore[attr-defined]
                .where(Dataset.__table__.c.id == dataset_id)  # type: ignore[attr-defined]
                .values(updated_at=now)
            )
        return AddedDocument(
            document_id=document_id, name=document.name, segments=len(rows), replaced=existing is not None
        )

    # ----------------------------------------------------------------------------------------------
    # search

    async def search(
        self, dataset_ids: Sequence[str], query: str, *, top_k: int, score_threshold: float | None = None
    ) -> list[Hit]:
        """The best ``top_k`` segments of these datasets together, merged by score, best first; those
        under ``score_threshold`` (when given) left out."""
        if not query_terms(query) or not dataset_ids or top_k <= 0:
            return []
        async with self.db.engine.connect() as conn:
            return await self._search(conn, dataset_ids, query, top_k=top_k, score_threshold=score_threshold)

    async def _search(
        self,
        conn: AsyncConnection,
        dataset_ids: Sequence[str],
        query: str,
        *,
        top_k: int,
        score_threshold: float | None = None,
    ) -> list[Hit]:
        terms = query_terms(query)
        if not terms or not dataset_ids or top_k <= 0:
            return []
        if len(terms) > 1:
            counts = [await self._frequency(conn, term) for term in ["", *terms]]
            terms = selective_terms(terms, counts[1:], counts[0])
        hits = await self.backend.search(conn, dataset_ids, terms, top_k)
        # hits come best first, so filtering after the limit equals filtering before it
        if score_threshold is not None:
            hits = [h for h in hits if h.score >= score_threshold]
        return hits

    _TOTAL = text("SELECT count(*) FROM dataset_segments")

    async def _frequency(self, conn: AsyncConnection, term: str) -> int:
        """Segments holding ``term`` (all segments for ``""``), cached for FREQUENCY_TTL seconds."""
        now = time.monotonic()
        cached = self._frequencies.get(term)
        if cached is not None and cached[0] > now:
            return cached[1]
        if term:
            count = await self.backend.frequency(conn, term)
        else:
            count = int((await conn.execute(self._TOTAL)).scalar_one())
        if len(self._frequencies) >= FREQUENCY_CACHE_SIZE:
            self._frequencies.clear()
        self._frequencies[term] = (now + FREQUENCY_TTL, count)
        return count

    async def available(self, dataset_ids: Sequence[str]) -> list[str]:
        """Those of ``dataset_ids`` that exist and have documents, in the given order; the others are
        logged (once per process and id) and skipped."""
        if not dataset_ids:
            return []
        async with self.db.engine.connect() as conn:
            return await self._available(conn, dataset_ids)

    async def _available(self, conn: AsyncConnection, dataset_ids: Sequence[str]) -> list[str]:
        if not dataset_ids:
            return []
        found = await self.backend.available(conn, dataset_ids)
        for dataset_id in dataset_ids:
            if dataset_id not in found and dataset_id not in self._warned:
                self._warned.add(dataset_id)
                log.warning("dataset %s is unknown, deleted or empty: retrieval skips it", dataset_id)
        return [d for d in dataset_ids if d in found]

    async def retrieve(self, config: RetrievalConfig, query: str) -> Retrieval | None:
        """The retrieval stage: None when none of the app's datasets is available (then the prompt gets
        no context block, as in the reference); otherwise the hits, possibly none.

        ``multiple`` queries every dataset and keeps the best ``top_k`` overall. ``single`` keeps the
        hits of one dataset: the reference lets the model choose it (an extra model call); Inkwell takes
        the dataset whose best segment scores highest."""
        # one connection for the whole stage (a checkout and a reset less per query)
        async with self.db.engine.connect() as conn:
            dataset_ids = await self._available(conn, config.dataset_ids)
            if not dataset_ids:
                return None
            threshold = config.score_threshold
            if config.strategy == "single" and len(dataset_ids) > 1:
                per_dataset = [await self._search(conn, [d], query, top_k=config.top_k) for d in dataset_ids]
                best = max(per_dataset, key=lambda hits: hits[0].score if hits else -1.0)
                hits = [h for h in best if threshold is None or h.score >= threshold]
            else:
                hits = await self._search(conn, dataset_ids, query, top_k=config.top_k, score_threshold=threshold)
        self.hits.add([h.segment_id for h in hits])
        return Retrieval(hits=hits)
