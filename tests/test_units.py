"""Police unit directory on a real database (a SQLite file, or PostgreSQL with TIPLINE_TEST_POSTGRES): CSV import (all-or-nothing, idempotent), routing lookups,
one-time chat invites, and the `tipline units` commands."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from backends import (
    BACKEND,
    INTEGRITY_ERRORS,
    all_records,
    database_url_for,
    ensure_database,
    open_test_storage,
    raw_connection,
    table_columns,
    use_database,
)

from tipline.cli import main
from tipline.delivery.model import Address
from tipline.staff.units import (
    INVITE_TTL,
    ChatAlreadyLinked,
    CommuneTaken,
    RowError,
    Unit,
    UnitDirectory,
    UnitRow,
    UpsertCounts,
    import_units,
    normalize_invite,
    parse_units_csv,
)
from tipline.storage.ports import Storage

NOW = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)
SECRET = b"test-secret-0123456789-0123456789-abcdef"
INVITE = re.compile(r"^UNIT-[23456789ABCDEFGHJKMNPQRSTVWXYZ]{4}-[23456789ABCDEFGHJKMNPQRSTVWXYZ]{4}$")

CAN_THO, HA_NOI, HCM, THANH_HOA = 92, 1, 79, 38
NINH_KIEU, CAI_KHE, CAI_RANG, HUNG_PHU, TAN_AN, AN_BINH = 31135, 31120, 31186, 31201, 31147, 31150
HOAN_KIEM, CUA_NAM, BA_DINH, NGOC_HA, VAN_MIEU = 70, 73, 4, 8, 196

# A realistic file: names with and without diacritics, with and without the type word, codes, province
# by name, official name and code, a quoted name with a comma.
UNITS_CSV = """code,name,province,communes
CA-31135,Công an phường Ninh Kiều,Cần Thơ,Ninh Kiều;Phường Cái Khế
CA-31186,Công an phường Cái Răng,92,cai rang;hung phu
CA-31147,"Công an phường Tân An, Cần Thơ",Thành phố Cần Thơ,Tân An;31150
CA-70,Công an phường Hoàn Kiếm,Hà Nội,Phường Hoàn Kiếm;cua nam
CA-4,Công an phường Ba Đình,1,4;ngoc ha;Văn Miếu - Quốc Tử Giám
"""
HEADER = "code,name,province,communes\n"
GOOD_ROW = "CA-31135,Công an phường Ninh Kiều,Cần Thơ,Ninh Kiều\n"


def chat(chat_id: int) -> Address:
    """A Telegram group chat, as the bot sees the chat a /link message came from."""
    return Address("telegram", str(chat_id))


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Storage]:
    storage = await open_test_storage(tmp_path / "t.sqlite3")
    yield storage
    await storage.close()


async def imported(db: Storage, text: str = UNITS_CSV) -> UnitDirectory:
    report = await import_units(db, text, NOW)
    assert report.errors == (), report.errors
    return UnitDirectory(db, SECRET)


async def unit_by_code(db: Storage, code: str) -> Unit | None:
    async with db.read() as uow:
        return await uow.units.by_code(code)


async def unit_by_id(db: Storage, unit_id: int) -> Unit | None:
    async with db.read() as uow:
        return await uow.units.by_id(unit_id)


async def unit_for_commune(db: Storage, commune_code: int) -> Unit | None:
    async with db.read() as uow:
        return await uow.units.for_commune(commune_code)


async def unit_by_chat(db: Storage, chat_id: int) -> Unit | None:
    async with db.read() as uow:
        return await uow.units.active_by_chat(chat(chat_id))


async def all_units(db: Storage) -> list[Unit]:
    async with db.read() as uow:
        return await uow.units.all()


async def link_chat(db: Storage, unit_id: int, chat_id: int) -> Unit | None:
    async with db.uow() as uow:
        return await uow.units.link_chat(unit_id, chat(chat_id), NOW)


# ------------------------------------------------------------------------------------------ schema


async def test_migration_creates_the_unit_tables_with_cascades(db: Storage, tmp_path: Path) -> None:
    directory = await imported(db)
    unit = await unit_by_code(db, "CA-70")
    assert unit is not None
    await directory.create_invite(unit.id, "test", NOW)
    assert {"units", "unit_communes", "unit_invites"} <= set(await table_columns(db))
    async with raw_connection(tmp_path / "t.sqlite3") as plain:
        with pytest.raises(INTEGRITY_ERRORS):  # a commune belongs to at most one unit
            await plain.execute("INSERT INTO unit_communes (unit_id, commune_code) VALUES (?, ?)", unit.id + 1, HOAN_KIEM)
        with pytest.raises(INTEGRITY_ERRORS):  # codes are unique regardless of case
            await plain.execute(
                "INSERT INTO units (code, name, province_code, created_at, updated_at) "
                "VALUES ('ca-70', 'x', 1, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
            )
        assert await plain.fetchall("SELECT commune_code FROM unit_communes WHERE unit_id = ?", unit.id)
        await plain.execute("DELETE FROM units WHERE id = ?", unit.id)
        assert await plain.fetchall("SELECT commune_code FROM unit_communes WHERE unit_id = ?", unit.id) == []
        assert await plain.fetchall("SELECT id FROM unit_invites WHERE unit_id = ?", unit.id) == []


async def test_a_chat_is_one_units_chat_in_the_schema_too(db: Storage, tmp_path: Path) -> None:
    await imported(db)
    hoan_kiem = await link_chat(db, (await unit_by_code(db, "CA-70")).id, -5)  # type: ignore[union-attr]
    assert hoan_kiem is not None
    columns = (await table_columns(db))["units"]
    assert {"chat_channel", "chat"} <= columns and "chat_id" not in columns
    async with raw_connection(tmp_path / "t.sqlite3") as plain:
        assert await plain.fetchone("SELECT chat_channel, chat FROM units WHERE code = 'CA-70'") == {
            "chat_channel": "telegram", "chat": "-5"
        }
        with pytest.raises(INTEGRITY_ERRORS):  # the same chat for a second unit
            await plain.execute("UPDATE units SET chat_channel = 'telegram', chat = '-5' WHERE code = 'CA-4'")
        # The same chat id on another channel is another chat.
        await plain.execute("UPDATE units SET chat_channel = 'zalo', chat = '-5' WHERE code = 'CA-4'")


# ------------------------------------------------------------------------------------------ import


async def test_import_a_realistic_file(db: Storage) -> None:
    report = await import_units(db, UNITS_CSV, NOW)
    assert report.ok and report.written
    assert (report.units, report.communes) == (5, 11)
    assert (report.counts.created, report.counts.updated, report.counts.unchanged) == (5, 0, 0)

    async with db.read() as uow:  # lookups need no secret: only invites do (UnitDirectory)
        units = uow.units
        expected = {
            NINH_KIEU: "CA-31135", CAI_KHE: "CA-31135", CAI_RANG: "CA-31186", HUNG_PHU: "CA-31186",
            TAN_AN: "CA-31147", AN_BINH: "CA-31147", HOAN_KIEM: "CA-70", CUA_NAM: "CA-70",
            BA_DINH: "CA-4", NGOC_HA: "CA-4", VAN_MIEU: "CA-4",
        }
        for commune, code in expected.items():
            unit = await units.for_commune(commune)
            assert unit is not None and unit.code == code, commune
            assert await units.active_for_commune(commune) == unit  # every imported unit is active
        assert await units.for_commune(31212) is None  # Thốt Nốt: no unit yet
        assert await units.for_commune(999_999) is None
        assert await units.active_for_commune(31212) is None

        ninh_kieu = await units.by_code(" ca-31135 ")
        assert ninh_kieu is not None
        assert ninh_kieu.name == "Công an phường Ninh Kiều"
        assert ninh_kieu.province_code == CAN_THO
        assert ninh_kieu.communes == (CAI_KHE, NINH_KIEU)
        assert ninh_kieu.chat is None and ninh_kieu.linked_at is None and ninh_kieu.active
        assert ninh_kieu.created_at == ninh_kieu.updated_at == NOW
        assert await units.by_id(ninh_kieu.id) == ninh_kieu
        assert (await units.by_code("CA-31147")).name == "Công an phường Tân An, Cần Thơ"  # type: ignore[union-attr]

        assert [u.code for u in await units.in_province(CAN_THO)] == ["CA-31135", "CA-31147", "CA-31186"]
        assert [u.code for u in await units.in_province(HA_NOI)] == ["CA-4", "CA-70"]
        assert await units.in_province(HCM) == []
        assert [u.code for u in await units.all()] == ["CA-4", "CA-70", "CA-31135", "CA-31147", "CA-31186"]
        # Active units of a province by name, for a moderator choosing where to forward a tip.
        assert [u.name for u in await units.active_in_province(CAN_THO)] == [
            "Công an phường Cái Răng", "Công an phường Ninh Kiều", "Công an phường Tân An, Cần Thơ"
        ]
        assert await units.active_in_province(HCM) == []


def test_bom_windows_line_endings_blank_lines_and_column_order() -> None:
    text = (
        "\ufeff Province , CODE,communes,name\r\n"
        "\r\n"
        "Cần Thơ,CA-1,Ninh Kiều ; Cái Khế ;,Công an phường Ninh Kiều\r\n"
        "  ,  ,  ,  \r\n"
        "Hà Nội,CA-2,\"Phường Hoàn Kiếm\",\"Công an phường\r\nHoàn Kiếm\"\r\n"
        "\r\n"
        "92,CA-3,cai rang,Công an phường Cái Răng\r\n"
    )
    rows, errors = parse_units_csv(text)
    assert errors == []
    assert rows == [
        UnitRow("CA-1", "Công an phường Ninh Kiều", CAN_THO, (NINH_KIEU, CAI_KHE), line=3),
        UnitRow("CA-2", "Công an phường Hoàn Kiếm", HA_NOI, (HOAN_KIEM,), line=5),  # a quoted line break
        UnitRow("CA-3", "Công an phường Cái Răng", CAN_THO, (CAI_RANG,), line=8),
    ]


def test_diacritics_pick_one_of_two_names_that_fold_alike() -> None:
    rows, errors = parse_units_csv(
        HEADER + "A,Đông Tiến,38,Đông Tiến\nB,Đồng Tiến,Thanh Hóa,Xã Đồng Tiến\nC,Thạnh An,79,Thạnh An\n"
    )
    assert errors == []
    assert [row.communes for row in rows] == [(15853,), (15724,), (27676,)]


# Each bad row is on line 3, after a good row on line 2 (so the good row is not written either).
BAD_ROWS = [
    ("CA-9,Công an,Can Tho city,Ninh Kiều", 'unknown province "Can Tho city"'),
    ("CA-9,Công an,99,Ninh Kiều", "unknown province code 99"),
    ("CA-9,Công an,,Ninh Kiều", "province is empty"),
    ("CA-9,Công an,Hậu Giang,Ninh Kiều", '"Hậu Giang" is a former province, part of Cần Thơ since 1 July 2025'),
    ("CA-9,Công an,Cần Thơ,Cái Răngg", 'commune "Cái Răngg" not found in Cần Thơ; did you mean Phường Cái Răng (31186)'),
    ("CA-9,Công an,Cần Thơ,zzzz", 'commune "zzzz" not found in Cần Thơ'),
    ("CA-9,Công an,Cần Thơ,Ninh", 'commune "Ninh" not found in Cần Thơ; did you mean Phường Ninh Kiều (31135)'),
    ("CA-9,Công an,Cần Thơ,Xã Cái Răng", 'commune "Xã Cái Răng" not found in Cần Thơ; did you mean Phường Cái Răng'),
    ("CA-9,Công an,Cần Thơ,99999", "unknown commune code 99999"),
    ("CA-9,Công an,Cần Thơ,70", "commune Phường Hoàn Kiếm (70) is in Hà Nội, not in Cần Thơ"),
    ("CA-9,Công an,Cần Thơ,Hoàn Kiếm", 'commune "Hoàn Kiếm" is not in Cần Thơ: found Phường Hoàn Kiếm (70) in Hà Nội'),
    (
        "CA-9,Công an,Hồ Chí Minh,thanh an",
        'commune "thanh an" is ambiguous in Hồ Chí Minh: Xã Thanh An, Hồ Chí Minh (25807), '
        "Xã Thạnh An, Hồ Chí Minh (27676)",
    ),
    ("CA-9,Công an,Cần Thơ,Cái Răng;31186", "commune Phường Cái Răng (31186) is listed twice in this row"),
    ("CA-9,Công an,Cần Thơ,Cái Răng;ninh kieu", "commune Phường Ninh Kiều (31135) is already listed on line 2 (unit CA-31135)"),
    ("ca-31135,Công an,Cần Thơ,Cái Răng", 'unit code "ca-31135" is already used on line 2'),
    (",Công an,Cần Thơ,Cái Răng", "unit code is empty"),
    ("CA 9,Công an,Cần Thơ,Cái Răng", 'unit code "CA 9" is not valid'),
    ("CA-9,  ,Cần Thơ,Cái Răng", "unit name is empty"),
    ("CA-9,Công an,Cần Thơ, ; ", "no communes listed"),
    ("CA-9,Công an,Cần Thơ,Cái Răng,Thốt Nốt", "5 fields where the header has 4"),
    ("CA-9,Công an,Cần Thơ", "3 fields where the header has 4"),
]


@pytest.mark.parametrize(("row", "message"), BAD_ROWS, ids=[message[:40] for _, message in BAD_ROWS])
async def test_every_bad_row_is_reported_with_its_line_and_nothing_is_written(
    db: Storage, row: str, message: str
) -> None:
    report = await import_units(db, HEADER + GOOD_ROW + row + "\n", NOW)
    assert not report.ok and not report.written
    assert [error.line for error in report.errors] == [3]
    assert message in report.errors[0].message, report.errors[0].message
    assert str(report.errors[0]).startswith("line 3: ")
    assert await all_units(db) == []


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("", 1, "the file is empty: a header row code,name,province,communes is required"),
        ("\n\n", 1, "the file is empty"),
        ("code,name,province\n" + "CA-1,X,92\n", 1, "header row required with columns code,name,province,"
         "communes; missing communes"),
        # a data row where the header should be
        (GOOD_ROW, 1, "header row required: the first line must be code,name,province,communes, not CA-31135,"),
        ("code,name,province,communes,notes\n" + GOOD_ROW, 1, "unknown column(s) 'notes'"),
        ("code,name,province,communes,code\n" + GOOD_ROW, 1, 'column "code" appears twice'),
        ("code;name;province;communes\n", 1, "columns are separated by ';'"),
        ("\ncode,name,province,communes\n" + 'CA-1,"Công an,92,Ninh Kiều\n', 3, "malformed CSV"),
    ],
)
async def test_header_and_file_errors(db: Storage, text: str, line: int, message: str) -> None:
    report = await import_units(db, text, NOW)
    assert report.errors and report.errors[0].line == line
    assert message in report.errors[0].message, report.errors
    assert await all_units(db) == []


def test_all_errors_are_reported_in_one_pass() -> None:
    bad = [row.replace("CA-9,", f"CA-9{i},") for i, (row, _) in enumerate(BAD_ROWS[:6])]
    text = HEADER + GOOD_ROW + "\n" + "\n".join(bad) + "\nCA-8,X,Cần Thơ,Cái Răng\n"
    rows, errors = parse_units_csv(text)
    assert [row.code for row in rows] == ["CA-31135", "CA-8"]
    assert [error.line for error in errors] == [4, 5, 6, 7, 8, 9]


async def test_a_commune_of_a_unit_not_in_the_file_is_refused(db: Storage) -> None:
    await imported(db)
    text = HEADER + "CA-NEW,Công an mới,Cần Thơ,Thốt Nốt\nCA-NEW2,Công an khác,92,Ninh Kiều;Hỏa Lựu\n"
    report = await import_units(db, text, NOW)
    assert [(e.line, e.message) for e in report.errors] == [
        (3, 'commune Phường Ninh Kiều (31135) already belongs to unit CA-31135 ("Công an phường Ninh Kiều"), '
            "which is not in this file: remove it there first, or include that unit with its new communes"),
    ]
    assert await unit_by_code(db, "CA-NEW") is None  # the good row was not written either
    assert (await unit_for_commune(db, NINH_KIEU)).code == "CA-31135"  # type: ignore[union-attr]

    # Redefining the owner in the same file moves the commune.
    moved = HEADER + "CA-31135,Công an phường Ninh Kiều,92,Cái Khế\nCA-NEW2,Công an khác,92,Ninh Kiều;Hỏa Lựu\n"
    report = await import_units(db, moved, NOW)
    assert report.ok and (report.counts.created, report.counts.updated) == (1, 1)
    assert (await unit_for_commune(db, NINH_KIEU)).code == "CA-NEW2"  # type: ignore[union-attr]
    assert (await unit_by_code(db, "CA-31135")).communes == (CAI_KHE,)  # type: ignore[union-attr]


async def test_reimport_is_idempotent_and_updates_names_and_communes(db: Storage) -> None:
    await imported(db)
    before = await all_units(db)
    later = NOW + timedelta(days=30)
    again = await import_units(db, UNITS_CSV, later)
    assert again.ok and (again.counts.created, again.counts.updated, again.counts.unchanged) == (0, 0, 5)
    assert await all_units(db) == before  # not even updated_at moves

    edited = UNITS_CSV.replace("Công an phường Cái Răng,92,cai rang;hung phu", "Công an P. Cái Răng,92,cai rang")
    edited = edited.replace("CA-4,", "ca-4,")  # same unit, whatever the case
    report = await import_units(db, edited, later)
    assert report.ok and (report.counts.created, report.counts.updated, report.counts.unchanged) == (0, 2, 3)
    cai_rang = await unit_by_code(db, "CA-31186")
    assert cai_rang is not None and cai_rang.name == "Công an P. Cái Răng" and cai_rang.communes == (CAI_RANG,)
    assert cai_rang.updated_at == later and cai_rang.created_at == NOW
    assert await unit_for_commune(db, HUNG_PHU) is None  # freed
    assert (await unit_by_code(db, "CA-4")).code == "ca-4"  # type: ignore[union-attr]
    assert len(await all_units(db)) == 5

    # A file naming only some units leaves the others alone.
    report = await import_units(db, HEADER + "CA-70,Công an phường Hoàn Kiếm (mới),1,Hoàn Kiếm\n", later)
    assert report.ok
    assert len(await all_units(db)) == 5
    assert (await unit_for_commune(db, NINH_KIEU)).code == "CA-31135"  # type: ignore[union-attr]
    assert await unit_for_commune(db, CUA_NAM) is None


async def test_dry_run_checks_without_writing(db: Storage) -> None:
    report = await import_units(db, UNITS_CSV, NOW, dry_run=True)
    assert report.ok and not report.written and report.units == 5
    assert await all_units(db) == []


async def test_upsert_refuses_duplicates_and_taken_communes(db: Storage) -> None:
    await imported(db)

    async def upsert(rows: list[UnitRow]) -> UpsertCounts:
        async with db.uow() as uow:
            return await uow.units.upsert(rows, NOW)

    with pytest.raises(ValueError):
        await upsert([UnitRow("X", "x", 92, (31212,)), UnitRow("x", "y", 92, (31213,))])
    with pytest.raises(ValueError):
        await upsert([UnitRow("X", "x", 92, (31212,)), UnitRow("Y", "y", 92, (31212,))])
    with pytest.raises(CommuneTaken) as taken:
        await upsert([UnitRow("X", "x", 92, (31212, NINH_KIEU))])
    assert taken.value.taken == [(NINH_KIEU, "CA-31135")]
    assert await unit_by_code(db, "X") is None
    counts = await upsert([UnitRow("X", "Công an phường Thốt Nốt", 92, (31212,))])
    assert counts.created == 1 and (await unit_for_commune(db, 31212)).code == "X"  # type: ignore[union-attr]


async def test_a_failed_upsert_leaves_nothing_of_its_unit_of_work(db: Storage) -> None:
    await imported(db)
    with pytest.raises(CommuneTaken):
        async with db.uow() as uow:
            # A good row written first, then a row taking another unit's commune: the whole unit of work goes.
            await uow.units.upsert([UnitRow("X", "Công an phường Thốt Nốt", 92, (31212,))], NOW)
            await uow.units.upsert([UnitRow("Y", "y", 92, (NINH_KIEU,))], NOW)
    assert await unit_by_code(db, "X") is None and await unit_for_commune(db, 31212) is None


# ------------------------------------------------------------------------------------------ invites


async def test_an_invite_links_the_chat_once(db: Storage, tmp_path: Path) -> None:
    units = await imported(db)
    unit = await unit_by_code(db, "CA-31135")
    assert unit is not None
    code = await units.create_invite(unit.id, "moderator:42", NOW)
    assert INVITE.match(code)

    # Only a keyed hash is stored (a storage-level check: read the tables, and SQLite's files, as they are).
    records = await all_records(db)
    stored = "\n".join(str(value) for rows in records.values() for row in rows for value in row.values())
    assert code not in stored and code[5:].replace("-", "") not in stored
    if BACKEND == "sqlite":
        raw = (tmp_path / "t.sqlite3").read_bytes() + (tmp_path / "t.sqlite3-wal").read_bytes()
        assert code.encode() not in raw and code[5:].replace("-", "").encode() not in raw
    (row,) = records["unit_invites"]
    assert len(row["code_hash"]) == 64 and row["created_by"] == "moderator:42" and row["used_at"] is None
    expires = row["expires_at"]
    assert (expires if isinstance(expires, datetime) else datetime.fromisoformat(expires)) == NOW + INVITE_TTL

    linked, moved = await units.redeem_invite(
        f"/link {code.lower().replace('-', ' ')}", chat(-100123), NOW + timedelta(hours=1)
    )
    assert moved and linked is not None and linked.id == unit.id
    assert linked.chat == Address("telegram", "-100123") and linked.linked_at == NOW + timedelta(hours=1)
    assert await unit_by_chat(db, -100123) == linked
    assert await unit_by_chat(db, -100999) is None
    async with db.read() as uow:  # the same chat id on another channel is another chat
        assert await uow.units.active_by_chat(Address("zalo", "-100123")) is None

    assert (await units.redeem_invite(code, chat(-100123), NOW + timedelta(hours=2)))[0] is None  # used
    assert (await units.redeem_invite(code, chat(-100456), NOW + timedelta(hours=2)))[0] is None
    assert (await unit_by_id(db, unit.id)).chat == chat(-100123)  # type: ignore[union-attr]


async def test_expired_unknown_and_malformed_codes(db: Storage) -> None:
    units = await imported(db)
    unit = await unit_by_code(db, "CA-70")
    assert unit is not None
    code = await units.create_invite(unit.id, "cli", NOW, ttl=timedelta(days=1))
    assert (await units.redeem_invite(code, chat(-1), NOW + timedelta(days=1)))[0] is None  # expired at the instant
    assert (await units.redeem_invite(code, chat(-1), NOW + timedelta(days=2)))[0] is None
    assert (await units.redeem_invite("UNIT-2345-6789", chat(-1), NOW))[0] is None  # unknown
    for garbage in ("", "/link", "UNIT-0000-1111", "UNIT-ABCD-EFG", "hello world", "TL-ABCD-EFGH-X"):
        assert (await units.redeem_invite(garbage, chat(-1), NOW))[0] is None
    assert (await unit_by_id(db, unit.id)).chat is None  # type: ignore[union-attr]
    fresh = await units.create_invite(unit.id, "cli", NOW, ttl=timedelta(days=1))
    assert (await units.redeem_invite(fresh, chat(-1), NOW + timedelta(days=1) - timedelta(seconds=1)))[0] is not None


async def test_concurrent_redeems_give_exactly_one_success(db: Storage) -> None:
    units = await imported(db)
    unit = await unit_by_code(db, "CA-4")
    assert unit is not None
    code = await units.create_invite(unit.id, "cli", NOW)
    results = await asyncio.gather(*(units.redeem_invite(code, chat(-1000 - i), NOW) for i in range(8)))
    winners = [unit for unit, moved in results if unit is not None]
    assert len(winners) == 1
    assert (await unit_by_id(db, unit.id)).chat == winners[0].chat  # type: ignore[union-attr]


async def test_concurrent_redeems_over_two_connections(db: Storage, tmp_path: Path) -> None:
    units = await imported(db)
    unit = await unit_by_code(db, "CA-4")
    assert unit is not None
    code = await units.create_invite(unit.id, "cli", NOW)
    other_db = await open_test_storage(tmp_path / "t.sqlite3")
    try:
        other = UnitDirectory(other_db, SECRET)
        results = await asyncio.gather(
            *(directory.redeem_invite(code, chat(-2000 - i), NOW) for i, directory in enumerate([units, other] * 4))
        )
    finally:
        await other_db.close()
    assert sum(unit is not None for unit, _moved in results) == 1


async def test_a_redeem_voids_the_units_other_codes_and_a_new_code_moves_the_chat(db: Storage) -> None:
    units = await imported(db)
    unit = await unit_by_code(db, "CA-70")
    assert unit is not None
    first = await units.create_invite(unit.id, "cli", NOW)
    second = await units.create_invite(unit.id, "cli", NOW)
    assert first != second
    assert (await units.redeem_invite(second, chat(-1), NOW))[0] is not None
    assert (await units.redeem_invite(first, chat(-2), NOW))[0] is None  # voided
    third = await units.create_invite(unit.id, "cli", NOW)
    # A linked unit does not move on an invite alone: the move waits for an admin's /relink.
    asked, moved = await units.redeem_invite(third, chat(-2), NOW)
    assert asked is not None and not moved and asked.chat == chat(-1)
    assert await unit_by_chat(db, -2) is None
    async with db.read() as uow:
        assert await uow.units.pending_relink(unit.id) == chat(-2)


async def test_a_chat_belongs_to_one_unit(db: Storage) -> None:
    units = await imported(db)
    hoan_kiem, ba_dinh = await unit_by_code(db, "CA-70"), await unit_by_code(db, "CA-4")
    assert hoan_kiem is not None and ba_dinh is not None
    linked = await link_chat(db, hoan_kiem.id, -5)
    assert linked is not None and linked.chat == chat(-5)
    assert (await link_chat(db, hoan_kiem.id, -5)).chat == chat(-5)  # type: ignore[union-attr]  # again: no-op
    code = await units.create_invite(ba_dinh.id, "cli", NOW)
    with pytest.raises(ChatAlreadyLinked) as exc:
        await units.redeem_invite(code, chat(-5), NOW)
    assert exc.value.unit_code == "CA-70"
    assert (await units.redeem_invite(code, chat(-6), NOW))[0].chat == chat(-6)  # type: ignore[union-attr]  # not consumed
    with pytest.raises(ChatAlreadyLinked):
        await link_chat(db, ba_dinh.id, -5)
    assert (await unit_by_id(db, ba_dinh.id)).chat == chat(-6)  # type: ignore[union-attr]  # unchanged
    assert await link_chat(db, 9999, -7) is None  # an unknown unit: nothing linked
    assert await unit_by_chat(db, -7) is None
    with pytest.raises(KeyError):
        await units.create_invite(9999, "cli", NOW)


async def test_invites_are_bound_to_the_secret(db: Storage) -> None:
    units = await imported(db)
    unit = await unit_by_code(db, "CA-70")
    assert unit is not None
    code = await units.create_invite(unit.id, "cli", NOW)
    other = UnitDirectory(db, b"another-secret-0123456789-0123456789")
    assert (await other.redeem_invite(code, chat(-1), NOW))[0] is None
    assert (await units.redeem_invite(code, chat(-1), NOW))[0] is not None  # the failed attempt did not use it up
    # A code created under the other secret is unknown under ours.
    foreign = await other.create_invite(unit.id, "cli", NOW)
    assert (await units.redeem_invite(foreign, chat(-2), NOW))[0] is None
    assert (await unit_by_id(db, unit.id)).chat == chat(-1)  # type: ignore[union-attr]


def test_normalize_invite() -> None:
    assert normalize_invite("UNIT-7K3Q-9XMP") == "UNIT-7K3Q-9XMP"
    assert normalize_invite(" /link unit 7k3q 9xmp ") == "UNIT-7K3Q-9XMP"
    assert normalize_invite("7K3Q9XMP") == "UNIT-7K3Q-9XMP"
    assert normalize_invite("UNIT-7K3Q-9XM0") is None  # 0 is not in the alphabet
    assert normalize_invite("UNIT-7K3Q") is None


# ------------------------------------------------------------------------------------------ CLI


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "cli.sqlite3"
    use_database(monkeypatch, path)
    asyncio.run(ensure_database(database_url_for(path)))
    monkeypatch.setenv("TIPLINE_SECRET_KEY", SECRET.decode())
    monkeypatch.delenv("TELEGRAM_BOT_TOKEN", raising=False)
    return path


def test_cli_import_list_and_invite(env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    csv_file = tmp_path / "units.csv"
    csv_file.write_bytes(b"\xef\xbb\xbf" + UNITS_CSV.replace("\n", "\r\n").encode())
    assert main(["units", "import", str(csv_file)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("imported 5 units covering 11 communes")
    assert main(["units", "import", str(csv_file)]) == 0
    assert "(0 new, 0 updated, 5 unchanged)" in capsys.readouterr().out

    assert main(["units", "list"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].split() == ["CODE", "PROVINCE", "COMMUNES", "CHAT", "NAME"]
    assert "CA-31135" in out and "Công an phường Ninh Kiều" in out and "not linked" in out
    assert lines[-1] == "5 units covering 11 communes; 0 linked to a chat"
    assert main(["units", "list", "--province", "Cần Thơ", "--communes"]) == 0
    out = capsys.readouterr().out
    assert "CA-70" not in out and "Phường Cái Khế" in out

    assert main(["units", "invite", "ca-31135"]) == 0
    captured = capsys.readouterr()
    match = re.fullmatch(r"/link (UNIT-\w{4}-\w{4})\n", captured.out)
    assert match and INVITE.match(match.group(1))
    assert "CA-31135" in captured.err

    async def redeem() -> tuple[str, Address | None] | None:
        storage = await open_test_storage(env)
        try:
            unit, _moved = await UnitDirectory(storage, SECRET).redeem_invite(
                match.group(1), Address("telegram", "-100777"), datetime.now(UTC)
            )
            return (unit.code, unit.chat) if unit else None
        finally:
            await storage.close()

    assert asyncio.run(redeem()) == ("CA-31135", Address("telegram", "-100777"))
    assert main(["units", "list"]) == 0
    assert "1 linked to a chat" in capsys.readouterr().out

    assert main(["units", "invite", "CA-NOPE"]) == 1
    assert "no unit with code 'CA-NOPE'" in capsys.readouterr().err


def test_cli_import_reports_errors_with_line_numbers(
    env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text(HEADER + GOOD_ROW + "CA-9,Công an,Cần Thơ,Hoàn Kiếm\n\nCA-10,,Cần Thơ,Cái Răng\n", encoding="utf-8")
    assert main(["units", "import", str(bad)]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.splitlines() == [
        f'{bad}:3: commune "Hoàn Kiếm" is not in Cần Thơ: found Phường Hoàn Kiếm (70) in Hà Nội',
        f"{bad}:5: unit name is empty",
        "nothing imported: 2 error(s) on 2 line(s)",
    ]
    assert main(["units", "list"]) == 0
    assert capsys.readouterr().out == "no units\n"

    assert main(["units", "import", "--dry-run", str(bad).replace("bad", "missing")]) == 1
    assert "cannot read" in capsys.readouterr().err
    latin = tmp_path / "latin.csv"
    latin.write_bytes((HEADER + GOOD_ROW).encode("cp1258", errors="replace"))
    assert main(["units", "import", str(latin)]) == 1
    assert "not UTF-8" in capsys.readouterr().err

    good = tmp_path / "good.csv"
    good.write_text(UNITS_CSV, encoding="utf-8")
    assert main(["units", "import", "--dry-run", str(good)]) == 0
    assert "nothing written" in capsys.readouterr().out
    assert main(["units", "list"]) == 0
    assert capsys.readouterr().out == "no units\n"


def test_row_error_text() -> None:
    assert str(RowError(7, "unit name is empty")) == "line 7: unit name is empty"
