"""The per-process runtime: every long-lived object a request needs, built once at start-up."""

from __future__ import annotations

import asyncio
import contextlib

from inkwell.apps.service import AppCache
from inkwell.audio.service import AudioService
from inkwell.completion.delivery import stop_at_end_of_grace
from inkwell.completion.pipeline import CompletionPipeline, drain_background
from inkwell.completion.service import MessageStore
from inkwell.db import Database
from inkwell.endusers.service import EndUserService
from inkwell.files.fetch import SafeFetcher
from inkwell.files.s3 import S3Storage
from inkwell.files.service import FileService
from inkwell.files.storage import LocalStorage, Storage, megabytes
from inkwell.moderation.registry import ModerationRegistry
from inkwell.providers.registry import ProviderRegistry
from inkwell.providers.tokenizer import warm as warm_tokenizer
from inkwell.retrieval.service import RetrievalService
from inkwell.settings import Settings
from inkwell.sites.service import SavedMessages, SiteCache
from inkwell.tasks.service import TaskService


def make_storage(settings: Settings) -> Storage:
    if settings.storage_backend == "s3":
        return S3Storage(
            endpoint_url=str(settings.s3_endpoint_url),
            bucket=str(settings.s3_bucket),
            access_key=str(settings.s3_access_key_id),
            secret_key=str(settings.s3_secret_access_key),
            region=settings.s3_region,
            prefix=settings.s3_prefix,
        )
    return LocalStorage(settings.storage_dir)


class Runtime:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.db = Database(settings.database_url)
        self.apps = AppCache(self.db, settings.secret_key, settings.api_key_cache_seconds)
        self.end_users = EndUserService(self.db)
        self.sites = SiteCache(self.db, settings.api_key_cache_seconds)
        self.saved_messages = SavedMessages(self.db)
        self.providers = ProviderRegistry(settings)
        self.tasks = TaskService(
            redis_url=settings.redis_url,
            redis_timeout=settings.redis_timeout,
            redis_max_connections=settings.redis_max_connections,
            lease_seconds=settings.slot_lease_seconds,
            poll_interval=settings.stop_poll_interval,
        )
        self.store = MessageStore(self.db)
        self.retrieval = RetrievalService(self.db)
        self.files = FileService(
            self.db,
            make_storage(settings),
            image_limit_bytes=megabytes(settings.upload_image_file_size_limit),
        )
        self.fetcher = SafeFetcher(
            allow_loopback=settings.ssrf_allow_loopback,
            max_bytes=megabytes(settings.upload_image_file_size_limit),
            timeout=settings.remote_fetch_timeout,
        )
        self.audio = AudioService.from_settings(settings, self.providers, self.db)
        self.pipeline = CompletionPipeline(
            providers=self.providers,
            store=self.store,
            tasks=self.tasks,
            max_execution_time=settings.app_max_execution_time,
            moderation=ModerationRegistry.from_settings(settings, self.providers),
            retrieval=self.retrieval,
        )

    def start(self) -> None:
        """Background work of this process: task maintenance (Redis) and the shutdown watcher."""
        self.tasks.start()
        if self.providers.uses_tokenizer:
            # the first cut-short stream would otherwise pay for loading the vocabularies (~0.5 s)
            asyncio.get_running_loop().run_in_executor(None, warm_tokenizer)
        self._shutdown_watcher = asyncio.get_running_loop().create_task(
            stop_at_end_of_grace(self.tasks, self.settings.shutdown_grace_seconds)
        )

    async def aclose(self) -> None:
        watcher = getattr(self, "_shutdown_watcher", None)
        if watcher is not None:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
        # anything still running now is stopped the normal way before the process goes
        self.tasks.stop_all()
        await drain_background(self.settings.shutdown_grace_seconds)
        await self.store.aclose()
        await self.retrieval.aclose()  # the hit counts still in memory
        close_storage = getattr(self.files.storage, "aclose", None)
        if close_storage is not None:
            await close_storage()
        await self.tasks.aclose()
        await self.audio.aclose()
        await self.providers.aclose()
        await self.db.dispose()
