"""One call in flight per key: concurrent callers asking for the same thing share one answer.

    flights = SingleFlight()
    digest = await flights.run(("library/app", "v1"), lambda: origin.resolve_tag(...))

The first caller starts the call as a task; callers arriving while it runs await the same
task and get its result or its exception. A caller that is cancelled (its client went away)
leaves the call running for the others (`asyncio.shield`). Once done, the key is free again:
nothing is cached here.
"""
from __future__ import annotations

import asyncio
from typing import Awaitable, Callable, Hashable, TypeVar

T = TypeVar("T")


class SingleFlight:
    def __init__(self) -> None:
        self._calls: dict[Hashable, asyncio.Task] = {}

    async def run(self, key: Hashable, call: Callable[[], Awaitable[T]]) -> T:
        task = self._calls.get(key)
        if task is None:
            task = asyncio.ensure_future(call())
            self._calls[key] = task
            task.add_done_callback(lambda done: self._done(key, done))
        return await asyncio.shield(task)

    def running(self, key: Hashable) -> bool:
        """Whether a call for `key` is in flight (a caller now would join it)."""
        return key in self._calls

    def _done(self, key: Hashable, task: asyncio.Task) -> None:
        if self._calls.get(key) is task:
            del self._calls[key]
        if not task.cancelled():
            task.exception()  # retrieved: no "exception was never retrieved" when every caller left
