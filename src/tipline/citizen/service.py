"""The citizen service: loads a chat's state by pseudonym, runs the conversation, performs its effects.

This is the one entry point every channel adapter calls: ``handle(channel, chat_id, event)`` returns the
replies for that chat. The raw chat id is used only to derive the pseudonym and, for tipsters who opt in,
to seal a reference; it is never stored or logged.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from tipline.citizen import conversation
from tipline.citizen.choices import tr
from tipline.citizen.effects import (
    AddFollowup,
    AnswerTip,
    CheckReceipt,
    Context,
    Effect,
    Forget,
    Result,
    SubmitTip,
    Subscribe,
)
from tipline.citizen.receipts import hash_passphrase, new_code, new_passphrase, verify_passphrase
from tipline.citizen.session import Session
from tipline.events import Inbound
from tipline.facts import DRAFT_IDLE_HOURS
from tipline.places.communes import directory
from tipline.privacy.keys import Keyring
from tipline.replies import Reply
from tipline.storage.sqlite.database import Database, StorageFull
from tipline.storage.sqlite.repositories import (
    CodeTaken,
    SqliteCounters,
    SqliteSessions,
    SqliteSubscriptions,
    SqliteTips,
)
from tipline.tips import Category, Evidence, NewTip, Tip, Urgency

if TYPE_CHECKING:
    from tipline.staff.moderation import Moderation
    from tipline.staff.views import Queue

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
TipHook = Callable[[Tip], Awaitable[None]]
FollowupHook = Callable[[Tip, str, bool], Awaitable[None]]
Deliver = Callable[[list[Reply]], Awaitable[None]]


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Limits:
    flood_messages_per_minute: int = 30
    passphrase_failures_per_chat: int = 5  # per 15 minutes
    passphrase_failures_per_code: int = 20  # per hour, whoever tries
    lockout_minutes: int = 15
    draft_idle: timedelta = timedelta(hours=DRAFT_IDLE_HOURS)
    # Language and other settings of a chat that has no draft: forgotten after this much silence.
    session_idle: timedelta = timedelta(days=30)


class Tipline:
    def __init__(self, db: Database, keyring: Keyring, clock: Clock = utcnow, limits: Limits | None = None) -> None:
        self.db = db
        self.keyring = keyring
        self.clock = clock
        self.limits = limits or Limits()
        self.sessions = SqliteSessions(db)
        self.tips = SqliteTips(db)
        self.subscriptions = SqliteSubscriptions(db)
        self.counters = SqliteCounters(db)
        self._locks: dict[str, asyncio.Lock] = {}
        # Called after a tip is confirmed and after a tipster adds to one (the moderator queue listens).
        self.on_tip: TipHook | None = None
        self.on_followup: FollowupHook | None = None
        # The moderator side, wired by bootstrap() (absent when the citizen service runs alone).
        self.moderation: Moderation | None = None
        self.queue: Queue | None = None

    # --- the entry point ------------------------------------------------------------------------

    async def handle(
        self, channel: str, chat_id: int | str, event: Inbound, deliver: Deliver | None = None
    ) -> list[Reply]:
        """Answers one event from one chat. Never raises for bad input; storage errors are worded.

        With ``deliver``, the replies are handed to it while this chat's lock is still held, and a
        sealed receipt copy is dropped only once ``deliver`` returned: the chat's next event cannot
        overtake the delivery of this one.
        """
        pseudonym = self.keyring.pseudonym(channel, chat_id)
        with self._chat_lock(pseudonym) as lock:
            async with lock:
                replies, receipt_pending = await self._handle(channel, chat_id, pseudonym, event)
                if deliver is not None and replies:
                    await deliver(replies)
                    if receipt_pending:
                        await self._receipt_delivered(pseudonym)
                return replies

    async def _receipt_delivered(self, pseudonym: str) -> None:
        session, _updated = await self._load(pseudonym)
        if session.pending_receipt is not None:
            session.pending_receipt = None
            await self._save(pseudonym, session)

    async def purge(self) -> None:
        """Deletes what is no longer needed: idle drafts, idle sessions, expired counters."""
        now = self.clock()
        drafts = await self.sessions.expire_drafts(now - self.limits.draft_idle)
        sessions = await self.sessions.purge(now)
        counters = await self.counters.purge(now)
        links = await self.subscriptions.forget_closed(now - timedelta(days=7))
        log.info(
            "purge: %d idle drafts, %d sessions, %d counters, %d chat links of closed tips removed",
            drafts, sessions, counters, links,
        )

    # --- internals --------------------------------------------------------------------------------

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
        stored = await self.sessions.load(pseudonym)
        if stored is None:
            return Session(), None
        state, updated_at = stored
        try:
            return Session.model_validate_json(state), updated_at
        except ValueError:
            log.warning("discarding an unreadable session state")
            return Session(), None

    async def _save(self, pseudonym: str, session: Session) -> None:
        # Kept for the settings' idle time even with a draft: the draft itself goes after draft_idle
        # (purge or next message), and the session row must outlive it so the citizen can be told.
        keep_for = self.limits.session_idle
        await self.sessions.save(pseudonym, session.model_dump_json(exclude_defaults=True), self.clock(), keep_for)

    async def _handle(
        self, channel: str, chat_id: int | str, pseudonym: str, event: Inbound
    ) -> tuple[list[Reply], bool]:
        """The replies, and whether the session now holds a receipt copy awaiting delivery."""
        now = self.clock()
        session, updated_at = await self._load(pseudonym)
        notices: list[Reply] = []

        window = int(now.timestamp()) // 60
        count = await self.counters.hit(f"flood:{pseudonym}", 60, now)
        if count > self.limits.flood_messages_per_minute:
            if session.flood_notice_window == window:
                # Already told in this window: answering every flooded message would amplify the flood.
                return [], False
            session.flood_notice_window = window
            await self._save(pseudonym, session)
            return [conversation.flood_notice(session)], False

        if session.pending_receipt is not None:
            notices.append(self._resend_receipt(session))
        if session.draft_expired or (
            session.draft is not None and updated_at is not None and now - updated_at > self.limits.draft_idle
        ):
            session = session.model_copy(update={"draft": None, "draft_expired": False})
            if session.screen in conversation.intake.REPORT_SCREENS:
                session.screen = conversation.Screen.MENU
            notices.append(conversation.draft_expired_notice(session))

        ctx = Context(now=now)
        result = conversation.handle(session, event, ctx)
        if result.effect is not None:
            effect = result.effect
            result = await self._perform(effect, result.session, ctx, channel, chat_id, pseudonym)
            if isinstance(effect, Forget):
                return notices + result.replies, False  # the session row is gone: not written back
        await self._save(pseudonym, result.session)
        return notices + result.replies, result.session.pending_receipt is not None

    def _resend_receipt(self, session: Session) -> Reply:
        assert session.pending_receipt is not None
        code, passphrase = json.loads(self.keyring.unseal_text(session.pending_receipt))
        _ = tr(session).gettext
        return Reply(
            _(
                "Your last receipt may not have reached you, so here it is again.\n"
                "Tip code: {code}\nPassphrase: {passphrase}\nWrite both down; delete this chat afterwards."
            ).format(code=code, passphrase=passphrase)
        )

    async def _perform(
        self, effect: Effect, session: Session, ctx: Context, channel: str, chat_id: int | str, pseudonym: str
    ) -> Result:
        if isinstance(effect, SubmitTip):
            return await self._submit(session, ctx, channel, pseudonym)
        if isinstance(effect, CheckReceipt):
            return await self._check_receipt(session, ctx, effect, pseudonym)
        if isinstance(effect, AddFollowup):
            return await self._add_followup(session, ctx, effect)
        if isinstance(effect, AnswerTip):
            return await self._answer(session, ctx, effect, channel, chat_id)
        if isinstance(effect, Subscribe):
            found = await self.tips.by_code(effect.code)
            if found is not None:
                tip = found[0]
                key = self.keyring.subscription_key(channel, chat_id)
                await self.subscriptions.add(tip.id, key, self.keyring.seal(channel, chat_id), ctx.now)
                log.info("tip %s: tipster opted in to updates", tip.code)
            return conversation.after_subscribe(session)
        if isinstance(effect, Forget):
            removed = await self.subscriptions.forget_chat(self.keyring.subscription_key(channel, chat_id))
            await self.sessions.delete(pseudonym)
            return conversation.after_forget(session, removed)
        raise AssertionError(f"unknown effect {effect!r}")  # pragma: no cover

    async def _submit(self, session: Session, ctx: Context, channel: str, pseudonym: str) -> Result:
        draft = session.draft
        if draft is None or draft.category is None or draft.urgency is None or draft.province_code is None:
            return conversation.intake.resume(session, ctx)
        # Counted per pseudonym in an expiring counter; only the resulting number is stored with the tip.
        recent = await self.counters.peek(f"tips:{pseudonym}", 3600, ctx.now)
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
            for _attempt in range(5):
                try:
                    tip = await self.tips.create(new_tip, new_code(), digest, ctx.now)
                    break
                except CodeTaken:
                    continue
            else:  # pragma: no cover - 5 collisions in 6.6e11 codes
                raise RuntimeError("could not allocate a tip code")
        except StorageFull:
            log.error("storage full: a confirmed report could not be saved (the draft is kept)")
            return conversation.after_submit_failed(session, ctx)
        await self.counters.hit(f"tips:{pseudonym}", 3600, ctx.now)
        log.info("tip %s received (%s, %s)", tip.code, tip.category.value, tip.urgency.value)
        await self._notify(self.on_tip, tip)
        result = conversation.after_submit(session, tip.code, passphrase)
        result.session.pending_receipt = self.keyring.seal_text(json.dumps([tip.code, passphrase]))
        return result

    async def _check_receipt(self, session: Session, ctx: Context, effect: CheckReceipt, pseudonym: str) -> Result:
        limits = self.limits
        chat_key, code_key = f"pass:{pseudonym}", f"passcode:{effect.code}"
        lock_window = limits.lockout_minutes * 60
        if (
            await self.counters.peek(chat_key, lock_window, ctx.now) >= limits.passphrase_failures_per_chat
            or await self.counters.peek(code_key, 3600, ctx.now) >= limits.passphrase_failures_per_code
        ):
            return conversation.after_receipt_locked(session, limits.lockout_minutes)
        found = await self.tips.by_code(effect.code)
        valid = found is not None and await asyncio.to_thread(verify_passphrase, effect.passphrase, found[1])
        if not valid or found is None:
            failures = await self.counters.hit(chat_key, lock_window, ctx.now)
            await self.counters.hit(code_key, 3600, ctx.now)
            left = limits.passphrase_failures_per_chat - failures
            if left <= 0:
                return conversation.after_receipt_locked(session, limits.lockout_minutes)
            return conversation.after_receipt_failed(session, ctx, left)
        tip = found[0]
        messages = await self.tips.messages_to_tipster(tip.id)
        if effect.purpose == "status":
            await self.tips.mark_delivered([mid for mid, _text, _when in messages], ctx.now)
        d = directory()
        province = d.province(tip.province_code)
        commune = d.commune(tip.commune_code) if tip.commune_code else None
        view = conversation.StatusView(
            tip=tip,
            messages=[(text, when) for _mid, text, when in messages],
            province_name=province.name if province else "",
            commune_name=commune.name if commune else None,
        )
        return conversation.after_receipt_ok(session, view)

    async def _add_followup(self, session: Session, ctx: Context, effect: AddFollowup) -> Result:
        found = await self.tips.by_code(effect.code)
        if found is None:  # pragma: no cover - the code was verified moments ago
            return conversation.reprompt(session, ctx)
        tip = found[0]
        evidence: tuple[Evidence, ...] = ()
        if effect.media is not None:
            m = effect.media
            evidence = (Evidence(m.kind, m.ref, m.size, m.mime, m.name),)
        try:
            await self.tips.add_followup(tip.id, effect.text, evidence, ctx.now)
        except StorageFull:
            log.error("storage full: a follow-up to tip %s could not be saved", tip.code)
            return conversation.with_notice(Reply(conversation.error_reply(session).text), conversation.reprompt(session, ctx))
        log.info("tip %s: follow-up added", tip.code)
        await self._notify(self.on_followup, tip, effect.text, effect.media is not None)
        _ = tr(session).gettext
        what = _("your message") if effect.text and effect.media is None else _("your file")
        return conversation.after_followup(session, ctx, what)


    async def _answer(
        self, session: Session, ctx: Context, effect: AnswerTip, channel: str, chat_id: int | str
    ) -> Result:
        """A reply to the team's question: accepted only from a chat subscribed to that tip."""
        found = await self.tips.by_code(effect.code)
        key = self.keyring.subscription_key(channel, chat_id)
        accepted = False
        if found is not None and found[0].id in await self.subscriptions.tips_for_chat(key):
            tip = found[0]
            await self.tips.add_followup(tip.id, effect.text, (), ctx.now)
            log.info("tip %s: the tipster answered", tip.code)
            await self._notify(self.on_followup, tip, effect.text, False)
            accepted = True
        return conversation.after_answer(session, ctx, effect.code, accepted)

    async def _notify(self, hook: Callable[..., Awaitable[None]] | None, *args: object) -> None:
        """Tells the queue; a failure there must not cost the citizen their receipt."""
        if hook is None:
            return
        try:
            await hook(*args)
        except Exception:
            log.exception("the moderator queue could not be told (it catches up from the outbox)")

