"""The composition root: settings in, a ready service out (with the moderator queue wired to it)."""

from __future__ import annotations

from datetime import timedelta

from tipline.citizen.service import Clock, Tipline, utcnow
from tipline.config import Settings
from tipline.i18n import set_locales_dir
from tipline.privacy.keys import Keyring
from tipline.staff.moderation import Deadlines, Moderation
from tipline.staff.views import Queue
from tipline.storage.sqlite.database import Database
from tipline.tips import Tip


async def bootstrap(settings: Settings, clock: Clock = utcnow) -> Tipline:
    if settings.tipline_locales_dir is not None:
        set_locales_dir(settings.tipline_locales_dir)
    db = await Database.open(settings.tipline_db)
    secret = settings.secret()
    service = Tipline(db, Keyring(secret), clock=clock)
    deadlines = Deadlines(
        acknowledge=timedelta(hours=settings.tipline_ack_hours), outcome=timedelta(hours=settings.tipline_outcome_hours)
    )
    service.moderation = Moderation(db, clock, deadlines, secret)
    service.queue = Queue(db)
    queue, moderation = service.queue, service.moderation

    async def assess(tip: Tip) -> None:
        await queue.assess_tip(tip, clock())

    async def followup(tip: Tip, text: str, has_file: bool) -> None:
        await moderation.tipster_wrote(tip.id, text, has_file)

    service.on_tip = assess
    service.on_followup = followup
    return service
