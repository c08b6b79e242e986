"""The SQLite database: one connection, WAL, foreign keys, numbered migrations applied at start-up.

aiosqlite runs every statement on one worker thread; a lock (``StorageLock``) makes each unit of work
atomic, so coroutines never interleave statements inside another's transaction.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import sqlite3
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import TypeVar

import aiosqlite

from tipline.delivery.model import NewItem
from tipline.storage.ports import Quota, QuotaReached, StorageFull
from tipline.storage.sqlite.base import StorageLock, is_full
from tipline.storage.sqlite.counters import hit_now
from tipline.storage.sqlite.group import GroupWriter
from tipline.storage.sqlite.outbox import add_now
from tipline.storage.sqlite.sessions import SqliteSessionStore
from tipline.storage.sqlite.tips import assessed_now, create_now
from tipline.storage.sqlite.uow import SqliteUnitOfWork
from tipline.tips import NewTip, Tip

log = logging.getLogger(__name__)
T = TypeVar("T")
_MIGRATION_NAME = re.compile(r"^(\d{3})_[a-z0-9_]+\.sql$")
JOURNAL_SIZE_LIMIT = 4 * 1024 * 1024  # bytes of WAL kept after a checkpoint


def migrations() -> list[tuple[int, str]]:
    """The numbered migration scripts shipped with the package, in order."""
    found = []
    for entry in resources.files("tipline.storage.sqlite").joinpath("migrations").iterdir():
        match = _MIGRATION_NAME.match(entry.name)
        if match:
            found.append((int(match.group(1)), entry.read_text(encoding="utf-8")))
    found.sort()
    numbers = [number for number, _ in found]
    if numbers != list(range(1, len(numbers) + 1)):
        raise RuntimeError(f"migrations must be numbered 1..n without gaps, found {numbers}")
    return found


class SqliteStorage:
    def __init__(self, conn: aiosqlite.Connection, path: str) -> None:
        self.conn = conn
        self.path = path
        self._lock = StorageLock()
        self.writer = GroupWriter(conn, self._lock)
        self.sessions = SqliteSessionStore(conn, self._lock, self.writer)
        self._chat_locks: dict[str, asyncio.Lock] = {}

    @classmethod
    async def open(cls, path: Path | str) -> SqliteStorage:
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            # Created readable by the owner only; SQLite gives its -wal and -shm files the same mode.
            os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
        conn = await aiosqlite.connect(str(path), isolation_level=None)
        try:
            conn.row_factory = aiosqlite.Row
            await conn.execute("PRAGMA journal_mode = WAL")
            # FULL: a confirmed tip is on disk before the citizen sees the receipt, even on power loss.
            await conn.execute("PRAGMA synchronous = FULL")
            await conn.execute("PRAGMA foreign_keys = ON")
            await conn.execute("PRAGMA busy_timeout = 5000")
            # Deleted rows are overwritten, not left in free pages for anyone with the file to read.
            await conn.execute("PRAGMA secure_delete = ON")
            await conn.execute(f"PRAGMA journal_size_limit = {JOURNAL_SIZE_LIMIT}")
            storage = cls(conn, str(path))
            await storage.migrate()
        except BaseException:
            # An open connection keeps a worker thread alive, and with it the whole process.
            await conn.close()
            raise
        return storage

    async def close(self) -> None:
        await self.writer.close()
        await self.conn.close()

    async def checkpoint(self) -> None:
        """Copies the write-ahead log into the database and empties it: what was deleted leaves the WAL too.

        Waits at most a moment for readers in other processes (every chat waits while this runs); when they
        are busy, the next purge tries again.
        """
        async with self._lock:
            await self.conn.execute("PRAGMA busy_timeout = 100")
            try:
                async with self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)") as cursor:
                    busy = await cursor.fetchone()
            finally:
                await self.conn.execute("PRAGMA busy_timeout = 5000")
        if busy and busy[0]:
            log.info("the write-ahead log could not be emptied now (a reader was busy); the next purge retries")

    async def schema_version(self) -> int:
        async with self.conn.execute("PRAGMA user_version") as cursor:
            row = await cursor.fetchone()
        return int(row[0]) if row else 0

    async def migrate(self) -> int:
        """Applies the migrations the database lacks, each in its own transaction; returns the version.

        Foreign keys are off while a script runs (rebuilding a table must not cascade into its children)
        and checked before it commits.
        """
        current = await self.schema_version()
        for number, script in migrations():
            if number <= current:
                continue
            await self.conn.execute("PRAGMA foreign_keys = OFF")
            try:
                # executescript would commit on its own; the script runs inside our transaction instead.
                await self.conn.executescript(f"BEGIN IMMEDIATE;\n{script}\nPRAGMA user_version = {number};")
                async with self.conn.execute("PRAGMA foreign_key_check") as cursor:
                    broken = await cursor.fetchall()
                if broken:
                    await self.conn.execute("ROLLBACK")
                    raise RuntimeError(f"migration {number} would break foreign keys: {[tuple(r) for r in broken]}")
                await self.conn.execute("COMMIT")
            except BaseException:
                if self.conn.in_transaction:
                    await self.conn.execute("ROLLBACK")
                raise
            finally:
                await self.conn.execute("PRAGMA foreign_keys = ON")
            current = number
        return current

    @asynccontextmanager
    async def uow(self) -> AsyncIterator[SqliteUnitOfWork]:
        """One atomic unit of work: all of it is written, or none of it."""
        async with self._lock:
            try:
                # Inside the try: a task cancelled while BEGIN runs (on aiosqlite's thread, where it still
                # completes) must not leave the transaction, and the write lock, open behind it.
                await self.conn.execute("BEGIN IMMEDIATE")
                yield SqliteUnitOfWork(self.conn, self.sessions)
            except BaseException as exc:
                await self._rollback()
                if is_full(exc):
                    raise StorageFull(str(exc)) from exc
                raise
            else:
                try:
                    await self.conn.execute("COMMIT")
                except sqlite3.OperationalError as exc:
                    await self._rollback()
                    if is_full(exc):
                        raise StorageFull(str(exc)) from exc
                    raise

    async def file_tip(
        self, tip: NewTip, code: str, passphrase_hash: str, now: datetime, quota: Quota | None,
        owed: Callable[[Tip], Sequence[NewItem]],
    ) -> Tip:
        def write(db: sqlite3.Connection) -> Tip:
            if quota is not None and hit_now(db, quota.key, quota.window_seconds, now) > quota.limit:
                raise QuotaReached(quota.key)  # rolls back: not counted either
            created = create_now(db, tip, code, passphrase_hash, now)
            for item in owed(created):
                add_now(db, item, now)
            return created

        return await self.writer.run(write)

    async def file_assessment(
        self, tip_id: int, triage: str, priority: int, duplicates: Sequence[tuple[int, float]], owed: Sequence[NewItem],
        now: datetime,
    ) -> None:
        def write(db: sqlite3.Connection) -> None:
            assessed_now(db, tip_id, triage, priority, duplicates)
            for item in owed:
                add_now(db, item, now)

        await self.writer.run(write)

    @asynccontextmanager
    async def read(self) -> AsyncIterator[SqliteUnitOfWork]:
        """The repositories for reading (a writer's statements never interleave with these). Writing here fails:
        a change belongs in ``uow()``, where it commits or rolls back with the rest of its unit of work."""
        async with self._lock:
            yield SqliteUnitOfWork(self.conn, self.sessions, read_only=True)

    @asynccontextmanager
    async def chat_lock(self, key: str) -> AsyncIterator[None]:
        """One chat's events in turn. SQLite serves one process, so a lock in memory is enough; it is dropped
        once nobody holds or waits for it."""
        lock = self._chat_locks.setdefault(key, asyncio.Lock())
        try:
            async with lock:
                yield
        finally:
            if not lock.locked() and not getattr(lock, "_waiters", None):
                self._chat_locks.pop(key, None)

    async def _rollback(self) -> None:
        # SQLite rolls back by itself after some errors (a full disk among them), and a BEGIN cut short by a
        # cancellation may still be queued on aiosqlite's thread: ROLLBACK goes after it, whatever happened.
        try:
            await self.conn.execute("ROLLBACK")
        except sqlite3.OperationalError:
            pass  # no transaction was open

