"""Respect for people's phones and for the channel's limits: quiet hours, a weekly cap per subscriber, the
sending rate, and when a campaign's deliveries happen."""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from tipline.i18n import TIMEZONE
from tipline.outreach.model import Schedule


@dataclass(frozen=True)
class Policy:
    rate: float = 30.0  # campaign messages per second, all chats together (Telegram: 30; up to 1000 paid)
    per_chat_seconds: float = 1.0  # at most one message per chat per second
    quiet_start: time = time(21, 0)  # local time (Asia/Ho_Chi_Minh): no campaign messages from here ...
    quiet_end: time = time(7, 0)  # ... to here
    weekly_cap: int = 3  # campaign messages (polls included) per subscriber in any 7 days
    lease: timedelta = timedelta(seconds=60)  # a send still unanswered this long after a crash is 'unknown'

    def quiet(self, now: datetime) -> bool:
        """Whether ``now`` falls in the quiet hours (which may span midnight)."""
        local = now.astimezone(TIMEZONE).time()
        if self.quiet_start == self.quiet_end:
            return False
        if self.quiet_start < self.quiet_end:
            return self.quiet_start <= local < self.quiet_end
        return local >= self.quiet_start or local < self.quiet_end

    def quiet_until(self, now: datetime) -> datetime:
        """When the quiet hours that ``now`` is in end (UTC)."""
        local = now.astimezone(TIMEZONE)
        end = datetime.combine(local.date(), self.quiet_end, TIMEZONE)
        if end <= local:
            end += timedelta(days=1)
        return end.astimezone(UTC)


def local_time(text: str) -> time:
    """'08:00' → 08:00; raises ValueError for anything else."""
    hours, _sep, minutes = text.strip().partition(":")
    return time(int(hours), int(minutes or 0))


def _monthly(day: int, at: time, year: int, month: int) -> datetime:
    last = calendar.monthrange(year, month)[1]
    return datetime.combine(date(year, month, min(day, last)), at, TIMEZONE).astimezone(UTC)


def next_run(schedule: Schedule, now: datetime, after: datetime | None = None) -> datetime | None:
    """When the next delivery starts: ``now`` for 'now', the time for 'at' (at once if it passed), the next
    monthly day for 'monthly' (strictly after ``after``, a delivery already started); None when no more."""
    if schedule.kind == "now":
        return None if after is not None else now
    if schedule.kind == "at":
        if after is not None:
            return None
        return max(schedule.at or now, now)
    if schedule.kind != "monthly" or schedule.day is None:
        raise ValueError(f"unknown schedule {schedule.kind!r}")
    at = local_time(schedule.time)
    local = (after or now).astimezone(TIMEZONE)
    year, month = local.year, local.month
    for _ in range(14):
        candidate = _monthly(schedule.day, at, year, month)
        if (after is None and candidate >= now - timedelta(minutes=1)) or (after is not None and candidate > after):
            if schedule.until is not None and candidate.astimezone(TIMEZONE).date() > schedule.until:
                return None
            return candidate
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return None  # pragma: no cover - a month always comes


def preset(name: str, now: datetime) -> Schedule:
    """The programme's fixed dates: 'june' (the national action month: its first day) and 'june26' (the
    national day against drugs), at 08:00 local time, this year or next."""
    day = {"june": 1, "june26": 26}.get(name)
    if day is None:
        raise ValueError(f"unknown preset {name!r}")
    local = now.astimezone(TIMEZONE)
    for year in (local.year, local.year + 1):
        moment = datetime.combine(date(year, 6, day), time(8, 0), TIMEZONE).astimezone(UTC)
        if moment >= now:
            return Schedule(kind="at", at=moment)
    raise AssertionError("unreachable")  # pragma: no cover
