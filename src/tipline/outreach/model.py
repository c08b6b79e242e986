"""Outreach records as storage returns them: subscribers, campaigns, recipients of a delivery, poll tallies.

Plain values only (storage imports this module). A subscriber is a sealed chat reference and what the person
chose (place, audience, language); nothing here can name a tip or a tipster.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Any

AUDIENCES = ("general", "parent", "pupil", "teacher")


@dataclass(frozen=True)
class Preferences:
    """What a subscriber chose: where they live (a commune, or None for the whole province), who they are,
    and the language of the messages."""

    province_code: int
    commune_code: int | None
    audience: str
    lang: str


@dataclass(frozen=True)
class Subscriber:
    id: int
    channel: str
    sealed_ref: bytes | None  # None once stopped
    prefs: Preferences
    active: bool
    consented_on: date
    changed_on: date


@dataclass(frozen=True)
class SubscriberEvent:
    on_day: date
    event: str  # consent | change | stop | blocked
    detail: str


class CampaignKind(StrEnum):
    MESSAGE = "message"
    POLL = "poll"


class CampaignStatus(StrEnum):
    DRAFT = "draft"  # being written
    SUBMITTED = "submitted"  # waiting for another broadcaster's or an admin's approval
    APPROVED = "approved"  # approved; waits for its (next) scheduled time
    RUNNING = "running"  # a delivery is under way
    PAUSED = "paused"  # a delivery is under way, held by a person
    DONE = "done"
    CANCELLED = "cancelled"


OPEN_STATUSES = (CampaignStatus.SUBMITTED, CampaignStatus.APPROVED, CampaignStatus.RUNNING, CampaignStatus.PAUSED)


class ButtonKind(StrEnum):
    READ_MORE = "read_more"  # a library entry
    REPORT = "report"  # the citizen's report flow
    STOP = "stop"  # stop these messages


@dataclass(frozen=True)
class CampaignButton:
    kind: ButtonKind
    entry: str | None = None  # the library entry, for read_more


@dataclass(frozen=True)
class Content:
    """The words of a campaign: text by language (Vietnamese required; others fall back to it), buttons, and
    for a poll the options (each by language)."""

    text: dict[str, str]
    buttons: tuple[CampaignButton, ...] = ()
    options: tuple[dict[str, str], ...] = ()

    def text_for(self, lang: str) -> str:
        return self.text.get(lang) or self.text["vi"]

    def option_for(self, index: int, lang: str) -> str:
        option = self.options[index]
        return option.get(lang) or option["vi"]

    def to_json(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "buttons": [{"kind": b.kind.value, **({"entry": b.entry} if b.entry else {})} for b in self.buttons],
            "options": list(self.options),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Content:
        return cls(
            text=dict(data.get("text", {})),
            buttons=tuple(CampaignButton(ButtonKind(b["kind"]), b.get("entry")) for b in data.get("buttons", [])),
            options=tuple(dict(option) for option in data.get("options", [])),
        )


@dataclass(frozen=True)
class AudienceFilter:
    """Who receives a campaign; an empty list means no restriction on that point.

    Places: a subscriber matches when no place is named, when their province is named, or when their commune
    is named (a subscriber for a whole province is reached by naming the province).
    """

    provinces: tuple[int, ...] = ()
    communes: tuple[int, ...] = ()
    audiences: tuple[str, ...] = ()
    langs: tuple[str, ...] = ()

    def matches(self, prefs: Preferences) -> bool:
        places = not self.provinces and not self.communes
        places = places or prefs.province_code in self.provinces
        places = places or (prefs.commune_code is not None and prefs.commune_code in self.communes)
        return (
            places
            and (not self.audiences or prefs.audience in self.audiences)
            and (not self.langs or prefs.lang in self.langs)
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "provinces": list(self.provinces), "communes": list(self.communes),
            "audiences": list(self.audiences), "langs": list(self.langs),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> AudienceFilter:
        return cls(
            provinces=tuple(int(v) for v in data.get("provinces", [])),
            communes=tuple(int(v) for v in data.get("communes", [])),
            audiences=tuple(str(v) for v in data.get("audiences", [])),
            langs=tuple(str(v) for v in data.get("langs", [])),
        )


@dataclass(frozen=True)
class Schedule:
    """When a campaign is delivered: ``now`` (as soon as it is approved), ``at`` a time, or ``monthly`` on a
    day of the month at a local time (Asia/Ho_Chi_Minh), optionally until a date."""

    kind: str = "now"  # now | at | monthly
    at: datetime | None = None  # for 'at' (UTC)
    day: int | None = None  # for 'monthly': 1..28
    time: str = "08:00"  # for 'monthly': local time of day, HH:MM
    until: date | None = None  # for 'monthly': no delivery after this day

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"kind": self.kind, "time": self.time}
        if self.at is not None:
            data["at"] = self.at.isoformat()
        if self.day is not None:
            data["day"] = self.day
        if self.until is not None:
            data["until"] = self.until.isoformat()
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Schedule:
        return cls(
            kind=str(data.get("kind", "now")),
            at=datetime.fromisoformat(data["at"]) if data.get("at") else None,
            day=int(data["day"]) if data.get("day") is not None else None,
            time=str(data.get("time", "08:00")),
            until=date.fromisoformat(data["until"]) if data.get("until") else None,
        )


@dataclass(frozen=True)
class Campaign:
    id: int
    kind: CampaignKind
    status: CampaignStatus
    title: str
    content: Content
    has_image: bool
    image_ref: str | None
    audience: AudienceFilter
    schedule: Schedule
    next_run_at: datetime | None
    runs: int
    author_channel: str
    author_ref: str
    approver_ref: str | None
    draft_step: str | None
    progress_chat: str | None
    progress_message: str | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class NewCampaign:
    kind: CampaignKind
    title: str
    content: Content
    audience: AudienceFilter = field(default_factory=AudienceFilter)
    schedule: Schedule = field(default_factory=Schedule)
    image: bytes | None = None


class RecipientState(StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    BLOCKED = "blocked"
    FAILED = "failed"
    UNKNOWN = "unknown"  # in flight when the sender stopped: maybe delivered, never sent again
    SKIPPED = "skipped"  # over the weekly cap, stopped meanwhile, or the campaign was cancelled


FINAL_STATES = (
    RecipientState.SENT, RecipientState.BLOCKED, RecipientState.FAILED, RecipientState.UNKNOWN, RecipientState.SKIPPED
)


@dataclass(frozen=True)
class Recipient:
    """A leased recipient, with what sending needs: the sealed chat, its channel and language."""

    id: int
    subscriber_id: int
    channel: str
    sealed_ref: bytes
    lang: str
    attempts: int


@dataclass(frozen=True)
class Outcome:
    """What became of one leased recipient: a final state, or back to pending at ``retry_at``."""

    recipient_id: int
    subscriber_id: int
    state: RecipientState
    retry_at: datetime | None = None
    count_attempt: bool = True


@dataclass(frozen=True)
class RunCounts:
    """How far a delivery is: recipients by state, in total and per province."""

    by_state: dict[str, int]
    by_province: dict[int, dict[str, int]]

    @property
    def total(self) -> int:
        return sum(self.by_state.values())

    def count(self, state: RecipientState) -> int:
        return self.by_state.get(state.value, 0)

    @property
    def done(self) -> int:
        return sum(self.by_state.get(state.value, 0) for state in FINAL_STATES)


@dataclass(frozen=True)
class Tally:
    option: int
    province_code: int
    commune_code: int | None
    answers: int


@dataclass(frozen=True)
class PlaceActivity:
    """Outreach in one place over a period, for the programme reports."""

    province_code: int
    commune_code: int | None
    delivered: int
    answers: int
