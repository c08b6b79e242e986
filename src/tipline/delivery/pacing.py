"""Pacing sends to a channel's global limit, with the people talking to the bot first.

One limiter per channel, shared by two kinds of traffic:

- **priority** (answers to citizens, staff messages): ``await priority()`` before each send. It goes at once
  while the channel's one-second budget has room, and otherwise takes the very next free slot, before any
  campaign message (in practice one campaign interval: a thirtieth of a second at 30 a second, a millisecond
  at 1,000), never waiting more than ``priority_wait``. Without that, a reply sent into a full second would
  draw a 429 and wait a whole second.
- **bulk** (campaigns): ``await acquire()`` waits for room, spaced evenly (a short catch-up after a stall,
  never a burst of a whole window), and yields to any priority send that is waiting.

The window is a little longer than the channel's one second (``margin``), so sends that reach the channel a
few milliseconds late or early (the machine was busy, the channel's own counter lagged) still fit its count.
``pause(seconds)`` stops bulk sending for as long as the channel asked (a 429's retry_after): one answer from
the channel holds back every bulk sender at once.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable


class Pace:
    def __init__(
        self,
        rate: float,
        *,
        reserve: int = 0,
        window: float = 1.0,
        margin: float = 0.02,
        priority_wait: float = 0.1,
        catch_up: float = 0.005,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        if rate <= 0:
            raise ValueError("the rate must be positive")
        self.rate = rate
        self.limit = max(1, int(rate * window))
        self.reserve = min(reserve, self.limit - 1)
        self.bulk_limit = self.limit - self.reserve
        self.window = window * (1 + margin)
        self.interval = self.window / self.bulk_limit
        self.catch_up = catch_up  # seconds of sends that may go at once after a stall
        self.priority_wait = priority_wait
        self.monotonic = monotonic
        self.sleep = sleep
        self._sent: deque[float] = deque()
        self._next = 0.0
        self._paused_until = 0.0
        self._waiting = 0  # priority sends waiting for a free slot: bulk yields to them
        self.bulk_sent = 0
        self.priority_sent = 0

    def spend(self) -> None:
        """A priority send happened now: it counts against the window; bulk waits for it."""
        self._sent.append(self.monotonic())
        self.priority_sent += 1

    async def priority(self) -> None:
        """Before a priority send: at once if the window has room, else the next free slot (before any bulk
        send), at most ``priority_wait`` seconds; then it is counted."""
        now = self.monotonic()
        self._trim(now)
        if len(self._sent) >= self.limit:
            deadline = now + self.priority_wait
            self._waiting += 1
            try:
                while len(self._sent) >= self.limit and now < deadline:
                    free = self._sent[len(self._sent) - self.limit] + self.window
                    await self.sleep(max(0.0, min(free, deadline) - now))
                    now = self.monotonic()
                    self._trim(now)
            finally:
                self._waiting -= 1
        self.spend()

    def pause(self, seconds: float) -> None:
        """The channel asked to wait: no bulk send before then."""
        self._paused_until = max(self._paused_until, self.monotonic() + seconds)

    @property
    def paused_for(self) -> float:
        return max(0.0, self._paused_until - self.monotonic())

    def _trim(self, now: float) -> None:
        horizon = now - self.window
        while self._sent and self._sent[0] <= horizon:
            self._sent.popleft()

    def delay(self) -> float:
        """Seconds until a bulk send may go (0: now)."""
        now = self.monotonic()
        if now < self._paused_until:
            return self._paused_until - now
        self._trim(now)
        waits = [self._next - now, 0.001 if self._waiting else 0.0]
        if len(self._sent) >= self.bulk_limit:
            waits.append(self._sent[len(self._sent) - self.bulk_limit] + self.window - now)
        return max(0.0, *waits)

    async def acquire(self) -> None:
        """Waits until a bulk send may go, and counts it."""
        while True:
            wait = self.delay()
            if wait <= 0:
                break
            await self.sleep(wait)
        now = self.monotonic()
        self._sent.append(now)
        self._next = max(self._next, now - self.catch_up) + self.interval
        self.bulk_sent += 1
