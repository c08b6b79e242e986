"""Sealed chat references of tipsters who opted in to updates: apart from tips, nothing beside them that
is derived from the chat, and deletable. A chat's links are found by unsealing (a handful per tip)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from tipline.storage.ports import SealedLink
from tipline.storage.sqlite.base import Repository
from tipline.storage.sqlite.codec import ts


class SqliteSubscriptions(Repository):
    async def add(self, tip_id: int, sealed_ref: bytes, now: datetime) -> None:
        await self._run(
            "INSERT INTO subscriptions (tip_id, sealed_ref, created_at) VALUES (?, ?, ?)", (tip_id, sealed_ref, ts(now))
        )

    async def for_tip(self, tip_id: int) -> list[SealedLink]:
        rows = await self._all("SELECT id, tip_id, sealed_ref FROM subscriptions WHERE tip_id = ? ORDER BY id", (tip_id,))
        return [SealedLink(row[0], row[1], bytes(row[2])) for row in rows]

    async def all(self) -> list[SealedLink]:
        rows = await self._all("SELECT id, tip_id, sealed_ref FROM subscriptions ORDER BY id")
        return [SealedLink(row[0], row[1], bytes(row[2])) for row in rows]

    async def remove(self, link_ids: Sequence[int]) -> int:
        removed = 0
        for link_id in link_ids:
            removed += await self._run("DELETE FROM subscriptions WHERE id = ?", (link_id,))
        return removed

    async def forget_tip(self, tip_id: int) -> int:
        return await self._run("DELETE FROM subscriptions WHERE tip_id = ?", (tip_id,))

    async def forget_closed(self, closed_before: datetime) -> int:
        return await self._run(
            "DELETE FROM subscriptions WHERE tip_id IN "
            "(SELECT id FROM tips WHERE closed_at IS NOT NULL AND closed_at < ?)",
            (ts(closed_before),),
        )
