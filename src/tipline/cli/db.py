"""``tipline db copy --from sqlite:PATH --to postgresql://...``: moves a deployment to PostgreSQL."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from tipline.cli import run_async
from tipline.storage.copy import DestinationNotEmpty, copy_database
from tipline.storage.postgres.store import PgStorage
from tipline.storage.sqlite.store import SqliteStorage


async def _copy(args: argparse.Namespace) -> int:
    source, target = args.source, args.target
    if not source.startswith("sqlite:") or not target.startswith(("postgresql://", "postgres://")):
        print("tipline db copy: --from sqlite:PATH --to postgresql://...", file=sys.stderr)
        return 2
    path = Path(source.removeprefix("sqlite:"))
    if not path.exists():
        print(f"tipline db copy: no database at {path}", file=sys.stderr)
        return 2
    sqlite = await SqliteStorage.open(path)
    try:
        postgres = await PgStorage.open(target)
        try:
            report = await copy_database(sqlite, postgres)
        except DestinationNotEmpty as exc:
            print(f"tipline db copy: {exc}; nothing was copied", file=sys.stderr)
            return 1
        finally:
            await postgres.close()
    finally:
        await sqlite.close()
    total = sum(report.rows.values())
    details = ", ".join(f"{table} {count}" for table, count in report.rows.items() if count)
    print(f"copied {total} rows ({details}); check it with TIPLINE_DATABASE_URL={target} tipline audit verify")
    return 0


def register(subcommands: Any) -> None:
    db = subcommands.add_parser("db", help="the database itself")
    actions = db.add_subparsers(dest="db_command", required=True)
    copy = actions.add_parser("copy", help="copy a SQLite deployment into an empty PostgreSQL database")
    copy.add_argument("--from", dest="source", required=True, metavar="sqlite:PATH")
    copy.add_argument("--to", dest="target", required=True, metavar="postgresql://...")
    copy.set_defaults(handler=run_async(_copy))
