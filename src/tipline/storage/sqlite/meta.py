"""Facts about the database itself (the fingerprint of the server secret it was written with)."""

from __future__ import annotations

from tipline.storage.sqlite.base import Repository


class SqliteMeta(Repository):
    async def get(self, key: str) -> str | None:
        row = await self._one("SELECT value FROM meta WHERE key = ?", (key,))
        return str(row[0]) if row else None

    async def set(self, key: str, value: str) -> None:
        await self._run(
            "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, value),
        )
