"""The composition root: settings in, a ready service out."""

from __future__ import annotations

from .config import Settings
from .i18n import set_locales_dir
from .privacy import Keyring
from .service import Clock, Tipline, utcnow
from .storage.db import Database


async def bootstrap(settings: Settings, clock: Clock = utcnow) -> Tipline:
    set_locales_dir(settings.tipline_locales_dir)
    db = await Database.open(settings.tipline_db)
    return Tipline(db, Keyring(settings.secret()), clock=clock)
