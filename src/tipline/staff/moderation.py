"""The moderator queue and the police side: every action on a tip.

Every action is authorised here, on the server, against the actor's role and the tip's current state
(a button's chat is never trusted alone), and written in one unit of work with its audit entry and
whatever must be told to someone (the outbox), so nothing is lost between a change and its news.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from tipline.citizen.receipts import normalize_code
from tipline.clock import Clock
from tipline.delivery.model import Audience, Kind, NewItem
from tipline.i18n import N_, translator
from tipline.records.audit import AuditEntry, AuditLog
from tipline.staff.actors import Actor, Refusal, Role
from tipline.storage.ports import Storage, UnitOfWork
from tipline.tips import CLOSED, Evidence, InvalidTransition, Status, Tip, check_transition

# What moderators and admins can do, and what a police unit can do with the tips forwarded to it.
STAFF_ACTIONS = frozenset(
    {"claim", "release", "raise", "lower", "ask", "spam", "duplicate", "forward", "forward_to", "unfounded", "reopen"}
)
UNIT_ACTIONS = frozenset({"acknowledge", "ask_more", "verified", "not_verified", "transferred"})
# The outcomes a unit reports: a closed set, never free text.
OUTCOMES: dict[str, tuple[str, Status]] = {
    "verified": ("verified", Status.RESOLVED),
    "not_verified": ("not_verified", Status.UNFOUNDED),
    "transferred": ("transferred", Status.RESOLVED),
}
# Claiming is the only change a moderator makes to a tip someone else claimed; the rest needs the claim
# (admins may override, and it is audited as theirs).
_NEEDS_CLAIM = STAFF_ACTIONS - {"claim"}
MAX_PRIORITY = 3

# What the tipster is told, in generic words that reveal nothing operational.
TIPSTER_NEWS = {
    Status.FORWARDED: N_("Update on your tip {code}: it has been passed to the police for verification."),
    Status.RESOLVED: N_("Update on your tip {code}: it has been handled. Thank you for the information."),
    Status.UNFOUNDED: N_("Update on your tip {code}: it was checked and closed. Thank you for the information."),
    Status.DUPLICATE: N_(
        "Update on your tip {code}: the same matter had already been reported and is being handled. "
        "Thank you for the information."
    ),
}
# A closing with an outcome says which (a tip passed on to another authority was not "handled" here).
OUTCOME_NEWS = {
    "verified": N_("Update on your tip {code}: it was verified and handled. Thank you for the information."),
    "not_verified": N_(
        "Update on your tip {code}: it was checked but could not be verified, and is now closed. "
        "Thank you for the information."
    ),
    "transferred": N_(
        "Update on your tip {code}: it was passed to the competent authority. Thank you for the information."
    ),
    "unfounded": TIPSTER_NEWS[Status.UNFOUNDED],
}

QUESTION = N_(
    "Question from the team about your tip {code}: {question}\n\n"
    "To answer, reply to this message, or use /followup with your code and passphrase."
)


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


@dataclass
class Move:
    """What an action does: the status it leads to, the confirmation, the fields to set, the audit note."""

    target: Status
    message: str
    fields: dict[str, Any] = field(default_factory=dict)
    detail: str = ""


Action = Callable[[UnitOfWork, Actor, Tip, str, datetime], Awaitable[Move]]


class Moderation:
    def __init__(self, storage: Storage, audit: AuditLog, clock: Clock, deadlines: Deadlines | None = None) -> None:
        self.storage = storage
        self.audit = audit
        self.clock = clock
        self.deadlines = deadlines or Deadlines()
        self._actions: dict[str, Action] = {
            "claim": self._claim, "release": self._release, "raise": self._raise, "lower": self._lower,
            "ask": self._ask, "spam": self._spam, "duplicate": self._duplicate, "forward": self._forward,
            "forward_to": self._forward_to, "unfounded": self._unfounded, "reopen": self._reopen,
            "acknowledge": self._acknowledge, "ask_more": self._ask_more,
            **{key: self._outcome_action(key) for key in OUTCOMES},
        }

    def check(self, actor: Actor, action: str, tip: Tip) -> None:
        """Raises Refusal unless ``actor`` may do ``action`` to ``tip`` as it is now."""
        if action not in self._actions:
            raise Refusal(N_("Sorry, you are not allowed to do this."))
        if actor.role == Role.UNIT:
            if action not in UNIT_ACTIONS or tip.unit_id != actor.id:
                raise Refusal(N_("Sorry, you are not allowed to do this."))
            return
        if action not in STAFF_ACTIONS:
            raise Refusal(N_("Sorry, you are not allowed to do this."))
        if action in _NEEDS_CLAIM and tip.claimed_by not in (None, actor.id) and actor.role != Role.ADMIN:
            raise Refusal(N_("Another moderator has claimed this tip."))

    async def act(self, actor: Actor, tip_id: int, action: str, seen: str | None = None, arg: str = "") -> Done:
        """Performs one action on one tip; raises Refusal with a polite reason when it may not happen.

        A refusal writes nothing: no tip field, no card refresh, no news (the caller audits it).
        """
        now = self.clock()
        async with self.storage.uow() as uow:
            tip = await uow.tips.by_id(tip_id)
            if tip is None:
                raise Refusal(N_("Sorry, you are not allowed to do this."))
            self.check(actor, action, tip)
            if seen is not None and seen != tip.status.value:
                raise Refusal(N_("This card was out of date and has been refreshed. Please look again."))
            status = tip.status
            move = await self._actions[action](uow, actor, tip, arg, now)
            # An action may take an implied first step (asking claims a new tip): the move is checked from
            # where the tip is now, and everything rolls back if it is not allowed.
            current = (await uow.tips.by_id(tip_id) or tip).status
            if move.target != current:
                try:
                    check_transition(current, move.target)
                except InvalidTransition:
                    raise Refusal(N_("That is not possible while the tip is {status}."), status=status) from None
            changes: dict[str, Any] = {"status": move.target, "updated_at": now, **move.fields}
            closing = move.target in CLOSED and status not in CLOSED
            if closing:
                changes["closed_at"] = now
                if move.target not in TIPSTER_NEWS:
                    await uow.subscriptions.forget_tip(tip_id)
            await uow.tips.update(tip_id, **changes)
            await self.audit.append(
                uow,
                AuditEntry(
                    at=now, actor_role=actor.role.value, actor_id=str(actor.id), tip_code=tip.code, action=action,
                    from_status=status.value, to_status=move.target.value, detail=move.detail,
                ),
            )
            await uow.outbox.add(NewItem(Kind.CARD, Audience.MODERATORS, tip_id), now)
            unit_id = changes["unit_id"] if "unit_id" in changes else tip.unit_id
            for shown_to in {tip.unit_id, unit_id} - {None}:
                # The unit that had the tip sees it leave; the unit that gets it sees it arrive.
                await uow.outbox.add(NewItem(Kind.CARD, Audience.UNIT, tip_id, shown_to), now)
            if move.target != status and move.target in TIPSTER_NEWS:
                # The chat link of a closed tip goes once this last news is delivered.
                news = OUTCOME_NEWS.get(str(changes.get("outcome")), TIPSTER_NEWS[move.target])
                await self._tell_tipster(uow, tip, news, now, final=closing)
        return Done(tip.code, move.target, move.message)

    # --- the actions -------------------------------------------------------------------------------

    async def _claim(self, uow: UnitOfWork, actor: Actor, tip: Tip, arg: str, now: datetime) -> Move:
        if tip.claimed_by not in (None, actor.id):
            raise Refusal(N_("Another moderator has claimed this tip."))
        target = Status.IN_REVIEW if tip.status == Status.NEW else tip.status
        return Move(target, N_("You claimed {code}."), {"claimed_by": actor.id})

    async def _release(self, uow: UnitOfWork, actor: Actor, tip: Tip, arg: str, now: datetime) -> Move:
        target = Status.NEW if tip.status == Status.IN_REVIEW else tip.status
        return Move(target, N_("You released {code}."), {"claimed_by": None})

    async def _raise(self, uow: UnitOfWork, actor: Actor, tip: Tip, arg: str, now: datetime) -> Move:
        return Move(tip.status, N_("Priority raised."), {"priority": min(tip.priority + 1, MAX_PRIORITY)}, "priority +1")

    async def _lower(self, uow: UnitOfWork, actor: Actor, tip: Tip, arg: str, now: datetime) -> Move:
        return Move(tip.status, N_("Priority lowered."), {"priority": max(tip.priority - 1, 0)}, "priority -1")

    async def _ask(self, uow: UnitOfWork, actor: Actor, tip: Tip, arg: str, now: datetime) -> Move:
        question = arg.strip()
        if not question:
            raise Refusal(N_("The question is empty."))
        if tip.status in CLOSED or tip.status in (Status.FORWARDED, Status.ACKNOWLEDGED):
            raise Refusal(N_("That is not possible while the tip is {status}."), status=tip.status)
        text = translator(tip.language).gettext(QUESTION).format(code=tip.code, question=question[:1500])
        await self._message_tipster(uow, tip, text, now, question=True)
        if tip.status == Status.NEW:
            await uow.tips.update(tip.id, status=Status.IN_REVIEW)
        fields = {"claimed_by": tip.claimed_by or actor.id}
        return Move(Status.NEEDS_INFO, N_("Your question was sent to the tipster of {code}."), fields, "question sent")

    async def _spam(self, uow: UnitOfWork, actor: Actor, tip: Tip, arg: str, now: datetime) -> Move:
        return Move(Status.SPAM, N_("{code} marked as spam."))

    async def _duplicate(self, uow: UnitOfWork, actor: Actor, tip: Tip, arg: str, now: datetime) -> Move:
        code = normalize_code(arg)
        other = await uow.tips.by_code(code) if code else None
        if other is None or other.id == tip.id:
            raise Refusal(N_("No other tip has the code {code}."), code=arg.strip()[:20])
        return Move(Status.DUPLICATE, N_("{code} marked as a duplicate."), {"duplicate_of": other.id}, f"of {other.code}")

    async def _forward(self, uow: UnitOfWork, actor: Actor, tip: Tip, arg: str, now: datetime) -> Move:
        unit = await uow.units.active_for_commune(tip.commune_code) if tip.commune_code else None
        if unit is None:
            raise Refusal(N_("No police unit covers this commune yet: choose a unit with 'Forward to…'."))
        return await self._send_to_unit(uow, actor, tip, unit.id, now)

    async def _forward_to(self, uow: UnitOfWork, actor: Actor, tip: Tip, arg: str, now: datetime) -> Move:
        unit = await uow.units.by_id(int(arg)) if arg.isdigit() else None
        if unit is None or not unit.active:
            raise Refusal(N_("That police unit does not exist."))
        if unit.province_code != tip.province_code and actor.role != Role.ADMIN:
            raise Refusal(N_("Only an admin can forward a tip to a unit of another province."))
        return await self._send_to_unit(uow, actor, tip, unit.id, now)

    async def _send_to_unit(self, uow: UnitOfWork, actor: Actor, tip: Tip, unit_id: int, now: datetime) -> Move:
        if tip.status in (Status.NEW, Status.NEEDS_INFO):  # forwarding without waiting for an answer
            await uow.tips.update(tip.id, status=Status.IN_REVIEW)
        elif tip.status != Status.IN_REVIEW:
            raise Refusal(N_("That is not possible while the tip is {status}."), status=tip.status)
        await uow.deadlines.set(tip.id, "acknowledge", now + self.deadlines.acknowledge)
        fields = {"unit_id": unit_id, "forwarded_at": now, "claimed_by": tip.claimed_by or actor.id}
        return Move(Status.FORWARDED, N_("{code} was forwarded to the police unit."), fields, f"unit {unit_id}")

    async def _unfounded(self, uow: UnitOfWork, actor: Actor, tip: Tip, arg: str, now: datetime) -> Move:
        return Move(Status.UNFOUNDED, N_("{code} was closed."), {"outcome": "unfounded"}, "unfounded")

    async def _reopen(self, uow: UnitOfWork, actor: Actor, tip: Tip, arg: str, now: datetime) -> Move:
        reason = arg.strip()
        if not reason:
            raise Refusal(N_("Please give a reason to reopen a tip."))
        if tip.status not in CLOSED and tip.status not in (Status.FORWARDED, Status.ACKNOWLEDGED):
            raise Refusal(N_("That is not possible while the tip is {status}."), status=tip.status)
        await uow.deadlines.meet(tip.id, now)
        # The unit lets go of a reopened tip: it no longer gets its updates or acts on it.
        fields = {"closed_at": None, "outcome": None, "duplicate_of": None, "unit_id": None}
        return Move(Status.IN_REVIEW, N_("{code} was reopened."), fields, reason[:200])

    async def _acknowledge(self, uow: UnitOfWork, actor: Actor, tip: Tip, arg: str, now: datetime) -> Move:
        await uow.deadlines.meet(tip.id, now, "acknowledge")
        await uow.deadlines.set(tip.id, "outcome", now + self.deadlines.outcome)
        return Move(Status.ACKNOWLEDGED, N_("Acknowledged. Thank you."), {"acknowledged_at": now})

    async def _ask_more(self, uow: UnitOfWork, actor: Actor, tip: Tip, arg: str, now: datetime) -> Move:
        request = arg.strip()
        if not request:
            raise Refusal(N_("The question is empty."))
        if tip.status in CLOSED:
            raise Refusal(N_("That is not possible while the tip is {status}."), status=tip.status)
        text = translator("vi").gettext("The police unit {unit} asks about {code}: {question}").format(
            unit=actor.name, code=tip.code, question=request[:1500]
        )
        await uow.outbox.add(NewItem(Kind.STAFF_TEXT, Audience.MODERATORS, tip.id, payload={"text": text}), now)
        return Move(tip.status, N_("Your question was passed to the moderators."), {}, "information requested")

    def _outcome_action(self, key: str) -> Action:
        outcome, target = OUTCOMES[key]

        async def report(uow: UnitOfWork, actor: Actor, tip: Tip, arg: str, now: datetime) -> Move:
            if tip.status == Status.FORWARDED:  # an outcome implies the tip was received
                await uow.tips.update(tip.id, status=Status.ACKNOWLEDGED, acknowledged_at=now)
            elif tip.status != Status.ACKNOWLEDGED:  # a closed outcome is final
                raise Refusal(N_("That is not possible while the tip is {status}."), status=tip.status)
            await uow.deadlines.meet(tip.id, now)
            return Move(target, N_("Outcome recorded. Thank you."), {"outcome": outcome}, outcome)

        return report

    # --- the tipster's side of the channel ---------------------------------------------------------

    async def _message_tipster(
        self, uow: UnitOfWork, tip: Tip, text: str, now: datetime, final: bool = False, question: bool = False
    ) -> None:
        tip_id, channel = tip.id, tip.channel  # the tipster's news goes out on the channel they wrote on
        message_id = await uow.messages.add(tip_id, "to_tipster", text, now)
        payload = {"message_id": message_id, "final": final, "question": question}
        await uow.outbox.add(NewItem(Kind.TIPSTER_NEWS, Audience.TIPSTER, tip_id, payload=payload, channel=channel), now)

    async def _tell_tipster(self, uow: UnitOfWork, tip: Tip, msgid: str, now: datetime, final: bool = False) -> None:
        text = translator(tip.language).gettext(msgid).format(code=tip.code)
        await self._message_tipster(uow, tip, text, now, final)

    async def tipster_wrote(self, tip_id: int, text: str, files: tuple[Evidence, ...] = ()) -> None:
        """A tipster added information (follow-up or answer): moderators see it, and its files, under the
        card, and a tip waiting for an answer goes back to review."""
        now = self.clock()
        async with self.storage.uow() as uow:
            tip = await uow.tips.by_id(tip_id)
            if tip is None:
                return
            _ = translator("vi").gettext
            shown = text[:3000] or _("(a file)")
            message = _("💬 The tipster of {code} added: {text}").format(code=tip.code, text=shown)
            payload = {
                "text": message,
                "files": [{"kind": f.kind, "ref": f.ref, "mime": f.mime, "channel": tip.channel} for f in files],
            }
            await uow.outbox.add(NewItem(Kind.STAFF_TEXT, Audience.MODERATORS, tip_id, payload=payload), now)
            target = Status.IN_REVIEW if tip.status == Status.NEEDS_INFO else tip.status
            if target != tip.status:
                await uow.tips.update(tip_id, status=target, updated_at=now)
                await uow.outbox.add(NewItem(Kind.CARD, Audience.MODERATORS, tip_id), now)
            await self.audit.append(
                uow,
                AuditEntry(
                    at=now, actor_role="tipster", actor_id="", tip_code=tip.code, action="tipster_added",
                    from_status=tip.status.value, to_status=target.value, detail="file" if files else "text",
                ),
            )
