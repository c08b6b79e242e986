"""Tips, their evidence and follow-ups, as domain objects."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import datetime, timedelta

import aiosqlite

from tipline.places.textnorm import fold
from tipline.records.model import ReportRow
from tipline.storage.ports import CodeTaken
from tipline.storage.sqlite.base import Repository
from tipline.storage.sqlite.codec import dt, opt_dt, opt_ts, ts
from tipline.tips import CLOSED, Category, Evidence, Followup, NewTip, Status, Tip, Urgency

_COLUMNS = (
    "id, code, status, category, urgency, province_code, commune_code, address, latitude, longitude, "
    "description, language, channel, sender_recent_tips, created_at, updated_at, priority, triage, claimed_by, "
    "duplicate_of, unit_id, outcome, forwarded_at, acknowledged_at, closed_at"
)
# The moderation fields a service may change; anything else is refused (and is never SQL from a caller).
_UPDATABLE = frozenset(
    {
        "status", "priority", "triage", "claimed_by", "duplicate_of", "unit_id", "outcome", "updated_at",
        "forwarded_at", "acknowledged_at", "closed_at",
    }
)
_TIMES = frozenset({"updated_at", "forwarded_at", "acknowledged_at", "closed_at"})
_OPEN = tuple(status.value for status in Status if status not in CLOSED)


def _tip(row: aiosqlite.Row, evidence: tuple[Evidence, ...]) -> Tip:
    return Tip(
        id=row["id"],
        code=row["code"],
        status=Status(row["status"]),
        category=Category(row["category"]),
        urgency=Urgency(row["urgency"]),
        province_code=row["province_code"],
        commune_code=row["commune_code"],
        address=row["address"],
        latitude=row["latitude"],
        longitude=row["longitude"],
        description=row["description"],
        language=row["language"],
        channel=row["channel"],
        sender_recent_tips=row["sender_recent_tips"],
        created_at=dt(row["created_at"]),
        updated_at=dt(row["updated_at"]),
        evidence=evidence,
        priority=row["priority"],
        triage=row["triage"],
        claimed_by=row["claimed_by"],
        duplicate_of=row["duplicate_of"],
        unit_id=row["unit_id"],
        outcome=row["outcome"],
        forwarded_at=opt_dt(row["forwarded_at"]),
        acknowledged_at=opt_dt(row["acknowledged_at"]),
        closed_at=opt_dt(row["closed_at"]),
    )


_INSERT_TIP = (
    "INSERT INTO tips (code, status, category, urgency, province_code, commune_code, address, "
    "latitude, longitude, description, language, channel, passphrase_hash, sender_recent_tips, "
    "created_at, updated_at, search_text, priority) "
    f"VALUES (?, 'new', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1) RETURNING {_COLUMNS}"
)
_INSERT_EVIDENCE = (
    "INSERT INTO evidence (tip_id, followup_id, kind, ref, size, mime, name, added_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)
_ADD_DUPLICATE = "INSERT OR REPLACE INTO duplicate_candidates (tip_id, other_id, score) VALUES (?, ?, ?)"


def _tip_params(tip: NewTip, code: str, passphrase_hash: str, now: datetime) -> tuple[object, ...]:
    return (
        code, tip.category.value, tip.urgency.value, tip.province_code, tip.commune_code,
        tip.address, tip.latitude, tip.longitude, tip.description, tip.language, tip.channel,
        passphrase_hash, tip.sender_recent_tips, ts(now), ts(now), fold(f"{tip.description} {tip.address or ''}"),
    )


def _evidence_rows(
    tip_id: int, items: tuple[Evidence, ...], now: datetime, followup_id: int | None = None
) -> list[tuple[object, ...]]:
    return [(tip_id, followup_id, e.kind, e.ref, e.size, e.mime, e.name, ts(now)) for e in items]


def _created(row: aiosqlite.Row, tip: NewTip) -> Tip:
    # The row as written, and its evidence as given: nothing to read back.
    return _tip(row, tuple(Evidence(e.kind, e.ref, e.size, e.mime, e.name) for e in tip.evidence))


def create_now(db: sqlite3.Connection, tip: NewTip, code: str, passphrase_hash: str, now: datetime) -> Tip:
    """``SqliteTips.create`` inside a transaction run in the connection's thread (``SqliteStorage.file_tip``)."""
    try:
        row = db.execute(_INSERT_TIP, _tip_params(tip, code, passphrase_hash, now)).fetchone()
    except sqlite3.IntegrityError as exc:
        raise CodeTaken(code) from exc
    if tip.evidence:
        db.executemany(_INSERT_EVIDENCE, _evidence_rows(row["id"], tip.evidence, now))
    return _created(row, tip)


def assessed_now(
    db: sqlite3.Connection, tip_id: int, triage: str, priority: int, duplicates: Sequence[tuple[int, float]]
) -> None:
    """A tip's triage assist and duplicate candidates, inside a transaction run in the connection's thread."""
    db.execute("UPDATE tips SET triage = ?, priority = ? WHERE id = ?", (triage, priority, tip_id))
    if duplicates:
        db.executemany(_ADD_DUPLICATE, [(tip_id, other, score) for other, score in duplicates])


class SqliteTips(Repository):
    async def create(self, tip: NewTip, code: str, passphrase_hash: str, now: datetime) -> Tip:
        try:
            row = await self._one(_INSERT_TIP, _tip_params(tip, code, passphrase_hash, now))
        except aiosqlite.IntegrityError as exc:
            raise CodeTaken(code) from exc
        assert row is not None
        await self._add_evidence(row["id"], tip.evidence, now)
        return _created(row, tip)

    async def _add_evidence(
        self, tip_id: int, items: tuple[Evidence, ...], now: datetime, followup_id: int | None = None
    ) -> None:
        await self._many(_INSERT_EVIDENCE, _evidence_rows(tip_id, items, now, followup_id))

    async def _with_evidence(self, rows: list[aiosqlite.Row]) -> list[Tip]:
        """Tips for rows, with their evidence read in one query."""
        if not rows:
            return []
        ids = [row["id"] for row in rows]
        marks = ", ".join("?" * len(ids))
        evidence: dict[int, list[Evidence]] = {}
        for item in await self._all(
            f"SELECT tip_id, kind, ref, size, mime, name FROM evidence WHERE tip_id IN ({marks}) ORDER BY id", ids
        ):
            evidence.setdefault(item["tip_id"], []).append(
                Evidence(item["kind"], item["ref"], item["size"], item["mime"], item["name"])
            )
        return [_tip(row, tuple(evidence.get(row["id"], ()))) for row in rows]

    async def by_id(self, tip_id: int) -> Tip | None:
        found = await self._with_evidence(await self._all(f"SELECT {_COLUMNS} FROM tips WHERE id = ?", (tip_id,)))
        return found[0] if found else None

    async def by_code(self, code: str) -> Tip | None:
        found = await self._with_evidence(await self._all(f"SELECT {_COLUMNS} FROM tips WHERE code = ?", (code,)))
        return found[0] if found else None

    async def passphrase_hash(self, code: str) -> str | None:
        row = await self._one("SELECT passphrase_hash FROM tips WHERE code = ?", (code,))
        return str(row[0]) if row else None

    async def update(self, tip_id: int, **changes: object) -> None:
        unknown = set(changes) - _UPDATABLE
        if unknown:
            raise ValueError(f"not a field a service may change: {sorted(unknown)}")
        if not changes:
            return
        values = [
            opt_ts(value) if name in _TIMES and (value is None or isinstance(value, datetime)) else
            value.value if isinstance(value, Status) else value
            for name, value in changes.items()
        ]
        assignments = ", ".join(f"{name} = ?" for name in changes)
        await self._run(f"UPDATE tips SET {assignments} WHERE id = ?", (*values, tip_id))

    async def add_followup(self, tip_id: int, text: str, evidence: tuple[Evidence, ...], now: datetime) -> int:
        followup_id = await self._insert(
            "INSERT INTO followups (tip_id, text, created_at) VALUES (?, ?, ?)", (tip_id, text, ts(now))
        )
        await self._add_evidence(tip_id, evidence, now, followup_id)
        await self._run("UPDATE tips SET updated_at = ? WHERE id = ?", (ts(now), tip_id))
        return followup_id

    async def followups(self, tip_id: int) -> list[Followup]:
        rows = await self._all("SELECT id, text, created_at FROM followups WHERE tip_id = ? ORDER BY id", (tip_id,))
        files: dict[int, list[Evidence]] = {}
        for item in await self._all(
            "SELECT followup_id, kind, ref, size, mime, name FROM evidence WHERE tip_id = ? AND followup_id IS NOT NULL "
            "ORDER BY id",
            (tip_id,),
        ):
            files.setdefault(item["followup_id"], []).append(
                Evidence(item["kind"], item["ref"], item["size"], item["mime"], item["name"])
            )
        return [
            Followup(row["id"], row["text"], dt(row["created_at"]), tuple(files.get(row["id"], ()))) for row in rows
        ]

    async def count(self) -> int:
        row = await self._one("SELECT COUNT(*) FROM tips")
        return int(row[0]) if row else 0

    async def followup_count(self, tip_id: int) -> int:
        row = await self._one("SELECT COUNT(*) FROM followups WHERE tip_id = ?", (tip_id,))
        return int(row[0]) if row else 0

    async def in_commune_since(self, commune_code: int, since: datetime, exclude_id: int) -> list[Tip]:
        rows = await self._all(
            f"SELECT {_COLUMNS} FROM tips WHERE commune_code = ? AND created_at >= ? AND id != ? ORDER BY id",
            (commune_code, ts(since), exclude_id),
        )
        return [_tip(row, ()) for row in rows]

    async def add_duplicate_candidates(self, tip_id: int, scores: Sequence[tuple[int, float]]) -> None:
        await self._many(_ADD_DUPLICATE, [(tip_id, other, score) for other, score in scores])

    async def open_tips(self, offset: int, limit: int) -> tuple[list[Tip], int]:
        marks = ",".join("?" * len(_OPEN))
        rows = await self._all(
            f"SELECT {_COLUMNS} FROM tips WHERE status IN ({marks}) ORDER BY priority DESC, created_at, id "
            "LIMIT ? OFFSET ?",
            (*_OPEN, limit, offset),
        )
        total = await self._one(f"SELECT COUNT(*) FROM tips WHERE status IN ({marks})", _OPEN)
        return await self._with_evidence(rows), int(total[0]) if total else 0

    async def search(self, folded_words: Sequence[str], limit: int) -> list[Tip]:
        if not folded_words:
            return []
        clause = " AND ".join("search_text LIKE ? ESCAPE '\\'" for _ in folded_words)
        patterns = [f"%{_escape_like(word)}%" for word in folded_words]
        rows = await self._all(
            f"SELECT {_COLUMNS} FROM tips WHERE {clause} ORDER BY created_at DESC, id DESC LIMIT ?", (*patterns, limit)
        )
        return await self._with_evidence(rows)

    async def redact_closed(self, closed_before: datetime, now: datetime) -> int:
        """Drops the free text, evidence and messages (and the outbox items that carried them) of tips closed
        before ``closed_before``; code, status, place and dates stay for the statistics."""
        ids = [row[0] for row in await self._all(
            "SELECT id FROM tips WHERE closed_at IS NOT NULL AND closed_at < ? AND redacted_at IS NULL",
            (ts(closed_before),),
        )]
        for tip_id in ids:
            await self._run("DELETE FROM evidence WHERE tip_id = ?", (tip_id,))
            await self._run("DELETE FROM followups WHERE tip_id = ?", (tip_id,))
            await self._run("DELETE FROM tip_messages WHERE tip_id = ?", (tip_id,))
            # Lines already sent to the moderators carry the tipster's words and files too.
            await self._run("DELETE FROM outbox WHERE tip_id = ?", (tip_id,))
            await self._run(
                "UPDATE tips SET description = '', address = NULL, latitude = NULL, longitude = NULL, search_text = '', "
                "triage = '{}', redacted_at = ? WHERE id = ?",
                (ts(now), tip_id),
            )
        return len(ids)

    async def report_rows(self, begin: datetime, end: datetime, province_code: int | None) -> list[ReportRow]:
        # Only these columns are ever read: the query itself cannot leak a description or an address.
        # Times are ISO strings: a day's margin in SQL, then the exact bounds on parsed times, so that any
        # offset a time was written with compares correctly.
        sql = (
            "SELECT code, created_at, status, category, urgency, province_code, commune_code, priority, "
            "forwarded_at, acknowledged_at, closed_at, outcome FROM tips WHERE created_at >= ? AND created_at < ?"
        )
        params: list[object] = [ts(begin - timedelta(days=1)), ts(end + timedelta(days=1))]
        if province_code is not None:
            sql += " AND province_code = ?"
            params.append(province_code)
        found = []
        for row in await self._all(sql + " ORDER BY created_at, id", params):
            created = dt(row["created_at"])
            if begin <= created < end:
                found.append(
                    ReportRow(
                        code=row["code"], created_at=created, status=row["status"], category=row["category"],
                        urgency=row["urgency"], province_code=row["province_code"],
                        commune_code=row["commune_code"], priority=row["priority"],
                        forwarded_at=opt_dt(row["forwarded_at"]), acknowledged_at=opt_dt(row["acknowledged_at"]),
                        closed_at=opt_dt(row["closed_at"]), outcome=row["outcome"],
                    )
                )
        found.sort(key=lambda r: r.created_at)
        return found


def _escape_like(word: str) -> str:
    return word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
