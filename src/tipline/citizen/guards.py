"""Limits that protect citizens and the line itself: flooding, and guessing passphrases.

Counted in memory where a row would sit next to a pseudonym (a stolen database then shows nothing of
when a chat was active). A tip code's wrong passphrases from anywhere are kept in the database under a
keyed hash of the code: they slow guessing down more and more, and never lock the right passphrase out.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from datetime import datetime, timedelta


class FloodGate:
    """Messages per chat per minute."""

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self._windows: dict[str, tuple[int, int, bool]] = {}  # pseudonym -> (window, count, told)

    def hit(self, pseudonym: str, now: datetime) -> tuple[bool, bool]:
        """(over the limit, already told in this window)."""
        window = int(now.timestamp()) // 60
        last, count, told = self._windows.get(pseudonym, (window, 0, False))
        if last != window:
            count, told = 0, False
            if len(self._windows) > 10_000:  # forget other chats' old windows now and then
                self._windows = {p: w for p, w in self._windows.items() if w[0] >= window - 1}
        count += 1
        over = count > self.per_minute
        self._windows[pseudonym] = (window, count, told or over)
        return over, told


class SlidingWindow:
    """Events per key within the last ``window``: no edge where a fixed window would let a burst through."""

    MAX_KEYS = 10_000  # kept in memory before old keys are swept

    def __init__(self, limit: int, window: timedelta) -> None:
        self.limit = limit
        self.window = window
        self._events: dict[object, deque[datetime]] = {}

    def _recent(self, key: object, now: datetime) -> deque[datetime]:
        events = self._events.get(key)
        if events is None:
            return deque()
        while events and events[0] <= now - self.window:
            events.popleft()
        if not events:
            self._events.pop(key, None)
        return events

    def count(self, key: object, now: datetime) -> int:
        return len(self._recent(key, now))

    def free_at(self, key: object, now: datetime) -> datetime | None:
        """When the next event is allowed again, or None when it is allowed now."""
        events = self._recent(key, now)
        return events[0] + self.window if len(events) >= self.limit else None

    def add(self, key: object, now: datetime) -> int:
        events = self._recent(key, now)
        events.append(now)
        self._events[key] = events
        if len(self._events) > self.MAX_KEYS:  # forget keys whose events all lie outside the window
            self._events = {k: e for k, e in self._events.items() if e and e[-1] > now - self.window}
        return len(events)


@dataclass(frozen=True)
class Slowdown:
    """A code's wrong passphrases from anywhere: each adds one, one fades every ``fade``; past ``free``,
    every try must wait twice as long as the one before (up to ``longest``)."""

    free: int = 10
    fade: timedelta = timedelta(minutes=3)
    longest: timedelta = timedelta(minutes=15)

    def level(self, stored: tuple[float, datetime] | None, now: datetime) -> float:
        if stored is None:
            return 0.0
        level, since = stored
        return max(0.0, level - (now - since) / self.fade)

    def wait(self, stored: tuple[float, datetime] | None, now: datetime) -> timedelta:
        """How long from now until this code may be tried again (zero: now)."""
        if stored is None:
            return timedelta(0)
        level = self.level(stored, now)
        if level <= self.free:
            return timedelta(0)
        delay = min(timedelta(seconds=2 ** min(level - self.free, 20)), self.longest)
        return max(timedelta(0), stored[1] + delay - now)
