"""The composition root: settings in, the core wired together out.

Channel adapters then register their channel (``core.channels.register``) and, for the staff side, how
to ask about membership of the moderators' chat (``core.authorizer.membership``), and run
``core.background()`` beside their own loop.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta

from tipline.citizen.service import CitizenService
from tipline.clock import Clock, utcnow
from tipline.config import Settings
from tipline.delivery.model import Address, Kind
from tipline.delivery.outbox import OutboxWorker
from tipline.delivery.pacing import Pace
from tipline.delivery.port import Channels
from tipline.i18n import set_locales_dir
from tipline.outreach.campaigns import Campaigns
from tipline.outreach.desk import BroadcastDesk
from tipline.outreach.policy import Policy, local_time
from tipline.outreach.sender import CampaignSender
from tipline.privacy.keys import Keyring
from tipline.records.audit import AuditLog
from tipline.staff.arrivals import assess_tip
from tipline.staff.authorization import Authorizer
from tipline.staff.card_posting import CardPoster
from tipline.staff.deadlines import check_deadlines
from tipline.staff.desk import StaffDesk
from tipline.staff.moderation import Deadlines, Moderation
from tipline.staff.relay import TipsterRelay
from tipline.staff.units import UnitDirectory
from tipline.storage.sqlite.store import SqliteStorage
from tipline.tips import Tip

log = logging.getLogger(__name__)

PURGE_EVERY_SECONDS = 3600
DEADLINES_EVERY_SECONDS = 60


@dataclass
class Core:
    settings: Settings
    storage: SqliteStorage
    keyring: Keyring
    clock: Clock
    channels: Channels
    audit: AuditLog
    citizens: CitizenService
    moderation: Moderation
    authorizer: Authorizer
    units: UnitDirectory
    staff: StaffDesk
    outbox: OutboxWorker
    campaigns: Campaigns
    broadcasts: BroadcastDesk
    # Campaigns go out through channels of their own (their own HTTP connections), from their own database
    # connection, paced by ``pace``, which every other message the bot sends is counted against first.
    bulk_storage: SqliteStorage
    bulk_channels: Channels
    pace: Pace
    sender: CampaignSender

    async def check_deadlines(self) -> int:
        acted = await check_deadlines(self.storage, self.audit, self.clock, self.moderation.deadlines)
        if acted:
            self.outbox.wake()
        return acted

    async def background(self) -> None:
        """The loops beside the channels: delivering the outbox, deadlines, purging what expired."""
        await asyncio.gather(
            self.outbox.run(),
            _every(DEADLINES_EVERY_SECONDS, self.check_deadlines, "deadline check"),
            _every(PURGE_EVERY_SECONDS, self.citizens.purge, "purge"),
            self.sender.run(),
        )

    async def close(self) -> None:
        await self.bulk_storage.close()
        await self.storage.close()


async def _every(seconds: float, job: Callable[[], Awaitable[object]], name: str) -> None:
    while True:
        try:
            await job()
        except Exception:  # keep going: one failed run must not stop the next
            log.exception("%s failed", name)
        await asyncio.sleep(seconds)


async def bootstrap(settings: Settings, clock: Clock = utcnow) -> Core:
    if settings.tipline_locales_dir is not None:
        set_locales_dir(settings.tipline_locales_dir)
    secret = settings.secret()
    storage = await SqliteStorage.open(settings.tipline_db)
    keyring = Keyring(secret)
    channels = Channels()
    audit = AuditLog(secret)
    moderators = (
        Address("telegram", str(settings.tipline_moderator_chat_id))
        if settings.tipline_moderator_chat_id is not None else None
    )
    admins = frozenset(("telegram", str(user_id)) for user_id in settings.admin_ids)
    deadlines = Deadlines(
        acknowledge=timedelta(hours=settings.tipline_ack_hours), outcome=timedelta(hours=settings.tipline_outcome_hours)
    )
    citizens = CitizenService(storage, keyring, clock=clock)
    moderation = Moderation(storage, audit, clock, deadlines)
    authorizer = Authorizer(storage, clock, admins, moderators)
    units = UnitDirectory(storage, secret)
    cards = CardPoster(storage, channels, moderators, clock)
    relay = TipsterRelay(storage, channels, keyring, clock)
    relay.on_question = citizens.remember_question
    outbox = OutboxWorker(
        storage,
        {Kind.CARD: cards.post_card, Kind.STAFF_TEXT: cards.post_text, Kind.TIPSTER_NEWS: relay.deliver},
        clock,
        channels,
    )
    staff = StaffDesk(storage, channels, authorizer, moderation, units, audit, keyring, clock, wake=outbox.wake)

    async def assess(tip: Tip) -> None:
        await assess_tip(storage, tip, clock())
        outbox.wake()

    async def followup(tip: Tip, text: str, has_file: bool) -> None:
        await moderation.tipster_wrote(tip.id, text, has_file)
        outbox.wake()

    citizens.on_tip = assess
    citizens.on_followup = followup
    campaigns = Campaigns(storage, audit, clock)
    pace = Pace(settings.tipline_broadcast_rate)
    quiet_start, _sep, quiet_end = settings.tipline_quiet_hours.partition("-")
    policy = Policy(
        rate=settings.tipline_broadcast_rate, quiet_start=local_time(quiet_start), quiet_end=local_time(quiet_end),
        weekly_cap=settings.tipline_weekly_cap, lease=timedelta(seconds=settings.tipline_broadcast_lease),
    )
    try:
        bulk_storage = await SqliteStorage.open(settings.tipline_db)
    except BaseException:
        await storage.close()
        raise
    bulk_channels = Channels()
    sender = CampaignSender(bulk_storage, keyring, clock, bulk_channels, channels, pace, audit, policy)
    broadcasts = BroadcastDesk(storage, channels, authorizer, campaigns, clock, moderators, wake=sender.wake)
    return Core(
        settings, storage, keyring, clock, channels, audit, citizens, moderation, authorizer, units, staff, outbox,
        campaigns, broadcasts, bulk_storage, bulk_channels, pace, sender,
    )
