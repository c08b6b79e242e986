"""Who acts on the staff side, and the polite refusal when they may not."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from tipline.i18n import translator
from tipline.tips import STATUS_LABELS, Status


class Role(StrEnum):
    ADMIN = "admin"
    MODERATOR = "moderator"
    UNIT = "unit"


@dataclass(frozen=True)
class Actor:
    role: Role
    id: int  # staff.id for admins and moderators, units.id for a police unit
    name: str

    @property
    def is_staff(self) -> bool:
        return self.role in (Role.ADMIN, Role.MODERATOR)


@dataclass(frozen=True)
class StaffUser:
    """A person as their channel knows them, before the server decided what they may do."""

    channel: str
    user_ref: str
    name: str


class Refusal(Exception):
    """A polite no: ``message`` is a msgid (translated where shown)."""

    def __init__(self, message: str, **params: Any) -> None:
        super().__init__(message)
        self.message = message
        self.params = params

    def text(self, language: str) -> str:
        t = translator(language)
        params = {k: t.gettext(STATUS_LABELS[v]) if isinstance(v, Status) else v for k, v in self.params.items()}
        return t.gettext(self.message).format(**params)
