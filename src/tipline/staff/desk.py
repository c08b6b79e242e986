"""The staff side's entry points, for every channel adapter: a button pressed, a prompt answered, a
command typed, a unit's chat linked. The adapter only translates; everything is decided here, against
state the server kept (cards, prompts, roles), never against text a message carries.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from tipline.citizen.receipts import normalize_code
from tipline.clock import Clock
from tipline.delivery.direct import outgoing
from tipline.delivery.model import Address, Audience, Kind, NewItem, Sent
from tipline.delivery.port import Channels, FileRef
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
from tipline.staff.units import UnitDirectory
from tipline.staff.views import card_view
from tipline.storage.ports import ChatAlreadyLinked, Storage
from tipline.tips import Tip

log = logging.getLogger(__name__)

LINK_ATTEMPTS_PER_HOUR = 5
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

    # --- where we are --------------------------------------------------------------------------------

    async def is_staff_chat(self, chat: Address) -> bool:
        """The moderators' chat or a linked unit's chat: talk there is not a citizen's conversation."""
        return self.authorizer.is_moderators_chat(chat) or await self.authorizer.unit(chat) is not None

    async def _send(self, to: Address, reply: Reply, reply_to: str | None = None, expects_reply: bool = False) -> Sent:
        channel = self.channels.get(to.channel)
        assert channel is not None, f"no {to.channel} channel registered"
        return await channel.send(to, outgoing(reply, reply_to, expects_reply))

    async def _say(self, to: Address, msgid: str, reply_to: str | None = None, **params: object) -> None:
        await self._send(to, Reply(translator(STAFF_LANGUAGE).gettext(msgid).format(**params)), reply_to)

    async def _refused(self, actor: Actor | None, tip: Tip | None, reason: str) -> None:
        await self.audit.record(
            self.storage,
            AuditEntry(
                actor_role=actor.role.value if actor else "system",
                actor_id=str(actor.id) if actor else "",
                action="refused",
                tip_code=tip.code if tip else None,
                detail=reason[:200],
            ),
        )

    # --- buttons -------------------------------------------------------------------------------------

    async def press(self, user: StaffUser, message: Sent, action: Action | None) -> str:
        """Handles a press on a staff message; returns the short answer to show the presser ('' for none)."""
        _ = translator(STAFF_LANGUAGE).gettext
        actor = await self.authorizer.actor(user, message.address)
        if isinstance(action, QueuePage):
            if actor is None or not actor.is_staff:
                await self._refused(actor, None, "queue page not allowed")
                return _(NOT_ALLOWED)
            channel = self.channels.get(message.address.channel)
            assert channel is not None
            await channel.edit(message, outgoing(await commands.queue_page(self.storage, max(action.page, 0))))
            return ""
        located = await self._locate(message) if isinstance(action, CardAction | UnitChoice) else None
        if actor is None or located is None or (located.audience == "unit") != (actor.role == Role.UNIT):
            await self._refused(actor, located.tip if located else None, "not allowed")
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
        if (
            actor is None
            or (actor.role.value, actor.id) != (prompt.actor_role, prompt.actor_id)
            or prompt.used_at is not None
            or prompt.expires_at <= self.clock()
        ):
            await self._refused(actor, tip, "prompt not for this person, used or expired")
            await self._say(where, NOT_ALLOWED, replied.message)
            return True
        async with self.storage.uow() as uow:
            await uow.prompts.use(prompt.id, self.clock())
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
        await self._command(actor, chat, name, args.strip())
        return True

    async def _command(self, actor: Actor, chat: Address, name: str, args: str) -> None:
        if name == "queue":
            page = int(args) - 1 if args.isdigit() and int(args) > 0 else 0
            await self._send(chat, await commands.queue_page(self.storage, page))
        elif name == "tip":
            await self._show_tip(actor, chat, args)
        elif name == "find":
            await self._send(chat, await commands.find_tips(self.storage, args))
        elif name == "stats":
            await self._send(chat, await commands.month_stats(self.storage, self.clock()))
        elif name in _ROLE_COMMANDS and args.isdigit():
            await self._set_role(actor, chat, args, *_ROLE_COMMANDS[name])
        elif name == "invite" and actor.role == Role.ADMIN:
            await self._invite(actor, chat, args)
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
        sent = await self._send(chat, moderator_card(view))
        await self._remember(sent, CARD_COPY, tip, actor, CARD_COPY_TTL)

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
        await self._say(chat, N_("Done."))

    async def _invite(self, actor: Actor, chat: Address, unit_code: str) -> None:
        async with self.storage.read() as uow:
            unit = await uow.units.by_code(unit_code)
        if unit is None:
            await self._say(chat, N_("No police unit has that code."))
            return
        code = await self.units.create_invite(unit.id, str(actor.id), self.clock())
        await self._say(
            chat, N_("Invite for {unit}: the unit sends /link {code} to this bot from its chat."), unit=unit.name, code=code
        )

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
            unit = await self.units.redeem_invite(code.strip(), Address(chat.channel, chat.chat), now)
        except ChatAlreadyLinked as exc:
            await self._say(chat, N_("This chat is already linked to the police unit {unit}."), unit=exc.unit_code)
            return
        if unit is None:
            await self.audit.record(self.storage, AuditEntry(actor_role="system", action="link_refused", detail="bad invite"))
            await self._say(chat, N_("That invite code is not valid (wrong, used or expired)."))
            return
        await self.audit.record(self.storage, AuditEntry(actor_role="unit", actor_id=str(unit.id), action="unit_linked"))
        await self._say(chat, N_("This chat is now linked to {unit}. Forwarded tips will arrive here."), unit=unit.name)
