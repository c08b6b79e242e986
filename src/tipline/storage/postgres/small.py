"""The smaller repositories: the two-way channel's messages, sessions, counters, opt-in links, throttles,
facts about the database, cards, staff, deadlines and prompts."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import asyncpg

from tipline.delivery.model import Address, Sent
from tipline.staff.model import CardPlacement, OpenDeadline, Prompt, StaffMember, StaffRole, TipMessage
from tipline.storage.ports import SealedLink, StoredSession
from tipline.storage.postgres.base import Repository


def _message(row: asyncpg.Record) -> TipMessage:
    return TipMessage(row["id"], row["tip_id"], row["direction"], row["text"], row["created_at"], row["delivered_at"])


class PgTipMessages(Repository):
    async def add(self, tip_id: int, direction: str, text: str, now: datetime) -> int:
        return await self._insert(
            "INSERT INTO tip_messages (tip_id, direction, text, created_at) VALUES ($1, $2, $3, $4) RETURNING id",
            (tip_id, direction, text, now),
        )

    async def get(self, message_id: int) -> TipMessage | None:
        row = await self._one("SELECT * FROM tip_messages WHERE id = $1", (message_id,))
        return _message(row) if row else None

    async def to_tipster(self, tip_id: int) -> list[TipMessage]:
        rows = await self._all(
            "SELECT * FROM tip_messages WHERE tip_id = $1 AND direction = 'to_tipster' ORDER BY id", (tip_id,)
        )
        return [_message(row) for row in rows]

    async def for_tip(self, tip_id: int) -> list[TipMessage]:
        rows = await self._all("SELECT * FROM tip_messages WHERE tip_id = $1 ORDER BY id", (tip_id,))
        return [_message(row) for row in rows]

    async def mark_delivered(self, message_ids: Sequence[int], now: datetime) -> None:
        await self._run(
            "UPDATE tip_messages SET delivered_at = $1 WHERE id = ANY($2::bigint[]) AND delivered_at IS NULL",
            (now, list(message_ids)),
        )


class PgSessions(Repository):
    async def load(self, pseudonym: str) -> StoredSession | None:
        row = await self._one("SELECT state, updated_at FROM sessions WHERE pseudonym = $1", (pseudonym,))
        return StoredSession(row["state"], row["updated_at"]) if row else None

    async def save(self, pseudonym: str, state: str, now: datetime, keep_until: datetime) -> None:
        await self._run(
            "INSERT INTO sessions (pseudonym, state, updated_at, expires_at) VALUES ($1, $2, $3, $4) "
            "ON CONFLICT (pseudonym) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at, "
            "expires_at = excluded.expires_at",
            (pseudonym, state, now, keep_until),
        )

    async def delete(self, pseudonym: str) -> None:
        await self._run("DELETE FROM sessions WHERE pseudonym = $1", (pseudonym,))

    async def expire_drafts(self, idle_since: datetime) -> int:
        return await self._run(
            "UPDATE sessions SET state = ((state::jsonb - 'draft') || '{\"screen\": \"menu\", \"draft_expired\": true}'::jsonb)::text "
            "WHERE jsonb_typeof(state::jsonb -> 'draft') NOT IN ('null') AND updated_at < $1",
            (idle_since,),
        )

    async def purge(self, now: datetime) -> int:
        return await self._run("DELETE FROM sessions WHERE expires_at < $1", (now,))

    async def with_sealed(self) -> list[str]:
        # As SQLite's json_extract: a key holding JSON null counts as absent.
        rows = await self._all("SELECT pseudonym FROM sessions WHERE jsonb_typeof(state::jsonb -> 'sealed') NOT IN ('null')")
        return [str(row[0]) for row in rows]

    async def set_state(self, pseudonym: str, state: str) -> None:
        await self._run("UPDATE sessions SET state = $1 WHERE pseudonym = $2", (state, pseudonym))

    async def count(self) -> int:
        return int(await self.conn.fetchval("SELECT COUNT(*) FROM sessions") or 0)


class PgCounters(Repository):
    async def hit(self, key: str, window_seconds: int, now: datetime, amount: int = 1) -> int:
        window = int(now.timestamp()) // window_seconds
        row = await self._one(
            'INSERT INTO counters (key, "window", count, expires_at) VALUES ($1, $2, $3, $4) '
            'ON CONFLICT (key, "window") DO UPDATE SET count = counters.count + excluded.count RETURNING count',
            (key, window, amount, (window + 1) * window_seconds),
        )
        return int(row[0]) if row else amount

    async def peek(self, key: str, window_seconds: int, now: datetime) -> int:
        window = int(now.timestamp()) // window_seconds
        row = await self._one('SELECT count FROM counters WHERE key = $1 AND "window" = $2', (key, window))
        return int(row[0]) if row else 0

    async def purge(self, now: datetime) -> int:
        return await self._run("DELETE FROM counters WHERE expires_at <= $1", (int(now.timestamp()),))


class PgSubscriptions(Repository):
    async def add(self, tip_id: int, sealed_ref: bytes, now: datetime) -> None:
        await self._run(
            "INSERT INTO subscriptions (tip_id, sealed_ref, created_at) VALUES ($1, $2, $3)", (tip_id, sealed_ref, now)
        )

    async def for_tip(self, tip_id: int) -> list[SealedLink]:
        rows = await self._all("SELECT id, tip_id, sealed_ref FROM subscriptions WHERE tip_id = $1 ORDER BY id", (tip_id,))
        return [SealedLink(row[0], row[1], bytes(row[2])) for row in rows]

    async def all(self) -> list[SealedLink]:
        rows = await self._all("SELECT id, tip_id, sealed_ref FROM subscriptions ORDER BY id")
        return [SealedLink(row[0], row[1], bytes(row[2])) for row in rows]

    async def remove(self, link_ids: Sequence[int]) -> int:
        return await self._run("DELETE FROM subscriptions WHERE id = ANY($1::bigint[])", (list(link_ids),))

    async def forget_tip(self, tip_id: int) -> int:
        return await self._run("DELETE FROM subscriptions WHERE tip_id = $1", (tip_id,))

    async def forget_closed(self, closed_before: datetime) -> int:
        return await self._run(
            "DELETE FROM subscriptions WHERE tip_id IN (SELECT id FROM tips WHERE closed_at IS NOT NULL AND closed_at < $1)",
            (closed_before,),
        )


class PgThrottles(Repository):
    async def get(self, key: str) -> tuple[float, datetime] | None:
        row = await self._one("SELECT level, updated_at FROM throttles WHERE key = $1", (key,))
        return (float(row[0]), row[1]) if row else None

    async def set(self, key: str, level: float, now: datetime) -> None:
        await self._run(
            "INSERT INTO throttles (key, level, updated_at) VALUES ($1, $2, $3) "
            "ON CONFLICT (key) DO UPDATE SET level = excluded.level, updated_at = excluded.updated_at",
            (key, level, now),
        )

    async def purge(self, idle_since: datetime) -> int:
        return await self._run("DELETE FROM throttles WHERE updated_at < $1", (idle_since,))


class PgMeta(Repository):
    async def get(self, key: str) -> str | None:
        row = await self._one("SELECT value FROM meta WHERE key = $1", (key,))
        return str(row[0]) if row else None

    async def set(self, key: str, value: str) -> None:
        await self._run(
            "INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, value),
        )


def _placement(row: asyncpg.Record) -> CardPlacement:
    return CardPlacement(
        row["tip_id"], row["audience"], Sent(Address(row["channel"], row["chat"], row["thread"]), row["message"]), row["digest"]
    )


class PgCards(Repository):
    async def get(self, tip_id: int, audience: str) -> CardPlacement | None:
        row = await self._one("SELECT * FROM cards WHERE tip_id = $1 AND audience = $2", (tip_id, audience))
        return _placement(row) if row else None

    async def at(self, sent: Sent) -> CardPlacement | None:
        row = await self._one(
            "SELECT * FROM cards WHERE channel = $1 AND chat = $2 AND message = $3",
            (sent.address.channel, sent.address.chat, sent.message),
        )
        return _placement(row) if row else None

    async def save(self, placement: CardPlacement) -> None:
        address = placement.sent.address
        await self._run(
            "INSERT INTO cards (tip_id, audience, channel, chat, thread, message, digest) VALUES ($1, $2, $3, $4, $5, $6, $7) "
            "ON CONFLICT (tip_id, audience) DO UPDATE SET channel = excluded.channel, chat = excluded.chat, "
            "thread = excluded.thread, message = excluded.message, digest = excluded.digest",
            (placement.tip_id, placement.audience, address.channel, address.chat, address.thread, placement.sent.message,
             placement.digest),
        )


class PgStaff(Repository):
    async def roles(self, channel: str, user_ref: str) -> list[StaffMember]:
        rows = await self._all(
            "SELECT id, channel, user_ref, name, role, active FROM staff WHERE channel = $1 AND user_ref = $2",
            (channel, user_ref),
        )
        return [StaffMember(r["id"], r["channel"], r["user_ref"], r["name"], StaffRole(r["role"]), r["active"]) for r in rows]

    async def add(self, channel: str, user_ref: str, name: str, role: StaffRole, now: datetime) -> int:
        # Two presses of a new moderator at once both find no row: the second gets the first one's.
        return await self._insert(
            "INSERT INTO staff (channel, user_ref, name, role, added_at) VALUES ($1, $2, $3, $4, $5) "
            "ON CONFLICT (channel, user_ref, role) DO UPDATE SET name = excluded.name RETURNING id",
            (channel, user_ref, name, role.value, now),
        )

    async def rename(self, staff_id: int, name: str) -> None:
        await self._run("UPDATE staff SET name = $1 WHERE id = $2", (name, staff_id))

    async def set_role(self, channel: str, user_ref: str, role: StaffRole, active: bool, now: datetime) -> int:
        return await self._insert(
            "INSERT INTO staff (channel, user_ref, role, active, added_at) VALUES ($1, $2, $3, $4, $5) "
            "ON CONFLICT (channel, user_ref, role) DO UPDATE SET active = excluded.active RETURNING id",
            (channel, user_ref, role.value, active, now),
        )

    async def name(self, staff_id: int) -> str | None:
        row = await self._one("SELECT name FROM staff WHERE id = $1", (staff_id,))
        return str(row[0]) if row else None


class PgDeadlines(Repository):
    async def set(self, tip_id: int, kind: str, due: datetime) -> None:
        await self._run(
            "INSERT INTO deadlines (tip_id, kind, due_at) VALUES ($1, $2, $3) ON CONFLICT (tip_id, kind) DO UPDATE SET "
            "due_at = excluded.due_at, reminded_at = NULL, escalated_at = NULL, met_at = NULL",
            (tip_id, kind, due),
        )

    async def meet(self, tip_id: int, now: datetime, kind: str | None = None) -> None:
        await self._run(
            "UPDATE deadlines SET met_at = $1 WHERE tip_id = $2 AND met_at IS NULL AND ($3::text IS NULL OR kind = $3)",
            (now, tip_id, kind),
        )

    async def open(self) -> list[OpenDeadline]:
        # In a unit of work that writes (the deadline check), the open deadlines are taken for it: a check
        # running at the same time in another worker skips them instead of reminding or escalating twice.
        lock = " FOR UPDATE OF d SKIP LOCKED" if self.writing else ""
        rows = await self._all(
            "SELECT d.id, d.tip_id, d.kind, d.due_at, d.reminded_at, d.escalated_at, t.code, t.unit_id, "
            "t.forwarded_at, t.acknowledged_at FROM deadlines d JOIN tips t ON t.id = d.tip_id "
            f"WHERE d.met_at IS NULL ORDER BY d.due_at, d.id{lock}"
        )
        return [
            OpenDeadline(
                id=row["id"], tip_id=row["tip_id"], kind=row["kind"], due_at=row["due_at"],
                reminded_at=row["reminded_at"], escalated_at=row["escalated_at"], tip_code=row["code"],
                unit_id=row["unit_id"],
                started_at=(row["acknowledged_at"] if row["kind"] == "outcome" else row["forwarded_at"])
                or row["forwarded_at"] or row["due_at"],
            )
            for row in rows
        ]

    async def reminded(self, deadline_id: int, now: datetime) -> None:
        await self._run("UPDATE deadlines SET reminded_at = $1 WHERE id = $2", (now, deadline_id))

    async def escalated(self, deadline_id: int, now: datetime) -> None:
        await self._run("UPDATE deadlines SET escalated_at = $1 WHERE id = $2", (now, deadline_id))


class PgPrompts(Repository):
    async def add(
        self, sent: Sent, action: str, tip_id: int, actor_role: str, actor_id: int, now: datetime, expires: datetime
    ) -> int:
        address = sent.address
        return await self._insert(
            "INSERT INTO prompts (channel, chat, message, thread, action, tip_id, actor_role, actor_id, created_at, "
            "expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id",
            (address.channel, address.chat, sent.message, address.thread, action, tip_id, actor_role, actor_id, now, expires),
        )

    async def at(self, sent: Sent) -> Prompt | None:
        row = await self._one(
            "SELECT * FROM prompts WHERE channel = $1 AND chat = $2 AND message = $3",
            (sent.address.channel, sent.address.chat, sent.message),
        )
        if row is None:
            return None
        return Prompt(
            id=row["id"], sent=Sent(Address(row["channel"], row["chat"], row["thread"]), row["message"]),
            action=row["action"], tip_id=row["tip_id"], actor_role=row["actor_role"], actor_id=row["actor_id"],
            expires_at=row["expires_at"], used_at=row["used_at"],
        )

    async def use(self, prompt_id: int, now: datetime) -> bool:
        return await self._run("UPDATE prompts SET used_at = $1 WHERE id = $2 AND used_at IS NULL", (now, prompt_id)) == 1

    async def purge(self, now: datetime) -> int:
        return await self._run("DELETE FROM prompts WHERE expires_at < $1", (now,))





class PgWebhookUpdates(Repository):
    async def first_time(self, key: str, now: datetime) -> bool:
        changed = await self._run(
            "INSERT INTO webhook_updates (key, seen_at) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING", (key, now)
        )
        return changed == 1

    async def purge(self, before: datetime) -> int:
        return await self._run("DELETE FROM webhook_updates WHERE seen_at < $1", (before,))

    async def count(self) -> int:
        return int(await self.conn.fetchval("SELECT COUNT(*) FROM webhook_updates") or 0)


class PgSendShares(Repository):
    async def beat(self, owner: str, channel: str, now: datetime, since: datetime) -> int:
        await self._run(
            "INSERT INTO send_shares (owner, channel, seen_at) VALUES ($1, $2, $3) "
            "ON CONFLICT (owner) DO UPDATE SET channel = excluded.channel, seen_at = excluded.seen_at",
            (owner, channel, now),
        )
        await self._run("DELETE FROM send_shares WHERE seen_at < $1", (since,))
        count = await self.conn.fetchval("SELECT COUNT(*) FROM send_shares WHERE channel = $1", channel)
        return max(1, int(count or 1))

    async def leave(self, owner: str) -> None:
        await self._run("DELETE FROM send_shares WHERE owner = $1", (owner,))

    async def owners(self, channel: str) -> list[str]:
        return [row["owner"] for row in await self._all("SELECT owner FROM send_shares WHERE channel = $1", (channel,))]
