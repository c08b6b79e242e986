"""The citizen service: loads a chat's state by pseudonym, runs the conversation, performs its effects.

This is the one entry point every channel adapter calls: ``handle(channel, chat, event)`` returns the
replies for that chat. The raw chat id is used only to derive the pseudonym and, for tipsters who opt in,
to seal a reference; it is never stored or logged.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
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
from tipline.citizen.guards import FloodGate, SlidingWindow, Slowdown
from tipline.citizen.receipts import Hasher, new_code
from tipline.citizen.session import OpenQuestion, Private, Screen, Session
from tipline.clock import Clock, utcnow
from tipline.delivery.model import Address, Audience, Kind, NewItem, Sent
from tipline.delivery.port import Channels, ChannelTraits
from tipline.events import Inbound, Media, Pick, Unsupported
from tipline.facts import DRAFT_IDLE_HOURS
from tipline.outreach.subscriptions import Subscriptions
from tipline.places.communes import directory
from tipline.privacy.keys import Keyring
from tipline.replies import Reply, Step
from tipline.storage.ports import CodeTaken, SealedLink, Storage, StorageFull
from tipline.tips import Category, Evidence, NewTip, Tip, Urgency

log = logging.getLogger(__name__)

TipHook = Callable[[Tip], Awaitable[None]]
FollowupHook = Callable[[Tip, str, tuple[Evidence, ...]], Awaitable[None]]
Deliver = Callable[[list[Reply]], Awaitable[None]]

__all__ = ["CitizenService", "Clock", "Deliver", "Limits", "utcnow"]


@dataclass(frozen=True)
class Limits:
    flood_messages_per_minute: int = 30
    passphrase_failures_per_chat_and_code: int = 5  # within lockout_minutes, sliding
    passphrase_failures_per_chat: int = 20  # any code, within an hour, sliding
    lockout_minutes: int = 15
    tips_per_chat_per_day: int = 10
    draft_idle: timedelta = timedelta(hours=DRAFT_IDLE_HOURS)
    # Language and other settings of a chat that has no draft: forgotten after this much silence.
    session_idle: timedelta = timedelta(days=30)
    # How long what ties a chat to a tip may stay (sealed) in its session.
    lookup_step: timedelta = timedelta(hours=1)
    receipt_copy: timedelta = timedelta(days=7)
    question_open: timedelta = timedelta(hours=72)


def _minutes(delta: timedelta) -> int:
    return max(1, -(-int(delta.total_seconds()) // 60))


def _day(pseudonym: str, moment: datetime) -> tuple[str, int]:
    """A chat's count of the day (UTC days: the next one starts at 07:00 in Vietnam)."""
    return pseudonym, int(moment.timestamp()) // 86400


def _hour(moment: datetime) -> datetime:
    """A time coarsened to its hour: stored beside a pseudonym, it cannot be matched to a tip's minute."""
    return moment.replace(minute=0, second=0, microsecond=0)


class CitizenService:
    def __init__(self, storage: Storage, keyring: Keyring, clock: Clock = utcnow, limits: Limits | None = None) -> None:
        self.storage = storage
        self.keyring = keyring
        self.clock = clock
        self.limits = limits or Limits()
        self.flood = FloodGate(self.limits.flood_messages_per_minute)
        lockout = timedelta(minutes=self.limits.lockout_minutes)
        self.wrong_for_code = SlidingWindow(self.limits.passphrase_failures_per_chat_and_code, lockout)
        self.wrong_in_chat = SlidingWindow(self.limits.passphrase_failures_per_chat, timedelta(hours=1))
        self.recent_tips = SlidingWindow(1_000, timedelta(hours=1))  # a spam signal, never stored by chat
        # Tips a chat confirmed, per day: in memory too. A row next to the pseudonym would say which chats sent
        # tips that day, and the order such rows are written in would match them to the tips.
        self.tips_today = SlidingWindow(self.limits.tips_per_chat_per_day, timedelta(days=1))
        self.slowdown = Slowdown()
        self.hasher = Hasher()
        # Prevention messages: a subscription apart from tips (nothing joins the two).
        self.outreach = Subscriptions(storage, keyring, clock)
        # Called after a tip is confirmed and after a tipster adds to one (the moderator queue listens).
        self.on_tip: TipHook | None = None
        self.on_followup: FollowupHook | None = None
        # The channels files are cleaned through (wired by bootstrap()).
        self.channels: Channels | None = None

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
        overtake the delivery of this one. A confirmed tip is told to the moderator queue (the triage
        assist) after that, outside the chat's lock: the tip and its card were committed before the
        receipt, and the tipster need not wait for the assessment.
        """
        pseudonym = self.keyring.pseudonym(channel, chat_id)
        self.hasher.busy()  # passphrases for receipts are made in quiet moments, ahead of the confirmations
        arrived: list[Tip] = []
        async with self.storage.chat_lock(pseudonym):
            replies, receipt_pending = await self._handle(channel, str(chat_id), pseudonym, event, traits, arrived)
            if deliver is not None and replies:
                await deliver(replies)
                if receipt_pending:
                    await self._receipt_delivered(pseudonym)
        for tip in arrived:
            await self._notify(self.on_tip, tip)
        return replies

    async def close(self) -> None:
        await self.hasher.close()

    async def remember_question(self, sent: Sent, code: str) -> None:
        """The team's question reached this chat: a reply to that very message answers it (for a while)."""
        pseudonym = self.keyring.pseudonym(sent.address.channel, sent.address.chat)
        async with self.storage.chat_lock(pseudonym):
            session, _updated = await self._load(pseudonym)
            now = self.clock()
            session.private.question = OpenQuestion(code=code, message=sent.message, until=now + self.limits.question_open)
            await self._save(pseudonym, session)

    async def _receipt_delivered(self, pseudonym: str) -> None:
        session, _updated = await self._load(pseudonym)
        if session.private.receipt is not None:
            # What remains (the question about updates) is kept for its own step only, not the receipt's week.
            session.private.receipt = session.private.until = None
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
            await uow.throttles.purge(now - timedelta(days=1))
            sealed = await uow.sessions.with_sealed()
        for pseudonym in sealed:
            await self._drop_lapsed_sealed(pseudonym)
        await self.storage.checkpoint()  # deleted rows leave the write-ahead log too
        log.info(
            "purge: %d idle drafts, %d sessions, %d counters, %d chat links of closed tips, %d prompts removed",
            drafts, sessions, counters, links, prompts,
        )

    async def _drop_lapsed_sealed(self, pseudonym: str) -> None:
        """A chat that never came back: what its step no longer needs goes from its sealed part (the session's
        times are left alone, so nothing new is said about when the chat was active)."""
        async with self.storage.chat_lock(pseudonym):
            session, _updated = await self._load(pseudonym)  # drops what lapsed
            state = self._state(session, self.clock())
            async with self.storage.uow() as uow:
                await uow.sessions.set_state(pseudonym, state)

    # --- state -----------------------------------------------------------------------------------

    async def _load(self, pseudonym: str) -> tuple[Session, datetime | None]:
        stored = await self.storage.sessions.load(pseudonym)
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
        if private.optin_until is not None and private.optin_until <= now:  # the question about updates lapsed
            private.optin_code = private.optin_until = None
        if private.question is not None and private.question.until <= now:
            private.question = None

    def _state(self, session: Session, now: datetime) -> str:
        """The session as stored: what names a tip sealed, and only while its step needs it."""
        private = session.private
        self._drop_lapsed(private, now)
        if private.is_empty():
            session.sealed = None
            private.until = None
        else:
            if private.until is None or private.until <= now:
                private.until = now + (self.limits.receipt_copy if private.receipt else self.limits.lookup_step)
            session.sealed = self.keyring.seal_text(private.model_dump_json(exclude_defaults=True))
        return session.model_dump_json(exclude_defaults=True)

    async def _save(self, pseudonym: str, session: Session) -> None:
        now = self.clock()
        state = self._state(session, now)
        # Kept for the settings' idle time even with a draft: the draft itself goes after draft_idle
        # (purge or next message), and the session row must outlive it so the citizen can be told.
        # Returns once committed: the step is durable before the caller answers.
        await self.storage.sessions.save(pseudonym, state, _hour(now), _hour(now) + self.limits.session_idle)

    # --- one event -------------------------------------------------------------------------------

    async def _handle(
        self, channel: str, chat: str, pseudonym: str, event: Inbound, traits: ChannelTraits, arrived: list[Tip]
    ) -> tuple[list[Reply], bool]:
        """The replies, and whether the session now holds a receipt copy awaiting delivery (a confirmed tip
        is added to ``arrived``)."""
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

        ctx = Context(now=now, traits=traits, first_contact=updated_at is None)
        # A choice made on the question being asked (not an older one): its answer may replace that question.
        fresh_choice = isinstance(event, Pick) and isinstance(event.action, Step) and event.action.turn == session.turn
        if isinstance(event, Media) and event.kind == "document" and session.screen in (Screen.EVIDENCE, Screen.FOLLOWUP):
            event = await self._prepare(channel, chat, event, session)
        result = conversation.handle(session, event, ctx, owned=True)  # read for this event only
        if result.effect is not None:
            effect = result.effect
            # The effect's answer asks the next question: its choices are the ones to remember.
            result = remember_offer(await self._perform(effect, result.session, ctx, channel, chat, pseudonym, arrived))
            if isinstance(effect, Forget):
                return notices + result.replies, False  # the session row is gone: not written back
        await self._save(pseudonym, result.session)
        replies = notices + result.replies
        if fresh_choice and len(replies) == 1:
            replies = [replace(replies[0], answers_choice=True)]
        return replies, result.session.private.receipt is not None

    async def _prepare(self, channel: str, chat: str, media: Media, session: Session) -> Inbound:
        """A file as it may be kept: cleaned by its channel (metadata, file name), or refused as unreadable."""
        port = self.channels.get(channel) if self.channels is not None else None
        if port is None:
            return Media(media.kind, media.ref, media.size, media.mime, None)
        caption = texts(session).gettext(
            "This is the copy kept with your report: hidden details such as place, device and author were removed."
        )
        prepared = await port.prepare_evidence(Address(channel, chat), media, caption)
        return prepared if prepared is not None else Unsupported("unsafe_file")

    def _receipt_again(self, session: Session) -> Reply:
        assert session.private.receipt is not None
        code, passphrase = session.private.receipt
        _ = texts(session).gettext
        return Reply(
            _(
                "Your last receipt may not have reached you, so here it is again.\n"
                "Tip code: {code}\nPassphrase: {passphrase}\nWrite both down only if you want to check back later."
            ).format(code=code, passphrase=passphrase)
        )

    async def _perform(
        self, effect: Effect, session: Session, ctx: Context, channel: str, chat: str, pseudonym: str,
        arrived: list[Tip],
    ) -> Result:
        if isinstance(effect, SubmitTip):
            return await self._submit(session, ctx, channel, pseudonym, arrived)
        if isinstance(effect, CheckReceipt):
            return await self._check_receipt(session, ctx, effect, pseudonym, channel, chat)
        if isinstance(effect, AddFollowup):
            return await self._add_followup(session, ctx, effect)
        if isinstance(effect, AnswerTip):
            return await self._answer(session, ctx, effect)
        if isinstance(effect, Subscribe):
            async with self.storage.uow() as uow:
                tip = await uow.tips.by_code(effect.code)
                if tip is not None and not self._links_of(await uow.subscriptions.for_tip(tip.id), channel, chat):
                    await uow.subscriptions.add(tip.id, self.keyring.seal(channel, chat), _hour(ctx.now))
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
                # Nothing stored beside a link says which chat it is: each is unsealed to find this chat's.
                removed = await uow.subscriptions.remove(self._links_of(await uow.subscriptions.all(), channel, chat))
                await uow.sessions.delete(pseudonym)
            await self.storage.checkpoint()  # and nothing of it stays behind in the write-ahead log
            return conversation.after_forget(session, removed)
        raise AssertionError(f"unknown effect {effect!r}")  # pragma: no cover

    async def _submit(self, session: Session, ctx: Context, channel: str, pseudonym: str, arrived: list[Tip]) -> Result:
        draft = session.draft
        if draft is None or draft.category is None or draft.urgency is None or draft.province_code is None:
            return intake.resume(session, ctx)
        if self.tips_today.count(_day(pseudonym, ctx.now), ctx.now) >= self.limits.tips_per_chat_per_day:
            return conversation.after_submit_limited(session, ctx, self.limits.tips_per_chat_per_day)
        # Counted per pseudonym in memory; only the resulting number is stored with the tip.
        recent = self.recent_tips.count(pseudonym, ctx.now)
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
        passphrase, digest = await self.hasher.fresh()
        try:
            tip = await self._create(new_tip, digest, ctx.now, pseudonym)
        except StorageFull:
            log.error("storage full: a confirmed report could not be saved (the draft is kept)")
            return conversation.after_submit_failed(session, ctx)
        log.info("tip %s received (%s, %s)", tip.code, tip.category.value, tip.urgency.value)
        arrived.append(tip)  # assessed once the receipt is out (see handle)
        result = conversation.after_submit(session, tip.code, passphrase, ctx)
        result.session.private.receipt = (tip.code, passphrase)
        return result

    async def _create(self, new_tip: NewTip, digest: str, now: datetime, pseudonym: str) -> Tip:
        for _attempt in range(5):
            try:
                # One transaction, written in one go: the tip and the moderators' card, owed from the moment
                # the tip exists: an outage cannot lose it. (The day's limit per chat is counted in memory.)
                tip = await self.storage.file_tip(
                    new_tip, new_code(), digest, now, None, lambda tip: [NewItem(Kind.CARD, Audience.MODERATORS, tip.id)],
                )
                self.recent_tips.add(pseudonym, now)
                self.tips_today.add(_day(pseudonym, now), now)
                return tip
            except CodeTaken:
                continue
        raise RuntimeError("could not allocate a tip code")  # pragma: no cover - 5 collisions in 6.6e11 codes

    async def _check_receipt(
        self, session: Session, ctx: Context, effect: CheckReceipt, pseudonym: str, channel: str, chat: str
    ) -> Result:
        """Checks a code and passphrase. Wrong tries pause this chat for this code (and, many of them, for
        any code); from anywhere, they slow a code down more and more, never locking the right one out."""
        now, key = ctx.now, (pseudonym, effect.code)
        paused_until = self.wrong_for_code.free_at(key, now) or self.wrong_in_chat.free_at(pseudonym, now)
        if paused_until is not None:
            return conversation.after_receipt_locked(session, _minutes(paused_until - now))
        throttle = self.keyring.index("passphrase", effect.code)
        async with self.storage.read() as uow:
            stored_level = await uow.throttles.get(throttle)
            wait = self.slowdown.wait(stored_level, now)
            stored = None if wait else await uow.tips.passphrase_hash(effect.code)
        if wait:
            return conversation.after_receipt_slowed(session, ctx, max(1, int(wait.total_seconds() + 0.999)))
        valid = stored is not None and await self.hasher.verify(effect.passphrase, stored)
        if not valid:
            failures = self.wrong_for_code.add(key, now)
            self.wrong_in_chat.add(pseudonym, now)
            async with self.storage.uow() as uow:
                level = self.slowdown.level(await uow.throttles.get(throttle), now) + 1
                await uow.throttles.set(throttle, level, now)
            left = self.limits.passphrase_failures_per_chat_and_code - failures
            if left <= 0:
                return conversation.after_receipt_locked(session, self.limits.lockout_minutes)
            return conversation.after_receipt_failed(session, ctx, left, self.limits.lockout_minutes)
        async with self.storage.uow() as uow:
            tip = await uow.tips.by_code(effect.code)
            assert tip is not None
            messages = await uow.messages.to_tipster(tip.id)
            if effect.purpose == "status":
                await uow.messages.mark_delivered([m.id for m in messages], ctx.now)
            subscribed = bool(self._links_of(await uow.subscriptions.for_tip(tip.id), channel, chat))
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

    def _links_of(self, links: list[SealedLink], channel: str, chat: str) -> list[int]:
        """The ids of the links that are this chat's (found by unsealing each)."""
        found = []
        for link in links:
            try:
                link_channel, link_chat = self.keyring.unseal(link.sealed_ref)
            except InvalidTag:
                continue
            if (link_channel, str(link_chat)) == (channel, chat):
                found.append(link.id)
        return found

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
        await self._notify(self.on_followup, tip, effect.text, evidence)
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
            await self._notify(self.on_followup, tip, effect.text, ())
        return conversation.after_answer(session, ctx, effect.code)

    async def _notify(self, hook: Callable[..., Awaitable[None]] | None, *args: object) -> None:
        """Tells the queue; a failure there must not cost the citizen their receipt."""
        if hook is None:
            return
        try:
            await hook(*args)
        except Exception:
            log.exception("the moderator queue could not be told (it catches up from the outbox)")

