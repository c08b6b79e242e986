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
from tipline.config import ConfigError, Settings
from tipline.delivery.model import Address, Audience, Kind, NewItem
from tipline.delivery.outbox import OutboxWorker
from tipline.delivery.pacing import Pace
from tipline.delivery.port import Channels, DeliveryError, Outgoing, Senders
from tipline.i18n import set_locales_dir, translator
from tipline.outreach.campaigns import Campaigns
from tipline.outreach.desk import BroadcastDesk
from tipline.outreach.policy import Policy, local_time
from tipline.outreach.sender import CampaignSender
from tipline.places.communes import directory
from tipline.privacy.keys import Keyring
from tipline.records.audit import Anchor, AuditLog, append_anchor
from tipline.staff.arrivals import assess_tip
from tipline.staff.authorization import Authorizer
from tipline.staff.card_posting import CardPoster
from tipline.staff.cards import STAFF_LANGUAGE
from tipline.staff.deadlines import check_deadlines
from tipline.staff.desk import StaffDesk
from tipline.staff.moderation import Deadlines, Moderation
from tipline.staff.relay import TipsterRelay
from tipline.staff.units import UnitDirectory
from tipline.storage.ports import Storage
from tipline.storage.sqlite.store import SqliteStorage
from tipline.tips import Evidence, Tip

log = logging.getLogger(__name__)

# Moderators, admins and police units work on Telegram (groups, buttons, replies), whatever channel tips come from.
STAFF_CHANNEL = "telegram"
PURGE_EVERY_SECONDS = 3600
DEADLINES_EVERY_SECONDS = 60
ANCHOR_EVERY_SECONDS = 24 * 3600


@dataclass
class Core:
    settings: Settings
    storage: Storage
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
    bulk_storage: Storage
    bulk_channels: Senders
    pace: Pace
    sender: CampaignSender

    async def check_deadlines(self) -> int:
        acted = await check_deadlines(self.storage, self.audit, self.clock, self.moderation.deadlines)
        if acted:
            self.outbox.wake()
        return acted

    async def purge(self) -> None:
        """What is no longer needed goes: idle drafts and settings, expired counters and prompts, and the free
        text, evidence and messages of tips closed longer than the retention period."""
        await self.citizens.purge()
        now = self.clock()
        async with self.storage.uow() as uow:
            redacted = await uow.tips.redact_closed(now - timedelta(days=self.settings.tipline_retention_days), now)
        if redacted:
            await self.storage.checkpoint()
            log.info("retention: the free text and evidence of %d closed tips were deleted", redacted)

    async def anchor_audit(self) -> Anchor:
        """Writes the audit log's head down outside the database: appended to TIPLINE_AUDIT_ANCHOR_FILE and
        posted to the moderators' group. Cutting entries off the end is then caught by ``audit verify``."""
        anchor = await self.audit.anchor(self.storage, self.clock())
        if self.settings.tipline_audit_anchor_file is not None:
            append_anchor(self.settings.tipline_audit_anchor_file, anchor)
        moderators = self.authorizer.moderators
        if moderators is not None:
            _ = translator(STAFF_LANGUAGE).gettext
            text = _("🔏 Audit log: {count} entries, head {hash}. Nothing needs doing: this is a record.").format(
                count=anchor.count, hash=anchor.head_hash
            )
            channel = self.channels.get(moderators.channel)
            try:
                if channel is None:
                    raise DeliveryError("no channel")
                await channel.send(moderators, Outgoing(text))
            except DeliveryError:  # the outbox delivers it later
                async with self.storage.uow() as uow:
                    await uow.outbox.add(NewItem(Kind.STAFF_TEXT, Audience.MODERATORS, payload={"text": text}), self.clock())
        log.info("audit log anchored: %d entries", anchor.count)
        return anchor

    async def background(self) -> None:
        """The loops beside the channels: delivering the outbox, deadlines, purging what expired, and the
        audit log's daily anchor."""
        await asyncio.gather(
            self.outbox.run(),
            _every(DEADLINES_EVERY_SECONDS, self.check_deadlines, "deadline check"),
            _every(PURGE_EVERY_SECONDS, self.purge, "purge"),
            _every(ANCHOR_EVERY_SECONDS, self.anchor_audit, "audit anchor", first_after=ANCHOR_EVERY_SECONDS),
            self.sender.run(),
        )

    async def close(self) -> None:
        await self.citizens.close()
        await self.bulk_storage.close()
        await self.storage.close()


async def _every(seconds: float, job: Callable[[], Awaitable[object]], name: str, first_after: float = 0) -> None:
    await asyncio.sleep(first_after)
    while True:
        try:
            await job()
        except Exception:  # keep going: one failed run must not stop the next
            log.exception("%s failed", name)
        await asyncio.sleep(seconds)


SECRET_FINGERPRINT = "secret_fingerprint"


async def open_database(settings: Settings) -> Storage:
    """PostgreSQL when TIPLINE_DATABASE_URL names one, else the SQLite file at TIPLINE_DB."""
    if settings.tipline_database_url:
        from tipline.storage.postgres.store import PgStorage  # asyncpg is needed only for PostgreSQL

        return await PgStorage.open(settings.tipline_database_url, max_size=settings.tipline_database_pool)
    return await SqliteStorage.open(settings.tipline_db)


async def open_storage(settings: Settings) -> Storage:
    """The database, once it is certain the configured secret is the one it was written with.

    A different secret would leave every sealed reference unreadable and make the audit log look tampered
    with, so start-up refuses with one line instead (ConfigError).
    """
    fingerprint = Keyring(settings.secret()).fingerprint()
    storage = await open_database(settings)
    try:
        async with storage.uow() as uow:
            stored = await uow.meta.get(SECRET_FINGERPRINT)
            if stored is None:
                await uow.meta.set(SECRET_FINGERPRINT, fingerprint)
    except BaseException:
        await storage.close()
        raise
    if stored is not None and stored != fingerprint:
        await storage.close()
        raise ConfigError(
            f"TIPLINE_SECRET_KEY is not the secret the database was written with (fingerprint {fingerprint}, "
            f"expected {stored}); to change it, use `tipline secret rotate`"
        )
    return storage


async def bootstrap(settings: Settings, clock: Clock = utcnow) -> Core:
    if settings.tipline_locales_dir is not None:
        set_locales_dir(settings.tipline_locales_dir)
    secret = settings.secret()
    storage = await open_storage(settings)
    keyring = Keyring(secret)
    channels = Channels()
    audit = AuditLog(secret)
    moderators = (
        Address(STAFF_CHANNEL, str(settings.tipline_moderator_chat_id))
        if settings.tipline_moderator_chat_id is not None else None
    )
    admins = frozenset((STAFF_CHANNEL, str(user_id)) for user_id in settings.admin_ids)
    deadlines = Deadlines(
        acknowledge=timedelta(hours=settings.tipline_ack_hours), outcome=timedelta(hours=settings.tipline_outcome_hours)
    )
    citizens = CitizenService(storage, keyring, clock=clock)
    citizens.channels = channels
    # Made before the first citizen needs them, not in the middle of a burst: passphrases for receipts
    # (hashed in their own thread) and the communes' search indexes (a tenth of a second to build).
    citizens.hasher.top_up()
    directory()
    moderation = Moderation(storage, audit, clock, deadlines)
    authorizer = Authorizer(storage, clock, admins, moderators)
    units = UnitDirectory(storage, secret)
    cards = CardPoster(storage, channels, moderators, clock, deadlines)
    relay = TipsterRelay(storage, channels, keyring, clock)
    relay.on_question = citizens.remember_question
    outbox = OutboxWorker(
        storage,
        {Kind.CARD: cards.post_card, Kind.STAFF_TEXT: cards.post_text, Kind.TIPSTER_NEWS: relay.deliver},
        clock,
        channels,
        staff_channel=STAFF_CHANNEL,
        lease=timedelta(seconds=settings.tipline_outbox_lease_seconds),
    )
    staff = StaffDesk(storage, channels, authorizer, moderation, units, audit, keyring, clock, wake=outbox.wake)

    async def assess(tip: Tip) -> None:
        await assess_tip(storage, tip, clock())
        outbox.wake()

    async def followup(tip: Tip, text: str, files: tuple[Evidence, ...]) -> None:
        await moderation.tipster_wrote(tip.id, text, files)
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
        bulk_storage = await open_database(settings)
    except BaseException:
        await storage.close()
        raise
    bulk_channels = Senders()
    sender = CampaignSender(bulk_storage, keyring, clock, bulk_channels, channels, pace, audit, policy)
    broadcasts = BroadcastDesk(storage, channels, authorizer, campaigns, clock, moderators, wake=sender.wake)
    return Core(
        settings, storage, keyring, clock, channels, audit, citizens, moderation, authorizer, units, staff, outbox,
        campaigns, broadcasts, bulk_storage, bulk_channels, pace, sender,
    )
