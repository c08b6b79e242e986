"""What the core says: replies with optional choices, which each channel renders its own way
(Telegram as inline buttons, Zalo and the console as numbered or named options)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Choice:
    label: str
    data: str


@dataclass(frozen=True)
class Reply:
    """A message to the person: plain text (adapters escape it) and optional rows of choices."""

    text: str
    choices: tuple[tuple[Choice, ...], ...] = field(default_factory=tuple)

    @property
    def flat_choices(self) -> list[Choice]:
        return [choice for row in self.choices for choice in row]
