"""The audit log's rows; appends are serialised on the one row of ``audit_head`` (one chain, whatever the
number of workers). Append-only: triggers refuse UPDATE, DELETE and TRUNCATE."""

from __future__ import annotations

from datetime import UTC, datetime

import asyncpg

from tipline.records.model import AuditRecord
from tipline.storage.postgres.base import Repository

_FIELDS = "id, at, actor_role, actor_id, tip_code, action, from_status, to_status, detail, prev_hash, hash, mac"
_UNREADABLE = datetime.min.replace(tzinfo=UTC)


def _record(row: asyncpg.Record) -> AuditRecord:
    try:
        at = datetime.fromisoformat(row["at"])
        at = at if at.tzinfo else at.replace(tzinfo=UTC)
    except (TypeError, ValueError):
        at = _UNREADABLE
    return AuditRecord(
        id=row["id"], at=at, actor_role=row["actor_role"], actor_id=row["actor_id"], tip_code=row["tip_code"],
        action=row["action"], from_status=row["from_status"], to_status=row["to_status"], detail=row["detail"],
        prev_hash=row["prev_hash"], hash=row["hash"], mac=row["mac"], at_text=str(row["at"]),
    )


class PgAudit(Repository):
    async def lock_chain(self) -> None:
        """Locks the chain's head for the rest of the unit of work: appends from several workers take turns."""
        await self.conn.execute("SELECT last_id FROM audit_head FOR UPDATE")

    async def head(self) -> AuditRecord | None:
        row = await self._one(f"SELECT {_FIELDS} FROM audit_log ORDER BY id DESC LIMIT 1")
        return _record(row) if row else None

    async def highest_id(self) -> int:
        value = await self.conn.fetchval("SELECT last_id FROM audit_head")
        last = await self.conn.fetchval("SELECT MAX(id) FROM audit_log")
        return max(int(value or 0), int(last or 0))

    async def insert(self, record: AuditRecord) -> None:
        await self._run(
            f"INSERT INTO audit_log ({_FIELDS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
            (
                record.id, record.at_text or record.at.isoformat(timespec="microseconds"), record.actor_role,
                record.actor_id, record.tip_code, record.action, record.from_status, record.to_status, record.detail,
                record.prev_hash, record.hash, record.mac,
            ),
        )
        await self._run("UPDATE audit_head SET last_id = GREATEST(last_id, $1)", (record.id,))

    async def for_tip(self, tip_code: str) -> list[AuditRecord]:
        rows = await self._all(f"SELECT {_FIELDS} FROM audit_log WHERE tip_code = $1 ORDER BY id", (tip_code,))
        return [_record(row) for row in rows]

    async def last_by_staff(self, tip_code: str) -> AuditRecord | None:
        row = await self._one(
            f"SELECT {_FIELDS} FROM audit_log WHERE tip_code = $1 AND actor_role IN ('admin', 'moderator', 'unit') "
            "AND action NOT IN ('refused', 'viewed', 'searched') ORDER BY id DESC LIMIT 1",
            (tip_code,),
        )
        return _record(row) if row else None

    async def all(self) -> list[AuditRecord]:
        return [_record(row) for row in await self._all(f"SELECT {_FIELDS} FROM audit_log ORDER BY id")]
