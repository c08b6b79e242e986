"""Reading the queue: card views, the list of open tips, search, and the outbox of things to deliver."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from tipline.places.communes import directory
from tipline.places.textnorm import fold
from tipline.staff.cards import CardView
from tipline.staff.triage import Assessment, TipFacts, assess
from tipline.storage.sqlite.database import Database
from tipline.storage.sqlite.outbox import enqueue
from tipline.storage.sqlite.repositories import SqliteTips
from tipline.tips import CLOSED, Status, Tip

MAX_ATTEMPTS = 10  # an outbox item failing this often waits for an operator
OPEN = tuple(s.value for s in Status if s not in CLOSED)


@dataclass(frozen=True)
class Card:
    """Where a tip's card is (its forum topic, if any) and a hash of what it shows."""

    chat_id: int
    message_id: int
    thread_id: int | None
    rendered: str


@dataclass(frozen=True)
class OutboxItem:
    id: int
    audience: str
    tip_id: int | None
    unit_id: int | None
    kind: str
    payload: dict[str, Any]
    attempts: int


class Queue:
    def __init__(self, db: Database) -> None:
        self.db = db
        self.tips = SqliteTips(db)

    async def _rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[Any]:
        async with self.db.read() as conn:
            async with conn.execute(sql, params) as cursor:
                return list(await cursor.fetchall())

    async def tip(self, tip_id: int) -> Tip | None:
        return await self.tips.by_id(tip_id)

    async def tip_by_code(self, code: str) -> Tip | None:
        found = await self.tips.by_code(code)
        return found[0] if found else None

    async def card_view(self, tip_id: int) -> CardView | None:
        tip = await self.tip(tip_id)
        if tip is None:
            return None
        d = directory()
        province = d.province(tip.province_code)
        commune = d.commune(tip.commune_code) if tip.commune_code else None
        claimed = await self._rows("SELECT name FROM staff WHERE id = ?", (tip.claimed_by,)) if tip.claimed_by else []
        unit = await self._rows("SELECT name FROM units WHERE id = ?", (tip.unit_id,)) if tip.unit_id else []
        dup = await self._rows("SELECT code FROM tips WHERE id = ?", (tip.duplicate_of,)) if tip.duplicate_of else []
        followups = await self._rows("SELECT COUNT(*) AS n FROM followups WHERE tip_id = ?", (tip.id,))
        last = await self._rows(
            "SELECT a.action, a.at, a.actor_role, a.actor_id FROM audit_log a WHERE a.tip_code = ? "
            "AND a.actor_role IN ('admin', 'moderator', 'unit') ORDER BY a.id DESC LIMIT 1",
            (tip.code,),
        )
        last_action = None
        if last:
            row = last[0]
            table = "units" if row["actor_role"] == "unit" else "staff"
            who = await self._rows(f"SELECT name FROM {table} WHERE id = ?", (int(row["actor_id"] or 0),))
            last_action = (who[0]["name"] if who else row["actor_role"], row["action"], datetime.fromisoformat(row["at"]))
        return CardView(
            tip=tip,
            assessment=Assessment.from_json(tip.triage),
            province_name=province.name if province else "",
            commune_name=commune.name if commune else None,
            claimed_by=claimed[0]["name"] if claimed else None,
            unit_name=unit[0]["name"] if unit else None,
            duplicate_of=dup[0]["code"] if dup else None,
            followups=int(followups[0]["n"]),
            last_action=last_action,
        )

    async def open_tips(self, offset: int = 0, limit: int = 10) -> tuple[list[Tip], int]:
        """Open tips, most urgent first, then oldest first; and how many there are in all."""
        marks = ",".join("?" * len(OPEN))
        rows = await self._rows(
            f"SELECT code FROM tips WHERE status IN ({marks}) ORDER BY priority DESC, created_at LIMIT ? OFFSET ?",
            (*OPEN, limit, offset),
        )
        total = await self._rows(f"SELECT COUNT(*) AS n FROM tips WHERE status IN ({marks})", OPEN)
        tips = [t for t in [await self.tip_by_code(r["code"]) for r in rows] if t is not None]
        return tips, int(total[0]["n"])

    async def find(self, text: str, limit: int = 10) -> list[Tip]:
        """Tips whose description or address contains the words, with or without diacritics."""
        words = [w for w in fold(text).split() if len(w) > 1][:6]
        if not words:
            return []
        clause = " AND ".join("search_text LIKE ?" for _ in words)
        rows = await self._rows(
            f"SELECT code FROM tips WHERE {clause} ORDER BY created_at DESC LIMIT ?",
            (*[f"%{w}%" for w in words], limit),
        )
        return [t for t in [await self.tip_by_code(r["code"]) for r in rows] if t is not None]

    async def units_for(self, province_code: int) -> list[tuple[int, str]]:
        rows = await self._rows(
            "SELECT id, name FROM units WHERE province_code = ? AND active = 1 ORDER BY name", (province_code,)
        )
        return [(int(r["id"]), r["name"]) for r in rows]

    async def unit_chat(self, unit_id: int) -> int | None:
        rows = await self._rows("SELECT chat_id FROM units WHERE id = ?", (unit_id,))
        return int(rows[0]["chat_id"]) if rows and rows[0]["chat_id"] is not None else None

    # --- cards -----------------------------------------------------------------------------------

    async def card(self, tip_id: int, audience: str) -> Card | None:
        rows = await self._rows(
            "SELECT chat_id, message_id, thread_id, rendered FROM cards WHERE tip_id = ? AND audience = ?",
            (tip_id, audience),
        )
        return Card(int(rows[0][0]), int(rows[0][1]), rows[0][2], rows[0][3]) if rows else None

    async def tip_for_card(self, chat_id: int, message_id: int) -> int | None:
        rows = await self._rows("SELECT tip_id FROM cards WHERE chat_id = ? AND message_id = ?", (chat_id, message_id))
        return int(rows[0][0]) if rows else None

    async def save_card(self, tip_id: int, audience: str, card: Card) -> None:
        async with self.db.transaction() as conn:
            await conn.execute(
                "INSERT INTO cards (tip_id, audience, chat_id, message_id, thread_id, rendered) VALUES (?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (tip_id, audience) DO UPDATE SET chat_id = excluded.chat_id, "
                "message_id = excluded.message_id, thread_id = excluded.thread_id, rendered = excluded.rendered",
                (tip_id, audience, card.chat_id, card.message_id, card.thread_id, card.rendered),
            )

    # --- the outbox ------------------------------------------------------------------------------

    async def pending(self, limit: int = 50) -> list[OutboxItem]:
        rows = await self._rows(
            "SELECT id, audience, tip_id, unit_id, kind, payload, attempts FROM outbox WHERE delivered_at IS NULL "
            "AND attempts < ? ORDER BY attempts, id LIMIT ?",
            (MAX_ATTEMPTS, limit),
        )
        return [
            OutboxItem(r["id"], r["audience"], r["tip_id"], r["unit_id"], r["kind"], json.loads(r["payload"]), r["attempts"])
            for r in rows
        ]

    async def delivered(self, item_id: int, now: datetime) -> None:
        async with self.db.transaction() as conn:
            await conn.execute("UPDATE outbox SET delivered_at = ? WHERE id = ?", (now.isoformat(), item_id))

    async def failed(self, item_id: int) -> None:
        async with self.db.transaction() as conn:
            await conn.execute("UPDATE outbox SET attempts = attempts + 1 WHERE id = ?", (item_id,))

    async def tipster_message(self, message_id: int) -> tuple[int, str] | None:
        rows = await self._rows("SELECT tip_id, text FROM tip_messages WHERE id = ?", (message_id,))
        return (int(rows[0][0]), rows[0][1]) if rows else None

    async def mark_message_delivered(self, message_id: int, now: datetime) -> None:
        await self.tips.mark_delivered([message_id], now)

    # --- triage, when a tip is confirmed ----------------------------------------------------------

    async def assess_tip(self, tip: Tip, now: datetime) -> Assessment:
        """Runs the triage assist and stores it; the moderators' card is refreshed with it."""
        since = (tip.created_at - timedelta(days=30)).isoformat()
        rows = await self._rows(
            "SELECT id, code, category, urgency, description, commune_code, created_at FROM tips "
            "WHERE commune_code = ? AND created_at >= ? AND id != ?",
            (tip.commune_code, since, tip.id),
        ) if tip.commune_code else []
        candidates = [
            TipFacts(r["code"], r["category"], r["urgency"], r["description"], 0, False, r["commune_code"],
                     datetime.fromisoformat(r["created_at"]), 0)
            for r in rows
        ]
        facts = TipFacts(
            tip.code, tip.category, tip.urgency, tip.description, len(tip.evidence),
            tip.latitude is not None, tip.commune_code, tip.created_at, tip.sender_recent_tips,
        )
        assessment = assess(facts, candidates)
        level = {"low": 0, "normal": 1, "high": 2, "urgent": 3}[assessment.priority.level]
        ids = {r["code"]: r["id"] for r in rows}
        async with self.db.transaction() as conn:
            await conn.execute("UPDATE tips SET triage = ?, priority = ? WHERE id = ?", (assessment.to_json(), level, tip.id))
            await conn.executemany(
                "INSERT OR REPLACE INTO duplicate_candidates (tip_id, other_id, score) VALUES (?, ?, ?)",
                [(tip.id, ids[code], score) for code, score in assessment.duplicates if code in ids],
            )
            await enqueue(conn, "moderators", tip.id, "card", now)
        return assessment

    async def request_card(self, tip_id: int, now: datetime) -> None:
        """Asks for the moderators' card to be shown again as the tip is now (e.g. after a stale press)."""
        async with self.db.transaction() as conn:
            await enqueue(conn, "moderators", tip_id, "card", now)
