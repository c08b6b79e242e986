"""Conversation state by pseudonym (never a chat id), kept until it expires."""

from __future__ import annotations

from datetime import datetime

from tipline.storage.ports import StoredSession
from tipline.storage.sqlite.base import Repository
from tipline.storage.sqlite.codec import dt, ts


class SqliteSessions(Repository):
    async def load(self, pseudonym: str) -> StoredSession | None:
        row = await self._one("SELECT state, updated_at FROM sessions WHERE pseudonym = ?", (pseudonym,))
        return StoredSession(row["state"], dt(row["updated_at"])) if row else None

    async def save(self, pseudonym: str, state: str, now: datetime, keep_until: datetime) -> None:
        await self._run(
            "INSERT INTO sessions (pseudonym, state, updated_at, expires_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (pseudonym) DO UPDATE SET state = excluded.state, "
            "updated_at = excluded.updated_at, expires_at = excluded.expires_at",
            (pseudonym, state, ts(now), ts(keep_until)),
        )

    async def delete(self, pseudonym: str) -> None:
        await self._run("DELETE FROM sessions WHERE pseudonym = ?", (pseudonym,))

    async def expire_drafts(self, idle_since: datetime) -> int:
        return await self._run(
            "UPDATE sessions SET state = json_set(json_remove(state, '$.draft'), '$.screen', 'menu', "
            "'$.draft_expired', json('true')) "
            "WHERE json_extract(state, '$.draft') IS NOT NULL AND updated_at < ?",
            (ts(idle_since),),
        )

    async def purge(self, now: datetime) -> int:
        return await self._run("DELETE FROM sessions WHERE expires_at < ?", (ts(now),))

    async def with_sealed(self) -> list[str]:
        rows = await self._all("SELECT pseudonym FROM sessions WHERE json_extract(state, '$.sealed') IS NOT NULL")
        return [row[0] for row in rows]

    async def set_state(self, pseudonym: str, state: str) -> None:
        await self._run("UPDATE sessions SET state = ? WHERE pseudonym = ?", (state, pseudonym))

    async def count(self) -> int:
        row = await self._one("SELECT COUNT(*) FROM sessions")
        return int(row[0]) if row else 0
