"""How values are written to SQLite and read back: times as ISO 8601 text with their offset."""

from __future__ import annotations

from datetime import UTC, datetime


def ts(moment: datetime) -> str:
    return moment.isoformat(timespec="microseconds")


def dt(value: str) -> datetime:
    moment = datetime.fromisoformat(value)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def opt_ts(moment: datetime | None) -> str | None:
    return ts(moment) if moment is not None else None


def opt_dt(value: str | None) -> datetime | None:
    return dt(value) if value else None
