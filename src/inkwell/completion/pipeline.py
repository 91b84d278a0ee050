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
from inkwell.moderation.base import FALLBACK_PRESET, Moderation, ModerationAction, ModerationFailed, stats
from inkwell.moderation.guard import CHECK_EVERY_CHARS, OutputGuard
from inkwell.moderation.keywords import KeywordModeration
from inkwell.moderation.registry import ModerationRegistry
from inkwell.providers.base import LLMChunk, LLMRequest, ModelInfo, Provider, TokenCounts
from inkwell.providers.registry import ProviderRegistry
from inkwell.retrieval.service import RetrievalService, retriever_resources
from inkwell.tasks.registry import TaskHandle
from inkwell.tasks.service import TaskService

log = logging.getLogger(__name__)

_background: set[asyncio.Task[Any]] = set()
# citation ``retriever_from`` by where the request came from (reference §1.5)
_RETRIEVER_FROM = {"service-api": "api", "web-app": "web_app"}
OUTPUT_CHECK_CHARS = CHECK_EVERY_CHARS


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
    # the app's moderation (None: off). Keywords checked the inputs in ``prepare``; the I/O types check
    # them in ``run`` (``_moderate_inputs``); output moderation checks the answer every
    # OUTPUT_CHECK_CHARS new characters and at the end (moderation/guard.py)
    moderation: Moderation | None = None
    # images sent with the request, already checked and fetched (files/attach.py)
    attachments: list[Attachment] = field(default_factory=list)
    # citations of the retrieval stage (reference shape; empty unless ``retriever_resource.enabled``)
    retriever_resources: list[dict[str, Any]] = field(default_factory=list)
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


def rebuild_prompt(gen: Generation, context: str | None, *, query: str | None = None) -> None:
    """Build the prompt again from the generation's (possibly changed) inputs and query (or ``query``
    in its place), keeping the images already attached to its last user message."""
    old = gen.request.prompt
    prompt = build_prompt(gen.config, gen.inputs, gen.query if query is None else query, context=context)
    source = next((m for m in reversed(old.messages) if m.role == "user" and m.parts), None)
    target = next((m for m in reversed(prompt.messages) if m.role == "user"), None)
    if source is not None and target is not None:
        target.parts.extend(source.parts)
        target.labels.extend(source.labels)
    gen.request.prompt = prompt


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
        moderation: ModerationRegistry | None = None,
        retrieval: RetrievalService | None = None,
    ) -> None:
        self.providers = providers
        self.retrieval = retrieval
        self.moderation = moderation if moderation is not None else ModerationRegistry()
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
        moderation = self.moderation.for_app(config.sensitive_word_avoidance)
        # keywords need no I/O: checked here, so a hit needs no slot wait and no extra task
        preset = moderation.check_inputs(clean, query) if isinstance(moderation, KeywordModeration) else None
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
            moderation=moderation,
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
        guard: OutputGuard | None = None
        replaced: str | None = None

        try:
            try:
                await self._before_model(gen)
                guard = self._output_guard(gen)
                async with aclosing(self._source(gen)) as chunks:
                    iterator = aiter(chunks)
                    while not handle.stop_requested and (guard is None or guard.replacement is None):
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
                            if guard is not None:
                                guard.feed(chunk.texts)
                                if guard.replacement is not None:
                                    break  # nothing more is forwarded; leaving closes the upstream
                                override = guard.take_override()
                                if override is not None:  # an extension rewrote the answer so far
                                    yield MessageReplace(answer=override, reason="output_moderation")
                                    continue
                            yield MessageChunk(chunk.texts)
            except asyncio.CancelledError:
                if not handle.stop_requested and not (guard is not None and guard.interrupted):
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
            if guard is not None:
                replaced = guard.replacement
                # the final check over the whole answer; after a stop only the instant keyword check
                # (a stop must not wait for an extension)
                if replaced is None and failure is None and (status == "normal" or guard.inline is not None):
                    replaced = await guard.finish()
                guard.cancel()
            usage = self._usage(gen, answer, counts, first_token, cut_short=status != "normal" or replaced is not None)
            # set before the await: the shielded write is started at once and finishes even if we are
            # cancelled while it runs (client gone), so the finally must not write the row a second time
            finalized = True
            overridden = guard.answer() if guard is not None and replaced is None else None
            # the stored answer is the replacement (or the answer an extension rewrote)
            stored = [replaced] if replaced is not None else [overridden] if overridden is not None else answer
            await shielded(self._finish(gen, stored, usage, status, failure))
            if replaced is not None:
                yield MessageReplace(answer=replaced, reason="output_moderation")
            files = [a.record() for a in gen.attachments] or None
            yield (
                ErrorEvent(failure)
                if failure is not None
                else MessageEnd(usage=usage, retriever_resources=gen.retriever_resources, files=files)
            )
        finally:
            timer.cancel()
            if guard is not None:
                guard.cancel()  # a check still running is not wanted any more (stop, client gone)
            if not finalized:
                usage = self._usage(gen, answer, counts, first_token, cut_short=True)
                await shielded(self._finish(gen, answer, usage, "stopped", None))

    async def _before_model(self, gen: Generation) -> None:
        """The stages between the response opening and the model: input moderation by an extension
        (which may answer a preset or override the inputs), then dataset retrieval (which adds the
        context to the prompt). A failure here is an ``error`` event (blocking: the HTTP error)."""
        await self._moderate_inputs(gen)
        if gen.preset is None:
            await self._retrieve(gen)

    async def _moderate_inputs(self, gen: Generation) -> None:
        """Input moderation that needs I/O (``openai_moderation``, ``api``); keywords ran in ``prepare``.
        Fails closed: a check that cannot decide raises ``ModerationFailed`` (400 ``invalid_param``).
        A hit answers the preset instead of the model; ``overridden`` replaces the inputs and the query
        (the stored ones too, and the prompt is rebuilt from them) and generation goes on."""
        moderation = gen.moderation
        if (
            moderation is None
            or isinstance(moderation, KeywordModeration)
            or not moderation.inputs_enabled
            or gen.preset is not None
        ):
            return
        try:
            verdict = await moderation.moderate_inputs(gen.app_id, gen.inputs, gen.query)
        except ModerationFailed:
            stats.input_failures += 1
            raise
        if not verdict.flagged:
            return
        if verdict.action is ModerationAction.DIRECT_OUTPUT:
            gen.preset = verdict.preset_response or FALLBACK_PRESET
            return
        if verdict.inputs is not None:  # only the app's own variables; the rest keep their values
            gen.inputs = {**gen.inputs, **{k: v for k, v in verdict.inputs.items() if k in gen.inputs}}
        if verdict.query is not None:
            gen.query = strip_nul(verdict.query)
        rebuild_prompt(gen, context=None)

    def _output_guard(self, gen: Generation) -> OutputGuard | None:
        """Output moderation for this answer (not for an input preset, which is not the model's text)."""
        moderation = gen.moderation
        if moderation is None or not moderation.outputs_enabled or gen.preset is not None:
            return None
        handle = gen.handle

        def interrupt() -> bool:
            # a flagged verdict while the generation waits for the model: stop waiting at once (as a
            # stop does); otherwise it sees the verdict before forwarding its next chunk
            if handle.in_upstream and handle.task is not None and not handle.task.done():
                handle.task.cancel()
                return True
            return False

        return OutputGuard(moderation, gen.app_id, every=OUTPUT_CHECK_CHARS, on_flag=interrupt)

    async def _retrieve(self, gen: Generation) -> None:
        """Dataset retrieval for the apps whose ``dataset_configs`` name datasets (reference §6.2): the
        query is the ``dataset_query_variable`` input (else the request's query), and, as in the
        reference, that input's value also takes the query's place in the prompt. The context goes into
        the prompt (the context block, or ``{{#context#}}``); the hits become the citations when
        ``retriever_resource`` is enabled. Unknown, deleted or empty datasets are skipped (logged)."""
        config = gen.config.retrieval
        if config is None or self.retrieval is None:
            return
        query = gen.query
        variable = gen.config.dataset_query_variable
        if variable:
            value = gen.inputs.get(variable)
            query = "" if value is None else str(value)
        # None: no dataset available, so no context block (as when the app has none)
        found = await self.retrieval.retrieve(config, query)
        if found is None and not variable:
            return
        rebuild_prompt(gen, context=found.context if found else None, query=query if variable else None)
        if found is not None and gen.config.retriever_resource.enabled:
            source = _RETRIEVER_FROM.get(gen.invoke_from, "dev")
            gen.retriever_resources = retriever_resources(found.hits, retriever_from=source)

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
                metadata={
                    "usage": usage.as_dict(),
                    "retriever_resources": gen.retriever_resources,
                    "annotation_reply": None,
                },
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
