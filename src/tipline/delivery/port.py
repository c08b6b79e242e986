"""What a channel must do for the core: the delivery port.

Each channel adapter (Telegram, Zalo, the console) implements ``Channel`` and says what it can do in its
``ChannelTraits``; the core renders for those traits and never imports an adapter. Errors come back as
the three kinds below, so the outbox knows whether to retry, to give up on one recipient, or to stop.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from tipline.delivery.model import Address, Sent
from tipline.events import Media
from tipline.replies import Choice


@dataclass(frozen=True)
class ChannelTraits:
    buttons: bool  # choices can be buttons under a message (else: typed, numbered or by name)
    max_text: int  # characters per message; longer texts are split by the adapter
    reply_to: bool  # a person can answer one particular message
    edits: bool  # a sent message can be changed in place
    topics: bool = False  # group chats can have a topic per thread (Telegram forum groups)
    # The bot may write first, any time, to whoever subscribed (campaign messages). Zalo lets a bot write
    # only to people who wrote to it recently; Telegram is the campaign channel.
    campaigns: bool = False


@dataclass(frozen=True)
class Outgoing:
    text: str
    choices: tuple[tuple[Choice, ...], ...] = field(default_factory=tuple)
    reply_to: str | None = None  # a message id in the same chat
    # Ask the person to answer this very message (Telegram: a selective ForceReply).
    expects_reply: bool = False
    free_text: bool = False
    # The language of the words a channel without buttons adds around the choices ("Type 1, 2 or 3").
    lang: str = "vi"


@dataclass(frozen=True)
class FileRef:
    """A file as the channel it came from knows it (a Telegram file id, a Zalo photo URL), or, with ``data``,
    bytes to upload (a campaign's image, a report's chart); ``ref`` is then a file name."""

    kind: str
    ref: str
    channel: str
    mime: str | None = None
    name: str | None = None
    data: bytes | None = None


class DeliveryError(Exception):
    """A channel could not deliver a message."""


class Unreachable(DeliveryError):
    """This recipient cannot be reached now or later (blocked the bot, left the chat, chat gone)."""


class Rejected(DeliveryError):
    """The channel refused this request (malformed, too long, not allowed): sending it again will not help."""


class RetryLater(DeliveryError):
    """Flood limits or an outage: try again later, after ``after`` seconds when the channel said so.

    ``uncertain``: the request may have reached the channel (the connection broke after it was sent), so it
    may have been delivered; a sender that must never send twice counts it as unknown instead of retrying.
    """

    def __init__(self, message: str, after: float | None = None, uncertain: bool = False) -> None:
        super().__init__(message)
        self.after = after
        self.uncertain = uncertain


class Sender(Protocol):
    """What sending alone needs: campaigns go out through senders of their own (their own connections)."""

    name: str
    traits: ChannelTraits

    async def send(self, to: Address, message: Outgoing) -> Sent:
        """Sends (split if too long; choices on the last part) and returns where the last part landed."""

    async def edit(self, sent: Sent, message: Outgoing) -> None:
        """Changes a message in place; an edit that changes nothing is not an error."""

    async def send_file(
        self, to: Address, file: FileRef, reply_to: str | None = None, caption: Outgoing | None = None
    ) -> Sent:
        """Sends a file (by the channel's reference, or uploads ``file.data``), with an optional caption and
        its choices."""


class Channel(Sender, Protocol):
    """A channel the core works through: sending, and what the staff side and evidence need besides."""

    async def has_topics(self, chat: Address) -> bool:
        """Whether this group gives each thread a topic of its own."""

    async def open_topic(self, chat: Address, name: str) -> Address: ...

    async def set_topic_closed(self, topic: Address, closed: bool) -> None: ...

    async def remove_member(self, chat: Address, user_ref: str) -> None:
        """Takes a person out of a group, in a way that lets them be added again later."""

    async def prepare_evidence(self, to: Address, media: Media, caption: str) -> Media | None:
        """A file a citizen sent, as it may be kept: images and PDFs cleaned of metadata and stored anew
        (the clean copy is shown in ``to`` with ``caption``), other files without their name; None when the
        file cannot be read safely."""


class Channels:
    """The channels this process can send on, by name."""

    def __init__(self) -> None:
        self._channels: dict[str, Channel] = {}

    def register(self, channel: Channel) -> None:
        self._channels[channel.name] = channel

    def get(self, name: str) -> Channel | None:
        return self._channels.get(name)

    def __contains__(self, name: object) -> bool:
        return name in self._channels

    def names(self) -> list[str]:
        return sorted(self._channels)


class Senders:
    """The senders campaigns go out through, by channel name."""

    def __init__(self) -> None:
        self._senders: dict[str, Sender] = {}

    def register(self, sender: Sender) -> None:
        self._senders[sender.name] = sender

    def get(self, name: str) -> Sender | None:
        return self._senders.get(name)

    def names(self) -> list[str]:
        return sorted(self._senders)
