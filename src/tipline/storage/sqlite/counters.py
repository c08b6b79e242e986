"""Fixed-window counters that expire: flood control and rate limits."""

from __future__ import annotations

from datetime import datetime

from tipline.storage.sqlite.base import Repository


class SqliteCounters(Repository):
    async def hit(self, key: str, window_seconds: int, now: datetime, amount: int = 1) -> int:
        """Adds ``amount`` to the current window of ``key`` and returns the window's total."""
        window = int(now.timestamp()) // window_seconds
        row = await self._one(
            "INSERT INTO counters (key, window, count, expires_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (key, window) DO UPDATE SET count = count + excluded.count RETURNING count",
            (key, window, amount, (window + 1) * window_seconds),
        )
        return int(row[0]) if row else amount

    async def peek(self, key: str, window_seconds: int, now: datetime) -> int:
        window = int(now.timestamp()) // window_seconds
        row = await self._one("SELECT count FROM counters WHERE key = ? AND window = ?", (key, window))
        return int(row[0]) if row else 0

    async def purge(self, now: datetime) -> int:
        return await self._run("DELETE FROM counters WHERE expires_at <= ?", (int(now.timestamp()),))
