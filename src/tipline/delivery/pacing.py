"""Pacing bulk sends to a channel's global limit, with the people talking to the bot first.

One limiter per channel, shared by two kinds of traffic:

- **priority** (answers to citizens, staff messages): ``spend()`` records a send and never waits;
- **bulk** (campaigns): ``await acquire()`` waits for room.

Room for a bulk send means: in the last window, fewer than ``rate`` sends of either kind *minus a reserve*
(``reserve`` sends per window are left for priority traffic, so a reply that comes while a campaign runs at
full speed still fits under the channel's limit instead of drawing a 429), and bulk sends spaced evenly (a
short catch-up after a stall, never a burst of a whole window). The window is a little longer than the
channel's one second, so sends that reach the channel a few milliseconds late or early still fit its count.
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
        reserve: int = 1,
        window: float = 1.0,
        margin: float = 0.01,
        catch_up: float = 0.02,
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
        self.monotonic = monotonic
        self.sleep = sleep
        self._sent: deque[float] = deque()
        self._next = 0.0
        self._paused_until = 0.0
        self.bulk_sent = 0
        self.priority_sent = 0

    def spend(self) -> None:
        """A priority send happened now: it counts against the window, bulk waits for it, it never waits."""
        self._sent.append(self.monotonic())
        self.priority_sent += 1

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
        waits = [self._next - now]
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
