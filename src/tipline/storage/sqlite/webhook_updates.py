"""Keys of the webhook updates already taken in: a redelivered update is recognised and skipped."""

from __future__ import annotations

from datetime import datetime

from tipline.storage.sqlite.base import Repository
from tipline.storage.sqlite.codec import ts


class SqliteWebhookUpdates(Repository):
    async def first_time(self, key: str, now: datetime) -> bool:
        changed = await self._run(
            "INSERT INTO webhook_updates (key, seen_at) VALUES (?, ?) ON CONFLICT (key) DO NOTHING", (key, ts(now))
        )
        return changed == 1

    async def purge(self, before: datetime) -> int:
        return await self._run("DELETE FROM webhook_updates WHERE seen_at < ?", (ts(before),))

    async def count(self) -> int:
        row = await self._one("SELECT COUNT(*) FROM webhook_updates")
        return int(row[0]) if row else 0
