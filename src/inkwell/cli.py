"""The ``inkwell`` admin command. External tools rely on these exact forms (SPEC §11):

inkwell db upgrade
inkwell apps import PATH        last stdout line: the new app id
inkwell apps list
inkwell apps limits APP_ID [--max-active N] [--rate-per-minute N]   (0 = the server default)
inkwell keys create APP_ID      last stdout line: the new API key (shown once)
inkwell keys revoke KEY_PREFIX_OR_ID
inkwell serve --host HOST --port PORT [--workers N]
inkwell openapi [--output FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from inkwell.settings import Settings, get_settings


def _fail(message: str, code: int = 1) -> int:
    print(f"error: {message}", file=sys.stderr)
    return code


def alembic_dir() -> Path:
    """Where the migration chain lives: INKWELL_ALEMBIC_DIR, the source checkout, or ./alembic."""
    candidates = [
        os.environ.get("INKWELL_ALEMBIC_DIR"),
        str(Path(__file__).resolve().parents[2] / "alembic"),
        str(Path.cwd() / "alembic"),
    ]
    for candidate in candidates:
        if candidate and (Path(candidate) / "env.py").is_file():
            return Path(candidate)
    raise FileNotFoundError("cannot find the alembic/ migration directory (set INKWELL_ALEMBIC_DIR)")


def upgrade_database(settings: Settings, revision: str = "head") -> None:
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(alembic_dir()))
    config.attributes["database_url"] = settings.database_url
    command.upgrade(config, revision)


async def _import_app(settings: Settings, text: str) -> str:
    from inkwell.apps.service import import_app
    from inkwell.db import Database

    db = Database(settings.database_url)
    try:
        app = await import_app(db, text)
        return app.id
    finally:
        await db.dispose()


async def _list_apps(settings: Settings) -> list[tuple[str, str, str]]:
    from inkwell.apps.service import list_apps
    from inkwell.db import Database

    db = Database(settings.database_url)
    try:
        return [(a.id, a.mode, a.name) for a in await list_apps(db)]
    finally:
        await db.dispose()


async def _set_limits(settings: Settings, app_id: str, max_active: int | None, rate: int | None) -> Any:
    from inkwell.apps.service import set_limits
    from inkwell.db import Database

    db = Database(settings.database_url)
    try:
        return await set_limits(db, app_id, max_active_requests=max_active, rate_limit_per_minute=rate)
    finally:
        await db.dispose()


async def _create_key(settings: Settings, app_id: str) -> str:
    from inkwell.apps.service import create_key
    from inkwell.db import Database

    db = Database(settings.database_url)
    try:
        return await create_key(db, settings.secret_key, app_id)
    finally:
        await db.dispose()


async def _revoke_key(settings: Settings, prefix_or_id: str) -> int:
    from inkwell.apps.service import revoke_key
    from inkwell.db import Database

    db = Database(settings.database_url)
    try:
        return await revoke_key(db, prefix_or_id)
    finally:
        await db.dispose()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="inkwell", description="Inkwell: Dify-compatible completion apps")
    sub = parser.add_subparsers(dest="command", required=True)

    db = sub.add_parser("db", help="database schema").add_subparsers(dest="action", required=True)
    db.add_parser("upgrade", help="migrate the configured database to the latest schema")

    apps = sub.add_parser("apps", help="apps").add_subparsers(dest="action", required=True)
    imp = apps.add_parser("import", help="import a Dify DSL YAML completion app; prints its id last")
    imp.add_argument("path", type=Path)
    apps.add_parser("list", help="list apps")
    limits = apps.add_parser("limits", help="set an app's concurrency and rate limits (0 = server default)")
    limits.add_argument("app_id")
    limits.add_argument("--max-active", type=int, help="concurrent generations")
    limits.add_argument("--rate-per-minute", type=int, help="requests per minute")

    keys = sub.add_parser("keys", help="API keys").add_subparsers(dest="action", required=True)
    create = keys.add_parser("create", help="create an API key for an app; prints the key last")
    create.add_argument("app_id")
    revoke = keys.add_parser("revoke", help="revoke a key by its id or display prefix")
    revoke.add_argument("key")

    serve = sub.add_parser("serve", help="serve the API")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=5001)
    serve.add_argument("--workers", type=int, default=1)

    spec = sub.add_parser("openapi", help="print (or write) the OpenAPI document as YAML")
    spec.add_argument("--output", type=Path)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = get_settings()
    except ValueError as exc:
        return _fail(f"invalid settings: {exc}")

    if args.command == "db":
        upgrade_database(settings)
        print(f"database upgraded: {settings.database_url.split('@')[-1]}")
        return 0

    if args.command == "apps":
        if args.action == "import":
            from inkwell.apps.service import DSLError

            if not args.path.is_file():
                return _fail(f"no such file: {args.path}")
            try:
                app_id = asyncio.run(_import_app(settings, args.path.read_text(encoding="utf-8")))
            except (DSLError, UnicodeDecodeError) as exc:
                return _fail(f"cannot import {args.path}: {exc}")
            print(f"imported app from {args.path}")
            print(app_id)
            return 0
        if args.action == "limits":
            if any(v is not None and v < 0 for v in (args.max_active, args.rate_per_minute)):
                return _fail("limits must be >= 0")
            try:
                app = asyncio.run(_set_limits(settings, args.app_id, args.max_active, args.rate_per_minute))
            except LookupError as exc:
                return _fail(str(exc))
            print(
                f"{app.id}: max_active_requests={app.max_active_requests} "
                f"rate_limit_per_minute={app.rate_limit_per_minute}"
            )
            return 0
        for app_id, mode, name in asyncio.run(_list_apps(settings)):
            print(f"{app_id}\t{mode}\t{name}")
        return 0

    if args.command == "keys":
        if args.action == "create":
            try:
                key = asyncio.run(_create_key(settings, args.app_id))
            except LookupError as exc:
                return _fail(str(exc))
            print("API key created (shown once, store it now):")
            print(key)
            return 0
        count = asyncio.run(_revoke_key(settings, args.key))
        if count == 0:
            return _fail(f"no live key matches {args.key!r}")
        print(f"revoked {count} key(s)")
        return 0

    if args.command == "serve":
        return serve(settings, host=args.host, port=args.port, workers=args.workers)

    if args.command == "openapi":
        from inkwell.main import create_app
        from inkwell.openapi import to_yaml

        text = to_yaml(create_app(settings))
        if args.output:
            args.output.write_text(text, encoding="utf-8")
        else:
            sys.stdout.write(text)
        return 0
    return _fail("unknown command")  # pragma: no cover - argparse rejects it first


def serve(settings: Settings, *, host: str, port: int, workers: int) -> int:
    import uvicorn

    if workers > 1 and not settings.redis_url:
        return _fail("--workers > 1 needs INKWELL_REDIS_URL: stop flags and limits must be shared")
    uvicorn.run(
        "inkwell.main:app_factory",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=settings.log_level.lower(),
        # streams get the grace period, then are stopped with their last frames: a little more here
        timeout_graceful_shutdown=int(settings.shutdown_grace_seconds) + 3,
        proxy_headers=True,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
