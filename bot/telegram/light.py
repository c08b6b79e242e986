"""A lighter path, inside python-telegram-bot's Application, for the updates that make most of a burst: a
citizen's plain text or button press in a private chat.

Why: python-telegram-bot reads every update into objects (``Update.de_json``), part by part; a button press
carries the whole pressed message, its keyboard button by button. Measured under ``bench/compare.py``,
that reading cost more of the bot's CPU than the core's step. Those two kinds of updates reach the
Application as a ``CitizenUpdate`` holding the update's JSON, for one ``TypeHandler`` (bot/telegram/app.py);
everything else (commands, replies, media, locations, edits, groups, forum topics) is read in full, as
before, and goes to the usual handlers. A handler that finds it needs more (a staff member's or a
campaign's button in a private chat, a text from a broadcaster writing a campaign) reads the same JSON in
full with ``full()``.

What is read from the JSON is what the full path would take from the objects: the chat's id and type, the
sender's id, the text, the callback's id and data, and the pressed message's id, text and buttons.
"""

from __future__ import annotations

import datetime as dtm
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from telegram import Message, Update
from telegram._utils.defaultvalue import DEFAULT_NONE, DefaultValue
from telegram._utils.types import JSONDict, ODVInput, TimePeriod
from telegram.ext import ExtBot

from tipline.delivery.model import Address, Sent

from .channel import NAME, sent_of


class CitizenUpdate(Update):
    """An update from a private chat kept as JSON: a plain text (``text``) or a button press (``query``,
    on ``pressed``). python-telegram-bot's own handlers see an update without a message or a query."""

    __slots__ = ("chat_id", "data", "pressed", "query", "sender", "text")

    def __init__(self, data: JSONDict, chat_id: int, text: str | None, query: JSONDict | None,
                 pressed: Pressed | None) -> None:  # fmt: skip
        super().__init__(update_id=data["update_id"])
        with self._unfrozen():
            self.data = data
            self.chat_id = chat_id
            self.text = text
            self.query = query
            self.pressed = pressed
            sender = (query if query is not None else data["message"]).get("from")
            # The person's id, for the one check a text needs (are they writing a campaign?); None without one.
            self.sender: int | None = int(sender["id"]) if isinstance(sender, dict) else None

    def full(self, bot: Any) -> Update:
        """The same update read by python-telegram-bot, for the usual handlers."""
        update: Update = Update.de_json(self.data, bot)
        return update


@dataclass(frozen=True)
class Pressed:
    """The message whose button was pressed: what answering in its place needs."""

    sent: Sent
    text: str | None
    buttons: tuple[tuple[str, str | None], ...]  # (label, callback data), row by row

    @classmethod
    def of(cls, message: Message) -> Pressed:
        markup = message.reply_markup
        rows = markup.inline_keyboard if markup is not None else ()
        return cls(sent_of(message), message.text, tuple((b.text, b.callback_data) for row in rows for b in row))  # type: ignore[misc]

    @classmethod
    def of_json(cls, message: JSONDict) -> Pressed:
        thread = message.get("message_thread_id") if message.get("is_topic_message") else None
        rows = (message.get("reply_markup") or {}).get("inline_keyboard") or ()
        return cls(
            Sent(Address(NAME, str(message["chat"]["id"]), str(thread) if thread else None), str(message["message_id"])),
            message.get("text"),
            tuple((b.get("text", ""), b.get("callback_data")) for row in rows for b in row),
        )

    @property
    def chat_id(self) -> int:
        return int(self.sent.address.chat)

    @property
    def message_id(self) -> int:
        return int(self.sent.message)

    def label(self, data: str | None) -> str | None:
        """The words of the button that was pressed, without a leading emoji ("⬅️ Back" -> "Back")."""
        for text, callback_data in self.buttons:
            if callback_data == data:
                text = text.strip()
                start = next((i for i, ch in enumerate(text) if unicodedata.category(ch)[0] in "LN"), len(text))
                return text[start:].strip() or None
        return None


def _is_command(message: JSONDict) -> bool:
    entities = message.get("entities")
    first = entities[0] if entities else None
    return isinstance(first, dict) and first.get("type") == "bot_command" and first.get("offset") == 0


def light(data: JSONDict) -> CitizenUpdate | None:
    """The update as a ``CitizenUpdate`` when it is a citizen's plain text or button press in a private
    chat (not a command, not a reply, not in a forum topic), else None (read it in full)."""
    try:
        message = data.get("message")
        if message is not None:
            text, chat = message.get("text"), message["chat"]
            if (
                chat.get("type") != "private" or type(text) is not str or "reply_to_message" in message
                or message.get("is_topic_message") or _is_command(message)
            ):  # fmt: skip
                return None
            return CitizenUpdate(data, int(chat["id"]), text, None, None)
        query = data.get("callback_query")
        if query is None or len(data) != 2:  # the update id and the query, nothing else
            return None
        pressed, sender = query.get("message"), query.get("from")
        if (
            not isinstance(pressed, dict) or not pressed.get("date") or pressed["chat"].get("type") != "private"
            or not isinstance(sender, dict) or type(query.get("id")) is not str
        ):  # fmt: skip
            return None  # an inaccessible message (date 0), a group, an inline message: in full
        return CitizenUpdate(data, int(pressed["chat"]["id"]), None, query, Pressed.of_json(pressed))
    except (KeyError, TypeError, ValueError, AttributeError):
        return None  # whatever the shape: python-telegram-bot reads it (and says what is wrong)


def parse_update(data: JSONDict, bot: Any) -> Update:
    """An update as the Application gets it: light when it can be, else read in full."""
    update = light(data)
    if update is not None:
        return update
    full: Update = Update.de_json(data, bot)
    return full


class TiplineBot(ExtBot[None]):
    """python-telegram-bot's ExtBot whose long polling hands over citizens' updates light (``parse_update``)."""

    async def get_updates(
        self,
        offset: int | None = None,
        limit: int | None = None,
        timeout: TimePeriod | None = None,
        allowed_updates: Sequence[str] | None = None,
        *,
        read_timeout: ODVInput[float] = DEFAULT_NONE,
        write_timeout: ODVInput[float] = DEFAULT_NONE,
        connect_timeout: ODVInput[float] = DEFAULT_NONE,
        pool_timeout: ODVInput[float] = DEFAULT_NONE,
        api_kwargs: JSONDict | None = None,
    ) -> tuple[Update, ...]:
        # As Bot.get_updates: the long poll's time on top of the read timeout.
        base = self._request[0].read_timeout if isinstance(read_timeout, DefaultValue) else read_timeout
        seconds = timeout.total_seconds() if isinstance(timeout, dtm.timedelta) else (timeout or 0)
        result = await self._post(
            "getUpdates",
            {"timeout": timeout, "offset": offset, "limit": limit, "allowed_updates": allowed_updates},
            read_timeout=(base or 0) + seconds,
            write_timeout=write_timeout,
            connect_timeout=connect_timeout,
            pool_timeout=pool_timeout,
            api_kwargs=api_kwargs,
        )
        updates = tuple(parse_update(data, self) for data in result)
        for update in updates:
            if not isinstance(update, CitizenUpdate):
                self.insert_callback_data(update)
        return updates
