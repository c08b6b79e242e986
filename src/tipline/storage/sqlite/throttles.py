"""Slowdowns that decay with time, keyed by a keyed hash (a tip code's wrong passphrases from anywhere)."""

from __future__ import annotations

from datetime import datetime

from tipline.storage.sqlite.base import Repository
from tipline.storage.sqlite.codec import dt, ts


class SqliteThrottles(Repository):
    async def get(self, key: str) -> tuple[float, datetime] | None:
        row = await self._one("SELECT level, updated_at FROM throttles WHERE key = ?", (key,))
        return (float(row[0]), dt(row[1])) if row else None

    async def set(self, key: str, level: float, now: datetime) -> None:
        await self._run(
            "INSERT INTO throttles (key, level, updated_at) VALUES (?, ?, ?) "
            "ON CONFLICT (key) DO UPDATE SET level = excluded.level, updated_at = excluded.updated_at",
            (key, level, ts(now)),
        )

    async def purge(self, idle_since: datetime) -> int:
        return await self._run("DELETE FROM throttles WHERE updated_at < ?", (ts(idle_since),))
