"""What every SQLite repository shares: the connection of the unit of work and two small readers."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from typing import Any

import aiosqlite


def is_full(exc: BaseException) -> bool:
    """Whether an error says the disk (or the database's size limit) is full."""
    return isinstance(exc, sqlite3.OperationalError) and (
        "full" in str(exc).lower() or getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL
    )


class Repository:
    def __init__(self, conn: aiosqlite.Connection) -> None:
        self.conn = conn

    # One trip to the connection's thread per query (a cursor would take three: execute, fetch, close).
    async def _one(self, sql: str, params: Iterable[Any] = ()) -> aiosqlite.Row | None:
        rows = await self.conn.execute_fetchall(sql, tuple(params))
        return next(iter(rows), None)

    async def _all(self, sql: str, params: Iterable[Any] = ()) -> list[aiosqlite.Row]:
        return list(await self.conn.execute_fetchall(sql, tuple(params)))

    async def _run(self, sql: str, params: Iterable[Any] = ()) -> int:
        """Runs a statement; returns the number of rows it changed."""
        cursor = await self.conn.execute(sql, tuple(params))
        return cursor.rowcount

    async def _insert(self, sql: str, params: Iterable[Any] = ()) -> int:
        cursor = await self.conn.execute(sql, tuple(params))
        return int(cursor.lastrowid or 0)
