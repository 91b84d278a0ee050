"""Output moderation of one answer while it streams, without stalling the stream.

``feed`` takes each chunk of model text. Every ``every`` (300) new characters the answer so far is
checked: keywords inline (no I/O), the other types in a background task while tokens keep flowing -
one check at a time; the next starts once it is done and enough new text has come. A verdict is
applied when it arrives:

* flagged ``direct_output``: ``replacement`` is set (the pipeline forwards no more model text and
  closes the upstream) and ``on_flag`` is called, so a generation waiting for the model is woken at
  once instead of at its next token;
* flagged ``overridden``: the checked part of the answer is replaced by the extension's text; the
  pipeline announces the new whole answer (``take_override``) and goes on streaming after it.

``finish`` is the final check over the whole answer, awaited. A check that fails is logged and
counted (``stats.output_failures``) and the answer passes (fail open, as the reference does).
``cancel`` drops a check still running (stop, disconnect, end).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from inkwell.moderation.base import Moderation, ModerationAction, ModerationFailed, OutputVerdict, stats
from inkwell.moderation.keywords import KeywordModeration

log = logging.getLogger(__name__)

CHECK_EVERY_CHARS = 300  # the reference's MODERATION_BUFFER_SIZE


class OutputGuard:
    def __init__(
        self,
        moderation: Moderation,
        app_id: str,
        *,
        every: int = CHECK_EVERY_CHARS,
        on_flag: Callable[[], bool] | None = None,
    ) -> None:
        self.moderation = moderation
        self.app_id = app_id
        self.every = every
        self.on_flag = on_flag
        self.inline = moderation if isinstance(moderation, KeywordModeration) else None
        self.raw: list[str] = []  # the model's text
        self.length = 0
        self.checked = 0  # length of the model's text when the last check started
        self.prefix: str | None = None  # overridden text standing for the model's first ``covered`` chars
        self.covered = 0
        self.pending: asyncio.Task[None] | None = None
        self.replacement: str | None = None  # a direct_output verdict: the whole answer from now on
        self.interrupted = False  # on_flag woke the generation (it cancelled its wait for the model)
        self._announce = False

    def visible(self) -> str:
        """The answer as the client has it: the overridden text, then the model's text after it."""
        text = "".join(self.raw)
        return text if self.prefix is None else self.prefix + text[self.covered :]

    def answer(self) -> str | None:
        """The answer to store when an override changed it, else None (the model's text stands)."""
        return None if self.prefix is None else self.visible()

    def feed(self, texts: list[str]) -> None:
        self.raw.extend(texts)
        self.length += sum(len(t) for t in texts)
        if self.replacement is not None or self.length - self.checked < self.every:
            return
        if self.inline is not None:
            self.checked = self.length
            preset = self.inline.check_output(self.visible())
            if preset is not None:
                self.replacement = preset
        elif self.pending is None:
            self.checked = self.length
            self.pending = asyncio.get_running_loop().create_task(self._check(self.visible(), self.length))
            self.pending.add_done_callback(self._done)

    def take_override(self) -> str | None:
        """The new whole answer after an ``overridden`` verdict, once (None when there is nothing new)."""
        if not self._announce:
            return None
        self._announce = False
        return self.visible()

    async def finish(self) -> str | None:
        """The final check over the whole answer; the text that replaces the answer, or None."""
        self.cancel()
        if self.replacement is not None:
            return self.replacement
        verdict = await self._moderate(self.visible())
        return verdict.replacement() if verdict is not None else None

    def cancel(self) -> None:
        if self.pending is not None and not self.pending.done():
            self.pending.cancel()
        self.pending = None

    async def _moderate(self, text: str) -> OutputVerdict | None:
        stats.output_checks += 1
        try:
            return await self.moderation.moderate_output(self.app_id, text)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            stats.output_failures += 1
            log.warning(
                "output moderation failed, the answer passes: %s", exc, exc_info=not isinstance(exc, ModerationFailed)
            )
            return None

    async def _check(self, text: str, at: int) -> None:
        verdict = await self._moderate(text)
        if verdict is None or not verdict.flagged or self.replacement is not None:
            return
        replacement = verdict.replacement()
        if verdict.action is ModerationAction.OVERRIDDEN and verdict.text is not None:
            self.prefix, self.covered = verdict.text, at
            self._announce = True
        elif replacement is not None:
            self.replacement = replacement
            if self.on_flag is not None:
                self.interrupted = self.on_flag()

    def _done(self, task: asyncio.Task[None]) -> None:
        if self.pending is task:
            self.pending = None
