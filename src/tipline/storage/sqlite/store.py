"""The SQLite database: one connection, WAL, foreign keys, numbered migrations applied at start-up.

aiosqlite runs every statement on one worker thread; an asyncio lock makes each unit of work atomic,
so coroutines never interleave statements inside another's transaction.
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import resources
from pathlib import Path

import aiosqlite

from tipline.storage.ports import StorageFull
from tipline.storage.sqlite.uow import SqliteUnitOfWork

_MIGRATION_NAME = re.compile(r"^(\d{3})_[a-z0-9_]+\.sql$")


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
        self._lock = asyncio.Lock()

    @classmethod
    async def open(cls, path: Path | str) -> SqliteStorage:
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        conn = await aiosqlite.connect(str(path), isolation_level=None)
        try:
            conn.row_factory = aiosqlite.Row
            await conn.execute("PRAGMA journal_mode = WAL")
            # FULL: a confirmed tip is on disk before the citizen sees the receipt, even on power loss.
            await conn.execute("PRAGMA synchronous = FULL")
            await conn.execute("PRAGMA foreign_keys = ON")
            await conn.execute("PRAGMA busy_timeout = 5000")
            storage = cls(conn, str(path))
            await storage.migrate()
        except BaseException:
            # An open connection keeps a worker thread alive, and with it the whole process.
            await conn.close()
            raise
        return storage

    async def close(self) -> None:
        await self.conn.close()

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
                yield SqliteUnitOfWork(self.conn)
            except BaseException as exc:
                await self._rollback()
                if _is_full(exc):
                    raise StorageFull(str(exc)) from exc
                raise
            else:
                try:
                    await self.conn.execute("COMMIT")
                except sqlite3.OperationalError as exc:
                    await self._rollback()
                    if _is_full(exc):
                        raise StorageFull(str(exc)) from exc
                    raise

    @asynccontextmanager
    async def read(self) -> AsyncIterator[SqliteUnitOfWork]:
        """The repositories for reading (a writer's statements never interleave with these). Writing here fails:
        a change belongs in ``uow()``, where it commits or rolls back with the rest of its unit of work."""
        async with self._lock:
            try:
                await self.conn.execute("PRAGMA query_only = ON")
                yield SqliteUnitOfWork(self.conn)
            finally:
                await self.conn.execute("PRAGMA query_only = OFF")

    async def _rollback(self) -> None:
        # SQLite rolls back by itself after some errors (a full disk among them), and a BEGIN cut short by a
        # cancellation may still be queued on aiosqlite's thread: ROLLBACK goes after it, whatever happened.
        try:
            await self.conn.execute("ROLLBACK")
        except sqlite3.OperationalError:
            pass  # no transaction was open


def _is_full(exc: BaseException) -> bool:
    return isinstance(exc, sqlite3.OperationalError) and (
        "full" in str(exc).lower() or getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL
    )
