"""One run of a coroutine at a time for everyone who asks meanwhile."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable


class OneAtATime:
    """Runs ``job`` when asked, unless a run is under way: then the caller waits for that run. Those who wait
    resume in the order they asked (the waiters of one future are woken in order), so a caller that came
    first is never overtaken by one that came later, as two separate runs could."""

    def __init__(self, job: Callable[[], Awaitable[None]]) -> None:
        self.job = job
        self._running: asyncio.Future[None] | None = None

    async def __call__(self) -> None:
        if self._running is None:
            self._running = asyncio.ensure_future(self.job())
            self._running.add_done_callback(self._done)
        await self._running

    def _done(self, _finished: asyncio.Future[None]) -> None:
        self._running = None
