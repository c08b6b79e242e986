"""The campaign senders delivering now, so that processes split one global send rate."""

from __future__ import annotations

from datetime import datetime

from tipline.storage.sqlite.base import Repository
from tipline.storage.sqlite.codec import ts


class SqliteSendShares(Repository):
    async def beat(self, owner: str, channel: str, now: datetime, since: datetime) -> int:
        await self._run(
            "INSERT INTO send_shares (owner, channel, seen_at) VALUES (?, ?, ?) "
            "ON CONFLICT (owner) DO UPDATE SET channel = excluded.channel, seen_at = excluded.seen_at",
            (owner, channel, ts(now)),
        )
        await self._run("DELETE FROM send_shares WHERE seen_at < ?", (ts(since),))
        row = await self._one("SELECT COUNT(*) FROM send_shares WHERE channel = ?", (channel,))
        return max(1, int(row[0]) if row else 1)

    async def leave(self, owner: str) -> None:
        await self._run("DELETE FROM send_shares WHERE owner = ?", (owner,))

    async def owners(self, channel: str) -> list[str]:
        return [str(row[0]) for row in await self._all("SELECT owner FROM send_shares WHERE channel = ?", (channel,))]
