"""Per-chat conversation state, stored as JSON keyed by a pseudonym (never a chat id).

Whatever names a tip (a code being looked up, the tip a follow-up goes to, the opt-in question, a receipt
not yet delivered, the team's open question) is ``private``: never written in clear, but sealed with the
server secret by the service, and kept only as long as its step needs (``Private.until``).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, Field

from tipline.i18n import DEFAULT_LANGUAGE


class Screen(StrEnum):
    MENU = "menu"
    CATEGORY = "category"
    URGENCY = "urgency"
    PROVINCE = "province"
    COMMUNE = "commune"
    ADDRESS = "address"
    DESCRIPTION = "description"
    EVIDENCE = "evidence"
    REVIEW = "review"
    EDIT = "edit"
    OPTIN = "optin"
    LOOKUP_CODE = "lookup_code"
    LOOKUP_PASSPHRASE = "lookup_passphrase"
    FOLLOWUP = "followup"
    LANGUAGE = "language"
    # Prevention content (citizen/prevention.py): topics, a topic's entries, an entry, search answers.
    LIBRARY = "library"
    # Prevention messages (citizen/subscribe.py): place, commune, audience, language, confirmation.
    SUB_PLACE = "sub_place"
    SUB_COMMUNE = "sub_commune"
    SUB_AUDIENCE = "sub_audience"
    SUB_LANGUAGE = "sub_language"
    SUB_CONFIRM = "sub_confirm"


# Questions that also take typed words (a place name, a description, a code): on a channel without buttons,
# a bare number typed there is text, never a choice.
FREE_TEXT_SCREENS = frozenset(
    {
        Screen.PROVINCE,
        Screen.COMMUNE,
        Screen.ADDRESS,
        Screen.DESCRIPTION,
        Screen.EVIDENCE,
        Screen.LOOKUP_CODE,
        Screen.LOOKUP_PASSPHRASE,
        Screen.FOLLOWUP,
        Screen.SUB_PLACE,
        Screen.SUB_COMMUNE,
    }
)


class EvidenceItem(BaseModel):
    kind: str
    ref: str
    size: int | None = None
    mime: str | None = None
    name: str | None = None


class Draft(BaseModel):
    category: str | None = None
    urgency: str | None = None
    province_code: int | None = None
    commune_code: int | None = None
    commune_unknown: bool = False
    address: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    description: list[str] = Field(default_factory=list)
    evidence: list[EvidenceItem] = Field(default_factory=list)
    # Set while the citizen edits one part from the review: that step then returns to the review.
    editing: bool = False
    province_page: int = 0
    candidates: list[int] = Field(default_factory=list)
    # Something that can identify the sender (a voice, a face, where they stand), held until they choose to
    # keep it: nothing of it is used before that.
    pending_media: EvidenceItem | None = None
    pending_location: tuple[float, float] | None = None

    @property
    def description_text(self) -> str:
        return "\n".join(self.description)


class OutreachDraft(BaseModel):
    """The choices of a subscription to prevention messages, while they are being made."""

    province_code: int | None = None
    commune_code: int | None = None
    audience: str | None = None
    lang: str | None = None
    candidates: list[int] = Field(default_factory=list)


class Offered(BaseModel):
    """A choice of the last question, remembered so it can be typed back on channels without buttons."""

    name: str
    key: str  # the label, folded (no diacritics, emoji or punctuation), to match what is typed
    turn: int | None  # None: a menu entry, valid on any message


class OpenQuestion(BaseModel):
    """The team's question to this chat: a reply to that very message answers it."""

    code: str
    message: str
    until: datetime


class Private(BaseModel):
    """What would tie this chat to a tip: sealed before it is stored, and dropped when its step is over."""

    lookup_code: str | None = None
    followup_code: str | None = None
    optin_code: str | None = None
    optin_until: datetime | None = None
    receipt: tuple[str, str] | None = None  # code and passphrase, until the channel took the receipt
    question: OpenQuestion | None = None
    until: datetime | None = None  # when everything here may go

    def is_empty(self) -> bool:
        return not any(
            (self.lookup_code, self.followup_code, self.optin_code, self.receipt, self.question)
        )


class Session(BaseModel):
    lang: str = DEFAULT_LANGUAGE
    screen: Screen = Screen.MENU
    # Increments with every prompt that has choices; a pressed choice must carry the current turn,
    # so buttons from older messages are recognised as stale instead of acting out of place.
    turn: int = 0
    offered: list[Offered] = Field(default_factory=list)
    offered_free_text: bool = False
    draft: Draft | None = None
    outreach: OutreachDraft | None = None
    lookup_purpose: Literal["status", "followup"] | None = None
    # Never dumped in clear: the service seals it into ``sealed`` (see the module's docstring).
    private: Private = Field(default_factory=Private, exclude=True)
    sealed: str | None = None
    # Set by the purge job when it deleted an idle draft, so the citizen is told at their next message.
    draft_expired: bool = False
