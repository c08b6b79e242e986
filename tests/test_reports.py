"""Exports and statistics on a real SQLite file: periods, local-day bounds, province filter, no free text."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from itertools import count
from pathlib import Path

import pytest
from backends import open_test_storage, use_database

from tipline.cli import main
from tipline.i18n import translator
from tipline.records import reports
from tipline.records.reports import EXPORT_COLUMNS, PeriodError, ProvinceError, parse_period
from tipline.storage.ports import Storage
from tipline.tips import Category, Evidence, NewTip, Status, Urgency

SECRET_DESCRIPTION = "Ông Nguyễn Văn Bí mật bán ma túy ở hẻm 51 XYZZY"
SECRET_ADDRESS = "Số 7 hẻm Kín Đáo QWERTY"
CAN_THO, HCM = 92, 79
NINH_KIEU = 31135  # Phường Ninh Kiều, Cần Thơ
_codes = count(1)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


async def add_tip(
    db: Storage,
    created: datetime,
    *,
    status: str = "new",
    category: str = "trading",
    province: int = CAN_THO,
    commune: int | None = NINH_KIEU,
    forwarded: datetime | None = None,
    acknowledged: datetime | None = None,
    closed: datetime | None = None,
    outcome: str | None = None,
    code: str | None = None,
) -> str:
    """A tip as intake writes it (with a description, an address, coordinates and evidence that no report may
    show), then moved by moderation to the given status and times."""
    code = code or f"TL-AAAA-{next(_codes):04d}"
    tip = NewTip(
        category=Category(category), urgency=Urgency.TODAY, province_code=province, commune_code=commune,
        address=SECRET_ADDRESS, latitude=10.0345, longitude=105.7876, description=SECRET_DESCRIPTION,
        evidence=(Evidence("photo", "SECRET-FILE-ID"),), language="vi", channel="telegram",
    )
    async with db.uow() as uow:
        created_tip = await uow.tips.create(tip, code, "scrypt$x", created)
        await uow.tips.update(
            created_tip.id, status=Status(status), priority=2, forwarded_at=forwarded, acknowledged_at=acknowledged,
            closed_at=closed, outcome=outcome,
        )
    return code


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "reports.sqlite3"


@pytest.fixture
async def db(path: Path) -> AsyncIterator[Storage]:
    storage = await open_test_storage(path)
    yield storage
    await storage.close()


# --- periods -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, start, end",
    [
        ("2026-11", date(2026, 11, 1), date(2026, 11, 30)),
        ("2026-12", date(2026, 12, 1), date(2026, 12, 31)),
        ("2028-2", date(2028, 2, 1), date(2028, 2, 29)),
        ("2026-Q1", date(2026, 1, 1), date(2026, 3, 31)),
        ("2026-q3", date(2026, 7, 1), date(2026, 9, 30)),
        ("2026-Q4", date(2026, 10, 1), date(2026, 12, 31)),
        ("2026-H1", date(2026, 1, 1), date(2026, 6, 30)),
        ("2026-H2", date(2026, 7, 1), date(2026, 12, 31)),
        (" 2026 ", date(2026, 1, 1), date(2026, 12, 31)),
    ],
)
def test_periods(text: str, start: date, end: date) -> None:
    assert parse_period(text) == (start, end)


@pytest.mark.parametrize("text", ["2026-13", "2026-00", "2026-Q5", "2026-H3", "26", "2026-11-01", "nov", ""])
def test_bad_periods(text: str) -> None:
    with pytest.raises(PeriodError):
        parse_period(text)


def test_days_are_vietnam_days() -> None:
    begin, finish = reports.utc_bounds(date(2026, 11, 1), date(2026, 11, 30))
    assert begin == utc(2026, 10, 31, 17) and finish == utc(2026, 11, 30, 17)
    with pytest.raises(PeriodError):
        reports.utc_bounds(date(2026, 11, 2), date(2026, 11, 1))
    with pytest.raises(PeriodError):
        reports.parse_date("01/11/2026")


@pytest.mark.parametrize(
    "text, code", [("92", 92), ("Cần Thơ", 92), ("can tho", 92), ("TP HCM", 79), ("Bình Dương", 79), ("hn", 1)]
)
def test_provinces_by_code_or_name(text: str, code: int) -> None:
    assert reports.resolve_province(text) == code


@pytest.mark.parametrize("text", ["999", "Atlantis", "x"])
def test_unknown_provinces(text: str) -> None:
    with pytest.raises(ProvinceError):
        reports.resolve_province(text)


# --- rows and export ------------------------------------------------------------------------------------------


async def test_a_period_is_whole_local_days_both_ends_included(db: Storage) -> None:
    await add_tip(db, utc(2026, 10, 31, 16, 59, 59), code="TL-BEFO-RE22")  # 31/10 23:59:59 local
    await add_tip(db, utc(2026, 10, 31, 17, 0), code="TL-FIRS-T222")  # 1/11 00:00 local
    await add_tip(db, utc(2026, 11, 30, 16, 59, 59), code="TL-LAST-2222")  # 30/11 23:59:59 local
    await add_tip(db, utc(2026, 11, 30, 17, 0), code="TL-AFTE-R222")  # 1/12 00:00 local
    rows = await reports.report_rows(db, *parse_period("2026-11"))
    assert [r.code for r in rows] == ["TL-FIRS-T222", "TL-LAST-2222"]
    one_day = await reports.report_rows(db, date(2026, 12, 1), date(2026, 12, 1))
    assert [r.code for r in one_day] == ["TL-AFTE-R222"]


async def test_timestamps_with_another_offset_are_compared_as_instants(db: Storage) -> None:
    local = datetime(2026, 11, 1, 0, 30, tzinfo=reports.TIMEZONE)  # written with +07:00
    await add_tip(db, local, code="TL-LOCA-L222")
    rows = await reports.report_rows(db, date(2026, 11, 1), date(2026, 11, 1))
    assert [r.code for r in rows] == ["TL-LOCA-L222"]
    assert await reports.report_rows(db, date(2026, 10, 31), date(2026, 10, 31)) == []


async def test_province_filter(db: Storage) -> None:
    await add_tip(db, utc(2026, 11, 5), code="TL-CANT-HO22")
    await add_tip(db, utc(2026, 11, 5), province=HCM, commune=None, code="TL-SAIG-ON22")
    rows = await reports.report_rows(db, *parse_period("2026-11"), province_code=HCM)
    assert [r.code for r in rows] == ["TL-SAIG-ON22"]
    assert len(await reports.report_rows(db, *parse_period("2026-11"))) == 2


async def test_csv_has_a_bom_a_header_local_times_and_no_free_text(db: Storage) -> None:
    forwarded = utc(2026, 11, 5, 10)
    await add_tip(
        db, utc(2026, 11, 5, 3), status="resolved", code="TL-DONE-2222", forwarded=forwarded,
        acknowledged=forwarded + timedelta(hours=2, minutes=30), closed=forwarded + timedelta(hours=50),
        outcome="verified",
    )
    await add_tip(db, utc(2026, 11, 6), commune=None, code="TL-OPEN-2222")
    rows = await reports.report_rows(db, *parse_period("2026-11"))
    text = reports.to_csv(rows)
    # For the steering committees: Vietnamese headers and values, no internal keys.
    assert text.startswith("\ufeffMã tin báo,Thời điểm báo tin,Trạng thái,Loại việc,")
    data = text.encode("utf-8")
    assert data.startswith(b"\xef\xbb\xbf")
    for secret in (SECRET_DESCRIPTION, "XYZZY", SECRET_ADDRESS, "QWERTY", "10.0345", "105.7876", "scrypt", "SECRET-FILE-ID"):
        assert secret not in text
    records = list(csv.DictReader(io.StringIO(text.removeprefix("\ufeff"))))
    done, still_open = records
    assert done == {
        "Mã tin báo": "TL-DONE-2222",
        "Thời điểm báo tin": "2026-11-05 10:00:00",
        "Trạng thái": "đã đóng, có kết quả",
        "Loại việc": "Mua bán ma túy",
        "Thời gian xảy ra": "Đã xảy ra trong hôm nay",
        "Tỉnh, thành phố": "Thành phố Cần Thơ",
        "Xã, phường, đặc khu": "Phường Ninh Kiều",
        "Mức ưu tiên": "cao",
        "Thời điểm chuyển đơn vị": "2026-11-05 17:00:00",
        "Thời điểm đơn vị xác nhận tiếp nhận": "2026-11-05 19:30:00",
        "Thời điểm đóng tin báo": "2026-11-07 19:00:00",
        "Kết quả xử lý": "đã xác minh, xử lý",
        "Số giờ từ khi chuyển đến khi xác nhận": "2.5",
        "Số giờ từ khi chuyển đến khi có kết quả": "50.0",
    }
    assert still_open["Xã, phường, đặc khu"] == "" and still_open["Thời điểm chuyển đơn vị"] == ""
    assert still_open["Trạng thái"] == "mới" and still_open["Số giờ từ khi chuyển đến khi có kết quả"] == ""
    # The same rows in English, column for column; the JSON keeps the stored keys (test_json_export).
    english = list(csv.reader(io.StringIO(reports.to_csv(rows, "en").removeprefix("\ufeff"))))
    assert english[0][:3] == ["Tip code", "Reported at", "Status"] and len(english[0]) == len(EXPORT_COLUMNS)
    assert english[1][2:5] == ["closed with an outcome", "Buying or selling drugs", "Happened today"]


async def test_json_export(db: Storage) -> None:
    await add_tip(db, utc(2026, 11, 5), province=HCM, commune=None, code="TL-SAIG-ON22")
    start, end = parse_period("2026-Q4")
    text = reports.to_json(await reports.report_rows(db, start, end, HCM), start, end, HCM)
    assert SECRET_DESCRIPTION not in text and SECRET_ADDRESS not in text
    document = json.loads(text)
    assert document["from"] == "2026-10-01" and document["to"] == "2026-12-31" and document["count"] == 1
    assert document["province"] == "Thành phố Hồ Chí Minh" and document["timezone"] == "Asia/Ho_Chi_Minh"
    (tip,) = document["tips"]
    assert tuple(tip) == EXPORT_COLUMNS
    assert tip["code"] == "TL-SAIG-ON22" and tip["hours_to_acknowledge"] is None and tip["commune"] == ""


async def test_hours_to_outcome_needs_forwarding_and_an_outcome(db: Storage) -> None:
    await add_tip(db, utc(2026, 11, 5), status="spam", closed=utc(2026, 11, 5, 1))
    (row,) = await reports.report_rows(db, *parse_period("2026-11"))
    assert row.hours_to_acknowledge is None and row.hours_to_outcome is None


# --- stats --------------------------------------------------------------------------------------------------------


async def test_stats_counts_and_medians(db: Storage) -> None:
    f = utc(2026, 11, 10)
    await add_tip(db, utc(2026, 11, 1), status="acknowledged", forwarded=f, acknowledged=f + timedelta(hours=1))
    await add_tip(db, utc(2026, 11, 2), status="acknowledged", forwarded=f, acknowledged=f + timedelta(hours=3))
    await add_tip(
        db, utc(2026, 11, 3), status="resolved", category="use", forwarded=f, acknowledged=f + timedelta(hours=8),
        closed=f + timedelta(hours=48), outcome="verified",
    )
    await add_tip(
        db, utc(2026, 11, 4), status="unfounded", category="use", commune=None, forwarded=f,
        acknowledged=f + timedelta(hours=2), closed=f + timedelta(hours=24), outcome="not_verified",
    )
    await add_tip(db, utc(2026, 11, 5), status="new", category="online", province=HCM, commune=None)
    await add_tip(db, utc(2026, 12, 5), status="spam")  # another month
    result = await reports.stats(db, *parse_period("2026-11"))
    assert result.total == 5
    assert result.by_status == {"new": 1, "acknowledged": 2, "resolved": 1, "unfounded": 1}
    assert list(result.by_status) == ["new", "acknowledged", "resolved", "unfounded"]  # Status order
    assert result.by_category == {"trading": 2, "use": 2, "online": 1}
    assert result.top_communes == [(NINH_KIEU, 3), (None, 2)]
    assert result.median_hours_to_acknowledge == 2.5  # of 1, 3, 8, 2
    assert result.median_hours_to_outcome == 36.0  # of 48, 24
    assert (result.acknowledged, result.with_outcome) == (4, 2)
    assert (await reports.stats(db, *parse_period("2026-11"), top=1)).top_communes == [(NINH_KIEU, 3)]
    cantho = await reports.stats(db, *parse_period("2026-11"), province_code=CAN_THO)
    assert cantho.total == 4 and "online" not in cantho.by_category


async def test_stats_without_data(db: Storage) -> None:
    await add_tip(db, utc(2026, 11, 1))
    result = await reports.stats(db, *parse_period("2026-11"))
    assert result.total == 1 and result.median_hours_to_acknowledge is None and result.median_hours_to_outcome is None
    empty = await reports.stats(db, *parse_period("2027"))
    assert empty.total == 0 and empty.by_status == {} and empty.top_communes == []


async def test_format_stats(db: Storage) -> None:
    f = utc(2026, 11, 10)
    await add_tip(db, utc(2026, 11, 1), status="acknowledged", forwarded=f, acknowledged=f + timedelta(hours=2.25))
    await add_tip(db, utc(2026, 11, 2), category="online", commune=None)
    result = await reports.stats(db, *parse_period("2026-11"), province_code=CAN_THO)
    text = reports.format_stats(result, translator("en"))
    assert "Nov 1, 2026" in text and "Nov 30, 2026" in text and "Thành phố Cần Thơ" in text
    assert "acknowledged by police: 1" in text  # statuses named as staff read them
    assert "Total: 2" in text
    assert "  new: 1" in text
    assert "  Buying or selling drugs: 1" in text and "  Selling drugs online (links, accounts, groups): 1" in text
    assert "Commune not given: 1" in text and "  Phường Ninh Kiều: 1" in text
    assert "acknowledgement (median): 2.2 hours" in text or "acknowledgement (median): 2.3 hours" in text
    assert "outcome (median): no data" in text
    assert SECRET_DESCRIPTION not in text
    vietnamese = reports.format_stats(result, translator("vi"))
    assert "Thành phố Cần Thơ" in vietnamese and vietnamese.count("\n") == text.count("\n")
    assert "Thời gian từ khi chuyển đến khi xác nhận (trung vị): 2,2 giờ" in vietnamese or "(trung vị): 2,3 giờ" in vietnamese
    empty = reports.format_stats(await reports.stats(db, *parse_period("2030")), translator("en"))
    assert empty.splitlines() == ["Tips, Jan 1, 2030 to Dec 31, 2030", "Total: 0"]


# --- the commands ---------------------------------------------------------------------------------------------------


@pytest.fixture
def env(path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    use_database(monkeypatch, path)
    monkeypatch.setenv("TIPLINE_SECRET_KEY", "Tq8vN2xR5mL7pW3kZ9yB4cH6jD1fG0sA-eUiOoPtest")
    monkeypatch.delenv("TELEGRAM_BOT_TOKEN", raising=False)

    async def seed() -> None:
        db = await open_test_storage(path)
        await add_tip(db, utc(2026, 11, 5), code="TL-CANT-HO22")
        await add_tip(db, utc(2026, 11, 6), province=HCM, commune=None, code="TL-SAIG-ON22")
        await add_tip(db, utc(2026, 7, 6), code="TL-JULY-2222")
        await db.close()

    asyncio.run(seed())
    return path


def test_cli_export_csv_to_a_file(env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out" / "q4.csv"
    assert main(["export", "--period", "2026-Q4", "--province", "Cần Thơ", "--output", str(out)]) == 0
    assert "1 tips from 2026-10-01 to 2026-12-31 written to" in capsys.readouterr().err
    data = out.read_bytes()
    assert data.startswith("\ufeffMã tin báo,Thời điểm báo tin,".encode())
    text = data.decode("utf-8-sig")
    assert "TL-CANT-HO22" in text and "TL-SAIG-ON22" not in text and "TL-JULY-2222" not in text
    assert SECRET_DESCRIPTION not in text and SECRET_ADDRESS not in text
    assert text.count("\r\n") == 2  # header and one row, Excel's line ends


def test_cli_export_dates_and_json_to_stdout(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["export", "--from", "2026-07-01", "--to", "2026-11-05", "--format", "json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert [tip["code"] for tip in document["tips"]] == ["TL-JULY-2222", "TL-CANT-HO22"]
    assert main(["export", "--period", "2026", "--province", "79"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("\ufeffMã tin báo,") and "TL-SAIG-ON22" in out and "TL-CANT-HO22" not in out
    assert main(["export", "--period", "2026", "--province", "79", "--lang", "en"]) == 0
    assert capsys.readouterr().out.startswith("\ufeffTip code,Reported at,")


def test_cli_export_json_by_file_name(env: Path, tmp_path: Path) -> None:
    out = tmp_path / "h2.json"
    assert main(["export", "--period", "2026-H2", "--output", str(out)]) == 0
    assert json.loads(out.read_text(encoding="utf-8"))["count"] == 3


@pytest.mark.parametrize(
    "argv, message",
    [
        (["export"], "give --period"),
        (["export", "--from", "2026-11-01"], "give --period"),
        (["export", "--period", "2026-11", "--from", "2026-11-01"], "not both"),
        (["export", "--period", "2026-13"], "no month 13"),
        (["export", "--from", "2026-11-02", "--to", "2026-11-01"], "before it starts"),
        (["export", "--from", "1/11/2026", "--to", "2026-11-01"], "not a date"),
        (["export", "--period", "2026", "--province", "Atlantis"], "no province matches"),
        (["stats", "--period", "2026", "--province", "999"], "no province with code 999"),
    ],
)
def test_cli_usage_errors(env: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str) -> None:
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_cli_stats(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["stats", "--period", "2026-11", "--lang", "en"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Tips, Nov 1, 2026 to Nov 30, 2026\nTotal: 2\n")
    assert main(["stats", "--period", "2026-11", "--province", "HCM"]) == 0
    assert "Thành phố Hồ Chí Minh" in capsys.readouterr().out
