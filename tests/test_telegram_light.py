"""Which Telegram updates take the light path (bot/telegram/light.py), and that it reads them as the full path
does. End to end, every citizen test goes through it (the harness polls with the application's bot)."""

from __future__ import annotations

import copy
from typing import Any

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

    update = light(press())
    assert isinstance(update, CitizenUpdate) and update.text is None and update.query is not None
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
