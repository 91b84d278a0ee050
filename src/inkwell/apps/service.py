"""Apps: DSL import, API keys, and the cached lookups the request path needs."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import yaml
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from inkwell.apps.config import AppConfig
from inkwell.apps.models import ApiKey, App
from inkwell.auth.keys import digest_key, digests_match, display_prefix, generate_key
from inkwell.db import Database, utcnow

SUPPORTED_DSL_MAJOR = 0


class DSLError(ValueError):
    """The file is not an importable completion app; the message says why."""


def parse_dsl(text: str) -> dict[str, Any]:
    """Validate a Dify DSL document and return the fields of the new app."""
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise DSLError(f"not valid YAML: {exc}") from None
    if not isinstance(doc, dict):
        raise DSLError("a DSL file must be a YAML mapping")
    if doc.get("kind", "app") != "app":
        raise DSLError(f"kind must be 'app', not {doc.get('kind')!r}")
    version = str(doc.get("version", "0.1.0"))
    try:
        major = int(version.split(".")[0])
    except ValueError:
        raise DSLError(f"unparsable DSL version {version!r}") from None
    if major > SUPPORTED_DSL_MAJOR:
        raise DSLError(f"DSL version {version} is newer than this server supports (0.x)")
    app = doc.get("app")
    if not isinstance(app, dict):
        raise DSLError("the 'app' section is missing")
    mode = app.get("mode")
    if mode != "completion":
        raise DSLError(f"app.mode is {mode!r}: only completion apps can be imported")
    if not app.get("name"):
        raise DSLError("app.name is required")
    model_config = doc.get("model_config")
    if not isinstance(model_config, dict):
        raise DSLError("the 'model_config' section is missing")
    try:
        AppConfig.from_model_config(model_config)
    except ValueError as exc:
        raise DSLError(f"model_config is invalid: {exc}") from None
    tags = app.get("tags") or []
    limits = {}
    for key in ("max_active_requests", "rate_limit_per_minute"):  # Inkwell extensions of ``app``
        value = app.get(key, 0) or 0
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise DSLError(f"app.{key} must be a whole number >= 0 (0 = the server default)")
        limits[key] = value
    return {
        "name": str(app["name"]),
        "description": str(app.get("description") or ""),
        "mode": "completion",
        "icon": app.get("icon"),
        "icon_type": app.get("icon_type"),
        "icon_background": app.get("icon_background"),
        "author_name": app.get("author_name"),
        "tags": [str(t) for t in tags] if isinstance(tags, list) else [],
        "app_model_config": model_config,
        **limits,
    }


async def import_app(db: Database, text: str) -> App:
    fields = parse_dsl(text)
    app = App(**fields)
    async with db.session() as session:
        session.add(app)
        await session.commit()
    return app


async def set_limits(
    db: Database, app_id: str, *, max_active_requests: int | None, rate_limit_per_minute: int | None
) -> App:
    async with db.session() as session:
        app = await session.get(App, app_id)
        if app is None:
            raise LookupError(f"no app with id {app_id}")
        if max_active_requests is not None:
            app.max_active_requests = max_active_requests
        if rate_limit_per_minute is not None:
            app.rate_limit_per_minute = rate_limit_per_minute
        app.updated_at = utcnow()
        await session.commit()
        return app


async def list_apps(db: Database) -> list[App]:
    async with db.session() as session:
        return list((await session.execute(select(App).order_by(col(App.created_at)))).scalars())


async def create_key(db: Database, secret_key: str, app_id: str) -> str:
    async with db.session() as session:
        if await session.get(App, app_id) is None:
            raise LookupError(f"no app with id {app_id}")
        api_key = generate_key()
        session.add(ApiKey(app_id=app_id, digest=digest_key(secret_key, api_key), prefix=display_prefix(api_key)))
        await session.commit()
    return api_key


async def revoke_key(db: Database, prefix_or_id: str) -> int:
    """Revoke the key with this id, or every live key with this display prefix; returns how many."""
    async with db.session() as session:
        column = ApiKey.id if len(prefix_or_id) == 36 else ApiKey.prefix
        result = await session.execute(
            update(ApiKey)
            .where(col(column) == prefix_or_id, col(ApiKey.revoked_at).is_(None))
            .values(revoked_at=utcnow())
        )
        await session.commit()
        return int(result.rowcount)  # type: ignore[attr-defined]


@dataclass(slots=True)
class LoadedApp:
    app: App
    config: AppConfig | None  # None when the stored config does not parse (-> app_unavailable)


class AppCache:
    """Short-lived per-process cache of key digests and apps: the auth hot path does no SQL.

    Revocations and app changes are seen within ``ttl`` seconds on every worker.
    """

    def __init__(self, db: Database, secret_key: str, ttl: float) -> None:
        self.db = db
        self.secret_key = secret_key
        self.ttl = ttl
        self._keys: dict[str, tuple[float, str | None]] = {}
        self._apps: dict[str, tuple[float, LoadedApp | None]] = {}

    async def app_for_key(self, api_key: str) -> LoadedApp | None:
        digest = digest_key(self.secret_key, api_key)
        now = time.monotonic()
        cached = self._keys.get(digest)
        if cached is None or cached[0] < now:
            async with self.db.session() as session:
                row = (
                    await session.execute(
                        select(col(ApiKey.digest), col(ApiKey.app_id)).where(
                            col(ApiKey.digest) == digest,
                            col(ApiKey.revoked_at).is_(None),
                        )
                    )
                ).first()
            app_id = row.app_id if row is not None and digests_match(row.digest, digest) else None
            if len(self._keys) > 100_000:
                self._keys.clear()
            cached = (now + self.ttl, app_id)
            self._keys[digest] = cached
        if cached[1] is None:
            return None
        return await self.app(cached[1])

    async def app(self, app_id: str, session: AsyncSession | None = None) -> LoadedApp | None:
        now = time.monotonic()
        cached = self._apps.get(app_id)
        if cached is not None and cached[0] >= now:
            return cached[1]
        async with self.db.session() as own:
            app = await (session or own).get(App, app_id)
        loaded: LoadedApp | None = None
        if app is not None:
            try:
                config: AppConfig | None = AppConfig.from_model_config(app.app_model_config)
            except ValueError:
                config = None
            loaded = LoadedApp(app=app, config=config)
        self._apps[app_id] = (now + self.ttl, loaded)
        return loaded
