"""Campaigns: how they read, files, schedules, two-person approval, pause / resume / cancel, the audit log,
the command line, and the guided flow in a private chat with the bot."""

from __future__ import annotations

import io
import re
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from backends import (
    BACKEND,
    INTEGRITY_ERRORS,
    database_url_for,
    ensure_database,
    open_test_storage,
    raw_connection,
    use_database,
)
from botapi import FakeBotApi
from harness import SECRET, Citizen, FakeClock, RunningBot, texts
from PIL import Image

from tipline.cli import main as cli
from tipline.delivery.plain import plain_text
from tipline.outreach.campaigns import Broadcaster, Campaigns, message, problems
from tipline.outreach.files import CampaignFileError, parse
from tipline.outreach.model import (
    AudienceFilter,
    ButtonKind,
    Campaign,
    CampaignButton,
    CampaignKind,
    CampaignStatus,
    Content,
    NewCampaign,
    Preferences,
    Schedule,
)
from tipline.outreach.policy import Policy, next_run, preset
from tipline.places.communes import directory
from tipline.records.audit import AuditLog
from tipline.replies import MenuEntry, PollVote
from tipline.staff.actors import Refusal
from tipline.staff.model import StaffRole
from tipline.storage.ports import Storage

NOW = datetime(2026, 11, 26, 3, 0, tzinfo=UTC)  # 10:00 in Vietnam
MODERATORS = -1001000000001
ADMIN_ID = 5550001
AUTHOR_ID = 5550010
OTHER_ID = 5550011

MESSAGE = NewCampaign(
    CampaignKind.MESSAGE,
    "Bóng cười",
    Content(
        text={"vi": "Bóng cười gây hại cho sức khỏe.", "en": "Laughing gas harms your health."},
        buttons=(CampaignButton(ButtonKind.READ_MORE, "disguised-laughing-gas"), CampaignButton(ButtonKind.STOP)),
    ),
)
POLL = NewCampaign(
    CampaignKind.POLL,
    "Khảo sát",
    Content(text={"vi": "Bạn đã nghe về “nước vui” chưa?"}, options=({"vi": "Rồi", "en": "Yes"}, {"vi": "Chưa"})),
)


# --- how a campaign reads -----------------------------------------------------------------------------


def test_a_message_reads_the_same_in_preview_and_delivery() -> None:
    vi = message(MESSAGE, "vi", campaign_id=7)
    assert vi.text.startswith("Bóng cười gây hại") and "“dừng”" in vi.text
    actions = [choice.action for choice in vi.flat_choices]
    assert actions == [MenuEntry("lib:e:disguised-laughing-gas"), MenuEntry("sub:stop")]
    en = message(MESSAGE, "en", campaign_id=7)
    assert en.text.startswith("Laughing gas harms") and "Read more" in en.flat_choices[0].label
    plain = plain_text(vi)
    assert "1) 📖 Đọc thêm" in plain and "2) 🛑 Ngừng nhận tin" in plain


def test_a_poll_has_one_button_per_answer_and_english_falls_back_to_vietnamese() -> None:
    reply = message(POLL, "en", run=2, campaign_id=9)
    assert reply.text.startswith("Bạn đã nghe")  # no English text: the Vietnamese one
    assert [(c.label, c.action) for c in reply.flat_choices] == [("Yes", PollVote(9, 2, 0)), ("Chưa", PollVote(9, 2, 1))]


def test_problems_are_named() -> None:
    assert problems(MESSAGE) == []
    bad = NewCampaign(CampaignKind.POLL, "x", Content(text={"vi": ""}, options=({"vi": "Có"},),
                                                      buttons=(CampaignButton(ButtonKind.READ_MORE, "nope"),)))
    found = " | ".join(problems(bad))
    assert "Vietnamese text is missing" in found and "2 to 6 answers" in found and "'nope'" in found
    with_image = NewCampaign(CampaignKind.MESSAGE, "x", Content(text={"vi": "a" * 1000}), image=b"x")
    assert "at most 900 with an image" in " ".join(problems(with_image))


# --- schedules ------------------------------------------------------------------------------------------


def test_monthly_schedule_presets_and_quiet_hours() -> None:
    monthly = Schedule(kind="monthly", day=5, time="08:00", until=date(2027, 1, 31))
    first = next_run(monthly, NOW)
    assert first == datetime(2026, 12, 5, 1, 0, tzinfo=UTC)  # 08:00 in Vietnam
    second = next_run(monthly, NOW, after=first)
    assert second == datetime(2027, 1, 5, 1, 0, tzinfo=UTC)
    assert next_run(monthly, NOW, after=second) is None  # past 'until'
    assert next_run(Schedule(), NOW) == NOW and next_run(Schedule(), NOW, after=NOW) is None
    assert preset("june26", NOW).at == datetime(2027, 6, 26, 1, 0, tzinfo=UTC)
    assert preset("june", datetime(2027, 3, 1, tzinfo=UTC)).at == datetime(2027, 6, 1, 1, 0, tzinfo=UTC)
    policy = Policy()
    assert not policy.quiet(NOW)  # 10:00
    late = datetime(2026, 11, 26, 15, 30, tzinfo=UTC)  # 22:30 in Vietnam
    assert policy.quiet(late) and policy.quiet_until(late) == datetime(2026, 11, 27, 0, 0, tzinfo=UTC)
    assert policy.quiet(datetime(2026, 11, 26, 23, 59, tzinfo=UTC)) and not policy.quiet(datetime(2026, 11, 27, 0, 0, tzinfo=UTC))


# --- files ----------------------------------------------------------------------------------------------

GOOD_FILE = """
title = "Tháng hành động"
kind = "poll"
image = "banner.png"

[text]
vi = "Bạn có biết tháng 6 là Tháng hành động phòng, chống ma túy?"
en = "Did you know June is the action month against drugs?"

[[options]]
vi = "Có"
en = "Yes"

[[options]]
vi = "Không"

[[buttons]]
kind = "report"

[audience]
provinces = ["Cần Thơ"]
communes = ["phuong hoan kiem", "Ninh Kiều, Cần Thơ"]
audiences = ["pupil", "teacher"]
langs = ["vi"]

[schedule]
kind = "monthly"
day = 1
time = "09:30"
"""


def png(path: Path) -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), "red").save(buffer, "PNG")
    path.write_bytes(buffer.getvalue())


def test_a_campaign_file(tmp_path: Path) -> None:
    png(tmp_path / "banner.png")
    new = parse(GOOD_FILE, tmp_path, NOW)
    assert new.kind == CampaignKind.POLL and new.image is not None and new.image.startswith(b"\x89PNG")
    hoan_kiem = directory().search("phuong hoan kiem")[0].commune.code
    assert new.audience == AudienceFilter((92,), tuple(sorted((hoan_kiem, 31135))), ("pupil", "teacher"), ("vi",))
    assert new.schedule == Schedule(kind="monthly", day=1, time="09:30")
    assert new.content.options[0] == {"vi": "Có", "en": "Yes"}


def test_a_bad_file_names_every_problem(tmp_path: Path) -> None:
    bad = """
kind = "poll"
colour = "red"
[text]
vi = "Câu hỏi?"
[[options]]
vi = "Có"
[audience]
provinces = ["Atlantis"]
audiences = ["robots"]
[schedule]
kind = "weekly"
"""
    with pytest.raises(CampaignFileError) as error:
        parse(bad, tmp_path, NOW)
    found = " | ".join(error.value.problems)
    for expected in ("unknown key 'colour'", "'Atlantis'", "'robots'", "weekly", "2 to 6 answers"):
        assert expected in found, found


# --- approval, lifecycle, audit ---------------------------------------------------------------------------


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Storage]:
    storage = await open_test_storage(tmp_path / "c.sqlite3")
    yield storage
    await storage.close()


AUTHOR = Broadcaster("telegram", str(AUTHOR_ID), "Tác giả", 1)
OTHER = Broadcaster("telegram", str(OTHER_ID), "Người duyệt", 2)
ADMIN = Broadcaster("telegram", str(ADMIN_ID), "Admin", 3, admin=True)


async def test_two_people_approve_and_every_step_is_audited(store: Storage) -> None:
    clock = FakeClock(NOW)
    audit = AuditLog(SECRET.encode())
    campaigns = Campaigns(store, audit, clock)
    campaign_id = await campaigns.create(AUTHOR, MESSAGE, submit=True)
    with pytest.raises(Refusal, match="not its author"):
        await campaigns.approve(AUTHOR, campaign_id)
    assert (await campaigns.get(campaign_id)).status == CampaignStatus.SUBMITTED
    approved = await campaigns.approve(OTHER, campaign_id)
    assert approved.status == CampaignStatus.APPROVED and approved.next_run_at == NOW
    with pytest.raises(Refusal):
        await campaigns.approve(ADMIN, campaign_id)  # not waiting for approval any more
    with pytest.raises(Refusal):
        await campaigns.pause(OTHER, campaign_id)  # only a running campaign pauses
    async with store.uow() as uow:
        await uow.campaigns.update(campaign_id, NOW, status=CampaignStatus.RUNNING)
    await campaigns.pause(ADMIN, campaign_id)
    await campaigns.resume(AUTHOR, campaign_id)
    await campaigns.cancel(OTHER, campaign_id)
    assert (await campaigns.get(campaign_id)).status == CampaignStatus.CANCELLED
    with pytest.raises(Refusal):
        await campaigns.resume(AUTHOR, campaign_id)
    async with store.read() as uow:
        entries = [(e.action, e.actor_role, e.actor_id) for e in await uow.audit.all()]
    assert entries == [
        ("campaign_created", "broadcaster", "1"), ("campaign_submitted", "broadcaster", "1"),
        ("campaign_refused", "broadcaster", "1"), ("campaign_approved", "broadcaster", "2"),
        ("campaign_paused", "admin", "3"), ("campaign_resumed", "broadcaster", "1"),
        ("campaign_cancelled", "broadcaster", "2"),
    ]
    assert (await audit.verify(store)).ok


async def test_the_audit_log_keeps_its_chain_through_the_outreach_migration(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tipline.records.audit import AuditEntry

    path = tmp_path / "old.sqlite3"
    if BACKEND == "sqlite":
        from tipline.storage.sqlite import store as store_module

        outreach = 8  # SQLite copies the audit log into a table with the new CHECK
    else:
        from tipline.storage.postgres import store as store_module  # type: ignore[no-redef]

        outreach = 2  # PostgreSQL changes the CHECK in place
        await ensure_database(database_url_for(path), empty=True)
    every = store_module.migrations()
    changes_roles = re.compile(r"actor_role\s+IN\s*\([^)]*'broadcaster'")
    assert [number for number, script in every if changes_roles.search(script)] == [outreach]
    monkeypatch.setattr(store_module, "migrations", lambda: [m for m in every if m[0] < outreach])
    audit = AuditLog(SECRET.encode())
    old = await open_test_storage(path)
    assert await old.schema_version() == outreach - 1
    for n in range(3):
        await audit.record(old, AuditEntry(actor_role="moderator", actor_id=1, action="claim", tip_code=f"TL-{n}"))
    with pytest.raises(INTEGRITY_ERRORS):  # not a role yet
        await audit.record(old, AuditEntry(actor_role="broadcaster", actor_id=1, action="campaign_created"))
    await old.close()
    async with raw_connection(path) as conn:  # a cut-off tail must stay detectable: the id counter is kept
        await conn.set_audit_counter(9)
    monkeypatch.setattr(store_module, "migrations", lambda: every)
    new = await open_test_storage(path)
    try:
        assert await new.schema_version() == len(every)
        result = await audit.verify(new)
        assert not result.ok and "missing" in result.reason  # entries 4 to 9 "were cut off"
        async with new.read() as uow:
            assert await uow.audit.highest_id() == 9 and len(await uow.audit.all()) == 3
        await audit.record(new, AuditEntry(actor_role="broadcaster", actor_id=1, action="campaign_created"))
        async with new.read() as uow:
            entries = await uow.audit.all()
        assert [(e.id, e.actor_role) for e in entries][-1] == (10, "broadcaster")
    finally:
        await new.close()
    async with raw_connection(path) as conn:  # the append-only guards are still there
        with pytest.raises(INTEGRITY_ERRORS, match="append-only"):
            await conn.execute("DELETE FROM audit_log")
        with pytest.raises(INTEGRITY_ERRORS, match="append-only"):
            await conn.execute("UPDATE audit_log SET detail = 'x'")


async def test_cancel_skips_recipients_not_reached(store: Storage) -> None:
    campaigns = Campaigns(store, AuditLog(), FakeClock(NOW))
    async with store.uow() as uow:
        for n in range(3):
            await uow.subscribers.subscribe(f"k{n}", "telegram", b"sealed", Preferences(92, None, "general", "vi"), NOW.date())
    campaign_id = await campaigns.create(AUTHOR, MESSAGE, submit=True)
    await campaigns.approve(OTHER, campaign_id)
    async with store.uow() as uow:
        assert await uow.campaigns.start_run(campaign_id, 1, AudienceFilter(), NOW) == 3
        await uow.campaigns.update(campaign_id, NOW, status=CampaignStatus.RUNNING, runs=1)
    async with store.uow() as uow:  # a second worker that found it due too starts nothing
        assert await uow.campaigns.start_run(campaign_id, 1, AudienceFilter(), NOW) is None
    await campaigns.cancel(OTHER, campaign_id)
    async with store.read() as uow:
        counts = await uow.campaigns.counts(campaign_id, 1)
    assert counts.by_state == {"skipped": 3}


# --- the command line ---------------------------------------------------------------------------------------


def test_tipline_campaign_create_from_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    import asyncio

    db = tmp_path / "cli.sqlite3"
    asyncio.run(ensure_database(database_url_for(db)))
    use_database(monkeypatch, db)
    monkeypatch.setenv("TIPLINE_SECRET_KEY", SECRET)
    monkeypatch.setenv("TIPLINE_ADMIN_IDS", str(ADMIN_ID))
    monkeypatch.delenv("TELEGRAM_BOT_TOKEN", raising=False)
    png(tmp_path / "banner.png")
    path = tmp_path / "june.toml"
    path.write_text(GOOD_FILE, encoding="utf-8")
    assert cli(["campaign", "create", str(path), "--author", "999"]) == 2  # not a broadcaster
    assert cli(["campaign", "create", str(path), "--author", str(ADMIN_ID)]) == 0
    out = capsys.readouterr().out
    assert "--- Telegram (vi) ---" in out and "[📝 Báo tin]" in out and "1) Có" in out and "campaign #1 submitted" in out
    assert cli(["campaign", "approve", "1", "--by", str(ADMIN_ID)]) == 1  # the author cannot approve

    async def add_broadcaster() -> None:
        storage = await open_test_storage(db)
        try:
            async with storage.uow() as uow:
                await uow.staff.add("telegram", "777", "Lan", StaffRole.BROADCASTER, NOW)
        finally:
            await storage.close()

    asyncio.run(add_broadcaster())
    assert cli(["campaign", "approve", "1", "--by", "777"]) == 0
    assert "approved" in capsys.readouterr().out

    async def stored() -> tuple[Campaign | None, bytes | None]:
        storage = await open_test_storage(db)
        try:
            async with storage.read() as uow:
                return await uow.campaigns.get(1), await uow.campaigns.image(1)
        finally:
            await storage.close()

    campaign, image = asyncio.run(stored())
    assert campaign is not None and campaign.status == CampaignStatus.APPROVED and campaign.approver_ref == "777"
    assert campaign.has_image and image is not None and image.startswith(b"\x89PNG")
    bad = tmp_path / "bad.toml"
    bad.write_text('kind = "poll"\n[text]\nvi = "?"\n', encoding="utf-8")
    assert cli(["campaign", "create", str(bad), "--author", str(ADMIN_ID)]) == 1
    assert "2 to 6 answers" in capsys.readouterr().err


# --- the guided flow, end to end -------------------------------------------------------------------------


@pytest.fixture
async def world(api: FakeBotApi, tmp_path: Path) -> AsyncIterator[dict[str, Any]]:
    admin = api.user(user_id=ADMIN_ID, first_name="Admin")
    author = api.user(user_id=AUTHOR_ID, first_name="Tác giả")
    group = api.group(chat_id=MODERATORS, title="Moderators", members=[admin])
    bot = RunningBot(api, tmp_path / "tipline.sqlite3", FakeClock(NOW),
                     tipline_moderator_chat_id=MODERATORS, tipline_admin_ids=str(ADMIN_ID))
    await bot.start()
    assert bot.core is not None
    async with bot.core.storage.uow() as uow:
        await uow.staff.set_role("telegram", str(AUTHOR_ID), StaffRole.BROADCASTER, True, NOW)
    yield {"bot": bot, "admin": admin, "author": author, "group": group}
    await bot.stop()
    api.assert_no_refusals()
    assert bot.errors == []


class Author(Citizen):
    """A broadcaster in a private chat: campaign buttons are chosen by their action (``2k|<action>|<id>``)."""

    async def press(self, label: str, message: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        target = message or self.last_with_buttons
        assert target is not None
        for row in target["reply_markup"]["inline_keyboard"]:
            for button in row:
                if button["callback_data"].split("|")[1] == label:
                    return await self._after(self.user.press(target, button["callback_data"]))
        return await super().press(label, message)


async def test_a_broadcaster_writes_a_campaign_and_another_person_approves_it(api: FakeBotApi, world: dict[str, Any]) -> None:
    bot: RunningBot = world["bot"]
    author = Author(world["author"], bot)
    answer = await author.say("/campaign")
    assert "#1" in texts(answer)
    await author.press("kind_poll")
    await author.say("Bạn đã từng thấy “nước vui” được mời ở quán chưa?")
    await author.press("skip")  # no English text
    await author.say("Đã thấy\nChưa thấy\nKhông rõ")
    await author.press("skip")  # no image
    await author.press("btn_read")
    found = await author.say("nước vui")
    assert any("entry:" in b["callback_data"] for row in found[-1]["reply_markup"]["inline_keyboard"] for b in row)
    await author.press("entry:disguised-happy-water")
    await author.press("btn_stop")
    await author.press("done")
    await author.say("Cần Thơ; phuong hoan kiem")
    await author.press("tag_pupil")
    await author.press("done")
    await author.press("langs_all")
    review = await author.press("when_now")
    shown = texts(review)
    assert "Bạn đã từng thấy" in shown and "Dạng văn bản thuần" in shown and "1) Đã thấy" in shown
    assert "Thành phố Cần Thơ" in shown and "Học sinh, sinh viên" in shown
    submitted = await author.press("submit")
    assert "/approve 1" in texts(submitted)

    # the request reaches the moderators' group; the author cannot approve it, an admin can
    group = world["group"]
    request = next(m for m in reversed(group.inbox) if "#1" in (m.get("text") or ""))
    denied = await author.send(author.user.send("/approve 1"))
    assert "không phải người soạn" in texts(denied)
    await group.press(world["admin"], request, "2k|approve|1")
    await bot.settle()
    told = await world["author"].wait_for(1)
    assert "được phê duyệt" in told[0]["text"]
    async with bot.read() as uow:
        [campaign] = await uow.campaigns.with_status(tuple(CampaignStatus))
        actions = [entry.action for entry in await uow.audit.all()]
    # approved, and (to be sent 'now') taken up by the sender at once: no subscriber matches, so it is soon done
    assert campaign.status in ("approved", "running", "done") and campaign.approver_ref == str(ADMIN_ID)
    assert campaign.kind == CampaignKind.POLL and campaign.draft_step is None
    assert CampaignButton(ButtonKind.READ_MORE, "disguised-happy-water") in campaign.content.buttons
    assert campaign.audience.audiences == ("pupil",)
    assert actions[:4] == ["campaign_created", "campaign_submitted", "campaign_refused", "campaign_approved"]


async def test_citizens_cannot_use_campaign_commands_or_buttons(api: FakeBotApi, world: dict[str, Any]) -> None:
    bot: RunningBot = world["bot"]
    stranger = Citizen(api.user(first_name="Lạ"), bot)
    answer = await stranger.say("/campaign")
    assert "/campaign" in texts(answer)  # the citizen's answer to an unknown command
    forged = await stranger.press_raw(1, "2k|approve|1")
    assert forged == [] or "#1" not in texts(forged)
    assert stranger.user.callback_answers[-1]["text"] == "Chỉ cán bộ truyền thông và quản trị viên mới làm được việc này."


def test_sending_schedule_is_stored_in_utc() -> None:
    assert Schedule.from_json(Schedule(kind="at", at=NOW + timedelta(days=1)).to_json()).at == NOW + timedelta(days=1)


async def test_senders_in_several_processes_count_themselves_to_split_the_rate(store: Storage) -> None:
    lapse = timedelta(seconds=5)
    async with store.uow() as uow:
        assert await uow.send_shares.beat("host:1:a", "campaigns", NOW, NOW - lapse) == 1
        assert await uow.send_shares.beat("host:2:b", "campaigns", NOW, NOW - lapse) == 2
        assert await uow.send_shares.beat("host:1:a", "campaigns", NOW + timedelta(seconds=1), NOW - lapse) == 2
    later = NOW + timedelta(seconds=7)  # the second process died: it is not heard from, its part comes back
    async with store.uow() as uow:
        assert await uow.send_shares.beat("host:1:a", "campaigns", later, later - lapse) == 1
        await uow.send_shares.leave("host:1:a")
        assert await uow.send_shares.beat("host:3:c", "campaigns", later, later - lapse) == 1
        assert await uow.send_shares.owners("campaigns") == ["host:3:c"]


def test_a_sender_whose_process_is_gone_from_this_machine_is_known() -> None:
    """A restarted bot need not wait for its killed predecessor's share to lapse: that process is gone."""
    import os
    import socket
    import subprocess
    import sys

    from tipline.outreach.sender import _gone_here

    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True)
    here = socket.gethostname()
    assert _gone_here(f"{here}:{done.stdout.strip()}:ab12")
    assert not _gone_here(f"{here}:{os.getpid()}:ab12")  # this process
    assert not _gone_here(f"{here}:1:ab12")  # alive (init)
    assert not _gone_here(f"another-host:{done.stdout.strip()}:ab12")  # not this machine's to judge
