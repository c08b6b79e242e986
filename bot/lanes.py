"""Updates processed in the background, one chat at a time: what lets a webhook answer at once and a long
poll fetch the next update while the last one is still being handled.

A job goes into a *lane* (one per chat): the jobs of one lane run one after another, in the order they were
given, so a citizen's messages are never handled out of order; jobs of different lanes run side by side, at
most ``concurrency`` at once; at most ``capacity`` wait, beyond which ``submit`` refuses (the webhook then
answers 503 and the platform sends the update again later). Lane names live only in memory.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)

Job = Callable[[], Awaitable[None]]


class Lanes:
    def __init__(self, concurrency: int = 64, capacity: int = 10_000) -> None:
        self.capacity = capacity
        self._slots = asyncio.Semaphore(concurrency)
        self._lanes: dict[str, deque[Job]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._pending = 0
        self._idle = asyncio.Event()
        self._idle.set()

    @property
    def pending(self) -> int:
        """Jobs given and not finished yet (waiting or running)."""
        return self._pending

    def submit(self, lane: str, job: Job) -> bool:
        """Queues ``job`` behind the other jobs of ``lane``; False (and nothing queued) when full."""
        if self._pending >= self.capacity:
            return False
        self._pending += 1
        self._idle.clear()
        queue = self._lanes.get(lane)
        if queue is None:
            queue = self._lanes[lane] = deque()
            task = asyncio.create_task(self._drain(lane, queue), name="tipline-lane")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        queue.append(job)
        return True

    async def _drain(self, lane: str, queue: deque[Job]) -> None:
        try:
            while queue:
                job = queue.popleft()
                try:
                    async with self._slots:
                        await job()
                except asyncio.CancelledError:
                    raise
                except Exception:  # one broken update must not stop the chat's next ones
                    log.exception("an update could not be processed")
                finally:
                    self._finished()
        finally:
            if self._lanes.get(lane) is queue:
                del self._lanes[lane]
            for _job in queue:  # cancelled with jobs still waiting: they will not run
                self._finished()
            queue.clear()

    def _finished(self) -> None:
        self._pending -= 1
        if self._pending <= 0:
            self._pending = 0
            self._idle.set()

    async def join(self) -> None:
        """Waits until every job given so far has finished."""
        await self._idle.wait()

    async def close(self, timeout: float = 10.0) -> None:
        """Lets the running and waiting jobs finish for up to ``timeout`` seconds, then cancels the rest."""
        try:
            await asyncio.wait_for(self.join(), timeout)
        except TimeoutError:
            log.warning("%d update(s) still being processed at shutdown were cancelled", self._pending)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
