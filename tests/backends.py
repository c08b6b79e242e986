"""Which database the tests run on: SQLite files (always), and PostgreSQL when TIPLINE_TEST_POSTGRES names a
server (`.ci/run` starts one and sets it, e.g. postgresql://tipline@127.0.0.1:55432/postgres).

A test opens storage through :func:`open_test_storage` (or the harness's RunningBot, which does the same
through TIPLINE_DATABASE_URL), naming a SQLite path as always. On PostgreSQL that path names a database of
its own (``t_<hash of the path>``), created on first use, so a bot restarted on the same path finds its data
again, and every test starts empty. Tests of SQLite itself (its files, pragmas, WAL) are marked
``sqlite_only``; ``postgres_only`` marks their PostgreSQL counterparts.

Tests read what the bot stored through the repositories. Two things here reach past them, for the tests
that need to: :func:`all_records` (every row of every table, for scans of the whole database for what must
never be there) and :func:`raw_connection` (the plain driver, for tests of the storage itself: what someone
holding the database can do outside the application, such as tampering with the audit log).
"""

from __future__ import annotations

import hashlib
import os
import re
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from tipline.storage.ports import Storage
from tipline.storage.sqlite.store import SqliteStorage

POSTGRES = os.environ.get("TIPLINE_TEST_POSTGRES", "").strip() or None
BACKEND = "postgresql" if POSTGRES else "sqlite"


def only_on_sqlite(reason: str) -> pytest.MarkDecorator:
    """Skipped when the suite runs on PostgreSQL: ``reason`` says why the test has nothing to try there."""
    return pytest.mark.skipif(POSTGRES is not None, reason=reason)


sqlite_only = only_on_sqlite("a property of SQLite's files")
postgres_only = pytest.mark.skipif(POSTGRES is None, reason="PostgreSQL's counterpart (TIPLINE_TEST_POSTGRES unset)")
# What the drivers raise when a constraint or a trigger refuses a write, and when a read-only unit writes.
INTEGRITY_ERRORS: tuple[type[BaseException], ...] = (
    sqlite3.IntegrityError, asyncpg.IntegrityConstraintViolationError, asyncpg.RaiseError,
)
READ_ONLY_ERRORS: tuple[type[BaseException], ...] = (sqlite3.OperationalError, asyncpg.ReadOnlySQLTransactionError)
_created: set[str] = set()


def database_url_for(path: Path | str) -> str | None:
    """The PostgreSQL database standing for a test's SQLite path (None when the tests run on SQLite)."""
    if POSTGRES is None:
        return None
    base = POSTGRES.rsplit("/", 1)[0]
    return f"{base}/t_{hashlib.sha256(str(path).encode()).hexdigest()[:20]}"


def database_env(path: Path | str) -> dict[str, str]:
    """The environment that points the bot, the worker or the CLI at a test's database (TIPLINE_DB, and on
    PostgreSQL TIPLINE_DATABASE_URL). The database must exist already (:func:`ensure_database`)."""
    env = {"TIPLINE_DB": str(path)}
    url = database_url_for(path)
    if url is not None:
        env["TIPLINE_DATABASE_URL"] = url
    return env


def use_database(monkeypatch: pytest.MonkeyPatch, path: Path | str) -> None:
    """Points the CLI, run in this process, at a test's database."""
    monkeypatch.delenv("TIPLINE_DATABASE_URL", raising=False)
    for name, value in database_env(path).items():
        monkeypatch.setenv(name, value)


async def ensure_database(url: str | None, *, empty: bool = False) -> None:
    """Creates the database of ``url`` once, on the server the tests were given: a copy of a database the
    migrations already ran on (faster than running them for every test), or, with ``empty``, without tables."""
    if url is None or url in _created:
        return
    assert POSTGRES is not None
    admin = await asyncpg.connect(POSTGRES)
    try:
        name = url.rsplit("/", 1)[1]
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        template = "template1" if empty else await _migrated_template(admin)
        await admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    finally:
        await admin.close()
    _created.add(url)


_template: list[str] = []


async def _migrated_template(admin: asyncpg.Connection) -> str:
    """A database the migrations ran on, made once per test session (and dropped with the others)."""
    if not _template:
        from tipline.storage.postgres.store import PgStorage

        assert POSTGRES is not None
        name = f"t_migrated_{os.getpid()}"
        url = f"{POSTGRES.rsplit('/', 1)[0]}/{name}"
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{name}"')
        _created.add(url)
        storage = await PgStorage.open(url, max_size=2)
        await storage.close()  # no connection may stay on a database that is copied
        _template.append(name)
    return _template[0]


async def open_test_storage(path: Path | str) -> Storage:
    """Storage for a test: the SQLite file at ``path``, or the PostgreSQL database standing for it."""
    url = database_url_for(path)
    if url is None:
        return await SqliteStorage.open(path)
    from tipline.storage.postgres.store import PgStorage

    await ensure_database(url)
    return await PgStorage.open(url, max_size=10)


async def all_records(storage: Storage, *, positions: bool = False) -> dict[str, list[dict[str, Any]]]:
    """Every row of every table, as column → value, for scans of the whole database for what must never be
    there. With ``positions``, each row also carries where it sits (``_position``: SQLite's rowid,
    PostgreSQL's ctid), since the order rows were written in can tell something too."""
    found: dict[str, list[dict[str, Any]]] = {}
    if isinstance(storage, SqliteStorage):
        async with storage.read():
            conn = storage.conn
            async with conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'") as cursor:
                tables = [row[0] for row in await cursor.fetchall()]
            for table in tables:
                queries = [f'SELECT * FROM "{table}" ORDER BY 1']
                if positions:
                    queries.insert(0, f'SELECT rowid AS _position, * FROM "{table}" ORDER BY rowid')
                for query in queries:
                    try:
                        async with conn.execute(query) as cursor:
                            found[table] = [dict(row) for row in await cursor.fetchall()]
                        break
                    except sqlite3.OperationalError:  # a table WITHOUT ROWID keeps no such order
                        continue
        return found
    pool = storage.pool  # type: ignore[attr-defined]
    async with pool.acquire() as conn:
        tables = [r[0] for r in await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")]
        for table in tables:
            query = f'SELECT ctid::text AS _position, * FROM "{table}" ORDER BY ctid' if positions else (
                f'SELECT * FROM "{table}" ORDER BY 1'
            )
            found[table] = [dict(r) for r in await conn.fetch(query)]
    return found


async def table_columns(storage: Storage) -> dict[str, set[str]]:
    """Each table's columns (also of empty tables)."""
    if isinstance(storage, SqliteStorage):
        columns: dict[str, set[str]] = {}
        async with storage.read():
            async with storage.conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'") as cursor:
                tables = [row[0] for row in await cursor.fetchall()]
            for table in tables:
                async with storage.conn.execute(f'PRAGMA table_info("{table}")') as cursor:
                    columns[table] = {row[1] for row in await cursor.fetchall()}
        return columns
    pool = storage.pool  # type: ignore[attr-defined]
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = 'public'"
        )
    result: dict[str, set[str]] = {}
    for row in rows:
        result.setdefault(row["table_name"], set()).add(row["column_name"])
    return result


class Raw:
    """A plain driver connection to a test's database, outside the application: what someone holding the
    SQLite file, or the PostgreSQL database's password, can do. Statements take ``?`` placeholders on both
    backends; each runs on its own (autocommit)."""

    def __init__(self, sqlite: sqlite3.Connection | None = None, pg: asyncpg.Connection | None = None) -> None:
        self.sqlite = sqlite
        self.pg = pg

    @staticmethod
    def _dollars(sql: str) -> str:
        counter = iter(range(1, 1000))
        return re.sub(r"\?", lambda _m: f"${next(counter)}", sql)

    async def execute(self, sql: str, *params: Any) -> None:
        if self.sqlite is not None:
            self.sqlite.execute(sql, params)
        else:
            assert self.pg is not None
            await self.pg.execute(self._dollars(sql), *params)

    async def fetchall(self, sql: str, *params: Any) -> list[dict[str, Any]]:
        if self.sqlite is not None:
            cursor = self.sqlite.execute(sql, params)
            names = [d[0] for d in cursor.description]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
        assert self.pg is not None
        return [dict(r) for r in await self.pg.fetch(self._dollars(sql), *params)]

    async def fetchone(self, sql: str, *params: Any) -> dict[str, Any] | None:
        rows = await self.fetchall(sql, *params)
        return rows[0] if rows else None

    async def drop_audit_guards(self) -> None:
        """What an attacker does first: the audit log's append-only triggers go."""
        if self.sqlite is not None:
            self.sqlite.execute("DROP TRIGGER IF EXISTS audit_log_no_update")
            self.sqlite.execute("DROP TRIGGER IF EXISTS audit_log_no_delete")
        else:
            for trigger in ("audit_log_no_update", "audit_log_no_truncate"):
                await self.execute(f"DROP TRIGGER IF EXISTS {trigger} ON audit_log")

    async def set_audit_counter(self, last_id: int) -> None:
        """Hides a cut: the counter of audit ids given so far (SQLite's sqlite_sequence, PostgreSQL's
        audit_head) set back."""
        if self.sqlite is not None:
            self.sqlite.execute("UPDATE sqlite_sequence SET seq = ? WHERE name = 'audit_log'", (last_id,))
        else:
            await self.execute("UPDATE audit_head SET last_id = ?", last_id)


@asynccontextmanager
async def raw_connection(path: Path | str) -> AsyncIterator[Raw]:
    """The plain driver on a test's database (see :class:`Raw`); the database must exist."""
    url = database_url_for(path)
    if url is None:
        conn = sqlite3.connect(path, isolation_level=None)
        conn.execute("PRAGMA foreign_keys = ON")  # as the application's own connection has it
        try:
            yield Raw(sqlite=conn)
        finally:
            conn.close()
        return
    await ensure_database(url)
    pg = await asyncpg.connect(url)
    try:
        yield Raw(pg=pg)
    finally:
        await pg.close()


async def database_state(path: Path | str) -> Any:
    """Everything a test's database holds, to compare before and after something that must write nothing:
    the SQLite file's bytes, or every row of the PostgreSQL database."""
    url = database_url_for(path)
    if url is None:
        return Path(path).read_bytes()
    async with raw_connection(path) as raw:
        assert raw.pg is not None
        tables = [r[0] for r in await raw.pg.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")]
        return {table: [tuple(r) for r in await raw.pg.fetch(f'SELECT ctid::text, * FROM "{table}" ORDER BY ctid')] for table in sorted(tables)}


def drop_created() -> None:
    """Drops the databases the tests created (at the end of the session)."""
    if POSTGRES is None or not _created:
        return
    import asyncio

    async def drop() -> None:
        admin = await asyncpg.connect(POSTGRES)
        try:
            for url in sorted(_created):
                await admin.execute(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')
        finally:
            await admin.close()

    asyncio.run(drop())
    _created.clear()
    _template.clear()
