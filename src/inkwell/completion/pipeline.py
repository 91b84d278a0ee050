"""The generation pipeline: one async generator that yields typed events, top to bottom.

    validate inputs -> build prompt -> stream the model -> usage and prices -> finalize the row

``prepare`` does everything that can fail before a response opens (those failures are plain HTTP
errors); ``run`` streams. The row is written in every outcome - normal end, stop, time limit, error,
client gone - and that write is shielded from cancellation.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncGenerator, Coroutine
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Any

from inkwell.apps.config import AppConfig
from inkwell.completion.events import ErrorEvent, Event, MessageChunk, MessageEnd, MessageReplace
from inkwell.completion.inputs import strip_nul, validate_inputs
from inkwell.completion.prompt import build_prompt
from inkwell.completion.service import MessageStore
from inkwell.completion.usage import Usage
from inkwell.db import new_id, utcnow
from inkwell.errors import InkwellError, InternalServerError
from inkwell.files.attach import Attachment
from inkwell.moderation.keywords import KeywordModeration
from inkwell.providers.base import LLMChunk, LLMRequest, ModelInfo, Provider, TokenCounts
from inkwell.providers.registry import ProviderRegistry
from inkwell.tasks.registry import TaskHandle
from inkwell.tasks.service import TaskService

log = logging.getLogger(__name__)

_background: set[asyncio.Task[Any]] = set()
OUTPUT_CHECK_CHARS = 300


async def shielded(coro: Coroutine[Any, Any, None]) -> None:
    """Run ``coro`` to completion even if the caller is cancelled meanwhile (it finishes alone)."""
    task = asyncio.ensure_future(coro)
    _background.add(task)
    task.add_done_callback(_background.discard)
    await asyncio.shield(task)


async def drain_background(grace: float) -> None:
    """Wait for shielded writes still running (graceful shutdown)."""
    if _background:
        await asyncio.wait(list(_background), timeout=grace)


@dataclass(slots=True)
class Generation:
    """Everything one task needs, decided before the response opens."""

    app_id: str
    end_user_id: str
    invoke_from: str
    config: AppConfig
    inputs: dict[str, Any]
    query: str
    provider: Provider
    model: ModelInfo
    request: LLMRequest
    task_id: str = field(default_factory=new_id)
    message_id: str = field(default_factory=new_id)
    created: Any = field(default_factory=utcnow)
    started: float = field(default_factory=time.perf_counter)
    # input moderation's preset response: the whole answer, and the model is not called
    preset: str | None = None
    # output moderation: checks the answer every OUTPUT_CHECK_CHARS new characters and at the end
    output_moderation: KeywordModeration | None = None
    # images sent with the request, already checked and fetched (files/attach.py)
    attachments: list[Attachment] = field(default_factory=list)
    handle: TaskHandle = field(init=False)
    # set once ``run`` has begun: from then on it finalizes the row and releases the task itself
    running: bool = False

    def __post_init__(self) -> None:
        self.handle = TaskHandle(task_id=self.task_id, app_id=self.app_id, end_user_id=self.end_user_id)

    def set_end_user(self, end_user_id: str) -> None:
        self.end_user_id = end_user_id
        self.handle.end_user_id = end_user_id

    @property
    def created_at(self) -> int:
        return int(self.created.timestamp())


async def _preset(text: str) -> AsyncGenerator[LLMChunk, None]:
    """A moderation preset in place of the model: the whole answer at once, no tokens used."""
    yield LLMChunk(texts=[text], usage=TokenCounts(prompt_tokens=0, completion_tokens=0))


def _stop_sequences(params: dict[str, Any]) -> list[str]:
    stop = params.get("stop")
    if isinstance(stop, str):
        return [stop] if stop else []
    if isinstance(stop, list):
        return [s for s in stop if isinstance(s, str) and s][:4]
    return []


class CompletionPipeline:
    def __init__(
        self,
        *,
        providers: ProviderRegistry,
        store: MessageStore,
        tasks: TaskService,
        max_execution_time: float,
    ) -> None:
        self.providers = providers
        self.store = store
        self.tasks = tasks
        self.max_execution_time = max_execution_time

    def prepare(
        self,
        *,
        app_id: str,
        end_user_id: str,
        invoke_from: str,
        config: AppConfig,
        inputs: dict[str, Any],
        query: str,
    ) -> Generation:
        """Validate and plan one generation; raises the SPEC §5 error for what is wrong."""
        query = strip_nul(query)
        clean = validate_inputs(config.user_input_form, inputs, query)
        moderation = KeywordModeration.of(config.sensitive_word_avoidance)
        preset = moderation.check_inputs(clean, query) if moderation is not None else None
        output_moderation = moderation if moderation is not None and moderation.outputs_preset else None
        provider, model = self.providers.resolve(config.model)
        prompt = build_prompt(config, clean, query, context=None)
        params = dict(config.model.completion_params)
        request = LLMRequest(
            model=config.model.name,
            mode=config.model.mode,
            prompt=prompt,
            params=params,
            stop=_stop_sequences(params),
        )
        return Generation(
            app_id=app_id,
            end_user_id=end_user_id,
            invoke_from=invoke_from,
            config=config,
            inputs=clean,
            query=query,
            provider=provider,
            model=model,
            request=request,
            preset=preset,
            output_moderation=output_moderation,
        )

    async def run(self, gen: Generation) -> AsyncGenerator[Event, None]:
        gen.running = True
        handle = gen.handle
        handle.task = asyncio.current_task()
        timer = asyncio.get_running_loop().call_later(self.max_execution_time, handle.request_stop)
        answer: list[str] = []
        counts: TokenCounts | None = None
        first_token: float | None = None
        status = "normal"
        failure: InkwellError | None = None
        finalized = False
        moderation = gen.output_moderation
        replaced: str | None = None
        length = checked = 0

        try:
            try:
                async with aclosing(self._source(gen)) as chunks:
                    iterator = aiter(chunks)
                    while not handle.stop_requested:
                        handle.in_upstream = True
                        try:
                            chunk: LLMChunk = await anext(iterator)
                        except StopAsyncIteration:
                            break
                        finally:
                            handle.in_upstream = False
                        if chunk.usage is not None:
                            counts = chunk.usage
                        if chunk.texts:
                            if first_token is None:
                                first_token = time.perf_counter()
                            answer.extend(chunk.texts)
                            if moderation is not None:
                                length += sum(len(t) for t in chunk.texts)
                                if length - checked >= OUTPUT_CHECK_CHARS:
                                    checked = length
                                    replaced = moderation.check_output("".join(answer))
                                    if replaced is not None:
                                        break  # nothing more is forwarded; leaving closes the upstream
                            yield MessageChunk(chunk.texts)
            except asyncio.CancelledError:
                if not handle.stop_requested:
                    raise  # the client is gone: the finally below saves what we have
                task = asyncio.current_task()
                if task is not None:
                    task.uncancel()
            except InkwellError as exc:
                status, failure = "error", exc
            except Exception:
                log.exception("generation %s failed", gen.task_id)
                status, failure = "error", InternalServerError()
            if handle.stop_requested and status == "normal":
                status = "stopped"
            if moderation is not None and replaced is None and failure is None:
                replaced = moderation.check_output("".join(answer))
            usage = self._usage(gen, answer, counts, first_token, cut_short=status != "normal" or replaced is not None)
            # set before the await: the shielded write is started at once and finishes even if we are
            # cancelled while it runs (client gone), so the finally must not write the row a second time
            finalized = True
            stored = answer if replaced is None else [replaced]  # the stored answer is the replacement
            await shielded(self._finish(gen, stored, usage, status, failure))
            if replaced is not None:
                yield MessageReplace(answer=replaced, reason="output_moderation")
            files = [a.record() for a in gen.attachments] or None
            yield ErrorEvent(failure) if failure is not None else MessageEnd(usage=usage, files=files)
        finally:
            timer.cancel()
            if not finalized:
                usage = self._usage(gen, answer, counts, first_token, cut_short=True)
                await shielded(self._finish(gen, answer, usage, "stopped", None))

    def _source(self, gen: Generation) -> AsyncGenerator[LLMChunk, None]:
        return gen.provider.stream(gen.request) if gen.preset is None else _preset(gen.preset)

    async def abandon(self, gen: Generation) -> None:
        """For a generation admitted but never run (its client left before the first read): release the
        task and record the message, so neither a slot nor a row is lost."""
        if gen.running:
            return
        gen.running = True
        usage = self._usage(gen, [], None, None, cut_short=True)
        await shielded(self._finish(gen, [], usage, "stopped", None))

    async def _finish(
        self, gen: Generation, answer: list[str], usage: Usage, status: str, failure: InkwellError | None
    ) -> None:
        try:
            await self._save(gen, answer, usage, status, failure)
        finally:
            await self.tasks.release(gen.handle)

    def _usage(
        self,
        gen: Generation,
        answer: list[str],
        counts: TokenCounts | None,
        first_token: float | None,
        *,
        cut_short: bool,
    ) -> Usage:
        now = time.perf_counter()
        if counts is None or (cut_short and counts.completion_tokens == 0 and answer):
            counts = gen.provider.count_tokens(gen.request, "".join(answer))
        return Usage(
            prompt_tokens=counts.prompt_tokens,
            completion_tokens=counts.completion_tokens,
            pricing=gen.model.pricing,
            latency=round(now - gen.started, 6),
            time_to_first_token=round(first_token - gen.started, 6) if first_token is not None else None,
            time_to_generate=round(now - first_token, 6) if first_token is not None else None,
        )

    async def _save(
        self, gen: Generation, answer: list[str], usage: Usage, status: str, failure: InkwellError | None
    ) -> None:
        try:
            await self.store.save(
                message_id=gen.message_id,
                task_id=gen.task_id,
                app_id=gen.app_id,
                end_user_id=gen.end_user_id,
                invoke_from=gen.invoke_from,
                model_provider=gen.config.model.provider,
                model_id=gen.config.model.name,
                inputs=gen.inputs,
                query=gen.query,
                prompt=gen.request.prompt.as_json(),
                answer="".join(answer),
                usage=usage,
                status=status,
                error=failure.message if failure is not None else None,
                created_at=gen.created,
                metadata={"usage": usage.as_dict(), "retriever_resources": [], "annotation_reply": None},
                files=[
                    {
                        "id": new_id(),
                        "message_id": gen.message_id,
                        "app_id": gen.app_id,
                        "type": "image",
                        "transfer_method": a.transfer_method,
                        "upload_file_id": a.upload_file_id,
                        "url": a.url,
                        "filename": a.filename,
                        "extension": a.extension,
                        "mime_type": a.mime_type,
                        "size": len(a.data),
                        "belongs_to": "user",
                        "created_at": gen.created,
                    }
                    for a in gen.attachments
                ],
            )
        except Exception:
            log.exception("could not save message %s of task %s", gen.message_id, gen.task_id)
            raise
