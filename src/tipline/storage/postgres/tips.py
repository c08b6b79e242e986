"""Tips, their evidence and follow-ups, as domain objects."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import asyncpg

from tipline.places.textnorm import fold
from tipline.records.model import ReportRow
from tipline.storage.ports import CodeTaken
from tipline.storage.postgres.base import Repository
from tipline.tips import CLOSED, Category, Evidence, Followup, NewTip, Status, Tip, Urgency

_COLUMNS = (
    "id, code, status, category, urgency, province_code, commune_code, address, latitude, longitude, "
    "description, language, channel, sender_recent_tips, created_at, updated_at, priority, triage, claimed_by, "
    "duplicate_of, unit_id, outcome, forwarded_at, acknowledged_at, closed_at"
)
_UPDATABLE = frozenset(
    {
        "status", "priority", "triage", "claimed_by", "duplicate_of", "unit_id", "outcome", "updated_at",
        "forwarded_at", "acknowledged_at", "closed_at",
    }
)
_OPEN = [status.value for status in Status if status not in CLOSED]


def _tip(row: asyncpg.Record, evidence: tuple[Evidence, ...]) -> Tip:
    return Tip(
        id=row["id"], code=row["code"], status=Status(row["status"]), category=Category(row["category"]),
        urgency=Urgency(row["urgency"]), province_code=row["province_code"], commune_code=row["commune_code"],
        address=row["address"], latitude=row["latitude"], longitude=row["longitude"],
        description=row["description"], language=row["language"], channel=row["channel"],
        sender_recent_tips=row["sender_recent_tips"], created_at=row["created_at"], updated_at=row["updated_at"],
        evidence=evidence, priority=row["priority"], triage=row["triage"], claimed_by=row["claimed_by"],
        duplicate_of=row["duplicate_of"], unit_id=row["unit_id"], outcome=row["outcome"],
        forwarded_at=row["forwarded_at"], acknowledged_at=row["acknowledged_at"], closed_at=row["closed_at"],
    )


class PgTips(Repository):
    async def create(self, tip: NewTip, code: str, passphrase_hash: str, now: datetime) -> Tip:
        try:
            async with self.conn.transaction():  # a savepoint: a taken code leaves the outer unit of work usable
                tip_id = await self._insert(
                    "INSERT INTO tips (code, status, category, urgency, province_code, commune_code, address, "
                    "latitude, longitude, description, language, channel, passphrase_hash, sender_recent_tips, "
                    "created_at, updated_at, search_text, priority) "
                    "VALUES ($1, 'new', $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $14, $15, 1) RETURNING id",
                    (
                        code, tip.category.value, tip.urgency.value, tip.province_code, tip.commune_code, tip.address,
                        tip.latitude, tip.longitude, tip.description, tip.language, tip.channel, passphrase_hash,
                        tip.sender_recent_tips, now, fold(f"{tip.description} {tip.address or ''}"),
                    ),
                )
        except asyncpg.UniqueViolationError as exc:
            raise CodeTaken(code) from exc
        await self._add_evidence(tip_id, tip.evidence, now)
        found = await self.by_id(tip_id)
        assert found is not None
        return found

    async def _add_evidence(
        self, tip_id: int, items: tuple[Evidence, ...], now: datetime, followup_id: int | None = None
    ) -> None:
        if items:
            await self.conn.executemany(
                "INSERT INTO evidence (tip_id, followup_id, kind, ref, size, mime, name, added_at) "
                "VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                [(tip_id, followup_id, e.kind, e.ref, e.size, e.mime, e.name, now) for e in items],
            )

    async def _with_evidence(self, rows: list[asyncpg.Record]) -> list[Tip]:
        if not rows:
            return []
        evidence: dict[int, list[Evidence]] = {}
        for item in await self._all(
            "SELECT tip_id, kind, ref, size, mime, name FROM evidence WHERE tip_id = ANY($1::bigint[]) ORDER BY id",
            ([row["id"] for row in rows],),
        ):
            evidence.setdefault(item["tip_id"], []).append(
                Evidence(item["kind"], item["ref"], item["size"], item["mime"], item["name"])
            )
        return [_tip(row, tuple(evidence.get(row["id"], ()))) for row in rows]

    async def by_id(self, tip_id: int) -> Tip | None:
        """In a unit of work that writes, the tip's row stays locked until it ends: what is decided from the tip
        (a claim, a move of the state machine) cannot be overtaken by another worker acting on it meanwhile."""
        lock = " FOR UPDATE" if self.writing else ""
        found = await self._with_evidence(await self._all(f"SELECT {_COLUMNS} FROM tips WHERE id = $1{lock}", (tip_id,)))
        return found[0] if found else None

    async def by_code(self, code: str) -> Tip | None:
        found = await self._with_evidence(await self._all(f"SELECT {_COLUMNS} FROM tips WHERE code = $1", (code,)))
        return found[0] if found else None

    async def passphrase_hash(self, code: str) -> str | None:
        row = await self._one("SELECT passphrase_hash FROM tips WHERE code = $1", (code,))
        return str(row[0]) if row else None

    async def update(self, tip_id: int, **changes: object) -> None:
        unknown = set(changes) - _UPDATABLE
        if unknown:
            raise ValueError(f"not a field a service may change: {sorted(unknown)}")
        if not changes:
            return
        values = [value.value if isinstance(value, Status) else value for value in changes.values()]
        assignments = ", ".join(f"{name} = ${index}" for index, name in enumerate(changes, start=1))
        await self._run(f"UPDATE tips SET {assignments} WHERE id = ${len(values) + 1}", (*values, tip_id))

    async def add_followup(self, tip_id: int, text: str, evidence: tuple[Evidence, ...], now: datetime) -> int:
        followup_id = await self._insert(
            "INSERT INTO followups (tip_id, text, created_at) VALUES ($1, $2, $3) RETURNING id", (tip_id, text, now)
        )
        await self._add_evidence(tip_id, evidence, now, followup_id)
        await self._run("UPDATE tips SET updated_at = $1 WHERE id = $2", (now, tip_id))
        return followup_id

    async def followups(self, tip_id: int) -> list[Followup]:
        rows = await self._all("SELECT id, text, created_at FROM followups WHERE tip_id = $1 ORDER BY id", (tip_id,))
        files: dict[int, list[Evidence]] = {}
        for item in await self._all(
            "SELECT followup_id, kind, ref, size, mime, name FROM evidence WHERE tip_id = $1 AND followup_id IS NOT NULL "
            "ORDER BY id",
            (tip_id,),
        ):
            files.setdefault(item["followup_id"], []).append(
                Evidence(item["kind"], item["ref"], item["size"], item["mime"], item["name"])
            )
        return [Followup(row["id"], row["text"], row["created_at"], tuple(files.get(row["id"], ()))) for row in rows]

    async def count(self) -> int:
        return int(await self.conn.fetchval("SELECT COUNT(*) FROM tips") or 0)

    async def followup_count(self, tip_id: int) -> int:
        row = await self._one("SELECT COUNT(*) FROM followups WHERE tip_id = $1", (tip_id,))
        return int(row[0]) if row else 0

    async def in_commune_since(self, commune_code: int, since: datetime, exclude_id: int) -> list[Tip]:
        rows = await self._all(
            f"SELECT {_COLUMNS} FROM tips WHERE commune_code = $1 AND created_at >= $2 AND id != $3 ORDER BY id",
            (commune_code, since, exclude_id),
        )
        return [_tip(row, ()) for row in rows]

    async def add_duplicate_candidates(self, tip_id: int, scores: Sequence[tuple[int, float]]) -> None:
        if scores:
            await self.conn.executemany(
                "INSERT INTO duplicate_candidates (tip_id, other_id, score) VALUES ($1, $2, $3) "
                "ON CONFLICT (tip_id, other_id) DO UPDATE SET score = excluded.score",
                [(tip_id, other, score) for other, score in scores],
            )

    async def open_tips(self, offset: int, limit: int) -> tuple[list[Tip], int]:
        rows = await self._all(
            f"SELECT {_COLUMNS} FROM tips WHERE status = ANY($1::text[]) ORDER BY priority DESC, created_at, id "
            "LIMIT $2 OFFSET $3",
            (_OPEN, limit, offset),
        )
        total = await self._one("SELECT COUNT(*) FROM tips WHERE status = ANY($1::text[])", (_OPEN,))
        return await self._with_evidence(rows), int(total[0]) if total else 0

    async def search(self, folded_words: Sequence[str], limit: int) -> list[Tip]:
        if not folded_words:
            return []
        clause = " AND ".join(f"search_text LIKE ${i} ESCAPE '\\'" for i in range(1, len(folded_words) + 1))
        patterns = [f"%{_escape_like(word)}%" for word in folded_words]
        rows = await self._all(
            f"SELECT {_COLUMNS} FROM tips WHERE {clause} ORDER BY created_at DESC, id DESC LIMIT ${len(patterns) + 1}",
            (*patterns, limit),
        )
        return await self._with_evidence(rows)

    async def redact_closed(self, closed_before: datetime, now: datetime) -> int:
        ids = [row[0] for row in await self._all(
            "SELECT id FROM tips WHERE closed_at IS NOT NULL AND closed_at < $1 AND redacted_at IS NULL", (closed_before,)
        )]
        if ids:
            await self._run("DELETE FROM evidence WHERE tip_id = ANY($1::bigint[])", (ids,))
            await self._run("DELETE FROM followups WHERE tip_id = ANY($1::bigint[])", (ids,))
            await self._run("DELETE FROM tip_messages WHERE tip_id = ANY($1::bigint[])", (ids,))
            await self._run("DELETE FROM outbox WHERE tip_id = ANY($1::bigint[])", (ids,))
            await self._run(
                "UPDATE tips SET description = '', address = NULL, latitude = NULL, longitude = NULL, search_text = '', "
                "triage = '{}', redacted_at = $1 WHERE id = ANY($2::bigint[])",
                (now, ids),
            )
        return len(ids)

    async def report_rows(self, begin: datetime, end: datetime, province_code: int | None) -> list[ReportRow]:
        rows = await self._all(
            "SELECT code, created_at, status, category, urgency, province_code, commune_code, priority, forwarded_at, "
            "acknowledged_at, closed_at, outcome FROM tips WHERE created_at >= $1 AND created_at < $2 "
            "AND ($3::integer IS NULL OR province_code = $3) ORDER BY created_at, id",
            (begin, end, province_code),
        )
        return [
            ReportRow(
                code=row["code"], created_at=row["created_at"], status=row["status"], category=row["category"],
                urgency=row["urgency"], province_code=row["province_code"], commune_code=row["commune_code"],
                priority=row["priority"], forwarded_at=row["forwarded_at"], acknowledged_at=row["acknowledged_at"],
                closed_at=row["closed_at"], outcome=row["outcome"],
            )
            for row in rows
        ]


def _escape_like(word: str) -> str:
    return word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
