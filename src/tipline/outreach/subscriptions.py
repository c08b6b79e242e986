"""Outreach subscriptions: who asked for prevention messages, where, as whom, in which language.

A subscription is a row of its own, apart from tips (the tip-update opt-in lives elsewhere and nothing joins
the two). The chat is kept only sealed under the server secret and found again through a keyed hash; when
someone stops (``/unsubscribe``, "dừng", the Stop button, ``/forget``) or blocks the bot, the sealed chat is
dropped at once. Consent and every change are recorded with the day they happened, never the time.
"""

from __future__ import annotations

import logging
from datetime import date

from tipline.clock import Clock
from tipline.i18n import TIMEZONE, translator
from tipline.outreach.model import Preferences, Subscriber
from tipline.privacy.keys import Keyring
from tipline.replies import PollVote
from tipline.storage.ports import Storage

log = logging.getLogger(__name__)


class Subscriptions:
    def __init__(self, storage: Storage, keyring: Keyring, clock: Clock) -> None:
        self.storage = storage
        self.keyring = keyring
        self.clock = clock

    def today(self) -> date:
        return self.clock().astimezone(TIMEZONE).date()

    async def current(self, channel: str, chat: int | str) -> Subscriber | None:
        """This chat's subscription while it is active."""
        async with self.storage.read() as uow:
            found = await uow.subscribers.by_key(self.keyring.outreach_key(channel, chat))
        return found if found is not None and found.active else None

    async def subscribe(self, channel: str, chat: int | str, prefs: Preferences) -> str:
        """Subscribes (or changes what this chat receives); returns 'consent', 'change' or 'same'."""
        key = self.keyring.outreach_key(channel, chat)
        async with self.storage.uow() as uow:
            event = await uow.subscribers.subscribe(key, channel, self.keyring.seal(channel, chat), prefs, self.today())
        log.info("outreach: a chat %s", {"consent": "subscribed", "change": "changed its subscription"}.get(event, "re-confirmed"))
        return event

    async def stop(self, channel: str, chat: int | str, how: str) -> bool:
        """Stops this chat's subscription at once; False when it had none. ``how``: unsubscribe, word, button,
        forget (recorded with the day)."""
        key = self.keyring.outreach_key(channel, chat)
        async with self.storage.uow() as uow:
            found = await uow.subscribers.by_key(key)
            stopped = found is not None and await uow.subscribers.stop(found.id, self.today(), "stop", how)
        if stopped:
            log.info("outreach: a chat unsubscribed (%s)", how)
        return stopped

    async def blocked(self, channel: str, chat: int | str) -> bool:
        """The person blocked the bot (the channel said so): stopped, like an unsubscribe, and recorded."""
        key = self.keyring.outreach_key(channel, chat)
        async with self.storage.uow() as uow:
            found = await uow.subscribers.by_key(key)
            stopped = found is not None and await uow.subscribers.stop(found.id, self.today(), "blocked", "")
        if stopped:
            log.info("outreach: a subscriber blocked the bot; stopped")
        return stopped

    async def vote(self, channel: str, chat: int | str, vote: PollVote) -> str:
        """A subscriber's answer to a poll, counted once per recipient and by place only; returns the short
        answer to show them."""
        key = self.keyring.outreach_key(channel, chat)
        async with self.storage.uow() as uow:
            found = await uow.subscribers.by_key(key)
            campaign = await uow.campaigns.get(vote.campaign_id)
            valid = (
                found is not None and campaign is not None and 0 <= vote.option < len(campaign.content.options)
            )
            result = await uow.campaigns.vote(vote.campaign_id, vote.run, found.id, vote.option) if valid and found else "not_recipient"
        _ = translator(found.prefs.lang if found is not None else "vi").gettext
        if result == "counted":
            return _("Thank you: your answer was counted. Nobody can see who answered what.")
        if result == "already":
            return _("You have already answered this question: only the first answer counts.")
        return _("This poll is for the subscribers it was sent to.")
