"""The staff side's entry points, for every channel adapter: a button pressed, a prompt answered, a
command typed, a unit's chat linked. The adapter only translates; everything is decided here, against
state the server kept (cards, prompts, roles), never against text a message carries.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from tipline.citizen.guards import SlidingWindow
from tipline.citizen.receipts import normalize_code
from tipline.clock import Clock
from tipline.delivery.direct import outgoing
from tipline.delivery.model import Address, Audience, Kind, NewItem, Sent
from tipline.delivery.port import Channels, DeliveryError, FileRef
from tipline.i18n import N_, TIMEZONE, translator
from tipline.privacy.keys import Keyring
from tipline.records.audit import AuditEntry, AuditLog
from tipline.records.programme import chart, programme_report, summary
from tipline.records.reports import PeriodError, parse_period
from tipline.replies import Action, CardAction, Choice, QueuePage, Reply, UnitChoice
from tipline.staff import commands
from tipline.staff.actors import Actor, Refusal, Role, StaffUser
from tipline.staff.authorization import Authorizer
from tipline.staff.cards import CHOOSE_UNIT, PROMPT_ACTIONS, STAFF_LANGUAGE, moderator_card, prompt_text
from tipline.staff.model import StaffRole
from tipline.staff.moderation import Moderation
from tipline.staff.units import INVITE_TTL, UnitDirectory
from tipline.staff.views import card_view
from tipline.storage.ports import ChatAlreadyLinked, Storage
from tipline.tips import Tip

log = logging.getLogger(__name__)

LINK_ATTEMPTS_PER_HOUR = 5
PRESSES_PER_MINUTE = 30  # per person, before anything is looked up
REFUSAL_AUDIT_EVERY = timedelta(minutes=10)
PROMPT_TTL = timedelta(hours=2)  # a question the bot asked staff is answerable this long
CARD_COPY_TTL = timedelta(days=1)  # a card shown by /tip keeps working this long
# Prompts that are not questions: a card shown again (/tip), and the list of units to forward to.
CARD_COPY = "card"
FORWARD_TO = "forward_to"
NOT_ALLOWED = N_("Sorry, you are not allowed to do this.")
_ROLE_COMMANDS = {
    "addmod": (StaffRole.MODERATOR, True),
    "removemod": (StaffRole.MODERATOR, False),
    "addbroadcaster": (StaffRole.BROADCASTER, True),
    "removebroadcaster": (StaffRole.BROADCASTER, False),
}


@dataclass(frozen=True)
class Located:
    """The tip a pressed message is about, and for whom that message was."""

    tip: Tip
    audience: str  # moderators | unit
    prompt_id: int | None = None


class StaffDesk:
    def __init__(
        self,
        storage: Storage,
        channels: Channels,
        authorizer: Authorizer,
        moderation: Moderation,
        units: UnitDirectory,
        audit: AuditLog,
        keyring: Keyring,
        clock: Clock,
        wake: Callable[[], None] = lambda: None,
    ) -> None:
        self.storage = storage
        self.channels = channels
        self.authorizer = authorizer
        self.moderation = moderation
        self.units = units
        self.audit = audit
        self.keyring = keyring
        self.clock = clock
        self.wake = wake  # tells the outbox worker that something is owed
        self.presses = SlidingWindow(PRESSES_PER_MINUTE, timedelta(minutes=1))
        # When each (person, kind of entry) was last audited, and how many were folded into the next entry.
        self._audited: dict[tuple[tuple[str, object], str], datetime] = {}
        self._skipped: dict[tuple[tuple[str, object], str], int] = {}

    # --- where we are --------------------------------------------------------------------------------

    async def is_staff_chat(self, chat: Address) -> bool:
        """The moderators' chat or a linked unit's chat: talk there is not a citizen's conversation."""
        return await self.authorizer.is_staff_chat(chat)

    async def _send(self, to: Address, reply: Reply, reply_to: str | None = None, expects_reply: bool = False) -> Sent:
        channel = self.channels.get(to.channel)
        assert channel is not None, f"no {to.channel} channel registered"
        return await channel.send(to, outgoing(reply, reply_to, expects_reply))

    async def _say(self, to: Address, msgid: str, *, reply_to: str | None = None, **params: object) -> None:
        await self._send(to, Reply(translator(STAFF_LANGUAGE).gettext(msgid).format(**params)), reply_to)

    def _coalesce(self, key: tuple[tuple[str, object], str], now: datetime) -> bool:
        """True when this entry is to be written now; False when it folds into the next one (counted)."""
        last = self._audited.get(key)
        if last is not None and now - last < REFUSAL_AUDIT_EVERY:
            self._skipped[key] = self._skipped.get(key, 0) + 1
            return False
        self._audited[key] = now
        if len(self._audited) > 10_000:  # forget people not seen for a while
            self._audited = {k: t for k, t in self._audited.items() if now - t < REFUSAL_AUDIT_EVERY}
        return True

    async def _refused(self, actor: Actor | None, tip: Tip | None, reason: str, who: str = "") -> None:
        """Audits a refusal, coalesced: one entry per person and reason every few minutes, carrying how
        many more there were since (a flood of forged presses must not flood the permanent log)."""
        now = self.clock()
        key = (actor.role.value, actor.id) if actor else ("outsider", who)
        if not self._coalesce((key, reason), now):
            return
        skipped = self._skipped.pop((key, reason), 0)
        detail = reason[:150] + (f" (and {skipped} more since the last entry)" if skipped else "")
        await self.audit.record(
            self.storage,
            AuditEntry(
                at=now,
                actor_role=actor.role.value if actor else "system",
                actor_id=str(actor.id) if actor else "",
                action="refused",
                tip_code=tip.code if tip else None,
                detail=detail,
            ),
        )

    # --- buttons -------------------------------------------------------------------------------------

    async def press(self, user: StaffUser, message: Sent, action: Action | None) -> str:
        """Handles a press on a staff message; returns the short answer to show the presser ('' for none)."""
        _ = translator(STAFF_LANGUAGE).gettext
        if self.presses.add((user.channel, user.user_ref), self.clock()) > PRESSES_PER_MINUTE:
            # Before any lookup: forged presses cost neither a call to the channel nor a database write.
            await self._refused(None, None, "too many presses", who=f"{user.channel}:{user.user_ref}")
            return _(NOT_ALLOWED)
        actor = await self.authorizer.actor(user, message.address)
        if isinstance(action, QueuePage):
            if actor is None or not actor.is_staff:
                await self._refused(actor, None, "queue page not allowed", who=user.user_ref)
                return _(NOT_ALLOWED)
            channel = self.channels.get(message.address.channel)
            assert channel is not None
            await channel.edit(message, outgoing(await commands.queue_page(self.storage, max(action.page, 0))))
            return ""
        located = await self._locate(message) if isinstance(action, CardAction | UnitChoice) else None
        if actor is None or located is None or (located.audience == "unit") != (actor.role == Role.UNIT):
            await self._refused(actor, located.tip if located else None, "not allowed", who=user.user_ref)
            return _(NOT_ALLOWED)
        tip = located.tip
        if isinstance(action, UnitChoice):
            return await self._act(actor, tip, FORWARD_TO, None, str(action.unit_id), message.address)
        assert isinstance(action, CardAction)
        if action.name == CHOOSE_UNIT or action.name in PROMPT_ACTIONS:
            try:
                self.moderation.check(actor, FORWARD_TO if action.name == CHOOSE_UNIT else action.name, tip)
                if action.seen != tip.status.value:
                    raise Refusal(N_("This card was out of date and has been refreshed. Please look again."))
            except Refusal as refusal:
                return await self._refusal(actor, tip, refusal)
            if action.name == CHOOSE_UNIT:
                return await self._offer_units(actor, tip, message)
            sent = await self._send(
                message.address, Reply(prompt_text(action.name, tip.code)), message.message, expects_reply=True
            )
            await self._remember(sent, action.name, tip, actor, PROMPT_TTL)
            return ""
        return await self._act(actor, tip, action.name, action.seen, "", message.address)

    async def _locate(self, message: Sent) -> Located | None:
        """The tip of a card, of a card shown again, or of a list of units, from the message pressed."""
        async with self.storage.read() as uow:
            placement = await uow.cards.at(message)
            if placement is not None:
                tip = await uow.tips.by_id(placement.tip_id)
                return Located(tip, placement.audience) if tip else None
            prompt = await uow.prompts.at(message)
            if prompt is None or prompt.expires_at <= self.clock() or prompt.action not in (CARD_COPY, FORWARD_TO):
                return None
            tip = await uow.tips.by_id(prompt.tip_id)
        audience = "unit" if prompt.actor_role == Role.UNIT.value else "moderators"
        return Located(tip, audience, prompt.id) if tip else None

    async def _offer_units(self, actor: Actor, tip: Tip, card: Sent) -> str:
        _ = translator(STAFF_LANGUAGE).gettext
        async with self.storage.read() as uow:
            units = await uow.units.active_in_province(tip.province_code)
        if not units:
            return _("No police unit is registered in this province yet.")
        rows = tuple((Choice(unit.name, UnitChoice(unit.id)),) for unit in units[:30])
        sent = await self._send(card.address, Reply(_("Forward {code} to which unit?").format(code=tip.code), rows), card.message)
        await self._remember(sent, FORWARD_TO, tip, actor, PROMPT_TTL)
        return ""

    async def _remember(self, sent: Sent, action: str, tip: Tip, actor: Actor, ttl: timedelta) -> None:
        now = self.clock()
        async with self.storage.uow() as uow:
            await uow.prompts.add(sent, action, tip.id, actor.role.value, actor.id, now, now + ttl)

    async def _act(self, actor: Actor, tip: Tip, action: str, seen: str | None, arg: str, where: Address) -> str:
        try:
            done = await self.moderation.act(actor, tip.id, action, seen, arg)
        except Refusal as refusal:
            return await self._refusal(actor, tip, refusal)
        self.wake()
        return translator(STAFF_LANGUAGE).gettext(done.message).format(code=done.code)

    async def _refusal(self, actor: Actor, tip: Tip, refusal: Refusal) -> str:
        await self._refused(actor, tip, refusal.message)
        if refusal.message.startswith("This card was out of date"):
            async with self.storage.uow() as uow:  # show the card as the tip is now
                await uow.outbox.add(NewItem(Kind.CARD, Audience.MODERATORS, tip.id), self.clock())
            self.wake()
        return refusal.text(STAFF_LANGUAGE)

    # --- answers to prompts --------------------------------------------------------------------------

    async def reply(self, user: StaffUser, replied: Sent, text: str) -> bool:
        """A reply to one of the bot's messages in a staff chat: True when it answered a prompt."""
        async with self.storage.read() as uow:
            prompt = await uow.prompts.at(replied)
            tip = await uow.tips.by_id(prompt.tip_id) if prompt else None
        if prompt is None or tip is None or prompt.action not in PROMPT_ACTIONS:
            return False
        actor = await self.authorizer.actor(user, replied.address)
        where = replied.address
        allowed = (
            actor is not None
            and (actor.role.value, actor.id) == (prompt.actor_role, prompt.actor_id)
            and prompt.used_at is None
            and prompt.expires_at > self.clock()
        )
        if allowed:
            # Used once, also when two answers arrive at once (two workers each read the prompt unused).
            async with self.storage.uow() as uow:
                allowed = await uow.prompts.use(prompt.id, self.clock())
        if not allowed or actor is None:
            await self._refused(actor, tip, "prompt not for this person, used or expired")
            await self._say(where, NOT_ALLOWED, reply_to=replied.message)
            return True
        answer = await self._act(actor, tip, prompt.action, None, text, where)
        await self._send(where, Reply(answer), replied.message)
        return True

    # --- commands ------------------------------------------------------------------------------------

    async def command(self, user: StaffUser, chat: Address, name: str, args: str, private: bool) -> bool:
        """A staff command; False when it is not one here (a citizen's conversation then takes it)."""
        name = name.lower()
        if name == "link":
            await self.link(chat, args)
            return True
        if name not in commands.STAFF_COMMANDS:
            return False
        if name == "report" and not self.authorizer.is_moderators_chat(chat):
            return False  # /report elsewhere is a citizen's report; the programme report is asked for in the group
        staff_chat = await self.is_staff_chat(chat)
        if not staff_chat and not private:
            return False
        actor = await self.authorizer.actor(user, chat)
        if actor is None:
            if private:
                return False  # a citizen typing /queue gets the citizen answer to an unknown command
            await self._refused(None, None, "not a moderator")
            return True
        if actor.role == Role.UNIT:
            return True  # unit chats act only through their cards' buttons and prompts
        await self._command(actor, user, chat, name, args.strip())
        return True

    async def _command(self, actor: Actor, user: StaffUser, chat: Address, name: str, args: str) -> None:
        if name == "queue":
            page = int(args) - 1 if args.isdigit() and int(args) > 0 else 0
            await self._send(chat, await commands.queue_page(self.storage, page))
        elif name == "tip":
            await self._show_tip(actor, chat, args)
        elif name == "find":
            await self._audit_read(actor, None, "searched")
            await self._send(chat, await commands.find_tips(self.storage, args))
        elif name == "stats":
            await self._send(chat, await commands.month_stats(self.storage, self.clock()))
        elif name in _ROLE_COMMANDS and args.isdigit():
            await self._set_role(actor, chat, args, *_ROLE_COMMANDS[name])
        elif name in ("invite", "relink") and actor.role != Role.ADMIN:
            await self._refused(actor, None, f"{name} by a moderator")
            await self._say(chat, N_("Only admins can do that."))
        elif name == "invite":
            await self._invite(actor, user, chat, args)
        elif name == "relink":
            await self._relink(actor, chat, args)
        elif name == "report":
            await self._programme_report(actor, chat, args)
        else:
            await self._say(chat, commands.STAFF_HELP)

    async def _programme_report(self, actor: Actor, chat: Address, args: str) -> None:
        """The programme report of a period (this month when none is given), as text and a chart: admins only."""
        if actor.role != Role.ADMIN:
            await self._say(chat, NOT_ALLOWED)
            return
        t = translator(STAFF_LANGUAGE)
        try:
            if args:
                start, end = parse_period(args.split()[0])
            else:
                today = self.clock().astimezone(TIMEZONE).date()
                start, end = today.replace(day=1), today
        except PeriodError:
            await self._say(chat, N_("Please give a period like /report 2026-11, 2026-Q4, 2026-H2 or 2026."))
            return
        report = await programme_report(self.storage, start, end)
        await self._send(chat, Reply(summary(report, t)))
        image = await asyncio.to_thread(chart, report, t)
        channel = self.channels.get(chat.channel)
        assert channel is not None
        await channel.send_file(chat, FileRef("photo", f"report-{start}-{end}.png", "", data=image))

    async def _show_tip(self, actor: Actor, chat: Address, args: str) -> None:
        code = normalize_code(args)
        async with self.storage.read() as uow:
            tip = await uow.tips.by_code(code) if code else None
            view = await card_view(uow, tip) if tip else None
        if tip is None or view is None:
            await self._say(chat, N_("No tip has that code."))
            return
        await self._audit_read(actor, tip.code, "viewed")
        sent = await self._send(chat, moderator_card(view))
        await self._remember(sent, CARD_COPY, tip, actor, CARD_COPY_TTL)

    async def _audit_read(self, actor: Actor, tip_code: str | None, action: str) -> None:
        """Staff reading tips is on the record too: one entry per person, tip and kind every few minutes."""
        now = self.clock()
        key = ((actor.role.value, actor.id), f"{action}:{tip_code}")
        if not self._coalesce(key, now):
            return
        skipped = self._skipped.pop(key, 0)
        detail = f"and {skipped} more since the last entry" if skipped else ""
        await self.audit.record(
            self.storage,
            AuditEntry(at=now, actor_role=actor.role.value, actor_id=str(actor.id), action=action, tip_code=tip_code,
                       detail=detail),
        )

    async def _set_role(self, actor: Actor, chat: Address, user_ref: str, role: StaffRole, active: bool) -> None:
        if actor.role != Role.ADMIN:
            await self._say(chat, N_("Only admins can add or remove moderators."))
            return
        now = self.clock()
        async with self.storage.uow() as uow:
            staff_id = await uow.staff.set_role(chat.channel, user_ref, role, active, now)
            await self.audit.append(
                uow,
                AuditEntry(
                    at=now, actor_role=actor.role.value, actor_id=str(actor.id),
                    action=f"{role.value}_added" if active else f"{role.value}_removed", detail=f"staff {staff_id}",
                ),
            )
        self.authorizer.forget(chat.channel, user_ref)
        moderators = self.authorizer.moderators
        if role == StaffRole.MODERATOR and not active and moderators is not None and moderators.channel == chat.channel:
            # A removed moderator who stayed in the group would keep reading every card.
            channel = self.channels.get(moderators.channel)
            try:
                assert channel is not None
                await channel.remove_member(moderators, user_ref)
            except DeliveryError as exc:
                log.warning("a removed moderator could not be taken out of the group (%s)", exc)
                await self._say(chat, N_("Done, but the bot could not remove them from the moderators' group: please do it by hand."))
                return
        await self._say(chat, N_("Done."))

    async def _invite(self, actor: Actor, user: StaffUser, chat: Address, unit_code: str) -> None:
        """A one-time code for a unit's chat, sent privately to the admin who asked (never to the group,
        where any member could redeem it first); valid for a day."""
        async with self.storage.read() as uow:
            unit = await uow.units.by_code(unit_code)
        if unit is None:
            await self._say(chat, N_("No police unit has that code."))
            return
        now = self.clock()
        code = await self.units.create_invite(unit.id, str(actor.id), now, INVITE_TTL)
        _ = translator(STAFF_LANGUAGE).gettext
        text = _(
            "Invite for {unit}, valid for 24 hours: the unit sends /link {code} to this bot from its chat. "
            "Give it to the unit yourself; do not post it in a group."
        ).format(unit=unit.name, code=code)
        try:
            await self._send(Address(user.channel, user.user_ref), Reply(text))
        except DeliveryError:
            await self._say(chat, N_("Please start a private chat with this bot first, then ask for the invite again."))
            return
        await self.audit.record(
            self.storage,
            AuditEntry(at=now, actor_role=actor.role.value, actor_id=str(actor.id), action="invite_created",
                       detail=f"unit {unit.id}"),
        )
        if chat != Address(user.channel, user.user_ref):
            await self._say(chat, N_("The invite was sent to you in a private chat."))

    async def _relink(self, actor: Actor, chat: Address, unit_code: str) -> None:
        """An admin confirms moving a linked unit to the chat that redeemed a new invite."""
        now = self.clock()
        async with self.storage.uow() as uow:
            unit = await uow.units.by_code(unit_code)
            target = await uow.units.pending_relink(unit.id) if unit else None
            if unit is None or target is None:
                moved = None
            else:
                old = unit.chat
                moved = await uow.units.link_chat(unit.id, target, now)
                await uow.units.clear_relink(unit.id)
                await uow.units.use_invites(unit.id, now)
                await self.audit.append(
                    uow,
                    AuditEntry(at=now, actor_role=actor.role.value, actor_id=str(actor.id), action="unit_relinked",
                               detail=f"unit {unit.id}"),
                )
        if moved is None or unit is None or target is None:
            await self._say(chat, N_("No unit with that code is waiting to move to another chat."))
            return
        self.authorizer.forget_unit_chats()
        if old is not None:
            await self._notify(old, N_("This chat no longer receives the tips of {unit}: an admin moved them to another chat."), unit=unit.name)
        await self._notify(target, N_("This chat is now linked to {unit}. Forwarded tips will arrive here."), unit=unit.name)
        await self._say(chat, N_("{unit} now reads its tips in its new chat."), unit=unit.name)

    async def _notify(self, to: Address, msgid: str, **params: object) -> None:
        try:
            await self._send(to, Reply(translator(STAFF_LANGUAGE).gettext(msgid).format(**params)))
        except DeliveryError:
            log.warning("a unit's chat could not be told about a move")

    # --- linking a unit's chat -----------------------------------------------------------------------

    async def link(self, chat: Address, code: str) -> None:
        now = self.clock()
        # Invite codes are short: guessing is slowed down per chat (counted under a pseudonym).
        async with self.storage.uow() as uow:
            attempts = await uow.counters.hit(f"link:{self.keyring.pseudonym('link', chat.chat)}", 3600, now)
        if attempts > LINK_ATTEMPTS_PER_HOUR:
            await self._say(chat, N_("Too many attempts. Please try again in an hour."))
            return
        try:
            unit, moved = await self.units.redeem_invite(code.strip(), Address(chat.channel, chat.chat), now)
            self.authorizer.forget_unit_chats()
        except ChatAlreadyLinked as exc:
            await self._say(chat, N_("This chat is already linked to the police unit {unit}."), unit=exc.unit_code)
            return
        if unit is None:
            await self.audit.record(self.storage, AuditEntry(at=now, actor_role="system", action="link_refused", detail="bad invite"))
            await self._say(
                chat, N_("That invite code is not valid (wrong, used or expired). Invite codes look like UNIT-7K3Q-9XMP.")
            )
            return
        if not moved:
            # The unit already reads its tips elsewhere: moving them needs an admin, and both sides hear of it.
            await self.audit.record(
                self.storage, AuditEntry(at=now, actor_role="unit", actor_id=str(unit.id), action="unit_relink_requested")
            )
            await self._say(chat, N_("{unit} is already linked to another chat. An admin must confirm the move; until then, tips keep going to the current chat."), unit=unit.name)
            if self.authorizer.moderators is not None:
                await self._say(
                    self.authorizer.moderators,
                    N_("⚠️ {unit} asks to move its tips to another chat. If that is right, an admin sends /relink {code}."),
                    unit=unit.name, code=unit.code,
                )
            if unit.chat is not None:
                await self._notify(unit.chat, N_("Someone asked to move the tips of {unit} to another chat. If that was not your unit, tell the moderators at once."), unit=unit.name)
            return
        await self.audit.record(self.storage, AuditEntry(at=now, actor_role="unit", actor_id=str(unit.id), action="unit_linked"))
        await self._say(chat, N_("This chat is now linked to {unit}. Forwarded tips will arrive here."), unit=unit.name)
