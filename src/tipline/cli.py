"""``tipline``: operator tasks (database migration, purging expired data, checking configuration).

Later issues add units import, export and audit here.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

from .bootstrap import bootstrap
from .config import ConfigError, load_settings
from .storage.db import Database


async def _migrate() -> int:
    settings = load_settings()
    db = await Database.open(settings.tipline_db)
    try:
        version = await db.schema_version()
    finally:
        await db.close()
    print(f"database {settings.tipline_db} is at schema version {version}")
    return 0


async def _purge() -> int:
    service = await bootstrap(load_settings())
    try:
        await service.purge()
    finally:
        await service.db.close()
    print("expired drafts, sessions and counters removed")
    return 0


def _check() -> int:
    settings = load_settings()
    settings.secret()
    mode = "Telegram bot" if settings.telegram_bot_token else "local console mode"
    print(f"configuration is valid: {mode}, database {settings.tipline_db}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tipline", description="Tipline operator tasks.")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("migrate", help="create the database or bring its schema up to date")
    commands.add_parser("purge", help="delete idle drafts, idle chat settings and expired counters")
    commands.add_parser("check-config", help="validate the configuration from the environment")
    args = parser.parse_args(argv)
    try:
        if args.command == "migrate":
            return asyncio.run(_migrate())
        if args.command == "purge":
            return asyncio.run(_purge())
        return _check()
    except ConfigError as exc:
        print(f"tipline: configuration error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
