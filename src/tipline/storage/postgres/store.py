"""PostgreSQL storage: a pool of connections, numbered migrations in PostgreSQL's dialect applied once
(under an advisory lock, so several workers starting together do not race), units of work as
transactions, and per-chat locks that hold across processes."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from importlib import resources

import asyncpg

from tipline.delivery.model import NewItem
from tipline.storage.ports import Quota, QuotaReached, StorageFull, StoredSession
from tipline.storage.postgres.small import PgSessions
from tipline.storage.postgres.uow import PgUnitOfWork
from tipline.tips import NewTip, Tip

log = logging.getLogger(__name__)
_MIGRATION_NAME = re.compile(r"^(\d{3})_[a-z0-9_]+\.sql$")
_MIGRATION_LOCK = 7_315_001  # pg_advisory_xact_lock key while migrating
# Tables whose deleted rows hold what a stolen database must not show (drafts, chat links): vacuumed after purges.
_SENSITIVE_TABLES = (
    "sessions", "subscriptions", "counters", "throttles", "prompts", "evidence", "followups", "tip_messages",
    "outreach_subscribers",  # a stopped subscriber's sealed chat
)


def migrations() -> list[tuple[int, str]]:
    found = []
    for entry in resources.files("tipline.storage.postgres").joinpath("migrations").iterdir():
        match = _MIGRATION_NAME.match(entry.name)
        if match:
            found.append((int(match.group(1)), entry.read_text(encoding="utf-8")))
    found.sort()
    numbers = [number for number, _ in found]
    if numbers != list(range(1, len(numbers) + 1)):
        raise RuntimeError(f"migrations must be numbered 1..n without gaps, found {numbers}")
    return found


def lock_key(text: str) -> int:
    """A signed 64-bit advisory lock key for a string (a pseudonym: never a chat id)."""
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big", signed=True)


DEFAULT_POOL_SIZE = 10  # connections per process: 4 web workers and a tipline-worker stay well under 100


class PgSessionStore:
    """The sessions of every message, read from and written to the database each time. Nothing is kept in
    memory: another worker process may handle the chat's next message, so a copy here would go stale (the
    chat's advisory lock orders the reads and writes across processes). Each save is its own transaction,
    committed before it returns."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def load(self, pseudonym: str) -> StoredSession | None:
        async with self.pool.acquire() as conn:
            return await PgSessions(conn).load(pseudonym)

    async def save(self, pseudonym: str, state: str, now: datetime, keep_until: datetime) -> None:
        try:
            async with self.pool.acquire() as conn:
                await PgSessions(conn).save(pseudonym, state, now, keep_until)
        except asyncpg.DiskFullError as exc:
            raise StorageFull(str(exc)) from exc


class PgStorage:
    def __init__(self, pool: asyncpg.Pool, url: str, max_size: int) -> None:
        self.pool = pool
        self.url = url
        self.sessions = PgSessionStore(pool)
        # A chat's lock holds a connection of the pool while the chat's event is handled, and the handling needs
        # units of work too: at most half the pool holds chat locks, so units of work always find a connection
        # (every lock holding the whole pool, each waiting for one more, was a deadlock).
        self._lock_slots = asyncio.Semaphore(max(1, max_size // 2))
        # Events of one chat in this process wait here, in turn, without taking a connection each.
        self._chat_locks: dict[str, asyncio.Lock] = {}

    @classmethod
    async def open(cls, url: str, max_size: int = DEFAULT_POOL_SIZE) -> PgStorage:
        max_size = max(2, max_size)
        pool = await asyncpg.create_pool(url, min_size=1, max_size=max_size)
        storage = cls(pool, url, max_size)
        try:
            await storage.migrate()
        except BaseException:
            await pool.close()
            raise
        return storage

    async def close(self) -> None:
        await self.pool.close()

    async def schema_version(self) -> int:
        async with self.pool.acquire() as conn:
            exists = await conn.fetchval("SELECT to_regclass('schema_version') IS NOT NULL")
            return int(await conn.fetchval("SELECT version FROM schema_version") or 0) if exists else 0

    async def migrate(self) -> int:
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute(f"SELECT pg_advisory_xact_lock({_MIGRATION_LOCK})")
            await conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            current = await conn.fetchval("SELECT version FROM schema_version")
            if current is None:
                await conn.execute("INSERT INTO schema_version (version) VALUES (0)")
                current = 0
            for number, script in migrations():
                if number <= current:
                    continue
                await conn.execute(script)
                await conn.execute("UPDATE schema_version SET version = $1", number)
                current = number
        return int(current)

    @asynccontextmanager
    async def uow(self) -> AsyncIterator[PgUnitOfWork]:
        """One atomic unit of work: all of it is written, or none of it. A tip read in it by id is locked
        until it ends (``SELECT ... FOR UPDATE``), so two workers acting on one tip take turns, as SQLite's
        one writer at a time made them."""
        try:
            async with self.pool.acquire() as conn, conn.transaction():
                yield PgUnitOfWork(conn, writing=True)
        except asyncpg.DiskFullError as exc:
            raise StorageFull(str(exc)) from exc

    async def file_tip(
        self, tip: NewTip, code: str, passphrase_hash: str, now: datetime, quota: Quota | None,
        owed: Callable[[Tip], Sequence[NewItem]],
    ) -> Tip:
        async with self.uow() as uow:
            if quota is not None and await uow.counters.hit(quota.key, quota.window_seconds, now) > quota.limit:
                raise QuotaReached(quota.key)  # rolls back: not counted either
            created = await uow.tips.create(tip, code, passphrase_hash, now)
            for item in owed(created):
                await uow.outbox.add(item, now)
            return created

    async def file_assessment(
        self, tip_id: int, triage: str, priority: int, duplicates: Sequence[tuple[int, float]], owed: Sequence[NewItem],
        now: datetime,
    ) -> None:
        async with self.uow() as uow:
            await uow.tips.update(tip_id, triage=triage, priority=priority)
            if duplicates:
                await uow.tips.add_duplicate_candidates(tip_id, duplicates)
            for item in owed:
                await uow.outbox.add(item, now)

    @asynccontextmanager
    async def read(self) -> AsyncIterator[PgUnitOfWork]:
        """The repositories for reading, in a read-only transaction: writing here fails."""
        async with self.pool.acquire() as conn, conn.transaction(readonly=True):
            yield PgUnitOfWork(conn)

    async def checkpoint(self) -> None:
        """Deleted rows are gone from the tables at once; VACUUM also frees their space for reuse, so their old
        contents are overwritten soon (PostgreSQL keeps no history tables)."""
        async with self.pool.acquire() as conn:
            for table in _SENSITIVE_TABLES:
                await conn.execute(f"VACUUM {table}")

    @asynccontextmanager
    async def chat_lock(self, key: str) -> AsyncIterator[None]:
        """Holds one chat's lock across every worker process until the block ends: first this process's turn
        (in memory), then a session advisory lock on a connection of its own. A connection returned to the
        pool drops any advisory lock it still held (asyncpg resets it), so a cancelled holder leaves none."""
        local = self._chat_locks.setdefault(key, asyncio.Lock())
        try:
            async with local, self._lock_slots, self.pool.acquire() as conn:
                await conn.execute("SELECT pg_advisory_lock($1)", lock_key(key))
                try:
                    yield
                finally:
                    await conn.execute("SELECT pg_advisory_unlock($1)", lock_key(key))
        finally:
            if not local.locked() and not getattr(local, "_waiters", None) and self._chat_locks.get(key) is local:
                del self._chat_locks[key]
