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

_MIGRATION_NAME = re.compile(r"^(\d{3})_[a-z0-9_]+\.sql$")


class StorageFull(Exception):
    """The disk (or the database's size limit) is full: nothing of the unit of work was written."""


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


class Database:
    def __init__(self, conn: aiosqlite.Connection) -> None:
        self.conn = conn
        self._lock = asyncio.Lock()

    @classmethod
    async def open(cls, path: Path | str) -> Database:
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
            db = cls(conn)
            await db.migrate()
        except BaseException:
            # An open connection keeps a worker thread alive, and with it the whole process.
            await conn.close()
            raise
        return db

    async def close(self) -> None:
        await self.conn.close()

    async def schema_version(self) -> int:
        async with self.conn.execute("PRAGMA user_version") as cursor:
            row = await cursor.fetchone()
        return int(row[0]) if row else 0

    async def migrate(self) -> int:
        """Applies the migrations the database lacks, each in its own transaction; returns the version."""
        current = await self.schema_version()
        for number, script in migrations():
            if number <= current:
                continue
            # executescript would commit on its own; wrap the script so version and schema move together.
            await self.conn.executescript(f"BEGIN IMMEDIATE;\n{script}\nPRAGMA user_version = {number};\nCOMMIT;")
            current = number
        return current

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        """One atomic unit of work: all of it is written, or none of it."""
        async with self._lock:
            await self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield self.conn
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

    async def _rollback(self) -> None:
        # SQLite rolls back by itself after some errors (a full disk among them).
        if self.conn.in_transaction:
            await self.conn.execute("ROLLBACK")

    @asynccontextmanager
    async def read(self) -> AsyncIterator[aiosqlite.Connection]:
        async with self._lock:
            yield self.conn


def _is_full(exc: BaseException) -> bool:
    return isinstance(exc, sqlite3.OperationalError) and (
        "full" in str(exc).lower() or getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL
    )
