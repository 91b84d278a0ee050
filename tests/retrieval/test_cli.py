"""``inkwell datasets ...`` as an operator runs it (the installed console script, in a subprocess), on
both databases: create (with and without ``--id``), add (text and Markdown, chunk settings, re-adding
replaces), list, search, delete, and the one-line errors."""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import re
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from inkwell.cli import main
from inkwell.settings import get_settings
from tests.api.test_cli import INKWELL, UUID_RE
from tests.conftest import ROOT, SECRET
from tests.retrieval.conftest import CORPUS


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str

    @property
    def lines(self) -> list[str]:
        return self.stdout.strip().splitlines()


async def inkwell(database_url: str, *args: str | Path) -> Result:
    env = {k: v for k, v in os.environ.items() if not k.startswith("INKWELL_")}
    env.update(INKWELL_DATABASE_URL=database_url, INKWELL_SECRET_KEY=SECRET)
    proc = await asyncio.create_subprocess_exec(
        str(INKWELL),
        *(str(a) for a in args),
        env=env,
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    assert proc.returncode is not None
    return Result(proc.returncode, out.decode(), err.decode())


def run(database_url: str, *args: str | Path) -> Result:
    """``inkwell.cli.main`` in this process (quicker than a subprocess; same code path after argv)."""
    mp = pytest.MonkeyPatch()
    out, err = io.StringIO(), io.StringIO()
    try:
        mp.setenv("INKWELL_DATABASE_URL", database_url)
        mp.setenv("INKWELL_SECRET_KEY", SECRET)
        get_settings.cache_clear()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main([str(a) for a in args])
    finally:
        mp.undo()
        get_settings.cache_clear()
    return Result(code, out.getvalue(), err.getvalue())


def ok(result: Result) -> Result:
    assert result.code == 0, (result.stdout, result.stderr)
    return result


def failed(result: Result, message: str) -> None:
    assert result.code != 0, (result.stdout, result.stderr)
    assert result.stderr == f"error: {message}\n", result.stderr


@pytest.fixture
def corpus_dir(tmp_path: Path) -> Path:
    for name, text in CORPUS.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    (tmp_path / "notes.txt").write_text("Plain text notes: the cafeteria opens at 8 o'clock.\n", encoding="utf-8")
    return tmp_path


async def test_create_add_list_search(database_url: str, corpus_dir: Path) -> None:
    created = ok(await inkwell(database_url, "datasets", "create", "Staff handbook"))
    dataset_id = created.lines[-1]
    assert UUID_RE.match(dataset_id), created.stdout

    files = [corpus_dir / name for name in sorted(CORPUS)] + [corpus_dir / "notes.txt"]
    added = ok(await inkwell(database_url, "datasets", "add", dataset_id, *files, "--chunk-size", "200"))
    assert len(added.lines) == len(files)
    for path, line in zip(files, added.lines, strict=True):
        assert re.fullmatch(rf"{re.escape(str(path))}: added document [0-9a-f-]{{36}} \(\d+ segments?\)", line), line

    # the rest in this process (the console script itself is covered above)
    listing = ok(await asyncio.to_thread(run, database_url, "datasets", "list"))
    (row,) = [line.split("\t") for line in listing.lines if line.startswith(dataset_id)]
    assert row[:3] == [dataset_id, "Staff handbook", f"{len(files)} documents"]
    segments = int(row[3].split()[0])
    assert segments > len(files)  # 200-character chunks cut the longer documents

    found = ok(await inkwell(database_url, "datasets", "search", dataset_id, "When does the cafeteria open?"))
    rank, score, where, segment_id, snippet = found.lines[0].split("\t")
    assert (rank, where) == ("1", "notes.txt#1")
    assert 0 < float(score) <= 1 and UUID_RE.match(segment_id)
    assert snippet.startswith("Plain text notes")

    top = ok(
        await asyncio.to_thread(
            run, database_url, "datasets", "search", dataset_id, "vacation leave days weeks", "--top-k", "2"
        )
    )
    assert [line.split("\t")[0] for line in top.lines] == ["1", "2"]
    scores = [float(line.split("\t")[1]) for line in top.lines]
    assert scores == sorted(scores, reverse=True)
    strict = ok(
        await asyncio.to_thread(
            run, database_url, "datasets", "search", dataset_id, "vacation leave", "--score-threshold", "1"
        )
    )
    assert strict.lines == ["no matching segments"]


def test_fixed_id_readd_and_delete(database_url: str, tmp_path: Path) -> None:
    fixed = str(uuid.uuid4())
    created = ok(run(database_url, "datasets", "create", "Fixed", "--id", fixed.upper()))
    assert created.lines[-1] == fixed
    failed(
        run(database_url, "datasets", "create", "Again", "--id", fixed),
        f"a dataset with id {fixed} already exists",
    )

    doc = tmp_path / "faq.md"
    doc.write_text("# FAQ\n\nThe wombat question.\n", encoding="utf-8")
    first = ok(run(database_url, "datasets", "add", fixed, doc))
    assert "added document" in first.stdout
    doc.write_text("# FAQ\n\nThe platypus answer.\n", encoding="utf-8")
    second = ok(run(database_url, "datasets", "add", fixed, doc))
    assert "replaced document" in second.stdout
    assert first.stdout.split("document ")[1].split()[0] == second.stdout.split("document ")[1].split()[0]
    wombat = run(database_url, "datasets", "search", fixed, "wombat")
    platypus = run(database_url, "datasets", "search", fixed, "platypus")
    assert ok(wombat).lines == ["no matching segments"]
    assert ok(platypus).lines[0].split("\t")[2] == "faq.md#1"

    ok(run(database_url, "datasets", "delete", fixed))
    listing = ok(run(database_url, "datasets", "list"))
    assert fixed not in listing.stdout
    failed(run(database_url, "datasets", "search", fixed, "platypus"), f"no dataset with id {fixed}")


def test_errors_are_one_line(database_url: str, tmp_path: Path) -> None:
    good = tmp_path / "good.md"
    good.write_text("text", encoding="utf-8")
    (tmp_path / "slides.pdf").write_bytes(b"%PDF-1.4")
    (tmp_path / "latin1.txt").write_bytes("caf\xe9".encode("latin-1"))
    dataset_id = ok(run(database_url, "datasets", "create", "errors")).lines[-1]
    unknown = str(uuid.uuid4())
    missing = tmp_path / "missing.md"
    results = [
        run(database_url, "datasets", "add", unknown, good),
        run(database_url, "datasets", "add", dataset_id, good, missing),
        run(database_url, "datasets", "add", dataset_id, tmp_path / "slides.pdf"),
        run(database_url, "datasets", "add", dataset_id, tmp_path / "latin1.txt"),
        run(database_url, "datasets", "add", dataset_id, good, "--chunk-size", "10"),
        run(database_url, "datasets", "add", dataset_id, good, "--chunk-overlap", "900"),
        run(database_url, "datasets", "search", unknown, "x"),
        run(database_url, "datasets", "search", dataset_id, "x", "--top-k", "0"),
        run(database_url, "datasets", "create", "bad id", "--id", "handbook"),
        run(database_url, "datasets", "delete", "not-a-dataset"),
    ]
    failed(results[0], f"no dataset with id {unknown}")
    failed(results[1], f"no such file: {missing}")
    failed(
        results[2],
        f"{tmp_path / 'slides.pdf'}: unsupported file type '.pdf' (supported: .csv, .htm, .html, "
        ".log, .markdown, .md, .mdx, .rst, .text, .tsv, .txt)",
    )
    failed(results[3], f"{tmp_path / 'latin1.txt'}: not UTF-8 text")
    failed(results[4], "chunk size must be from 50 to 20000 characters")
    failed(results[5], "chunk overlap must be at least 0 and less than half the chunk size")
    failed(results[6], f"no dataset with id {unknown}")
    failed(results[7], "--top-k must be at least 1")
    failed(results[8], "not a UUID: 'handbook'")
    failed(results[9], "no dataset with id not-a-dataset")
    # nothing was added by the refused commands (the missing file stopped the good one too)
    listing = ok(run(database_url, "datasets", "list"))
    (row,) = [line for line in listing.lines if line.startswith(dataset_id)]
    assert row.split("\t")[2:] == ["0 documents", "0 segments"]
