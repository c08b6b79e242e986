"""Telegram as a channel of the core: the delivery port on top of python-telegram-bot's Bot.

Flood limits (429) and network trouble are retried here for a little while; what remains comes back as
the port's errors, so the outbox reschedules instead of losing anything.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from telegram import ForceReply, InputFile, LinkPreviewOptions, Message, ReplyParameters
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
from .render import MAX_TEXT, chunks, keyboard

log = logging.getLogger(__name__)
T = TypeVar("T")

NAME = "telegram"
TRAITS = ChannelTraits(buttons=True, max_text=MAX_TEXT, reply_to=True, edits=True, topics=True)
SEND_ATTEMPTS = 6
PHOTO_MAX_BYTES = 10 * 1024 * 1024  # sendPhoto's limit for an upload
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


async def with_retry(call: Callable[[], Awaitable[T]]) -> T:
    """Retries through flood limits and network trouble; maps what remains to the port's errors."""
    delay = RETRY_BASE_DELAY
    for attempt in range(1, SEND_ATTEMPTS + 1):
        try:
            return await call()
        except RetryAfter as exc:
            wait = exc.retry_after if isinstance(exc.retry_after, int | float) else exc.retry_after.total_seconds()
            if attempt == SEND_ATTEMPTS or wait > 30:
                raise RetryLater("Telegram's flood limit", after=float(wait)) from exc
            await asyncio.sleep(float(wait))
        except Forbidden as exc:
            raise Unreachable(str(exc)) from exc
        except BadRequest as exc:
            if any(reason in str(exc).lower() for reason in _UNREACHABLE):
                raise Unreachable(str(exc)) from exc
            raise Rejected(str(exc)) from exc
        except NetworkError as exc:
            if attempt == SEND_ATTEMPTS:
                raise RetryLater(f"Telegram unreachable: {exc}") from exc
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

    def __init__(self, bot: Any) -> None:
        self.bot = bot
        self._forums: dict[str, bool] = {}

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

            sent = await with_retry(call)
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

        await with_retry(call)

    async def send_file(self, to: Address, file: FileRef, reply_to: str | None = None) -> Sent:
        if file.channel != NAME:
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

        async def call() -> Message:
            result: Message = await send(int(to.chat), file.ref, reply_parameters=reply, message_thread_id=_thread(to))
            return result

        return Sent(to, str((await with_retry(call)).message_id))

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
            found = await with_retry(lambda: self.bot.get_chat(int(chat.chat)))
            self._forums[chat.chat] = bool(getattr(found, "is_forum", False))
        return self._forums[chat.chat]

    async def open_topic(self, chat: Address, name: str) -> Address:
        topic = await with_retry(lambda: self.bot.create_forum_topic(int(chat.chat), name))
        return chat.in_thread(str(topic.message_thread_id))

    async def set_topic_closed(self, topic: Address, closed: bool) -> None:
        """Closes a closed tip's topic (reopens it with the tip), so open topics are open work."""
        assert topic.thread is not None
        method = self.bot.close_forum_topic if closed else self.bot.reopen_forum_topic
        try:
            await with_retry(lambda: method(int(topic.chat), int(topic.thread or 0)))
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

