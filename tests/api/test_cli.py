"""The real ``inkwell`` console script against a fresh SQLite file (SPEC §10, §11).

Each test runs the installed entry point in a subprocess, like an operator would; independent
invocations run concurrently to keep the module quick.
"""

from __future__ import annotations

import asyncio
import os
import re
import sqlite3
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import yaml

from inkwell.auth.keys import digest_key
from tests.conftest import EXAMPLES, ROOT, SECRET, SeededApp, dsl, make_settings, start_server

# the console script of the interpreter running the tests (.venv/bin/inkwell)
INKWELL = next(
    (p for p in (Path(sys.executable).parent / "inkwell", ROOT / ".venv" / "bin" / "inkwell") if p.is_file()),
    Path(sys.executable).parent / "inkwell",
)
UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
KEY_RE = re.compile(r"^app-[A-Za-z0-9]{24}$")


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str

    @property
    def last_line(self) -> str:
        lines = self.stdout.strip().splitlines()
        return lines[-1].strip() if lines else ""


@dataclass
class CliEnv:
    db_path: Path
    workdir: Path

    @property
    def url(self) -> str:
        return f"sqlite+aiosqlite:///{self.db_path}"

    async def run(self, *args: str | Path) -> Result:
        env = {k: v for k, v in os.environ.items() if not k.startswith("INKWELL_")}
        # the plain URL form an operator writes; the CLI picks the async driver
        env["INKWELL_DATABASE_URL"] = f"sqlite:///{self.db_path}"
        env["INKWELL_SECRET_KEY"] = SECRET
        proc = await asyncio.create_subprocess_exec(
            str(INKWELL),
            *(str(a) for a in args),
            cwd=self.workdir,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
        assert proc.returncode is not None
        return Result(proc.returncode, out.decode(), err.decode())


def assert_ok(result: Result) -> None:
    assert result.code == 0, (result.stdout, result.stderr)


def assert_failed(result: Result, *phrases: str) -> None:
    assert result.code != 0, (result.stdout, result.stderr)
    assert result.stderr.startswith("error: "), result.stderr
    for phrase in phrases:
        assert phrase in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


@pytest.fixture(scope="module")
async def cli(tmp_path_factory: pytest.TempPathFactory) -> CliEnv:
    workdir = tmp_path_factory.mktemp("cli")
    env = CliEnv(db_path=workdir / "inkwell.db", workdir=workdir)
    first = await env.run("db", "upgrade")
    assert_ok(first)
    assert "database upgraded" in first.stdout
    assert_ok(await env.run("db", "upgrade"))  # idempotent
    assert env.db_path.is_file()
    return env


@pytest.fixture(scope="module")
async def demo_app_id(cli: CliEnv) -> str:
    result = await cli.run("apps", "import", EXAMPLES / "demo.yml")
    assert_ok(result)
    assert UUID_RE.match(result.last_line), result.stdout
    return result.last_line


async def test_import_examples(cli: CliEnv, demo_app_id: str) -> None:
    translator = await cli.run("apps", "import", ROOT / "examples" / "apps" / "translator.yml")
    assert_ok(translator)
    translator_id = translator.last_line
    assert UUID_RE.match(translator_id), translator.stdout
    assert translator_id != demo_app_id

    listing = await cli.run("apps", "list")
    assert_ok(listing)
    rows = {line.split("\t")[0]: line.split("\t") for line in listing.stdout.strip().splitlines()}
    assert rows[demo_app_id] == [demo_app_id, "completion", "Inkwell demo"]
    assert rows[translator_id] == [translator_id, "completion", "Translator"]


async def test_import_refuses_bad_files(cli: CliEnv) -> None:
    work = cli.workdir
    chat = yaml.safe_load(dsl("chatty"))
    chat["app"]["mode"] = "chat"
    (work / "chat.yml").write_text(yaml.safe_dump(chat), encoding="utf-8")
    (work / "broken.yml").write_text("app: [unclosed\n  mode: completion\n", encoding="utf-8")
    (work / "binary.yml").write_bytes(b"\xff\xfe\x00\x01garbage")
    (work / "list.yml").write_text("- kind: app\n- app: {}\n", encoding="utf-8")

    results = await asyncio.gather(
        cli.run("apps", "import", work / "chat.yml"),
        cli.run("apps", "import", work / "broken.yml"),
        cli.run("apps", "import", work / "binary.yml"),
        cli.run("apps", "import", work / "list.yml"),
        cli.run("apps", "import", work / "missing.yml"),
    )
    chat_r, broken_r, binary_r, list_r, missing_r = results
    assert_failed(chat_r, "chat.yml", "only completion apps can be imported", "'chat'")
    assert_failed(broken_r, "broken.yml", "not valid YAML")
    assert_failed(binary_r, "binary.yml", "utf-8")
    assert_failed(list_r, "list.yml", "a DSL file must be a YAML mapping")
    assert_failed(missing_r, "no such file", "missing.yml")
    for result in results:
        assert not any(UUID_RE.match(line.strip()) for line in result.stdout.splitlines()), result.stdout

    listing = await cli.run("apps", "list")
    assert_ok(listing)
    assert "chatty" not in listing.stdout  # nothing was imported


@pytest.fixture
async def cli_server(cli: CliEnv) -> AsyncIterator[str]:
    """A server on the CLI's database, with the CLI's secret key."""
    running = start_server(make_settings(cli.url, secret_key=SECRET))
    yield running.url
    running.stop()


async def test_keys_create_use_and_revoke(
    cli: CliEnv, demo_app_id: str, cli_server: str, client: httpx.AsyncClient
) -> None:
    created, created_again, unknown = await asyncio.gather(
        cli.run("keys", "create", demo_app_id),
        cli.run("keys", "create", demo_app_id),
        cli.run("keys", "create", str(uuid.uuid4())),
    )
    assert_ok(created)
    assert_ok(created_again)
    key, other_key = created.last_line, created_again.last_line
    assert KEY_RE.match(key), created.stdout
    assert KEY_RE.match(other_key), created_again.stdout
    assert key != other_key
    assert_failed(unknown, "no app with id")

    # the key works against a server on the same database
    app = SeededApp(app_id=demo_app_id, key=key, base_url=cli_server)
    resp = await client.post(
        f"{cli_server}/v1/completion-messages",
        headers=app.headers,
        json={"inputs": {"topic": "otters"}, "user": "cli-user"},
    )
    assert resp.status_code == 200, resp.text
    assert resp.json()["answer"] == "Write a short note about otters in a friendly tone.\n"

    # the database holds digests and display prefixes only
    with sqlite3.connect(cli.db_path) as conn:
        rows = conn.execute("SELECT * FROM api_keys").fetchall()
        columns = [c[1] for c in conn.execute("PRAGMA table_info(api_keys)").fetchall()]
    assert len(rows) == 2
    stored = [dict(zip(columns, row, strict=True)) for row in rows]
    assert sorted(r["digest"] for r in stored) == sorted(digest_key(SECRET, k) for k in (key, other_key))
    assert sorted(r["prefix"] for r in stored) == sorted(k[:8] for k in (key, other_key))
    assert all(len(r["prefix"]) == 8 for r in stored)
    for row in rows:
        for value in row:
            for raw in (key, other_key):
                assert raw not in str(value)
                assert raw[4:] not in str(value)  # not even the random part
    raw_db = cli.db_path.read_bytes()
    wal = cli.db_path.with_name(cli.db_path.name + "-wal")
    raw_db += wal.read_bytes() if wal.exists() else b""
    assert key.encode() not in raw_db
    assert other_key.encode() not in raw_db

    # revoke by display prefix: the key is refused at once (cache TTL 0 in tests)
    if key[:8] == other_key[:8]:
        pytest.skip("the two random keys share a display prefix")  # 1 in 14.7 million
    revoked = await cli.run("keys", "revoke", key[:8])
    assert_ok(revoked)
    resp = await client.post(
        f"{cli_server}/v1/completion-messages", headers=app.headers, json={"inputs": {"topic": "x"}, "user": "u"}
    )
    assert resp.status_code == 401, resp.text
    assert resp.json() == {"code": "unauthorized", "message": "Access token is invalid", "status": 401}

    # the other key of the app is untouched; revoking the same prefix again finds nothing
    other = SeededApp(app_id=demo_app_id, key=other_key, base_url=cli_server)
    resp = await client.get(f"{cli_server}/v1/info", headers=other.headers)
    assert resp.status_code == 200, resp.text
    assert_failed(await cli.run("keys", "revoke", key[:8]), "no live key matches")
