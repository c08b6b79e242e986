"""Which database the tests run on: SQLite files (always), and PostgreSQL when TIPLINE_TEST_POSTGRES names a
server (`.ci/run` starts one and sets it, e.g. postgresql://tipline@127.0.0.1:55432/postgres).

A test opens storage through :func:`open_test_storage` (or the harness's RunningBot, which does the same
through TIPLINE_DATABASE_URL), naming a SQLite path as always. On PostgreSQL that path names a database of
its own (``t_<hash of the path>``), created on first use, so a bot restarted on the same path finds its data
again, and every test starts empty. Tests of SQLite itself (its files, pragmas, WAL) are marked
``sqlite_only``.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import pytest

from tipline.storage.ports import Storage
from tipline.storage.sqlite.store import SqliteStorage

POSTGRES = os.environ.get("TIPLINE_TEST_POSTGRES", "").strip() or None
BACKEND = "postgresql" if POSTGRES else "sqlite"
sqlite_only = pytest.mark.skipif(POSTGRES is not None, reason="a property of SQLite's files")
_created: set[str] = set()


def database_url_for(path: Path | str) -> str | None:
    """The PostgreSQL database standing for a test's SQLite path (None when the tests run on SQLite)."""
    if POSTGRES is None:
        return None
    base = POSTGRES.rsplit("/", 1)[0]
    return f"{base}/t_{hashlib.sha256(str(path).encode()).hexdigest()[:20]}"


async def ensure_database(url: str | None) -> None:
    """Creates the database of ``url`` once (empty), on the server the tests were given."""
    if url is None or url in _created:
        return
    import asyncpg

    assert POSTGRES is not None
    admin = await asyncpg.connect(POSTGRES)
    try:
        name = url.rsplit("/", 1)[1]
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    _created.add(url)


async def open_test_storage(path: Path | str) -> Storage:
    """Storage for a test: the SQLite file at ``path``, or the PostgreSQL database standing for it."""
    url = database_url_for(path)
    if url is None:
        return await SqliteStorage.open(path)
    from tipline.storage.postgres.store import PgStorage

    await ensure_database(url)
    return await PgStorage.open(url, max_size=10)


async def all_rows(storage: Storage) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, for tests that scan the whole database for what must never be there."""
    from tipline.storage.sqlite.store import SqliteStorage as _Sqlite

    rows: dict[str, list[tuple[Any, ...]]] = {}
    if isinstance(storage, _Sqlite):
        async with storage.read():
            async with storage.conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'") as cursor:
                tables = [row[0] for row in await cursor.fetchall()]
            for table in tables:
                async with storage.conn.execute(f'SELECT * FROM "{table}"') as cursor:
                    rows[table] = [tuple(row) for row in await cursor.fetchall()]
        return rows
    pool = storage.pool  # type: ignore[attr-defined]
    async with pool.acquire() as conn:
        tables = [r[0] for r in await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")]
        for table in tables:
            rows[table] = [tuple(r) for r in await conn.fetch(f'SELECT * FROM "{table}"')]
    return rows


def drop_created() -> None:
    """Drops the databases the tests created (at the end of the session)."""
    if POSTGRES is None or not _created:
        return
    import asyncio

    import asyncpg

    async def drop() -> None:
        admin = await asyncpg.connect(POSTGRES)
        try:
            for url in sorted(_created):
                await admin.execute(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')
        finally:
            await admin.close()

    asyncio.run(drop())
    _created.clear()
