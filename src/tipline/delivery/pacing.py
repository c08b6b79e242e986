"""Pacing sends to a channel's global limit, with the people talking to the bot first.

One limiter per channel, shared by two kinds of traffic:

- **priority** (answers to citizens, staff messages): ``await priority()`` before each send. It goes at once
  while the channel's one-second budget has room, and otherwise takes the very next free slot, before any
  campaign message (in practice one campaign interval: a thirtieth of a second at 30 a second, a millisecond
  at 1,000), never waiting more than ``priority_wait``. Without that, a reply sent into a full second would
  draw a 429 and wait a whole second. When no slot can free up within ``priority_wait`` (the replies alone
  fill the second: a burst of citizens), waiting could not bring the send under the limit, only make the
  citizen wait: it goes at once.
- **bulk** (campaigns): ``await acquire()`` waits for room, spaced evenly (a short catch-up after a stall,
  never a burst of a whole window), and yields to any priority send that is waiting.

A send counts from the moment it starts, for a window, and longer when its answer was late: the channel
counted it somewhere on its round trip, and a request held up on the way (a busy machine, a stalled network,
the channel's own backlog) reaches the channel's count later than the others, which is what would push a
second over the limit. So a send counts until one second after its answer, less the shortest round trip seen
lately (the part of the trip every request makes); while it has no answer, it counts. Each send must be
closed with ``done()`` (``slot()`` does it).
``share(n)``: when ``n`` processes send campaigns on one channel (several workers on one database), each takes
an ``n``-th of the bulk budget, so that together they keep to the channel's one limit.
``pause(seconds)`` stops bulk sending for as long as the channel asked (a 429's retry_after): one answer from
the channel holds back every bulk sender at once.
"""

from __future__ import annotations

import asyncio
import bisect
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager


class Pace:
    def __init__(
        self,
        rate: float,
        *,
        reserve: int = 0,
        window: float = 1.0,
        margin: float = 0.005,
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
        self.shared_by = 1
        self.channel_window = window
        self.window = window * (1 + margin)
        self.interval = self.window / self.bulk_limit
        self.catch_up = catch_up  # seconds of sends that may go at once after a stall
        self.priority_wait = priority_wait
        self.monotonic = monotonic
        self.sleep = sleep
        # when each answered send stops counting, in order (sends end nearly in order: an insertion is a
        # step or two from the end; the k-th to end is read by index, not by sorting the window's sends)
        self._expiries: list[float] = []
        self._in_flight = 0  # sends without an answer yet: they count until then
        self._starts: list[float] = []  # their starts, in order: none stops counting before a window after it
        self._next = 0.0
        self._paused_until = 0.0
        # the shortest round trip in the last second and this one (the part of a trip every request makes);
        # zero until a whole second was measured: the first sends, which also open connections, count longest
        self._rtt_second = -1
        self._rtt_min = [0.0, float("inf")]
        self._waiting = 0  # priority sends waiting for a free slot: bulk yields to them
        self.bulk_sent = 0
        self.priority_sent = 0

    # --- counting ------------------------------------------------------------------------------------------

    def _count(self, now: float) -> int:
        expiries = self._expiries
        if expiries and expiries[0] <= now:
            del expiries[: bisect.bisect_right(expiries, now)]
        return len(expiries) + self._in_flight

    def _free_at(self, now: float, limit: int) -> float:
        """When the count drops below ``limit`` at the earliest (a millisecond from now while it depends on
        sends still in flight)."""
        over = self._count(now) - limit  # how many must stop counting first
        if over < 0:
            return now
        if over == 0 and self._expiries:
            return self._expiries[0]
        if over < len(self._expiries):
            return self._expiries[over]
        return now + 0.001

    def _may_free_by(self, moment: float, limit: int) -> bool:
        """Whether the count can drop below ``limit`` by ``moment``: enough answered sends stop counting by
        then, or sends in flight that started a window before it (the earliest one of them can stop)."""
        over = self._count(self.monotonic()) - limit
        ending = bisect.bisect_right(self._expiries, moment) + bisect.bisect_right(self._starts, moment - self.window)
        return ending > over

    def _start(self) -> float:
        self._in_flight += 1
        started = self.monotonic()
        bisect.insort(self._starts, started)
        return started

    def done(self, started: float) -> None:
        """A send got its answer (or failed): it counts for a window from its start, and until a second after
        its answer less the usual round trip (longer when it was held up on the way)."""
        self._in_flight -= 1
        index = bisect.bisect_left(self._starts, started)
        if index < len(self._starts) and self._starts[index] == started:
            del self._starts[index]
        now = self.monotonic()
        rtt = now - started
        second = int(now)
        if second != self._rtt_second:
            last = self._rtt_min[1] if second == self._rtt_second + 1 else 0.0  # after a silence: measure afresh
            self._rtt_min = [last, float("inf")]
            self._rtt_second = second
        self._rtt_min[1] = min(self._rtt_min[1], rtt)
        usual = min(min(self._rtt_min), rtt)
        bisect.insort(self._expiries, max(started + self.window, now + self.channel_window - usual))

    # --- priority --------------------------------------------------------------------------------------------

    async def priority(self) -> float:
        """Before a priority send: at once if the window has room, else the next free slot (before any bulk
        send) when one frees up within ``priority_wait`` seconds, else at once. Returns the start, for
        ``done()``."""
        now = self.monotonic()
        # (a microsecond more: a slot that frees just as the wait would end is still worth the wait)
        if self._count(now) >= self.limit and self._may_free_by(now + self.priority_wait + 1e-6, self.limit):
            deadline = now + self.priority_wait
            self._waiting += 1
            try:
                while self._count(now) >= self.limit and now < deadline:
                    await self.sleep(max(0.0, min(self._free_at(now, self.limit), deadline) - now))
                    now = self.monotonic()
            finally:
                self._waiting -= 1
        self.priority_sent += 1
        return self._start()

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """A priority send: ``async with pace.slot(): await send()``."""
        started = await self.priority()
        try:
            yield
        finally:
            self.done(started)

    # --- bulk ------------------------------------------------------------------------------------------------

    def share(self, senders: int) -> int:
        """This process's part of the bulk budget while ``senders`` processes send at once; returns it."""
        self.shared_by = max(1, senders)
        self.bulk_limit = max(1, (self.limit - self.reserve) // self.shared_by)
        self.interval = self.window / self.bulk_limit
        return self.bulk_limit

    def pause(self, seconds: float) -> None:
        """The channel asked to wait: no bulk send before then."""
        self._paused_until = max(self._paused_until, self.monotonic() + seconds)

    @property
    def paused_for(self) -> float:
        return max(0.0, self._paused_until - self.monotonic())

    def delay(self) -> float:
        """Seconds until a bulk send may go (0: now)."""
        now = self.monotonic()
        if now < self._paused_until:
            return self._paused_until - now
        waits = [self._next - now, 0.001 if self._waiting else 0.0, self._free_at(now, self.bulk_limit) - now]
        return max(0.0, *waits)

    async def acquire(self) -> float:
        """Waits until a bulk send may go; returns its start, for ``done()`` when its answer comes."""
        while True:
            wait = self.delay()
            if wait <= 0:
                break
            await self.sleep(wait)
        now = self.monotonic()
        self._next = max(self._next, now - self.catch_up) + self.interval
        self.bulk_sent += 1
        return self._start()
