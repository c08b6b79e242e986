"""SQLite repositories. Each method is one unit of work; callers never see SQL."""

from __future__ import annotations

from datetime import datetime, timedelta

import aiosqlite

from tipline.places.textnorm import fold
from tipline.storage.sqlite.database import Database
from tipline.storage.sqlite.outbox import enqueue
from tipline.tips import Category, Evidence, NewTip, Status, Tip, Urgency, check_transition


def _ts(moment: datetime) -> str:
    return moment.isoformat(timespec="microseconds")


def _dt(value: str) -> datetime:
    return datetime.fromisoformat(value)


class CodeTaken(Exception):
    pass


class SqliteSessions:
    """Conversation state by pseudonym, kept until it expires."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def load(self, pseudonym: str) -> tuple[str, datetime] | None:
        async with self.db.read() as conn:
            async with conn.execute(
                "SELECT state, updated_at FROM sessions WHERE pseudonym = ?", (pseudonym,)
            ) as cursor:
                row = await cursor.fetchone()
        return (row["state"], _dt(row["updated_at"])) if row else None

    async def save(self, pseudonym: str, state: str, now: datetime, keep_for: timedelta) -> None:
        async with self.db.transaction() as conn:
            await conn.execute(
                "INSERT INTO sessions (pseudonym, state, updated_at, expires_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (pseudonym) DO UPDATE SET state = excluded.state, "
                "updated_at = excluded.updated_at, expires_at = excluded.expires_at",
                (pseudonym, state, _ts(now), _ts(now + keep_for)),
            )

    async def expire_drafts(self, idle_since: datetime) -> int:
        """Deletes drafts left idle since before ``idle_since``, flagging the session so the citizen is told."""
        async with self.db.transaction() as conn:
            cursor = await conn.execute(
                "UPDATE sessions SET state = json_set(json_remove(state, '$.draft'), '$.screen', 'menu', "
                "'$.draft_expired', json('true')) "
                "WHERE json_extract(state, '$.draft') IS NOT NULL AND updated_at < ?",
                (_ts(idle_since),),
            )
            return cursor.rowcount

    async def delete(self, pseudonym: str) -> None:
        async with self.db.transaction() as conn:
            await conn.execute("DELETE FROM sessions WHERE pseudonym = ?", (pseudonym,))

    async def purge(self, now: datetime) -> int:
        async with self.db.transaction() as conn:
            cursor = await conn.execute("DELETE FROM sessions WHERE expires_at < ?", (_ts(now),))
            return cursor.rowcount


class SqliteCounters:
    """Fixed-window counters that expire: flood control and rate limits."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def hit(self, key: str, window_seconds: int, now: datetime, amount: int = 1) -> int:
        """Adds ``amount`` to the current window of ``key`` and returns the window's total."""
        epoch = int(now.timestamp())
        window = epoch // window_seconds
        async with self.db.transaction() as conn:
            async with conn.execute(
                "INSERT INTO counters (key, window, count, expires_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (key, window) DO UPDATE SET count = count + excluded.count RETURNING count",
                (key, window, amount, (window + 1) * window_seconds),
            ) as cursor:
                row = await cursor.fetchone()
        return int(row[0]) if row else amount

    async def peek(self, key: str, window_seconds: int, now: datetime) -> int:
        window = int(now.timestamp()) // window_seconds
        async with self.db.read() as conn:
            async with conn.execute("SELECT count FROM counters WHERE key = ? AND window = ?", (key, window)) as cur:
                row = await cur.fetchone()
        return int(row[0]) if row else 0

    async def purge(self, now: datetime) -> int:
        async with self.db.transaction() as conn:
            cursor = await conn.execute("DELETE FROM counters WHERE expires_at <= ?", (int(now.timestamp()),))
            return cursor.rowcount


_TIP_COLUMNS = (
    "id, code, status, category, urgency, province_code, commune_code, address, latitude, longitude, "
    "description, language, channel, sender_recent_tips, created_at, updated_at, priority, triage, claimed_by, "
    "duplicate_of, unit_id, outcome, forwarded_at, acknowledged_at, closed_at"
)


def _opt_dt(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


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
        created_at=_dt(row["created_at"]),
        updated_at=_dt(row["updated_at"]),
        evidence=evidence,
        priority=row["priority"],
        triage=row["triage"],
        claimed_by=row["claimed_by"],
        duplicate_of=row["duplicate_of"],
        unit_id=row["unit_id"],
        outcome=row["outcome"],
        forwarded_at=_opt_dt(row["forwarded_at"]),
        acknowledged_at=_opt_dt(row["acknowledged_at"]),
        closed_at=_opt_dt(row["closed_at"]),
    )


async def _insert_evidence(
    conn: aiosqlite.Connection, tip_id: int, items: tuple[Evidence, ...], now: datetime, followup_id: int | None = None
) -> None:
    await conn.executemany(
        "INSERT INTO evidence (tip_id, followup_id, kind, ref, size, mime, name, added_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [(tip_id, followup_id, e.kind, e.ref, e.size, e.mime, e.name, _ts(now)) for e in items],
    )


class SqliteTips:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def create(self, tip: NewTip, code: str, passphrase_hash: str, now: datetime) -> Tip:
        """Writes a confirmed tip and its evidence atomically. Raises CodeTaken on a code collision."""
        async with self.db.transaction() as conn:
            try:
                cursor = await conn.execute(
                    "INSERT INTO tips (code, status, category, urgency, province_code, commune_code, address, "
                    "latitude, longitude, description, language, channel, passphrase_hash, sender_recent_tips, "
                    "created_at, updated_at, search_text, priority) VALUES (?, 'new', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1)",
                    (
                        code, tip.category.value, tip.urgency.value, tip.province_code, tip.commune_code,
                        tip.address, tip.latitude, tip.longitude, tip.description, tip.language, tip.channel,
                        passphrase_hash, tip.sender_recent_tips, _ts(now), _ts(now),
                        fold(f"{tip.description} {tip.address or ''}"),
                    ),
                )
            except aiosqlite.IntegrityError as exc:
                raise CodeTaken(code) from exc
            tip_id = int(cursor.lastrowid or 0)
            await _insert_evidence(conn, tip_id, tip.evidence, now)
            # The moderators' card is owed from the moment the tip exists: an outage cannot lose it.
            await enqueue(conn, "moderators", tip_id, "card", now)
        found = await self.by_code(code)
        assert found is not None
        return found[0]

    async def by_code(self, code: str) -> tuple[Tip, str] | None:
        """The tip and its stored passphrase hash."""
        return await self._find("code = ?", code)

    async def by_id(self, tip_id: int) -> Tip | None:
        found = await self._find("id = ?", tip_id)
        return found[0] if found else None

    async def _find(self, where: str, value: object) -> tuple[Tip, str] | None:
        async with self.db.read() as conn:
            async with conn.execute(
                f"SELECT {_TIP_COLUMNS}, passphrase_hash FROM tips WHERE {where}", (value,)
            ) as cursor:
                row = await cursor.fetchone()
            if row is None:
                return None
            async with conn.execute(
                "SELECT kind, ref, size, mime, name FROM evidence WHERE tip_id = ? ORDER BY id", (row["id"],)
            ) as cursor:
                evidence = tuple(Evidence(*item) for item in await cursor.fetchall())
        return _tip(row, evidence), row["passphrase_hash"]

    async def add_followup(self, tip_id: int, text: str, evidence: tuple[Evidence, ...], now: datetime) -> int:
        async with self.db.transaction() as conn:
            cursor = await conn.execute(
                "INSERT INTO followups (tip_id, text, created_at) VALUES (?, ?, ?)", (tip_id, text, _ts(now))
            )
            followup_id = int(cursor.lastrowid or 0)
            await _insert_evidence(conn, tip_id, evidence, now, followup_id)
            await conn.execute("UPDATE tips SET updated_at = ? WHERE id = ?", (_ts(now), tip_id))
        return followup_id

    async def followups(self, tip_id: int) -> list[tuple[str, datetime]]:
        async with self.db.read() as conn:
            async with conn.execute(
                "SELECT text, created_at FROM followups WHERE tip_id = ? ORDER BY id", (tip_id,)
            ) as cursor:
                return [(row["text"], _dt(row["created_at"])) for row in await cursor.fetchall()]

    async def set_status(self, tip_id: int, target: Status, now: datetime) -> Status:
        """Moves a tip along the state machine; raises InvalidTransition for a move it refuses."""
        async with self.db.transaction() as conn:
            async with conn.execute("SELECT status FROM tips WHERE id = ?", (tip_id,)) as cursor:
                row = await cursor.fetchone()
            if row is None:
                raise KeyError(tip_id)
            current = Status(row["status"])
            check_transition(current, target)
            await conn.execute("UPDATE tips SET status = ?, updated_at = ? WHERE id = ?", (target.value, _ts(now), tip_id))
            if target in {Status.RESOLVED, Status.UNFOUNDED, Status.SPAM, Status.DUPLICATE}:
                # The chat link exists only while the tip is open.
                await conn.execute("DELETE FROM subscriptions WHERE tip_id = ?", (tip_id,))
        return current

    async def add_message(self, tip_id: int, direction: str, text: str, now: datetime) -> int:
        async with self.db.transaction() as conn:
            cursor = await conn.execute(
                "INSERT INTO tip_messages (tip_id, direction, text, created_at) VALUES (?, ?, ?, ?)",
                (tip_id, direction, text, _ts(now)),
            )
            return int(cursor.lastrowid or 0)

    async def messages_to_tipster(self, tip_id: int) -> list[tuple[int, str, datetime]]:
        async with self.db.read() as conn:
            async with conn.execute(
                "SELECT id, text, created_at FROM tip_messages WHERE tip_id = ? AND direction = 'to_tipster' "
                "ORDER BY id",
                (tip_id,),
            ) as cursor:
                return [(row["id"], row["text"], _dt(row["created_at"])) for row in await cursor.fetchall()]

    async def mark_delivered(self, message_ids: list[int], now: datetime) -> None:
        if not message_ids:
            return
        async with self.db.transaction() as conn:
            await conn.executemany(
                "UPDATE tip_messages SET delivered_at = ? WHERE id = ? AND delivered_at IS NULL",
                [(_ts(now), mid) for mid in message_ids],
            )


class SqliteSubscriptions:
    """Sealed chat references of tipsters who opted in to updates; apart from tips, deletable."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def add(self, tip_id: int, chat_key: str, sealed_ref: bytes, now: datetime) -> None:
        async with self.db.transaction() as conn:
            await conn.execute(
                "INSERT OR IGNORE INTO subscriptions (tip_id, chat_key, sealed_ref, created_at) VALUES (?, ?, ?, ?)",
                (tip_id, chat_key, sealed_ref, _ts(now)),
            )

    async def for_tip(self, tip_id: int) -> list[bytes]:
        async with self.db.read() as conn:
            async with conn.execute("SELECT sealed_ref FROM subscriptions WHERE tip_id = ?", (tip_id,)) as cursor:
                return [bytes(row[0]) for row in await cursor.fetchall()]

    async def tips_for_chat(self, chat_key: str) -> list[int]:
        async with self.db.read() as conn:
            async with conn.execute("SELECT tip_id FROM subscriptions WHERE chat_key = ?", (chat_key,)) as cursor:
                return [int(row[0]) for row in await cursor.fetchall()]

    async def count_for_chat(self, chat_key: str) -> int:
        async with self.db.read() as conn:
            async with conn.execute("SELECT COUNT(*) FROM subscriptions WHERE chat_key = ?", (chat_key,)) as cursor:
                row = await cursor.fetchone()
        return int(row[0]) if row else 0

    async def forget_tip(self, tip_id: int) -> int:
        async with self.db.transaction() as conn:
            cursor = await conn.execute("DELETE FROM subscriptions WHERE tip_id = ?", (tip_id,))
            return cursor.rowcount

    async def forget_closed(self, closed_before: datetime) -> int:
        """A safety net: links of tips closed for a while go even if their last news never went out."""
        async with self.db.transaction() as conn:
            cursor = await conn.execute(
                "DELETE FROM subscriptions WHERE tip_id IN (SELECT id FROM tips WHERE closed_at IS NOT NULL "
                "AND closed_at < ?)",
                (_ts(closed_before),),
            )
            return cursor.rowcount

    async def forget_chat(self, chat_key: str) -> int:
        async with self.db.transaction() as conn:
            cursor = await conn.execute("DELETE FROM subscriptions WHERE chat_key = ?", (chat_key,))
            return cursor.rowcount
