"""Zalo as a channel of the core: the delivery port on top of ``ZaloBotClient``.

Zalo's bots have no buttons, no replies to one message and no editing: choices are written out to be typed
back (``tipline.delivery.plain``: numbered where the question takes only a choice, by name where it also takes
words), and texts longer than Zalo's 2,000 characters are split, at a sentence end if there is one, else at a
line break, else between words. Flood limits and outages are retried here for a little while; what remains
comes back as the port's errors, so the outbox reschedules instead of losing anything.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable
from typing import TypeVar

from tipline.delivery.model import Address, Sent
from tipline.delivery.plain import plain_text
from tipline.delivery.port import ChannelTraits, FileRef, Outgoing, Rejected, RetryLater, Unreachable
from tipline.events import Media
from tipline.replies import Reply

from .client import (
    ZaloBadRequest,
    ZaloBotClient,
    ZaloConflict,
    ZaloError,
    ZaloForbidden,
    ZaloRateLimited,
    ZaloUnauthorized,
    ZaloUnavailable,
)

log = logging.getLogger(__name__)
T = TypeVar("T")

NAME = "zalo"
MAX_TEXT = 2000  # sendMessage's limit, counted in UTF-16 code units as Zalo's server counts it
TRAITS = ChannelTraits(buttons=False, max_text=MAX_TEXT, reply_to=False, edits=False)
SEND_ATTEMPTS = 4
RETRY_BASE_DELAY = 0.5  # seconds; doubles per attempt
LONGEST_WAIT = 30.0  # a rate limit asking for longer goes back to the outbox instead of holding the sender
_UNREACHABLE = ("chat not found", "blocked")

# A sentence ends with . ! ? or … (perhaps followed by a closing quote or bracket) before white space.
_SENTENCE_END = re.compile(r"[.!?…][\"'”’)\]]*(?=\s)")


def units(text: str) -> int:
    """Length as Zalo counts it: UTF-16 code units (an emoji counts twice, a precomposed Vietnamese letter once)."""
    return len(text.encode("utf-16-le")) // 2


def _fits(text: str, limit: int) -> int:
    """How many characters of ``text`` fit in ``limit`` UTF-16 code units."""
    if units(text) <= limit:
        return len(text)
    used = 0
    for index, char in enumerate(text):
        used += 2 if ord(char) > 0xFFFF else 1
        if used > limit:
            return index
    return len(text)  # pragma: no cover - units(text) > limit means the loop returns


def split_text(text: str, limit: int = MAX_TEXT) -> list[str]:
    """Pieces of at most ``limit`` units: cut after the last sentence end that leaves a piece at least half
    full, else at the last line break, else at the last space, else (one endless word) anywhere."""
    pieces: list[str] = []
    rest = text.strip()
    while units(rest) > limit:
        room = _fits(rest, limit)
        window = rest[:room]
        floor = room // 2
        cut = 0
        for match in _SENTENCE_END.finditer(window):
            if match.end() >= floor:
                cut = match.end()
        if not cut:
            cut = window.rfind("\n") + 1
            if cut <= floor:
                cut = 0
        if not cut:
            space = max(window.rfind(" "), window.rfind("\t"))
            cut = space + 1 if space > 0 else 0
        if not cut:
            cut = room
        piece = rest[:cut].rstrip()
        if piece:
            pieces.append(piece)
        rest = rest[cut:].lstrip()
    if rest:
        pieces.append(rest)
    return pieces or ["…"]


def render(message: Outgoing, limit: int = MAX_TEXT) -> list[str]:
    """The message as Zalo texts: its text split if needed, the written-out choices kept whole on the last."""
    full = plain_text(Reply(message.text, message.choices, message.free_text, message.lang))
    choices = full[len(message.text):].strip("\n")
    pieces = split_text(message.text, limit) if message.text.strip() else []
    if not choices:
        return pieces or ["…"]
    if pieces and units(pieces[-1] + "\n" + choices) <= limit:
        pieces[-1] = pieces[-1] + "\n" + choices
        return pieces
    return pieces + split_text(choices, limit)


async def with_retry(call: Callable[[], Awaitable[T]]) -> T:
    """Retries through rate limits and outages for a little while; maps what remains to the port's errors."""
    delay = RETRY_BASE_DELAY
    for attempt in range(1, SEND_ATTEMPTS + 1):
        try:
            return await call()
        except ZaloForbidden as exc:
            raise Unreachable(str(exc)) from None
        except ZaloBadRequest as exc:
            if any(reason in exc.description.lower() for reason in _UNREACHABLE):
                raise Unreachable(str(exc)) from None
            raise Rejected(str(exc)) from None
        except ZaloRateLimited as exc:
            wait = exc.retry_after if exc.retry_after is not None else delay
            if attempt == SEND_ATTEMPTS or wait > LONGEST_WAIT:
                raise RetryLater("Zalo's rate limit", after=wait) from None
            await asyncio.sleep(wait)
            delay = min(delay * 2, 10.0)
        except ZaloUnavailable as exc:
            if attempt == SEND_ATTEMPTS:
                raise RetryLater(f"Zalo unreachable: {exc}") from None
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)
        except (ZaloUnauthorized, ZaloConflict) as exc:
            # The token or the base URL is wrong: nothing is dropped, it waits until the configuration is fixed.
            log.error("Zalo refused the bot's credentials (%s): check ZALO_BOT_TOKEN and ZALO_API_BASE_URL", exc.code)
            raise RetryLater(str(exc), after=300) from None
        except ZaloError as exc:
            raise Rejected(str(exc)) from None
    raise AssertionError("unreachable")  # pragma: no cover


class ZaloChannel:
    name = NAME
    traits = TRAITS

    def __init__(self, client: ZaloBotClient) -> None:
        self.client = client

    async def send(self, to: Address, message: Outgoing) -> Sent:
        sent_id = ""
        for piece in render(message):

            async def call(piece: str = piece) -> str:
                return (await self.client.send_message(to.chat, piece)).message_id

            sent_id = await with_retry(call)
        return Sent(to, sent_id)

    async def edit(self, sent: Sent, message: Outgoing) -> None:
        raise Rejected("Zalo messages cannot be edited")

    async def send_file(
        self, to: Address, file: FileRef, reply_to: str | None = None, caption: Outgoing | None = None
    ) -> Sent:
        """A photo by its URL (Zalo fetches it); other kinds, and other channels' file ids, are refused. A
        caption follows as its own message (Zalo captions are short plain text, without numbered choices)."""
        if file.kind != "photo" or not file.ref.startswith(("https://", "http://")):
            raise Rejected(f"Zalo can only send photos by URL, not a {file.channel} {file.kind}")

        async def call() -> str:
            return (await self.client.send_photo(to.chat, file.ref)).message_id

        sent = Sent(to, await with_retry(call))
        if caption is not None:
            return await self.send(to, caption)
        return sent

    async def has_topics(self, chat: Address) -> bool:
        return False

    async def open_topic(self, chat: Address, name: str) -> Address:
        raise Rejected("Zalo has no topics")

    async def set_topic_closed(self, topic: Address, closed: bool) -> None:
        raise Rejected("Zalo has no topics")

    async def remove_member(self, chat: Address, user_ref: str) -> None:
        raise Rejected("the Zalo Bot Platform cannot remove members from a group")

    async def prepare_evidence(self, to: Address, media: Media, caption: str) -> Media | None:
        """Zalo hands photos over by URL (cleaned when they are re-sent to moderators); other files do not come
        through the Bot Platform. Nothing keeps an original name."""
        return Media(media.kind, media.ref, media.size, media.mime, None)
