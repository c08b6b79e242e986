"""What a conversation step hands the service: effects to perform, and the result of a step."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from tipline.citizen.session import Session
from tipline.delivery.port import ChannelTraits
from tipline.events import Media
from tipline.outreach.model import Preferences
from tipline.replies import Reply

# --- effects: what the service must do before the conversation can answer --------------------------


@dataclass(frozen=True)
class SubmitTip:
    pass


@dataclass(frozen=True)
class CheckReceipt:
    purpose: str  # "status" or "followup"
    code: str
    passphrase: str


@dataclass(frozen=True)
class AddFollowup:
    code: str
    text: str = ""
    media: Media | None = None


@dataclass(frozen=True)
class AnswerTip:
    code: str
    text: str


@dataclass(frozen=True)
class Subscribe:
    code: str


@dataclass(frozen=True)
class Forget:
    pass


@dataclass(frozen=True)
class JoinOutreach:
    """Subscribe this chat to prevention messages (or change what it receives)."""

    prefs: Preferences


@dataclass(frozen=True)
class LeaveOutreach:
    """Stop this chat's prevention messages; ``how``: unsubscribe, word or button."""

    how: str


Effect = SubmitTip | CheckReceipt | AddFollowup | AnswerTip | Subscribe | Forget | JoinOutreach | LeaveOutreach


@dataclass
class Result:
    session: Session
    replies: list[Reply] = field(default_factory=list)
    effect: Effect | None = None


# What a channel with buttons can do; the default for a step run without a channel (tests, benchmarks).
BUTTONS = ChannelTraits(buttons=True, max_text=4096, reply_to=True, edits=True, campaigns=True)


@dataclass(frozen=True)
class Context:
    now: datetime
    traits: ChannelTraits = BUTTONS
    # No state is kept for this chat yet (a first message, or the first after /forget or a long silence).
    first_contact: bool = False
