"""Sites: publish / disable (CLI), the cached lookups of the web request path, the site objects of
``/v1/site`` and ``/api/site``; and the saved messages of web end users."""

from __future__ import annotations

import secrets
import string
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, or_, select
from sqlalchemy.exc import IntegrityError
from sqlmodel import col

from inkwell.apps.models import App
from inkwell.completion.models import Message
from inkwell.db import Database, new_id, utcnow
from inkwell.errors import NotFound
from inkwell.files.models import MessageFile
from inkwell.sites.models import SavedMessage, Site

CODE_LENGTH = 16
_CODE_ALPHABET = string.ascii_letters + string.digits  # URL-safe as is, like the reference's codes


def generate_code() -> str:
    return "".join(secrets.choice(_CODE_ALPHABET) for _ in range(CODE_LENGTH))


def page_path(site: Site) -> str:
    return f"/completion/{site.code}"


# --------------------------------------------------------------------------------------------------
# publish / disable (the CLI)


async def publish(db: Database, app_id: str) -> Site:
    """Create the app's site, or re-enable it (keeping its code). Title, description and icon are taken
    from the app (its DSL ``app`` block) each time, so re-publishing after a re-import refreshes them."""
    for _ in range(5):  # a code collision (62^16) is retried with a new code
        async with db.session() as session:
            app = await session.get(App, app_id)
            if app is None:
                raise LookupError(f"no app with id {app_id}")
            site = (await session.execute(select(Site).where(col(Site.app_id) == app_id))).scalar_one_or_none()
            if site is None:
                site = Site(app_id=app_id, code=generate_code(), title=app.name)
                session.add(site)
            site.title = app.name
            site.description = app.description
            site.icon_type = app.icon_type
            site.icon = app.icon
            site.icon_background = app.icon_background
            site.enabled = True
            site.updated_at = utcnow()
            try:
                await session.commit()
            except IntegrityError:
                await session.rollback()
                continue
            return site
    raise RuntimeError("could not allocate a unique site code")  # pragma: no cover


async def disable(db: Database, app_id: str) -> Site:
    async with db.session() as session:
        site = (await session.execute(select(Site).where(col(Site.app_id) == app_id))).scalar_one_or_none()
        if site is None:
            raise LookupError(f"app {app_id} has no published site")
        site.enabled = False
        site.updated_at = utcnow()
        await session.commit()
        return site


# --------------------------------------------------------------------------------------------------
# the request path


class SiteCache:
    """Per-process cache of sites by code and by app (``ttl`` seconds, like the app cache): a disable
    is seen by every worker within ``ttl``."""

    def __init__(self, db: Database, ttl: float) -> None:
        self.db = db
        self.ttl = ttl
        self._by_code: dict[str, tuple[float, Site | None]] = {}
        self._by_app: dict[str, tuple[float, Site | None]] = {}

    async def by_code(self, code: str) -> Site | None:
        return await self._get(self._by_code, col(Site.code), code)

    async def by_app(self, app_id: str) -> Site | None:
        return await self._get(self._by_app, col(Site.app_id), app_id)

    async def _get(self, cache: dict[str, tuple[float, Site | None]], column: Any, value: str) -> Site | None:
        now = time.monotonic()
        cached = cache.get(value)
        if cached is not None and cached[0] >= now:
            return cached[1]
        async with self.db.session() as session:
            site = (await session.execute(select(Site).where(column == value))).scalar_one_or_none()
        if len(cache) > 100_000:
            cache.clear()
        cache[value] = (now + self.ttl, site)
        return site


def site_object(site: Site) -> dict[str, Any]:
    """The site fields of the reference (``/v1/site``; ``/api/site`` adds ``prompt_public``)."""
    return {
        "title": site.title,
        "chat_color_theme": site.chat_color_theme,
        "chat_color_theme_inverted": site.chat_color_theme_inverted,
        "icon_type": site.icon_type,
        "icon": site.icon,
        "icon_background": site.icon_background,
        "description": site.description,
        "copyright": site.copyright,
        "privacy_policy": site.privacy_policy,
        "custom_disclaimer": site.custom_disclaimer,
        "default_language": site.default_language,
        "show_workflow_steps": site.show_workflow_steps,
        "use_icon_as_answer_icon": site.use_icon_as_answer_icon,
        "icon_url": None,  # image icons (uploaded files) are not supported: emoji icons only
    }


def web_site_object(app: App, site: Site, end_user_id: str) -> dict[str, Any]:
    """``GET /api/site``: the app's page settings for the page itself."""
    return {
        "app_id": app.id,
        "end_user_id": end_user_id,
        "enable_site": app.enable_site and site.enabled,
        "site": {**site_object(site), "prompt_public": site.prompt_public},
        "model_config": None,
        "plan": "basic",
        "can_replace_logo": False,
        "custom_config": None,
    }


# --------------------------------------------------------------------------------------------------
# messages of one end user, saved messages


async def own_message(db: Database, *, app_id: str, end_user_id: str, message_id: str) -> Message:
    """The message if this end user of this app created it; 404 ``Message Not Exists.`` otherwise."""
    async with db.session() as session:
        message = (
            await session.execute(
                select(Message).where(
                    col(Message.id) == message_id,
                    col(Message.app_id) == app_id,
                    col(Message.end_user_id) == end_user_id,
                )
            )
        ).scalar_one_or_none()
    if message is None:
        raise NotFound("Message Not Exists.")
    return message


async def message_files(db: Database, message_ids: list[str]) -> dict[str, list[MessageFile]]:
    if not message_ids:
        return {}
    async with db.session() as session:
        rows = (
            await session.execute(
                select(MessageFile)
                .where(col(MessageFile.message_id).in_(message_ids))
                .order_by(col(MessageFile.created_at), col(MessageFile.id))
            )
        ).scalars()
        found: dict[str, list[MessageFile]] = {}
        for row in rows:
            found.setdefault(row.message_id, []).append(row)
    return found


def message_file_object(row: MessageFile) -> dict[str, Any]:
    """A file of a saved message, in the reference's ``message_files`` item shape."""
    return {
        "id": row.id,
        "filename": row.filename,
        "type": row.type,
        "url": row.url,
        "mime_type": row.mime_type,
        "size": row.size,
        "transfer_method": row.transfer_method,
        "belongs_to": row.belongs_to,
        "upload_file_id": row.upload_file_id,
    }


@dataclass(slots=True)
class SavedPage:
    messages: list[Message]
    files: dict[str, list[MessageFile]]
    has_more: bool


class SavedMessages:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def save(self, *, app_id: str, end_user_id: str, message_id: str) -> None:
        """Idempotent; only the end user's own messages of this app (404 otherwise)."""
        await own_message(self.db, app_id=app_id, end_user_id=end_user_id, message_id=message_id)
        values = {
            "id": new_id(),
            "app_id": app_id,
            "message_id": message_id,
            "created_by_end_user_id": end_user_id,
            "created_at": utcnow(),
        }
        insert = self.db.insert_into(SavedMessage)
        async with self.db.session() as session:
            await session.execute(insert.values(**values).on_conflict_do_nothing())
            await session.commit()

    async def delete(self, *, app_id: str, end_user_id: str, message_id: str) -> None:
        """Idempotent: removing what is not saved (or not yours) changes nothing."""
        async with self.db.session() as session:
            await session.execute(
                delete(SavedMessage).where(
                    col(SavedMessage.app_id) == app_id,
                    col(SavedMessage.created_by_end_user_id) == end_user_id,
                    col(SavedMessage.message_id) == message_id,
                )
            )
            await session.commit()

    async def page(self, *, app_id: str, end_user_id: str, last_id: str | None, limit: int) -> SavedPage:
        """The saved messages, newest message first; ``last_id`` (a message id from the previous page)
        continues after it. An unknown ``last_id`` is a 404."""
        mine = and_(
            col(SavedMessage.app_id) == app_id,
            col(SavedMessage.created_by_end_user_id) == end_user_id,
            col(Message.app_id) == app_id,
        )
        query = select(Message).join(SavedMessage, col(SavedMessage.message_id) == col(Message.id)).where(mine)
        async with self.db.session() as session:
            if last_id:
                cursor = (await session.execute(query.where(col(Message.id) == last_id))).scalar_one_or_none()
                if cursor is None:
                    raise NotFound("Last message not exists.")
                created: datetime = cursor.created_at
                query = query.where(
                    or_(
                        col(Message.created_at) < created,
                        and_(col(Message.created_at) == created, col(Message.id) < cursor.id),
                    )
                )
            rows = list(
                (
                    await session.execute(
                        query.order_by(col(Message.created_at).desc(), col(Message.id).desc()).limit(limit + 1)
                    )
                ).scalars()
            )
        has_more = len(rows) > limit
        rows = rows[:limit]
        return SavedPage(messages=rows, files=await message_files(self.db, [m.id for m in rows]), has_more=has_more)
