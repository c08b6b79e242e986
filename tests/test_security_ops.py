"""Threat: the line run carelessly, and moderators' screens that say more than happened.

Who attacks: mostly nobody, which is the point: an operator who starts the bot without the moderators'
group (cards used to be marked delivered and lost); a question relayed to a tipster that makes Telegram
fetch a link preview (the link's server then sees the tipster's phone); /stats counting a month in UTC; a
tipster's follow-up file that never reaches the moderators; closed tips kept in full for ever; a chat that
confirms tips without end; a double tap that makes the bot send Telegram a request it refuses; a refused
press (a colleague's "release", another unit's forged acknowledge, a replay on a resolved tip) that rewrites
the card's last line in the refuser's name; "Ask tipster" refused only after the question was typed; and in
a forum group, the confirmation landing in the General topic.

What must hold: without TIPLINE_MODERATOR_CHAT_ID cards stay queued (start-up says so) and go out once it is
set; relayed questions have link previews disabled; /stats counts the month in Asia/Ho_Chi_Minh; follow-up
files reach the moderators; after TIPLINE_RETENTION_DAYS a closed tip keeps its code, status, commune and
dates and nothing else a tipster wrote or sent, anywhere in the file; a chat confirms at most 10 tips a day;
no request is refused by Telegram; a refused press changes no card and no tip; "Ask tipster" is refused at
the press; in a forum, the confirmation goes to the tip's topic.
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from backends import BACKEND
from botapi import FakeBotApi
from harness import FakeClock, RunningBot, texts
from security_world import (
    MODERATORS,
    NOT_ALLOWED_VI,
    OTHER_POLICE,
    POLICE,
    World,
    fill_report,
    last_action,
    staff_world,
    submit,
    vi,
)

from tipline.delivery.model import Kind
from tipline.i18n import translator
from tipline.staff.cards import ACTION_LABELS, OUTCOME_LABELS, REASON_LABELS, prompt_text
from tipline.tips import Category, Status, Urgency

CLAIMED = vi("Another moderator has claimed this tip.")
MARKER = "WOMBAT4412"


@pytest.fixture
async def world(api: FakeBotApi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[World]:
    async with staff_world(api, tmp_path, monkeypatch) as w:
        yield w


async def test_without_a_moderators_chat_cards_wait_and_go_out_once_it_is_set(
    api: FakeBotApi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    async with staff_world(api, tmp_path, monkeypatch, moderators=False) as world:
        assert any("TIPLINE_MODERATOR_CHAT_ID" in r.getMessage() for r in caplog.records), "start-up says so"
        code, _ = await submit(world.citizen("Lan"))
        await world.settle()
        world.clock.advance(hours=2)
        await world.settle()  # the outbox tries again, and keeps the card
        async with world.read() as uow:
            cards = await uow.outbox.tally(Kind.CARD)
        assert cards.waiting >= 1 and (cards.delivered, cards.failed) == (0, 0), cards
        assert world.group.inbox == []
    restarted = RunningBot(api, tmp_path / "tipline.sqlite3", world.clock, tipline_moderator_chat_id=MODERATORS)
    await restarted.start()
    try:
        world.clock.advance(minutes=11)
        await restarted.deliver()
        assert any(code in (m.get("text") or "") for m in world.group.inbox), "the card went out once it was set"
    finally:
        await restarted.stop()
    assert restarted.errors == []


async def test_questions_to_tipsters_ask_for_no_link_preview(api: FakeBotApi, world: World) -> None:
    lan = world.citizen("Lan")
    code, _ = await submit(lan, optin=True)
    await world.press(world.group, world.mai, await world.card(code), "claim")
    await world.press(world.group, world.mai, await world.card(code), "ask")
    await world.answer_prompt(world.group, world.mai, "Có phải trang này không? https://shop-example.vn/sp/123")
    [question] = await lan.user.wait_for(1)
    assert "https://shop-example.vn/sp/123" in question["text"]
    assert question.get("link_preview_options") == {"is_disabled": True}
    [request] = [r for r in api.calls("sendMessage") if r.ok and r.result["message_id"] == question["message_id"]
                 and r.arg("chat_id") == lan.user.id]
    assert request.arg("link_preview_options") == {"is_disabled": True}


@pytest.mark.parametrize("now", [datetime(2026, 11, 30, 18, 0, tzinfo=UTC)])  # 1 December, 01:00 in Vietnam
async def test_stats_count_the_month_in_vietnam(
    api: FakeBotApi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, now: datetime
) -> None:
    clock = FakeClock(datetime(2026, 11, 30, 16, 30, tzinfo=UTC))  # 23:30 on 30 November in Vietnam
    async with staff_world(api, tmp_path, monkeypatch, clock=clock) as world:
        await submit(world.citizen("Lan"), photo=False)
        world.clock.now = datetime(2026, 11, 30, 17, 30, tzinfo=UTC)  # 00:30 on 1 December in Vietnam
        await submit(world.citizen("Minh"), "Có nhóm người lạ hút bóng cười ở bãi đất trống gần bờ sông", photo=False)
        world.clock.now = now
        await world.say(world.group, world.mai, "/stats")
        stats = world.group.last
        december = translator("vi").date(date(2026, 12, 1))
        assert stats is not None and december in stats["text"] and vi("Total: {total}", total=1) in stats["text"], stats["text"]


async def test_follow_up_files_reach_the_moderators(api: FakeBotApi, world: World) -> None:
    code, passphrase = await submit(world.citizen("Lan"))
    await world.card(code)
    hoa = world.citizen("Hoa")  # another phone
    await hoa.say("/followup")
    await hoa.say(code)
    await hoa.say(passphrase)
    posted = await hoa.send(hoa.user.send_photo(size=90_000))
    assert code in texts(posted)
    await hoa.press("followup:done")
    await world.settle()
    tip = await world.tip(code)
    async with world.read() as uow:
        [followup] = await uow.tips.followups(tip.id)
    [ref] = [e.ref for e in followup.evidence]
    sent = [r for r in api.calls("sendPhoto") if r.ok and r.arg("chat_id") == MODERATORS]
    assert any(r.params.get("photo") == ref for r in sent), "the follow-up's photo was re-sent to the moderators"
    line = next(m for m in world.group.inbox if "💬" in (m.get("text") or "") and code in m["text"])
    photo = next(m for m in world.group.inbox if m.get("photo") and m["photo"][-1]["file_id"] == ref)
    assert photo.get("reply_to_message", {}).get("message_id") == line["message_id"], "under its line"


def file_bytes(world: World) -> bytes:
    db = world.bot.db_path
    return b"".join(p.read_bytes() for p in (db, db.with_name(db.name + "-wal")) if p.exists())


async def stored_text(world: World) -> str:
    """Every value of every row, as text (what a copy of the database shows, on either backend)."""
    records = await world.bot.records()
    return "\n".join(str(value) for rows in records.values() for row in rows for value in row.values())


async def test_closed_tips_keep_only_what_statistics_need_after_the_retention_period(
    api: FakeBotApi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with staff_world(api, tmp_path, monkeypatch, tipline_retention_days=30) as world:
        lan = world.citizen("Lan")
        code, passphrase = await submit(lan, f"Mật danh {MARKER}: người bán tên Tư, nhà cổng sắt xanh hẻm 9", optin=True)
        await world.press(world.group, world.mai, await world.card(code), "claim")
        await world.press(world.group, world.mai, await world.card(code), "ask")
        await world.answer_prompt(world.group, world.mai, f"Câu hỏi {MARKER}: nhà số mấy?")
        await lan.user.wait_for(1)
        await lan.say("/followup")
        await lan.say(code)
        await lan.say(passphrase)
        await lan.say(f"Trả lời {MARKER}: nhà số 12")
        await lan.send(lan.user.send_photo(size=80_000))
        await lan.press("followup:done")
        await world.press(world.group, world.mai, await world.card(code), "unfounded")
        kept_open, _ = await submit(world.citizen("Minh"), f"Tin còn mở {MARKER}: bán hàng ở chợ đêm mỗi tối")
        await world.settle()
        before = await world.tip(code)

        world.clock.advance(days=29)
        await world.core.purge()
        assert (await world.tip(code)).description == before.description, "not before the retention period"

        world.clock.advance(days=2)
        await world.core.purge()
        after = await world.tip(code)
        for field in ("code", "status", "category", "urgency", "province_code", "commune_code", "created_at", "closed_at", "outcome"):
            assert getattr(after, field) == getattr(before, field), field
        assert after.description == "" and after.address is None and after.latitude is None
        assert before.evidence and after.evidence == ()
        async with world.read() as uow:
            assert await uow.tips.followups(before.id) == [] and await uow.tips.followup_count(before.id) == 0
            assert await uow.messages.for_tip(before.id) == []
        assert MARKER in (await world.tip(kept_open)).description, "an open tip is not touched"
        # Nothing the tipster wrote or sent about the closed tip is left in any table ...
        text = await stored_text(world)
        assert text.count(MARKER) == text.count(f"Tin còn mở {MARKER}") > 0, "only the open tip's text"
        if BACKEND == "sqlite":  # ... nor anywhere in SQLite's files (see docs/THREAT_MODEL.md for PostgreSQL)
            data = file_bytes(world)
            assert data.count(MARKER.encode()) == data.count(f"Tin còn mở {MARKER}".encode()) > 0, "only the open tip's text"


async def tip_count(world: World) -> int:
    async with world.read() as uow:
        return await uow.tips.count()


async def test_a_chat_confirms_at_most_ten_tips_a_day(api: FakeBotApi, world: World) -> None:
    lan = world.citizen("Lan", pace=3.0)
    for n in range(10):
        await submit(lan, f"Tin thứ {n + 1}: có người bán ma túy đá ở hẻm {n + 1} mỗi tối", photo=False)
    await fill_report(lan, "Tin thứ 11: có người bán ma túy đá ở hẻm 11 mỗi tối", photo=False)
    refused = texts(await lan.press("confirm"))
    assert "10" in refused and "TL-" not in refused
    assert await tip_count(world) == 10
    tomorrow = world.clock().replace(hour=0, minute=0, second=30) + timedelta(days=1)
    world.clock.now = tomorrow  # the chat's next day (a draft idle for a whole day would be deleted)
    receipt = texts(await lan.press("confirm"))  # the draft was kept for the next day
    assert "TL-" in receipt and await tip_count(world) == 11


async def test_double_taps_send_nothing_telegram_refuses(api: FakeBotApi, world: World) -> None:
    lan = world.citizen("Lan")
    await lan.say("/start")
    await lan.press("menu:report")
    question = lan.last_with_buttons
    assert question is not None
    data = next(b["callback_data"] for row in question["reply_markup"]["inline_keyboard"] for b in row if b["callback_data"].endswith("cat:trading"))
    for _ in range(2):  # both taps reach Telegram before the bot has answered the first
        await lan.user.press(question, data)
    await world.settle()
    edits = [r for r in api.calls("editMessageReplyMarkup") if r.arg("message_id") == question["message_id"]]
    assert len(edits) == 1 and all(r.ok for r in edits)

    await lan.say("/cancel")
    code, _ = await submit(lan)
    card = await world.card(code)
    claim = next(d for row in card["reply_markup"]["inline_keyboard"] for d in [b["callback_data"] for b in row] if "|claim|" in d)
    for _ in range(2):
        await world.group.press(world.mai, card, claim)
    await world.settle()
    assert (await world.tip(code)).status == "in_review"
    assert api.refusals == [] and world.bot.errors == []
    async with world.read() as uow:
        assert len(await uow.staff.roles("telegram", str(world.mai.id))) == 1


def card_edits(api: FakeBotApi, chat: int, message_id: int) -> int:
    return len([r for r in api.calls("editMessageText") if r.arg("chat_id") == chat and r.arg("message_id") == message_id])


async def test_a_refused_press_changes_no_card(api: FakeBotApi, world: World) -> None:
    await world.link_unit("CA-NK", POLICE)
    await world.link_unit("CA-CR", OTHER_POLICE)
    code, _ = await submit(world.citizen("Lan"))
    await world.press(world.group, world.mai, await world.card(code), "claim")
    card = await world.card(code)
    assert last_action("claimed", "Mai") in card["text"], card["text"]

    def unchanged(expected: dict[str, Any], edits: int) -> None:
        now = next(m for m in world.group.inbox if m["message_id"] == expected["message_id"])
        assert now["text"] == expected["text"] and card_edits(api, MODERATORS, expected["message_id"]) == edits

    # A colleague's release, refused: the card still says what Mai did.
    tips = (await world.snapshot())["tips"]
    edits = card_edits(api, MODERATORS, card["message_id"])
    assert await world.press(world.group, world.binh, card, "release") == CLAIMED
    await world.settle()
    unchanged(card, edits)
    assert (await world.snapshot())["tips"] == tips and (await world.audit())[-1].action == "refused"

    # Another unit forges an acknowledge from its own chat, on whatever message it has.
    await world.press(world.group, world.mai, card, "forward")
    card = await world.card(code)
    edits = card_edits(api, MODERATORS, card["message_id"])
    other, _ = await submit(world.citizen("Hoa"), "Có nhóm người lạ hút bóng cười ở bãi đất trống gần bờ sông", commune="cai rang")
    await world.press(world.group, world.mai, await world.card(other), "claim")
    await world.press(world.group, world.mai, await world.card(other), "forward")
    await world.say(world.other_police, world.other_officer, "Đã nhận")
    own = (await world.card(other, world.other_police))["message_id"]
    for message_id in sorted(set(world.other_police.chat.messages) - {own}):
        world.clock.advance(seconds=3)
        assert await world.forge(world.other_police, message_id, "2c|acknowledge|forwarded", world.other_officer) == NOT_ALLOWED_VI
    unchanged(card, edits)
    assert (await world.tip(code)).status == "forwarded" and last_action("forwarded", "Mai") in card["text"]

    # The unit resolves it; replayed presses on the resolved tip change nothing either.
    unit_card = await world.card(code, world.police)
    await world.press(world.police, world.officer, unit_card, "acknowledge")
    await world.press(world.police, world.officer, await world.card(code, world.police), "verified")
    card = next(m for m in world.group.inbox if m["message_id"] == card["message_id"])
    edits = card_edits(api, MODERATORS, card["message_id"])
    tips = (await world.snapshot())["tips"]
    for data in ("2c|acknowledge|forwarded", "2c|verified|acknowledged", "2c|not_verified|acknowledged"):
        world.clock.advance(seconds=3)
        await world.forge(world.police, unit_card["message_id"], data, world.officer)
    await world.settle()
    unchanged(card, edits)
    assert (await world.snapshot())["tips"] == tips


async def test_ask_by_a_moderator_without_the_claim_is_refused_at_the_press(api: FakeBotApi, world: World) -> None:
    code, _ = await submit(world.citizen("Lan"), optin=True)
    await world.press(world.group, world.mai, await world.card(code), "claim")
    sent = len(world.group.chat.sent_log)
    assert await world.press(world.group, world.binh, await world.card(code), "ask") == CLAIMED
    assert len(world.group.chat.sent_log) == sent, "no prompt to type a question into"
    assert not any(m.get("text") == prompt_text("ask", code) for m in world.group.inbox)
    assert not [p for p in (await world.snapshot())["prompts"] if p["action"] == "ask"]


@pytest.fixture
async def forum_world(api: FakeBotApi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[World]:
    async with staff_world(api, tmp_path, monkeypatch, forum=True) as w:
        yield w


async def test_in_a_forum_the_confirmation_goes_to_the_tips_topic(api: FakeBotApi, forum_world: World) -> None:
    world = forum_world
    code, _ = await submit(world.citizen("Lan"), optin=True)
    card = await world.card(code)
    thread = card.get("message_thread_id")
    assert thread is not None
    await world.press(world.group, world.mai, card, "claim")
    await world.press(world.group, world.mai, await world.card(code), "ask")
    await world.answer_prompt(world.group, world.mai, "Có biển số xe không?")
    confirmation = world.group.last
    assert confirmation is not None and confirmation["text"] == vi("Your question was sent to the tipster of {code}.", code=code)
    assert confirmation.get("message_thread_id") == thread
    assert all(m.get("message_thread_id") == thread for m in world.group.inbox if code in (m.get("text") or ""))


INTERNAL = (
    {c.value for c in Category} | {s.value for s in Status} | {u.value for u in Urgency}
    | set(REASON_LABELS) | set(OUTCOME_LABELS) | set(ACTION_LABELS)
)


def internal_words(text: str) -> set[str]:
    return {word for word in re.findall(r"(?<![\w/.:-])[a-z_]+(?![\w/.:-])", text)} & INTERNAL


async def test_staff_screens_show_no_internal_keys(api: FakeBotApi, world: World) -> None:
    await world.link_unit("CA-NK", POLICE)
    code, _ = await submit(world.citizen("Lan"), optin=True)
    other, _ = await submit(world.citizen("Minh"), "có bán hàng ở đó", photo=False)  # short: a spam signal too
    await world.press(world.group, world.mai, await world.card(code), "claim")
    await world.press(world.group, world.mai, await world.card(code), "raise")
    await world.press(world.group, world.mai, await world.card(code), "forward")
    await world.press(world.police, world.officer, await world.card(code, world.police), "acknowledge")
    await world.say(world.group, world.mai, f"/tip {code}")
    await world.say(world.group, world.mai, "/queue")
    await world.say(world.group, world.mai, "/stats")
    screens = [m.get("text") or "" for chat in (world.group, world.police) for m in chat.inbox]
    assert any(code in s for s in screens) and any(other in s for s in screens)
    for text in screens:
        assert not internal_words(text), (internal_words(text), text)
