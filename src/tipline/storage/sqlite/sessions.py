"""Conversation state by pseudonym (never a chat id), kept until it expires.

Two ways in: ``SqliteSessions``, the repository of a unit of work (purging, ``/forget``), and
``SqliteSessionStore``, the path of every message. The store keeps the states it read and wrote in
memory, keyed by pseudonym and bounded (least recently used go first), and writes through the group
writer (``group.py``): states that arrive while a group is being written wait for the next one, which
commits them (with any tips filed meanwhile) in one transaction and one sync to disk
(``synchronous=FULL``). Each caller returns only once the transaction holding its state committed, so an
answered step is durable as before; under load, many chats share the cost of one commit instead of each
paying its own.

The database stays the source of truth: what a unit of work changes (``delete``, ``expire_drafts``,
``purge``) is dropped from memory, so the next ``load`` reads it again; on restart memory is empty.
Another process writing sessions while the bot runs (``tipline purge`` by hand) is not seen until the
state leaves memory; what it changes (drafts idle for a day, settings silent for a month) is checked
again by the service on the next message anyway.
"""

from __future__ import annotations

import sqlite3
from collections import OrderedDict
from datetime import datetime

import aiosqlite

from tipline.storage.ports import StoredSession
from tipline.storage.sqlite.base import Repository, StorageLock
from tipline.storage.sqlite.codec import dt, ts
from tipline.storage.sqlite.group import GroupWriter

_LOAD = "SELECT state, updated_at FROM sessions WHERE pseudonym = ?"
_SAVE = (
    "INSERT INTO sessions (pseudonym, state, updated_at, expires_at) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (pseudonym) DO UPDATE SET state = excluded.state, "
    "updated_at = excluded.updated_at, expires_at = excluded.expires_at"
)
CACHED_SESSIONS = 10_000  # states kept in memory (about 1 KB each)


class SqliteSessionStore:
    """The sessions of every message: a bounded write-through cache, written with group commit."""

    def __init__(
        self, conn: aiosqlite.Connection, lock: StorageLock, writer: GroupWriter, capacity: int = CACHED_SESSIONS
    ) -> None:
        self.conn = conn
        self._lock = lock  # the storage's: no unit of work changes the row while it is read
        self._writer = writer
        self.capacity = capacity
        self._cache: OrderedDict[str, StoredSession | None] = OrderedDict()  # None: no row

    async def load(self, pseudonym: str) -> StoredSession | None:
        if pseudonym in self._cache:
            self._cache.move_to_end(pseudonym)
            return self._cache[pseudonym]
        async with self._lock.first():  # a chat is waiting for it
            row = next(iter(await self.conn.execute_fetchall(_LOAD, (pseudonym,))), None)
            stored = StoredSession(row["state"], dt(row["updated_at"])) if row else None
            self._remember(pseudonym, stored)  # under the lock: a unit of work cannot change it meanwhile
        return stored

    async def save(self, pseudonym: str, state: str, now: datetime, keep_until: datetime) -> None:
        """Returns once the state is committed (with whatever else shares the transaction)."""
        row = (pseudonym, state, ts(now), ts(keep_until))

        def write(db: sqlite3.Connection) -> None:
            db.execute(_SAVE, row)

        try:
            # Remembered right after the commit, before any unit of work could change the row.
            await self._writer.run(write, lambda _: self._remember(pseudonym, StoredSession(state, dt(row[2]))))
        except BaseException:
            self._cache.pop(pseudonym, None)  # read again from the database next time
            raise

    def cached(self) -> int:
        """How many states are held in memory."""
        return len(self._cache)

    def forget(self, pseudonym: str) -> None:
        self._cache.pop(pseudonym, None)

    def forget_all(self) -> None:
        self._cache.clear()

    def _remember(self, pseudonym: str, stored: StoredSession | None) -> None:
        self._cache[pseudonym] = stored
        self._cache.move_to_end(pseudonym)
        while len(self._cache) > self.capacity:
            self._cache.popitem(last=False)


class SqliteSessions(Repository):
    def __init__(self, conn: aiosqlite.Connection, store: SqliteSessionStore | None = None) -> None:
        super().__init__(conn)
        self.store = store

    async def load(self, pseudonym: str) -> StoredSession | None:
        row = await self._one(_LOAD, (pseudonym,))
        return StoredSession(row["state"], dt(row["updated_at"])) if row else None

    async def save(self, pseudonym: str, state: str, now: datetime, keep_until: datetime) -> None:
        if self.store is not None:
            self.store.forget(pseudonym)  # read again once this unit of work is over
        await self._run(_SAVE, (pseudonym, state, ts(now), ts(keep_until)))

    async def delete(self, pseudonym: str) -> None:
        if self.store is not None:
            self.store.forget(pseudonym)
        await self._run("DELETE FROM sessions WHERE pseudonym = ?", (pseudonym,))

    async def expire_drafts(self, idle_since: datetime) -> int:
        if self.store is not None:
            self.store.forget_all()
        return await self._run(
            "UPDATE sessions SET state = json_set(json_remove(state, '$.draft'), '$.screen', 'menu', "
            "'$.draft_expired', json('true')) "
            "WHERE json_extract(state, '$.draft') IS NOT NULL AND updated_at < ?",
            (ts(idle_since),),
        )

    async def purge(self, now: datetime) -> int:
        if self.store is not None:
            self.store.forget_all()
        return await self._run("DELETE FROM sessions WHERE expires_at < ?", (ts(now),))

    async def with_sealed(self) -> list[str]:
        rows = await self._all("SELECT pseudonym FROM sessions WHERE json_extract(state, '$.sealed') IS NOT NULL")
        return [row[0] for row in rows]

    async def set_state(self, pseudonym: str, state: str) -> None:
        if self.store is not None:
            self.store.forget(pseudonym)
        await self._run("UPDATE sessions SET state = ? WHERE pseudonym = ?", (state, pseudonym))

    async def count(self) -> int:
        row = await self._one("SELECT COUNT(*) FROM sessions")
        return int(row[0]) if row else 0
