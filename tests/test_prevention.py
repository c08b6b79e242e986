"""Prevention content for citizens: topics, entries with their source, questions typed in words (with or
without diacritics), and reading beside reporting without leaving a trace beyond the screen."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from botapi import FakeBotApi
from harness import Citizen, RunningBot, buttons, texts

from tipline.citizen.conversation import handle
from tipline.citizen.effects import Context, Result
from tipline.citizen.session import Screen, Session
from tipline.delivery.plain import plain_text
from tipline.events import Command, Pick, Text
from tipline.outreach.library import TOPICS, load
from tipline.replies import MenuEntry

CTX = Context(now=datetime(2026, 11, 26, tzinfo=UTC))


def names(result: Result) -> list[str]:
    return [getattr(choice.action, "name", "") for choice in result.replies[-1].flat_choices]


def pick(result: Result, name: str) -> Result:
    assert name in names(result), names(result)
    return handle(result.session, Pick(MenuEntry(name)), CTX)


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_the_menu_entry_opens_the_topics_with_the_hotlines(lang: str) -> None:
    result = handle(Session(lang=lang), Pick(MenuEntry("menu:info")), CTX)
    assert result.session.screen == Screen.LIBRARY
    assert [n for n in names(result) if n.startswith("lib:t:")] == [f"lib:t:{topic}" for topic in TOPICS]
    labels = [choice.label for choice in result.replies[-1].flat_choices]
    assert [topic.title for topic in load(lang).topics()] == labels[: len(TOPICS)]
    text = result.replies[-1].text
    for number in ("113", "115", "0769.04.04.04", "111"):
        assert number in text
    # /info is the same screen
    assert handle(Session(lang=lang), Command("info"), CTX).replies == result.replies


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_a_topic_lists_its_entries_and_an_entry_shows_its_source(lang: str) -> None:
    library = load(lang)
    topics = handle(Session(lang=lang), Command("info"), CTX)
    topic = pick(topics, "lib:t:treatment")
    entries = library.entries("treatment")
    assert [n for n in names(topic) if n.startswith("lib:e:")] == [f"lib:e:{e.id}" for e in entries]
    assert library.topic("treatment").title in topic.replies[-1].text  # type: ignore[union-attr]
    entry = entries[0]
    shown = pick(topic, f"lib:e:{entry.id}")
    read, source = (reply.text for reply in shown.replies[-2:])
    assert read == f"{entry.title}\n\n{entry.body}"  # one screenful, then where its facts come from
    assert source == ("Nguồn: " if lang == "vi" else "Source: ") + entry.source
    # reading and reporting side by side: report, more on the topic, all topics, the menu
    assert {"menu:report", "lib:t:treatment", "lib:topics", "lib:menu"} <= set(names(shown))
    assert pick(shown, "lib:menu").session.screen == Screen.MENU


@pytest.mark.parametrize(
    "question",
    ["bóng cười có phải ma túy không", "bong cuoi co phai ma tuy khong", "BONG CUOI co phai ma tuy ko?"],
)
def test_a_question_typed_at_the_menu_gets_the_best_entry(question: str) -> None:
    result = handle(Session(), Text(question), CTX)
    entry = load("vi").get("disguised-laughing-gas")
    assert entry is not None
    assert result.replies[-2].text.startswith(entry.title)
    assert entry.source in result.replies[-1].text
    assert result.session.screen == Screen.LIBRARY
    # another question while reading is searched too
    again = handle(result.session, Text("methadone là gì"), CTX)
    assert again.replies[-2].text.startswith(load("vi").get("treatment-methadone").title)  # type: ignore[union-attr]


def test_english_questions_search_the_english_library() -> None:
    result = handle(Session(lang="en"), Text("is laughing gas a drug?"), CTX)
    entry = load("en").get("disguised-laughing-gas")
    assert entry is not None and result.replies[-2].text.startswith(entry.title)


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_an_unknown_question_gets_the_closest_topics_and_the_hotlines_never_silence(lang: str) -> None:
    result = handle(Session(lang=lang), Text("thời tiết ngày mai thế nào" if lang == "vi" else "weather tomorrow"), CTX)
    reply = result.replies[-1]
    assert "113" in reply.text and "0769.04.04.04" in reply.text
    assert any(n.startswith("lib:t:") for n in names(result)) or "lib:topics" in names(result)
    assert "menu:report" in names(result)


def test_a_bare_number_at_the_menu_is_still_a_choice_that_was_not_there() -> None:
    result = handle(Session(), Text("9"), CTX)
    assert result.session.screen == Screen.MENU
    assert "menu:report" in names(result)


def test_reading_keeps_a_draft_report_and_nothing_read_is_kept_in_the_session() -> None:
    report = handle(Session(), Command("report"), CTX)
    draft = report.session.draft
    assert draft is not None
    info = handle(report.session, Command("info"), CTX)
    reading = handle(info.session, Text("tem giấy là gì"), CTX)
    assert reading.session.draft == draft
    state = reading.session.model_dump_json()
    assert "tem giấy" not in state and "tem giay" not in state  # the question itself is not kept
    back = pick(reading, "menu:report")
    assert back.session.screen == Screen.CATEGORY  # the report continues where it was


def test_numbered_choices_without_buttons() -> None:
    result = handle(Session(), Command("info"), CTX)
    text = plain_text(result.replies[-1])
    assert "1) " + load("vi").topics()[0].title in text
    from tipline.delivery.port import ChannelTraits

    console = Context(now=CTX.now, traits=ChannelTraits(buttons=False, max_text=10_000, reply_to=False, edits=False))
    second = handle(result.session, Text("2"), console)
    assert load("vi").topics()[1].title in second.replies[-1].text


# --- end to end ----------------------------------------------------------------------------------------


@pytest.fixture
async def bot(api: FakeBotApi, tmp_path: Path) -> AsyncIterator[RunningBot]:
    running = RunningBot(api, tmp_path / "tipline.sqlite3")
    await running.start()
    yield running
    await running.stop()
    api.assert_no_refusals()
    assert running.errors == []


async def test_browse_and_search_through_telegram(
    api: FakeBotApi, bot: RunningBot, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    lan = Citizen(api.user(first_name="Lan"), bot)
    await lan.say("/start")
    topics = await lan.press("menu:info")
    assert buttons(topics[-1])[: len(TOPICS)] == [topic.title for topic in load("vi").topics()]
    listing = await lan.press("lib:t:disguised")
    assert "Bóng cười có phải là ma túy không?" in buttons(listing[-1])
    entry = await lan.press("Bóng cười có phải là ma túy không?")
    assert "Nguồn: " in texts(entry)
    await lan.press("lib:topics")
    again = await lan.press("lib:t:law")
    assert load("vi").topic("law").title in texts(again)  # type: ignore[union-attr]

    answer = await lan.say("bong cuoi co phai ma tuy khong")
    assert texts(answer).startswith("Bóng cười có phải là ma túy không?")
    unknown = await lan.say("giá vé xe buýt hôm nay")
    assert "0769.04.04.04" in texts(unknown) and "113" in texts(unknown)

    sessions = (await bot.records())["sessions"]
    stored = " ".join(row["state"] for row in sessions)
    assert sessions and '"screen"' in stored
    assert "bong cuoi" not in stored and "xe buýt" not in stored
    ours = [r for r in caplog.records if r.name.split(".")[0] in ("tipline", "bot")]
    logged = "\n".join(record.getMessage() for record in ours)
    assert "bong cuoi" not in logged and "xe buýt" not in logged
