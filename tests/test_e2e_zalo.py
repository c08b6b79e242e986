"""End to end on Zalo: citizens talk to the real Zalo adapter (its HTTP client and long polling) through the local
Zalo Bot API server; their tips reach moderators on the local Telegram server, photos included (cleaned of
their metadata), and the moderators' questions and news come back to the Zalo chat. No Zalo id or name ever
reaches a table, a card or a log line."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from botapi import FakeBotApi, SimGroup
from harness import FakeClock, RunningBot
from test_e2e_moderation import answer_prompt, card_in, press
from zalo_harness import RunningZalo, ZaloCitizen, number_of
from zaloapi import HANOI, FakeZaloApi, gps_of

import bot.telegram.channel as telegram_channel
import bot.zalo.channel as zalo_channel
from bot.logs import quiet_libraries

MODERATORS = -1001000000001
CODE = re.compile(r"TL-[2-9A-Z]{4}-[2-9A-Z]{4}")
PASSPHRASE = re.compile(r"(?<![A-Z0-9-])[2-9A-Z]{4}-[2-9A-Z]{4}-[2-9A-Z]{4}(?![A-Z0-9-])")
DESCRIPTION = "Có người bán ma túy đá ở quán nước đầu ngõ 12 mỗi tối từ 21 giờ, đi xe máy màu đỏ."


@pytest.fixture
async def zapi() -> AsyncIterator[FakeZaloApi]:
    async with FakeZaloApi() as server:
        yield server


@pytest.fixture
async def world(
    api: FakeBotApi, zapi: FakeZaloApi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> AsyncIterator[dict[str, Any]]:
    caplog.set_level(logging.INFO)
    quiet_libraries()  # as in production (bot.logs): our own lines at INFO, libraries at WARNING
    monkeypatch.setattr(telegram_channel, "RETRY_BASE_DELAY", 0.01)
    monkeypatch.setattr(zalo_channel, "RETRY_BASE_DELAY", 0.01)
    clock = FakeClock()
    mod = api.user(user_id=5550002, first_name="Mai", username="mai_mod")
    group = api.group(chat_id=MODERATORS, title="Moderators", members=[mod])
    bot = RunningBot(
        api, tmp_path / "tipline.sqlite3", clock, tipline_moderator_chat_id=MODERATORS,
        zalo_bot_token=zapi.token, zalo_api_base_url=zapi.base_url,
    )
    await bot.start()
    assert bot.core is not None
    zalo = RunningZalo(bot.core, zapi)
    await zalo.start()
    yield {"bot": bot, "zalo": zalo, "clock": clock, "mod": mod, "group": group}
    await zalo.stop()
    await bot.stop()
    api.assert_no_refusals()
    zapi.assert_no_refusals()
    assert bot.errors == []


def person(zapi: FakeZaloApi, world: dict[str, Any], name: str = "Nguyễn Thị Lan") -> ZaloCitizen:
    return ZaloCitizen(zapi.user(display_name=name), world["zalo"], world["clock"])


async def report(lan: ZaloCitizen, description: str = DESCRIPTION) -> tuple[str, str, list[str]]:
    """A complete report typed on Zalo, with a photo; returns code, passphrase and the description messages."""
    welcome = await lan.say("Xin chào")  # Zalo has no /start: the first message is greeted
    assert "113" in welcome[0] and "ẩn danh" in welcome[0].lower() and "1) " in welcome[-1]  # the menu, numbered
    category = await lan.say(number_of(welcome, "Báo tin"))
    urgency = await lan.say(number_of(category, "Mua bán"))
    province = await lan.say(number_of(urgency, "thường xuyên"))
    assert "1) " not in province[-1] and "Hà Nội" in province[-1]  # a place can be typed: options by name
    await lan.say("can tho")
    await lan.say("ninh kieu")
    await lan.say("Gần chợ đêm, hẻm 51")
    await lan.say(description)
    typed_number = await lan.say("2")  # a number where words are typed is text, never a choice
    assert "mô tả" in typed_number[-1]  # still the description ("so far: N of 3,000 characters")
    evidence = await lan.say("xong")
    assert "1) " not in evidence[-1]
    after_photo = await lan.send(lan.user.send_image(caption="chỗ này"))
    assert "1" in after_photo[-1]  # "1 of 10 items"
    review = await lan.say("xong")
    assert "Ninh Kiều" in review[-1] and "Cần Thơ" in review[-1] and "1) " in review[-1]
    receipt = await lan.say(number_of(review, "Xác nhận"))
    text = "\n".join(receipt)
    code, passphrase = CODE.search(text), PASSPHRASE.search(text)
    assert code and passphrase, text
    return code.group(0), passphrase.group(0), receipt


async def test_a_zalo_report_reaches_moderators_and_their_question_and_news_come_back(
    api: FakeBotApi, zapi: FakeZaloApi, world: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    bot: RunningBot = world["bot"]
    group: SimGroup = world["group"]
    lan = person(zapi, world)
    code, _passphrase, receipt = await report(lan)
    optin = await lan.say(number_of(receipt, "Có"))
    assert "/forget" in optin[0]

    tip = await bot.tip(code)
    assert tip.channel == "zalo" and tip.province_code == 92
    assert tip.description == DESCRIPTION + "\n2"  # the typed number stayed text
    [photo] = tip.evidence
    assert photo.kind == "photo" and photo.ref.startswith(zapi.url)

    card = await card_in(group, bot, code)
    assert "Zalo" in card["text"] and "Kênh" in card["text"]
    assert lan.user.id not in card["text"] and "Lan" not in card["text"]
    photos = [m for m in group.inbox if "photo" in m]
    assert len(photos) == 1, "the Zalo photo is re-uploaded under the card"
    uploaded = api.files.get(photos[0]["photo"][-1]["file_id"])
    assert uploaded is not None and uploaded.data is not None
    original = zapi.file(photo.ref)
    assert gps_of(original.data) is not None and abs(gps_of(original.data)[0] - HANOI[0]) < 1e-3  # type: ignore[index]
    assert gps_of(uploaded.data) is None and uploaded.data != original.data and b"FakePhone" not in uploaded.data

    # A moderator asks; the question reaches the Zalo chat; the next message there answers it.
    await press(group, world["mod"], card, "claim", bot)
    card = await card_in(group, bot, code)
    await press(group, world["mod"], card, "ask", bot)
    await answer_prompt(group, world["mod"], "Người bán thường đứng ở đâu, mấy giờ?", bot)
    [question] = await lan.user.wait_for(1)
    assert "Người bán thường đứng ở đâu" in question["text"] and "Mai" not in question["text"]
    thanks = await lan.say("Đứng trước cổng chợ từ 21 giờ")
    assert code in thanks[0]
    await bot.deliver()
    assert any("Đứng trước cổng chợ từ 21 giờ" in (m.get("text") or "") for m in group.inbox)
    assert (await bot.tip(code)).status == "in_review"
    async with bot.read() as uow:
        assert [f.text for f in await uow.tips.followups(tip.id)] == ["Đứng trước cổng chợ từ 21 giờ"]
        assert await uow.tips.count() == 1
    menu_again = await lan.say("còn gì nữa không")  # the question was answered: this is no answer
    assert code not in "\n".join(menu_again)

    # News: the tip is closed after checking; the tipster hears it on Zalo, and the link to the chat goes.
    card = await card_in(group, bot, code)
    await press(group, world["mod"], card, "unfounded", bot)
    [news] = await lan.user.wait_for(1)
    assert code in news["text"]
    async with bot.read() as uow:
        assert await uow.subscriptions.all() == []

    await assert_no_zalo_identity(bot, caplog, lan)


async def test_status_and_followup_from_another_zalo_chat_with_vietnamese_words(
    zapi: FakeZaloApi, world: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    bot: RunningBot = world["bot"]
    lan = person(zapi, world)
    code, passphrase, receipt = await report(lan)
    await lan.say(number_of(receipt, "Không"))

    hoa = person(zapi, world, "Trần Văn Hòa")  # another phone, another account
    await hoa.say("chào")
    asked = await hoa.say("tra cứu")
    assert "TL-" in asked[-1]  # asks for the code
    await hoa.say(code.lower().replace("-", " "))
    status = await hoa.say(passphrase)
    assert code in status[0] and "Tiếp nhận" in status[0]

    await hoa.say("bổ sung")
    await hoa.say(code)
    await hoa.say(passphrase)
    added = await hoa.say("Tối nay có thêm 2 người lạ đến giao hàng.")
    assert code in added[-1]
    photo = await hoa.send(hoa.user.send_image(gps=None))
    assert code in photo[-1]
    done = await hoa.say("xong")
    assert code in done[0]
    tip = await bot.tip(code)
    async with bot.read() as uow:
        followups = await uow.tips.followups(tip.id)
        assert await uow.tips.count() == 1
    assert [f.text for f in followups] == ["Tối nay có thêm 2 người lạ đến giao hàng.", ""]
    assert len([e for f in followups for e in f.evidence]) == 1

    # "hủy" (here without diacritics) stops a lookup; slash commands work as on Telegram.
    await hoa.say("/status")
    cancelled = await hoa.say("huy")
    assert "1) " in cancelled[-1]  # back at the menu
    helped = await hoa.say("/help")
    assert "/status" in helped[0]
    await assert_no_zalo_identity(bot, caplog, lan, hoa)


async def test_stickers_voice_and_unknown_messages_get_a_polite_answer(zapi: FakeZaloApi, world: dict[str, Any]) -> None:
    lan = person(zapi, world)
    await lan.say("/start")
    sticker = await lan.send(lan.user.send_sticker())
    assert "nhãn dán" in sticker[0]
    voice = await lan.send(lan.user.send_voice())
    assert "tin nhắn thoại" in voice[0]
    other = await lan.send(lan.user.send_unsupported())
    assert other[0] and "1) " in other[-1]  # explained, then the menu again


async def test_a_photo_that_cannot_be_fetched_or_cleaned_never_reaches_moderators_as_it_is(
    api: FakeBotApi, zapi: FakeZaloApi, world: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    bot: RunningBot = world["bot"]
    group: SimGroup = world["group"]
    lan = person(zapi, world)
    welcome = await lan.say("Xin chào")
    category = await lan.say(number_of(welcome, "Báo tin"))
    urgency = await lan.say(number_of(category, "Mua bán"))
    await lan.say(number_of(urgency, "thường xuyên"))
    for text in ("can tho", "ninh kieu", "bo qua", DESCRIPTION, "xong"):
        await lan.say(text)
    await lan.send(lan.user.send_image(f"{zapi.url}/files/gone.jpg"))  # expired on Zalo's side: 404
    await lan.send(lan.user.send_image(data=b"not a picture at all, but it names Lan"))
    review = await lan.say("xong")
    receipt = await lan.say(number_of(review, "Xác nhận"))
    code = CODE.search("\n".join(receipt))
    assert code is not None
    card = await card_in(group, bot, code.group(0))
    assert "2" in card["text"]  # the card still says two photos were sent
    assert not any("photo" in m or "document" in m for m in group.inbox)  # neither was forwarded
    warnings = [r.getMessage() for r in caplog.records if "evidence file could not be re-sent" in r.getMessage()]
    assert len(warnings) == 2 and "HTTP 404" in warnings[0] and "could not be cleaned (not_an_image)" in warnings[1]
    assert all(zapi.url not in w for w in warnings)  # no URL in the log


async def test_long_polling_survives_an_outage(zapi: FakeZaloApi, world: dict[str, Any]) -> None:
    lan = person(zapi, world)
    async with zapi.outage():  # the poll in progress is cut off; polls meanwhile get a gateway's 502 page
        await asyncio.sleep(0.3)
    assert any(r.method == "getUpdates" and r.status == 502 for r in zapi.requests)
    welcome = await lan.say("Xin chào")
    assert "113" in welcome[0]


async def assert_no_zalo_identity(bot: RunningBot, caplog: pytest.LogCaptureFixture, *people: ZaloCitizen) -> None:
    """No table, card or log line holds a Zalo user id or display name, in any form."""
    needles = [n for c in people for n in (c.user.id, c.user.display_name)]
    records = await bot.records()
    assert "tips" in records
    for table, rows in records.items():
        for row in rows:
            for value in row.values():
                blob = value.decode("latin-1") if isinstance(value, bytes) else str(value)
                for needle in needles:
                    assert needle not in blob, f"a Zalo identity was found in table {table}"
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert logged  # the bot did log (tip codes)
    for needle in needles:
        assert needle not in logged, "a Zalo identity was found in the log"


async def test_zalo_citizens_read_prevention_content_but_are_told_campaigns_come_on_telegram(
    zapi: FakeZaloApi, world: dict[str, Any]
) -> None:
    """Zalo lets a bot write only to people who wrote recently: subscribing there would promise messages that
    could never come. The library works; /subscribe says where campaigns are sent, and stores nothing."""
    lan = person(zapi, world)
    menu = await lan.say("Xin chào")
    topics = await lan.say(number_of(menu, "Về ma túy"))
    assert "1) " in topics[-1]  # the library's topics, numbered
    entry = await lan.say("bong cuoi co phai ma tuy khong")  # a question typed without diacritics
    assert entry and "bóng cười" in "\n".join(entry).lower()
    told = await lan.say("/subscribe")
    assert "Telegram" in told[0] and "1) " in told[-1]  # where campaigns come, then the menu
    records = await world["bot"].records()
    assert all(not rows for table, rows in records.items() if table.startswith("outreach_")), "nothing stored"
