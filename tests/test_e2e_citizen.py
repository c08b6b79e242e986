"""End to end: citizens talk to the real bot through python-telegram-bot's HTTP stack and the local
Bot API server, which refuses whatever Telegram would refuse."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from botapi import FakeBotApi
from harness import Citizen, RunningBot, texts

import bot.telegram.channel as telegram_channel

CODE = re.compile(r"TL-[2-9A-Z]{4}-[2-9A-Z]{4}")
PASSPHRASE = re.compile(r"(?<![A-Z0-9-])[2-9A-Z]{4}-[2-9A-Z]{4}-[2-9A-Z]{4}(?![A-Z0-9-])")
DESCRIPTION = "Có người bán ma túy đá ở quán nước đầu ngõ 12 mỗi tối từ 21 giờ, đi xe máy màu đỏ."


@pytest.fixture
async def bot(api: FakeBotApi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[RunningBot]:
    monkeypatch.setattr(telegram_channel, "RETRY_BASE_DELAY", 0.01)
    running = RunningBot(api, tmp_path / "tipline.sqlite3")
    await running.start()
    yield running
    await running.stop()
    api.assert_no_refusals()
    assert running.errors == []


def person(api: FakeBotApi, bot: RunningBot, name: str = "Lan") -> Citizen:
    return Citizen(api.user(first_name=name, last_name="Nguyễn", username=f"{name.lower()}_vn_88"), bot)


async def fill_report(c: Citizen, description: str = DESCRIPTION) -> list[dict]:
    """Walks a report up to the review; returns the review message(s)."""
    await c.say("/start")
    await c.press("menu:report")
    await c.press("cat:trading")
    await c.press("urg:ongoing")
    await c.say("can tho")
    await c.say("ninh kieu")
    await c.say("Gần chợ đêm, hẻm 51")
    await c.say(description)
    await c.press("next")
    await c.send(c.user.send_photo(size=150_000))
    return await c.press("next")


async def submit(c: Citizen, description: str = DESCRIPTION) -> tuple[str, str]:
    review = await fill_report(c, description)
    assert "Ninh Kiều" in texts(review) and "Cần Thơ" in texts(review)
    receipt = await c.press("confirm")
    text = texts(receipt)
    code = CODE.search(text)
    passphrase = PASSPHRASE.search(text)
    assert code and passphrase, text
    return code.group(0), passphrase.group(0)


async def test_full_report_gives_a_receipt_and_stores_no_identity(api: FakeBotApi, bot: RunningBot) -> None:
    lan = person(api, bot)
    welcome = await lan.say("/start")
    assert "113" in texts(welcome)
    code, passphrase = await submit(lan)
    await lan.press("optin:no")

    tip = await bot.tip(code)
    assert tip.category == "trading" and tip.urgency == "ongoing"
    assert tip.province_code == 92 and tip.description == DESCRIPTION
    async with bot.read() as uow:
        passphrase_hash = await uow.tips.passphrase_hash(code)
        assert await uow.subscriptions.all() == []
    assert passphrase_hash is not None and passphrase not in passphrase_hash and passphrase_hash.startswith("scrypt$")
    assert [e.kind for e in tip.evidence] == ["photo"]
    await assert_no_identity_in_database(bot, lan)


async def assert_no_identity_in_database(bot: RunningBot, *people: Citizen) -> None:
    """No table holds a chat id, user id, name or username, in any column, in any form."""
    needles = []
    for c in people:
        user = c.user.json
        needles += [str(user["id"]), user["first_name"], user.get("last_name") or "", user.get("username") or ""]
    needles = [n for n in needles if n]
    records = await bot.records()
    assert "tips" in records and "sessions" in records
    for table, rows in records.items():
        for row in rows:
            for value in row.values():
                blob = value.decode("latin-1") if isinstance(value, bytes) else str(value)
                for needle in needles:
                    assert needle not in blob, f"{needle!r} found in table {table}"


async def test_two_citizens_report_at_the_same_time(api: FakeBotApi, bot: RunningBot) -> None:
    lan, minh = person(api, bot, "Lan"), person(api, bot, "Minh")
    (code_a, _), (code_b, _) = await asyncio.gather(submit(lan, DESCRIPTION), submit(minh, "Nhóm thanh niên tụ tập sử dụng bóng cười tại quán karaoke"))
    assert code_a != code_b
    async with bot.read() as uow:
        tips, total = await uow.tips.open_tips(0, 10)
    assert total == 2
    rows = {tip.code: tip.description for tip in tips}
    assert rows == {code_a: DESCRIPTION, code_b: "Nhóm thanh niên tụ tập sử dụng bóng cười tại quán karaoke"}


async def test_status_and_followup_from_another_chat(api: FakeBotApi, bot: RunningBot) -> None:
    lan = person(api, bot)
    code, passphrase = await submit(lan)
    await lan.press("optin:no")

    other = person(api, bot, "Hoa")  # another phone, another account
    await other.say("/start")
    await other.say(f"/status {code.lower().replace('-', ' ')}")
    status = await other.say(passphrase)
    assert code in texts(status)
    assert "Received" in texts(status) or "Đã nhận" in texts(status) or "tiếp nhận" in texts(status).lower()

    await other.say("/followup")
    await other.say(code)
    await other.say(passphrase)
    added = await other.say("Tối nay có thêm 2 người lạ đến giao hàng.")
    assert code in texts(added)
    pdf = pdf_with_author("Nguyễn Văn Hoa")
    sent = await other.send(other.user.send_document(file_name="hoa-ban-ke-khai.pdf", mime_type="application/pdf", data=pdf))
    assert any(m.get("document") for m in sent), "the clean copy is shown in the chat"
    await other.press("followup:done")
    tip = await bot.tip(code)
    async with bot.read() as uow:
        followups = await uow.tips.followups(tip.id)
        assert await uow.tips.count() == 1
    assert [f.text for f in followups] == ["Tối nay có thêm 2 người lạ đến giao hàng.", ""]
    kept = [e for f in followups for e in f.evidence]
    assert len(kept) == 1 and kept[0].name is None  # not the original file name
    cleaned = api.files.by_id[kept[0].ref].data
    assert cleaned is not None and b"Hoa" not in cleaned and b"Nguy" not in cleaned
    await assert_no_identity_in_database(bot, lan, other)


def pdf_with_author(author: str) -> bytes:
    """A one-page PDF whose metadata names its author (as a phone's PDF tool would)."""
    import io

    from pypdf import PdfWriter

    writer = PdfWriter()
    writer.add_blank_page(200, 200)
    writer.add_metadata({"/Author": author, "/Creator": "Điện thoại của Hoa"})
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


async def test_wrong_passphrases_are_rate_limited(api: FakeBotApi, bot: RunningBot) -> None:
    lan = person(api, bot)
    code, passphrase = await submit(lan)
    await lan.press("optin:no")
    thief = person(api, bot, "Tuan")
    for attempt in range(4):
        await thief.say(f"/status {code}")
        answer = await thief.say("AAAA-BBBB-CCCC")
        assert str(4 - attempt) in texts(answer)
    await thief.say(f"/status {code}")
    locked = await thief.say("AAAA-BBBB-CCCC")
    assert "15" in texts(locked)
    # Even the right passphrase is refused while locked: the lock is what stops guessing.
    await thief.say(f"/status {code}")
    still = await thief.say(passphrase)
    assert "15" in texts(still) and "TL-" not in texts(still)


async def test_opt_in_keeps_a_sealed_link_and_forget_removes_it(api: FakeBotApi, bot: RunningBot) -> None:
    lan = person(api, bot)
    code, _ = await submit(lan)
    done = await lan.press("optin:yes")
    assert "/forget" in texts(done)
    async with bot.read() as uow:
        sealed = [link.sealed_ref for link in await uow.subscriptions.all()]
    assert len(sealed) == 1
    assert str(lan.user.id).encode() not in sealed[0]
    assert bot.core is not None
    assert bot.core.keyring.unseal(sealed[0]) == ("telegram", str(lan.user.id))
    await assert_no_identity_in_database(bot, lan)

    forgotten = await lan.say("/forget")
    assert "1" in texts(forgotten)
    async with bot.read() as uow:
        assert await uow.subscriptions.all() == []
        assert await uow.sessions.count() == 0
        assert await uow.tips.by_code(code) is not None and await uow.tips.count() == 1


async def test_restart_mid_report_continues_where_the_citizen_was(api: FakeBotApi, bot: RunningBot, tmp_path: Path) -> None:
    lan = person(api, bot)
    await lan.say("/start")
    await lan.press("menu:report")
    await lan.press("cat:online")
    await lan.press("urg:today")
    await bot.stop()

    await lan.user.send("ha noi")  # written while the bot is down: Telegram keeps it
    restarted = RunningBot(api, tmp_path / "tipline.sqlite3")
    restarted._first_id = bot._first_id
    restarted._finished = bot._finished
    await restarted.start()
    lan.bot = restarted
    try:
        await restarted.settle()
        answer = await lan.say("hoan kiem")
        review = await lan.press("next")  # address skipped
        assert review
        await lan.say("Tài khoản Facebook bán cần sa qua tin nhắn, giao hàng tận nơi")
        await lan.press("next")
        final = await lan.press("next")
        text = texts(final)
        assert "Hoàn Kiếm" in text and "Hà Nội" in text
        receipt = await lan.press("confirm")
        assert CODE.search(texts(receipt))
        assert answer
    finally:
        await restarted.stop()
    assert restarted.errors == []


async def test_a_choice_is_answered_in_place_of_its_question_and_telegram_refuses_nothing(
    api: FakeBotApi, bot: RunningBot
) -> None:
    lan = person(api, bot)
    await lan.say("/start")
    await lan.press("menu:report")
    category = lan.last_with_buttons
    assert category is not None
    old_data = next(b["callback_data"] for row in category["reply_markup"]["inline_keyboard"] for b in row)
    sent_before = len(lan.user.chat.sent_log)

    [answer] = await lan.press("cat:trading")
    assert answer["message_id"] == category["message_id"] and len(lan.user.chat.sent_log) == sent_before
    trace, _, question = answer["text"].partition("\n\n")
    assert trace.startswith("✓ ") and trace in {"✓ Mua bán ma túy", "✓ Selling drugs"}, trace
    assert any("|urg:" in b["callback_data"] for row in answer["reply_markup"]["inline_keyboard"] for b in row)
    assert question and "✓" not in question

    # A second tap on the old button arrives after the edit: told politely, the question asked again below.
    again = await lan.press_raw(category["message_id"], old_data)
    assert len(again) == 2 and again[-1].get("reply_markup") and again[0]["message_id"] > category["message_id"]

    # Turning pages of provinces leaves one line for all the turns, under the choices already made.
    await lan.press("urg:ongoing")
    await lan.press("page:1")
    [page] = await lan.press("page:2")
    lines = page["text"].split("\n\n")[0].split("\n")
    assert len(lines) == 2 and lines[0].startswith("✓ ") and lines[1].startswith("✓ "), lines

    # An answer of two messages (the emergency numbers, then the next question) is sent below instead.
    await lan.say("/cancel")
    await lan.press("menu:report")
    await lan.press("cat:trading")
    urgency = lan.last_with_buttons
    assert urgency is not None
    answers = await lan.press("urg:now")
    assert len(answers) == 2 and "113" in texts(answers) and answers[-1].get("reply_markup")
    assert not lan.user.chat.messages[urgency["message_id"]].get("reply_markup")  # its buttons were removed
