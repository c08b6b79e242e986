"""The outbox worker: the one loop that delivers what the bot owes anyone (cards, texts for staff,
tipsters' news), through the channel each item is for.

Items are leased before they are sent, so two workers (or a restarted one) never send one item twice
while its lease runs. Only an item a handler finished is marked delivered. A channel that asks to wait
(flood limits, an outage) gets its items rescheduled with backoff; a refused item is tried a few times
and then set aside for an operator (``failed_at``), never silently marked delivered.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime, timedelta

from tipline.clock import Clock
from tipline.delivery.model import Kind, OutboxItem
from tipline.delivery.port import Channels, Rejected, RetryLater, Unreachable
from tipline.storage.ports import Storage

log = logging.getLogger(__name__)

Handler = Callable[[OutboxItem], Awaitable[None]]

REJECTED_TRIES = 3  # a request the channel refuses is tried this often, then set aside
UNEXPECTED_TRIES = 10  # an item that fails with a bug is tried this often, then set aside
MAX_BACKOFF = timedelta(minutes=5)


def backoff(attempts: int) -> timedelta:
    """1 s, 2 s, 4 s ... up to five minutes."""
    return min(timedelta(seconds=2 ** min(attempts, 16)), MAX_BACKOFF)


class OutboxWorker:
    def __init__(
        self,
        storage: Storage,
        handlers: Mapping[Kind, Handler],
        clock: Clock,
        channels: Channels,
        *,
        lease: timedelta = timedelta(minutes=2),
        batch: int = 50,
        staff_channel: str | None = None,
    ) -> None:
        self.storage = storage
        self.handlers = dict(handlers)
        self.clock = clock
        self.channels = channels
        # Items that name no channel are the staff side's (cards, lines for moderators and units), which go out
        # on the staff channel: a worker takes them only where that channel runs, so a process that runs only
        # Zalo (sharing the database with a Telegram one) never holds them up. None: any worker takes them.
        self.staff_channel = staff_channel
        self.lease = lease
        self.batch = batch
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"
        self._wake = asyncio.Event()
        self._running = asyncio.Lock()

    def wake(self) -> None:
        """Asks the loop to look at the outbox now (something was just added)."""
        self._wake.set()

    async def deliver_due(self) -> int:
        """Delivers the items that are due now; returns how many were delivered."""
        async with self._running:
            now = self.clock()
            async with self.storage.uow() as uow:
                unaddressed = self.staff_channel is None or self.staff_channel in self.channels
                items = await uow.outbox.claim(
                    self.owner, now, now + self.lease, self.batch, self.channels.names(), unaddressed
                )
            delivered = 0
            for index, item in enumerate(items):
                outcome = await self._deliver(item)
                if outcome is True:
                    delivered += 1
                elif outcome is not False:
                    # The channel asked to wait: the rest of the batch waits too instead of hammering it.
                    async with self.storage.uow() as uow:
                        for rest in items[index + 1 :]:
                            await uow.outbox.retry(rest.id, outcome, count_attempt=False)
                    break
            return delivered

    async def _deliver(self, item: OutboxItem) -> bool | datetime:
        """True when delivered, False when set aside or rescheduled, or the time the channel asked to wait until."""
        handler = self.handlers.get(item.kind)
        now = self.clock()
        try:
            if handler is None:
                raise Rejected(f"no handler for {item.kind}")
            await handler(item)
        except RetryLater as exc:
            wait = max(timedelta(seconds=exc.after or 0), backoff(item.attempts))
            log.warning("outbox item %d: the channel asks to wait (%s); next try in %s", item.id, exc, wait)
            await self._reschedule(item, now + wait, count_attempt=exc.after is None)
            return now + wait
        except (Rejected, Unreachable) as exc:
            if item.attempts + 1 >= REJECTED_TRIES:
                log.error("outbox item %d refused %d times (%s); set aside", item.id, item.attempts + 1, exc)
                await self._fail(item, f"refused: {exc}")
            else:
                log.warning("outbox item %d refused (%s); will try again", item.id, exc)
                await self._reschedule(item, now + backoff(item.attempts), count_attempt=True)
            return False
        except Exception as exc:  # a bug must not hold up everything queued behind this item
            log.exception("outbox item %d could not be delivered", item.id)
            if item.attempts + 1 >= UNEXPECTED_TRIES:
                await self._fail(item, f"error: {type(exc).__name__}")
            else:
                await self._reschedule(item, now + backoff(item.attempts), count_attempt=True)
            return False
        async with self.storage.uow() as uow:
            await uow.outbox.delivered(item.id, self.clock())
        return True

    async def _reschedule(self, item: OutboxItem, at: datetime, *, count_attempt: bool) -> None:
        async with self.storage.uow() as uow:
            await uow.outbox.retry(item.id, at, count_attempt=count_attempt)

    async def _fail(self, item: OutboxItem, reason: str) -> None:
        async with self.storage.uow() as uow:
            await uow.outbox.fail(item.id, self.clock(), reason)

    async def run(self, poll_seconds: float = 5.0) -> None:
        """Delivers whenever woken, and every few seconds (to retry after an outage)."""
        while True:
            self._wake.clear()
            try:
                while await self.deliver_due():
                    pass
            except Exception:
                log.exception("outbox delivery failed; retrying later")
            try:
                await asyncio.wait_for(self._wake.wait(), poll_seconds)
            except TimeoutError:
                pass
