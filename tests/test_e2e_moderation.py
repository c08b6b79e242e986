"""End to end, several actors at once: a citizen reports; the card reaches the moderators' group; a
moderator claims, asks, gets the answer, forwards; the police unit acknowledges and reports an outcome;
the citizen is told. Plus the refusals: non-members, forged and stale buttons, wrong units."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from backends import use_database
from botapi import FakeBotApi, SimGroup, SimUser
from harness import SECRET, FakeClock, RunningBot, texts
from test_e2e_citizen import assert_no_identity_in_database, person, submit

import bot.telegram.channel as telegram_channel
from tipline.delivery.model import Address
from tipline.staff.actors import StaffUser
from tipline.staff.units import import_units

MODERATORS = -1001000000001
POLICE = -1001000000002
ADMIN_ID = 5550001
UNITS_CSV = "code,name,province,communes\nCA-NK,Công an phường Ninh Kiều,Cần Thơ,Ninh Kiều\n"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def forum() -> bool:
    """Whether the moderators' group is a forum (one topic per tip); a test parametrizes it to True."""
    return False


@pytest.fixture
async def world(
    api: FakeBotApi, tmp_path: Path, clock: FakeClock, monkeypatch: pytest.MonkeyPatch, forum: bool
) -> AsyncIterator[dict[str, Any]]:
    monkeypatch.setattr(telegram_channel, "RETRY_BASE_DELAY", 0.01)
    mod = api.user(user_id=5550002, first_name="Mai", username="mai_mod")
    admin = api.user(user_id=ADMIN_ID, first_name="Admin")
    officer = api.user(user_id=5550003, first_name="Hùng", username="hung_ca")
    outsider = api.user(user_id=5550004, first_name="Lạ")
    group = api.group(chat_id=MODERATORS, title="Moderators", members=[mod, admin], forum=forum)
    police = api.group(chat_id=POLICE, title="CA Ninh Kiều", members=[officer, outsider])
    bot = RunningBot(
        api, tmp_path / "tipline.sqlite3", clock,
        tipline_moderator_chat_id=MODERATORS, tipline_admin_ids=str(ADMIN_ID),
    )
    await bot.start()
    assert bot.core is not None
    report = await import_units(bot.core.storage, UNITS_CSV)
    assert report.ok, report
    yield {"bot": bot, "mod": mod, "admin": admin, "officer": officer, "outsider": outsider, "group": group, "police": police}
    await bot.stop()
    api.assert_no_refusals()
    assert bot.errors == []


async def card_in(chat: SimGroup, bot: RunningBot, code: str) -> dict[str, Any]:
    await bot.settle()
    await bot.deliver()
    for message in reversed(chat.inbox):
        if code in (message.get("text") or "") and message.get("reply_markup"):
            return message
    raise AssertionError(f"no card for {code} in {chat!r}: {[m.get('text', '')[:40] for m in chat.inbox]}")


async def press(chat: SimGroup, who: SimUser, message: dict[str, Any], action: str, bot: RunningBot) -> dict[str, Any]:
    for row in message["reply_markup"]["inline_keyboard"]:
        for button in row:
            if button["callback_data"].split("|")[1] == action:
                await chat.press(who, message, button["callback_data"])
                await bot.settle()
                await bot.deliver()
                return await chat.wait_for_answer()
    raise AssertionError(f"no {action} button: {[b['callback_data'] for r in message['reply_markup']['inline_keyboard'] for b in r]}")


async def answer_prompt(chat: SimGroup, who: SimUser, text: str, bot: RunningBot) -> None:
    prompt = chat.last
    assert prompt is not None and "✍️" in prompt["text"], prompt
    await chat.send(who, text, reply_to=prompt)
    await bot.settle()
    await bot.deliver()


async def test_a_tip_goes_from_citizen_to_police_and_back(api: FakeBotApi, world: dict[str, Any], clock: FakeClock) -> None:
    bot: RunningBot = world["bot"]
    group: SimGroup = world["group"]
    police: SimGroup = world["police"]
    lan = person(api, bot)
    code, _ = await submit(lan)
    await lan.press("optin:yes")

    card = await card_in(group, bot, code)
    assert "Ninh Kiều" in card["text"] and "Lan" not in card["text"] and str(lan.user.id) not in card["text"]
    assert any("photo" in m for m in group.inbox), "the evidence photo is re-sent under the card"

    answer = await press(group, world["mod"], card, "claim", bot)
    assert code in answer["text"]
    card = await card_in(group, bot, code)
    assert "Mai" in card["text"]

    await press(group, world["mod"], card, "ask", bot)
    await answer_prompt(group, world["mod"], "Người bán thường đứng ở đâu, mấy giờ?", bot)
    [question] = await lan.user.wait_for(1)
    assert "Người bán thường đứng ở đâu" in question["text"] and "Mai" not in question["text"]

    thanks = await lan.send(lan.user.send("Đứng trước cổng chợ từ 21 giờ", reply_to=question))
    assert code in texts(thanks)
    await bot.deliver()
    assert any("Đứng trước cổng chợ" in (m.get("text") or "") for m in group.inbox)
    assert (await bot.tip(code)).status == "in_review"

    # The police unit links its chat with a one-time invite from an admin.
    admin = world["admin"]
    await admin.send("/start")  # the invite comes privately: the bot can write to the admin once they wrote
    await bot.settle()
    await group.send(admin, "/invite CA-NK")
    await bot.settle()
    assert not any("/link" in (m.get("text") or "") for m in group.inbox)  # never in the group
    invite = next(m["text"] for m in reversed(admin.inbox) if "/link" in (m.get("text") or ""))
    link = invite[invite.index("/link"):].split()[1]
    await police.send(world["officer"], f"/link {link}")
    await bot.settle()
    assert "Ninh Kiều" in (police.last or {}).get("text", "")

    card = await card_in(group, bot, code)
    await press(group, world["mod"], card, "forward", bot)
    unit_card = await card_in(police, bot, code)
    assert "Lan" not in unit_card["text"] and "Mai" not in unit_card["text"]
    [news] = await lan.user.wait_for(1)
    assert code in news["text"]

    await press(police, world["officer"], unit_card, "acknowledge", bot)
    unit_card = await card_in(police, bot, code)
    await press(police, world["officer"], unit_card, "verified", bot)
    [handled] = await lan.user.wait_for(1)
    assert code in handled["text"]
    tip = await bot.tip(code)
    assert (tip.status, tip.outcome) == ("resolved", "verified")
    async with bot.read() as uow:
        assert await uow.subscriptions.all() == []  # closed: link gone
        actions = [r.action for r in await uow.audit.for_tip(code)]
    assert actions[:1] == ["claim"] and {"ask", "forward", "acknowledge", "verified", "tipster_added"} <= set(actions)
    assert bot.core is not None
    assert (await bot.core.audit.verify(bot.core.storage)).ok
    await assert_no_identity_in_database(bot, lan)


async def test_refusals_are_polite_and_audited(api: FakeBotApi, world: dict[str, Any]) -> None:
    bot: RunningBot = world["bot"]
    group: SimGroup = world["group"]
    police: SimGroup = world["police"]
    lan = person(api, bot)
    code, _ = await submit(lan)
    await lan.press("optin:no")
    card = await card_in(group, bot, code)

    # A forged button in the police chat (not a linked unit, not a moderator) is refused.
    forged = await police.press_raw(world["outsider"], card["message_id"], card["reply_markup"]["inline_keyboard"][0][0]["callback_data"])
    assert forged
    await bot.settle()
    refusal = await police.wait_for_answer()
    assert refusal["text"]

    # Garbage data is refused too.
    await group.press_raw(world["mod"], card["message_id"], "2c|zz|claim|new")
    await bot.settle()
    assert (await group.wait_for_answer())["text"]

    # A stale card: claim, then press the old card's claim button again.
    await press(group, world["mod"], card, "claim", bot)
    await group.press_raw(world["mod"], card["message_id"], next(
        b["callback_data"] for r in card["reply_markup"]["inline_keyboard"] for b in r if "|claim|" in b["callback_data"] + "|"
    ))
    await bot.settle()
    stale = (await group.wait_for_answer())["text"]
    assert "out of date" in stale or "cũ" in stale, stale

    # An invalid move: a unit action on a tip that was never forwarded.
    async with bot.read() as uow:
        refused = len([r for r in await uow.audit.all() if r.action == "refused"])
    assert refused >= 3

    # The admin removes the moderator: their presses are refused from now on.
    await group.send(world["admin"], "/removemod 5550002")
    await bot.settle()
    # Removed from the group too (banned, then unbanned, so that an admin can add them back later) ...
    assert group.status_of(world["mod"]) == "left"
    # ... and added back by someone, their presses stay refused: the admin's removal overrides membership.
    group.add(world["mod"])
    card = await card_in(group, bot, code)
    answer = await press(group, world["mod"], card, "spam", bot)
    assert answer["text"]
    assert (await bot.tip(code)).status == "in_review"


async def test_overdue_acknowledgement_is_escalated_after_a_reminder(api: FakeBotApi, world: dict[str, Any], clock: FakeClock) -> None:
    bot: RunningBot = world["bot"]
    group: SimGroup = world["group"]
    police: SimGroup = world["police"]
    assert bot.core is not None
    async with bot.core.storage.uow() as uow:
        unit = await uow.units.by_code("CA-NK")
        assert unit is not None
        await uow.units.link_chat(unit.id, Address("telegram", str(POLICE)), clock())
    lan = person(api, bot)
    code, _ = await submit(lan)
    await lan.press("optin:no")
    card = await card_in(group, bot, code)
    await press(group, world["mod"], card, "claim", bot)
    await press(group, world["mod"], await card_in(group, bot, code), "forward", bot)
    await card_in(police, bot, code)

    clock.advance(hours=19)
    assert await bot.core.check_deadlines() == 1
    await bot.deliver()
    assert "🔔" in (police.last or {}).get("text", "")
    clock.advance(hours=6)
    assert await bot.core.check_deadlines() == 1
    await bot.deliver()
    assert "⏰" in (group.last or {}).get("text", "") and code in group.last["text"]  # type: ignore[index]
    assert await bot.core.check_deadlines() == 0  # escalated once


async def test_duplicates_are_flagged_and_nothing_identifies_the_tipster(
    api: FakeBotApi, world: dict[str, Any], caplog: pytest.LogCaptureFixture, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import logging

    from bot.logs import quiet_libraries
    from tipline.cli import main as cli_main

    quiet_libraries()  # as in production: see bot/logs.py
    caplog.set_level(logging.INFO)
    bot: RunningBot = world["bot"]
    group: SimGroup = world["group"]
    lan, minh = person(api, bot, "Lan"), person(api, bot, "Minh")
    first, _ = await submit(lan, "Có người bán ma túy đá ở quán nước đầu hẻm 51 đường Mậu Thân, mỗi tối khoảng 21 giờ")
    await lan.press("optin:yes")
    second, _ = await submit(minh, "quan nuoc dau hem 51 Mau Than co nguoi ban ma tuy da moi toi tam 9 gio")
    await minh.press("optin:no")
    card = await card_in(group, bot, second)
    assert first in card["text"], card["text"]  # possible duplicate, with its score
    await press(group, world["mod"], card, "duplicate", bot)
    await answer_prompt(group, world["mod"], first, bot)
    duplicate = await bot.tip(second)
    assert duplicate.status == "duplicate" and duplicate.duplicate_of == (await bot.tip(first)).id

    export = tmp_path / "export.csv"
    use_database(monkeypatch, bot.db_path)
    monkeypatch.setenv("TIPLINE_SECRET_KEY", SECRET)
    assert await asyncio.to_thread(cli_main, ["export", "--period", "2026", "--output", str(export)]) == 0
    assert await asyncio.to_thread(cli_main, ["audit", "verify"]) == 0  # with the MACs, under the server secret
    exported = export.read_text(encoding="utf-8-sig")
    assert first in exported and second in exported and "Mậu Thân" not in exported

    people = [lan, minh]
    identities = [str(p.user.id) for p in people] + ["Lan", "Minh", "lan_vn_88", "minh_vn_88", "Nguyễn"]
    texts_seen = [m.get("text") or "" for m in group.inbox] + [r.getMessage() for r in caplog.records] + [exported]
    for text in texts_seen:
        for identity in identities:
            assert identity not in text, (identity, text[:200])
    await assert_no_identity_in_database(bot, lan, minh)


@pytest.mark.parametrize("forum", [True])
async def test_in_a_forum_each_tip_gets_its_own_topic(api: FakeBotApi, world: dict[str, Any]) -> None:
    bot: RunningBot = world["bot"]
    group: SimGroup = world["group"]
    lan, minh = person(api, bot, "Lan"), person(api, bot, "Minh")
    first, _ = await submit(lan)
    await lan.press("optin:yes")
    second, _ = await submit(minh, "Một nhóm người lạ tụ tập hút bóng cười ở bãi đất trống gần bờ sông mỗi đêm")
    await minh.press("optin:no")
    card = await card_in(group, bot, first)
    other = await card_in(group, bot, second)
    thread = card.get("message_thread_id")
    assert thread and other.get("message_thread_id") and thread != other["message_thread_id"]
    assert first in group.topics[thread]["name"]

    await press(group, world["mod"], card, "claim", bot)
    card = await card_in(group, bot, first)
    await press(group, world["mod"], card, "ask", bot)
    prompt = group.last
    assert prompt is not None and prompt.get("message_thread_id") == thread
    await answer_prompt(group, world["mod"], "Có biển số xe không?", bot)
    [question] = await lan.user.wait_for(1)
    await lan.send(lan.user.send("Biển số 65B1-123.45", reply_to=question))
    await bot.deliver()
    answers = [m for m in group.topic_messages(thread) if "65B1" in (m.get("text") or "")]
    assert answers, "the tipster's answer lands in the tip's topic"

    # Closing the tip closes its topic; reopening it reopens the topic.
    card = await card_in(group, bot, first)
    await press(group, world["mod"], card, "unfounded", bot)
    await card_in(group, bot, first)
    assert group.topics[thread]["closed"] is True
    card = await card_in(group, bot, first)
    await press(group, world["mod"], card, "reopen", bot)
    await answer_prompt(group, world["mod"], "Có thông tin mới", bot)
    assert group.topics[thread]["closed"] is False


async def test_staff_commands_list_show_find_and_count(api: FakeBotApi, world: dict[str, Any]) -> None:
    bot: RunningBot = world["bot"]
    group: SimGroup = world["group"]
    lan = person(api, bot)
    code, _ = await submit(lan)
    await lan.press("optin:no")
    await card_in(group, bot, code)

    async def ask(text: str) -> str:
        await group.send(world["mod"], text)
        await bot.settle()
        return group.last["text"]  # type: ignore[index]

    assert code in await ask("/queue")
    assert code in await ask(f"/tip {code.lower()}")
    assert code in await ask("/find ma tuy da quan nuoc")  # without diacritics
    assert code not in await ask("/find karaoke")
    assert "1" in await ask("/stats")
    # A citizen typing a staff command in private gets the citizen answer, not the queue.
    answer = await lan.say("/queue")
    assert code not in texts(answer) and "/help" in texts(answer)
    # Replying to the receipt (not a question from the team) is not taken as an answer.
    receipt = next(m for m in lan.user.inbox if code in (m.get("text") or ""))
    await lan.send(lan.user.send("cảm ơn", reply_to=receipt))
    tip = await bot.tip(code)
    async with bot.read() as uow:
        assert await uow.tips.count() == 1 and await uow.tips.followups(tip.id) == []


async def test_forward_to_a_chosen_unit(api: FakeBotApi, world: dict[str, Any]) -> None:
    bot: RunningBot = world["bot"]
    group: SimGroup = world["group"]
    lan = person(api, bot)
    code, _ = await submit(lan)
    await lan.press("optin:no")
    card = await card_in(group, bot, code)
    await press(group, world["mod"], card, "claim", bot)
    await press(group, world["mod"], await card_in(group, bot, code), "choose_unit", bot)
    choices = group.last
    assert choices is not None and "Ninh Kiều" in str(choices["reply_markup"])
    unit_button = choices["reply_markup"]["inline_keyboard"][0][0]
    await group.press(world["mod"], choices, unit_button["callback_data"])
    await bot.settle()
    assert code in (await group.wait_for_answer())["text"]
    assert (await bot.tip(code)).status == "forwarded"


async def test_the_queue_pages_most_urgent_first(api: FakeBotApi, world: dict[str, Any]) -> None:
    bot: RunningBot = world["bot"]
    group: SimGroup = world["group"]
    assert bot.core is not None
    from tipline.staff.arrivals import assess_tip
    from tipline.tips import Category, NewTip, Urgency

    for i in range(12):
        urgency = Urgency.NOW if i == 11 else Urgency.PAST
        new = NewTip(Category.USE, urgency, 92, None, None, None, None, f"Tin thứ {i} về ma túy", (), "vi", "telegram")
        async with bot.core.storage.uow() as uow:
            tip = await uow.tips.create(new, f"TL-2222-{'ABCDEFGHJKMN'[i]}222", "h", bot.clock())
        await assess_tip(bot.core.storage, tip, bot.clock())
    await group.send(world["mod"], "/queue")
    await bot.settle()
    # Cards for these tips may arrive meanwhile: the list is the message with ten codes.
    first = next(m for m in reversed(group.inbox) if m["text"].count("TL-2222-") == 10)
    assert "TL-2222-N222" in first["text"].split("\n")[1]  # the urgent one leads
    assert "12" in first["text"].split("\n")[0]
    await group.press(world["mod"], first, first["reply_markup"]["inline_keyboard"][0][0]["callback_data"])
    await bot.settle()
    second = next(m for m in group.inbox if m["message_id"] == first["message_id"])  # edited in place
    assert second["text"].count("TL-2222-") == 2 and second["reply_markup"]
    # Someone outside the staff cannot turn the page.
    await world["police"].press_raw(world["outsider"], second["message_id"], "2q|0")
    await bot.settle()
    assert (await world["police"].wait_for_answer())["text"]


async def test_admins_name_broadcasters_and_moderators_work_in_private(api: FakeBotApi, world: dict[str, Any]) -> None:
    bot: RunningBot = world["bot"]
    group: SimGroup = world["group"]
    assert bot.core is not None
    authorizer = bot.core.authorizer
    candidate = StaffUser("telegram", "5550009", "Thu")
    await group.send(world["mod"], "/addbroadcaster 5550009")  # not an admin: refused
    await bot.settle()
    assert not await authorizer.is_broadcaster(candidate)
    await group.send(world["admin"], "/addbroadcaster 5550009")
    await bot.settle()
    assert await authorizer.is_broadcaster(candidate)
    await group.send(world["admin"], "/removebroadcaster 5550009")
    await bot.settle()
    assert not await authorizer.is_broadcaster(candidate)

    lan = person(api, bot)
    code, _ = await submit(lan)
    await lan.press("optin:no")
    mai = world["mod"]
    await mai.send("/queue")  # a moderator, privately: the queue, not the citizen flow
    await bot.settle()
    assert code in (mai.last or {}).get("text", "")


async def test_cards_wait_out_a_telegram_outage(api: FakeBotApi, world: dict[str, Any], clock: FakeClock) -> None:
    bot: RunningBot = world["bot"]
    group: SimGroup = world["group"]
    assert bot.app is not None
    bot.app.bot_data["tasks"][0].cancel()  # the background loops: this test delivers by hand
    lan = person(api, bot)
    await submit(lan)
    await lan.press("optin:no")
    await bot.settle()
    async with api.outage():
        await bot.deliver()  # every send fails: nothing is marked delivered
    assert group.inbox == []
    async with bot.read() as uow:
        waiting = await uow.outbox.tally()
        assert waiting.waiting >= 1 and waiting.delivered == 0, waiting
        [tip], _ = await uow.tips.open_tips(0, 10)
    code = tip.code
    clock.advance(minutes=5)  # the outbox waits a little before it tries again
    card = await card_in(group, bot, code)  # delivered once Telegram is back
    assert code in card["text"]
    async with bot.read() as uow:
        tally = await uow.outbox.tally()
    assert (tally.waiting, tally.failed) == (0, 0) and tally.delivered >= 1, tally
