"""Records as storage returns them: audit entries and report rows (no identities, no free text)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class AuditRecord:
    """An audit entry as stored, with its place in the hash chain."""

    id: int
    at: datetime
    actor_role: str
    actor_id: str
    tip_code: str | None
    action: str
    from_status: str | None
    to_status: str | None
    detail: str
    prev_hash: str
    hash: str
    mac: str | None = None
    # The time exactly as it was written and hashed ('' for a record not read back from storage).
    at_text: str = ""


def _hours(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return (end - start).total_seconds() / 3600


@dataclass(frozen=True)
class ReportRow:
    """One tip as it appears in a report: no identity, no free text."""

    code: str
    created_at: datetime
    status: str
    category: str
    urgency: str
    province_code: int
    commune_code: int | None
    priority: int
    forwarded_at: datetime | None
    acknowledged_at: datetime | None
    closed_at: datetime | None
    outcome: str | None

    @property
    def hours_to_acknowledge(self) -> float | None:
        return _hours(self.forwarded_at, self.acknowledged_at)

    @property
    def hours_to_outcome(self) -> float | None:
        return _hours(self.forwarded_at, self.closed_at) if self.outcome else None
