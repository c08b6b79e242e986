"""What every SQLite repository shares: the connection of the unit of work and two small readers."""

from __future__ import annotations

import asyncio
import re
import sqlite3
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import aiosqlite


class StorageLock:
    """One user of the connection at a time (a unit of work, a read, a batch of sessions), in the order they
    asked, except that the sessions' batch writer, whose commit every chat's answer is waiting for, goes
    before the units of work already waiting (``first()``): but never twice in a row while they wait, so
    they cannot starve. Ownership passes straight from one holder to the next."""

    def __init__(self) -> None:
        self._held = False
        self._first_went_last = False
        self._waiting: deque[asyncio.Future[None]] = deque()
        self._waiting_first: deque[asyncio.Future[None]] = deque()

    def locked(self) -> bool:
        return self._held

    async def __aenter__(self) -> None:
        await self._acquire(first=False)

    async def __aexit__(self, *exc_info: object) -> None:
        self._release()

    @asynccontextmanager
    async def first(self) -> AsyncIterator[None]:
        await self._acquire(first=True)
        try:
            yield
        finally:
            self._release()

    async def _acquire(self, first: bool) -> None:
        if not self._held and not self._waiting and not self._waiting_first:
            self._held, self._first_went_last = True, first
            return
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        queue = self._waiting_first if first else self._waiting
        queue.append(turn)
        try:
            await turn
        except asyncio.CancelledError:
            if turn.done() and not turn.cancelled():
                self._release()  # given the lock just as it was cancelled: pass it on
            elif turn in queue:
                queue.remove(turn)
            raise

    def _release(self) -> None:
        while True:
            if self._waiting_first and (not self._first_went_last or not self._waiting):
                turn, first = self._waiting_first.popleft(), True
            elif self._waiting:
                turn, first = self._waiting.popleft(), False
            else:
                self._held = False
                return
            if not turn.done():  # a waiter that gave up is skipped
                self._first_went_last = first
                turn.set_result(None)
                return


T = TypeVar("T")


async def in_thread(conn: aiosqlite.Connection, fn: Callable[[sqlite3.Connection], T]) -> T:
    """Runs ``fn`` with the connection in the connection's own thread, in one trip there and back.

    For the few units of work on the path of an answer: awaited statement by statement, each one waits for
    the event loop (which, busy with hundreds of chats, takes a while to come back) while the unit of work
    holds the storage, and every other chat waits for it. aiosqlite's own methods go the same way
    (``Connection._execute`` with the ``sqlite3.Connection`` it wraps)."""
    result: T = await conn._execute(fn, conn._conn)  # type: ignore[no-untyped-call]
    return result


def is_full(exc: BaseException) -> bool:
    """Whether an error says the disk (or the database's size limit) is full."""
    return isinstance(exc, sqlite3.OperationalError) and (
        "full" in str(exc).lower() or getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL
    )


# A statement that only reads (a SELECT; WITH could also begin a write, and no repository needs it to read).
_QUERY = re.compile(r"\s*SELECT\b", re.IGNORECASE)


class Repository:
    # Set on the repositories of ``storage.read()``: a statement that would write fails there, as with
    # PRAGMA query_only, but without two more trips to the connection's thread for every read.
    read_only = False

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self.conn = conn

    def _writing(self, sql: str) -> None:
        if self.read_only and not _QUERY.match(sql):
            raise sqlite3.OperationalError("attempt to write a readonly database")

    # One trip to the connection's thread per query (a cursor would take three: execute, fetch, close).
    async def _one(self, sql: str, params: Iterable[Any] = ()) -> aiosqlite.Row | None:
        self._writing(sql)
        rows = await self.conn.execute_fetchall(sql, tuple(params))
        return next(iter(rows), None)

    async def _all(self, sql: str, params: Iterable[Any] = ()) -> list[aiosqlite.Row]:
        self._writing(sql)
        return list(await self.conn.execute_fetchall(sql, tuple(params)))

    async def _run(self, sql: str, params: Iterable[Any] = ()) -> int:
        """Runs a statement; returns the number of rows it changed."""
        self._writing(sql)
        cursor = await self.conn.execute(sql, tuple(params))
        return cursor.rowcount

    async def _insert(self, sql: str, params: Iterable[Any] = ()) -> int:
        self._writing(sql)
        cursor = await self.conn.execute(sql, tuple(params))
        return int(cursor.lastrowid or 0)

    async def _many(self, sql: str, rows: Iterable[Iterable[Any]]) -> None:
        """Runs a statement for each row (nothing at all for none)."""
        self._writing(sql)
        rows = [tuple(row) for row in rows]
        if rows:
            await self.conn.executemany(sql, rows)
