"""Prompts the bot sent to staff and units, kept so a reply is matched to the very message it answers."""

from __future__ import annotations

from datetime import datetime

from tipline.delivery.model import Address, Sent
from tipline.staff.model import Prompt
from tipline.storage.sqlite.base import Repository
from tipline.storage.sqlite.codec import dt, opt_dt, ts


class SqlitePrompts(Repository):
    async def add(
        self, sent: Sent, action: str, tip_id: int, actor_role: str, actor_id: int, now: datetime, expires: datetime
    ) -> int:
        address = sent.address
        return await self._insert(
            "INSERT INTO prompts (channel, chat, message, thread, action, tip_id, actor_role, actor_id, created_at, "
            "expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (address.channel, address.chat, sent.message, address.thread, action, tip_id, actor_role, actor_id,
             ts(now), ts(expires)),
        )

    async def at(self, sent: Sent) -> Prompt | None:
        row = await self._one(
            "SELECT * FROM prompts WHERE channel = ? AND chat = ? AND message = ?",
            (sent.address.channel, sent.address.chat, sent.message),
        )
        if row is None:
            return None
        address = Address(row["channel"], row["chat"], row["thread"])
        return Prompt(
            id=row["id"], sent=Sent(address, row["message"]), action=row["action"], tip_id=row["tip_id"],
            actor_role=row["actor_role"], actor_id=row["actor_id"], expires_at=dt(row["expires_at"]),
            used_at=opt_dt(row["used_at"]),
        )

    async def use(self, prompt_id: int, now: datetime) -> bool:
        return await self._run("UPDATE prompts SET used_at = ? WHERE id = ? AND used_at IS NULL", (ts(now), prompt_id)) == 1

    async def purge(self, now: datetime) -> int:
        return await self._run("DELETE FROM prompts WHERE expires_at < ?", (ts(now),))
