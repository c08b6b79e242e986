"""Prevention-message subscriptions: the questions, consent dated to the day, stopping at once (/unsubscribe,
"dừng", "stop"), a blocked bot, and no link to tips."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from backends import table_columns
from botapi import FakeBotApi
from harness import SECRET, Citizen, RunningBot, texts

from tipline.citizen.conversation import handle
from tipline.citizen.effects import Context, JoinOutreach, LeaveOutreach, Result
from tipline.citizen.session import Screen, Session
from tipline.events import Command, Pick, Text
from tipline.outreach.model import Preferences, Subscriber, SubscriberEvent
from tipline.privacy.keys import Keyring
from tipline.replies import Step

CTX = Context(now=datetime(2026, 11, 26, tzinfo=UTC))
CAN_THO, NINH_KIEU = 92, 31135


def choose(result: Result, name: str) -> Result:
    for choice in result.replies[-1].flat_choices:
        if getattr(choice.action, "name", None) == name:
            return handle(result.session, Pick(choice.action), CTX)
    raise AssertionError(f"no choice {name!r}: {[c.action for c in result.replies[-1].flat_choices]}")


def test_the_questions_lead_to_an_explicit_yes() -> None:
    result = handle(Session(), Command("subscribe"), CTX)
    assert result.session.screen == Screen.SUB_PLACE
    result = handle(result.session, Text("can tho"), CTX)
    assert result.session.screen == Screen.SUB_COMMUNE and "Cần Thơ" in result.replies[-1].text
    result = handle(result.session, Text("ninh kieu"), CTX)
    assert result.session.screen == Screen.SUB_AUDIENCE
    result = choose(result, "aud:parent")
    result = choose(result, "lang:en")
    assert result.session.screen == Screen.SUB_CONFIRM
    check = result.replies[-1].text
    assert "Ninh Kiều, Thành phố Cần Thơ" in check and "English" in check and "/unsubscribe" in check
    done = choose(result, "sub:yes")
    assert done.effect == JoinOutreach(Preferences(CAN_THO, NINH_KIEU, "parent", "en"))


def test_a_commune_typed_first_and_the_whole_province() -> None:
    result = handle(Session(), Command("subscribe"), CTX)
    result = handle(result.session, Text("phuong hoan kiem"), CTX)
    assert result.session.screen == Screen.SUB_AUDIENCE
    assert result.session.outreach is not None and result.session.outreach.province_code == 1

    result = handle(Session(), Command("subscribe"), CTX)
    result = choose(handle(result.session, Text("Cần Thơ"), CTX), "com:all")
    assert result.session.outreach is not None and result.session.outreach.commune_code is None
    result = choose(choose(result, "aud:general"), "lang:vi")
    assert choose(result, "sub:yes").effect == JoinOutreach(Preferences(CAN_THO, None, "general", "vi"))


def test_cancel_subscribes_to_nothing() -> None:
    result = choose(handle(Session(), Command("subscribe"), CTX), "sub:cancel")
    assert result.effect is None and result.session.screen == Screen.MENU


@pytest.mark.parametrize("word", ["dừng", "Dừng", "DUNG", "stop", "Stop.", "dừng lại", "huy dang ky"])
def test_stop_words_stop_at_once(word: str) -> None:
    assert handle(Session(), Text(word), CTX).effect == LeaveOutreach("word")


@pytest.mark.parametrize("word", ["đúng", "dùng", "stop selling drugs here"])
def test_other_words_are_not_stop_words(word: str) -> None:
    assert handle(Session(), Text(word), CTX).effect is None


def test_a_description_saying_stop_is_a_description() -> None:
    session = Session(screen=Screen.MENU)
    result = handle(session, Command("report"), CTX)
    for name in ("cat:trading", "urg:past"):
        result = choose(result, name)
    result = handle(result.session, Text("can tho"), CTX)
    result = handle(result.session, Text("ninh kieu"), CTX)
    result = choose(result, "next")
    assert result.session.screen == Screen.DESCRIPTION
    described = handle(result.session, Text("dừng"), CTX)
    assert described.effect is None and described.session.draft is not None
    assert described.session.draft.description == ["dừng"]


def test_a_stale_step_is_not_taken_for_a_subscription_answer() -> None:
    result = handle(Session(), Command("subscribe"), CTX)
    stale = handle(result.session, Pick(Step("sub:yes", 0)), CTX)
    assert stale.effect is None


# --- end to end ----------------------------------------------------------------------------------------


@pytest.fixture
async def bot(api: FakeBotApi, tmp_path: Path) -> AsyncIterator[RunningBot]:
    running = RunningBot(api, tmp_path / "tipline.sqlite3")
    await running.start()
    yield running
    await running.stop()
    api.assert_no_refusals()
    assert running.errors == []


async def subscribe(c: Citizen, place: str = "can tho", commune: str = "ninh kieu", audience: str = "aud:pupil") -> str:
    await c.say("/subscribe")
    await c.say(place)
    await c.say(commune)
    await c.press(audience)
    await c.press("lang:vi")
    answer = texts(await c.press("sub:yes"))
    await subscriber(c.bot, c)  # remembers the row's id, to read it after a stop
    return answer


_IDS: dict[int, int] = {}  # user → subscriber id, as last found


async def subscriber(bot: RunningBot, c: Citizen) -> tuple[Subscriber, list[SubscriberEvent]]:
    """The person's subscription as the bot finds it (by the chat's keyed index) and its dated events. Once
    stopped, that index no longer finds the row (with the secret, a stopped row names no chat): it is read by
    the id it had."""
    async with bot.read() as uow:
        found = await uow.subscribers.by_key(Keyring(SECRET.encode()).outreach_key("telegram", c.user.id))
        if found is None:
            found = await uow.subscribers.by_id(_IDS[c.user.id])
            assert found is not None and not found.active, "only a stopped subscriber is not found by its chat"
        _IDS[c.user.id] = found.id
        return found, await uow.subscribers.events(found.id)


async def test_subscribe_unsubscribe_and_the_dated_consent(api: FakeBotApi, bot: RunningBot) -> None:
    lan = Citizen(api.user(first_name="Lan", username="lan_vn"), bot)
    await lan.say("/start")
    assert "/unsubscribe" in await subscribe(lan)
    records = await bot.records()
    assert len(records["outreach_subscribers"]) == 1 and len(records["outreach_subscriber_events"]) == 1
    row, [consent] = await subscriber(bot, lan)
    assert (row.prefs.province_code, row.prefs.commune_code, row.prefs.audience, row.prefs.lang, row.active) == (
        CAN_THO, NINH_KIEU, "pupil", "vi", True
    )
    assert row.consented_on == date(2026, 11, 26) and row.channel == "telegram"
    assert row.sealed_ref is not None
    assert Keyring(SECRET.encode()).unseal(row.sealed_ref) == ("telegram", str(lan.user.id))
    assert (consent.on_day, consent.event) == (date(2026, 11, 26), "consent")
    assert "province=92" in consent.detail
    for table, rows in records.items():
        for stored in rows:
            for value in stored.values():
                blob = value.decode("latin-1") if isinstance(value, bytes) else str(value)
                assert str(lan.user.id) not in blob and "lan_vn" not in blob, table

    # a change is recorded too; the same choices again change nothing
    bot.clock.advance(days=3)
    assert "cập nhật" in await subscribe(lan, audience="aud:parent")
    assert "không có gì thay đổi" in await subscribe(lan, audience="aud:parent")
    _row, events = await subscriber(bot, lan)
    assert [(e.on_day, e.event) for e in events] == [(date(2026, 11, 26), "consent"), (date(2026, 11, 29), "change")]

    stopped = await lan.say("/unsubscribe")
    assert "/subscribe" in texts(stopped)
    row, events = await subscriber(bot, lan)
    assert not row.active and row.sealed_ref is None
    assert (events[-1].event, events[-1].detail) == ("stop", "unsubscribe")
    async with bot.read() as uow:  # with the secret, the stopped row no longer leads to the chat
        assert await uow.subscribers.by_key(Keyring(SECRET.encode()).outreach_key("telegram", lan.user.id)) is None
    await subscribe(lan)
    again_row, again_events = await subscriber(bot, lan)  # subscribing again: a new consent, a row of its own
    assert again_row.active and again_row.id != row.id and [e.event for e in again_events] == ["consent"]
    await lan.say("/unsubscribe")
    again = await lan.say("dừng")
    assert "nothing to stop" in texts(again) or "không có gì để dừng" in texts(again)


async def test_the_word_dung_stops_and_says_so(api: FakeBotApi, bot: RunningBot) -> None:
    an = Citizen(api.user(first_name="An"), bot)
    await subscribe(an)
    answer = await an.say("Dừng")
    assert "không nhận thêm tin" in texts(answer)
    row, _events = await subscriber(bot, an)
    assert not row.active


async def test_a_chat_that_blocks_the_bot_is_stopped(api: FakeBotApi, bot: RunningBot) -> None:
    binh = Citizen(api.user(first_name="Bình"), bot)
    await subscribe(binh)
    api.block(binh.user)
    await bot.settle()
    row, events = await subscriber(bot, binh)
    assert not row.active and row.sealed_ref is None
    assert events[-1].event == "blocked"


async def test_nothing_joins_a_subscriber_to_a_tip(api: FakeBotApi, bot: RunningBot) -> None:
    from test_e2e_citizen import submit

    chi = Citizen(api.user(first_name="Chi"), bot)
    await submit(chi)
    await chi.press("optin:yes")
    await subscribe(chi)
    keyring = Keyring(SECRET.encode())
    outreach_key = keyring.outreach_key("telegram", chi.user.id)
    async with bot.read() as uow:
        links = await uow.subscriptions.all()
    assert links and keyring.unseal(links[0].sealed_ref) == ("telegram", str(chi.user.id))  # the tip's opt-in
    row, _events = await subscriber(bot, chi)
    assert row.active and row.sealed_ref is not None
    # The subscription's index is keyed apart from the chat's pseudonym (what the tip side knows the chat by),
    # and nothing outside the outreach tables holds it, nor the sealed chat stored with it.
    assert outreach_key != keyring.pseudonym("telegram", chi.user.id)
    records = await bot.records()
    for table, rows in records.items():
        if table.startswith("outreach_"):
            continue
        for stored in rows:
            for value in stored.values():
                assert value != row.sealed_ref and (not isinstance(value, str) or outreach_key not in value), table
    async with bot.storage() as storage:
        columns = (await table_columns(storage))["outreach_subscribers"]
    assert "chat_key" in columns and not {"tip_id", "tip_code", "code"} & columns
    # /forget drops the prevention subscription as well
    await chi.say("/forget")
    row, events = await subscriber(bot, chi)
    assert not row.active and row.sealed_ref is None and (events[-1].event, events[-1].detail) == ("stop", "forget")
