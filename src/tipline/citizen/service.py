"""The citizen service: loads a chat's state by pseudonym, runs the conversation, performs its effects.

This is the one entry point every channel adapter calls: ``handle(channel, chat, event)`` returns the
replies for that chat. The raw chat id is used only to derive the pseudonym and, for tipsters who opt in,
to seal a reference; it is never stored or logged.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography.exceptions import InvalidTag
from pydantic import ValidationError

from tipline.citizen import conversation, intake, subscribe
from tipline.citizen.choices import remember_offer, texts, with_notice
from tipline.citizen.effects import (
    BUTTONS,
    AddFollowup,
    AnswerTip,
    CheckReceipt,
    Context,
    Effect,
    Forget,
    JoinOutreach,
    LeaveOutreach,
    Result,
    SubmitTip,
    Subscribe,
)
from tipline.citizen.receipts import hash_passphrase, new_code, new_passphrase, verify_passphrase
from tipline.citizen.session import OpenQuestion, Private, Screen, Session
from tipline.clock import Clock, utcnow
from tipline.delivery.model import Audience, Kind, NewItem, Sent
from tipline.delivery.port import ChannelTraits
from tipline.events import Inbound
from tipline.facts import DRAFT_IDLE_HOURS
from tipline.outreach.subscriptions import Subscriptions
from tipline.places.communes import directory
from tipline.privacy.keys import Keyring
from tipline.replies import Reply
from tipline.storage.ports import CodeTaken, Storage, StorageFull
from tipline.tips import Category, Evidence, NewTip, Tip, Urgency

log = logging.getLogger(__name__)

TipHook = Callable[[Tip], Awaitable[None]]
FollowupHook = Callable[[Tip, str, bool], Awaitable[None]]
Deliver = Callable[[list[Reply]], Awaitable[None]]

__all__ = ["CitizenService", "Clock", "Deliver", "Limits", "utcnow"]


@dataclass(frozen=True)
class Limits:
    flood_messages_per_minute: int = 30
    passphrase_failures_per_chat: int = 5  # per 15 minutes
    passphrase_failures_per_code: int = 20  # per hour, whoever tries
    lockout_minutes: int = 15
    draft_idle: timedelta = timedelta(hours=DRAFT_IDLE_HOURS)
    # Language and other settings of a chat that has no draft: forgotten after this much silence.
    session_idle: timedelta = timedelta(days=30)
    # How long what ties a chat to a tip may stay (sealed) in its session.
    lookup_step: timedelta = timedelta(hours=1)
    receipt_copy: timedelta = timedelta(days=7)
    question_open: timedelta = timedelta(hours=72)


def _hour(moment: datetime) -> datetime:
    """A time coarsened to its hour: stored beside a pseudonym, it cannot be matched to a tip's minute."""
    return moment.replace(minute=0, second=0, microsecond=0)


class FloodGate:
    """Messages per chat per minute, counted in memory (never written next to a pseudonym)."""

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self._windows: dict[str, tuple[int, int, bool]] = {}  # pseudonym -> (window, count, told)

    def hit(self, pseudonym: str, now: datetime) -> tuple[bool, bool]:
        """(over the limit, already told in this window)."""
        window = int(now.timestamp()) // 60
        last, count, told = self._windows.get(pseudonym, (window, 0, False))
        if last != window:
            count, told = 0, False
            if len(self._windows) > 10_000:  # forget other chats' old windows now and then
                self._windows = {p: w for p, w in self._windows.items() if w[0] >= window - 1}
        count += 1
        over = count > self.per_minute
        self._windows[pseudonym] = (window, count, told or over)
        return over, told


class CitizenService:
    def __init__(self, storage: Storage, keyring: Keyring, clock: Clock = utcnow, limits: Limits | None = None) -> None:
        self.storage = storage
        self.keyring = keyring
        self.clock = clock
        self.limits = limits or Limits()
        self.flood = FloodGate(self.limits.flood_messages_per_minute)
        self._locks: dict[str, asyncio.Lock] = {}
        # Prevention messages: a subscription apart from tips (nothing joins the two).
        self.outreach = Subscriptions(storage, keyring, clock)
        # Called after a tip is confirmed and after a tipster adds to one (the moderator queue listens).
        self.on_tip: TipHook | None = None
        self.on_followup: FollowupHook | None = None

    # --- the entry point ------------------------------------------------------------------------

    async def handle(
        self,
        channel: str,
        chat_id: int | str,
        event: Inbound,
        deliver: Deliver | None = None,
        traits: ChannelTraits = BUTTONS,
    ) -> list[Reply]:
        """Answers one event from one chat. Never raises for bad input; storage errors are worded.

        With ``deliver``, the replies are handed to it while this chat's lock is still held, and a
        sealed receipt copy is dropped only once ``deliver`` returned: the chat's next event cannot
        overtake the delivery of this one.
        """
        pseudonym = self.keyring.pseudonym(channel, chat_id)
        with self._chat_lock(pseudonym) as lock:
            async with lock:
                replies, receipt_pending = await self._handle(channel, str(chat_id), pseudonym, event, traits)
                if deliver is not None and replies:
                    await deliver(replies)
                    if receipt_pending:
                        await self._receipt_delivered(pseudonym)
                return replies

    async def remember_question(self, sent: Sent, code: str) -> None:
        """The team's question reached this chat: a reply to that very message answers it (for a while)."""
        pseudonym = self.keyring.pseudonym(sent.address.channel, sent.address.chat)
        with self._chat_lock(pseudonym) as lock:
            async with lock:
                session, _updated = await self._load(pseudonym)
                now = self.clock()
                session.private.question = OpenQuestion(code=code, message=sent.message, until=now + self.limits.question_open)
                await self._save(pseudonym, session)

    async def _receipt_delivered(self, pseudonym: str) -> None:
        session, _updated = await self._load(pseudonym)
        if session.private.receipt is not None:
            session.private.receipt = None
            await self._save(pseudonym, session)

    async def purge(self) -> None:
        """Deletes what is no longer needed: idle drafts, idle sessions, expired counters and prompts."""
        now = self.clock()
        async with self.storage.uow() as uow:
            drafts = await uow.sessions.expire_drafts(now - self.limits.draft_idle)
            sessions = await uow.sessions.purge(now)
            counters = await uow.counters.purge(now)
            links = await uow.subscriptions.forget_closed(now - timedelta(days=7))
            prompts = await uow.prompts.purge(now)
        log.info(
            "purge: %d idle drafts, %d sessions, %d counters, %d chat links of closed tips, %d prompts removed",
            drafts, sessions, counters, links, prompts,
        )

    # --- state -----------------------------------------------------------------------------------

    @contextmanager
    def _chat_lock(self, pseudonym: str) -> Iterator[asyncio.Lock]:
        """Serialises one chat's events (a fast double tap must not fork a draft) without a global lock."""
        lock = self._locks.setdefault(pseudonym, asyncio.Lock())
        try:
            yield lock
        finally:
            if not lock.locked() and not getattr(lock, "_waiters", None):
                self._locks.pop(pseudonym, None)

    async def _load(self, pseudonym: str) -> tuple[Session, datetime | None]:
        async with self.storage.read() as uow:
            stored = await uow.sessions.load(pseudonym)
        if stored is None:
            return Session(), None
        try:
            session = Session.model_validate_json(stored.state)
        except ValidationError:
            log.warning("discarding an unreadable session state")
            return Session(), None
        if session.sealed:
            try:
                session.private = Private.model_validate_json(self.keyring.unseal_text(session.sealed))
            except (InvalidTag, ValueError):
                log.warning("discarding a session's sealed part that could not be read")
        self._drop_lapsed(session.private, self.clock())
        return session, stored.updated_at

    def _drop_lapsed(self, private: Private, now: datetime) -> None:
        if private.until is not None and private.until <= now:
            private.lookup_code = private.followup_code = None
            private.optin_code = private.optin_until = None
            private.receipt = None
        if private.question is not None and private.question.until <= now:
            private.question = None

    async def _save(self, pseudonym: str, session: Session) -> None:
        now = self.clock()
        private = session.private
        self._drop_lapsed(private, now)
        if private.is_empty():
            session.sealed = None
            private.until = None
        else:
            if private.until is None or private.until <= now:
                private.until = now + (self.limits.receipt_copy if private.receipt else self.limits.lookup_step)
            session.sealed = self.keyring.seal_text(private.model_dump_json(exclude_defaults=True))
        # Kept for the settings' idle time even with a draft: the draft itself goes after draft_idle
        # (purge or next message), and the session row must outlive it so the citizen can be told.
        state = session.model_dump_json(exclude_defaults=True)
        async with self.storage.uow() as uow:
            await uow.sessions.save(pseudonym, state, _hour(now), _hour(now) + self.limits.session_idle)

    # --- one event -------------------------------------------------------------------------------

    async def _handle(
        self, channel: str, chat: str, pseudonym: str, event: Inbound, traits: ChannelTraits
    ) -> tuple[list[Reply], bool]:
        """The replies, and whether the session now holds a receipt copy awaiting delivery."""
        now = self.clock()
        over, told = self.flood.hit(pseudonym, now)
        if over:
            # Told once per window: answering every flooded message would amplify the flood.
            return ([] if told else [conversation.flood_notice(Session())]), False
        session, updated_at = await self._load(pseudonym)
        notices: list[Reply] = []
        if session.private.receipt is not None:
            notices.append(self._receipt_again(session))
        if session.draft_expired or (
            session.draft is not None and updated_at is not None and now - updated_at > self.limits.draft_idle
        ):
            session.draft, session.draft_expired = None, False
            if session.screen in intake.REPORT_SCREENS:
                session.screen = Screen.MENU
            notices.append(conversation.draft_expired_notice(session))

        ctx = Context(now=now, traits=traits)
        result = conversation.handle(session, event, ctx)
        if result.effect is not None:
            effect = result.effect
            # The effect's answer asks the next question: its choices are the ones to remember.
            result = remember_offer(await self._perform(effect, result.session, ctx, channel, chat, pseudonym))
            if isinstance(effect, Forget):
                return notices + result.replies, False  # the session row is gone: not written back
        await self._save(pseudonym, result.session)
        return notices + result.replies, result.session.private.receipt is not None

    def _receipt_again(self, session: Session) -> Reply:
        assert session.private.receipt is not None
        code, passphrase = session.private.receipt
        _ = texts(session).gettext
        return Reply(
            _(
                "Your last receipt may not have reached you, so here it is again.\n"
                "Tip code: {code}\nPassphrase: {passphrase}\nWrite both down; delete this chat afterwards."
            ).format(code=code, passphrase=passphrase)
        )

    async def _perform(
        self, effect: Effect, session: Session, ctx: Context, channel: str, chat: str, pseudonym: str
    ) -> Result:
        if isinstance(effect, SubmitTip):
            return await self._submit(session, ctx, channel, pseudonym)
        if isinstance(effect, CheckReceipt):
            return await self._check_receipt(session, ctx, effect, pseudonym, channel, chat)
        if isinstance(effect, AddFollowup):
            return await self._add_followup(session, ctx, effect)
        if isinstance(effect, AnswerTip):
            return await self._answer(session, ctx, effect)
        if isinstance(effect, Subscribe):
            async with self.storage.uow() as uow:
                tip = await uow.tips.by_code(effect.code)
                if tip is not None:
                    key = self.keyring.subscription_key(channel, chat)
                    await uow.subscriptions.add(tip.id, key, self.keyring.seal(channel, chat), _hour(ctx.now))
            if tip is not None:
                log.info("tip %s: tipster opted in to updates", tip.code)
            return conversation.after_subscribe(session)
        if isinstance(effect, JoinOutreach):
            return subscribe.after_join(session, await self.outreach.subscribe(channel, chat, effect.prefs))
        if isinstance(effect, LeaveOutreach):
            return subscribe.after_leave(session, await self.outreach.stop(channel, chat, effect.how))
        if isinstance(effect, Forget):
            await self.outreach.stop(channel, chat, "forget")
            async with self.storage.uow() as uow:
                removed = await uow.subscriptions.forget_chat(self.keyring.subscription_key(channel, chat))
                await uow.sessions.delete(pseudonym)
            return conversation.after_forget(session, removed)
        raise AssertionError(f"unknown effect {effect!r}")  # pragma: no cover

    async def _submit(self, session: Session, ctx: Context, channel: str, pseudonym: str) -> Result:
        draft = session.draft
        if draft is None or draft.category is None or draft.urgency is None or draft.province_code is None:
            return intake.resume(session, ctx)
        async with self.storage.read() as uow:
            # Counted per pseudonym in an expiring counter; only the resulting number is stored with the tip.
            recent = await uow.counters.peek(f"tips:{pseudonym}", 3600, ctx.now)
        new_tip = NewTip(
            category=Category(draft.category),
            urgency=Urgency(draft.urgency),
            province_code=draft.province_code,
            commune_code=draft.commune_code,
            address=draft.address,
            latitude=draft.latitude,
            longitude=draft.longitude,
            description=draft.description_text,
            evidence=tuple(Evidence(e.kind, e.ref, e.size, e.mime, e.name) for e in draft.evidence),
            language=session.lang,
            channel=channel,
            sender_recent_tips=recent,
        )
        passphrase = new_passphrase()
        digest = await asyncio.to_thread(hash_passphrase, passphrase)
        try:
            tip = await self._create(new_tip, digest, ctx.now, pseudonym)
        except StorageFull:
            log.error("storage full: a confirmed report could not be saved (the draft is kept)")
            return conversation.after_submit_failed(session, ctx)
        log.info("tip %s received (%s, %s)", tip.code, tip.category.value, tip.urgency.value)
        await self._notify(self.on_tip, tip)
        result = conversation.after_submit(session, tip.code, passphrase, ctx)
        result.session.private.receipt = (tip.code, passphrase)
        return result

    async def _create(self, new_tip: NewTip, digest: str, now: datetime, pseudonym: str) -> Tip:
        for _attempt in range(5):
            try:
                async with self.storage.uow() as uow:
                    tip = await uow.tips.create(new_tip, new_code(), digest, now)
                    # The moderators' card is owed from the moment the tip exists: an outage cannot lose it.
                    await uow.outbox.add(NewItem(Kind.CARD, Audience.MODERATORS, tip.id), now)
                    await uow.counters.hit(f"tips:{pseudonym}", 3600, now)
                return tip
            except CodeTaken:
                continue
        raise RuntimeError("could not allocate a tip code")  # pragma: no cover - 5 collisions in 6.6e11 codes

    async def _check_receipt(
        self, session: Session, ctx: Context, effect: CheckReceipt, pseudonym: str, channel: str, chat: str
    ) -> Result:
        limits = self.limits
        chat_key, code_key = f"pass:{pseudonym}", f"passcode:{effect.code}"
        lock_window = limits.lockout_minutes * 60
        async with self.storage.read() as uow:
            locked = (
                await uow.counters.peek(chat_key, lock_window, ctx.now) >= limits.passphrase_failures_per_chat
                or await uow.counters.peek(code_key, 3600, ctx.now) >= limits.passphrase_failures_per_code
            )
            stored = None if locked else await uow.tips.passphrase_hash(effect.code)
        if locked:
            return conversation.after_receipt_locked(session, limits.lockout_minutes)
        valid = stored is not None and await asyncio.to_thread(verify_passphrase, effect.passphrase, stored)
        if not valid:
            async with self.storage.uow() as uow:
                failures = await uow.counters.hit(chat_key, lock_window, ctx.now)
                await uow.counters.hit(code_key, 3600, ctx.now)
            left = limits.passphrase_failures_per_chat - failures
            if left <= 0:
                return conversation.after_receipt_locked(session, limits.lockout_minutes)
            return conversation.after_receipt_failed(session, ctx, left)
        async with self.storage.uow() as uow:
            tip = await uow.tips.by_code(effect.code)
            assert tip is not None
            messages = await uow.messages.to_tipster(tip.id)
            if effect.purpose == "status":
                await uow.messages.mark_delivered([m.id for m in messages], ctx.now)
            subscribed = self._subscribed(await uow.subscriptions.for_tip(tip.id), channel, chat)
        d = directory()
        province = d.province(tip.province_code)
        commune = d.commune(tip.commune_code) if tip.commune_code else None
        view = conversation.StatusView(
            tip=tip,
            messages=[(m.text, m.created_at) for m in messages],
            province_name=province.name if province else "",
            commune_name=commune.name if commune else None,
            subscribed=subscribed,
        )
        return conversation.after_receipt_ok(session, view, ctx)

    def _subscribed(self, sealed: list[bytes], channel: str, chat: str) -> bool:
        """Whether one of a tip's sealed chat references is this chat (a tip has one or two at most)."""
        for ref in sealed:
            try:
                found_channel, found_chat = self.keyring.unseal(ref)
            except InvalidTag:
                continue
            if (found_channel, str(found_chat)) == (channel, chat):
                return True
        return False

    async def _add_followup(self, session: Session, ctx: Context, effect: AddFollowup) -> Result:
        evidence: tuple[Evidence, ...] = ()
        if effect.media is not None:
            m = effect.media
            evidence = (Evidence(m.kind, m.ref, m.size, m.mime, m.name),)
        try:
            async with self.storage.uow() as uow:
                tip = await uow.tips.by_code(effect.code)
                if tip is not None:
                    await uow.tips.add_followup(tip.id, effect.text, evidence, ctx.now)
        except StorageFull:
            log.error("storage full: a follow-up could not be saved")
            return with_notice(conversation.error_reply(session), conversation.reprompt(session, ctx))
        if tip is None:  # pragma: no cover - the code was verified moments ago
            return conversation.reprompt(session, ctx)
        log.info("tip %s: follow-up added", tip.code)
        await self._notify(self.on_followup, tip, effect.text, effect.media is not None)
        _ = texts(session).gettext
        what = _("your message") if effect.text and effect.media is None else _("your file")
        return conversation.after_followup(session, ctx, what)

    async def _answer(self, session: Session, ctx: Context, effect: AnswerTip) -> Result:
        """A reply to the message that carried the team's question (bound to it when it was delivered)."""
        async with self.storage.uow() as uow:
            tip = await uow.tips.by_code(effect.code)
            if tip is not None:
                await uow.tips.add_followup(tip.id, effect.text, (), ctx.now)
        if tip is not None:
            log.info("tip %s: the tipster answered", tip.code)
            await self._notify(self.on_followup, tip, effect.text, False)
        return conversation.after_answer(session, ctx, effect.code)

    async def _notify(self, hook: Callable[..., Awaitable[None]] | None, *args: object) -> None:
        """Tells the queue; a failure there must not cost the citizen their receipt."""
        if hook is None:
            return
        try:
            await hook(*args)
        except Exception:
            log.exception("the moderator queue could not be told (it catches up from the outbox)")

