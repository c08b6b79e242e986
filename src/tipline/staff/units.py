"""The police unit directory: which commune police unit ("Công an xã/phường/đặc khu") receives the tips
about a commune, and the Telegram chat each unit reads them in.

- Units come from a CSV file (``code,name,province,communes``) checked against the official directory
  (:mod:`tipline.places.communes`) and imported all-or-nothing: one bad row and nothing is written.
- A commune belongs to at most one unit; :meth:`SqliteUnits.for_commune` is the routing lookup.
- A unit's chat is linked with a one-time invite code (``UNIT-XXXX-XXXX``) that a moderator creates and
  the unit sends to the bot from its chat. Only a keyed hash of the code is stored.

Units are identified officials, not tipsters: their chat ids are kept in clear.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import re
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import aiosqlite

from tipline.citizen.receipts import ALPHABET
from tipline.places.communes import Commune, Province, directory
from tipline.places.textnorm import fold, has_marks, marks
from tipline.storage.sqlite.database import Database

__all__ = [
    "COLUMNS",
    "INVITE_PREFIX",
    "INVITE_TTL",
    "ChatAlreadyLinked",
    "CommuneTaken",
    "ImportReport",
    "RowError",
    "SqliteUnits",
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
INVITE_TTL = timedelta(days=7)
_INVITE_GROUPS = (4, 4)
_INVITE_KEY_LABEL = b"tipline/unit-invite/v1"

# Unit codes are typed by operators (``tipline units invite CA-31117``): ASCII, no spaces, compared
# without regard to case (as the database does, COLLATE NOCASE).
_UNIT_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,63}$")
MAX_NAME_LENGTH = 200


# ------------------------------------------------------------------------------------------ records


@dataclass(frozen=True, slots=True)
class Unit:
    id: int
    code: str
    name: str
    province_code: int
    chat_id: int | None
    linked_at: datetime | None
    active: bool
    created_at: datetime
    updated_at: datetime
    communes: tuple[int, ...] = ()  # commune codes, ascending


@dataclass(frozen=True, slots=True)
class UnitRow:
    """One valid row of a units CSV, resolved to official codes."""

    code: str
    name: str
    province_code: int
    communes: tuple[int, ...]
    line: int = 0


@dataclass(frozen=True, slots=True)
class RowError:
    """A problem in a units CSV: ``line`` is the 1-based line in the file (1 is the header)."""

    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


@dataclass(frozen=True, slots=True)
class UpsertCounts:
    created: int = 0
    updated: int = 0
    unchanged: int = 0


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


class CommuneTaken(Exception):
    """Communes already covered by a unit that the rows being written do not include."""

    def __init__(self, taken: list[tuple[int, str]]) -> None:
        self.taken = taken  # (commune code, owning unit code)
        super().__init__(", ".join(f"{commune} belongs to {owner}" for commune, owner in taken))


class ChatAlreadyLinked(Exception):
    """The chat is already the chat of another unit; unlink it there first."""

    def __init__(self, chat_id: int, unit_code: str) -> None:
        self.chat_id = chat_id
        self.unit_code = unit_code
        super().__init__(f"chat {chat_id} is already linked to unit {unit_code}")


# ------------------------------------------------------------------------------------------ invites


def new_invite_code() -> str:
    """A one-time code such as UNIT-7K3Q-9XMP (30^8 ≈ 6.6·10^11 possibilities)."""
    groups = ("".join(secrets.choice(ALPHABET) for _ in range(size)) for size in _INVITE_GROUPS)
    return "-".join((INVITE_PREFIX, *groups))


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


# ------------------------------------------------------------------------------------------ storage


def _ts(moment: datetime) -> str:
    return moment.isoformat(timespec="microseconds")


def _dt(value: str) -> datetime:
    return datetime.fromisoformat(value)


_UNIT_COLUMNS = "id, code, name, province_code, chat_id, linked_at, active, created_at, updated_at"


async def _fetch_units(conn: aiosqlite.Connection, where: str = "1", params: tuple[object, ...] = ()) -> list[Unit]:
    async with conn.execute(
        f"SELECT {_UNIT_COLUMNS} FROM units WHERE {where} ORDER BY province_code, code", params
    ) as cursor:
        rows = await cursor.fetchall()
    if not rows:
        return []
    communes: dict[int, list[int]] = {}
    async with conn.execute(
        f"SELECT unit_id, commune_code FROM unit_communes WHERE unit_id IN (SELECT id FROM units WHERE {where}) "
        "ORDER BY commune_code",
        params,
    ) as cursor:
        for unit_id, commune_code in await cursor.fetchall():
            communes.setdefault(unit_id, []).append(commune_code)
    return [
        Unit(
            id=row["id"],
            code=row["code"],
            name=row["name"],
            province_code=row["province_code"],
            chat_id=row["chat_id"],
            linked_at=_dt(row["linked_at"]) if row["linked_at"] else None,
            active=bool(row["active"]),
            created_at=_dt(row["created_at"]),
            updated_at=_dt(row["updated_at"]),
            communes=tuple(communes.get(row["id"], ())),
        )
        for row in rows
    ]


async def _one(conn: aiosqlite.Connection, where: str, params: tuple[object, ...]) -> Unit | None:
    found = await _fetch_units(conn, where, params)
    return found[0] if found else None


async def _owners(conn: aiosqlite.Connection, commune_codes: list[int]) -> dict[int, tuple[str, str]]:
    """Commune code -> (code, name) of the unit that covers it, for the communes already covered."""
    owners: dict[int, tuple[str, str]] = {}
    wanted = sorted(set(commune_codes))
    for start in range(0, len(wanted), 500):  # stay far below SQLite's bound-parameter limit
        chunk = wanted[start : start + 500]
        marks = ", ".join("?" * len(chunk))
        async with conn.execute(
            "SELECT uc.commune_code, u.code, u.name FROM unit_communes uc JOIN units u ON u.id = uc.unit_id "
            f"WHERE uc.commune_code IN ({marks})",
            chunk,
        ) as cursor:
            for commune_code, code, name in await cursor.fetchall():
                owners[commune_code] = (code, name)
    return owners


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


async def _write(conn: aiosqlite.Connection, rows: list[UnitRow], now: datetime) -> UpsertCounts:
    """Creates or updates the units of ``rows``, replacing their communes. Checks are the caller's."""
    existing = {u.code.lower(): u for u in await _fetch_units(conn)}
    created = updated = unchanged = 0
    changed: list[tuple[int, UnitRow]] = []
    for row in rows:
        unit = existing.get(row.code.lower())
        if unit is None:
            cursor = await conn.execute(
                "INSERT INTO units (code, name, province_code, active, created_at, updated_at) "
                "VALUES (?, ?, ?, 1, ?, ?)",
                (row.code, row.name, row.province_code, _ts(now), _ts(now)),
            )
            changed.append((int(cursor.lastrowid or 0), row))
            created += 1
        elif (unit.code, unit.name, unit.province_code, unit.communes) != (
            row.code, row.name, row.province_code, tuple(sorted(row.communes))
        ):
            await conn.execute(
                "UPDATE units SET code = ?, name = ?, province_code = ?, updated_at = ? WHERE id = ?",
                (row.code, row.name, row.province_code, _ts(now), unit.id),
            )
            changed.append((unit.id, row))
            updated += 1
        else:
            unchanged += 1
    # Free every replaced commune before inserting, so that communes can move between units in one import.
    await conn.executemany("DELETE FROM unit_communes WHERE unit_id = ?", [(unit_id,) for unit_id, _ in changed])
    await conn.executemany(
        "INSERT INTO unit_communes (unit_id, commune_code) VALUES (?, ?)",
        [(unit_id, commune) for unit_id, row in changed for commune in row.communes],
    )
    return UpsertCounts(created, updated, unchanged)


class SqliteUnits:
    """Police units, the communes they cover, their chats and chat invites. Each method is one unit of work.

    ``secret`` (the server secret) keys the invite hashes; it is needed only for invites.
    """

    def __init__(self, db: Database, secret: bytes | None = None) -> None:
        self.db = db
        self._invite_key = hmac.new(secret, _INVITE_KEY_LABEL, hashlib.sha256).digest() if secret else None

    # -------------------------------------------------------------- directory

    async def upsert_many(self, rows: list[UnitRow], now: datetime) -> UpsertCounts:
        """Creates or updates units by code (case-insensitive) and replaces their communes, atomically.

        Raises ValueError when the rows repeat a unit code or a commune, and CommuneTaken when a commune
        is covered by a unit the rows do not include; nothing is written then.
        """
        codes = [row.code.lower() for row in rows]
        if len(set(codes)) != len(codes):
            raise ValueError("a unit code appears twice")
        communes = [commune for row in rows for commune in row.communes]
        if len(set(communes)) != len(communes):
            raise ValueError("a commune appears twice")
        async with self.db.transaction() as conn:
            taken = _taken_by_others(rows, await _owners(conn, communes))
            if taken:
                raise CommuneTaken([(commune, owner) for _, commune, owner, _ in taken])
            return await _write(conn, rows, now)

    async def by_id(self, unit_id: int) -> Unit | None:
        async with self.db.read() as conn:
            return await _one(conn, "id = ?", (unit_id,))

    async def by_code(self, code: str) -> Unit | None:
        """The unit with this code, ignoring case and surrounding spaces."""
        async with self.db.read() as conn:
            return await _one(conn, "code = ?", (code.strip(),))

    async def for_commune(self, commune_code: int) -> Unit | None:
        """The unit covering this commune (active or not: check ``unit.active``), or None."""
        async with self.db.read() as conn:
            return await _one(conn, "id = (SELECT unit_id FROM unit_communes WHERE commune_code = ?)", (commune_code,))

    async def in_province(self, province_code: int) -> list[Unit]:
        async with self.db.read() as conn:
            return await _fetch_units(conn, "province_code = ?", (province_code,))

    async def by_chat(self, chat_id: int) -> Unit | None:
        async with self.db.read() as conn:
            return await _one(conn, "chat_id = ?", (chat_id,))

    async def all(self) -> list[Unit]:
        """Every unit, by province then code."""
        async with self.db.read() as conn:
            return await _fetch_units(conn)

    # -------------------------------------------------------------- chats

    async def link_chat(self, unit_id: int, chat_id: int, now: datetime) -> Unit:
        """Makes ``chat_id`` the unit's chat (replacing a previous one). Raises KeyError for an unknown
        unit and ChatAlreadyLinked when the chat belongs to another unit."""
        async with self.db.transaction() as conn:
            unit = await self._link(conn, unit_id, chat_id, now)
            if unit is None:
                raise KeyError(unit_id)
            return unit

    async def _link(self, conn: aiosqlite.Connection, unit_id: int, chat_id: int, now: datetime) -> Unit | None:
        other = await _one(conn, "chat_id = ? AND id != ?", (chat_id, unit_id))
        if other is not None:
            raise ChatAlreadyLinked(chat_id, other.code)
        cursor = await conn.execute(
            "UPDATE units SET chat_id = ?, linked_at = ?, updated_at = ? WHERE id = ?",
            (chat_id, _ts(now), _ts(now), unit_id),
        )
        if cursor.rowcount != 1:
            return None
        return await _one(conn, "id = ?", (unit_id,))

    # -------------------------------------------------------------- invites

    def _hash(self, canonical: str) -> str:
        if self._invite_key is None:
            raise RuntimeError("invites need the server secret: SqliteUnits(db, secret)")
        return hmac.new(self._invite_key, canonical.encode(), hashlib.sha256).hexdigest()

    async def create_invite(self, unit_id: int, created_by: str, now: datetime, ttl: timedelta = INVITE_TTL) -> str:
        """A one-time code for the unit's chat, valid for ``ttl``; only its keyed hash is stored.

        Raises KeyError for an unknown unit.
        """
        for _ in range(5):
            code = new_invite_code()
            async with self.db.transaction() as conn:
                async with conn.execute("SELECT 1 FROM units WHERE id = ?", (unit_id,)) as cursor:
                    if await cursor.fetchone() is None:
                        raise KeyError(unit_id)
                try:
                    await conn.execute(
                        "INSERT INTO unit_invites (unit_id, code_hash, created_by, created_at, expires_at) "
                        "VALUES (?, ?, ?, ?, ?)",
                        (unit_id, self._hash(code), created_by, _ts(now), _ts(now + ttl)),
                    )
                except aiosqlite.IntegrityError:
                    continue  # the same code twice: astronomically rare, draw again
            return code
        raise RuntimeError("could not draw an unused invite code")

    async def redeem_invite(self, code: str, chat_id: int, now: datetime) -> Unit | None:
        """Links ``chat_id`` to the invite's unit and returns the unit; None for an unknown, used or expired
        code. Atomic: of two chats redeeming one code, exactly one succeeds. A successful redeem also voids
        the unit's other pending codes. Raises ChatAlreadyLinked (the code stays unused) when the chat is
        another unit's chat."""
        canonical = normalize_invite(code)
        if canonical is None:
            return None
        code_hash = self._hash(canonical)
        async with self.db.transaction() as conn:
            async with conn.execute(
                "SELECT id, unit_id, expires_at, used_at FROM unit_invites WHERE code_hash = ?", (code_hash,)
            ) as cursor:
                invite = await cursor.fetchone()
            if invite is None or invite["used_at"] is not None or _dt(invite["expires_at"]) <= now:
                return None
            unit = await self._link(conn, invite["unit_id"], chat_id, now)
            if unit is None:
                return None
            await conn.execute(
                "UPDATE unit_invites SET used_at = ? WHERE unit_id = ? AND used_at IS NULL",
                (_ts(now), invite["unit_id"]),
            )
            return unit


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


async def import_units(db: Database, text: str, now: datetime | None = None, dry_run: bool = False) -> ImportReport:
    """Parses a units CSV and writes it in one transaction: every unit, or nothing if any row is bad.

    Units are matched by code: re-importing a file changes nothing, and an edited file updates names,
    provinces and commune lists. Units absent from the file are left as they are; a commune covered by
    such a unit is an error. ``dry_run`` checks everything and writes nothing.
    """
    now = now or datetime.now(UTC)
    rows, errors = parse_units_csv(text)
    communes = [commune for row in rows for commune in row.communes]
    async with db.transaction() as conn:
        for row, commune_code, owner, owner_name in _taken_by_others(rows, await _owners(conn, communes)):
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
        counts = await _write(conn, rows, now)
    return ImportReport(units=len(rows), communes=len(communes), counts=counts, written=True)
