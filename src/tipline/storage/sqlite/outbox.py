"""The outbox: what the bot still owes someone, written with the change that caused it, leased to one
worker at a time, retried with backoff, marked delivered only once the channel accepted it."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from datetime import datetime

from tipline.delivery.model import Audience, Kind, NewItem, OutboxItem, OutboxTally
from tipline.storage.sqlite.base import Repository
from tipline.storage.sqlite.codec import dt, ts

_DUE = "delivered_at IS NULL AND failed_at IS NULL"


_ADD = (
    "INSERT INTO outbox (kind, priority, channel, audience, tip_id, unit_id, payload, created_at, next_attempt_at) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def _params(item: NewItem, now: datetime) -> tuple[object, ...]:
    return (
        item.kind.value, int(item.priority), item.channel, item.audience.value, item.tip_id, item.unit_id,
        json.dumps(item.payload, ensure_ascii=False), ts(now), ts(now),
    )


def add_now(db: sqlite3.Connection, item: NewItem, now: datetime) -> int:
    """``SqliteOutbox.add`` inside a transaction run in the connection's thread."""
    return int(db.execute(_ADD, _params(item, now)).lastrowid or 0)


class SqliteOutbox(Repository):
    async def add(self, item: NewItem, now: datetime) -> int:
        return await self._insert(_ADD, _params(item, now))

    async def claim(
        self, owner: str, now: datetime, lease_until: datetime, limit: int, channels: Sequence[str],
        unaddressed: bool = True,
    ) -> list[OutboxItem]:
        marks = ", ".join("?" * len(channels)) or "NULL"
        rows = await self._all(
            f"UPDATE outbox SET lease_owner = ?, lease_until = ? WHERE id IN ("
            f"SELECT id FROM outbox WHERE {_DUE} AND next_attempt_at <= ? "
            f"AND (lease_until IS NULL OR lease_until <= ?) AND ((? AND channel IS NULL) OR channel IN ({marks})) "
            "ORDER BY priority, next_attempt_at, id LIMIT ?) "
            "RETURNING id, kind, audience, tip_id, unit_id, payload, priority, attempts, created_at",
            (owner, ts(lease_until), ts(now), ts(now), int(unaddressed), *channels, limit),
        )
        items = [
            OutboxItem(
                id=row["id"], kind=Kind(row["kind"]), audience=Audience(row["audience"]), tip_id=row["tip_id"],
                unit_id=row["unit_id"], payload=json.loads(row["payload"]), priority=row["priority"],
                attempts=row["attempts"], created_at=dt(row["created_at"]),
            )
            for row in rows
        ]
        items.sort(key=lambda item: (item.priority, item.id))
        return items

    async def delivered(self, item_id: int, now: datetime) -> None:
        await self._run(
            "UPDATE outbox SET delivered_at = ?, lease_owner = NULL, lease_until = NULL WHERE id = ?", (ts(now), item_id)
        )

    async def retry(self, item_id: int, at: datetime, *, count_attempt: bool) -> None:
        await self._run(
            "UPDATE outbox SET next_attempt_at = ?, attempts = attempts + ?, lease_owner = NULL, lease_until = NULL "
            "WHERE id = ?",
            (ts(at), int(count_attempt), item_id),
        )

    async def fail(self, item_id: int, now: datetime, reason: str) -> None:
        await self._run(
            "UPDATE outbox SET failed_at = ?, failure = ?, attempts = attempts + 1, lease_owner = NULL, "
            "lease_until = NULL WHERE id = ?",
            (ts(now), reason[:200], item_id),
        )

    async def backlog(self, now: datetime) -> tuple[int, datetime | None]:
        row = await self._one(f"SELECT COUNT(*), MIN(created_at) FROM outbox WHERE {_DUE}")
        if row is None or not row[0]:
            return 0, None
        return int(row[0]), dt(row[1])

    async def tally(self, kind: Kind | None = None) -> OutboxTally:
        row = await self._one(
            "SELECT COUNT(*) FILTER (WHERE delivered_at IS NULL AND failed_at IS NULL), "
            "COUNT(*) FILTER (WHERE delivered_at IS NOT NULL), COUNT(*) FILTER (WHERE failed_at IS NOT NULL) "
            "FROM outbox WHERE ? IS NULL OR kind = ?",
            (kind and kind.value, kind and kind.value),
        )
        return OutboxTally(*(int(value or 0) for value in row)) if row else OutboxTally()
