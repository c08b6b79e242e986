"""Callback data: one small payload class per kind of button, packed and checked in one place.

``2`` is the format's version: buttons already posted keep working after a change of format, or are
refused politely. Anything that does not parse (an older version, a forged payload) unpacks to None,
which the core answers as a stale button. Telegram allows 64 bytes of callback data; ``pack`` refuses more.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import ClassVar

from tipline.replies import Action, CampaignAction, CardAction, MenuEntry, PollVote, QueuePage, Step, UnitChoice

VERSION = "2"
MAX_BYTES = 64  # Telegram's limit for callback_data
_NAME = re.compile(r"^[a-z][a-z0-9_:-]{0,39}$")


class CallbackTooLong(ValueError):
    pass


@dataclass(frozen=True)
class Payload:
    prefix: ClassVar[str]

    @staticmethod
    def fields(data: str, count: int) -> list[str] | None:
        parts = data.split("|")
        return parts if len(parts) == count else None


class StepPayload(Payload):
    """A citizen's option on the current question: ``2s|<turn>|<name>``."""

    prefix = "s"

    @staticmethod
    def pack(action: Step) -> str:
        return f"{action.turn}|{action.name}"

    @staticmethod
    def unpack(data: str) -> Step | None:
        parts = Payload.fields(data, 2)
        if parts is None or not parts[0].isdigit() or not _NAME.match(parts[1]):
            return None
        return Step(parts[1], int(parts[0]))


class MenuPayload(Payload):
    """An entry of the citizens' menu, valid on any message: ``2m|<name>``."""

    prefix = "m"

    @staticmethod
    def pack(action: MenuEntry) -> str:
        return action.name

    @staticmethod
    def unpack(data: str) -> MenuEntry | None:
        return MenuEntry(data) if _NAME.match(data) else None


class CardPayload(Payload):
    """A button on a tip's card: ``2c|<action>|<status seen>``. The tip is the card's, not in the data."""

    prefix = "c"

    @staticmethod
    def pack(action: CardAction) -> str:
        return f"{action.name}|{action.seen}"

    @staticmethod
    def unpack(data: str) -> CardAction | None:
        parts = Payload.fields(data, 2)
        if parts is None or not _NAME.match(parts[0]) or not _NAME.match(parts[1]):
            return None
        return CardAction(parts[0], parts[1])


class PagePayload(Payload):
    """A page of the staff queue: ``2q|<page>``."""

    prefix = "q"

    @staticmethod
    def pack(action: QueuePage) -> str:
        return str(action.page)

    @staticmethod
    def unpack(data: str) -> QueuePage | None:
        return QueuePage(int(data)) if data.isdigit() and len(data) < 6 else None


class UnitPayload(Payload):
    """A police unit picked from a list the server sent: ``2u|<unit id>``."""

    prefix = "u"

    @staticmethod
    def pack(action: UnitChoice) -> str:
        return str(action.unit_id)

    @staticmethod
    def unpack(data: str) -> UnitChoice | None:
        return UnitChoice(int(data)) if data.isdigit() and len(data) < 10 else None


class CampaignPayload(Payload):
    """A broadcaster's button on a campaign: ``2k|<action>|<campaign id>``."""

    prefix = "k"

    @staticmethod
    def pack(action: CampaignAction) -> str:
        return f"{action.name}|{action.campaign_id}"

    @staticmethod
    def unpack(data: str) -> CampaignAction | None:
        parts = Payload.fields(data, 2)
        if parts is None or not _NAME.match(parts[0]) or not parts[1].isdigit() or len(parts[1]) > 9:
            return None
        return CampaignAction(parts[0], int(parts[1]))


class VotePayload(Payload):
    """An answer to a poll: ``2v|<campaign id>|<run>|<answer>``."""

    prefix = "v"

    @staticmethod
    def pack(action: PollVote) -> str:
        return f"{action.campaign_id}|{action.run}|{action.option}"

    @staticmethod
    def unpack(data: str) -> PollVote | None:
        parts = Payload.fields(data, 3)
        if parts is None or not all(part.isdigit() and len(part) <= 9 for part in parts):
            return None
        return PollVote(int(parts[0]), int(parts[1]), int(parts[2]))


def pack(action: Action) -> str:
    """The callback data for a choice's action; raises CallbackTooLong beyond Telegram's 64 bytes."""
    if isinstance(action, Step):
        prefix, body = StepPayload.prefix, StepPayload.pack(action)
    elif isinstance(action, MenuEntry):
        prefix, body = MenuPayload.prefix, MenuPayload.pack(action)
    elif isinstance(action, CardAction):
        prefix, body = CardPayload.prefix, CardPayload.pack(action)
    elif isinstance(action, QueuePage):
        prefix, body = PagePayload.prefix, PagePayload.pack(action)
    elif isinstance(action, CampaignAction):
        prefix, body = CampaignPayload.prefix, CampaignPayload.pack(action)
    elif isinstance(action, PollVote):
        prefix, body = VotePayload.prefix, VotePayload.pack(action)
    else:
        prefix, body = UnitPayload.prefix, UnitPayload.pack(action)
    packed = f"{VERSION}{prefix}|{body}"
    if len(packed.encode()) > MAX_BYTES:
        raise CallbackTooLong(packed)
    return packed


_UNPACK = {
    StepPayload.prefix: StepPayload.unpack,
    MenuPayload.prefix: MenuPayload.unpack,
    CardPayload.prefix: CardPayload.unpack,
    PagePayload.prefix: PagePayload.unpack,
    UnitPayload.prefix: UnitPayload.unpack,
    CampaignPayload.prefix: CampaignPayload.unpack,
    VotePayload.prefix: VotePayload.unpack,
}


def unpack(raw: str | None) -> Action | None:
    """The action a button carries, or None for anything forged, foreign or from an unknown version."""
    if not raw or len(raw.encode()) > MAX_BYTES or not raw.startswith(VERSION):
        return None
    head, sep, body = raw[len(VERSION):].partition("|")
    unpack_one = _UNPACK.get(head)
    if not sep or unpack_one is None:
        return None
    return unpack_one(body)
