"""Programme reports on a known data set: per province and commune, tips received, forwarded, acknowledged,
handled, median hours, campaign messages delivered and poll answers; the CSV, the chart, the command line,
and /report in the moderators' group."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from backends import open_test_storage, use_database
from botapi import FakeBotApi
from harness import FakeClock, RunningBot, texts
from test_reports import CAN_THO, HCM, NINH_KIEU, add_tip

from tipline.cli import main
from tipline.i18n import translator
from tipline.outreach.model import (
    AudienceFilter,
    CampaignKind,
    CampaignStatus,
    Content,
    NewCampaign,
    Outcome,
    Preferences,
    RecipientState,
)
from tipline.records import programme
from tipline.storage.ports import Storage

CAI_RANG = 31186
NOV = date(2026, 11, 1), date(2026, 11, 30)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


async def known_data(db: Storage) -> None:
    h = timedelta(hours=1)
    a = utc(2026, 11, 2, 1)
    await add_tip(db, a, status="resolved", forwarded=a + 2 * h, acknowledged=a + 8 * h, closed=a + 32 * h, outcome="resolved")
    b = utc(2026, 11, 10, 1)
    await add_tip(db, b, status="acknowledged", forwarded=b + 4 * h, acknowledged=b + 14 * h)
    await add_tip(db, utc(2026, 11, 20, 1))  # not forwarded
    await add_tip(db, utc(2026, 10, 31, 17))  # 00:00 on 1 November in Vietnam: in
    await add_tip(db, utc(2026, 10, 31, 16, 59))  # 23:59 on 31 October in Vietnam: out
    d = utc(2026, 11, 15, 1)
    await add_tip(db, d, commune=CAI_RANG, status="unfounded", forwarded=d + h, acknowledged=d + 3 * h,
                  closed=d + 6 * h, outcome="unfounded")
    await add_tip(db, utc(2026, 11, 5, 1), commune=None)  # no commune given
    f = utc(2026, 11, 7, 1)
    await add_tip(db, f, province=HCM, commune=None, status="forwarded", forwarded=f + 3 * h)
    await add_tip(db, utc(2026, 12, 1, 1))  # December: out

    await known_outreach(db)


async def known_outreach(db: Storage) -> None:
    """Two subscribers in Ninh Kiều, one for the whole province; a poll delivered twice, answered in Ninh Kiều."""
    async with db.uow() as uow:
        for n, commune in enumerate((NINH_KIEU, NINH_KIEU, None)):
            await uow.subscribers.subscribe(f"k{n}", "telegram", b"x", Preferences(CAN_THO, commune, "general", "vi"),
                                            date(2026, 11, 1))
        poll = NewCampaign(CampaignKind.POLL, "p", Content(text={"vi": "?"}, options=({"vi": "a"}, {"vi": "b"})))
        campaign = await uow.campaigns.create(poll, CampaignStatus.RUNNING, "telegram", "1", None, utc(2026, 11, 20))
    for run, when in ((1, utc(2026, 11, 20, 3)), (2, utc(2026, 12, 2, 3))):
        async with db.uow() as uow:
            await uow.campaigns.start_run(campaign, run, AudienceFilter(), when)
            leased = await uow.campaigns.claim(campaign, run, when, when + timedelta(minutes=1), 10, 3, when - timedelta(days=7))
            await uow.campaigns.finish([Outcome(r.id, r.subscriber_id, RecipientState.SENT) for r in leased], when)
            if run == 1:
                for recipient in leased[:2]:  # the two in Ninh Kiều
                    assert await uow.campaigns.vote(campaign, run, recipient.subscriber_id, 0) == "counted"
            await uow.campaigns.finish_run(campaign, run, when)
    async with db.uow() as uow:
        await uow.campaigns.update(campaign, utc(2026, 12, 2, 4), status=CampaignStatus.DONE, runs=2)


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Storage]:
    storage = await open_test_storage(tmp_path / "programme.sqlite3")
    await known_data(storage)
    yield storage
    await storage.close()


def figures(line: programme.PlaceLine) -> tuple[Any, ...]:
    return (
        line.received, line.forwarded, line.acknowledged, line.handled, programme.median(line.to_forward),
        programme.median(line.to_acknowledge), programme.median(line.to_handle), line.delivered, line.answers,
    )


async def test_the_numbers_on_a_known_data_set(db: Storage) -> None:
    report = await programme.programme_report(db, *NOV)
    lines = {(line.province_code, line.commune_code): figures(line) for line in report.places}
    assert lines == {
        (CAN_THO, None): (1, 0, 0, 0, None, None, None, 1, 0),
        (CAN_THO, NINH_KIEU): (4, 2, 2, 1, 3.0, 8.0, 30.0, 2, 2),
        (CAN_THO, CAI_RANG): (1, 1, 1, 1, 1.0, 2.0, 5.0, 0, 0),
        (HCM, None): (1, 1, 0, 0, 3.0, None, None, 0, 0),
    }
    provinces = {line.province_code: figures(line) for line in report.provinces()}
    assert provinces[CAN_THO] == (6, 3, 3, 2, 2.0, 6.0, 17.5, 3, 2)
    assert figures(report.total())[:4] == (7, 4, 3, 2)

    only = await programme.programme_report(db, *NOV, province_code=HCM)
    assert [(line.province_code, line.received) for line in only.places] == [(HCM, 1)]


async def test_the_csv_opens_in_excel_and_neutralises_formulas(db: Storage) -> None:
    text = programme.to_csv(await programme.programme_report(db, *NOV))
    assert text.startswith("\ufeff") and "\r\n" in text
    rows = list(csv.DictReader(io.StringIO(text.lstrip("\ufeff"))))
    assert list(rows[0]) == list(programme.COLUMNS)
    ninh_kieu = next(r for r in rows if r["commune"] == "Phường Ninh Kiều")
    assert (ninh_kieu["tips_received"], ninh_kieu["median_hours_to_acknowledge"], ninh_kieu["poll_answers"]) == ("4", "8.0", "2")
    total = next(r for r in rows if r["commune"] == "*" and r["province"] == "Thành phố Cần Thơ")
    assert total["tips_handled"] == "2" and total["median_hours_to_handle"] == "17.5"
    assert "Bí mật" not in text and "QWERTY" not in text
    for dangerous in ("=HYPERLINK(\"x\")", "+1", "-2+3", "@SUM(A1)", "\tx", "\rx"):
        assert programme._cell(dangerous) == "'" + dangerous
    assert programme._cell(-3) == -3 and programme._cell("Phường Ninh Kiều") == "Phường Ninh Kiều"


async def test_the_chart_is_a_png(db: Storage) -> None:
    report = await programme.programme_report(db, *NOV)
    image = programme.chart(report, translator("vi"))
    assert image.startswith(b"\x89PNG") and len(image) > 2000
    summary = programme.summary(report, translator("vi"))
    assert "Tin báo nhận được: 7; đã chuyển: 4; đã xác nhận tiếp nhận: 3; đã xử lý xong: 2" in summary


def test_tipline_report_writes_the_csv_and_the_chart(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    import asyncio

    path = tmp_path / "cli.sqlite3"

    async def prepare() -> None:
        storage = await open_test_storage(path)
        try:
            await known_data(storage)
        finally:
            await storage.close()

    asyncio.run(prepare())
    use_database(monkeypatch, path)
    output = tmp_path / "out" / "q4.csv"
    assert main(["report", "--period", "2026-Q4", "--province", "can tho", "--output", str(output)]) == 0
    rows = list(csv.DictReader(io.StringIO(output.read_text(encoding="utf-8").lstrip("\ufeff"))))
    assert {r["province"] for r in rows} == {"Thành phố Cần Thơ"}
    assert output.with_suffix(".png").read_bytes().startswith(b"\x89PNG")
    assert "Báo cáo chương trình" in capsys.readouterr().out
    assert main(["report", "--period", "2026-13"]) == 2


# --- /report in the moderators' group ---------------------------------------------------------------------

MODERATORS = -1001000000001
ADMIN_ID = 5550001


@pytest.fixture
async def group_bot(api: FakeBotApi, tmp_path: Path) -> AsyncIterator[dict[str, Any]]:
    admin = api.user(user_id=ADMIN_ID, first_name="Admin")
    mod = api.user(user_id=5550002, first_name="Mai")
    group = api.group(chat_id=MODERATORS, title="Moderators", members=[admin, mod])
    bot = RunningBot(api, tmp_path / "tipline.sqlite3", FakeClock(utc(2026, 12, 3, 3)),
                     tipline_moderator_chat_id=MODERATORS, tipline_admin_ids=str(ADMIN_ID))
    await bot.start()
    assert bot.core is not None
    await known_data(bot.core.storage)
    yield {"bot": bot, "admin": admin, "mod": mod, "group": group}
    await bot.stop()
    api.assert_no_refusals()
    assert bot.errors == []


async def test_admins_get_the_report_as_text_and_a_photo_in_the_group(api: FakeBotApi, group_bot: dict[str, Any]) -> None:
    bot, group = group_bot["bot"], group_bot["group"]
    await group.send(group_bot["admin"], "/report 2026-11")
    await bot.settle()
    summary, photo = await group.wait_for(2)
    assert "Báo cáo chương trình từ 01/11/2026 đến 30/11/2026" in summary["text"]
    assert "Tin báo nhận được: 7" in summary["text"] and "photo" in photo
    await group.send(group_bot["mod"], "/report 2026-11")
    await bot.settle()
    [refusal] = await group.wait_for(1)
    assert "không có quyền" in refusal["text"]
    # in a private chat /report is still a citizen's report
    citizen = api.user(first_name="Lan")
    await citizen.send("/report")
    await bot.settle()
    assert "Bước 1" in texts(await citizen.wait_for(2))
