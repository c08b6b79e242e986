"""Per-chat conversation state, stored as JSON keyed by a pseudonym (never a chat id)."""

from __future__ import annotations

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

    @property
    def description_text(self) -> str:
        return "\n".join(self.description)


class Session(BaseModel):
    lang: str = DEFAULT_LANGUAGE
    screen: Screen = Screen.MENU
    # Increments with every prompt that has choices; a pressed choice must carry the current turn,
    # so buttons from older messages are recognised as stale instead of acting out of place.
    turn: int = 0
    draft: Draft | None = None
    lookup_purpose: Literal["status", "followup"] | None = None
    lookup_code: str | None = None
    followup_code: str | None = None
    optin_code: str | None = None
    # A receipt sealed with the server secret until the channel confirms it was delivered, so that
    # a Telegram outage at the wrong moment cannot lose the only copy of a passphrase.
    pending_receipt: str | None = None
    # Set by the purge job when it deleted an idle draft, so the citizen is told at their next message.
    draft_expired: bool = False
    # Flood control: the window in which the citizen was already told to slow down.
    flood_notice_window: int | None = None
