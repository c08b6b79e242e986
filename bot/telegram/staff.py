"""The moderators' group, police unit chats and staff commands, on Telegram.

Thin: who is pressing is resolved here from Telegram (admin ids, membership of the moderators' group,
a unit's linked chat), and everything else is the core's: ``Moderation`` authorises and performs,
``Queue`` reads, ``cards`` renders. Cards and messages are delivered from the outbox (``deliver``), so a
Telegram outage delays them and loses nothing.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
from dataclasses import replace
from typing import Any

from telegram import ForceReply, Message, ReplyParameters, Update
from telegram.constants import ChatMemberStatus, ChatType, ParseMode
from telegram.error import BadRequest, Forbidden, NetworkError, TelegramError

from tipline.citizen.receipts import normalize_code
from tipline.citizen.service import Tipline
from tipline.config import Settings
from tipline.i18n import translator
from tipline.records.audit import AuditEntry
from tipline.replies import Choice, Reply
from tipline.staff.cards import (
    LEVEL_LABELS,
    PROMPT_ACTIONS,
    STATUS_LABELS,
    level_of,
    moderator_card,
    parse_callback,
    prompt_text,
    unit_card,
)
from tipline.staff.moderation import Actor, Moderation, Refusal, Role
from tipline.staff.units import ChatAlreadyLinked, SqliteUnits
from tipline.staff.views import Card, Queue

from .render import chunks, keyboard

log = logging.getLogger(__name__)
CHANNEL = "telegram"
LINK_ATTEMPTS_PER_HOUR = 5
QUEUE_PAGE = 10
STAFF_COMMANDS = frozenset(
    {"queue", "tip", "find", "stats", "addmod", "removemod", "addbroadcaster", "removebroadcaster", "invite", "staffhelp"}
)
_ROLE_COMMANDS = {
    "addmod": ("moderator", True),
    "removemod": ("moderator", False),
    "addbroadcaster": ("broadcaster", True),
    "removebroadcaster": ("broadcaster", False),
}
_PROMPT = re.compile(r"\[(ask|dup|reopen|info) (TL-[0-9A-Z]{4}-[0-9A-Z]{4})\]")
_MEMBER = {ChatMemberStatus.OWNER, ChatMemberStatus.ADMINISTRATOR, ChatMemberStatus.MEMBER}
_ = translator("vi").gettext


class Staff:
    """The Telegram side of the moderator queue."""

    def __init__(self, settings: Settings, service: Tipline) -> None:
        assert service.moderation is not None and service.queue is not None
        self.settings = settings
        self.service = service
        self.moderation: Moderation = service.moderation
        self.queue: Queue = service.queue
        self.units = SqliteUnits(service.db, settings.secret())
        self.wake = asyncio.Event()
        self._delivering = asyncio.Lock()
        self._forums: dict[int, bool] = {}

    # --- who is acting ---------------------------------------------------------------------------

    async def _in_group(self, bot: Any, user_id: int) -> bool:
        chat = self.settings.tipline_moderator_chat_id
        if chat is None:
            return False
        try:
            member = await bot.get_chat_member(chat, user_id)
        except TelegramError:
            return False
        return member.status in _MEMBER or (member.status == ChatMemberStatus.RESTRICTED and getattr(member, "is_member", False))

    async def actor(self, update: Update, bot: Any) -> Actor | None:
        """The staff member or unit behind an update, checked against the server's records."""
        user, chat = update.effective_user, update.effective_chat
        if user is None or chat is None:
            return None
        unit = await self.moderation.unit_for_chat(chat.id) if chat.id != self.settings.tipline_moderator_chat_id else None
        if unit is not None:
            return unit
        is_admin = user.id in self.settings.admin_ids
        in_group = False if is_admin else await self._in_group(bot, user.id)  # admins need no membership
        return await self.moderation.staff(CHANNEL, str(user.id), user.full_name, is_admin=is_admin, in_group=in_group)

    async def _refuse(self, actor: Actor | None, code: str | None, reason: str) -> None:
        await self.moderation.audit.record(
            AuditEntry(
                actor_role=actor.role.value if actor else "system",
                actor_id=str(actor.id) if actor else "",
                action="refused",
                tip_code=code,
                detail=reason[:200],
            )
        )

    # --- handlers ---------------------------------------------------------------------------------

    def is_staff_chat(self, chat_id: int) -> bool:
        return chat_id == self.settings.tipline_moderator_chat_id

    async def on_button(self, update: Update, bot: Any) -> bool:
        """Handles a card button; False when the data is not a staff button (the citizen flow takes it)."""
        query = update.callback_query
        if query is None or query.data is None or not query.data.startswith("v1:") or query.data[3:4] not in ("m", "u", "q"):
            return False
        if query.data.startswith("v1:q|"):
            await self._turn_queue_page(update, bot, query)
            return True
        parsed = parse_callback(query.data[3:])
        actor = await self.actor(update, bot)
        if parsed is None:
            await self._refuse(actor, None, "malformed button")
            await _answer(query, _("This button is not valid."))
            return True
        audience, tip_id, action, arg, seen = parsed
        tip = await self.queue.tip(tip_id)
        code = tip.code if tip else None
        if actor is None or (audience == "u") != (actor.role == Role.UNIT):
            await self._refuse(actor, code, "not allowed")
            await _answer(query, _("Sorry, you are not allowed to do this."))
            return True
        if action == "units" and tip is not None:
            units = await self.queue.units_for(tip.province_code)
            if not units:
                await _answer(query, _("No police unit is registered in this province yet."))
                return True
            rows = tuple((Choice(name, f"m|{tip.id}|fwdto:{uid}|{seen}"),) for uid, name in units[:30])
            await _answer(query, "")
            where = query.message
            assert where is not None
            question = Reply(_("Forward {code} to which unit?").format(code=tip.code), rows)
            await self._send(bot, where.chat.id, question, thread=getattr(where, "message_thread_id", None))
            return True
        if action in PROMPT_ACTIONS and tip is not None:
            if tip.status.value != seen:
                await self._refuse(actor, code, "stale card")
                await _answer(query, _("This card was out of date and has been refreshed. Please look again."))
                await self._refresh(tip.id)
                return True
            await _answer(query, "")
            chat_id = query.message.chat.id  # type: ignore[union-attr]
            thread = getattr(query.message, "message_thread_id", None)
            await bot.send_message(
                chat_id, prompt_text(action, tip.code), reply_markup=ForceReply(selective=True), message_thread_id=thread
            )
            return True
        await self._act(actor, tip_id, action, seen, arg, lambda text: _answer(query, text))
        return True

    async def _act(self, actor: Actor, tip_id: int, action: str, seen: str | None, arg: str, tell: Any) -> None:
        try:
            done = await self.moderation.act(actor, tip_id, action, seen, arg)
        except Refusal as refusal:
            tip = await self.queue.tip(tip_id)
            await self._refuse(actor, tip.code if tip else None, refusal.message)
            await tell(refusal.text("vi"))
            await self._refresh(tip_id)
            return
        await tell(_(done.message).format(code=done.code))
        self.wake.set()

    async def _refresh(self, tip_id: int) -> None:
        await self.queue.request_card(tip_id, self.service.clock())
        self.wake.set()

    async def on_message(self, update: Update, bot: Any) -> bool:
        """Staff commands and answers to prompts; False when the message is not for the staff side."""
        message = update.effective_message
        chat = update.effective_chat
        if message is None or chat is None or message.text is None:
            return False
        text = message.text.strip()
        command, _sep, args = text.partition(" ")
        name = command[1:].split("@", 1)[0].lower() if command.startswith("/") else ""
        if name == "link":
            await self._link(update, bot, args.strip())
            return True
        in_staff_chat = self.is_staff_chat(chat.id) or await self.moderation.unit_for_chat(chat.id) is not None
        replied = message.reply_to_message
        prompt = _PROMPT.search(replied.text or "") if replied is not None and replied.from_user and replied.from_user.is_bot else None
        if not in_staff_chat and not (name in STAFF_COMMANDS and chat.type == ChatType.PRIVATE) and prompt is None:
            return False
        if not name and prompt is None:
            return True  # staff talking among themselves: nothing for the bot to do
        actor = await self.actor(update, bot)
        if actor is None:
            if chat.type == ChatType.PRIVATE:
                return False  # a citizen typing /queue gets the citizen answer to an unknown command
            await self._refuse(None, None, "not a moderator")
            return True
        if prompt is not None:
            action, code = prompt.groups()
            tip = await self.queue.tip_by_code(code)
            if tip is None:
                return True
            if (action == "info") != (actor.role == Role.UNIT):
                await self._refuse(actor, code, "not allowed")
                await self._say(bot, chat.id, _("Sorry, you are not allowed to do this."))
                return True
            await self._act(actor, tip.id, action, None, text, lambda reply: self._say(bot, chat.id, reply))
            return True
        if actor.role == Role.UNIT:
            return True  # unit chats talk among themselves; only buttons and prompts act
        if name:
            await self._command(actor, name, args.strip(), bot, chat.id)
        return True

    async def _command(self, actor: Actor, name: str, args: str, bot: Any, chat_id: int) -> None:
        if name == "queue":
            page = int(args) - 1 if args.isdigit() and int(args) > 0 else 0
            await self._send(bot, chat_id, await self._queue_page(page))
        elif name == "tip":
            code = normalize_code(args)
            tip = await self.queue.tip_by_code(code) if code else None
            if tip is None:
                await self._say(bot, chat_id, _("No tip has that code."))
                return
            view = await self.queue.card_view(tip.id)
            assert view is not None
            await self._send(bot, chat_id, moderator_card(view))
        elif name == "find":
            tips = await self.queue.find(args)
            found = translator("vi").ngettext("Found {n} tip", "Found {n} tips", len(tips)).format(n=len(tips))
            lines = [found] + [_tip_line(t) for t in tips]
            await self._say(bot, chat_id, "\n".join(lines))
        elif name == "stats":
            from tipline.records.reports import format_stats, stats

            end = self.service.clock()
            start = end.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
            summary = await stats(self.service.db, start, end)
            await self._say(bot, chat_id, format_stats(summary, translator("vi")))
        elif name in _ROLE_COMMANDS and args.isdigit():
            role, active = _ROLE_COMMANDS[name]
            try:
                await self.moderation.set_staff(actor, CHANNEL, args, role, active)
            except Refusal as refusal:
                await self._say(bot, chat_id, refusal.text("vi"))
                return
            await self._say(bot, chat_id, _("Done."))
        elif name == "invite" and actor.role == Role.ADMIN:
            unit = await self.units.by_code(args)
            if unit is None:
                await self._say(bot, chat_id, _("No police unit has that code."))
                return
            code = await self.units.create_invite(unit.id, str(actor.id), self.service.clock())
            await self._say(bot, chat_id, _("Invite for {unit}: the unit sends /link {code} to this bot from its chat.").format(unit=unit.name, code=code))
        else:
            await self._say(bot, chat_id, _("Staff commands: /queue [page], /tip CODE, /find TEXT, /stats; admins: /addmod ID, /removemod ID, "
                  "/addbroadcaster ID, /removebroadcaster ID, /invite UNIT"))

    async def _queue_page(self, page: int) -> Reply:
        """One page of open tips, most urgent first, with buttons to turn the page."""
        tips, total = await self.queue.open_tips(page * QUEUE_PAGE, QUEUE_PAGE)
        pages = max(1, -(-total // QUEUE_PAGE))
        lines = [_("Open tips: {total} (page {page} of {pages})").format(total=total, page=page + 1, pages=pages)]
        lines += [_tip_line(t) for t in tips]
        turn = []
        if page > 0:
            turn.append(Choice(_("◀️ Previous"), f"q|{page - 1}"))
        if page + 1 < pages:
            turn.append(Choice(_("More ▶️"), f"q|{page + 1}"))
        return Reply("\n".join(lines), (tuple(turn),) if turn else ())

    async def _turn_queue_page(self, update: Update, bot: Any, query: Any) -> None:
        actor = await self.actor(update, bot)
        page = query.data[5:]
        if actor is None or actor.role == Role.UNIT or not page.isdigit():
            await self._refuse(actor, None, "queue page not allowed")
            await _answer(query, _("Sorry, you are not allowed to do this."))
            return
        await _answer(query, "")
        reply = await self._queue_page(int(page))
        try:
            await query.edit_message_text(chunks(reply.text)[0], parse_mode=ParseMode.HTML, reply_markup=keyboard(reply))
        except BadRequest as exc:
            if "not modified" not in str(exc).lower():
                raise

    async def _link(self, update: Update, bot: Any, code: str) -> None:
        chat = update.effective_chat
        assert chat is not None
        now = self.service.clock()
        # Invite codes are short: guessing is slowed down per chat (counted under a pseudonym).
        attempts = await self.service.counters.hit(
            f"link:{self.service.keyring.pseudonym('link', chat.id)}", 3600, now
        )
        if attempts > LINK_ATTEMPTS_PER_HOUR:
            await self._say(bot, chat.id, _("Too many attempts. Please try again in an hour."))
            return
        try:
            unit = await self.units.redeem_invite(code.strip(), chat.id, now)
        except ChatAlreadyLinked as exc:
            text = _("This chat is already linked to the police unit {unit}.").format(unit=exc.unit_code)
            await self._say(bot, chat.id, text)
            return
        if unit is None:
            await self.moderation.audit.record(AuditEntry(actor_role="system", action="link_refused", detail="bad invite"))
            await self._say(bot, chat.id, _("That invite code is not valid (wrong, used or expired)."))
            return
        await self.moderation.audit.record(AuditEntry(actor_role="unit", actor_id=str(unit.id), action="unit_linked"))
        await self._say(bot, chat.id, _("This chat is now linked to {unit}. Forwarded tips will arrive here.").format(unit=unit.name))

    # --- sending ----------------------------------------------------------------------------------

    async def _say(self, bot: Any, chat_id: int, text: str) -> None:
        await self._send(bot, chat_id, Reply(text))

    async def _send(
        self, bot: Any, chat_id: int, reply: Reply, reply_to: int | None = None, thread: int | None = None
    ) -> Message:
        pieces = chunks(reply.text)
        message: Message | None = None
        for index, piece in enumerate(pieces):
            message = await bot.send_message(
                chat_id,
                piece,
                parse_mode=ParseMode.HTML,
                reply_markup=keyboard(reply) if index == len(pieces) - 1 else None,
                reply_parameters=ReplyParameters(reply_to, allow_sending_without_reply=True) if reply_to else None,
                message_thread_id=thread,
            )
        assert message is not None
        return message

    async def _is_forum(self, bot: Any, chat_id: int) -> bool:
        """Whether a chat is a forum supergroup: then each tip gets a topic of its own."""
        if chat_id not in self._forums:
            chat = await bot.get_chat(chat_id)
            self._forums[chat_id] = bool(getattr(chat, "is_forum", False))
        return self._forums[chat_id]

    async def deliver(self, bot: Any) -> int:
        """Delivers what the outbox holds, oldest first; returns how many items were delivered."""
        async with self._delivering:  # one delivery at a time: two would post or edit the same card twice
            return await self._deliver_pending(bot)

    async def _deliver_pending(self, bot: Any) -> int:
        delivered = 0
        for item in await self.queue.pending():
            try:
                await self._deliver(bot, item)
            except (Forbidden, BadRequest) as exc:
                log.warning("outbox item %d refused by Telegram (%s); dropped after %d tries", item.id, exc, item.attempts + 1)
                if item.attempts >= 2:
                    await self.queue.delivered(item.id, self.service.clock())
                else:
                    await self.queue.failed(item.id)
                continue
            except NetworkError as exc:
                log.warning("Telegram unreachable while delivering (%s); will retry", exc)
                await self.queue.failed(item.id)
                break
            except Exception:
                # A bug must not hold up everything queued behind this item: it goes to the back of the
                # queue and, after a few tries, waits for an operator (it stays in the outbox, undelivered).
                log.exception("outbox item %d could not be delivered", item.id)
                await self.queue.failed(item.id)
                continue
            await self.queue.delivered(item.id, self.service.clock())
            delivered += 1
        return delivered

    async def _deliver(self, bot: Any, item: Any) -> None:
        moderators = self.settings.tipline_moderator_chat_id
        if item.audience == "tipster":
            await self._deliver_to_tipster(bot, item)
            return
        if item.audience == "moderators":
            if moderators is None:
                return
            if item.kind == "card":
                await self._post_card(bot, item.tip_id, "moderators", moderators)
            else:
                card = await self.queue.card(item.tip_id, "moderators") if item.tip_id else None
                await self._send(
                    bot, moderators, Reply(item.payload.get("text", "")),
                    reply_to=card.message_id if card else None, thread=card.thread_id if card else None,
                )
            return
        tip = await self.queue.tip(item.tip_id) if item.tip_id else None
        unit_id = item.unit_id or (tip.unit_id if tip else None)
        chat = await self.queue.unit_chat(unit_id) if unit_id else None
        if chat is None:
            if moderators is not None and tip is not None and item.kind == "card":
                text = _("⚠️ {code}: the police unit has not linked its chat yet; send it an invite (/invite).").format(code=tip.code)
                await self._send(bot, moderators, Reply(text))
            return
        if item.kind == "card":
            await self._post_card(bot, item.tip_id, "unit", chat)
        else:
            card = await self.queue.card(item.tip_id, "unit") if item.tip_id else None
            await self._send(bot, chat, Reply(item.payload.get("text", "")), reply_to=card.message_id if card else None)

    async def _post_card(self, bot: Any, tip_id: int, audience: str, chat_id: int) -> None:
        view = await self.queue.card_view(tip_id)
        if view is None:
            return
        reply = moderator_card(view) if audience == "moderators" else unit_card(view)
        existing = await self.queue.card(tip_id, audience)
        text = chunks(reply.text)[0]
        markup = keyboard(reply)
        # What the card shows, and whether the tip is closed (its forum topic then is too).
        state = "closed" if view.tip.is_closed else "open"
        digest = hashlib.sha256(repr((text, markup.to_dict() if markup else None)).encode()).hexdigest()[:16]
        rendered = f"{digest}:{state}"
        if existing is not None and existing.chat_id == chat_id:
            if existing.rendered == rendered:
                return  # Telegram refuses an edit that changes nothing
            try:
                await bot.edit_message_text(text, chat_id, existing.message_id, parse_mode=ParseMode.HTML, reply_markup=markup)
            except BadRequest as exc:
                if "not modified" not in str(exc).lower():
                    raise
            if existing.thread_id is not None and not existing.rendered.endswith(f":{state}"):
                await self._set_topic(bot, chat_id, existing.thread_id, closed=view.tip.is_closed)
            await self.queue.save_card(tip_id, audience, replace(existing, rendered=rendered))
            return
        thread = None
        if audience == "moderators" and await self._is_forum(bot, chat_id):
            name = f"{view.tip.code} · {view.commune_name or view.province_name}"[:128]
            topic = await bot.create_forum_topic(chat_id, name)
            thread = topic.message_thread_id
        message = await bot.send_message(
            chat_id, text, parse_mode=ParseMode.HTML, reply_markup=markup, message_thread_id=thread
        )
        await self.queue.save_card(tip_id, audience, Card(chat_id, message.message_id, thread, rendered))
        await self._send_evidence(bot, view.tip, chat_id, message.message_id, thread)

    async def _set_topic(self, bot: Any, chat_id: int, thread_id: int, closed: bool) -> None:
        """Closes a closed tip's forum topic (reopens it with the tip), so open topics are open work."""
        try:
            if closed:
                await bot.close_forum_topic(chat_id, thread_id)
            else:
                await bot.reopen_forum_topic(chat_id, thread_id)
        except BadRequest as exc:
            log.warning("a forum topic could not be %s (%s)", "closed" if closed else "reopened", exc)

    async def _send_evidence(self, bot: Any, tip: Any, chat_id: int, card_id: int, thread: int | None) -> None:
        """Re-sends the citizen's files by their Telegram reference under the card."""
        senders = {
            "photo": bot.send_photo, "video": bot.send_video, "document": bot.send_document,
            "voice": bot.send_voice, "audio": bot.send_audio, "animation": bot.send_animation,
            "video_note": bot.send_video_note,
        }
        reply = ReplyParameters(card_id, allow_sending_without_reply=True)
        for item in tip.evidence:
            send = senders.get(item.kind)
            if send is None or tip.channel != CHANNEL:
                continue
            try:
                await send(chat_id, item.ref, reply_parameters=reply, message_thread_id=thread)
            except BadRequest as exc:
                log.warning("tip %s: an evidence file could not be re-sent (%s)", tip.code, exc)

    async def _deliver_to_tipster(self, bot: Any, item: Any) -> None:
        found = await self.queue.tipster_message(int(item.payload.get("message_id", 0)))
        if found is None:
            return
        tip_id, text = found
        sealed = await self.service.subscriptions.for_tip(tip_id)
        sent = False
        for ref in sealed:
            channel, chat_id = self.service.keyring.unseal(ref)
            if channel != CHANNEL:
                continue
            try:
                await self._send(bot, int(chat_id), Reply(text))
                sent = True
            except Forbidden:
                log.info("a subscribed tipster chat is unreachable")
        if sent:
            await self.queue.mark_message_delivered(int(item.payload["message_id"]), self.service.clock())
        if item.payload.get("final"):
            await self.service.subscriptions.forget_tip(tip_id)

    async def run_delivery(self, bot: Any, poll_seconds: float = 5.0) -> None:
        """Delivers the outbox whenever woken (and every few seconds, to retry after an outage)."""
        while True:
            self.wake.clear()
            try:
                await self.deliver(bot)
            except Exception:
                log.exception("delivery failed; retrying later")
            try:
                await asyncio.wait_for(self.wake.wait(), poll_seconds)
            except TimeoutError:
                pass

    async def run_deadlines(self, every_seconds: float = 60.0) -> None:
        while True:
            try:
                if await self.moderation.check_deadlines():
                    self.wake.set()
            except Exception:
                log.exception("deadline check failed")
            await asyncio.sleep(every_seconds)


def _tip_line(tip: Any) -> str:
    """One line of a list: code, status as staff read it, priority, the start of the description."""
    return f"• {tip.code} · {_(STATUS_LABELS[tip.status])} · {_(LEVEL_LABELS[level_of(tip)])} · {tip.description[:60]}"


async def _answer(query: Any, text: str) -> None:
    try:
        await query.answer(text[:200] or None, show_alert=bool(text))
    except BadRequest:
        pass  # too old to answer
