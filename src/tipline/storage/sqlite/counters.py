"""Fixed-window counters that expire: flood control and rate limits."""

from __future__ import annotations

import sqlite3
from datetime import datetime

from tipline.storage.sqlite.base import Repository

_HIT = (
    "INSERT INTO counters (key, window, count, expires_at) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (key, window) DO UPDATE SET count = count + excluded.count RETURNING count"
)


def _hit_params(key: str, window_seconds: int, now: datetime, amount: int) -> tuple[object, ...]:
    window = int(now.timestamp()) // window_seconds
    return (key, window, amount, (window + 1) * window_seconds)


def hit_now(db: sqlite3.Connection, key: str, window_seconds: int, now: datetime, amount: int = 1) -> int:
    """``SqliteCounters.hit`` inside a transaction run in the connection's thread."""
    row = db.execute(_HIT, _hit_params(key, window_seconds, now, amount)).fetchone()
    return int(row[0]) if row else amount


class SqliteCounters(Repository):
    async def hit(self, key: str, window_seconds: int, now: datetime, amount: int = 1) -> int:
        """Adds ``amount`` to the current window of ``key`` and returns the window's total."""
        row = await self._one(_HIT, _hit_params(key, window_seconds, now, amount))
        return int(row[0]) if row else amount

    async def peek(self, key: str, window_seconds: int, now: datetime) -> int:
        window = int(now.timestamp()) // window_seconds
        row = await self._one("SELECT count FROM counters WHERE key = ? AND window = ?", (key, window))
        return int(row[0]) if row else 0

    async def purge(self, now: datetime) -> int:
        return await self._run("DELETE FROM counters WHERE expires_at <= ?", (int(now.timestamp()),))
