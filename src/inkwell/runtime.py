"""The per-process runtime: every long-lived object a request needs, built once at start-up."""

from __future__ import annotations

from inkwell.apps.service import AppCache
from inkwell.completion.pipeline import CompletionPipeline, drain_background
from inkwell.completion.service import MessageStore
from inkwell.db import Database
from inkwell.endusers.service import EndUserService
from inkwell.providers.registry import ProviderRegistry
from inkwell.settings import Settings
from inkwell.tasks.registry import TaskRegistry


class Runtime:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.db = Database(settings.database_url)
        self.apps = AppCache(self.db, settings.secret_key, settings.api_key_cache_seconds)
        self.end_users = EndUserService(self.db)
        self.providers = ProviderRegistry(settings)
        self.tasks = TaskRegistry()
        self.store = MessageStore(self.db)
        self.pipeline = CompletionPipeline(
            providers=self.providers,
            store=self.store,
            tasks=self.tasks,
            max_execution_time=settings.app_max_execution_time,
        )

    async def aclose(self) -> None:
        await drain_background(self.settings.shutdown_grace_seconds)
        await self.providers.aclose()
        await self.db.dispose()
