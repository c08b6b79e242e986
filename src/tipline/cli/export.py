"""``tipline export`` and ``tipline stats``: the tips of a period for the provinces' statistical reports.

Neither output holds identities or free text (see ``tipline.records.reports``).
"""

from __future__ import annotations

import argparse
import os
import sys
from datetime import date
from pathlib import Path
from typing import Any

from tipline.bootstrap import open_storage
from tipline.cli import run_async
from tipline.config import load_settings
from tipline.i18n import DEFAULT_LANGUAGE, LANGUAGES, translator
from tipline.records import reports


class _UsageError(Exception):
    pass


def _period(args: argparse.Namespace) -> tuple[date, date]:
    if args.period:
        if args.date_from or args.date_to:
            raise _UsageError("give either --period or --from/--to, not both")
        return reports.parse_period(args.period)
    if not (args.date_from and args.date_to):
        raise _UsageError("give --period (2026-11, 2026-Q3, 2026-H1, 2026) or both --from and --to")
    start, end = reports.parse_date(args.date_from), reports.parse_date(args.date_to)
    reports.utc_bounds(start, end)  # raises for an empty period
    return start, end


def _scope(args: argparse.Namespace, command: str) -> tuple[date, date, int | None] | None:
    try:
        start, end = _period(args)
        province = reports.resolve_province(args.province) if args.province else None
    except (_UsageError, reports.PeriodError, reports.ProvinceError) as exc:
        print(f"tipline {command}: {exc}", file=sys.stderr)
        return None
    return start, end, province


async def _export(args: argparse.Namespace) -> int:
    scope = _scope(args, "export")
    if scope is None:
        return 2
    start, end, province = scope
    fmt = args.format or ("json" if args.output and args.output.suffix.lower() == ".json" else "csv")
    db = await open_storage(load_settings())
    try:
        rows = await reports.report_rows(db, start, end, province)
    finally:
        await db.close()
    text = reports.to_csv(rows, args.lang) if fmt == "csv" else reports.to_json(rows, start, end, province)
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        # Readable by the owner only, from the moment it exists (and also when it replaces an older file).
        fd = os.open(args.output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(fd, 0o600)
        # newline="": the CSV already ends its lines with CRLF.
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
        print(f"{len(rows)} tips from {start} to {end} written to {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


async def _stats(args: argparse.Namespace) -> int:
    scope = _scope(args, "stats")
    if scope is None:
        return 2
    start, end, province = scope
    db = await open_storage(load_settings())
    try:
        result = await reports.stats(db, start, end, province, top=args.top)
    finally:
        await db.close()
    print(reports.format_stats(result, translator(args.lang)))
    return 0


def _add_scope(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--period", help="a month (2026-11), quarter (2026-Q3), half-year (2026-H1) or year (2026)")
    parser.add_argument("--from", dest="date_from", metavar="DATE", help="first day, YYYY-MM-DD (Vietnam time)")
    parser.add_argument("--to", dest="date_to", metavar="DATE", help="last day, YYYY-MM-DD (included)")
    parser.add_argument("--province", help="a province code or name (e.g. 92, 'Cần Thơ', 'HCM')")


def register(subcommands: Any) -> None:
    export = subcommands.add_parser(
        "export", help="tips created in a period, without identities or free text (CSV for Excel, or JSON)"
    )
    _add_scope(export)
    export.add_argument("--format", choices=reports.FORMATS, help="csv (default; UTF-8 with BOM) or json")
    export.add_argument("--output", type=Path, metavar="FILE", help="write to FILE instead of standard output")
    export.add_argument(
        "--lang", choices=LANGUAGES, default=DEFAULT_LANGUAGE, help="language of the CSV's headers and values"
    )
    export.set_defaults(handler=run_async(_export))

    stats = subcommands.add_parser("stats", help="a short summary of a period's tips for moderators")
    _add_scope(stats)
    stats.add_argument("--lang", choices=LANGUAGES, default=DEFAULT_LANGUAGE, help="language of the summary")
    stats.add_argument("--top", type=int, default=10, help="how many communes to list (default 10)")
    stats.set_defaults(handler=run_async(_stats))
