"""What a person did, in the core's terms: the inbound events every channel adapter produces."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from tipline.replies import Action

MediaKind = Literal["photo", "video", "document", "voice", "audio", "animation", "video_note"]


@dataclass(frozen=True)
class Text:
    """Typed text. ``reply_to``: the id of the bot's message it answers, on channels that have replies."""

    text: str
    reply_to: str | None = None


@dataclass(frozen=True)
class Command:
    """A slash command, e.g. ``/status TL-7K3Q-9XMP`` → name 'status', args 'TL-7K3Q-9XMP'."""

    name: str
    args: str = ""


@dataclass(frozen=True)
class Pick:
    """A choice the person picked with a button. ``None``: a button the channel could not read (from an
    older version, or forged), answered as a stale button."""

    action: Action | None


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


Inbound = Text | Command | Pick | Media | Location | Unsupported
