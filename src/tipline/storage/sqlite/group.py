"""Group commit: the writes on the path of an answer, from many chats, in one transaction and one trip.

Every chat's step ends with its session written, and a confirmation with its tip and its triage. Written
one by one, each would take the storage in turn and, statement by statement, wait for an event loop busy
with hundreds of chats. Here each write is a function over the connection (SQL stays in this package);
callers hand it to ``GroupWriter.run`` and wait. One task takes everything handed over meanwhile and runs
it in the connection's thread in a single trip: one transaction, each function in its own savepoint (one
that fails is rolled back alone and its caller gets the error), one commit, one sync to disk with
``synchronous=FULL``. Only then does any caller go on: what a chat was answered is on disk.
"""

from __future__ import annotations

import asyncio
import functools
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import aiosqlite

from tipline.storage.ports import StorageFull
from tipline.storage.sqlite.base import StorageLock, in_thread, is_full

T = TypeVar("T")


@dataclass
class _Item:
    write: Callable[[sqlite3.Connection], Any]
    done: asyncio.Future[Any]
    on_commit: Callable[[Any], None] | None


class GroupWriter:
    def __init__(self, conn: aiosqlite.Connection, lock: StorageLock) -> None:
        self.conn = conn
        self._lock = lock  # the storage's; a group goes before waiting units of work (see StorageLock)
        self._pending: list[_Item] = []
        self._writer: asyncio.Task[None] | None = None
        self.commits = 0  # transactions written (for tests and benchmarks)
        self.written = 0  # functions written in them

    async def run(self, write: Callable[[sqlite3.Connection], T], on_commit: Callable[[T], None] | None = None) -> T:
        """``write``'s result once the transaction holding it is committed; its error if it failed (then
        nothing of it was written), or StorageFull. ``on_commit`` runs right after the commit, before any
        other use of the storage."""
        item = _Item(write, asyncio.get_running_loop().create_future(), on_commit)
        self._pending.append(item)
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write())
        # Shielded: a caller that gives up must not cancel what the others wait for.
        result: T = await asyncio.shield(item.done)
        return result

    async def close(self) -> None:
        """Lets the group being written finish (its callers are waiting for it)."""
        if self._writer is not None:
            await asyncio.wait([self._writer])

    async def _write(self) -> None:
        while self._pending:
            group, self._pending = self._pending, []
            try:
                async with self._lock.first():
                    outcomes = await in_thread(self.conn, functools.partial(_transaction, group=group))
                    self.commits += 1
                    self.written += len(group)
                    for item, (ok, value) in zip(group, outcomes, strict=True):
                        if ok and item.on_commit is not None:
                            item.on_commit(value)
            except BaseException as exc:  # no transaction at all, or its commit failed: nothing was written
                error = StorageFull(str(exc)) if is_full(exc) else exc
                for item in group:
                    _settle(item.done, False, error)
                if isinstance(exc, asyncio.CancelledError):  # closing: what waits gets nothing more
                    for item in self._pending:
                        _settle(item.done, False, exc)
                    self._pending = []
                    raise
                continue
            for item, (ok, value) in zip(group, outcomes, strict=True):
                _settle(item.done, ok, value if ok or not is_full(value) else StorageFull(str(value)))


def _transaction(db: sqlite3.Connection, *, group: list[_Item]) -> list[tuple[bool, Any]]:
    """Runs the group in one transaction, in the connection's thread: (True, result) or (False, error) each."""
    outcomes: list[tuple[bool, Any]] = []
    db.execute("BEGIN IMMEDIATE")
    try:
        for item in group:
            db.execute("SAVEPOINT item")
            try:
                value = item.write(db)
            except Exception as exc:
                if not db.in_transaction:
                    raise  # SQLite gave the whole transaction up (a full disk): nothing of the group is kept
                db.execute("ROLLBACK TO item")
                db.execute("RELEASE item")
                outcomes.append((False, exc))
            else:
                db.execute("RELEASE item")
                outcomes.append((True, value))
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise
    return outcomes


def _settle(future: asyncio.Future[Any], ok: bool, value: Any) -> None:
    if future.done():
        return
    if ok:
        future.set_result(value)
    else:
        future.set_exception(value)
        future.exception()  # retrieved: every caller waiting for it may have gone
