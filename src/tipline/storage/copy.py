"""Moves a deployment from SQLite to PostgreSQL without losing a tip, an audit entry or a pending outbox
item: every table is copied row by row with its ids, in an order that keeps foreign keys valid, in one
PostgreSQL transaction; the copy is refused when the destination already holds data."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import aiosqlite

from tipline.storage.postgres.store import PgStorage
from tipline.storage.sqlite.store import SqliteStorage

# In foreign-key order. ``times``: ISO text in SQLite, TIMESTAMPTZ in PostgreSQL; ``flags``: 0/1 → boolean;
# ``DAYS``: YYYY-MM-DD text in SQLite, DATE in PostgreSQL.
TABLES: tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...] = (
    ("staff", ("added_at",), ("active",)),
    ("tips", ("created_at", "updated_at", "forwarded_at", "acknowledged_at", "closed_at", "redacted_at"), ()),
    ("followups", ("created_at",), ()),
    ("evidence", ("added_at",), ()),
    ("tip_messages", ("created_at", "delivered_at"), ()),
    ("subscriptions", ("created_at",), ()),
    ("sessions", ("updated_at", "expires_at"), ()),
    ("counters", (), ()),
    ("throttles", ("updated_at",), ()),
    ("meta", (), ()),
    ("duplicate_candidates", (), ()),
    ("units", ("linked_at", "created_at", "updated_at"), ("active",)),
    ("unit_communes", (), ()),
    ("unit_invites", ("created_at", "expires_at", "used_at"), ()),
    ("unit_relinks", ("requested_at",), ()),
    ("cards", (), ()),
    ("deadlines", ("due_at", "reminded_at", "escalated_at", "met_at"), ()),
    ("prompts", ("created_at", "expires_at", "used_at"), ()),
    ("outbox", ("created_at", "next_attempt_at", "lease_until", "delivered_at", "failed_at"), ()),
    ("webhook_updates", ("seen_at",), ()),
    ("outreach_subscribers", (), ("active",)),
    ("outreach_subscriber_events", (), ()),
    ("outreach_campaigns", ("next_run_at", "created_at", "updated_at"), ()),
    ("outreach_runs", ("started_at", "finished_at"), ()),
    ("outreach_recipients", ("next_attempt_at", "lease_until", "finished_at"), ("answered",)),
    ("outreach_poll_tallies", (), ()),
    ("audit_log", (), ()),  # ``at`` stays the exact text that was hashed
)
DAYS = frozenset({"consented_on", "changed_on", "on_day"})
_IDENTITY = ("staff", "tips", "followups", "evidence", "tip_messages", "subscriptions", "units", "unit_invites",
             "deadlines", "prompts", "outbox", "outreach_subscribers", "outreach_subscriber_events",
             "outreach_campaigns", "outreach_recipients")  # fmt: skip


class DestinationNotEmpty(Exception):
    pass


@dataclass(frozen=True)
class CopyReport:
    rows: dict[str, int]


def _time(value: Any) -> datetime | None:
    if value is None:
        return None
    moment = datetime.fromisoformat(str(value))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _day(value: Any) -> date | None:
    return None if value is None else date.fromisoformat(str(value))


async def _rows(conn: aiosqlite.Connection, table: str) -> tuple[list[str], list[tuple[Any, ...]]]:
    async with conn.execute(f'SELECT * FROM "{table}"') as cursor:
        columns = [description[0] for description in cursor.description]
        return columns, [tuple(row) for row in await cursor.fetchall()]


async def copy_database(source: SqliteStorage, destination: PgStorage) -> CopyReport:
    counts: dict[str, int] = {}
    async with destination.pool.acquire() as pg, pg.transaction():
        for table, _times, _flags in TABLES:
            if table != "meta" and await pg.fetchval(f'SELECT EXISTS (SELECT 1 FROM "{table}")'):
                raise DestinationNotEmpty(f"the destination database is not empty ({table} has rows)")
        await pg.execute("DELETE FROM meta")
        async with source.read() as _uow:
            conn = source.conn
            for table, times, flags in TABLES:
                columns, rows = await _rows(conn, table)
                if table == "tips":  # a tip may be the duplicate of a later one: links are set afterwards
                    links = [(row[columns.index("id")], row[columns.index("duplicate_of")]) for row in rows]
                    rows = [tuple(None if c == "duplicate_of" else v for c, v in zip(columns, row, strict=True)) for row in rows]
                converted = [
                    tuple(
                        _time(value) if column in times else bool(value) if column in flags else
                        _day(value) if column in DAYS else
                        bytes(value) if isinstance(value, memoryview | bytes) else value
                        for column, value in zip(columns, row, strict=True)
                    )
                    for row in rows
                ]
                quoted = ", ".join(f'"{column}"' for column in columns)
                marks = ", ".join(f"${index}" for index in range(1, len(columns) + 1))
                if converted:
                    await pg.executemany(f'INSERT INTO "{table}" ({quoted}) VALUES ({marks})', converted)
                if table == "tips":
                    await pg.executemany(
                        "UPDATE tips SET duplicate_of = $2 WHERE id = $1", [link for link in links if link[1] is not None]
                    )
                counts[table] = len(converted)
            async with conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'audit_log'") as cursor:
                seq = await cursor.fetchone()
        last = max(int(seq[0]) if seq else 0, int(await pg.fetchval("SELECT COALESCE(MAX(id), 0) FROM audit_log")))
        await pg.execute("UPDATE audit_head SET last_id = $1", last)
        for table in _IDENTITY:  # the next id continues after the copied ones
            await pg.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), GREATEST((SELECT COALESCE(MAX(id), 0) FROM {table}), 1))"
            )
    return CopyReport(counts)
