"""Deadlines of the police units, kept in the database so reminders and escalations survive restarts."""

from __future__ import annotations

from datetime import datetime

from tipline.staff.model import OpenDeadline
from tipline.storage.sqlite.base import Repository
from tipline.storage.sqlite.codec import dt, opt_dt, ts


class SqliteDeadlines(Repository):
    async def set(self, tip_id: int, kind: str, due: datetime) -> None:
        await self._run(
            "INSERT INTO deadlines (tip_id, kind, due_at) VALUES (?, ?, ?) ON CONFLICT (tip_id, kind) DO UPDATE SET "
            "due_at = excluded.due_at, reminded_at = NULL, escalated_at = NULL, met_at = NULL",
            (tip_id, kind, ts(due)),
        )

    async def meet(self, tip_id: int, now: datetime, kind: str | None = None) -> None:
        if kind is None:
            await self._run("UPDATE deadlines SET met_at = ? WHERE tip_id = ? AND met_at IS NULL", (ts(now), tip_id))
        else:
            await self._run(
                "UPDATE deadlines SET met_at = ? WHERE tip_id = ? AND kind = ? AND met_at IS NULL", (ts(now), tip_id, kind)
            )

    async def open(self) -> list[OpenDeadline]:
        rows = await self._all(
            "SELECT d.id, d.tip_id, d.kind, d.due_at, d.reminded_at, d.escalated_at, t.code, t.unit_id, "
            "t.forwarded_at, t.acknowledged_at FROM deadlines d JOIN tips t ON t.id = d.tip_id "
            "WHERE d.met_at IS NULL ORDER BY d.due_at, d.id"
        )
        return [
            OpenDeadline(
                id=row["id"], tip_id=row["tip_id"], kind=row["kind"], due_at=dt(row["due_at"]),
                reminded_at=opt_dt(row["reminded_at"]), escalated_at=opt_dt(row["escalated_at"]),
                tip_code=row["code"], unit_id=row["unit_id"],
                started_at=dt(
                    (row["acknowledged_at"] if row["kind"] == "outcome" else row["forwarded_at"])
                    or row["forwarded_at"] or row["due_at"]
                ),
            )
            for row in rows
        ]

    async def reminded(self, deadline_id: int, now: datetime) -> None:
        await self._run("UPDATE deadlines SET reminded_at = ? WHERE id = ?", (ts(now), deadline_id))

    async def escalated(self, deadline_id: int, now: datetime) -> None:
        await self._run("UPDATE deadlines SET escalated_at = ? WHERE id = ?", (ts(now), deadline_id))
