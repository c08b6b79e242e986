"""What a person did, in the core's terms: the inbound events every channel adapter produces."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

MediaKind = Literal["photo", "video", "document", "voice", "audio", "animation", "video_note"]


@dataclass(frozen=True)
class Text:
    text: str


@dataclass(frozen=True)
class Command:
    """A slash command, e.g. ``/status TL-7K3Q-9XMP`` → name 'status', args 'TL-7K3Q-9XMP'."""

    name: str
    args: str = ""


@dataclass(frozen=True)
class Pick:
    """A choice the person picked: a button press or a numbered option typed back."""

    data: str


@dataclass(frozen=True)
class Media:
    """An attachment kept by reference (the channel's file id), never downloaded by the core."""

    kind: MediaKind
    ref: str
    size: int | None = None
    mime: str | None = None
    name: str | None = None


@dataclass(frozen=True)
class Location:
    latitude: float
    longitude: float


@dataclass(frozen=True)
class Unsupported:
    """Anything the bot cannot take: a sticker, a poll, a contact card, a dice roll ..."""

    kind: str


@dataclass(frozen=True)
class Answer:
    """A reply to one of the bot's messages that named a tip: the tipster answering the team's question."""

    code: str
    text: str


Inbound = Text | Command | Pick | Media | Location | Unsupported | Answer
