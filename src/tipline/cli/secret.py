"""``tipline secret rotate``: moves a database to a new server secret.

The old secret is given once (TIPLINE_OLD_SECRET_KEY, or typed at the prompt); the new one is
TIPLINE_SECRET_KEY, as the bot will read it. In one transaction: every sealed chat reference (tip updates and
outreach subscribers) is unsealed with the old key and sealed with the new one, and each subscriber's lookup
key is computed anew (a stopped subscriber has neither: both went when it stopped); what is keyed by the old secret and cannot be re-keyed without
knowing the chats (conversation state, counters, slowdowns, pending unit invites) is dropped; the audit log
records the rotation (its entry is the last one MAC'd under the old secret, so `audit verify` spans it); and
the database's secret fingerprint becomes the new one's.
"""

from __future__ import annotations

import argparse
import getpass
import os
from datetime import UTC, datetime
from typing import Any

from cryptography.exceptions import InvalidTag

from tipline.bootstrap import SECRET_FINGERPRINT, open_database
from tipline.cli import run_async
from tipline.config import ConfigError, load_settings
from tipline.i18n import TIMEZONE
from tipline.privacy.keys import Keyring
from tipline.records.audit import ROTATED, AuditEntry, AuditLog


async def _rotate(args: argparse.Namespace) -> int:
    settings = load_settings()
    new_secret = settings.secret()
    old_text = os.environ.get("TIPLINE_OLD_SECRET_KEY") or getpass.getpass("The old TIPLINE_SECRET_KEY: ")
    old_secret = old_text.strip().encode()
    old, new = Keyring(old_secret), Keyring(new_secret)
    if old.fingerprint() == new.fingerprint():
        raise ConfigError("the new TIPLINE_SECRET_KEY is the same as the old one")
    storage = await open_database(settings)
    now = datetime.now(UTC)
    try:
        async with storage.uow() as uow:
            stored = await uow.meta.get(SECRET_FINGERPRINT)
            if stored is not None and stored != old.fingerprint():
                where = "the PostgreSQL database" if settings.tipline_database_url else str(settings.tipline_db)
                raise ConfigError(f"the old secret given is not the one {where} was written with")
            links = await uow.subscriptions.all()
            resealed = 0
            for link in links:
                try:
                    channel, chat = old.unseal(link.sealed_ref)
                except InvalidTag:
                    continue  # unreadable already: dropped below with the rest of its kind
                await uow.subscriptions.add(link.tip_id, new.seal(channel, chat), now.replace(minute=0, second=0, microsecond=0))
                resealed += 1
            await uow.subscriptions.remove([link.id for link in links])
            subscribers = 0
            for subscriber in await uow.subscribers.all():
                if subscriber.sealed_ref is None:
                    continue  # stopped: its seal and keyed hash went when it stopped
                try:
                    channel, chat = old.unseal(subscriber.sealed_ref)
                except InvalidTag:  # stopping drops what was sealed and keyed under the old secret
                    await uow.subscribers.stop(subscriber.id, now.astimezone(TIMEZONE).date(), "stop", "secret rotated: chat unreadable")
                    continue
                await uow.subscribers.rekey(subscriber.id, new.outreach_key(channel, chat), new.seal(channel, chat))
                subscribers += 1
            dropped = await uow.sessions.purge(datetime.max.replace(tzinfo=UTC))
            await uow.counters.purge(datetime.max.replace(tzinfo=UTC))
            await uow.throttles.purge(datetime.max.replace(tzinfo=UTC))
            invites = await uow.units.void_pending_invites(now)
            await AuditLog(new_secret).append_rotation(
                uow,
                AuditEntry(at=now, actor_role="system", action=ROTATED, detail=f"to {new.fingerprint()}"),
                old_secret,
            )
            await uow.meta.set(SECRET_FINGERPRINT, new.fingerprint())
        await storage.checkpoint()
    finally:
        await storage.close()
    print(
        f"secret rotated: {resealed} chat links and {subscribers} outreach subscribers re-sealed; {dropped} conversations (drafts and settings) and "
        f"{invites} pending unit invites dropped; audit log records the rotation"
    )
    return 0


def register(subcommands: Any) -> None:
    secret = subcommands.add_parser("secret", help="the server secret")
    actions = secret.add_subparsers(dest="secret_command", required=True)
    rotate = actions.add_parser(
        "rotate",
        help="move the database to the secret in TIPLINE_SECRET_KEY; the old one comes from TIPLINE_OLD_SECRET_KEY "
        "or the prompt",
    )
    rotate.set_defaults(handler=run_async(_rotate))

