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
from telegram import InputFile, LinkPreviewOptions, Message, ReplyParameters
from telegram.constants import ChatMemberStatus, ParseMode
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError

from tipline.delivery.model import Address, Sent
from tipline.delivery.port import (
    ChannelTraits,
    DeliveryError,
    FileRef,
    Outgoing,
    Rejected,
    RetryLater,
    Unreachable,
)
from tipline.events import Media
from tipline.facts import EVIDENCE_MAX_BYTES
from tipline.privacy.media import EVIDENCE, UnsafeFile, clean_image, clean_pdf, safe_file_name

from ..remote_files import FetchFailed, cleaned_image
from .render import MAX_TEXT, chunks, keyboard, keyboard_json

log = logging.getLogger(__name__)
T = TypeVar("T")

NAME = "telegram"
TRAITS = ChannelTraits(buttons=True, max_text=MAX_TEXT, reply_to=True, edits=True, topics=True, campaigns=True)
SEND_ATTEMPTS = 6
PHOTO_MAX_BYTES = 10 * 1024 * 1024  # sendPhoto's limit for an upload
RETRY_BASE_DELAY = 0.5  # seconds; doubles per attempt, capped at 10
_MEMBER = {ChatMemberStatus.OWNER, ChatMemberStatus.ADMINISTRATOR, ChatMemberStatus.MEMBER}
# Questions relayed to tipsters may quote links: the bot never asks Telegram to fetch a preview of them.
_NO_PREVIEW = LinkPreviewOptions(is_disabled=True)
_NO_PREVIEW_JSON = {"is_disabled": True}
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


async def call(bot: Any, method: str, params: dict[str, Any]) -> Any:
    """A Bot API call through python-telegram-bot's request path (its defaults, errors by status code and
    retries' exceptions), with the answer kept as JSON. The bot needs a sent message's id, not a ``Message``
    built from the whole echo of it: on the path of every answer that parsing cost more than the request.
    (``Bot.do_api_request`` would do the same but warns for methods the Bot has, so its ``_post``.)"""
    return await bot._post(method, params)


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
        message_id: int | None = None
        for index, piece in enumerate(pieces):
            last = index == len(pieces) - 1
            params: dict[str, Any] = {
                "chat_id": int(to.chat), "text": piece, "parse_mode": ParseMode.HTML.value,
                "link_preview_options": _NO_PREVIEW_JSON, "message_thread_id": _thread(to),
            }
            markup = keyboard_json(message.choices) if last else None
            if last and message.expects_reply and markup is None:
                markup = {"force_reply": True, "selective": True}
            params["reply_markup"] = markup
            if message.reply_to:
                params["reply_parameters"] = {"message_id": int(message.reply_to), "allow_sending_without_reply": True}

            async def send(params: dict[str, Any] = params) -> Any:
                return await call(self.bot, "sendMessage", params)

            message_id = int((await self._call(send))["message_id"])
        assert message_id is not None
        return Sent(to, str(message_id))

    async def edit(self, sent: Sent, message: Outgoing) -> None:
        params = {
            "chat_id": int(sent.address.chat), "message_id": int(sent.message), "text": chunks(message.text)[0],
            "parse_mode": ParseMode.HTML.value, "reply_markup": keyboard_json(message.choices),
            "link_preview_options": _NO_PREVIEW_JSON,
        }

        async def edit() -> object:
            try:
                return await call(self.bot, "editMessageText", params)
            except BadRequest as exc:
                if "not modified" in str(exc).lower():
                    return None  # already as asked
                raise

        await self._call(edit)

    async def send_file(
        self, to: Address, file: FileRef, reply_to: str | None = None, caption: Outgoing | None = None
    ) -> Sent:
        if file.channel != NAME and file.data is None:
            if file.kind == "photo" and file.ref.startswith(("https://", "http://")):
                return await self._send_remote_photo(to, file, reply_to)
            raise Rejected(f"a {file.channel} {file.kind} cannot be re-sent on Telegram")
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

    async def _send_remote_photo(self, to: Address, file: FileRef, reply_to: str | None) -> Sent:
        """Another channel's photo by URL (a Zalo photo): downloaded, stripped of its metadata, uploaded under a
        neutral name. A photo that cannot be fetched or cleaned is refused, never forwarded as it is."""
        try:
            clean = await cleaned_image(file.ref)
        except FetchFailed as exc:
            raise Rejected(f"a {file.channel} photo could not be downloaded ({exc})") from None
        except UnsafeFile as exc:
            raise Rejected(f"a {file.channel} photo could not be cleaned ({exc.reason.value})") from None
        upload = InputFile(clean.data, filename=safe_file_name(EVIDENCE, clean.extension, 1))
        # Telegram takes photos up to 10 MB; a bigger (cleaned) picture goes as a document, still clean.
        send = self.bot.send_photo if len(clean.data) <= PHOTO_MAX_BYTES else self.bot.send_document
        reply = ReplyParameters(int(reply_to), allow_sending_without_reply=True) if reply_to else None

        async def call() -> Message:
            result: Message = await send(int(to.chat), upload, reply_parameters=reply, message_thread_id=_thread(to))
            return result

        return Sent(to, str((await with_retry(call)).message_id))

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

    async def remove_member(self, chat: Address, user_ref: str) -> None:
        """Bans then unbans: the person leaves the group (and can be added again later)."""
        await with_retry(lambda: self.bot.ban_chat_member(int(chat.chat), int(user_ref)))
        await with_retry(lambda: self.bot.unban_chat_member(int(chat.chat), int(user_ref), only_if_banned=True))

    async def prepare_evidence(self, to: Address, media: Media, caption: str) -> Media | None:
        """Photos sent as files and PDFs keep the sender's traces (GPS position, phone model, author, the
        file's name): they are downloaded, cleaned, and sent back as a clean copy, whose file id is what is
        kept and forwarded. Other files are kept without their name (moderators only see them)."""
        if media.kind != "document":
            return media
        mime = (media.mime or "").lower()
        cleaner = clean_image if mime.startswith("image/") else clean_pdf if mime == "application/pdf" else None
        if cleaner is None:
            return Media("document", media.ref, media.size, media.mime, None)
        if media.size is not None and media.size > EVIDENCE_MAX_BYTES:
            return media  # the core refuses it as too large
        try:
            file = await with_retry(lambda: self.bot.get_file(media.ref))
            data = bytes(await file.download_as_bytearray())
            clean = await asyncio.to_thread(cleaner, data)
        except (UnsafeFile, DeliveryError, TelegramError) as exc:
            log.info("an evidence file could not be cleaned (%s)", type(exc).__name__)
            return None
        name = safe_file_name("bang-chung", clean.extension, 1)
        upload = InputFile(clean.data, filename=name)
        if cleaner is clean_image:
            sent = await with_retry(lambda: self.bot.send_photo(int(to.chat), upload, caption=caption))
            largest = sent.photo[-1]
            return Media("photo", largest.file_id, largest.file_size, clean.mime)
        sent = await with_retry(lambda: self.bot.send_document(int(to.chat), upload, caption=caption))
        return Media("document", sent.document.file_id, sent.document.file_size, clean.mime, None)

    async def is_member(self, chat: Address, user_ref: str) -> bool:
        """Membership of a group, asked of Telegram (the staff side caches the answer briefly)."""
        try:
            member = await self.bot.get_chat_member(int(chat.chat), int(user_ref))
        except TelegramError:
            return False
        return member.status in _MEMBER or (
            member.status == ChatMemberStatus.RESTRICTED and bool(getattr(member, "is_member", False))
        )

