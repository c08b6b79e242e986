"""Telegram as a channel of the core: the delivery port on top of python-telegram-bot's Bot.

Flood limits (429) and network trouble are retried here for a little while; what remains comes back as
the port's errors, so the outbox reschedules instead of losing anything. A channel made for bulk sending
(``attempts=1``) retries nothing itself: the campaign sender paces, pauses and retries, and it must know
whether a failed request may still have been delivered (``RetryLater.uncertain``).
"""

from __future__ import annotations

import asyncio
import html
import logging
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any, TypeVar

import httpx
from telegram import ForceReply, InputFile, LinkPreviewOptions, Message, ReplyParameters
from telegram.constants import ChatMemberStatus, ParseMode
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError

from tipline.delivery.model import Address, Sent
from tipline.delivery.port import ChannelTraits, FileRef, Outgoing, Rejected, RetryLater, Unreachable

from .render import MAX_TEXT, chunks, keyboard

log = logging.getLogger(__name__)
T = TypeVar("T")

NAME = "telegram"
TRAITS = ChannelTraits(buttons=True, max_text=MAX_TEXT, reply_to=True, edits=True, topics=True)
SEND_ATTEMPTS = 6
RETRY_BASE_DELAY = 0.5  # seconds; doubles per attempt, capped at 10
_MEMBER = {ChatMemberStatus.OWNER, ChatMemberStatus.ADMINISTRATOR, ChatMemberStatus.MEMBER}
# Questions relayed to tipsters may quote links: the bot never asks Telegram to fetch a preview of them.
_NO_PREVIEW = LinkPreviewOptions(is_disabled=True)
_UNREACHABLE = ("chat not found", "bot was blocked", "user is deactivated", "bot was kicked", "not a member")


def address_of(message: Message) -> Address:
    """Where a message is: its chat, and its forum topic if it is in one."""
    thread = str(message.message_thread_id) if message.is_topic_message and message.message_thread_id else None
    return Address(NAME, str(message.chat.id), thread)


def sent_of(message: Message) -> Sent:
    return Sent(address_of(message), str(message.message_id))


# Failures that prove the request never reached Telegram (safe to send again).
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


def _maybe_sent(exc: NetworkError) -> bool:
    """Whether a request that failed this way may still have been delivered (it was written, then the
    connection broke or the answer did not come in time)."""
    cause = exc.__cause__
    return not isinstance(cause, _NOT_SENT)


async def with_retry(call: Callable[[], Awaitable[T]], attempts: int = SEND_ATTEMPTS) -> T:
    """Retries through flood limits and network trouble; maps what remains to the port's errors."""
    delay = RETRY_BASE_DELAY
    for attempt in range(1, attempts + 1):
        try:
            return await call()
        except RetryAfter as exc:
            wait = exc.retry_after if isinstance(exc.retry_after, int | float) else exc.retry_after.total_seconds()
            if attempt == attempts or wait > 30:
                raise RetryLater("Telegram's flood limit", after=float(wait)) from exc
            await asyncio.sleep(float(wait))
        except Forbidden as exc:
            raise Unreachable(str(exc)) from exc
        except BadRequest as exc:
            if any(reason in str(exc).lower() for reason in _UNREACHABLE):
                raise Unreachable(str(exc)) from exc
            raise Rejected(str(exc)) from exc
        except NetworkError as exc:
            if attempt == attempts:
                raise RetryLater(f"Telegram unreachable: {exc}", uncertain=_maybe_sent(exc)) from exc
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)
        except TelegramError as exc:
            raise Rejected(str(exc)) from exc
    raise AssertionError("unreachable")  # pragma: no cover


def _thread(to: Address) -> int | None:
    return int(to.thread) if to.thread else None


class TelegramChannel:
    name = NAME
    traits = TRAITS

    def __init__(
        self, bot: Any, attempts: int = SEND_ATTEMPTS, budget: Callable[[], AbstractAsyncContextManager[None]] | None = None
    ) -> None:
        self.bot = bot
        self.attempts = attempts
        # Every message is counted in the channel's one-second budget, ahead of any campaign message.
        self.budget = budget
        self._forums: dict[str, bool] = {}

    async def _call(self, call: Callable[[], Awaitable[T]]) -> T:
        if self.budget is None:
            return await with_retry(call, self.attempts)
        async with self.budget():
            return await with_retry(call, self.attempts)

    async def send(self, to: Address, message: Outgoing) -> Sent:
        pieces = chunks(message.text)
        sent: Message | None = None
        for index, piece in enumerate(pieces):
            last = index == len(pieces) - 1
            markup: Any = keyboard(message.choices) if last else None
            if last and message.expects_reply and markup is None:
                markup = ForceReply(selective=True)
            reply = ReplyParameters(int(message.reply_to), allow_sending_without_reply=True) if message.reply_to else None

            async def call(piece: str = piece, markup: Any = markup, reply: Any = reply) -> Message:
                result: Message = await self.bot.send_message(
                    int(to.chat), piece, parse_mode=ParseMode.HTML, reply_markup=markup, reply_parameters=reply,
                    message_thread_id=_thread(to), link_preview_options=_NO_PREVIEW,
                )
                return result

            sent = await self._call(call)
        assert sent is not None
        return Sent(to, str(sent.message_id))

    async def edit(self, sent: Sent, message: Outgoing) -> None:
        async def call() -> object:
            try:
                return await self.bot.edit_message_text(
                    chunks(message.text)[0], int(sent.address.chat), int(sent.message), parse_mode=ParseMode.HTML,
                    reply_markup=keyboard(message.choices), link_preview_options=_NO_PREVIEW,
                )
            except BadRequest as exc:
                if "not modified" in str(exc).lower():
                    return None  # already as asked
                raise

        await self._call(call)

    async def send_file(
        self, to: Address, file: FileRef, reply_to: str | None = None, caption: Outgoing | None = None
    ) -> Sent:
        if file.channel != NAME and file.data is None:
            raise Rejected(f"a {file.channel} file cannot be re-sent on Telegram yet")
        senders = {
            "photo": self.bot.send_photo, "video": self.bot.send_video, "document": self.bot.send_document,
            "voice": self.bot.send_voice, "audio": self.bot.send_audio, "animation": self.bot.send_animation,
            "video_note": self.bot.send_video_note,
        }
        send = senders.get(file.kind)
        if send is None:
            raise Rejected(f"no way to send a {file.kind}")
        reply = ReplyParameters(int(reply_to), allow_sending_without_reply=True) if reply_to else None
        document: Any = InputFile(file.data, filename=file.ref or file.name) if file.data is not None else file.ref
        extra: dict[str, Any] = {}
        if caption is not None:
            extra = {
                "caption": html.escape(caption.text, quote=False)[:1024], "parse_mode": ParseMode.HTML,
                "reply_markup": keyboard(caption.choices),
            }

        async def call() -> Message:
            result: Message = await send(
                int(to.chat), document, reply_parameters=reply, message_thread_id=_thread(to), **extra
            )
            return result

        result = await self._call(call)
        # An uploaded file gets an id of its own: sent again by that id, it is not uploaded again.
        stored = result.photo[-1].file_id if result.photo else getattr(result.effective_attachment, "file_id", None)
        return Sent(to, str(result.message_id), stored if file.data is not None else None)

    async def has_topics(self, chat: Address) -> bool:
        if chat.chat not in self._forums:
            found = await with_retry(lambda: self.bot.get_chat(int(chat.chat)), self.attempts)
            self._forums[chat.chat] = bool(getattr(found, "is_forum", False))
        return self._forums[chat.chat]

    async def open_topic(self, chat: Address, name: str) -> Address:
        topic = await with_retry(lambda: self.bot.create_forum_topic(int(chat.chat), name), self.attempts)
        return chat.in_thread(str(topic.message_thread_id))

    async def set_topic_closed(self, topic: Address, closed: bool) -> None:
        """Closes a closed tip's topic (reopens it with the tip), so open topics are open work."""
        assert topic.thread is not None
        method = self.bot.close_forum_topic if closed else self.bot.reopen_forum_topic
        try:
            await with_retry(lambda: method(int(topic.chat), int(topic.thread or 0)), self.attempts)
        except Rejected as exc:
            log.warning("a forum topic could not be %s (%s)", "closed" if closed else "reopened", exc)

    async def is_member(self, chat: Address, user_ref: str) -> bool:
        """Membership of a group, asked of Telegram (the staff side caches the answer briefly)."""
        try:
            member = await self.bot.get_chat_member(int(chat.chat), int(user_ref))
        except TelegramError:
            return False
        return member.status in _MEMBER or (
            member.status == ChatMemberStatus.RESTRICTED and bool(getattr(member, "is_member", False))
        )

