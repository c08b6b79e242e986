"""Where each tip's card was posted, as the channel names it."""

from __future__ import annotations

import aiosqlite

from tipline.delivery.model import Address, Sent
from tipline.staff.model import CardPlacement
from tipline.storage.sqlite.base import Repository


def _placement(row: aiosqlite.Row) -> CardPlacement:
    address = Address(row["channel"], row["chat"], row["thread"])
    return CardPlacement(row["tip_id"], row["audience"], Sent(address, row["message"]), row["digest"])


class SqliteCards(Repository):
    async def get(self, tip_id: int, audience: str) -> CardPlacement | None:
        row = await self._one("SELECT * FROM cards WHERE tip_id = ? AND audience = ?", (tip_id, audience))
        return _placement(row) if row else None

    async def at(self, sent: Sent) -> CardPlacement | None:
        row = await self._one(
            "SELECT * FROM cards WHERE channel = ? AND chat = ? AND message = ?",
            (sent.address.channel, sent.address.chat, sent.message),
        )
        return _placement(row) if row else None

    async def save(self, placement: CardPlacement) -> None:
        address = placement.sent.address
        await self._run(
            "INSERT INTO cards (tip_id, audience, channel, chat, thread, message, digest) VALUES (?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (tip_id, audience) DO UPDATE SET channel = excluded.channel, chat = excluded.chat, "
            "thread = excluded.thread, message = excluded.message, digest = excluded.digest",
            (placement.tip_id, placement.audience, address.channel, address.chat, address.thread,
             placement.sent.message, placement.digest),
        )
