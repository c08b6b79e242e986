"""What every PostgreSQL repository shares: the connection of the unit of work and small readers."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import asyncpg
from asyncpg.pool import PoolConnectionProxy

# A connection of its own, or one borrowed from the pool: the repositories use either.
Conn = asyncpg.Connection | PoolConnectionProxy


class Repository:
    def __init__(self, conn: Conn, writing: bool = False) -> None:
        self.conn = conn
        # In a unit of work that writes (not in a read, where PostgreSQL refuses row locks): reads that decide
        # a change lock what they read, since several workers write at once.
        self.writing = writing

    async def _one(self, sql: str, params: Iterable[Any] = ()) -> asyncpg.Record | None:
        row: asyncpg.Record | None = await self.conn.fetchrow(sql, *params)
        return row

    async def _all(self, sql: str, params: Iterable[Any] = ()) -> list[asyncpg.Record]:
        return list(await self.conn.fetch(sql, *params))

    async def _run(self, sql: str, params: Iterable[Any] = ()) -> int:
        """Runs a statement; returns the number of rows it changed."""
        status: str = await self.conn.execute(sql, *params)
        last = status.rsplit(" ", 1)[-1]
        return int(last) if last.isdigit() else 0

    async def _insert(self, sql: str, params: Iterable[Any] = ()) -> int:
        """Runs an INSERT ... RETURNING id."""
        value = await self.conn.fetchval(sql, *params)
        return int(value)
