"""The fake Zalo's state: people, chats, the messages in them, files it hosts, and a clock.

Plain data plus the few rules that are about the data itself. Request handling lives in
``methods.py``; the objects tests use to act as people live in ``simulation.py``.

Ids follow what Zalo's Bot Platform hands out: opaque strings of 20 hex digits for users, chats and
messages (``"e4ea2cd5189df1c3a88c"``), dates in milliseconds since the epoch.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from botapi.world import Changes, snapshot

__all__ = ["Changes", "ChatRecord", "Clock", "HostedFile", "UserRecord", "new_id", "snapshot"]


def new_id() -> str:
    """A fresh 20-hex-digit id, the shape of Zalo's user, chat and message ids."""
    return secrets.token_hex(10)


class Clock:
    """Wall-clock time in milliseconds that tests can move forward (``zapi.advance_time``)."""

    def __init__(self) -> None:
        self.offset = 0.0

    def now(self) -> float:
        return time.time() + self.offset

    def ms(self) -> int:
        return int(self.now() * 1000)


@dataclass
class UserRecord:
    id: str
    display_name: str
    started: bool = False  # has written to the bot, so the bot knows the chat and may write to it
    blocked: bool = False  # blocked the bot: sends to them are refused

    def json(self) -> dict[str, Any]:
        """The ``from`` object of an update."""
        return {"id": self.id, "display_name": self.display_name, "is_bot": False}


@dataclass
class ChatRecord:
    id: str
    chat_type: str  # PRIVATE | GROUP
    title: str | None = None  # groups only; never sent in updates (Zalo's chat object has id and type)
    user: UserRecord | None = None  # the other person, for private chats
    members: list[str] = field(default_factory=list)  # user ids, for groups
    messages: list[dict] = field(default_factory=list)  # every message in the chat, anyone's, in order
    sent_log: list[dict] = field(default_factory=list)  # the bot's messages, in the order sent
    chat_actions: list[str] = field(default_factory=list)  # sendChatAction actions, in order

    def json(self) -> dict[str, Any]:
        """The ``chat`` object of an update."""
        return {"id": self.id, "chat_type": self.chat_type}

    @property
    def reachable_error(self) -> tuple[int, str] | None:
        """Why the bot may not write here now, as (error_code, description); None if it may."""
        if self.user is not None:
            if not self.user.started:
                return 400, "Bad Request: chat not found"
            if self.user.blocked:
                return 403, "Forbidden: the user has blocked the bot"
        return None


@dataclass
class HostedFile:
    """A file the fake serves at ``/files/<name>`` (a person's photo, voice note, sticker)."""

    name: str
    data: bytes
    content_type: str
    downloads: int = 0
