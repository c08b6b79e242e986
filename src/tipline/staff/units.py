"""The police unit directory: which commune police unit ("Công an xã/phường/đặc khu") receives the tips
about a commune, and the chat each unit reads them in.

- Units come from a CSV file (``code,name,province,communes``) checked against the official directory
  (:mod:`tipline.places.communes`) and imported all-or-nothing: one bad row and nothing is written.
- A commune belongs to at most one unit; ``uow.units.active_for_commune`` is the routing lookup.
- A unit's chat is linked with a one-time invite code (``UNIT-XXXX-XXXX``) that a moderator creates and
  the unit sends to the bot from its chat. Only a keyed hash of the code is stored.

Units are identified officials, not tipsters: their chats are kept in clear.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from tipline.citizen.receipts import ALPHABET, random_groups
from tipline.delivery.model import Address
from tipline.places.communes import Commune, Province, directory
from tipline.places.textnorm import fold, has_marks, marks
from tipline.staff.model import Unit, UnitRow, UpsertCounts
from tipline.storage.ports import ChatAlreadyLinked, CodeTaken, CommuneTaken, Storage

__all__ = [
    "COLUMNS",
    "INVITE_PREFIX",
    "INVITE_TTL",
    "ChatAlreadyLinked",
    "CommuneTaken",
    "ImportReport",
    "RowError",
    "UnitDirectory",
    "Unit",
    "UnitRow",
    "UpsertCounts",
    "import_units",
    "new_invite_code",
    "normalize_invite",
    "parse_units_csv",
]

COLUMNS = ("code", "name", "province", "communes")
INVITE_PREFIX = "UNIT"
INVITE_TTL = timedelta(hours=24)
_INVITE_GROUPS = (4, 4)
_INVITE_KEY_LABEL = b"tipline/unit-invite/v1"

# Unit codes are typed by operators (``tipline units invite CA-31117``): ASCII, no spaces, compared
# without regard to case (as the database does, COLLATE NOCASE).
_UNIT_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,63}$")
MAX_NAME_LENGTH = 200


# ------------------------------------------------------------------------------------------ records


@dataclass(frozen=True, slots=True)
class RowError:
    """A problem in a units CSV: ``line`` is the 1-based line in the file (1 is the header)."""

    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


@dataclass(frozen=True, slots=True)
class ImportReport:
    """What an import did. ``written`` is False when there were errors (nothing written) or on a dry run."""

    units: int
    communes: int
    errors: tuple[RowError, ...] = ()
    counts: UpsertCounts = field(default_factory=UpsertCounts)
    written: bool = False

    @property
    def ok(self) -> bool:
        return not self.errors


# ------------------------------------------------------------------------------------------ invites


def new_invite_code() -> str:
    """A one-time code such as UNIT-7K3Q-9XMP (30^8 ≈ 6.6·10^11 possibilities)."""
    return f"{INVITE_PREFIX}-{random_groups(_INVITE_GROUPS)}"


def normalize_invite(text: str) -> str | None:
    """'unit 7k3q 9xmp', '/link UNIT-7K3Q-9XMP' or '7K3Q9XMP' -> 'UNIT-7K3Q-9XMP'; None if it is not a code."""
    raw = re.sub(r"[^0-9A-Z]", "", text.upper())
    if raw.startswith("LINK"):
        raw = raw[4:]
    if raw.startswith(INVITE_PREFIX):
        raw = raw[len(INVITE_PREFIX) :]
    if len(raw) != sum(_INVITE_GROUPS) or any(ch not in ALPHABET for ch in raw):
        return None
    parts, start = [], 0
    for size in _INVITE_GROUPS:
        parts.append(raw[start : start + size])
        start += size
    return "-".join((INVITE_PREFIX, *parts))


# ------------------------------------------------------------------------------------------ service


class UnitDirectory:
    """Imports units and links their chats with one-time invites. ``secret`` (the server secret) keys the
    invite hashes: only a keyed hash of an invite code is stored."""

    def __init__(self, storage: Storage, secret: bytes) -> None:
        self.storage = storage
        self._invite_key = hmac.new(secret, _INVITE_KEY_LABEL, hashlib.sha256).digest()

    def _hash(self, canonical: str) -> str:
        return hmac.new(self._invite_key, canonical.encode(), hashlib.sha256).hexdigest()

    async def create_invite(self, unit_id: int, created_by: str, now: datetime, ttl: timedelta = INVITE_TTL) -> str:
        """A one-time code for the unit's chat, valid for ``ttl``. Raises KeyError for an unknown unit."""
        for _ in range(5):
            code = new_invite_code()
            try:
                async with self.storage.uow() as uow:
                    if await uow.units.by_id(unit_id) is None:
                        raise KeyError(unit_id)
                    await uow.units.add_invite(unit_id, self._hash(code), created_by, now, now + ttl)
            except CodeTaken:
                continue  # the same code twice: astronomically rare, draw again
            return code
        raise RuntimeError("could not draw an unused invite code")

    async def redeem_invite(self, code: str, chat: Address, now: datetime) -> tuple[Unit | None, bool]:
        """Links ``chat`` to the invite's unit: (the unit, True). A unit already linked to another chat is not
        moved: the move waits for an admin's /relink, (the unit, False). (None, False) for an unknown, used
        or expired code. Atomic: of two chats redeeming one code, exactly one succeeds. Raises
        ChatAlreadyLinked (the code stays unused) when the chat is another unit's chat."""
        canonical = normalize_invite(code)
        if canonical is None:
            return None, False
        async with self.storage.uow() as uow:
            invite = await uow.units.invite(self._hash(canonical))
            if invite is None or invite.used_at is not None or invite.expires_at <= now:
                return None, False
            unit = await uow.units.by_id(invite.unit_id)
            if unit is None:
                return None, False
            other = await uow.units.active_by_chat(chat)
            if other is not None and other.id != unit.id:
                raise ChatAlreadyLinked(other.code)
            if unit.chat is not None and unit.chat != chat:
                await uow.units.request_relink(unit.id, chat, now)
                return unit, False
            linked = await uow.units.link_chat(invite.unit_id, chat, now)
            await uow.units.use_invites(invite.unit_id, now)
            return linked, True


# ------------------------------------------------------------------------------------------ CSV


def _clean_label(text: str) -> str:
    return " ".join(text.split())


def _commune_label(commune: Commune) -> str:
    return f"{_clean_label(directory().label(commune))} ({commune.code})"


def _province_label(province: Province) -> str:
    return f"{province.short_name} ({province.code})"


def _resolve_province(value: str) -> tuple[Province | None, str | None]:
    d = directory()
    if not value:
        return None, "province is empty (write its code, e.g. 92, or its name, e.g. Cần Thơ)"
    if value.isdigit():
        province = d.province(int(value))
        if province is None:
            return None, f"unknown province code {value}"
        return province, None
    matches = d.search_provinces(value, limit=40)
    exact = [m for m in matches if m.score >= 1.0]
    current = {m.province.code: m.province for m in exact if m.former is None}
    if len(current) == 1:
        return next(iter(current.values())), None
    if len(current) > 1:
        names = ", ".join(_province_label(p) for p in current.values())
        return None, f'province "{value}" is ambiguous: {names}; write its code'
    former = [m for m in exact if m.former is not None]
    if former:
        m = former[0]
        return None, (
            f'"{value}" is a former province, part of {m.province.short_name} since 1 July 2025: '
            f"write {m.province.short_name} or {m.province.code}"
        )
    hint = ", ".join(_province_label(m.province) for m in matches[:3])
    return None, f'unknown province "{value}"' + (f"; did you mean {hint}?" if hint else "")


def _written_as(item: str, commune: Commune) -> bool:
    """True if ``item`` is the commune's name (with or without its type word) with exactly its diacritics."""
    return any(fold(item) == fold(name) and marks(item) == marks(name) for name in (commune.name, commune.short_name))


def _resolve_commune(item: str, province: Province) -> tuple[Commune | None, str | None]:
    d = directory()
    if item.isdigit():
        commune = d.commune(int(item))
        if commune is None:
            return None, f"unknown commune code {item}"
        if commune.province_code != province.code:
            home = d.province(commune.province_code)
            assert home is not None
            return None, f"commune {_commune_label(commune)} is in {home.short_name}, not in {province.short_name}"
        return commune, None
    matches = d.search(item, province_code=province.code)
    exact = [m for m in matches if m.score >= 1.0]
    if len(exact) > 1 and has_marks(item):
        # "Đông Tiến" beside "Đồng Tiến": diacritics as written pick one (tone placement aside). Without
        # any diacritics, "thanh an" may be either Thanh An or Thạnh An: ambiguous.
        exact = [m for m in exact if _written_as(item, m.commune)] or exact
    if len(exact) == 1:
        return exact[0].commune, None
    if exact:
        names = ", ".join(_commune_label(m.commune) for m in exact)
        return None, (
            f'commune "{item}" is ambiguous in {province.short_name}: {names}; '
            "write its code, or its full name with diacritics"
        )
    elsewhere = [m for m in d.search(item) if m.score >= 1.0]
    if elsewhere:
        places = ", ".join(f"{_commune_label(m.commune)} in {m.province.short_name}" for m in elsewhere[:3])
        return None, f'commune "{item}" is not in {province.short_name}: found {places}'
    hint = ", ".join(_commune_label(m.commune) for m in matches[:3])
    message = f'commune "{item}" not found in {province.short_name}'
    return None, message + (f"; did you mean {hint}?" if hint else "")


def parse_units_csv(text: str) -> tuple[list[UnitRow], list[RowError]]:
    """Checks a units CSV against the official directory; returns the valid rows and every problem.

    Columns (header row required, any order): ``code,name,province,communes``. ``province`` is a province
    code or its exact name; ``communes`` is a ``;``-separated list of commune codes or names (a name must
    match exactly one commune of the province). UTF-8 with or without BOM, any line endings; blank lines
    are skipped. Line numbers count physical lines of the file, the header being line 1 (or later, after
    leading blank lines).
    """
    if text.startswith("\ufeff"):
        text = text[1:]
    rows: list[UnitRow] = []
    errors: list[RowError] = []
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    index: dict[str, int] | None = None
    header_width = 0
    seen_codes: dict[str, int] = {}
    seen_communes: dict[int, tuple[int, str]] = {}
    end = 0
    while True:
        start = end + 1
        try:
            record = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            errors.append(RowError(reader.line_num or start, f"malformed CSV ({exc}); the rest was not read"))
            break
        end = reader.line_num
        if not any(value.strip() for value in record):
            continue
        if index is None:
            index, header_errors = _read_header(record, start)
            header_width = len(record)
            errors.extend(header_errors)
            if index is None:
                return [], errors
            continue
        row_errors: list[str] = []
        if len(record) < header_width and all(i < len(record) for i in index.values()):
            record = record + [""] * (header_width - len(record))  # only unknown trailing columns are missing
        if len(record) != header_width:
            errors.append(RowError(start, (
                f"{len(record)} fields where the header has {header_width}; "
                "a name or list containing commas must be in double quotes"
            )))
            continue
        values = {column: record[i].strip() for column, i in index.items()}

        code = values["code"]
        if not code:
            row_errors.append("unit code is empty")
        elif not _UNIT_CODE.match(code):
            row_errors.append(
                f'unit code "{code}" is not valid: up to 64 letters A-Z, digits and . _ / -, no spaces'
            )
        elif code.lower() in seen_codes:
            row_errors.append(f'unit code "{code}" is already used on line {seen_codes[code.lower()]}')
        else:
            seen_codes[code.lower()] = start

        name = _clean_label(values["name"])
        if not name:
            row_errors.append("unit name is empty")
        elif len(name) > MAX_NAME_LENGTH:
            row_errors.append(f"unit name is longer than {MAX_NAME_LENGTH} characters")

        province, problem = _resolve_province(values["province"])
        if problem:
            row_errors.append(problem)

        communes: list[int] = []
        items = [item.strip() for item in values["communes"].split(";")]
        items = [item for item in items if item]
        if not items:
            row_errors.append("no communes listed (codes or names separated by ;)")
        elif province is not None:
            for item in items:
                commune, problem = _resolve_commune(item, province)
                if commune is None:
                    row_errors.append(problem or f'commune "{item}" not found')
                elif commune.code in communes:
                    row_errors.append(f"commune {_commune_label(commune)} is listed twice in this row")
                elif commune.code in seen_communes:
                    line, owner = seen_communes[commune.code]
                    row_errors.append(
                        f"commune {_commune_label(commune)} is already listed on line {line} (unit {owner})"
                    )
                else:
                    communes.append(commune.code)
            for commune_code in communes:
                seen_communes[commune_code] = (start, code)

        if row_errors:
            errors.extend(RowError(start, message) for message in row_errors)
        else:
            assert province is not None
            rows.append(UnitRow(code, name, province.code, tuple(communes), start))
    if index is None and not errors:
        errors.append(RowError(1, f"the file is empty: a header row {','.join(COLUMNS)} is required"))
    return rows, errors


def _read_header(record: list[str], line: int) -> tuple[dict[str, int] | None, list[RowError]]:
    names = [value.strip().lower() for value in record]
    if len(names) == 1 and (";" in names[0] or "\t" in names[0]):
        separator = "';'" if ";" in names[0] else "a tab"
        return None, [RowError(line, (
            f"columns are separated by {separator}: save the file as CSV UTF-8 (comma-delimited), "
            f"header {','.join(COLUMNS)}"
        ))]
    if not set(names) & set(COLUMNS):
        found = ",".join(value.strip() for value in record)
        return None, [RowError(line, f"header row required: the first line must be {','.join(COLUMNS)}, not {found}")]
    errors: list[RowError] = []
    index: dict[str, int] = {}
    unknown = []
    for i, name in enumerate(names):
        if name in COLUMNS:
            if name in index:
                errors.append(RowError(line, f'column "{name}" appears twice in the header'))
            index.setdefault(name, i)
        else:
            unknown.append(record[i].strip() or f"(empty, column {i + 1})")
    if unknown:
        errors.append(RowError(line, (
            f"unknown column(s) {', '.join(repr(u) for u in unknown)}; the header must be {','.join(COLUMNS)}"
        )))
    missing = [name for name in COLUMNS if name not in index]
    if missing:
        errors.append(RowError(line, (
            f"header row required with columns {','.join(COLUMNS)}; missing {', '.join(missing)}"
        )))
        return None, errors
    return index, errors


async def import_units(storage: Storage, text: str, now: datetime | None = None, dry_run: bool = False) -> ImportReport:
    """Parses a units CSV and writes it in one transaction: every unit, or nothing if any row is bad.

    Units are matched by code: re-importing a file changes nothing, and an edited file updates names,
    provinces and commune lists. Units absent from the file are left as they are; a commune covered by
    such a unit is an error. ``dry_run`` checks everything and writes nothing.
    """
    now = now or datetime.now(UTC)
    rows, errors = parse_units_csv(text)
    communes = [commune for row in rows for commune in row.communes]
    async with storage.uow() as uow:
        for row, commune_code, owner, owner_name in _taken_by_others(rows, await uow.units.owners(communes)):
            commune = directory().commune(commune_code)
            assert commune is not None
            errors.append(RowError(row.line, (
                f'commune {_commune_label(commune)} already belongs to unit {owner} ("{owner_name}"), '
                "which is not in this file: remove it there first, or include that unit with its new communes"
            )))
        errors.sort(key=lambda e: e.line)
        report = ImportReport(units=len(rows), communes=len(communes), errors=tuple(errors))
        if errors or dry_run:
            return report
        counts = await uow.units.upsert(rows, now)
    return ImportReport(units=len(rows), communes=len(communes), counts=counts, written=True)


def _taken_by_others(rows: list[UnitRow], owners: dict[int, tuple[str, str]]) -> list[tuple[UnitRow, int, str, str]]:
    """(row, commune, owner code, owner name) for communes covered by a unit the rows do not redefine.

    A unit present in the rows gets its commune list replaced, so its communes may move to another row.
    """
    redefined = {row.code.lower() for row in rows}
    found = []
    for row in rows:
        for commune in row.communes:
            owner = owners.get(commune)
            if owner is not None and owner[0].lower() not in redefined:
                found.append((row, commune, owner[0], owner[1]))
    return found
