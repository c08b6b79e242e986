"""Conversation state by pseudonym (never a chat id), kept until it expires.

Two ways in: ``SqliteSessions``, the repository of a unit of work (purging, ``/forget``), and
``SqliteSessionStore``, the path of every message. The store keeps the states it read and wrote in
memory, keyed by pseudonym and bounded (least recently used go first), and writes with group commit:
states that arrive while a transaction is being written wait for the next one, which commits them all
in one transaction and one sync to disk (``synchronous=FULL``). Each caller returns only once the
transaction holding its state committed, so an answered step is durable as before; under load, many
chats share the cost of one commit instead of each paying its own.

The database stays the source of truth: what a unit of work changes (``delete``, ``expire_drafts``,
``purge``) is dropped from memory, so the next ``load`` reads it again; on restart memory is empty.
Another process writing sessions while the bot runs (``tipline purge`` by hand) is not seen until the
state leaves memory; what it changes (drafts idle for a day, settings silent for a month) is checked
again by the service on the next message anyway.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from datetime import datetime

import aiosqlite

from tipline.storage.ports import StorageFull, StoredSession
from tipline.storage.sqlite.base import Repository, StorageLock, in_thread, is_full, run_transaction
from tipline.storage.sqlite.codec import dt, ts

_LOAD = "SELECT state, updated_at FROM sessions WHERE pseudonym = ?"
_SAVE = (
    "INSERT INTO sessions (pseudonym, state, updated_at, expires_at) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (pseudonym) DO UPDATE SET state = excluded.state, "
    "updated_at = excluded.updated_at, expires_at = excluded.expires_at"
)
CACHED_SESSIONS = 10_000  # states kept in memory (about 1 KB each)


class SqliteSessionStore:
    """The sessions of every message: a bounded write-through cache and a group-committing writer."""

    def __init__(self, conn: aiosqlite.Connection, lock: StorageLock, capacity: int = CACHED_SESSIONS) -> None:
        self.conn = conn
        self._lock = lock  # the storage's: no unit of work interleaves with a batch
        self.capacity = capacity
        self._cache: OrderedDict[str, StoredSession | None] = OrderedDict()  # None: no row
        self._pending: dict[str, tuple[str, str, str, str]] = {}
        self._committed: asyncio.Future[None] | None = None  # resolved when the pending batch is committed
        self._writer: asyncio.Task[None] | None = None
        self.commits = 0  # transactions written (for benchmarks)

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
        """Returns once the state is committed (with whatever other chats' states share the transaction)."""
        self._pending[pseudonym] = (pseudonym, state, ts(now), ts(keep_until))
        if self._committed is None:
            self._committed = asyncio.get_running_loop().create_future()
        committed = self._committed
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write())
        # Shielded: a caller that is cancelled must not cancel the batch the other callers wait for.
        await asyncio.shield(committed)

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

    async def _write(self) -> None:
        """Writes batches until none is pending: each the states that arrived while the last was written."""
        while self._pending:
            batch, committed = self._pending, self._committed
            self._pending, self._committed = {}, None
            assert committed is not None
            try:
                async with self._lock.first():  # every chat in the batch is waiting for it
                    await self._commit(batch)
            except BaseException as exc:
                for pseudonym in batch:
                    self._cache.pop(pseudonym, None)  # read again from the database next time
                _fail(committed, StorageFull(str(exc)) if is_full(exc) else exc)
                if isinstance(exc, asyncio.CancelledError):  # closing: nothing more is written
                    if self._committed is not None:
                        _fail(self._committed, exc)
                    self._pending, self._committed = {}, None
                    raise
            else:
                if not committed.done():
                    committed.set_result(None)

    async def _commit(self, batch: dict[str, tuple[str, str, str, str]]) -> None:
        rows = list(batch.values())
        await in_thread(self.conn, lambda db: run_transaction(db, lambda db: db.executemany(_SAVE, rows)))
        self.commits += 1
        for pseudonym, (_pseudonym, state, updated_at, _expires_at) in batch.items():
            self._remember(pseudonym, StoredSession(state, dt(updated_at)))

    async def close(self) -> None:
        """Lets the batch being written finish (its callers are waiting for it)."""
        if self._writer is not None:
            await asyncio.wait([self._writer])


def _fail(future: asyncio.Future[None], error: BaseException) -> None:
    if not future.done():
        future.set_exception(error)
        future.exception()  # retrieved: every caller waiting for it may have gone


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
