"""Simulated people: what a test does instead of tapping in a Telegram app.

A :class:`SimUser` is one person and their private chat with the bot; a :class:`SimGroup` is a
group the bot is in. Their actions become updates exactly as Telegram would create them (ids,
dates, ``from``, ``chat``, file ids, ``bot_command`` entities ...), queued for the bot's getUpdates.

Waiting is explicit and bounded: ``await user.wait_for(n)`` returns the next ``n`` messages the
bot sent to the chat since the person's last action, or fails with an AssertionError that shows
what the bot did instead (including requests Telegram refused).
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any

from .formatting import auto_entities
from .world import ChatRecord, UserRecord, snapshot

if TYPE_CHECKING:
    from .server import FakeBotApi

__all__ = ["SimGroup", "SimUser"]

_SERVICE_KEYS = (
    "forum_topic_created", "forum_topic_edited", "forum_topic_closed", "forum_topic_reopened",
    "new_chat_members", "left_chat_member", "pinned_message",
)  # fmt: skip


def _message_id(message: dict | int) -> int:
    return message if isinstance(message, int) else message["message_id"]


def _buttons(markup: dict | None, key: str) -> list[Any]:
    return [button for row in (markup or {}).get(key, []) for button in row]


class _ChatView:
    """What a participant sees of one chat, plus the posting/waiting machinery shared by users
    and groups."""

    def __init__(self, api: FakeBotApi, chat: ChatRecord) -> None:
        self.api = api
        self.chat = chat
        self._sent_cursor = 0  # index into chat.sent_log
        self._edit_cursor = 0  # index into chat.edit_log
        self._answer_cursor = 0  # index into api.callback_answers

    @property
    def chat_id(self) -> int:
        return self.chat.id

    # --------------------------------------------------------------------------- inspection

    @property
    def inbox(self) -> list[dict]:
        """The bot's messages in this chat, in order, as they are now (edits applied, deleted ones
        gone). Service messages (topic created, ...) are left out."""
        return [
            snapshot(m)
            for m in self.chat.messages.values()
            if m["from"]["id"] == self.api.bot.id and not any(k in m for k in _SERVICE_KEYS)
        ]

    @property
    def last(self) -> dict | None:
        """The bot's latest message in this chat, or None."""
        inbox = self.inbox
        return inbox[-1] if inbox else None

    @property
    def history(self) -> list[dict]:
        """Every current message in the chat, from anyone."""
        return snapshot(list(self.chat.messages.values()))

    @property
    def deleted(self) -> list[dict]:
        """Messages deleted from this chat (their last state)."""
        return snapshot(list(self.chat.deleted.values()))

    @property
    def chat_actions(self) -> list[str]:
        """Chat actions (``typing`` ...) the bot sent to this chat, oldest first."""
        return [a["action"] for a in self.api.chat_actions if a["chat_id"] == self.chat.id]

    # ------------------------------------------------------------------------------ waiting

    def _mark_action(self) -> None:
        """Everything the bot does from now on counts as a reaction to this action."""
        self._sent_cursor = len(self.chat.sent_log)
        self._edit_cursor = len(self.chat.edit_log)
        self._answer_cursor = len(self.api.callback_answers)

    async def wait_for(self, n: int = 1, timeout: float = 5.0) -> list[dict]:
        """Wait until the bot has sent ``n`` new messages to this chat since the last action here
        (or since the previous ``wait_for``) and return them, as they are now."""
        start = self._sent_cursor
        got = await self.api.changes.until(lambda: len(self.chat.sent_log) - start >= n, timeout)
        if not got:
            arrived = self.chat.sent_log[start:]
            self._fail(f"expected {n} new bot message(s) within {timeout}s, got {len(arrived)}", arrived)
        self._sent_cursor = start + n
        return [snapshot(self.chat.messages.get(m["message_id"], m)) for m in self.chat.sent_log[start : start + n]]

    async def wait_for_edit(self, timeout: float = 5.0) -> dict:
        """Wait for the bot's next edit of a message in this chat; returns the edited message."""
        start = self._edit_cursor
        if not await self.api.changes.until(lambda: len(self.chat.edit_log) > start, timeout):
            self._fail(f"expected the bot to edit a message within {timeout}s", [])
        self._edit_cursor = start + 1
        return snapshot(self.chat.edit_log[start])

    async def wait_for_answer(self, timeout: float = 5.0) -> dict:
        """Wait for the bot's next answerCallbackQuery to a button pressed here; returns the answer
        (``text``, ``show_alert``, ``url``, ``cache_time``, ``data``)."""

        def found() -> dict | None:
            for answer in self.api.callback_answers[self._answer_cursor :]:
                if answer["chat_id"] == self.chat.id:
                    return answer
            return None

        answer = await self.api.changes.until(found, timeout)
        if answer is None:
            self._fail(f"expected the bot to answer the callback query within {timeout}s", [])
        self._answer_cursor = self.api.callback_answers.index(answer) + 1
        return snapshot(answer)

    async def wait_quiet(self, seconds: float = 0.3) -> list[dict]:
        """Let the bot work for ``seconds``; returns the messages it sent here meanwhile (a test of
        "the bot says nothing" asserts this is empty)."""
        start = len(self.chat.sent_log)
        await self.api.changes.until(lambda: False, seconds)
        return [snapshot(m) for m in self.chat.sent_log[start:]]

    def _fail(self, what: str, arrived: list[dict]) -> None:
        lines = [f"{self!r}: {what}."]
        if arrived:
            lines.append("Arrived: " + "; ".join(repr(m.get("text") or m.get("caption") or sorted(m)) for m in arrived))
        refusals = self.api.refusals[-5:]
        if refusals:
            lines.append("Refused requests (latest last):\n  " + "\n  ".join(map(str, refusals)))
        if self.api.server_errors:
            lines.append(f"The fake server crashed: {self.api.server_errors[-1]!r}")
        lines.append(f"Unconfirmed updates: {self.api.pending_updates}; requests so far: {len(self.api.requests)}")
        raise AssertionError("\n".join(lines))

    # ----------------------------------------------------------------------------- posting

    def _post(self, sender: UserRecord, content: dict, *, reply_to: dict | int | None = None, thread_id: int | None = None) -> dict:
        """Put a message from ``sender`` into the chat and queue the update for the bot."""
        api, chat = self.api, self.chat
        message: dict[str, Any] = {
            "message_id": chat.next_message_id(),
            "from": sender.json(),
            "chat": chat.json(),
            "date": api.clock.unix(),
        }
        if thread_id is not None:
            if chat.is_forum and thread_id not in chat.topics:
                raise LookupError(f"no topic {thread_id} in {chat.title!r}")
            message["message_thread_id"] = thread_id
            if chat.is_forum:
                message["is_topic_message"] = True
        if reply_to is not None:
            target = chat.messages.get(_message_id(reply_to))
            if target is None:
                raise LookupError(f"no message {_message_id(reply_to)} in this chat to reply to")
            message["reply_to_message"] = snapshot({k: v for k, v in target.items() if k != "reply_to_message"})
            if "message_thread_id" in target and chat.is_forum:
                message["message_thread_id"] = target["message_thread_id"]
                message["is_topic_message"] = True
        message.update(content)
        chat.messages[message["message_id"]] = message
        if chat.type == "private":
            sender.started = True
        self._mark_action()
        if self._delivered(message):
            sender.seen = True
            api._push_update("message", message)
        return snapshot(message)

    def _delivered(self, message: dict) -> bool:
        """Privacy mode: which group messages a bot that isn't an administrator gets to see."""
        chat = self.chat
        if chat.type == "private" or not self.api.privacy_mode or chat.bot_status == "administrator":
            return True
        if chat.bot_status in ("left", "kicked"):
            return False
        text = message.get("text") or message.get("caption") or ""
        bot_name = (self.api.bot.username or "").lower()
        if text.startswith("/"):
            command = text.split()[0]
            return "@" not in command or command.split("@", 1)[1].lower() == bot_name
        if f"@{bot_name}" in text.lower():
            return True
        replied = message.get("reply_to_message")
        return bool(replied and replied["from"]["id"] == self.api.bot.id)

    def _press(self, presser: UserRecord, message: dict | int, button: str) -> str:
        current = self.chat.messages.get(_message_id(message))
        if current is None or current["from"]["id"] != self.api.bot.id:
            raise LookupError(f"no bot message {_message_id(message)} in this chat (deleted?)")
        for candidate in _buttons(current.get("reply_markup"), "inline_keyboard"):
            if button in (candidate.get("text"), candidate.get("callback_data")):
                if "callback_data" not in candidate:
                    raise ValueError(f"button {button!r} is not a callback button: {candidate}")
                return self._callback(presser, current, candidate["callback_data"])
        labels = [b.get("text") for b in _buttons(current.get("reply_markup"), "inline_keyboard")]
        raise LookupError(f"message {current['message_id']} has no button {button!r}; it has {labels}")

    def _callback(self, presser: UserRecord, message: dict, data: str) -> str:
        query_id = str(random.randrange(10**18, 10**19))
        self.api.callback_queries[query_id] = {
            "user_id": presser.id,
            "chat_id": self.chat.id,
            "message_id": message["message_id"],
            "data": data,
            "created": self.api.clock.now(),
            "answer": None,
        }
        self._mark_action()
        presser.seen = True
        self.api._push_update(
            "callback_query",
            {"id": query_id, "from": presser.json(), "message": message, "chat_instance": self.chat.chat_instance, "data": data},
        )
        return query_id

    def _press_raw(self, presser: UserRecord, message_id: int, data: str) -> str:
        message = self.chat.messages.get(message_id)
        if message is None:  # InaccessibleMessage
            message = {"chat": self.chat.json(), "message_id": message_id, "date": 0}
        return self._callback(presser, snapshot(message), data)


# ------------------------------------------------------------------------------- content


def _text(text: str) -> dict:
    content: dict[str, Any] = {"text": text}
    entities = auto_entities(text)
    if entities:
        content["entities"] = entities
    return content


def _with_caption(content: dict, caption: str | None) -> dict:
    if caption:
        content["caption"] = caption
        entities = auto_entities(caption)
        if entities:
            content["caption_entities"] = entities
    return content


class _Posting:
    """Content builders shared by users (who post as themselves) and groups (as a member)."""

    api: FakeBotApi

    def _photo(self, size: int, width: int, height: int, data: bytes | None, caption: str | None) -> dict:
        full = self.api.files.add_photo(size=size, data=data, width=width, height=height)
        return _with_caption({"photo": full.photo_json()}, caption)

    def _file(self, kind: str, caption: str | None = None, **kwargs: Any) -> dict:
        meta = kwargs.pop("meta", {})
        stored = self.api.files.add(kind, meta=meta, **kwargs)
        content = {kind: stored.json()}
        if kind == "animation":
            content["document"] = stored.json()
        return _with_caption(content, caption)


class SimUser(_ChatView, _Posting):
    """A person and their private chat with the bot. Create with :meth:`FakeBotApi.user`."""

    def __init__(self, api: FakeBotApi, record: UserRecord) -> None:
        super().__init__(api, api.chats[record.id])
        self.record = record

    def __repr__(self) -> str:
        return f"<SimUser {self.id} {self.record.first_name!r}>"

    @property
    def id(self) -> int:
        return self.record.id

    @property
    def json(self) -> dict:
        """The Telegram ``User`` object."""
        return self.record.json()

    @property
    def callback_answers(self) -> list[dict]:
        """Every answer the bot gave to this person's button presses."""
        return [snapshot(a) for a in self.api.callback_answers if a["user_id"] == self.id]

    @property
    def keyboard(self) -> list[list[str]] | None:
        """The custom reply keyboard the person currently sees, as rows of button texts."""
        markup = self.chat.reply_keyboard
        if not markup:
            return None
        return [[b if isinstance(b, str) else b["text"] for b in row] for row in markup["keyboard"]]

    def block(self) -> None:
        self.api.block(self)

    def unblock(self) -> None:
        self.api.unblock(self)

    def _check_can_post(self) -> None:
        if self.record.blocked:
            raise RuntimeError(f"{self!r} blocked the bot; call unblock() first (Telegram apps do this on 'Restart')")

    def _post_own(self, content: dict, reply_to: dict | int | None = None) -> dict:
        self._check_can_post()
        return self._post(self.record, content, reply_to=reply_to)

    async def send(self, text: str, *, reply_to: dict | int | None = None) -> dict:
        """Send a text message ("/start", "/status TL-AB" get bot_command entities)."""
        return self._post_own(_text(text), reply_to)

    async def send_sticker(self, emoji: str = "👍") -> dict:
        return self._post_own(self._file("sticker", size=20_000, meta={"width": 512, "height": 512, "is_animated": False, "is_video": False, "type": "regular", "emoji": emoji}))

    async def send_photo(self, size: int = 120_000, *, caption: str | None = None, width: int = 1280, height: int = 960, data: bytes | None = None) -> dict:
        return self._post_own(self._photo(size if data is None else len(data), width, height, data, caption))

    async def send_video(self, size: int = 2_000_000, *, duration: int = 10, caption: str | None = None, width: int = 1280, height: int = 720, file_name: str | None = "video.mp4", data: bytes | None = None) -> dict:
        return self._post_own(self._file("video", caption, size=size if data is None else len(data), data=data, file_name=file_name, mime_type="video/mp4", meta={"width": width, "height": height, "duration": duration}))

    async def send_document(self, file_name: str = "document.pdf", mime_type: str | None = None, size: int = 50_000, *, caption: str | None = None, data: bytes | None = None) -> dict:
        return self._post_own(self._file("document", caption, size=size if data is None else len(data), data=data, file_name=file_name, mime_type=mime_type))

    async def send_voice(self, duration: int = 5, size: int = 40_000, *, data: bytes | None = None) -> dict:
        return self._post_own(self._file("voice", size=size if data is None else len(data), data=data, mime_type="audio/ogg", meta={"duration": duration}))

    async def send_audio(self, duration: int = 120, size: int = 3_000_000, *, title: str | None = None, performer: str | None = None, file_name: str = "audio.mp3") -> dict:
        meta = {"duration": duration, **({"title": title} if title else {}), **({"performer": performer} if performer else {})}
        return self._post_own(self._file("audio", size=size, file_name=file_name, mime_type="audio/mpeg", meta=meta))

    async def send_location(self, latitude: float = 10.7769, longitude: float = 106.7009) -> dict:
        return self._post_own({"location": {"latitude": latitude, "longitude": longitude}})

    async def send_contact(self, phone_number: str | None = None, first_name: str | None = None, *, user_id: int | None = None, last_name: str | None = None) -> dict:
        """Share a contact; without arguments, the person's own (as the request_contact button does)."""
        own = phone_number is None
        contact: dict[str, Any] = {"phone_number": phone_number or self.record.phone_number, "first_name": first_name or self.record.first_name}
        if own:
            contact["user_id"] = self.id
            if self.record.last_name:
                contact["last_name"] = self.record.last_name
        elif user_id is not None:
            contact["user_id"] = user_id
        if last_name:
            contact["last_name"] = last_name
        return self._post_own({"contact": contact})

    async def edit(self, message: dict | int, text: str) -> dict:
        """Edit one of the person's own text messages (the bot gets an edited_message update)."""
        current = self.chat.messages.get(_message_id(message))
        if current is None or current["from"]["id"] != self.id or "text" not in current:
            raise LookupError(f"no text message {_message_id(message)} of {self!r} to edit")
        current.pop("entities", None)
        current.update(_text(text))
        current["edit_date"] = self.api.clock.unix()
        self._mark_action()
        self.api._push_update("edited_message", current)
        return snapshot(current)

    async def press(self, message: dict | int, button: str) -> str:
        """Press an inline button (by its text or callback_data) on a bot message in this chat, as it
        is now. Returns the callback query id. Raises LookupError if there is no such button."""
        self._check_can_post()
        return self._press(self.record, message, button)

    async def press_raw(self, message_id: int, data: str) -> str:
        """A callback query with arbitrary data (forged, or from an outdated keyboard)."""
        return self._press_raw(self.record, message_id, data)

    async def tap(self, button_text: str, *, latitude: float = 10.7769, longitude: float = 106.7009) -> dict:
        """Tap a button of the custom reply keyboard the bot showed (sends its text, or the contact /
        location it requests)."""
        markup = self.chat.reply_keyboard
        for button in _buttons(markup, "keyboard"):
            text = button if isinstance(button, str) else button["text"]
            if text != button_text:
                continue
            if markup and markup.get("one_time_keyboard"):
                self.chat.reply_keyboard = None
            if isinstance(button, dict) and button.get("request_contact"):
                return await self.send_contact()
            if isinstance(button, dict) and button.get("request_location"):
                return await self.send_location(latitude, longitude)
            return await self.send(text)
        raise LookupError(f"{self!r} sees no keyboard button {button_text!r}; keyboard: {self.keyboard}")


class SimGroup(_ChatView, _Posting):
    """A group or supergroup (optionally a forum) with the bot in it. Create with :meth:`FakeBotApi.group`."""

    def __repr__(self) -> str:
        return f"<SimGroup {self.chat.id} {self.chat.title!r}>"

    @property
    def topics(self) -> dict[int, dict]:
        """Forum topics by message_thread_id (``name``, ``icon_color``, ``closed``)."""
        return snapshot(self.chat.topics)

    def topic_messages(self, thread_id: int) -> list[dict]:
        return [m for m in self.inbox if m.get("message_thread_id") == thread_id]

    def _member(self, member: SimUser) -> UserRecord:
        if self.chat.status_of(member.id) in ("left", "kicked"):
            raise LookupError(f"{member!r} is not a member of {self!r}")
        return member.record

    async def send(self, member: SimUser, text: str, *, reply_to: dict | int | None = None, thread_id: int | None = None) -> dict:
        return self._post(self._member(member), _text(text), reply_to=reply_to, thread_id=thread_id)

    async def send_photo(self, member: SimUser, size: int = 120_000, *, caption: str | None = None, thread_id: int | None = None) -> dict:
        return self._post(self._member(member), self._photo(size, 1280, 960, None, caption), thread_id=thread_id)

    async def send_document(self, member: SimUser, file_name: str = "document.pdf", mime_type: str | None = None, size: int = 50_000, *, caption: str | None = None, thread_id: int | None = None) -> dict:
        return self._post(self._member(member), self._file("document", caption, size=size, file_name=file_name, mime_type=mime_type), thread_id=thread_id)

    async def press(self, member: SimUser, message: dict | int, button: str) -> str:
        return self._press(self._member(member), message, button)

    async def press_raw(self, member: SimUser, message_id: int, data: str) -> str:
        return self._press_raw(self._member(member), message_id, data)

    def add(self, member: SimUser) -> None:
        """Someone adds ``member`` to the group (again): refused by Telegram while they are banned."""
        if self.chat.status_of(member.id) == "kicked":
            raise LookupError(f"{member!r} is banned from {self!r}")
        self.chat.members[member.id] = "member"

    def status_of(self, member: SimUser) -> str:
        return self.chat.status_of(member.id)

    def remove_bot(self, *, kicked: bool = True) -> None:
        """An admin removes the bot: sends fail with 403, the bot gets a my_chat_member update."""
        old = self.chat.bot_status
        self.chat.bot_status = "kicked" if kicked else "left"
        bot = self.api.bot.json()
        admin = next((self.api.users[u] for u, s in self.chat.members.items() if s in ("creator", "administrator")), self.api.bot)
        self.api._push_update(
            "my_chat_member",
            {
                "chat": self.chat.json(), "from": admin.json(), "date": self.api.clock.unix(),
                "old_chat_member": {"status": old, "user": bot} if old != "administrator" else {"status": "administrator", "user": bot, "can_be_edited": False, "is_anonymous": False, "can_manage_chat": True, "can_delete_messages": True, "can_manage_video_chats": True, "can_restrict_members": True, "can_promote_members": False, "can_change_info": True, "can_invite_users": True, "can_post_stories": False, "can_edit_stories": False, "can_delete_stories": False},
                "new_chat_member": {"status": self.chat.bot_status, "user": bot, **({"until_date": 0} if kicked else {})},
            },
        )  # fmt: skip
