"""Which Telegram updates take the light path (bot/telegram/light.py), and that it reads them as the full path
does. End to end, every citizen test goes through it (the harness polls with the application's bot)."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from botapi import FakeBotApi
from harness import Citizen, RunningBot, texts
from telegram import Update

from bot.telegram.light import CitizenUpdate, Pressed, light, parse_update
from tipline.delivery.model import Address, Sent

CHAT = {"id": 5551234, "type": "private", "first_name": "Lan"}
USER = {"id": 5551234, "is_bot": False, "first_name": "Lan"}
BOT = {"id": 42, "is_bot": True, "first_name": "Tipline", "username": "tipline_bot"}
KEYBOARD = {"inline_keyboard": [[{"text": "💊 Mua bán ma túy", "callback_data": "2s|1|cat:trading"}],
                                [{"text": "⬅️ Quay lại", "callback_data": "2s|1|back"}]]}  # fmt: skip


def text(body: str = "ha noi", **extra: Any) -> dict[str, Any]:
    message = {"message_id": 7, "date": 1_700_000_000, "chat": dict(CHAT), "from": dict(USER), "text": body, **extra}
    return {"update_id": 1, "message": message}


def press(data: str = "2s|1|cat:trading", **extra: Any) -> dict[str, Any]:
    pressed = {"message_id": 6, "date": 1_700_000_000, "chat": dict(CHAT), "from": dict(BOT),
               "text": "Bước 1/6. Bạn muốn báo tin về việc gì?", "reply_markup": KEYBOARD, **extra}  # fmt: skip
    return {"update_id": 2, "callback_query": {"id": "99", "from": dict(USER), "chat_instance": "1", "data": data,
                                               "message": pressed}}  # fmt: skip


def test_a_citizens_plain_text_and_button_press_are_read_light() -> None:
    update = light(text())
    assert isinstance(update, CitizenUpdate) and update.update_id == 1
    assert (update.chat_id, update.text, update.query) == (5551234, "ha noi", None)
    assert update.message is None and update.callback_query is None  # python-telegram-bot's handlers pass it by

    assert update.sender == 5551234
    without_sender = text()
    del without_sender["message"]["from"]
    assert light(without_sender).sender is None  # type: ignore[union-attr]

    update = light(press())
    assert isinstance(update, CitizenUpdate) and update.text is None and update.query is not None
    assert update.sender == 5551234
    assert update.pressed == Pressed(
        Sent(Address("telegram", "5551234"), "6"),
        "Bước 1/6. Bạn muốn báo tin về việc gì?",
        (("💊 Mua bán ma túy", "2s|1|cat:trading"), ("⬅️ Quay lại", "2s|1|back")),
    )
    assert update.pressed.label("2s|1|cat:trading") == "Mua bán ma túy"
    assert update.pressed.label("2s|1|back") == "Quay lại"
    assert update.pressed.label("2s|1|other") is None


def test_everything_else_is_read_in_full() -> None:
    group = {"id": -100123, "type": "supergroup", "title": "Moderators"}
    reply_to = {"message_id": 3, "date": 1_700_000_000, "chat": dict(CHAT), "from": dict(BOT), "text": "?"}
    others = [
        text("/start", entities=[{"type": "bot_command", "offset": 0, "length": 6}]),
        text("an answer", reply_to_message=reply_to),
        text("in a topic", is_topic_message=True, message_thread_id=9),
        text("in a group", chat=group),
        {"update_id": 1, "edited_message": text()["message"]},
        {"update_id": 1, "message": {**text()["message"], "text": None, "photo": [{"file_id": "x", "file_unique_id": "y", "width": 1, "height": 1}]}},  # noqa: E501
        press(chat=group),
        press(date=0),  # a message too old to be read: python-telegram-bot makes it an InaccessibleMessage
        {"update_id": 2, "callback_query": {"id": "99", "from": dict(USER), "chat_instance": "1", "inline_message_id": "x"}},  # noqa: E501
        {"update_id": 3, "message": {"chat": "not a chat"}},
        {"update_id": 4},
        {"update_id": 5, "my_chat_member": {"chat": dict(CHAT), "from": dict(USER), "date": 1_700_000_000,
                                            "old_chat_member": {"status": "member", "user": dict(BOT)},
                                            "new_chat_member": {"status": "kicked", "user": dict(BOT),
                                                                "until_date": 0}}},  # fmt: skip
        {"update_id": 6, "callback_query": {**press()["callback_query"], "from": "not a user"}},
    ]
    for data in others:
        assert light(data) is None, data
    update = parse_update(text("/start", entities=[{"type": "bot_command", "offset": 0, "length": 6}]), None)
    assert type(update) is Update and update.message is not None and update.message.text == "/start"


def test_the_light_path_reads_what_the_full_path_reads() -> None:
    data = press()
    full = Update.de_json(copy.deepcopy(data), None)
    assert full.callback_query is not None and full.callback_query.message is not None
    message = full.callback_query.message
    light_update = light(data)
    assert light_update is not None and light_update.pressed == Pressed.of(message)  # type: ignore[arg-type]
    assert light_update.full(None) == full and light_update.full(None).callback_query == full.callback_query


@pytest.fixture
async def bot(api: FakeBotApi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[RunningBot]:
    running = RunningBot(api, tmp_path / "tipline.sqlite3")
    await running.start()
    yield running
    await running.stop()
    api.assert_no_refusals()
    assert running.errors == []


async def test_presses_in_a_private_chat_are_answered_as_the_full_path_answers_them(
    api: FakeBotApi, bot: RunningBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    read_in_full: list[dict[str, Any]] = []
    de_json = Update.de_json

    def counting(cls: type[Update], data: dict[str, Any], bot: Any = None) -> Update:
        read_in_full.append(data)
        return de_json(data, bot)

    monkeypatch.setattr(Update, "de_json", classmethod(counting))
    lan = Citizen(api.user(first_name="Lan"), bot)
    [menu] = await lan.say("/start")
    assert len(read_in_full) == 1  # a command: read in full
    answered = len(api.callback_answers)

    # A citizen's press, forged or not, stays light; each is answered, once, and gets the citizen's answer.
    answer = await lan.press_raw(menu["message_id"], "2m|lib:e:no-such-page")
    assert "Mục này không còn nữa." in texts(answer)
    answer = await lan.press_raw(menu["message_id"], "garbage")
    assert answer and answer[-1].get("reply_markup")
    assert len(read_in_full) == 1 and len(api.callback_answers) == answered + 2

    # A staff button pressed in a private chat is read in full and refused, with a notice and no message.
    assert await lan.press_raw(menu["message_id"], "2c|verify|new") == []
    assert len(read_in_full) == 2
    assert api.callback_answers[-1]["text"] == "Xin lỗi, bạn không có quyền thực hiện thao tác này."
    assert len(api.callback_answers) == answered + 3

    # A poll's answer from someone who received no poll: light, and told so.
    assert await lan.press_raw(menu["message_id"], "2v|1|1|0") == []
    assert len(read_in_full) == 2 and len(api.callback_answers) == answered + 4
    assert api.callback_answers[-1]["text"] and api.callback_answers[-1]["show_alert"]
