"""The outbox: leased with FOR UPDATE SKIP LOCKED, so workers in several processes never take one item."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime

from tipline.delivery.model import Audience, Kind, NewItem, OutboxItem, OutboxTally
from tipline.storage.postgres.base import Repository

_DUE = "delivered_at IS NULL AND failed_at IS NULL"


class PgOutbox(Repository):
    async def add(self, item: NewItem, now: datetime) -> int:
        return await self._insert(
            "INSERT INTO outbox (kind, priority, channel, audience, tip_id, unit_id, payload, created_at, next_attempt_at) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) RETURNING id",
            (item.kind.value, int(item.priority), item.channel, item.audience.value, item.tip_id, item.unit_id,
             json.dumps(item.payload, ensure_ascii=False), now),
        )

    async def claim(
        self, owner: str, now: datetime, lease_until: datetime, limit: int, channels: Sequence[str],
        unaddressed: bool = True,
    ) -> list[OutboxItem]:
        rows = await self._all(
            f"UPDATE outbox SET lease_owner = $1, lease_until = $2 WHERE id IN ("
            f"SELECT id FROM outbox WHERE {_DUE} AND next_attempt_at <= $3 AND (lease_until IS NULL OR lease_until <= $3) "
            "AND (($6 AND channel IS NULL) OR channel = ANY($4::text[])) ORDER BY priority, next_attempt_at, id LIMIT $5 "
            "FOR UPDATE SKIP LOCKED) "
            "RETURNING id, kind, audience, tip_id, unit_id, payload, priority, attempts, created_at",
            (owner, lease_until, now, list(channels), limit, unaddressed),
        )
        items = [
            OutboxItem(
                id=row["id"], kind=Kind(row["kind"]), audience=Audience(row["audience"]), tip_id=row["tip_id"],
                unit_id=row["unit_id"], payload=json.loads(row["payload"]), priority=row["priority"],
                attempts=row["attempts"], created_at=row["created_at"],
            )
            for row in rows
        ]
        items.sort(key=lambda item: (item.priority, item.id))
        return items

    async def delivered(self, item_id: int, now: datetime) -> None:
        await self._run("UPDATE outbox SET delivered_at = $1, lease_owner = NULL, lease_until = NULL WHERE id = $2", (now, item_id))

    async def retry(self, item_id: int, at: datetime, *, count_attempt: bool) -> None:
        await self._run(
            "UPDATE outbox SET next_attempt_at = $1, attempts = attempts + $2, lease_owner = NULL, lease_until = NULL "
            "WHERE id = $3",
            (at, int(count_attempt), item_id),
        )

    async def fail(self, item_id: int, now: datetime, reason: str) -> None:
        await self._run(
            "UPDATE outbox SET failed_at = $1, failure = $2, attempts = attempts + 1, lease_owner = NULL, "
            "lease_until = NULL WHERE id = $3",
            (now, reason[:200], item_id),
        )

    async def backlog(self, now: datetime) -> tuple[int, datetime | None]:
        row = await self._one(f"SELECT COUNT(*), MIN(created_at) FROM outbox WHERE {_DUE}")
        if row is None or not row[0]:
            return 0, None
        return int(row[0]), row[1]

    async def tally(self, kind: Kind | None = None) -> OutboxTally:
        row = await self._one(
            "SELECT COUNT(*) FILTER (WHERE delivered_at IS NULL AND failed_at IS NULL), "
            "COUNT(*) FILTER (WHERE delivered_at IS NOT NULL), COUNT(*) FILTER (WHERE failed_at IS NOT NULL) "
            "FROM outbox WHERE $1::text IS NULL OR kind = $1",
            (kind and kind.value,),
        )
        return OutboxTally(*(int(value or 0) for value in row)) if row else OutboxTally()
