"""End to end: every step answers unexpected input politely and repeats its question; nothing crashes,
nothing is lost (restarts, Telegram outages, a full disk), floods are contained."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from backends import postgres_only, raw_connection, sqlite_only
from botapi import FakeBotApi
from harness import Citizen, FakeClock, RunningBot, texts
from test_e2e_citizen import CODE, DESCRIPTION, fill_report, person

import bot.telegram.channel as telegram_channel
from tipline.facts import DESCRIPTION_MAX_CHARS
from tipline.storage.sqlite.store import SqliteStorage


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def bot(api: FakeBotApi, tmp_path: Path, clock: FakeClock, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[RunningBot]:
    monkeypatch.setattr(telegram_channel, "RETRY_BASE_DELAY", 0.01)
    running = RunningBot(api, tmp_path / "tipline.sqlite3", clock)
    await running.start()
    yield running
    await running.stop()
    api.assert_no_refusals()
    assert running.errors == []


def last_has_buttons(messages: list[dict]) -> bool:
    return bool(messages and messages[-1].get("reply_markup"))


async def start_report(c: Citizen) -> None:
    await c.say("/start")
    await c.press("menu:report")


async def test_every_step_answers_unexpected_input_and_repeats_the_question(api: FakeBotApi, bot: RunningBot) -> None:
    lan = person(api, bot)
    await start_report(lan)

    # Category: a sticker, text instead of a button, an unknown command.
    for action in (lan.user.send_sticker(), lan.user.send("ma túy"), lan.user.send("/xyz")):
        answer = await lan.send(action)
        assert len(answer) == 2 and last_has_buttons(answer), texts(answer)
        assert any("cat:trading" in b["callback_data"] for row in answer[-1]["reply_markup"]["inline_keyboard"] for b in row)
    await lan.press("cat:transport")

    # Urgency: a voice note, a contact card (never stored).
    answer = await lan.send(lan.user.send_voice())
    assert len(answer) == 2 and last_has_buttons(answer)
    answer = await lan.send(lan.user.send_contact(phone_number="+84901234567"))
    assert len(answer) == 2 and last_has_buttons(answer)
    await lan.press("urg:now")

    # Province: garbage that matches nothing, a photo.
    answer = await lan.say("zzqqxx")
    assert len(answer) == 2 and last_has_buttons(answer)
    answer = await lan.send(lan.user.send_photo())
    assert len(answer) == 2 and last_has_buttons(answer)
    await lan.say("tuyen quang")

    # Commune: a name that is not in the province, a sticker.
    answer = await lan.say("hoan kiem")
    assert "Tuyên Quang" in texts(answer) and last_has_buttons(answer)
    answer = await lan.send(lan.user.send_sticker())
    assert len(answer) == 2
    await lan.press("com:unknown")

    # Address: too long, then a shared location: kept as extra detail only once the citizen, warned that it
    # shows where they are, chooses to keep it.
    answer = await lan.say("x" * 301)
    assert "300" in texts(answer)
    answer = await lan.send(lan.user.send_location(21.82, 105.21))
    assert last_has_buttons(answer) and len(answer) == 1
    await lan.press("pending:keep")
    await lan.press("next")

    # Description: oversized in total, a sticker, Done before enough text.
    await lan.say("a" * 2000)
    answer = await lan.say("b" * 1500)
    assert f"{DESCRIPTION_MAX_CHARS:,}".replace(",", ".") in texts(answer) or str(DESCRIPTION_MAX_CHARS) in texts(answer)
    answer = await lan.send(lan.user.send_sticker())
    assert len(answer) == 2
    await lan.press("clear")
    await lan.say("ngắn")
    answer = await lan.press("next")
    assert last_has_buttons(answer)  # still on the description step
    await lan.say(DESCRIPTION)
    await lan.press("next")

    # Evidence: a file over 20 MB, plain text without a link, then a link.
    answer = await lan.send(lan.user.send_document(file_name="big.mp4", size=25 * 1024 * 1024))
    assert "20" in texts(answer)
    answer = await lan.say("không có")
    assert last_has_buttons(answer)
    await lan.say("https://facebook.com/someone.selling")
    review = await lan.press("next")
    text = texts(review)
    assert "21.82" in text and ("link" in text.lower() or "liên kết" in text.lower())

    # Review: text where a button is expected, then confirm.
    answer = await lan.say("ok")
    assert last_has_buttons(answer), texts(answer)
    receipt = await lan.press("confirm")
    code = CODE.search(texts(receipt))
    assert code
    tip = await bot.tip(code.group(0))
    assert tip.commune_code is None and tip.latitude == 21.82 and tip.description == "ngắn\n" + DESCRIPTION
    assert [e.ref for e in tip.evidence] == ["https://facebook.com/someone.selling"]
    sessions = (await bot.records())["sessions"]
    assert sessions and "84901234567" not in "".join(str(tuple(r.values())) for r in sessions)


async def test_stale_and_forged_buttons_are_refused_politely(api: FakeBotApi, bot: RunningBot) -> None:
    lan = person(api, bot)
    await start_report(lan)
    category_message = lan.last_with_buttons
    assert category_message is not None
    await lan.press("cat:trading")
    urgency_message = lan.last_with_buttons

    # The pressed message lost its buttons; pressing an old button's data again is stale.
    old_data = next(b["callback_data"] for row in category_message["reply_markup"]["inline_keyboard"] for b in row)
    for forged in (old_data, "v1:999|cat:trading", "v9:1|x", "garbage", "v1:" + "9" * 20 + "|urg:now"):
        answer = await lan.press_raw(category_message["message_id"], forged)
        assert len(answer) == 2 and last_has_buttons(answer), (forged, texts(answer))
    assert urgency_message is not None
    # The current question still works.
    answer = await lan.press("urg:past")
    assert last_has_buttons(answer)
    async with bot.read() as uow:
        assert await uow.tips.count() == 0


async def test_flooding_gets_one_notice_then_silence(api: FakeBotApi, bot: RunningBot) -> None:
    lan = person(api, bot)
    lan.pace = 0
    await lan.say("/start")
    answers = []
    for i in range(40):
        answers += await lan.say("xin chào" if i % 2 else "alo")  # each answered with one message, the menu
    assert len(answers) == 29 + 1, texts(answers)  # 29 normal answers, then one notice, then nothing


async def test_idle_draft_expires_and_the_citizen_is_told(api: FakeBotApi, bot: RunningBot, clock: FakeClock) -> None:
    lan = person(api, bot)
    await start_report(lan)
    await lan.press("cat:trading")
    clock.advance(hours=25)
    answer = await lan.press("urg:now")  # a button of the expired draft
    assert "24" in texts(answer)
    state = await bot.session_state(lan.user.id)
    assert state is not None and '"draft"' not in state


async def test_purge_removes_idle_drafts_and_tells_the_citizen_later(api: FakeBotApi, bot: RunningBot, clock: FakeClock) -> None:
    lan = person(api, bot)
    await start_report(lan)
    await lan.press("cat:trading")
    clock.advance(hours=25)
    assert bot.core is not None
    await bot.core.citizens.purge()
    state = await bot.session_state(lan.user.id)
    assert state is not None and '"draft"' not in state and "Ma túy" not in state
    answer = await lan.say("/report")
    assert "24" in texts(answer)


async def test_telegram_outage_during_the_receipt_loses_nothing(api: FakeBotApi, bot: RunningBot) -> None:
    lan = person(api, bot)
    await fill_report(lan)
    api.fail_next(method="sendMessage", count=2, status=502)
    receipt = await lan.press("confirm")  # retried through two failures
    code = CODE.search(texts(receipt))
    assert code

    # A longer outage: every retry fails, so the receipt is shown again at the next message.
    kim = person(api, bot, "Kim")
    await fill_report(kim)
    api.fail_next(method="sendMessage", count=telegram_channel.SEND_ATTEMPTS, status=502)
    lost = await kim.press("confirm")
    assert not CODE.search(texts(lost))  # at most an apology got through
    assert bot.errors and "Bad Gateway" in str(bot.errors[-1])
    bot.errors.clear()
    again = await kim.say("/start")
    resent = CODE.search(texts(again))
    assert resent
    async with bot.read() as uow:
        assert await uow.tips.by_code(resent.group(0)) is not None and await uow.tips.count() == 2
    then = await kim.say("/help")
    assert not CODE.search(texts(then))  # delivered once, then the sealed copy is gone


@sqlite_only
async def test_full_disk_gives_an_error_and_no_half_written_tip(api: FakeBotApi, bot: RunningBot) -> None:
    lan = person(api, bot)
    await fill_report(lan, "Mô tả dài: " + "ồ" * 2900)  # a tip that needs new pages (UTF-8: 3 bytes a letter)
    assert bot.core is not None
    assert isinstance(bot.core.storage, SqliteStorage)
    conn = bot.core.storage.conn
    pages = (await (await conn.execute("PRAGMA page_count")).fetchone())[0]
    await conn.execute(f"PRAGMA max_page_count = {pages + 2}")
    # Fill every free page, as a full disk would leave no room at all.
    await conn.execute("CREATE TABLE filler (x BLOB)")
    for size in (4096, 1024, 256, 64, 16):
        while True:
            try:
                await conn.execute("INSERT INTO filler VALUES (randomblob(?))", (size,))
            except sqlite3.OperationalError as exc:
                assert "full" in str(exc)
                break
    answer = await lan.press("confirm")
    assert not CODE.search(texts(answer)) and last_has_buttons(answer)
    await assert_nothing_written(bot)
    await conn.execute("PRAGMA max_page_count = 1073741823")
    receipt = await lan.press("confirm")
    assert CODE.search(texts(receipt))


async def assert_nothing_written(bot: RunningBot) -> None:
    async with bot.read() as uow:
        assert await uow.tips.count() == 0
    records = await bot.records()
    assert records["tips"] == [] and records["evidence"] == [] and records["outbox"] == []


@postgres_only
async def test_a_full_disk_on_the_server_gives_an_error_and_no_half_written_tip(api: FakeBotApi, bot: RunningBot) -> None:
    """PostgreSQL's counterpart: the server reports a full disk (SQLSTATE 53100) while the tip's evidence is
    written, after the tip's own row; the citizen is asked to confirm again later, and nothing of it stays."""
    lan = person(api, bot)
    await fill_report(lan)
    async with raw_connection(bot.db_path) as raw:
        await raw.execute(
            "CREATE FUNCTION disk_full() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            "RAISE EXCEPTION 'could not extend file: No space left on device' USING ERRCODE = 'disk_full'; END; $$"
        )
        await raw.execute("CREATE TRIGGER disk_full BEFORE INSERT ON evidence FOR EACH ROW EXECUTE FUNCTION disk_full()")
    answer = await lan.press("confirm")
    assert not CODE.search(texts(answer)) and last_has_buttons(answer)
    await assert_nothing_written(bot)
    async with raw_connection(bot.db_path) as raw:
        await raw.execute("DROP TRIGGER disk_full ON evidence")
    receipt = await lan.press("confirm")
    assert CODE.search(texts(receipt))


async def test_unknown_command_and_edited_message_get_an_answer(api: FakeBotApi, bot: RunningBot) -> None:
    lan = person(api, bot)
    first = await lan.say("/start")
    answer = await lan.say("/baocao")
    assert "/baocao" in texts(answer) and "/help" in texts(answer)
    sent = await lan.user.send("hello")
    await bot.settle()
    await lan.user.wait_for(1)
    answer = await lan.send(lan.user.edit(sent, "hello again"))
    assert answer and first
    assert re.search(r"edit|sửa", texts(answer), re.IGNORECASE)


async def test_an_unexpected_error_gets_an_apology_and_the_citizen_can_go_on(
    api: FakeBotApi, bot: RunningBot, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import tipline.citizen.conversation as conversation

    lan = person(api, bot)
    await start_report(lan)
    real = conversation.handle
    calls = {"n": 0}

    def broken_once(*args: object, **kwargs: object) -> object:
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("a bug")
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(conversation, "handle", broken_once)
    apology = await lan.press("cat:trading")
    assert len(apology) == 1 and not apology[0].get("reply_markup")
    assert [type(e) for e in bot.errors] == [RuntimeError]
    bot.errors.clear()
    assert any("unexpected error" in r.getMessage() for r in caplog.records)
    assert all(str(lan.user.id) not in r.getMessage() and "Lan" not in r.getMessage() for r in caplog.records)
    # The draft was not touched: the same question comes again, and works.
    again = await lan.say("/report")
    assert again[-1].get("reply_markup")
    answer = await lan.press("cat:trading")
    assert answer[-1].get("reply_markup")


async def test_a_chat_confirms_at_most_its_daily_tips_and_keeps_the_draft(
    api: FakeBotApi, bot: RunningBot, clock: FakeClock
) -> None:
    from tipline.citizen.service import Limits

    assert bot.core is not None
    bot.core.citizens.limits = Limits(tips_per_chat_per_day=1)
    lan = person(api, bot)
    await fill_report(lan)
    assert CODE.search(texts(await lan.press("confirm")))
    await lan.press("optin:no")
    await fill_report(lan, "Lần thứ hai: người lạ giao hàng ở hẻm 51 lúc 22 giờ.")
    refused = await lan.press("confirm")
    assert not CODE.search(texts(refused)) and "1" in texts(refused) and last_has_buttons(refused)
    async with bot.read() as uow:
        assert await uow.tips.count() == 1
    clock.advance(hours=21)  # the next (UTC) day, before the draft would expire: it goes through
    assert CODE.search(texts(await lan.press("confirm")))
    async with bot.read() as uow:
        assert await uow.tips.count() == 2
