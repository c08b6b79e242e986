"""``tipline units``: import the police unit directory from CSV, list it, and invite a unit's chat."""

from __future__ import annotations

import argparse
import getpass
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tipline.bootstrap import open_storage
from tipline.cli import run_async
from tipline.config import load_settings
from tipline.places.communes import directory
from tipline.staff.units import INVITE_TTL, UnitDirectory, import_units
from tipline.storage.ports import Storage


def register(subcommands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subcommands.add_parser("units", help="police units: import the directory, list it, invite a unit's chat")
    units = parser.add_subparsers(dest="units_command", required=True)

    importer = units.add_parser(
        "import",
        help="import units from a CSV file (code,name,province,communes); all rows or none",
        description="Import police units from a UTF-8 CSV file with the header code,name,province,communes. "
        "Nothing is written if any row is bad; re-importing a file updates the units it names.",
    )
    importer.add_argument("file", type=Path, help="the CSV file")
    importer.add_argument("--dry-run", action="store_true", help="check the file without writing anything")
    importer.set_defaults(handler=run_async(_import))

    lister = units.add_parser("list", help="list the units, their communes and whether their chat is linked")
    lister.add_argument("--province", help="only this province (code or name)")
    lister.add_argument("--communes", action="store_true", help="also list each unit's communes")
    lister.set_defaults(handler=run_async(_list))

    inviter = units.add_parser(
        "invite",
        help="print a one-time code linking a unit's Telegram chat (/link UNIT-XXXX-XXXX)",
        description="Print a one-time code for the unit's chat to send to the bot. It links the chat the "
        "first time it is used and expires after --days days.",
    )
    inviter.add_argument("code", help="the unit's code, as in the CSV")
    inviter.add_argument("--days", type=int, default=INVITE_TTL.days, help="validity in days (default %(default)s)")
    inviter.add_argument("--by", default=None, help="who issued the invite, for the record (default: your login)")
    inviter.set_defaults(handler=run_async(_invite))


async def _open() -> tuple[Storage, bytes]:
    settings = load_settings()
    secret = settings.secret()
    return await open_storage(settings), secret


async def _import(args: argparse.Namespace) -> int:
    path: Path = args.file
    try:
        raw = path.read_bytes()
    except OSError as exc:
        print(f"tipline: cannot read {path}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        print(
            f"{path}: not UTF-8 text (byte {exc.start}); save it as \"CSV UTF-8 (comma delimited)\"",
            file=sys.stderr,
        )
        return 1
    db, _ = await _open()
    try:
        report = await import_units(db, text, dry_run=args.dry_run)
    finally:
        await db.close()
    if report.errors:
        for error in report.errors:
            print(f"{path}:{error.line}: {error.message}", file=sys.stderr)
        lines = len({error.line for error in report.errors})
        print(
            f"nothing imported: {len(report.errors)} error(s) on {lines} line(s)",
            file=sys.stderr,
        )
        return 1
    if args.dry_run:
        print(f"checked: {report.units} units covering {report.communes} communes; nothing written (--dry-run)")
        return 0
    counts = report.counts
    print(
        f"imported {report.units} units covering {report.communes} communes "
        f"({counts.created} new, {counts.updated} updated, {counts.unchanged} unchanged)"
    )
    return 0


async def _list(args: argparse.Namespace) -> int:
    d = directory()
    province_code = None
    if args.province:
        value = args.province.strip()
        if value.isdigit() and d.province(int(value)):
            province_code = int(value)
        else:
            exact = [m for m in d.search_provinces(value) if m.score >= 1.0]
            if not exact:
                print(f"tipline: unknown province {value!r}", file=sys.stderr)
                return 1
            province_code = exact[0].province.code
    db, _secret = await _open()
    try:
        async with db.read() as uow:
            units = await (uow.units.all() if province_code is None else uow.units.in_province(province_code))
    finally:
        await db.close()
    if not units:
        print("no units" + (" in this province" if province_code is not None else ""))
        return 0
    table = [("CODE", "PROVINCE", "COMMUNES", "CHAT", "NAME")]
    for unit in units:
        province = d.province(unit.province_code)
        table.append((
            unit.code,
            province.short_name if province else str(unit.province_code),
            str(len(unit.communes)),
            ("linked" if unit.chat is not None else "not linked") + ("" if unit.active else ", inactive"),
            unit.name,
        ))
    widths = [max(len(row[i]) for row in table) for i in range(4)]
    for index, row in enumerate(table):
        print("  ".join(value.ljust(width) for value, width in zip(row[:4], widths, strict=False)) + "  " + row[4])
        if args.communes and index > 0:
            for code in units[index - 1].communes:
                commune = d.commune(code)
                print(f"    {code:>5}  {' '.join(commune.name.split()) if commune else '?'}")
    linked = sum(unit.chat is not None for unit in units)
    communes = sum(len(unit.communes) for unit in units)
    print(f"{len(units)} units covering {communes} communes; {linked} linked to a chat")
    return 0


async def _invite(args: argparse.Namespace) -> int:
    if args.days < 1:
        print("tipline: --days must be at least 1", file=sys.stderr)
        return 1
    db, secret = await _open()
    try:
        async with db.read() as uow:
            unit = await uow.units.by_code(args.code)
        if unit is None:
            print(f"tipline: no unit with code {args.code!r} (see `tipline units list`)", file=sys.stderr)
            return 1
        now = datetime.now(UTC)
        code = await UnitDirectory(db, secret).create_invite(unit.id, args.by or _operator(), now, timedelta(days=args.days))
    finally:
        await db.close()
    expires = (now + timedelta(days=args.days)).astimezone().strftime("%Y-%m-%d %H:%M %Z")
    print(
        f"One-time code for {unit.code} ({unit.name}), valid until {expires}. "
        "Send this message to the bot from the unit's Telegram chat:",
        file=sys.stderr,
    )
    print(f"/link {code}")
    return 0


def _operator() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (OSError, KeyError):
        return "cli"
