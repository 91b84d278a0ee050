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

The per-request reads (``available``, ``search``, ``frequency``) are cheap next to the work around them
(a 10,000-segment dataset: ~2 ms of FTS5 for a query, ~2 ms more through SQLAlchemy's adapter), so on
SQLite they skip the adapter: one ``execute_fetchall`` on the aiosqlite connection is one trip to its
thread (SQLAlchemy's cursor makes several), with plain ``?`` SQL that needs no compiling.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any, Protocol, cast

import aiosqlite
from sqlalchemy import bindparam, text
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


def _hit(row: Sequence[Any], score: float) -> Hit:
    """A row of ``_COLUMNS`` (in that order, the score after them)."""
    return Hit(
        segment_id=row[0],
        dataset_id=row[1],
        dataset_name=row[2],
        document_id=row[3],
        document_name=row[4],
        data_source_type=row[5],
        position=int(row[6]),
        content=row[7],
        word_count=int(row[8]),
        hit_count=int(row[9]),
        index_node_hash=row[10],
        score=score,
    )


_AVAILABLE = """SELECT ds.id FROM datasets ds WHERE ds.id IN {ids}
    AND EXISTS (SELECT 1 FROM dataset_documents d WHERE d.dataset_id = ds.id)"""


class SearchBackend(Protocol):
    async def available(self, conn: AsyncConnection, dataset_ids: Sequence[str]) -> set[str]:
        """Those of ``dataset_ids`` that exist and have documents."""

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
    _AVAILABLE = text(_AVAILABLE.format(ids=":ids")).bindparams(bindparam("ids", expanding=True))

    async def available(self, conn: AsyncConnection, dataset_ids: Sequence[str]) -> set[str]:
        return {str(r[0]) for r in await conn.execute(self._AVAILABLE, {"ids": list(dataset_ids)})}

    async def search(
        self, conn: AsyncConnection, dataset_ids: Sequence[str], terms: Sequence[str], limit: int
    ) -> list[Hit]:
        if not terms or not dataset_ids:
            return []
        params = {"tsquery": " | ".join(terms), "ids": list(dataset_ids), "limit": limit}
        rows = (await conn.execute(self._SEARCH, params)).all()
        return [_hit(row, float(row.score)) for row in rows]

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

    # ranked inside FTS5 first (``rank`` is bm25 by default), joined for the few rows kept; plain
    # sqlite3 SQL (see the module doc), ``{ids}`` the parenthesized placeholders of the ids
    _SEARCH = f"""SELECT {_COLUMNS}, f.rank AS bm25
        FROM (
            SELECT segment_id, rank FROM dataset_segments_fts
            WHERE dataset_segments_fts MATCH ? AND dataset_id IN {{ids}}
            ORDER BY rank, segment_id
            LIMIT ?
        ) f
        JOIN dataset_segments s ON s.id = f.segment_id
        JOIN dataset_documents d ON d.id = s.document_id
        JOIN datasets ds ON ds.id = s.dataset_id
        ORDER BY f.rank, s.id"""
    _FREQUENCY = "SELECT count(*) FROM dataset_segments_fts WHERE dataset_segments_fts MATCH ?"
    _INDEX = text(
        "INSERT INTO dataset_segments_fts (content, segment_id, dataset_id, document_id) "
        "VALUES (:content, :id, :dataset_id, :document_id)"
    )
    _UNINDEX_DOCUMENT = text("DELETE FROM dataset_segments_fts WHERE document_id = :id")
    _UNINDEX_DATASET = text("DELETE FROM dataset_segments_fts WHERE dataset_id = :id")

    @staticmethod
    @cache
    def _with_ids(sql: str, count: int) -> str:
        return sql.format(ids="(" + ", ".join("?" * count) + ")")

    @staticmethod
    async def _rows(conn: AsyncConnection, sql: str, params: Sequence[Any]) -> list[Any]:
        """Straight to the aiosqlite connection under ``conn`` (see the module doc): reads only, so
        SQLAlchemy's view of the transaction stays true."""
        raw = await conn.get_raw_connection()
        driver = cast(aiosqlite.Connection, raw.driver_connection)
        return list(await driver.execute_fetchall(sql, params))

    async def available(self, conn: AsyncConnection, dataset_ids: Sequence[str]) -> set[str]:
        sql = self._with_ids(_AVAILABLE, len(dataset_ids))
        return {str(r[0]) for r in await self._rows(conn, sql, dataset_ids)}

    async def search(
        self, conn: AsyncConnection, dataset_ids: Sequence[str], terms: Sequence[str], limit: int
    ) -> list[Hit]:
        if not terms or not dataset_ids:
            return []
        # every term is letters and digits only, so quoting cannot be escaped
        match = " OR ".join(f'"{t}"' for t in terms)
        sql = self._with_ids(self._SEARCH, len(dataset_ids))
        rows = await self._rows(conn, sql, [match, *dataset_ids, limit])
        return [_hit(row, score_of_raw(-float(row[11]))) for row in rows]

    async def frequency(self, conn: AsyncConnection, term: str) -> int:
        return int((await self._rows(conn, self._FREQUENCY, [f'"{term}"']))[0][0])

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
