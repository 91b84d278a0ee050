"""Units of the retrieval package without a database: chunking, loaders, query terms, score mapping and
the ``dataset_configs`` parsing."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from inkwell.apps.config import AppConfig
from inkwell.apps.service import DSLError, parse_dsl
from inkwell.retrieval.chunking import ChunkingError, chunk_text, markdown_sections, normalize
from inkwell.retrieval.config import RetrievalConfig
from inkwell.retrieval.loaders import DocumentError, load_file
from inkwell.retrieval.search import MAX_TERMS, query_terms, score_of_raw, selective_terms
from tests.conftest import dsl
from tests.retrieval.conftest import dataset_configs

WORDS = [f"w{i}" + ("." if i % 9 == 8 else "") for i in range(600)]
LONG = " ".join(WORDS)


def words(text: str) -> list[str]:
    return re.findall(r"w\d+", text)


# --------------------------------------------------------------------------------------------------
# chunking


@pytest.mark.parametrize(("size", "overlap"), [(50, 0), (120, 20), (300, 100), (1000, 100)])
def test_chunks_fit_and_cover_the_text_in_order(size: int, overlap: int) -> None:
    chunks = chunk_text(LONG, chunk_size=size, chunk_overlap=overlap)
    assert all(0 < len(c) <= size for c in chunks)
    # every word is in some chunk, and the chunks, their overlaps removed, give back the text in order
    seen: list[str] = []
    for chunk in chunks:
        ws = words(chunk)
        start = 0
        while start < len(ws) and seen and ws[start] in seen[-len(ws) :]:
            start += 1
        seen.extend(ws[start:])
    assert seen == words(LONG)
    if size < len(LONG):
        assert len(chunks) > 1


def test_overlap_repeats_the_end_of_the_previous_chunk() -> None:
    chunks = chunk_text(LONG, chunk_size=200, chunk_overlap=40)
    for before, after in zip(chunks, chunks[1:], strict=False):
        # the longest start of ``after`` that ``before`` ends with: the repeated part
        shared = max(k for k in range(41) if before.endswith(after[:k]))
        assert 20 <= shared <= 40, (before[-60:], after[:60])
        assert before[-shared - 1].isspace()  # whole words
    no_overlap = chunk_text(LONG, chunk_size=200, chunk_overlap=0)
    assert [w for c in no_overlap for w in words(c)] == words(LONG)


def test_paragraphs_are_kept_whole_when_they_fit() -> None:
    paragraphs = [f"Paragraph {i} " + "text " * 20 for i in range(6)]
    chunks = chunk_text("\n\n".join(paragraphs), chunk_size=250, chunk_overlap=0)
    for chunk in chunks:
        for part in chunk.split("\n\n"):
            assert part.strip() in [p.strip() for p in paragraphs]


def test_markdown_headings_start_chunks_and_fences_are_not_headings() -> None:
    text = "# A\n\nalpha text\n\n## B\n\nbeta text\n\n```\n# comment in code\n```\n\n# C\ngamma"
    assert markdown_sections(text) == [
        "# A\n\nalpha text",
        "## B\n\nbeta text\n\n```\n# comment in code\n```",
        "# C\ngamma",
    ]
    chunks = chunk_text(text, chunk_size=1000, chunk_overlap=0, markdown=True)
    assert [c.split("\n")[0] for c in chunks] == ["# A", "## B", "# C"]
    # plain text is not cut at "headings"
    assert len(chunk_text(text, chunk_size=1000, chunk_overlap=0)) == 1


def test_long_words_are_cut_hard() -> None:
    chunks = chunk_text("x" * 230, chunk_size=100, chunk_overlap=0)
    assert [len(c) for c in chunks] == [100, 100, 30]


def test_normalization() -> None:
    assert normalize("\ufeffa\r\nb\rc  \n\n\n\n\nd\x00e ") == "a\nb\nc\n\nde"
    assert chunk_text("  \n\n \t ") == []


@pytest.mark.parametrize(("size", "overlap"), [(10, 0), (100_000, 0), (100, 50), (100, -1)])
def test_bad_chunk_settings_are_refused(size: int, overlap: int) -> None:
    with pytest.raises(ChunkingError):
        chunk_text("text", chunk_size=size, chunk_overlap=overlap)


# --------------------------------------------------------------------------------------------------
# loaders


def test_loaders(tmp_path: Path) -> None:
    (tmp_path / "a.md").write_text("# Title\n\nbody", encoding="utf-8")
    (tmp_path / "b.TXT").write_bytes("\ufeffplain text".encode())
    (tmp_path / "c.html").write_text(
        "<html><head><title>t</title><style>p{}</style></head><body><h1>Head</h1><p>One &amp; two</p>"
        "<script>var x</script><p>three</p></body></html>",
        encoding="utf-8",
    )
    (tmp_path / "d.pdf").write_bytes(b"%PDF-1.4")
    (tmp_path / "e.txt").write_bytes(b"\xff\xfe\xfa")
    md = load_file(tmp_path / "a.md")
    assert (md.name, md.text, md.markdown) == ("a.md", "# Title\n\nbody", True)
    txt = load_file(tmp_path / "b.TXT")
    assert (txt.text, txt.markdown) == ("plain text", False)
    html = load_file(tmp_path / "c.html")
    assert normalize(html.text).split("\n\n") == ["Head", "One & two", "three"]
    with pytest.raises(DocumentError, match=r"unsupported file type '\.pdf'"):
        load_file(tmp_path / "d.pdf")
    with pytest.raises(DocumentError, match="not UTF-8 text"):
        load_file(tmp_path / "e.txt")
    with pytest.raises(DocumentError, match="no such file"):
        load_file(tmp_path / "missing.md")


# --------------------------------------------------------------------------------------------------
# query terms and scores


def test_query_terms() -> None:
    assert query_terms("How many VACATION days do I get? Vacation!") == ["many", "vacation", "days", "get"]
    assert query_terms("what is the") == []
    assert query_terms('x" OR "y -- ; DROP TABLE') == ["x", "y", "drop", "table"]
    assert query_terms("snake_case über-cool 25") == ["snake", "case", "über", "cool", "25"]
    assert len(query_terms(" ".join(f"t{i}" for i in range(100)))) == MAX_TERMS


def test_selective_terms() -> None:
    terms = ["common", "rare", "none"]
    assert selective_terms(terms, [3000, 10, 0], 10_000) == ["rare", "none"]
    assert selective_terms(terms, [3000, 600, 0], 20_000) == ["rare", "none"]  # 600 <= 5 % of 20,000 ...
    # ... but > 5 % of 10,000 (and > 500): both common, and "none" is in no segment, so all stay
    assert selective_terms(terms, [3000, 600, 0], 10_000) == terms
    assert selective_terms(terms, [3000, 600, 7], 10_000) == ["none"]
    assert selective_terms(terms, [400, 300, 0], 500) == terms  # small datasets: never
    assert selective_terms(["a", "b"], [9000, 8000], 10_000) == ["a", "b"]  # all common: all kept
    assert selective_terms(["a", "b"], [9000, 0], 10_000) == ["a", "b"]  # no rarer word in any segment


def test_score_mapping() -> None:
    assert score_of_raw(0.0) == 0.0
    assert score_of_raw(-3.0) == 0.0
    assert score_of_raw(1.0) == 0.5
    values = [score_of_raw(r) for r in (0.01, 0.1, 1, 5, 50, 1e6)]
    assert values == sorted(values) and all(0 < v < 1 for v in values)


# --------------------------------------------------------------------------------------------------
# dataset_configs


def model_config(**extra: Any) -> dict[str, Any]:
    return {"model": {"provider": "builtin", "name": "echo", "mode": "chat"}, **extra}


def test_dataset_configs_as_dify_exports_them() -> None:
    config = AppConfig.from_model_config(
        model_config(dataset_configs=dataset_configs("a", "b", top_k=3, threshold=0.4, disabled=("c",)))
    )
    assert config.retrieval == RetrievalConfig(
        dataset_ids=("a", "b"), strategy="multiple", top_k=3, score_threshold=0.4
    )
    # the threshold counts only when enabled; top_k defaults to 4
    block = dataset_configs("a")
    block["score_threshold"] = 0.9
    block.pop("top_k")
    assert RetrievalConfig.of({"dataset_configs": block}) == RetrievalConfig(dataset_ids=("a",))
    # no enabled dataset: no retrieval
    assert RetrievalConfig.of({"dataset_configs": dataset_configs(disabled=("a",))}) is None
    assert RetrievalConfig.of({"dataset_configs": {"retrieval_model": "multiple"}}) is None
    assert AppConfig.from_model_config(model_config()).retrieval is None


def test_legacy_agent_mode_datasets() -> None:
    raw = {
        "agent_mode": {"enabled": True, "tools": [{"dataset": {"enabled": True, "id": "x"}}, {"other": {}}]},
        "dataset_configs": {"retrieval_model": "single"},
    }
    assert RetrievalConfig.of(raw) == RetrievalConfig(dataset_ids=("x",), strategy="single")
    raw["agent_mode"]["enabled"] = False
    assert RetrievalConfig.of(raw) is None


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"retrieval_model": "magic"}, "retrieval_model must be 'single' or 'multiple'"),
        ({"top_k": 0}, "top_k must be a whole number from 1 to 100"),
        ({"top_k": "4"}, "top_k must be a whole number"),
        ({"score_threshold_enabled": True, "score_threshold": 1.5}, "score_threshold must be a number from 0 to 1"),
        ({"datasets": {"datasets": [{"dataset": {"enabled": True}}]}}, "needs an 'id'"),
        ({"datasets": ["a"]}, "dataset_configs.datasets must be a mapping"),
    ],
)
def test_malformed_dataset_configs_are_refused_at_import(change: dict[str, Any], message: str) -> None:
    block = {**dataset_configs("a"), **change}
    with pytest.raises(DSLError, match=message):
        parse_dsl(dsl("bad", dataset_configs=block))
