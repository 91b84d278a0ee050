"""The tasks running in this process, so a stop can reach the generation it names."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass


@dataclass(slots=True)
class TaskHandle:
    task_id: str
    app_id: str
    end_user_id: str
    task: asyncio.Task[object] | None = None
    stop_requested: bool = False
    # True while the generation awaits the model: only then is cancelling it the way to stop it;
    # otherwise it sees ``stop_requested`` before its next read.
    in_upstream: bool = False
    holds_slot: bool = False
    claimed: bool = False  # its ownership key was written to the shared state
    released: bool = False

    def request_stop(self) -> None:
        if self.stop_requested:
            return
        self.stop_requested = True
        if self.in_upstream and self.task is not None and not self.task.done():
            self.task.cancel()


class TaskRegistry:
    def __init__(self) -> None:
        self._tasks: dict[str, TaskHandle] = {}

    def register(self, handle: TaskHandle) -> None:
        self._tasks[handle.task_id] = handle

    def unregister(self, task_id: str) -> None:
        self._tasks.pop(task_id, None)

    def get(self, task_id: str) -> TaskHandle | None:
        return self._tasks.get(task_id)

    def ids(self) -> list[str]:
        return list(self._tasks)

    def handles(self) -> Iterator[TaskHandle]:
        return iter(list(self._tasks.values()))

    def __len__(self) -> int:
        return len(self._tasks)
