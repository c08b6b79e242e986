"""What the core says: replies with optional choices, which each channel renders its own way
(Telegram as inline buttons, Zalo and the console as numbered or named options).

A choice carries a typed action. Channels with buttons pack it into the button (the Telegram adapter has
one small payload class per kind); channels without buttons show the label and let the person type it.
Whatever comes back is checked on the server against state the server kept, never trusted.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Step:
    """A citizen's option on the question being asked: valid only while that question is current."""

    name: str
    turn: int


@dataclass(frozen=True)
class MenuEntry:
    """An entry of the citizens' main menu: valid on any message, however old."""

    name: str


@dataclass(frozen=True)
class CardAction:
    """A button on a tip's card. The tip is the card's (looked up from the message on the server); ``seen``
    is the status the card showed, so a press on an outdated card is refused as stale."""

    name: str
    seen: str


@dataclass(frozen=True)
class QueuePage:
    """Turns the page of the staff queue."""

    page: int


@dataclass(frozen=True)
class UnitChoice:
    """A police unit picked from the list the server sent for one tip (the list's message is a prompt)."""

    unit_id: int


@dataclass(frozen=True)
class CampaignAction:
    """A broadcaster's button on a campaign (approve, pause, a step of the guided flow ...). Who may press it
    is decided on the server, from the campaign's record."""

    name: str
    campaign_id: int


@dataclass(frozen=True)
class PollVote:
    """A subscriber's answer to a poll: one delivery (``run``) of a campaign, and the answer's index."""

    campaign_id: int
    run: int
    option: int


Action = Step | MenuEntry | CardAction | QueuePage | UnitChoice | CampaignAction | PollVote


@dataclass(frozen=True)
class Choice:
    label: str
    action: Action


@dataclass(frozen=True)
class Reply:
    """A message to the person: plain text (adapters escape it) and optional rows of choices.

    ``free_text``: the question also takes a typed answer (a description, a place name), so a channel
    without buttons must not read a bare number as a choice (see ``tipline.delivery.plain``).

    ``answers_choice``: the whole answer to a choice just made on the question being asked; a channel that
    can edit its messages may show it in place of that question, with a trace of what was chosen.
    """

    text: str
    choices: tuple[tuple[Choice, ...], ...] = field(default_factory=tuple)
    free_text: bool = False
    lang: str = "vi"  # the language of the words a channel adds around the choices
    answers_choice: bool = False

    @property
    def flat_choices(self) -> list[Choice]:
        return [choice for row in self.choices for choice in row]
