"""The anonymous two-way channel, team to tipster: news and questions reach the chats of tipsters who
opted in, through the sealed references kept for that, and nowhere else."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from cryptography.exceptions import InvalidTag

from tipline.clock import Clock
from tipline.delivery.model import Address, OutboxItem, Sent
from tipline.delivery.port import Channels, Outgoing, Unreachable
from tipline.privacy.keys import Keyring
from tipline.storage.ports import Storage

log = logging.getLogger(__name__)

# Told when a question reached a tipster's chat, so that a reply to that very message counts as the answer.
QuestionSent = Callable[[Sent, str], Awaitable[None]]


class TipsterRelay:
    def __init__(self, storage: Storage, channels: Channels, keyring: Keyring, clock: Clock) -> None:
        self.storage = storage
        self.channels = channels
        self.keyring = keyring
        self.clock = clock
        self.on_question: QuestionSent | None = None

    async def deliver(self, item: OutboxItem) -> None:
        message_id = int(item.payload.get("message_id", 0))
        async with self.storage.read() as uow:
            message = await uow.messages.get(message_id)
            tip = await uow.tips.by_id(message.tip_id) if message else None
            sealed = await uow.subscriptions.for_tip(message.tip_id) if message else []
        if message is None or tip is None:
            return
        reached = False
        for link in sealed:
            try:
                channel_name, chat = self.keyring.unseal(link.sealed_ref)
            except InvalidTag:
                log.error("tip %s: a chat reference could not be unsealed (was the secret changed?)", tip.code)
                continue
            channel = self.channels.get(channel_name)
            if channel is None:
                log.warning("tip %s: news for a %s chat, a channel this process does not run", tip.code, channel_name)
                continue
            try:
                sent = await channel.send(Address(channel_name, str(chat)), Outgoing(message.text))
            except Unreachable:
                log.info("tip %s: a subscribed chat is unreachable", tip.code)
                continue
            reached = True
            if item.payload.get("question") and self.on_question is not None:
                await self.on_question(sent, tip.code)
        async with self.storage.uow() as uow:
            if reached:
                await uow.messages.mark_delivered([message.id], self.clock())
            if item.payload.get("final"):
                await uow.subscriptions.forget_tip(tip.id)
