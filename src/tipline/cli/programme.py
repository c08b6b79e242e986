"""``tipline report``: the programme report for the steering committees, per province and commune.

    tipline report --period 2026-11                 # a month; also 2026-Q4, 2026-H2, 2026
    tipline report --period 2026-Q4 --province "Cần Thơ" --output can-tho-q4.csv

Writes the CSV (UTF-8 with a byte order mark, formula-like cells neutralised) and a PNG chart beside it
(same name, .png), and prints a short summary. See ``tipline.records.programme``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from tipline.bootstrap import open_database
from tipline.cli import run_async
from tipline.config import load_settings
from tipline.i18n import DEFAULT_LANGUAGE, LANGUAGES, translator
from tipline.records import programme, reports


async def _report(args: argparse.Namespace) -> int:
    try:
        start, end = reports.parse_period(args.period)
        province = reports.resolve_province(args.province) if args.province else None
    except (reports.PeriodError, reports.ProvinceError) as exc:
        print(f"tipline report: {exc}", file=sys.stderr)
        return 2
    output: Path = args.output or Path(f"report-{args.period.strip().upper()}.csv")
    db = await open_database(load_settings())  # SQLite or PostgreSQL, as the bot is; counts need no secret
    try:
        report = await programme.programme_report(db, start, end, province)
    finally:
        await db.close()
    t = translator(args.lang)
    output.parent.mkdir(parents=True, exist_ok=True)
    with output.open("w", encoding="utf-8", newline="") as handle:
        handle.write(programme.to_csv(report))
    chart = output.with_suffix(".png")
    chart.write_bytes(programme.chart(report, t))
    print(programme.summary(report, t))
    print(f"written: {output} ({len(report.places)} places), {chart}", file=sys.stderr)
    return 0


def register(subcommands: Any) -> None:
    report = subcommands.add_parser(
        "report", help="programme report per province and commune: tips and outreach (CSV and PNG chart)"
    )
    report.add_argument("--period", required=True, help="a month (2026-11), quarter (2026-Q4), half-year (2026-H2) or year")
    report.add_argument("--province", help="a province code or name (e.g. 92, 'Cần Thơ')")
    report.add_argument("--output", type=Path, metavar="FILE.csv", help="where to write the CSV (the chart goes beside it)")
    report.add_argument("--lang", choices=LANGUAGES, default=DEFAULT_LANGUAGE, help="language of the summary and chart")
    report.set_defaults(handler=run_async(_report))
