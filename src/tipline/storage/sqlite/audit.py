"""The audit log's rows. Append-only: the table's triggers abort any UPDATE or DELETE."""

from __future__ import annotations

from datetime import UTC, datetime

import aiosqlite

from tipline.records.model import AuditRecord
from tipline.storage.sqlite.base import Repository
from tipline.storage.sqlite.codec import dt, ts

_FIELDS = "id, at, actor_role, actor_id, tip_code, action, from_status, to_status, detail, prev_hash, hash, mac"


_UNREADABLE = datetime.min.replace(tzinfo=UTC)


def _record(row: aiosqlite.Row) -> AuditRecord:
    # A time that does not parse (the table was tampered with) must not stop verification: the record keeps
    # its text, which the hash check then finds wrong.
    try:
        at = dt(row["at"])
    except (TypeError, ValueError):
        at = _UNREADABLE
    return AuditRecord(
        id=row["id"], at=at, actor_role=row["actor_role"], actor_id=row["actor_id"],
        tip_code=row["tip_code"], action=row["action"], from_status=row["from_status"], to_status=row["to_status"],
        detail=row["detail"], prev_hash=row["prev_hash"], hash=row["hash"], mac=row["mac"], at_text=str(row["at"]),
    )


class SqliteAudit(Repository):
    async def lock_chain(self) -> None:
        """Nothing to do: a SQLite unit of work already holds the database's write lock."""

    async def head(self) -> AuditRecord | None:
        row = await self._one(f"SELECT {_FIELDS} FROM audit_log ORDER BY id DESC LIMIT 1")
        return _record(row) if row else None

    async def highest_id(self) -> int:
        last = await self._one("SELECT MAX(id) FROM audit_log")
        seq = await self._one("SELECT seq FROM sqlite_sequence WHERE name = 'audit_log'")
        return max(int(last[0] or 0) if last else 0, int(seq[0]) if seq else 0)

    async def insert(self, record: AuditRecord) -> None:
        await self._run(
            f"INSERT INTO audit_log ({_FIELDS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                record.id, record.at_text or ts(record.at), record.actor_role, record.actor_id, record.tip_code, record.action,
                record.from_status, record.to_status, record.detail, record.prev_hash, record.hash, record.mac,
            ),
        )

    async def for_tip(self, tip_code: str) -> list[AuditRecord]:
        rows = await self._all(f"SELECT {_FIELDS} FROM audit_log WHERE tip_code = ? ORDER BY id", (tip_code,))
        return [_record(row) for row in rows]

    async def last_by_staff(self, tip_code: str) -> AuditRecord | None:
        row = await self._one(
            f"SELECT {_FIELDS} FROM audit_log WHERE tip_code = ? AND actor_role IN ('admin', 'moderator', 'unit') "
            "AND action NOT IN ('refused', 'viewed', 'searched') ORDER BY id DESC LIMIT 1",
            (tip_code,),
        )
        return _record(row) if row else None

    async def all(self) -> list[AuditRecord]:
        return [_record(row) for row in await self._all(f"SELECT {_FIELDS} FROM audit_log ORDER BY id")]
