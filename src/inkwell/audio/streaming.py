"""Speech while the answer streams (SPEC §6 step 9): ``tts_message`` events between the message events.

The wrapper reads the pipeline's events in the caller's task (a stop still cancels the upstream read
there) and passes every event on at once; the text is cut into sentences (``text.py``) and each is
synthesized in a task of its own, at most ``concurrency`` at a time. Audio leaves in sentence order as
``tts_message`` (base64 MP3), ahead of the next event once it is ready (as the reference interleaves
it); after ``message_end`` the last sentences are synthesized and sent, then ``tts_message_end``.

* Stop (or the time limit): nothing more is synthesized; ``message_end`` is followed at once by
  ``tts_message_end``, and synthesis still running is cancelled.
* Client gone (the generator is closed or cancelled): every synthesis task is cancelled.
* ``message_replace``: audio not yet sent is dropped and the replacement is spoken instead.
* ``error``: synthesis is cancelled and the error ends the stream (no ``tts_message_end``, as no
  ``message_end``).
* A synthesis that fails does not touch the text: the failure is logged, no more audio is made for
  this answer, and ``tts_message_end`` still closes the audio.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
from collections import deque
from collections.abc import AsyncGenerator, Awaitable, Callable
from contextlib import aclosing

from inkwell.audio.text import SentenceSplitter
from inkwell.completion.events import (
    ErrorEvent,
    Event,
    MessageChunk,
    MessageEnd,
    MessageReplace,
    TtsMessage,
    TtsMessageEnd,
)

log = logging.getLogger(__name__)

# a sentence shorter than this waits for the next one (fewer, less choppy clips)
MIN_SENTENCE_CHARS = 12
MAX_SENTENCE_CHARS = 400


class _Speaker:
    """The ordered sentences of one answer and their synthesis tasks."""

    def __init__(self, synthesize: Callable[[str], Awaitable[bytes]], concurrency: int) -> None:
        self.synthesize = synthesize
        self.concurrency = concurrency
        self.queue: deque[str | asyncio.Task[bytes]] = deque()
        self.failed = False

    def add(self, sentences: list[str]) -> None:
        if self.failed:
            return
        self.queue.extend(sentences)
        self._schedule()

    def _schedule(self, _done: object = None) -> None:
        if self.failed:
            return
        running = sum(1 for item in self.queue if isinstance(item, asyncio.Task) and not item.done())
        for i, item in enumerate(self.queue):
            if running >= self.concurrency:
                break
            if isinstance(item, str):
                task = asyncio.ensure_future(self.synthesize(item))
                task.add_done_callback(self._schedule)
                self.queue[i] = task
                running += 1

    def _take(self, task: asyncio.Task[bytes]) -> TtsMessage | None:
        try:
            audio = task.result()
        except asyncio.CancelledError:
            return None
        except Exception:
            log.warning("speech synthesis failed; no more audio for this answer", exc_info=True)
            self.cancel()
            self.failed = True
            return None
        return TtsMessage(audio=base64.b64encode(audio).decode("ascii")) if audio else None

    def ready(self) -> list[TtsMessage]:
        """The audio that is ready, in order, up to the first sentence still being synthesized."""
        out: list[TtsMessage] = []
        while self.queue and isinstance(self.queue[0], asyncio.Task) and self.queue[0].done():
            message = self._take(self.queue.popleft())  # type: ignore[arg-type]
            if message is not None:
                out.append(message)
        self._schedule()
        return out

    async def rest(self) -> AsyncGenerator[TtsMessage, None]:
        """All remaining audio, in order, waiting for each sentence."""
        while self.queue:
            self._schedule()
            head = self.queue[0]
            if isinstance(head, str):  # cannot happen: the first sentence waiting is always started
                break
            await asyncio.wait({head})
            self.queue.popleft()
            message = self._take(head)
            if message is not None:
                yield message

    def cancel(self) -> list[asyncio.Task[bytes]]:
        tasks = [item for item in self.queue if isinstance(item, asyncio.Task)]
        for task in tasks:
            task.cancel()
        self.queue.clear()
        return tasks


async def speak_while_streaming(
    events: AsyncGenerator[Event, None],
    *,
    synthesize: Callable[[str], Awaitable[bytes]],
    concurrency: int,
    stopped: Callable[[], bool],
) -> AsyncGenerator[Event, None]:
    """``events`` with ``tts_message`` events for its text and a closing ``tts_message_end``.

    ``synthesize`` turns one sentence into MP3 bytes (``b""``: nothing to say); ``stopped`` tells
    whether the generation was stopped (then the rest of the answer is not spoken)."""
    speaker = _Speaker(synthesize, concurrency)
    splitter = SentenceSplitter(min_chars=MIN_SENTENCE_CHARS, max_chars=MAX_SENTENCE_CHARS)
    try:
        async with aclosing(events):
            async for event in events:
                for message in speaker.ready():
                    yield message
                if isinstance(event, MessageChunk):
                    speaker.add(splitter.feed("".join(event.texts)))
                elif isinstance(event, MessageReplace):
                    speaker.cancel()
                    splitter.reset()
                    speaker.add(splitter.feed(event.answer))
                elif isinstance(event, MessageEnd):
                    yield event
                    if stopped():
                        speaker.cancel()
                    else:
                        speaker.add(splitter.flush())
                        async for message in speaker.rest():
                            yield message
                    yield TtsMessageEnd()
                    continue
                elif isinstance(event, ErrorEvent):
                    speaker.cancel()
                yield event
    finally:
        tasks = speaker.cancel()
        if tasks:
            # let each cancelled synthesis see its cancellation (the embedded engine aborts on it)
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait(tasks)
