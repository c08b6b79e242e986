"""Where a message goes and what the bot still owes someone: plain values shared by the core and storage."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import IntEnum, StrEnum
from typing import Any


@dataclass(frozen=True)
class Address:
    """A chat on a channel (and, for forum groups, a topic in it). Identifiers are the channel's own,
    as text: Telegram's integers and Zalo's hex strings alike."""

    channel: str
    chat: str
    thread: str | None = None

    def in_thread(self, thread: str | None) -> Address:
        return Address(self.channel, self.chat, thread)


@dataclass(frozen=True)
class Sent:
    """A message the channel accepted: where it is, and its id there (and, for an uploaded file, the
    channel's id for the file, to send it again without uploading it)."""

    address: Address
    message: str
    file_ref: str | None = None


class Kind(StrEnum):
    """What an outbox item asks for; each kind has one handler in the core."""

    CARD = "card"  # post or refresh a tip's card for the moderators or for its police unit
    STAFF_TEXT = "staff_text"  # a line for the moderators or a unit, under the tip's card when there is one
    TIPSTER_NEWS = "tipster_news"  # a message for the tipster's chat(s), if they opted in


class Priority(IntEnum):
    """Lower goes first: staff work and tipsters' news never wait behind bulk sending."""

    STAFF = 0
    TIPSTER = 1
    BULK = 5


PRIORITY: dict[Kind, Priority] = {
    Kind.CARD: Priority.STAFF,
    Kind.STAFF_TEXT: Priority.STAFF,
    Kind.TIPSTER_NEWS: Priority.TIPSTER,
}


class Audience(StrEnum):
    MODERATORS = "moderators"
    UNIT = "unit"
    TIPSTER = "tipster"


@dataclass(frozen=True)
class NewItem:
    """An item to add to the outbox, inside the transaction of the change that caused it."""

    kind: Kind
    audience: Audience
    tip_id: int | None = None
    unit_id: int | None = None
    payload: dict[str, Any] = field(default_factory=dict)
    channel: str | None = None  # the channel it goes out on, when known (None: any worker may take it)

    @property
    def priority(self) -> Priority:
        return PRIORITY[self.kind]


@dataclass(frozen=True)
class OutboxTally:
    """How many items are still to go, went out, or were set aside for an operator."""

    waiting: int = 0
    delivered: int = 0
    failed: int = 0


@dataclass(frozen=True)
class OutboxItem:
    id: int
    kind: Kind
    audience: Audience
    tip_id: int | None
    unit_id: int | None
    payload: dict[str, Any]
    priority: int
    attempts: int
    created_at: datetime
