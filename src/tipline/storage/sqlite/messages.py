"""The anonymous two-way channel's messages: the team's questions and news, the tipster's answers."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import aiosqlite

from tipline.staff.model import TipMessage
from tipline.storage.sqlite.base import Repository
from tipline.storage.sqlite.codec import dt, opt_dt, ts


def _message(row: aiosqlite.Row) -> TipMessage:
    return TipMessage(
        row["id"], row["tip_id"], row["direction"], row["text"], dt(row["created_at"]), opt_dt(row["delivered_at"])
    )


class SqliteTipMessages(Repository):
    async def add(self, tip_id: int, direction: str, text: str, now: datetime) -> int:
        return await self._insert(
            "INSERT INTO tip_messages (tip_id, direction, text, created_at) VALUES (?, ?, ?, ?)",
            (tip_id, direction, text, ts(now)),
        )

    async def get(self, message_id: int) -> TipMessage | None:
        row = await self._one("SELECT * FROM tip_messages WHERE id = ?", (message_id,))
        return _message(row) if row else None

    async def to_tipster(self, tip_id: int) -> list[TipMessage]:
        rows = await self._all(
            "SELECT * FROM tip_messages WHERE tip_id = ? AND direction = 'to_tipster' ORDER BY id", (tip_id,)
        )
        return [_message(row) for row in rows]

    async def for_tip(self, tip_id: int) -> list[TipMessage]:
        rows = await self._all("SELECT * FROM tip_messages WHERE tip_id = ? ORDER BY id", (tip_id,))
        return [_message(row) for row in rows]

    async def mark_delivered(self, message_ids: Sequence[int], now: datetime) -> None:
        await self._many(
            "UPDATE tip_messages SET delivered_at = ? WHERE id = ? AND delivered_at IS NULL",
            [(ts(now), mid) for mid in message_ids],
        )
