"""Sealed chat references of tipsters who opted in to updates: apart from tips, and deletable."""

from __future__ import annotations

from datetime import datetime

from tipline.storage.sqlite.base import Repository
from tipline.storage.sqlite.codec import ts


class SqliteSubscriptions(Repository):
    async def add(self, tip_id: int, chat_key: str, sealed_ref: bytes, now: datetime) -> None:
        await self._run(
            "INSERT OR IGNORE INTO subscriptions (tip_id, chat_key, sealed_ref, created_at) VALUES (?, ?, ?, ?)",
            (tip_id, chat_key, sealed_ref, ts(now)),
        )

    async def for_tip(self, tip_id: int) -> list[bytes]:
        return [bytes(row[0]) for row in await self._all("SELECT sealed_ref FROM subscriptions WHERE tip_id = ?", (tip_id,))]

    async def tips_for_chat(self, chat_key: str) -> list[int]:
        return [int(row[0]) for row in await self._all("SELECT tip_id FROM subscriptions WHERE chat_key = ?", (chat_key,))]

    async def forget_tip(self, tip_id: int) -> int:
        return await self._run("DELETE FROM subscriptions WHERE tip_id = ?", (tip_id,))

    async def forget_closed(self, closed_before: datetime) -> int:
        return await self._run(
            "DELETE FROM subscriptions WHERE tip_id IN "
            "(SELECT id FROM tips WHERE closed_at IS NOT NULL AND closed_at < ?)",
            (ts(closed_before),),
        )

    async def forget_chat(self, chat_key: str) -> int:
        return await self._run("DELETE FROM subscriptions WHERE chat_key = ?", (chat_key,))
