"""The ``inkwell`` admin command. External tools rely on these exact forms (SPEC §11):

inkwell db upgrade
inkwell apps import PATH        last stdout line: the new app id
inkwell apps list
inkwell apps limits APP_ID [--max-active N] [--rate-per-minute N]   (0 = the server default)
inkwell keys create APP_ID      last stdout line: the new API key (shown once)
inkwell keys revoke KEY_PREFIX_OR_ID
inkwell sites publish APP_ID    last stdout line: the page path /completion/{code}
inkwell sites disable APP_ID
inkwell datasets create NAME [--id UUID]      last stdout line: the dataset id
inkwell datasets add DATASET_ID FILE... [--chunk-size N] [--chunk-overlap N]
inkwell datasets list
inkwell datasets search DATASET_ID QUERY [--top-k N] [--score-threshold X]
inkwell datasets delete DATASET_ID
inkwell serve --host HOST --port PORT [--workers N]
inkwell openapi [--output FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from inkwell.retrieval.chunking import DEFAULT_CHUNK_SIZE, default_overlap
from inkwell.retrieval.config import DEFAULT_TOP_K
from inkwell.settings import Settings, get_settings

if TYPE_CHECKING:
    from inkwell.retrieval.search import Hit
    from inkwell.retrieval.service import AddedDocument, RetrievalService

T = TypeVar("T")


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


async def _with_datasets(settings: Settings, work: Callable[[RetrievalService], Awaitable[T]]) -> T:
    from inkwell.db import Database
    from inkwell.retrieval.service import RetrievalService

    db = Database(settings.database_url)
    try:
        return await work(RetrievalService(db))
    finally:
        await db.dispose()


def _dataset_id(value: str) -> str:
    from inkwell.retrieval.service import canonical_id

    try:
        return canonical_id(value)
    except ValueError:
        return value  # not a UUID: looked up as given (and not found)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _one_line(text: str, width: int = 120) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def _datasets(settings: Settings, args: argparse.Namespace) -> int:
    from inkwell.retrieval.chunking import ChunkingError, check_settings
    from inkwell.retrieval.loaders import DocumentError, load_file
    from inkwell.retrieval.service import DatasetExists, DatasetNotFound

    if args.action == "create":
        try:
            dataset = asyncio.run(_with_datasets(settings, lambda s: s.create_dataset(args.name, dataset_id=args.id)))
        except (ValueError, DatasetExists) as exc:
            return _fail(str(exc))
        print(f"created dataset {dataset.name!r}")
        print(dataset.id)
        return 0
    if args.action == "list":
        for d in asyncio.run(_with_datasets(settings, lambda s: s.list_datasets())):
            print(f"{d.id}\t{d.name}\t{_count(d.documents, 'document')}\t{_count(d.segments, 'segment')}")
        return 0
    dataset_id = _dataset_id(args.dataset_id)
    try:
        if args.action == "add":
            if args.chunk_overlap is None:
                args.chunk_overlap = default_overlap(args.chunk_size)
            check_settings(args.chunk_size, args.chunk_overlap)
            documents = [load_file(path) for path in args.files]  # every file readable before any is added

            async def add(service: RetrievalService) -> list[AddedDocument]:
                if await service.get_dataset(dataset_id) is None:
                    raise DatasetNotFound(dataset_id)
                return [
                    await service.add_document(
                        dataset_id, doc, chunk_size=args.chunk_size, chunk_overlap=args.chunk_overlap
                    )
                    for doc in documents
                ]

            for path, added in zip(args.files, asyncio.run(_with_datasets(settings, add)), strict=True):
                verb = "replaced" if added.replaced else "added"
                print(f"{path}: {verb} document {added.document_id} ({_count(added.segments, 'segment')})")
            return 0
        if args.action == "search":
            if args.top_k < 1:
                return _fail("--top-k must be at least 1")
            if args.score_threshold is not None and not 0 <= args.score_threshold <= 1:
                return _fail("--score-threshold must be from 0 to 1")

            async def search(service: RetrievalService) -> list[Hit]:
                if await service.get_dataset(dataset_id) is None:
                    raise DatasetNotFound(dataset_id)
                return await service.search(
                    [dataset_id], args.query, top_k=args.top_k, score_threshold=args.score_threshold
                )

            hits = asyncio.run(_with_datasets(settings, search))
            if not hits:
                print("no matching segments")
            for rank, hit in enumerate(hits, start=1):
                print(
                    f"{rank}\t{hit.score:.4f}\t{hit.document_name}#{hit.position}\t{hit.segment_id}\t"
                    f"{_one_line(hit.content)}"
                )
            return 0
        asyncio.run(_with_datasets(settings, lambda s: s.delete_dataset(dataset_id)))
        print(f"deleted dataset {dataset_id}")
        return 0
    except (DatasetNotFound, DocumentError, ChunkingError) as exc:
        return _fail(str(exc))


async def _site(settings: Settings, action: str, app_id: str) -> str:
    """Publish (create or re-enable) or disable the app's site; returns the page path."""
    from inkwell.db import Database
    from inkwell.sites.service import disable, page_path, publish

    db = Database(settings.database_url)
    try:
        site = await (publish(db, app_id) if action == "publish" else disable(db, app_id))
        return page_path(site)
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

    datasets = sub.add_parser("datasets", help="datasets for retrieval").add_subparsers(dest="action", required=True)
    dcreate = datasets.add_parser("create", help="create a dataset; prints its id last")
    dcreate.add_argument("name")
    dcreate.add_argument("--id", help="the dataset id (a UUID) an app's dataset_configs refers to; default: new")
    dadd = datasets.add_parser("add", help="add text or Markdown files (a file of the same name is replaced)")
    dadd.add_argument("dataset_id")
    dadd.add_argument("files", nargs="+", type=Path, metavar="FILE")
    dadd.add_argument("--chunk-size", type=int, default=DEFAULT_CHUNK_SIZE, help="characters per segment, at most")
    dadd.add_argument(
        "--chunk-overlap", type=int, help="characters repeated from the segment before (default: a tenth of the size)"
    )
    datasets.add_parser("list", help="list datasets with their document and segment counts")
    dsearch = datasets.add_parser("search", help="rank a dataset's segments for a query (prints the scores)")
    dsearch.add_argument("dataset_id")
    dsearch.add_argument("query")
    dsearch.add_argument("--top-k", type=int, default=DEFAULT_TOP_K)
    dsearch.add_argument("--score-threshold", type=float)
    ddelete = datasets.add_parser("delete", help="delete a dataset, its documents and segments")
    ddelete.add_argument("dataset_id")

    sites = sub.add_parser("sites", help="the web pages of apps").add_subparsers(dest="action", required=True)
    publish = sites.add_parser("publish", help="publish (or re-enable) an app's page; prints its path last")
    publish.add_argument("app_id")
    disable = sites.add_parser("disable", help="take an app's page (and its web API) offline")
    disable.add_argument("app_id")

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

    if args.command == "datasets":
        return _datasets(settings, args)

    if args.command == "sites":
        try:
            path = asyncio.run(_site(settings, args.action, args.app_id))
        except LookupError as exc:
            return _fail(str(exc))
        if args.action == "disable":
            print(f"site disabled: {path}")
            return 0
        print(f"site published for app {args.app_id}:")
        print(path)
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
