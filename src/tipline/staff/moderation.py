"""The moderator queue and the police side.

Every action is authorised here, on the server, against the actor's role and the tip's current state
(a button's chat is never trusted alone), and written in one transaction with its audit entry and
whatever must be told to someone (the ``outbox``), so nothing is lost between a change and its news.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

import aiosqlite

from tipline.i18n import LANGUAGES, N_, translator
from tipline.records.audit import AuditEntry, AuditLog
from tipline.storage.sqlite.database import Database
from tipline.storage.sqlite.outbox import enqueue
from tipline.tips import CLOSED, PUBLIC_STATUS, STATUS_LABELS, InvalidTransition, Status, check_transition


class Role(StrEnum):
    ADMIN = "admin"
    MODERATOR = "moderator"
    UNIT = "unit"


@dataclass(frozen=True)
class Actor:
    role: Role
    id: int  # staff.id for admins and moderators, units.id for a police unit
    name: str


class Refusal(Exception):
    """A polite no: ``message`` is a msgid (translated where shown)."""

    def __init__(self, message: str, **params: Any) -> None:
        super().__init__(message)
        self.message = message
        self.params = params

    def text(self, language: str) -> str:
        t = translator(language)
        params = {k: t.gettext(STATUS_LABELS[v]) if isinstance(v, Status) else v for k, v in self.params.items()}
        return t.gettext(self.message).format(**params)


Conn = aiosqlite.Connection
Row = aiosqlite.Row
Step = tuple[Status, str, dict[str, Any], str]

STAFF_ACTIONS = frozenset({"claim", "unclaim", "up", "down", "ask", "spam", "dup", "fwd", "fwdto", "close", "reopen"})
UNIT_ACTIONS = frozenset({"ack", "info", "ok", "no", "tr"})
OUTCOMES = {"ok": ("verified", Status.RESOLVED), "no": ("not_verified", Status.UNFOUNDED), "tr": ("transferred", Status.RESOLVED)}
MAX_PRIORITY = 3

# What the tipster is told, in generic words that reveal nothing operational.
TIPSTER_NEWS = {
    Status.FORWARDED: N_("Update on your tip {code}: it has been passed to the police for verification."),
    Status.RESOLVED: N_("Update on your tip {code}: it has been handled. Thank you for your help."),
    Status.UNFOUNDED: N_("Update on your tip {code}: it was checked and closed. Thank you for your help."),
    Status.DUPLICATE: N_("Update on your tip {code}: the same matter had already been reported and is being handled."),
}


@dataclass(frozen=True)
class Deadlines:
    acknowledge: timedelta = timedelta(hours=24)
    outcome: timedelta = timedelta(days=7)
    # A reminder goes to the unit when this share of the time has passed; the moderators hear when it is over.
    remind_at: float = 0.75


@dataclass(frozen=True)
class Done:
    code: str
    status: Status
    message: str  # msgid of a short confirmation for the actor


class Moderation:
    def __init__(self, db: Database, clock: Any, deadlines: Deadlines | None = None, secret: bytes | None = None) -> None:
        self.db = db
        self.clock = clock
        # With the server secret each entry also carries a MAC: rewriting the log needs the secret too.
        self.audit = AuditLog(db, secret)
        self.deadlines = deadlines or Deadlines()

    # --- staff ---------------------------------------------------------------------------------

    async def staff(self, channel: str, user_ref: str, name: str, *, is_admin: bool, in_group: bool) -> Actor | None:
        """The actor for a person, or None when they may not act: admins by configuration, moderators by
        membership of the moderators' group or by an admin's addition, unless an admin removed them."""
        now = self.clock()
        async with self.db.transaction() as conn:
            rows = await _all(
                conn, "SELECT id, role, active, name FROM staff WHERE channel = ? AND user_ref = ?", (channel, user_ref)
            )
            by_role = {row["role"]: row for row in rows}
            role: Role | None = None
            if is_admin:
                role = Role.ADMIN
            elif "moderator" in by_role:
                role = Role.MODERATOR if by_role["moderator"]["active"] else None
            elif in_group:
                role = Role.MODERATOR
            if role is None:
                return None
            row = by_role.get(role.value)
            if row is None:
                cursor = await conn.execute(
                    "INSERT INTO staff (channel, user_ref, name, role, added_at) VALUES (?, ?, ?, ?, ?)",
                    (channel, user_ref, name[:64], role.value, now.isoformat()),
                )
                staff_id = int(cursor.lastrowid or 0)
            else:
                staff_id = int(row["id"])
                if row["name"] != name[:64]:  # shown on cards as "claimed by"; follows renames
                    await conn.execute("UPDATE staff SET name = ? WHERE id = ?", (name[:64], staff_id))
        return Actor(role, staff_id, name)

    async def set_moderator(self, admin: Actor, channel: str, user_ref: str, active: bool) -> None:
        await self.set_staff(admin, channel, user_ref, "moderator", active)

    async def set_staff(self, admin: Actor, channel: str, user_ref: str, role: str, active: bool) -> None:
        """Adds or removes a moderator or a broadcaster (admins only)."""
        if admin.role != Role.ADMIN:
            raise Refusal(N_("Only admins can add or remove moderators."))
        if role not in ("moderator", "broadcaster"):
            raise ValueError(role)
        now = self.clock()
        async with self.db.transaction() as conn:
            cursor = await conn.execute(
                "INSERT INTO staff (channel, user_ref, role, active, added_at) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (channel, user_ref, role) DO UPDATE SET active = excluded.active RETURNING id",
                (channel, user_ref, role, int(active), now.isoformat()),
            )
            staff_id = (await cursor.fetchone())[0]
            await self.audit.append(
                conn,
                AuditEntry(
                    at=now, actor_role=admin.role.value, actor_id=str(admin.id), tip_code=None,
                    action=f"{role}_added" if active else f"{role}_removed", from_status=None, to_status=None,
                    detail=f"staff {staff_id}",
                ),
            )

    async def is_broadcaster(self, channel: str, user_ref: str) -> bool:
        """Broadcasters (for awareness campaigns) are named by admins; admins broadcast too."""
        async with self.db.read() as conn:
            row = await _one(
                conn,
                "SELECT 1 FROM staff WHERE channel = ? AND user_ref = ? AND role = 'broadcaster' AND active = 1",
                (channel, user_ref),
            )
        return row is not None

    async def unit_for_chat(self, chat_id: int) -> Actor | None:
        async with self.db.read() as conn:
            row = await _one(conn, "SELECT id, name FROM units WHERE chat_id = ? AND active = 1", (chat_id,))
        return Actor(Role.UNIT, int(row["id"]), row["name"]) if row else None

    # --- the actions ---------------------------------------------------------------------------

    async def act(self, actor: Actor, tip_id: int, action: str, seen: str | None = None, arg: str = "") -> Done:
        """Performs one action on one tip; raises Refusal with a polite reason when it may not happen."""
        now = self.clock()
        async with self.db.transaction() as conn:
            tip = await _one(conn, "SELECT * FROM tips WHERE id = ?", (tip_id,))
            if tip is None:
                raise Refusal(N_("That tip does not exist."))
            status = Status(tip["status"])
            if seen is not None and seen != status.value:
                raise Refusal(N_("This card was out of date and has been refreshed. Please look again."))
            self._authorise(actor, action, tip)
            handler = getattr(self, f"_do_{action}")
            target, message, fields, detail = await handler(conn, actor, tip, status, arg, now)
            # A handler may have taken an implied first step (asking claims a new tip): check the move
            # from where the tip is now, and roll everything back if it is not allowed.
            row = await _one(conn, "SELECT status FROM tips WHERE id = ?", (tip_id,))
            current = Status(row["status"]) if row else status
            if target != current:
                try:
                    check_transition(current, target)
                except InvalidTransition:
                    raise Refusal(N_("That is not possible while the tip is {status}."), status=status) from None
            fields = {"status": target.value, "updated_at": now.isoformat(), **fields}
            closing = target in CLOSED and status not in CLOSED
            if closing:
                fields["closed_at"] = now.isoformat()
                if target not in TIPSTER_NEWS:
                    await conn.execute("DELETE FROM subscriptions WHERE tip_id = ?", (tip_id,))
            assignments = ", ".join(f"{name} = ?" for name in fields)
            await conn.execute(f"UPDATE tips SET {assignments} WHERE id = ?", (*fields.values(), tip_id))
            await self.audit.append(
                conn,
                AuditEntry(
                    at=now, actor_role=actor.role.value, actor_id=str(actor.id), tip_code=tip["code"], action=action,
                    from_status=status.value, to_status=target.value, detail=detail,
                ),
            )
            await enqueue(conn, "moderators", tip_id, "card", now, {})
            if tip["unit_id"] is not None or "unit_id" in fields:
                await enqueue(conn, "unit", tip_id, "card", now, {}, unit_id=fields.get("unit_id", tip["unit_id"]))
            if target != status and target in TIPSTER_NEWS:
                # The chat link of a closed tip goes once this last news is delivered (see the adapter).
                await self._tell_tipster(conn, tip, TIPSTER_NEWS[target], now, final=closing)
        return Done(tip["code"], target, message)

    def _authorise(self, actor: Actor, action: str, tip: aiosqlite.Row) -> None:
        if actor.role == Role.UNIT:
            if action not in UNIT_ACTIONS:
                raise Refusal(N_("Police units cannot do that."))
            if tip["unit_id"] != actor.id:
                raise Refusal(N_("This tip was not forwarded to your unit."))
            return
        if action not in STAFF_ACTIONS:
            raise Refusal(N_("Only the police unit the tip was forwarded to can do that."))
        claimer = tip["claimed_by"]
        if action in {"unclaim", "ask", "fwd", "fwdto", "close"} and claimer not in (None, actor.id) and actor.role != Role.ADMIN:
            raise Refusal(N_("Another moderator has claimed this tip."))

    # Each _do_<action> returns a Step: (target status, confirmation msgid, fields to set, audit detail).

    async def _do_claim(self, conn: Conn, actor: Actor, tip: Row, status: Status, arg: str, now: datetime) -> Step:
        if tip["claimed_by"] not in (None, actor.id):
            raise Refusal(N_("Another moderator has claimed this tip."))
        target = Status.IN_REVIEW if status == Status.NEW else status
        return target, N_("You claimed {code}."), {"claimed_by": actor.id}, ""

    async def _do_unclaim(self, conn: Conn, actor: Actor, tip: Row, status: Status, arg: str, now: datetime) -> Step:
        target = Status.NEW if status == Status.IN_REVIEW else status
        return target, N_("You released {code}."), {"claimed_by": None}, ""

    async def _do_up(self, conn: Conn, actor: Actor, tip: Row, status: Status, arg: str, now: datetime) -> Step:
        return status, N_("Priority raised."), {"priority": min(tip["priority"] + 1, MAX_PRIORITY)}, "priority +1"

    async def _do_down(self, conn: Conn, actor: Actor, tip: Row, status: Status, arg: str, now: datetime) -> Step:
        return status, N_("Priority lowered."), {"priority": max(tip["priority"] - 1, 0)}, "priority -1"

    async def _do_ask(self, conn: Conn, actor: Actor, tip: Row, status: Status, arg: str, now: datetime) -> Step:
        question = arg.strip()
        if not question:
            raise Refusal(N_("The question is empty."))
        if status in CLOSED or status in (Status.FORWARDED, Status.ACKNOWLEDGED):
            raise Refusal(N_("That is not possible while the tip is {status}."), status=status)
        language = tip["language"]
        text = translator(language).gettext(QUESTION).format(
            code=tip["code"], question=question[:1500]
        )
        await self._message_tipster(conn, tip["id"], text, now)
        fields = {"claimed_by": tip["claimed_by"] or actor.id}
        if status == Status.NEW:
            await conn.execute("UPDATE tips SET status = 'in_review' WHERE id = ?", (tip["id"],))
            status = Status.IN_REVIEW
        return Status.NEEDS_INFO, N_("Your question was sent to the tipster of {code}."), fields, "question sent"

    async def _do_spam(self, conn: Conn, actor: Actor, tip: Row, status: Status, arg: str, now: datetime) -> Step:
        return Status.SPAM, N_("{code} marked as spam."), {}, ""

    async def _do_dup(self, conn: Conn, actor: Actor, tip: Row, status: Status, arg: str, now: datetime) -> Step:
        from tipline.citizen.receipts import normalize_code

        code = normalize_code(arg)
        other = await _one(conn, "SELECT id, code FROM tips WHERE code = ?", (code,)) if code else None
        if other is None or other["id"] == tip["id"]:
            raise Refusal(N_("No other tip has the code {code}."), code=arg.strip()[:20])
        return Status.DUPLICATE, N_("{code} marked as a duplicate."), {"duplicate_of": other["id"]}, f"of {other['code']}"

    async def _do_fwd(self, conn: Conn, actor: Actor, tip: Row, status: Status, arg: str, now: datetime) -> Step:
        unit = await _one(
            conn,
            "SELECT u.id, u.name FROM units u JOIN unit_communes c ON c.unit_id = u.id "
            "WHERE c.commune_code = ? AND u.active = 1",
            (tip["commune_code"],),
        )
        if unit is None:
            raise Refusal(N_("No police unit covers this commune yet: choose a unit with 'Forward to…'."))
        return await self._forward(conn, actor, tip, status, int(unit["id"]), now)

    async def _do_fwdto(self, conn: Conn, actor: Actor, tip: Row, status: Status, arg: str, now: datetime) -> Step:
        unit = await _one(conn, "SELECT id FROM units WHERE id = ? AND active = 1", (int(arg) if arg.isdigit() else -1,))
        if unit is None:
            raise Refusal(N_("That police unit does not exist."))
        return await self._forward(conn, actor, tip, status, int(unit["id"]), now)

    async def _forward(self, conn: Conn, actor: Actor, tip: Row, status: Status, unit_id: int, now: datetime) -> Step:
        if status == Status.NEW:
            await conn.execute("UPDATE tips SET status = 'in_review' WHERE id = ?", (tip["id"],))
            status = Status.IN_REVIEW
        if status == Status.NEEDS_INFO:  # forwarding without waiting for the answer
            await conn.execute("UPDATE tips SET status = 'in_review' WHERE id = ?", (tip["id"],))
            status = Status.IN_REVIEW
        if status != Status.IN_REVIEW:
            raise Refusal(N_("That is not possible while the tip is {status}."), status=status)
        await _set_deadline(conn, tip["id"], "acknowledge", now + self.deadlines.acknowledge)
        fields = {"unit_id": unit_id, "forwarded_at": now.isoformat(), "claimed_by": tip["claimed_by"] or actor.id}
        return Status.FORWARDED, N_("{code} was forwarded to the police unit."), fields, f"unit {unit_id}"

    async def _do_close(self, conn: Conn, actor: Actor, tip: Row, status: Status, arg: str, now: datetime) -> Step:
        outcome = arg or "unfounded"
        target = Status.RESOLVED if outcome == "resolved" and status == Status.ACKNOWLEDGED else Status.UNFOUNDED
        return target, N_("{code} was closed."), {"outcome": outcome}, outcome

    async def _do_reopen(self, conn: Conn, actor: Actor, tip: Row, status: Status, arg: str, now: datetime) -> Step:
        reason = arg.strip()
        if not reason:
            raise Refusal(N_("Please give a reason to reopen a tip."))
        if status not in CLOSED and status not in (Status.FORWARDED, Status.ACKNOWLEDGED):
            raise Refusal(N_("That is not possible while the tip is {status}."), status=status)
        await conn.execute("UPDATE deadlines SET met_at = ? WHERE tip_id = ? AND met_at IS NULL", (now.isoformat(), tip["id"]))
        fields = {"closed_at": None, "outcome": None, "duplicate_of": None}
        return Status.IN_REVIEW, N_("{code} was reopened."), fields, reason[:200]

    async def _do_ack(self, conn: Conn, actor: Actor, tip: Row, status: Status, arg: str, now: datetime) -> Step:
        await conn.execute(
            "UPDATE deadlines SET met_at = ? WHERE tip_id = ? AND kind = 'acknowledge' AND met_at IS NULL",
            (now.isoformat(), tip["id"]),
        )
        await _set_deadline(conn, tip["id"], "outcome", now + self.deadlines.outcome)
        return Status.ACKNOWLEDGED, N_("Acknowledged. Thank you."), {"acknowledged_at": now.isoformat()}, ""

    async def _do_info(self, conn: Conn, actor: Actor, tip: Row, status: Status, arg: str, now: datetime) -> Step:
        request = arg.strip()
        if not request:
            raise Refusal(N_("The question is empty."))
        text = translator("vi").gettext("The police unit {unit} asks about {code}: {question}").format(
            unit=actor.name, code=tip["code"], question=request[:1500]
        )
        await enqueue(conn, "moderators", tip["id"], "text", now, {"text": text})
        return status, N_("Your question was passed to the moderators."), {}, "information requested"

    async def _outcome(self, conn: Conn, tip: Row, status: Status, key: str, now: datetime) -> Step:
        outcome, target = OUTCOMES[key]
        if status == Status.FORWARDED:  # an outcome implies the tip was received
            await conn.execute("UPDATE tips SET status = 'acknowledged', acknowledged_at = ? WHERE id = ?", (now.isoformat(), tip["id"]))
        await conn.execute("UPDATE deadlines SET met_at = ? WHERE tip_id = ? AND met_at IS NULL", (now.isoformat(), tip["id"]))
        return target, N_("Outcome recorded. Thank you."), {"outcome": outcome}, outcome

    async def _do_ok(self, conn: Conn, actor: Actor, tip: Row, status: Status, arg: str, now: datetime) -> Step:
        return await self._outcome(conn, tip, status, "ok", now)

    async def _do_no(self, conn: Conn, actor: Actor, tip: Row, status: Status, arg: str, now: datetime) -> Step:
        return await self._outcome(conn, tip, status, "no", now)

    async def _do_tr(self, conn: Conn, actor: Actor, tip: Row, status: Status, arg: str, now: datetime) -> Step:
        return await self._outcome(conn, tip, status, "tr", now)

    # --- the tipster's side of the channel -----------------------------------------------------

    async def _message_tipster(
        self, conn: aiosqlite.Connection, tip_id: int, text: str, now: datetime, final: bool = False
    ) -> None:
        cursor = await conn.execute(
            "INSERT INTO tip_messages (tip_id, direction, text, created_at) VALUES (?, 'to_tipster', ?, ?)",
            (tip_id, text, now.isoformat()),
        )
        await enqueue(conn, "tipster", tip_id, "message", now, {"message_id": cursor.lastrowid, "final": final})

    async def _tell_tipster(
        self, conn: aiosqlite.Connection, tip: aiosqlite.Row, msgid: str, now: datetime, final: bool = False
    ) -> None:
        text = translator(tip["language"]).gettext(msgid).format(code=tip["code"])
        await self._message_tipster(conn, tip["id"], text, now, final)

    async def tipster_wrote(self, tip_id: int, text: str, has_file: bool) -> None:
        """A tipster added information (follow-up or answer): moderators see it under the card, and a
        tip waiting for an answer goes back to review."""
        now = self.clock()
        async with self.db.transaction() as conn:
            tip = await _one(conn, "SELECT id, code, status FROM tips WHERE id = ?", (tip_id,))
            if tip is None:
                return
            shown = text[:3000] or translator("vi").gettext("(a file)")
            message = translator("vi").gettext("💬 The tipster of {code} added: {text}").format(code=tip["code"], text=shown)
            await enqueue(conn, "moderators", tip_id, "text", now, {"text": message, "file": has_file})
            status = Status(tip["status"])
            target = Status.IN_REVIEW if status == Status.NEEDS_INFO else status
            if target != status:
                await conn.execute("UPDATE tips SET status = ?, updated_at = ? WHERE id = ?", (target.value, now.isoformat(), tip_id))
                await enqueue(conn, "moderators", tip_id, "card", now, {})
            await self.audit.append(
                conn,
                AuditEntry(
                    at=now, actor_role="tipster", actor_id="", tip_code=tip["code"], action="tipster_added",
                    from_status=status.value, to_status=target.value, detail="file" if has_file else "text",
                ),
            )

    # --- deadlines -----------------------------------------------------------------------------

    async def check_deadlines(self) -> int:
        """Reminds units of deadlines drawing near and escalates overdue ones; returns how many acted."""
        now = self.clock()
        acted = 0
        async with self.db.transaction() as conn:
            rows = await _all(
                conn,
                "SELECT d.id, d.tip_id, d.kind, d.due_at, d.reminded_at, d.escalated_at, t.code, t.unit_id, t.forwarded_at, "
                "t.acknowledged_at FROM deadlines d JOIN tips t ON t.id = d.tip_id WHERE d.met_at IS NULL",
                (),
            )
            for row in rows:
                due = datetime.fromisoformat(row["due_at"])
                start = datetime.fromisoformat(row["acknowledged_at"] or row["forwarded_at"] or row["due_at"])
                remind_at = start + (due - start) * self.deadlines.remind_at
                what = "acknowledge" if row["kind"] == "acknowledge" else "outcome"
                if now >= due and row["escalated_at"] is None:
                    key = (
                        N_("⏰ Overdue: {code} has not been acknowledged by the police unit in time.")
                        if what == "acknowledge"
                        else N_("⏰ Overdue: no outcome has been reported for {code} in time.")
                    )
                    text = translator("vi").gettext(key).format(code=row["code"])
                    await enqueue(conn, "moderators", row["tip_id"], "text", now, {"text": text})
                    await conn.execute("UPDATE deadlines SET escalated_at = ? WHERE id = ?", (now.isoformat(), row["id"]))
                    await self.audit.append(
                        conn,
                        AuditEntry(
                            at=now, actor_role="system", actor_id="", tip_code=row["code"], action=f"{what}_overdue",
                            from_status=None, to_status=None, detail="",
                        ),
                    )
                    acted += 1
                elif now >= remind_at and row["reminded_at"] is None and now < due:
                    key = (
                        N_("🔔 Reminder: please acknowledge {code}.")
                        if what == "acknowledge"
                        else N_("🔔 Reminder: please report the outcome for {code}.")
                    )
                    text = translator("vi").gettext(key).format(code=row["code"])
                    await enqueue(conn, "unit", row["tip_id"], "text", now, {"text": text}, unit_id=row["unit_id"])
                    await conn.execute("UPDATE deadlines SET reminded_at = ? WHERE id = ?", (now.isoformat(), row["id"]))
                    acted += 1
        return acted


# --- small SQL helpers ------------------------------------------------------------------------------


async def _one(conn: aiosqlite.Connection, sql: str, params: tuple[Any, ...]) -> aiosqlite.Row | None:
    async with conn.execute(sql, params) as cursor:
        return await cursor.fetchone()


async def _all(conn: aiosqlite.Connection, sql: str, params: tuple[Any, ...]) -> list[aiosqlite.Row]:
    async with conn.execute(sql, params) as cursor:
        return list(await cursor.fetchall())


async def _set_deadline(conn: aiosqlite.Connection, tip_id: int, kind: str, due: datetime) -> None:
    await conn.execute(
        "INSERT INTO deadlines (tip_id, kind, due_at) VALUES (?, ?, ?) ON CONFLICT (tip_id, kind) DO UPDATE SET "
        "due_at = excluded.due_at, reminded_at = NULL, escalated_at = NULL, met_at = NULL",
        (tip_id, kind, due.isoformat()),
    )


QUESTION = N_(
    "Question from the team about your tip {code}: {question}\n\n"
    "To answer, reply to this message, or use /followup with your code and passphrase."
)


def question_code(text: str) -> str | None:
    """The tip code of a message that relays the team's question (in any language), else None."""
    for language in LANGUAGES:
        head = translator(language).gettext(QUESTION).split("{code}", 1)[0]
        if head and text.startswith(head):
            rest = text[len(head):]
            return rest[:12] if len(rest) >= 12 and rest.startswith("TL-") else None
    return None


def public_status(status: Status, language: str) -> str:
    return translator(language).gettext(PUBLIC_STATUS[status])
