"""``tipline audit verify`` and ``tipline audit show CODE``: check the audit log's hash chain, list a tip's entries."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from tipline.bootstrap import open_storage
from tipline.citizen.receipts import normalize_code
from tipline.cli import run_async
from tipline.config import load_settings
from tipline.i18n import TIMEZONE
from tipline.records.audit import AuditLog, latest_anchor
from tipline.storage.ports import Storage


async def _open(args: argparse.Namespace) -> tuple[Storage, AuditLog]:
    settings = load_settings()
    secret = None if getattr(args, "without_key", False) else settings.secret()
    storage = await open_storage(settings)
    # Secrets used before a rotation, newest first, to check the MACs written under them too.
    older = tuple(key.strip().encode() for key in os.environ.get("TIPLINE_OLD_SECRET_KEYS", "").split(",") if key.strip())
    return storage, AuditLog(secret=secret, older_secrets=older)


async def _verify(args: argparse.Namespace) -> int:
    anchor, count = args.anchor, None
    anchor_file = load_settings().tipline_audit_anchor_file
    if anchor is None and anchor_file is not None:
        latest = latest_anchor(anchor_file)  # written daily and at shutdown by the bot
        if latest is not None:
            anchor, count = latest.head_hash, latest.count
    db, log = await _open(args)
    try:
        result = await log.verify(db, anchor=anchor, use_key=not args.without_key, anchored_count=count)
    finally:
        await db.close()
    if result.ok:
        anchored = f", anchor found ({count} entries at the last anchor)" if count is not None else (
            ", anchor found" if anchor else ""
        )
        print(f"audit log intact: {result.count} entries, head {result.head_hash}{anchored}")
        if result.before_rotation:
            print(
                f"({result.before_rotation} entries from before a rotation of the secret were checked as a plain "
                "chain: set TIPLINE_OLD_SECRET_KEYS to check their MACs too)"
            )
        return 0
    where = f"entry {result.first_bad_id}" if result.first_bad_id is not None else "anchor"
    print(
        f"audit log NOT intact: {where}: {result.reason} "
        f"({result.count} entries verified before it, last good hash {result.head_hash})"
    )
    return 1


async def _show(args: argparse.Namespace) -> int:
    code = normalize_code(args.code)
    if code is None:
        print(f"tipline audit show: not a tip code: {args.code!r}", file=sys.stderr)
        return 2
    db, log = await _open(args)
    try:
        async with db.read() as uow:
            entries = await uow.audit.for_tip(code)
    finally:
        await db.close()
    if not entries:
        print(f"no audit entries for {code}", file=sys.stderr)
        return 1
    for entry in entries:
        actor = f"{entry.actor_role} {entry.actor_id}".strip()
        change = f"{entry.from_status or '-'} → {entry.to_status or '-'}" if entry.from_status or entry.to_status else ""
        fields = [f"#{entry.id}", entry.at.astimezone(TIMEZONE).strftime("%Y-%m-%d %H:%M:%S"), actor, entry.action]
        fields += [part for part in (change, entry.detail) if part]
        print("  ".join(fields))
    return 0


def register(subcommands: Any) -> None:
    audit = subcommands.add_parser("audit", help="the audit log: verify its hash chain, show a tip's history")
    actions = audit.add_subparsers(dest="audit_command", required=True)
    verify = actions.add_parser(
        "verify",
        help="check the hash chain (and MACs) of the whole log; prints the head hash to write down elsewhere",
    )
    verify.add_argument("--anchor", metavar="HASH", help="a head hash printed earlier: check it is still in the chain")
    verify.add_argument(
        "--without-key", action="store_true", help="check the plain hash chain only, without the server secret"
    )
    verify.set_defaults(handler=run_async(_verify))
    show = actions.add_parser("show", help="the audit entries of one tip, oldest first")
    show.add_argument("code", metavar="CODE", help="the tip code, e.g. TL-7K3Q-9XMP")
    show.set_defaults(handler=run_async(_show), without_key=True)
