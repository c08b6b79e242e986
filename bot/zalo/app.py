"""The Zalo adapter: updates in (long polling here, or the webhook in ``bot.web``), the core's answers out
through ``ZaloChannel``.

No business rule lives here: a citizen's update becomes one of the core's events and goes to
``core.citizens``, exactly as a Telegram update does. Identities never reach a log line: a ``ZaloUpdate``'s
repr shows no id or text, and this module logs outcomes only. The chat id is used for the pseudonym (the
core derives it) and to send the answers, nothing else.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

from tipline.bootstrap import Core
from tipline.citizen.conversation import error_reply
from tipline.citizen.session import Session
from tipline.delivery.direct import send_replies
from tipline.delivery.model import Address
from tipline.delivery.port import DeliveryError
from tipline.events import Command, Inbound, Media, Text, Unsupported
from tipline.replies import Reply

from ..lanes import Job, Lanes
from .channel import NAME, TRAITS, ZaloChannel
from .client import ZaloBotClient, ZaloConflict, ZaloError, ZaloRateLimited, ZaloUnauthorized, ZaloUnavailable
from .updates import ZaloUpdate

log = logging.getLogger(__name__)

POLL_TIMEOUT = 30.0
BACKOFF_MAX = 60.0
_UNSUPPORTED = {"sticker": "sticker", "voice": "voice"}


def to_event(update: ZaloUpdate) -> Inbound:
    """What the person did, in the core's terms. A slash command is read here (as the Telegram adapter reads
    its command entities); the Vietnamese command words ("tra cứu", "hủy") are the core's, for every channel
    without buttons."""
    kind = update.kind
    if kind == "text" and update.text is not None:
        text = update.text.strip()
        if text.startswith("/") and len(text) > 1 and not text[1].isspace():
            head, _sep, args = text.partition(" ")
            return Command(head[1:], args.strip())
        return Text(update.text)
    if kind == "image" and update.photo_url:
        # Kept by reference (the URL), like a Telegram file id; moderators get a cleaned copy (bot.remote_files).
        # A caption is not taken: on Telegram neither; the citizen types the description at its own step.
        return Media("photo", update.photo_url)
    return Unsupported(_UNSUPPORTED.get(kind, "other"))


class ZaloBot:
    """Citizens on Zalo: one update at a time per chat, answers sent as the core gives them."""

    def __init__(self, core: Core, client: ZaloBotClient, channel: ZaloChannel | None = None) -> None:
        self.core = core
        self.client = client
        self.channel = channel or ZaloChannel(client)
        core.channels.register(self.channel)

    def wanted(self, update: ZaloUpdate) -> bool:
        """Private chats with people only: a bot or a group (a beta on Zalo) is no citizen's tip line."""
        return update.is_private and not update.sender_is_bot

    @staticmethod
    def lane(update: ZaloUpdate) -> str:
        """The lane of an update's chat (kept in memory only, see ``bot.lanes``)."""
        return f"{NAME}:{update.chat_id}"

    def job(self, update: ZaloUpdate) -> Job:
        return lambda: self.handle(update)

    async def handle(self, update: ZaloUpdate) -> None:
        """Runs one update through the citizen service; the replies go out under the chat's lock."""
        if not self.wanted(update):
            return
        to = Address(NAME, update.chat_id)

        async def deliver(replies: list[Reply]) -> None:
            await send_replies(self.channel, to, replies)

        try:
            await self.core.citizens.handle(NAME, update.chat_id, to_event(update), deliver, TRAITS)
        except DeliveryError as exc:
            log.warning("a Zalo chat could not be answered (%s)", type(exc).__name__)
        except Exception:
            log.exception("unexpected error while handling a Zalo update")
            try:
                await send_replies(self.channel, to, [error_reply(Session())])
            except DeliveryError:
                log.warning("could not send the apology either")
        finally:
            self.core.outbox.wake()

    async def poll(self, lanes: Lanes, stop: asyncio.Event) -> None:
        """Long polling until ``stop`` is set: Zalo hands out one update per call and forgets it once given, so
        each goes into its chat's lane at once and the next call follows without waiting for it."""
        try:
            await self.client.delete_webhook()  # getUpdates does not work while a webhook is set
        except ZaloError as exc:  # the loop below says what is wrong, and keeps trying
            log.warning("zalo: could not clear a webhook before polling (%s)", type(exc).__name__)
        log.info("zalo: long polling started")
        delay = 1.0
        while not stop.is_set():
            try:
                update = await _until_stopped(self.client.get_updates(timeout=POLL_TIMEOUT), stop)
            except _Stopped:
                break
            except ZaloRateLimited as exc:
                await _sleep(exc.retry_after or delay, stop)
                continue
            except ZaloConflict:
                log.warning("zalo: getUpdates conflicts with a webhook or another poller; retrying")
                await _sleep(delay, stop)
                delay = min(delay * 2, BACKOFF_MAX)
                continue
            except ZaloUnauthorized:
                log.error("zalo: the token was refused; check ZALO_BOT_TOKEN and ZALO_API_BASE_URL")
                await _sleep(BACKOFF_MAX, stop)
                continue
            except (ZaloUnavailable, ZaloError) as exc:
                if not isinstance(exc, ZaloUnavailable):
                    log.warning("zalo: getUpdates failed (%s %s); retrying", type(exc).__name__, exc.code)
                await _sleep(delay, stop)
                delay = min(delay * 2, BACKOFF_MAX)
                continue
            except Exception:  # a bug must not end polling: the tip line stays up
                log.exception("zalo: unexpected error while polling")
                await _sleep(delay, stop)
                delay = min(delay * 2, BACKOFF_MAX)
                continue
            delay = 1.0
            if update is None or not self.wanted(update):
                continue
            if not lanes.submit(self.lane(update), self.job(update)):
                log.error("zalo: too many updates waiting; one was dropped")
        log.info("zalo: long polling stopped")


class _Stopped(Exception):
    pass


async def _until_stopped(call: Coroutine[Any, Any, ZaloUpdate | None], stop: asyncio.Event) -> ZaloUpdate | None:
    """Awaits a long poll, cut short (cancelled) as soon as ``stop`` is set."""
    poll = asyncio.ensure_future(call)
    stopped = asyncio.ensure_future(stop.wait())
    try:
        done, _pending = await asyncio.wait({poll, stopped}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopped.cancel()
    if poll not in done:
        poll.cancel()
        await asyncio.gather(poll, return_exceptions=True)
        raise _Stopped
    result: ZaloUpdate | None = poll.result()
    return result


async def _sleep(seconds: float, stop: asyncio.Event) -> None:
    try:
        await asyncio.wait_for(stop.wait(), seconds)
    except TimeoutError:
        pass
