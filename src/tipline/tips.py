"""Tips: categories, urgency, statuses and the status state machine.

Nothing here can hold a tipster's identity: a tip is what was reported, where, and when, never by whom.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from tipline.i18n import N_


class Category(StrEnum):
    TRADING = "trading"
    USE = "use"
    VENUE = "venue"
    TRANSPORT = "transport"
    PRODUCTION = "production"
    PLANTS = "plants"
    ONLINE = "online"
    DISGUISED = "disguised"
    OTHER = "other"


CATEGORY_LABELS: dict[Category, str] = {
    Category.TRADING: N_("Buying or selling drugs"),
    Category.USE: N_("Drug use or possession"),
    Category.VENUE: N_("A place where drug use is organised or harboured"),
    Category.TRANSPORT: N_("Transporting drugs"),
    Category.PRODUCTION: N_("Making drugs or precursors"),
    Category.PLANTS: N_("Growing opium poppy, cannabis or coca plants"),
    Category.ONLINE: N_("Selling drugs online (links, accounts, groups)"),
    # Laughing gas and e-cigarettes are harmful or banned, not narcotics: named beside disguised drugs, not as drugs.
    Category.DISGUISED: N_("Disguised drugs and addictive substances ('happy water', sweets, laced e-cigarettes, laughing gas)"),
    Category.OTHER: N_("Something else"),
}


class Urgency(StrEnum):
    NOW = "now"
    TODAY = "today"
    ONGOING = "ongoing"
    PAST = "past"


URGENCY_LABELS: dict[Urgency, str] = {
    Urgency.NOW: N_("Happening right now"),
    Urgency.TODAY: N_("Happened today"),
    Urgency.ONGOING: N_("Goes on regularly"),
    Urgency.PAST: N_("In the past"),
}


EVIDENCE_LABELS: dict[str, str] = {
    "photo": N_("photo"),
    "video": N_("video"),
    "document": N_("document"),
    "voice": N_("voice note"),
    "audio": N_("audio"),
    "animation": N_("animation"),
    "video_note": N_("video note"),
    "link": N_("link"),
}


class Status(StrEnum):
    NEW = "new"
    IN_REVIEW = "in_review"
    NEEDS_INFO = "needs_info"
    FORWARDED = "forwarded"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"
    UNFOUNDED = "unfounded"
    SPAM = "spam"
    DUPLICATE = "duplicate"


# Every allowed move. The moderator queue drives these; intake only ever creates NEW tips.
TRANSITIONS: dict[Status, frozenset[Status]] = {
    Status.NEW: frozenset({Status.IN_REVIEW, Status.SPAM, Status.DUPLICATE}),
    Status.IN_REVIEW: frozenset(
        {Status.NEEDS_INFO, Status.FORWARDED, Status.SPAM, Status.DUPLICATE, Status.UNFOUNDED, Status.NEW}
    ),
    Status.NEEDS_INFO: frozenset({Status.IN_REVIEW, Status.SPAM, Status.DUPLICATE, Status.UNFOUNDED}),
    Status.FORWARDED: frozenset({Status.ACKNOWLEDGED, Status.IN_REVIEW}),
    Status.ACKNOWLEDGED: frozenset({Status.RESOLVED, Status.UNFOUNDED, Status.IN_REVIEW}),
    # Closed tips can only be reopened (with a reason, recorded by the caller).
    Status.RESOLVED: frozenset({Status.IN_REVIEW}),
    Status.UNFOUNDED: frozenset({Status.IN_REVIEW}),
    Status.SPAM: frozenset({Status.IN_REVIEW}),
    Status.DUPLICATE: frozenset({Status.IN_REVIEW}),
}

CLOSED = frozenset({Status.RESOLVED, Status.UNFOUNDED, Status.SPAM, Status.DUPLICATE})


class InvalidTransition(ValueError):
    pass


def check_transition(current: Status, target: Status) -> None:
    """Raises InvalidTransition unless ``current → target`` is an allowed move."""
    if target not in TRANSITIONS[current]:
        raise InvalidTransition(f"{current} → {target} is not allowed")


# How staff (moderators, police units) see a status.
STATUS_LABELS: dict[Status, str] = {
    Status.NEW: N_("new"),
    Status.IN_REVIEW: N_("in review"),
    Status.NEEDS_INFO: N_("waiting for the tipster"),
    Status.FORWARDED: N_("forwarded to police"),
    Status.ACKNOWLEDGED: N_("acknowledged by police"),
    Status.RESOLVED: N_("closed with an outcome"),
    Status.UNFOUNDED: N_("closed: unfounded or not verified"),
    Status.SPAM: N_("spam"),
    Status.DUPLICATE: N_("duplicate"),
}


# What the tipster sees: generic wording that reveals nothing operational.
PUBLIC_STATUS: dict[Status, str] = {
    Status.NEW: N_("Received, waiting to be reviewed"),
    Status.IN_REVIEW: N_("Being reviewed"),
    Status.NEEDS_INFO: N_("Being reviewed: we have a question for you"),
    Status.FORWARDED: N_("Passed to the police for verification"),
    Status.ACKNOWLEDGED: N_("Passed to the police for verification"),
    Status.RESOLVED: N_("Handled. Thank you for the information."),
    Status.UNFOUNDED: N_("Checked and closed. Thank you for the information."),
    Status.SPAM: N_("Closed"),
    Status.DUPLICATE: N_("Closed: the same matter was already reported. Thank you for the information."),
}

# How a closed tip ended, in the tipster's words: the status alone cannot tell a tip the police handled
# from one they passed on to another authority (both are RESOLVED).
PUBLIC_OUTCOME: dict[str, str] = {
    "verified": N_("Verified and handled. Thank you for the information."),
    "not_verified": N_("Checked, but it could not be verified. Thank you for the information."),
    "transferred": N_("Passed to the competent authority. Thank you for the information."),
    "unfounded": PUBLIC_STATUS[Status.UNFOUNDED],
}


def public_status(status: Status, outcome: str | None) -> str:
    """The msgid of what the tipster reads about a tip: its outcome once closed with one, else its status."""
    if status in CLOSED and outcome in PUBLIC_OUTCOME:
        return PUBLIC_OUTCOME[outcome]
    return PUBLIC_STATUS[status]


def evidence_summary(kinds: Iterable[str], label: Callable[[str], str]) -> str:
    """'photo × 2, link × 1' in the reader's words (``label`` names a kind), or '' when there is none."""
    counts = Counter(kinds)
    return ", ".join(f"{label(kind)} × {n}" for kind, n in counts.items())


# Priority levels, lowest first: a tip's ``priority`` is the index of its level.
PRIORITY_LEVELS = ("low", "normal", "high", "urgent")
LEVEL_LABELS = {"low": N_("low"), "normal": N_("normal"), "high": N_("high"), "urgent": N_("URGENT")}


def priority_level(priority: int) -> str:
    """The level a stored priority stands for ('urgent' for 3)."""
    return PRIORITY_LEVELS[max(0, min(priority, len(PRIORITY_LEVELS) - 1))]


# How a tip was closed, as a police unit reports it (or a moderator, "unfounded"), in staff's words.
OUTCOME_LABELS = {
    "verified": N_("verified and handled"),
    "not_verified": N_("not verified"),
    "transferred": N_("passed to the competent authority"),
    "unfounded": N_("unfounded"),
}


@dataclass(frozen=True)
class Evidence:
    kind: str  # photo, video, document, voice, audio, animation, video_note, link
    ref: str  # the channel's file id, or the URL for a link
    size: int | None = None
    mime: str | None = None
    name: str | None = None


@dataclass(frozen=True)
class Followup:
    """What a tipster added to a tip later: text and files (the files are also in the tip's evidence)."""

    id: int
    text: str
    created_at: datetime
    evidence: tuple[Evidence, ...] = ()


@dataclass(frozen=True)
class NewTip:
    """A confirmed report, as it is written to storage (no identity field exists to fill)."""

    category: Category
    urgency: Urgency
    province_code: int
    commune_code: int | None
    address: str | None
    latitude: float | None
    longitude: float | None
    description: str
    evidence: tuple[Evidence, ...]
    language: str
    channel: str
    # How many tips the same (unstored) sender confirmed recently: a spam signal, not a link.
    sender_recent_tips: int = 0


@dataclass(frozen=True)
class Tip:
    id: int
    code: str
    status: Status
    category: Category
    urgency: Urgency
    province_code: int
    commune_code: int | None
    address: str | None
    latitude: float | None
    longitude: float | None
    description: str
    language: str
    channel: str
    sender_recent_tips: int
    created_at: datetime
    updated_at: datetime
    evidence: tuple[Evidence, ...] = field(default_factory=tuple)
    # Moderation (the queue): who works on it, how urgent, where it went.
    priority: int = 0
    triage: str = "{}"
    claimed_by: int | None = None
    duplicate_of: int | None = None
    unit_id: int | None = None
    outcome: str | None = None
    forwarded_at: datetime | None = None
    acknowledged_at: datetime | None = None
    closed_at: datetime | None = None

    @property
    def is_closed(self) -> bool:
        return self.status in CLOSED
