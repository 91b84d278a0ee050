"""``inkwell sites publish`` / ``disable`` through the real console script (SPEC §11), then the page's
web API on a server over the same database."""

from __future__ import annotations

import asyncio
import re

import httpx
import pytest

from tests.api.test_cli import CliEnv, Result
from tests.conftest import EXAMPLES, make_settings, start_server

PATH_RE = re.compile(r"^/completion/[A-Za-z0-9]{16}$")


def ok(result: Result) -> str:
    assert result.code == 0, (result.stdout, result.stderr)
    return result.last_line


@pytest.fixture(scope="module")
async def cli(tmp_path_factory: pytest.TempPathFactory) -> CliEnv:
    workdir = tmp_path_factory.mktemp("cli-sites")
    env = CliEnv(db_path=workdir / "inkwell.db", workdir=workdir)
    ok(await env.run("db", "upgrade"))
    return env


async def test_publish_disable_republish(cli: CliEnv) -> None:
    app_id = ok(await cli.run("apps", "import", EXAMPLES / "demo.yml"))
    path = ok(await cli.run("sites", "publish", app_id))
    assert PATH_RE.match(path), path
    code = path.rsplit("/", 1)[1]
    # publishing again keeps the page where it is
    assert ok(await cli.run("sites", "publish", app_id)) == path

    running = start_server(make_settings(cli.url))
    try:
        async with httpx.AsyncClient(timeout=10) as client:
            passport = await client.get(f"{running.url}/api/passport", headers={"X-App-Code": code})
            assert passport.status_code == 200
            headers = {"X-App-Code": code, "X-App-Passport": passport.json()["access_token"]}
            site = await client.get(f"{running.url}/api/site", headers=headers)
            assert site.status_code == 200 and site.json()["site"]["title"] == "Inkwell demo"

            disabled = await cli.run("sites", "disable", app_id)
            assert disabled.code == 0 and path in disabled.stdout
            resp = await client.get(f"{running.url}/api/site", headers=headers)
            assert resp.status_code == 400 and resp.json()["message"] == "Site is disabled."
            resp = await client.get(f"{running.url}/api/passport", headers={"X-App-Code": code})
            assert resp.status_code == 404

            assert ok(await cli.run("sites", "publish", app_id)) == path
            assert (await client.get(f"{running.url}/api/site", headers=headers)).status_code == 200
    finally:
        running.stop()


async def test_errors(cli: CliEnv) -> None:
    app_id = ok(await cli.run("apps", "import", EXAMPLES / "demo.yml"))
    *unknown, result = await asyncio.gather(
        cli.run("sites", "publish", "no-such-app"),
        cli.run("sites", "disable", "no-such-app"),
        cli.run("sites", "disable", app_id),
    )
    for failed in unknown:
        assert failed.code != 0 and failed.stderr.startswith("error: ")
        assert "no app with id no-such-app" in failed.stderr or "no published site" in failed.stderr
        assert "Traceback" not in failed.stderr
    assert result.code != 0 and "no published site" in result.stderr
