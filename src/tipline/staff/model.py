"""The staff side's records, as storage returns them: people, police units, cards, deadlines, prompts.

Staff and police units are identified officials; nothing here can hold a tipster's identity.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from tipline.delivery.model import Address, Sent


class StaffRole(StrEnum):
    ADMIN = "admin"
    MODERATOR = "moderator"
    BROADCASTER = "broadcaster"


@dataclass(frozen=True)
class StaffMember:
    id: int
    channel: str
    user_ref: str  # the person's user id on that channel
    name: str
    role: StaffRole
    active: bool


@dataclass(frozen=True, slots=True)
class Unit:
    """A commune police unit and the chat it reads forwarded tips in, once linked."""

    id: int
    code: str
    name: str
    province_code: int
    chat: Address | None
    linked_at: datetime | None
    active: bool
    created_at: datetime
    updated_at: datetime
    communes: tuple[int, ...] = ()  # commune codes, ascending


@dataclass(frozen=True, slots=True)
class UnitRow:
    """One valid row of a units CSV, resolved to official codes."""

    code: str
    name: str
    province_code: int
    communes: tuple[int, ...]
    line: int = 0


@dataclass(frozen=True, slots=True)
class UpsertCounts:
    created: int = 0
    updated: int = 0
    unchanged: int = 0


@dataclass(frozen=True)
class Invite:
    id: int
    unit_id: int
    expires_at: datetime
    used_at: datetime | None


@dataclass(frozen=True)
class CardPlacement:
    """Where a tip's card was posted (a forum topic, if any), and a digest of what it shows."""

    tip_id: int
    audience: str  # moderators | unit
    sent: Sent
    digest: str


@dataclass(frozen=True)
class OpenDeadline:
    """A deadline not yet met, with what the reminder and the escalation need to know of its tip."""

    id: int
    tip_id: int
    kind: str  # acknowledge | outcome
    due_at: datetime
    reminded_at: datetime | None
    escalated_at: datetime | None
    tip_code: str
    unit_id: int | None
    started_at: datetime  # when the clock started: forwarded (acknowledge) or acknowledged (outcome)


@dataclass(frozen=True)
class Prompt:
    """A question the bot asked a staff member or unit (answered by replying to that very message)."""

    id: int
    sent: Sent
    action: str
    tip_id: int
    actor_role: str
    actor_id: int
    expires_at: datetime
    used_at: datetime | None


@dataclass(frozen=True)
class TipMessage:
    """A message of the anonymous two-way channel between the team and a tipster."""

    id: int
    tip_id: int
    direction: str  # to_tipster | from_tipster
    text: str
    created_at: datetime
    delivered_at: datetime | None
