"""Full-text search on each database's own engine, every score mapped into [0, 1].

Both engines get the same query: the words of the question (letters and digits, lower-cased, English
stop words dropped, at most ``MAX_TERMS``), OR-ed, so a segment matching any word is a candidate and
the ranking decides. English stemming on both (PostgreSQL ``english`` configuration, SQLite FTS5
``porter`` tokenizer).

* **PostgreSQL**: ``content_tsv @@ to_tsquery('english', 'w1 | w2 ...')`` over the GIN index, ranked by
  ``ts_rank_cd(content_tsv, query, 32)``: cover density, with normalization flag 32, which maps the raw
  rank r >= 0 to ``r / (r + 1)``.
* **SQLite**: ``dataset_segments_fts MATCH '"w1" OR "w2" ...'``, ranked by FTS5 ``bm25()``, which is
  *negative*, more negative = better. With ``r = -bm25()`` (clamped at 0) the score is the same
  ``r / (r + 1)``.

Words found in very many segments are left out of a query that has rarer words (``selective_terms``):
both engines score every segment a query word matches before they can keep the best ``top_k``, so a
word in a quarter of a 10,000-segment dataset costs ~10 ms (SQLite) to ~25 ms (PostgreSQL) a query,
while its weight in the ranking is small (bm25 weighs it down by its frequency) and the best segments
are those with the rare words anyway. "Very many" is more than ``COMMON_SHARE`` of all segments and
more than ``COMMON_MIN`` of them, so small datasets are never affected.

So on both a higher score is better, 0 means "no relevance" and 1 is never reached. The two engines
rank alike but their raw numbers differ (bm25 weighs rare words up and long segments down; cover
density counts how close together the matches are), so a ``score_threshold`` tuned on one engine is
not portable: tune it with ``inkwell datasets search`` on the database you serve from.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import RowMapping, bindparam, text
from sqlalchemy.ext.asyncio import AsyncConnection

MAX_TERMS = 32
# a word in more than this share of all segments, and in more than COMMON_MIN of them, is "common"
COMMON_SHARE = 0.05
COMMON_MIN = 500
_WORD = re.compile(r"[^\W_]+")
# English function words: they match nearly every segment and say nothing about it
STOP_WORDS = frozenset(
    """a about above after again against all am an and any are as at be because been before being below
    between both but by can could did do does doing down during each few for from further had has have
    having he her here hers herself him himself his how i if in into is it its itself just me more most my
    myself no nor not now of off on once only or other our ours ourselves out over own same she should so
    some such than that the their theirs them themselves then there these they this those through to too
    under until up very was we were what when where which while who whom why will with would you your
    yours yourself yourselves""".split()
)


def query_terms(query: str) -> list[str]:
    """The distinct words of ``query`` that are worth searching for, in order."""
    terms: list[str] = []
    for word in _WORD.findall(query.lower()):
        if word not in STOP_WORDS and word not in terms:
            terms.append(word)
            if len(terms) == MAX_TERMS:
                break
    return terms


def selective_terms(terms: Sequence[str], frequencies: Sequence[int], total: int) -> list[str]:
    """``terms`` without the common ones (see the module doc), unless no other word is in any segment."""
    limit = max(COMMON_SHARE * total, COMMON_MIN)
    kept = [(t, df) for t, df in zip(terms, frequencies, strict=True) if df <= limit]
    # words counted in no segment stay in the query (a count may be a little old) but do not count
    # as the rarer words that let the common ones go
    return [t for t, _ in kept] if any(df > 0 for _, df in kept) else list(terms)


def score_of_raw(raw: float) -> float:
    """A raw relevance r >= 0 (PostgreSQL's cover density, minus SQLite's bm25) mapped to r / (r + 1)."""
    raw = max(0.0, raw)
    return raw / (raw + 1.0)


@dataclass(frozen=True, slots=True)
class Hit:
    segment_id: str
    dataset_id: str
    dataset_name: str
    document_id: str
    document_name: str
    data_source_type: str
    position: int
    content: str
    word_count: int
    hit_count: int
    index_node_hash: str
    score: float


_COLUMNS = """s.id AS segment_id, s.dataset_id, ds.name AS dataset_name, s.document_id, d.name AS document_name,
    d.data_source_type, s.position, s.content, s.word_count, s.hit_count, s.index_node_hash"""


def _hit(row: RowMapping, score: float) -> Hit:
    return Hit(
        segment_id=row["segment_id"],
        dataset_id=row["dataset_id"],
        dataset_name=row["dataset_name"],
        document_id=row["document_id"],
        document_name=row["document_name"],
        data_source_type=row["data_source_type"],
        position=int(row["position"]),
        content=row["content"],
        word_count=int(row["word_count"]),
        hit_count=int(row["hit_count"]),
        index_node_hash=row["index_node_hash"],
        score=score,
    )


class SearchBackend(Protocol):
    async def search(
        self, conn: AsyncConnection, dataset_ids: Sequence[str], terms: Sequence[str], limit: int
    ) -> list[Hit]:
        """The best ``limit`` segments of these datasets for these terms, best first."""

    async def frequency(self, conn: AsyncConnection, term: str) -> int:
        """How many segments (of all datasets) hold ``term``."""

    async def index(self, conn: AsyncConnection, segments: Sequence[Mapping[str, Any]]) -> None:
        """Add newly inserted segment rows to the full-text index."""

    async def unindex(
        self, conn: AsyncConnection, *, document_id: str | None = None, dataset_id: str | None = None
    ) -> None:
        """Remove a document's (or a whole dataset's) segments from the full-text index."""


class PostgresSearch:
    """The generated ``content_tsv`` column and its GIN index: the index follows the rows by itself."""

    _SEARCH = text(
        f"""SELECT {_COLUMNS}, ts_rank_cd(s.content_tsv, q.query, 32) AS score
        FROM dataset_segments s
        CROSS JOIN (SELECT to_tsquery('english', :tsquery) AS query) q
        JOIN dataset_documents d ON d.id = s.document_id
        JOIN datasets ds ON ds.id = s.dataset_id
        WHERE s.dataset_id IN :ids AND s.content_tsv @@ q.query
        ORDER BY score DESC, s.id
        LIMIT :limit"""
    ).bindparams(bindparam("ids", expanding=True))
    _FREQUENCY = text("SELECT count(*) FROM dataset_segments WHERE content_tsv @@ to_tsquery('english', :term)")

    async def search(
        self, conn: AsyncConnection, dataset_ids: Sequence[str], terms: Sequence[str], limit: int
    ) -> list[Hit]:
        if not terms or not dataset_ids:
            return []
        params = {"tsquery": " | ".join(terms), "ids": list(dataset_ids), "limit": limit}
        rows = (await conn.execute(self._SEARCH, params)).mappings().all()
        return [_hit(row, float(row["score"])) for row in rows]

    async def frequency(self, conn: AsyncConnection, term: str) -> int:
        return int((await conn.execute(self._FREQUENCY, {"term": term})).scalar_one())

    async def index(self, conn: AsyncConnection, segments: Sequence[Mapping[str, Any]]) -> None:
        return None

    async def unindex(
        self, conn: AsyncConnection, *, document_id: str | None = None, dataset_id: str | None = None
    ) -> None:
        return None


class SqliteSearch:
    """The FTS5 table ``dataset_segments_fts``, kept in step with the segments in the same transaction."""

    # ranked inside FTS5 first (``rank`` is bm25 by default), joined for the few rows kept
    _SEARCH = text(
        f"""SELECT {_COLUMNS}, f.rank AS bm25
        FROM (
            SELECT segment_id, rank FROM dataset_segments_fts
            WHERE dataset_segments_fts MATCH :match AND dataset_id IN :ids
            ORDER BY rank, segment_id
            LIMIT :limit
        ) f
        JOIN dataset_segments s ON s.id = f.segment_id
        JOIN dataset_documents d ON d.id = s.document_id
        JOIN datasets ds ON ds.id = s.dataset_id
        ORDER BY f.rank, s.id"""
    ).bindparams(bindparam("ids", expanding=True))
    _FREQUENCY = text("SELECT count(*) FROM dataset_segments_fts WHERE dataset_segments_fts MATCH :match")
    _INDEX = text(
        "INSERT INTO dataset_segments_fts (content, segment_id, dataset_id, document_id) "
        "VALUES (:content, :id, :dataset_id, :document_id)"
    )
    _UNINDEX_DOCUMENT = text("DELETE FROM dataset_segments_fts WHERE document_id = :id")
    _UNINDEX_DATASET = text("DELETE FROM dataset_segments_fts WHERE dataset_id = :id")

    async def search(
        self, conn: AsyncConnection, dataset_ids: Sequence[str], terms: Sequence[str], limit: int
    ) -> list[Hit]:
        if not terms or not dataset_ids:
            return []
        # every term is letters and digits only, so quoting cannot be escaped
        params = {"match": " OR ".join(f'"{t}"' for t in terms), "ids": list(dataset_ids), "limit": limit}
        rows = (await conn.execute(self._SEARCH, params)).mappings().all()
        return [_hit(row, score_of_raw(-float(row["bm25"]))) for row in rows]

    async def frequency(self, conn: AsyncConnection, term: str) -> int:
        return int((await conn.execute(self._FREQUENCY, {"match": f'"{term}"'})).scalar_one())

    async def index(self, conn: AsyncConnection, segments: Sequence[Mapping[str, Any]]) -> None:
        if segments:
            await conn.execute(self._INDEX, [dict(s) for s in segments])

    async def unindex(
        self, conn: AsyncConnection, *, document_id: str | None = None, dataset_id: str | None = None
    ) -> None:
        if document_id is not None:
            await conn.execute(self._UNINDEX_DOCUMENT, {"id": document_id})
        if dataset_id is not None:
            await conn.execute(self._UNINDEX_DATASET, {"id": dataset_id})
