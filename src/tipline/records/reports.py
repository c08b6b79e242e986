"""Exports and statistics for the provinces' periodic reports (monthly, quarterly, 6-monthly, yearly).

A report covers the tips *created* in a period of whole days in Vietnam's time zone (Asia/Ho_Chi_Minh),
both ends included. It holds no identities and no free text: no description, address, coordinates,
evidence, follow-ups or messages, only codes, statuses, categories, places (province and commune names)
and times.

The CSV is for people (the steering committees open it in Excel): its headers and values are in their
language, Vietnamese by default. The JSON is for programs: ``EXPORT_COLUMNS`` as keys and the stored values
("resolved", "trading"), which do not change with the wording.

Durations are measured from forwarding to the police unit: ``hours_to_acknowledge`` = acknowledged_at −
forwarded_at, ``hours_to_outcome`` = closed_at − forwarded_at (for tips that were forwarded and have an
outcome). They are empty when either time is missing.
"""

from __future__ import annotations

import csv
import io
import json
import re
import statistics
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import TextIO

from babel.numbers import format_decimal

from tipline.i18n import DEFAULT_LANGUAGE, N_, TIMEZONE, Translator, translator
from tipline.places.communes import directory
from tipline.records.model import ReportRow
from tipline.storage.ports import Storage
from tipline.tips import (
    CATEGORY_LABELS,
    LEVEL_LABELS,
    OUTCOME_LABELS,
    STATUS_LABELS,
    URGENCY_LABELS,
    Category,
    Status,
    priority_level,
)

EXPORT_COLUMNS = (
    "code",
    "created_at",
    "status",
    "category",
    "urgency",
    "province",
    "commune",
    "priority",
    "forwarded_at",
    "acknowledged_at",
    "closed_at",
    "outcome",
    "hours_to_acknowledge",
    "hours_to_outcome",
)
# The CSV's headers, as people read them.
CSV_HEADERS = {
    "code": N_("Tip code"),
    "created_at": N_("Reported at"),
    "status": N_("Status"),
    "category": N_("Type"),
    "urgency": N_("When it happens"),
    "province": N_("Province"),
    "commune": N_("Commune, ward or special zone"),
    "priority": N_("Priority"),
    "forwarded_at": N_("Forwarded to the unit at"),
    "acknowledged_at": N_("Acknowledged by the unit at"),
    "closed_at": N_("Closed at"),
    "outcome": N_("Outcome"),
    "hours_to_acknowledge": N_("Hours from forwarding to acknowledgement"),
    "hours_to_outcome": N_("Hours from forwarding to outcome"),
}
# The CSV's coded values, as people read them (a value without a label is written as stored).
_CSV_VALUES: dict[str, dict[str, str]] = {
    "status": {status.value: label for status, label in STATUS_LABELS.items()},
    "category": {category.value: label for category, label in CATEGORY_LABELS.items()},
    "urgency": {urgency.value: label for urgency, label in URGENCY_LABELS.items()},
    "outcome": OUTCOME_LABELS,
}
FORMATS = ("csv", "json")
_LOCAL_FORMAT = "%Y-%m-%d %H:%M:%S"


class PeriodError(ValueError):
    pass


class ProvinceError(ValueError):
    pass


# ----------------------------------------------------------------------------------------- periods


_MONTH = re.compile(r"^(\d{4})-(\d{1,2})$")
_QUARTER = re.compile(r"^(\d{4})-Q([1-4])$", re.IGNORECASE)
_HALF = re.compile(r"^(\d{4})-H([12])$", re.IGNORECASE)
_YEAR = re.compile(r"^(\d{4})$")


def _month_end(year: int, month: int) -> date:
    following = date(year + month // 12, month % 12 + 1, 1)
    return following - timedelta(days=1)


def parse_period(text: str) -> tuple[date, date]:
    """'2026-11' (a month), '2026-Q3' (a quarter), '2026-H1' (a half-year), '2026' → (first day, last day)."""
    value = text.strip()
    if match := _MONTH.match(value):
        year, month = int(match.group(1)), int(match.group(2))
        if not 1 <= month <= 12:
            raise PeriodError(f"no month {month} in {text!r}")
        return date(year, month, 1), _month_end(year, month)
    if match := _QUARTER.match(value):
        year, quarter = int(match.group(1)), int(match.group(2))
        return date(year, 3 * quarter - 2, 1), _month_end(year, 3 * quarter)
    if match := _HALF.match(value):
        year, half = int(match.group(1)), int(match.group(2))
        return date(year, 6 * half - 5, 1), _month_end(year, 6 * half)
    if match := _YEAR.match(value):
        year = int(match.group(1))
        return date(year, 1, 1), date(year, 12, 31)
    raise PeriodError(f"not a period: {text!r} (expected 2026-11, 2026-Q3, 2026-H1 or 2026)")


def parse_date(text: str) -> date:
    """An ISO date (2026-11-03)."""
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise PeriodError(f"not a date: {text!r} (expected YYYY-MM-DD)") from None


def utc_bounds(start: date, end: date) -> tuple[datetime, datetime]:
    """[start 00:00, the day after end 00:00) in Vietnam's time zone, as UTC instants."""
    if end < start:
        raise PeriodError(f"the period ends ({end}) before it starts ({start})")
    begin = datetime.combine(start, time(), TIMEZONE).astimezone(UTC)
    finish = datetime.combine(end + timedelta(days=1), time(), TIMEZONE).astimezone(UTC)
    return begin, finish


def resolve_province(text: str) -> int:
    """A province code from a code ('92') or a name ('Cần Thơ', 'can tho', 'HCM'; former names resolve to
    the province that absorbed them). Raises ProvinceError when it names none, or several equally well."""
    value = text.strip()
    if value.isdigit():
        if directory().province(int(value)) is None:
            raise ProvinceError(f"no province with code {value}")
        return int(value)
    matches = directory().search_provinces(value)
    if not matches:
        raise ProvinceError(f"no province matches {text!r}")
    best = matches[0]
    ties = [m for m in matches if m.score >= best.score - 0.05]
    if best.score < 1.0 and len(ties) > 1:
        names = ", ".join(f"{m.province.name} ({m.province.code})" for m in ties)
        raise ProvinceError(f"{text!r} could be several provinces: {names}")
    return best.province.code


# ------------------------------------------------------------------------------------------- rows


async def report_rows(storage: Storage, start: date, end: date, province_code: int | None = None) -> list[ReportRow]:
    """The tips created from ``start`` to ``end`` (local dates, inclusive), oldest first."""
    begin, finish = utc_bounds(start, end)
    async with storage.read() as uow:
        return await uow.tips.report_rows(begin, finish, province_code)


# ----------------------------------------------------------------------------------------- export


def _local(moment: datetime | None) -> str:
    return moment.astimezone(TIMEZONE).strftime(_LOCAL_FORMAT) if moment else ""


def _round(hours: float | None) -> float | None:
    return None if hours is None else round(hours, 1)


def province_name(code: int | None) -> str:
    found = directory().province(code) if code is not None else None
    return found.name if found else ("" if code is None else str(code))


def commune_name(code: int | None, with_province_if_ambiguous: bool = False) -> str:
    found = directory().commune(code) if code is not None else None
    if found is None:
        return "" if code is None else str(code)
    return directory().label(found) if with_province_if_ambiguous else found.name


def export_record(row: ReportRow) -> dict[str, object]:
    """A row as exported: times in local time ('YYYY-MM-DD HH:MM:SS', Asia/Ho_Chi_Minh), names for places."""
    return {
        "code": row.code,
        "created_at": _local(row.created_at),
        "status": row.status,
        "category": row.category,
        "urgency": row.urgency,
        "province": province_name(row.province_code),
        "commune": commune_name(row.commune_code),
        "priority": row.priority,
        "forwarded_at": _local(row.forwarded_at),
        "acknowledged_at": _local(row.acknowledged_at),
        "closed_at": _local(row.closed_at),
        "outcome": row.outcome or "",
        "hours_to_acknowledge": _round(row.hours_to_acknowledge),
        "hours_to_outcome": _round(row.hours_to_outcome),
    }


def csv_record(row: ReportRow, t: Translator) -> dict[str, object]:
    """A row as people read it: statuses, categories, urgency, priority and outcome in words."""
    record = export_record(row)
    for column, labels in _CSV_VALUES.items():
        value = str(record[column])
        record[column] = t.gettext(labels[value]) if value in labels else value
    record["priority"] = t.gettext(LEVEL_LABELS[priority_level(row.priority)])
    return record


def to_csv(rows: Iterable[ReportRow], language: str = DEFAULT_LANGUAGE) -> str:
    """CSV with a header row in ``language``, starting with a UTF-8 byte order mark (so Excel reads
    Vietnamese correctly); write it with encoding='utf-8'."""
    t = translator(language)
    buffer = io.StringIO()
    buffer.write("\ufeff")
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([t.gettext(CSV_HEADERS[column]) for column in EXPORT_COLUMNS])
    for row in rows:
        record = csv_record(row, t)
        writer.writerow([csv_cell(record[column]) for column in EXPORT_COLUMNS])
    return buffer.getvalue()


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: object) -> object:
    """A value as a spreadsheet must read it: text that a spreadsheet would run as a formula
    (=HYPERLINK(...), +cmd, @SUM ...) is written with a leading apostrophe, so it stays text."""
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def to_json(rows: Sequence[ReportRow], start: date, end: date, province_code: int | None = None) -> str:
    """A JSON object: the period, the province, the time zone, the count and the tips (EXPORT_COLUMNS)."""
    document = {
        "from": start.isoformat(),
        "to": end.isoformat(),
        "province": province_name(province_code) if province_code is not None else None,
        "timezone": str(TIMEZONE),
        "count": len(rows),
        "tips": [export_record(row) for row in rows],
    }
    return json.dumps(document, ensure_ascii=False, indent=2) + "\n"


async def export(
    storage: Storage,
    out: TextIO,
    start: date,
    end: date,
    province_code: int | None = None,
    fmt: str = "csv",
    language: str = DEFAULT_LANGUAGE,
) -> int:
    """Writes the report for the period to ``out``; returns the number of tips."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}")
    rows = await report_rows(storage, start, end, province_code)
    out.write(to_csv(rows, language) if fmt == "csv" else to_json(rows, start, end, province_code))
    return len(rows)


# ------------------------------------------------------------------------------------------ stats


@dataclass(frozen=True)
class Stats:
    start: date
    end: date
    province_code: int | None
    total: int
    by_status: dict[str, int]  # status value → count, in Status order (only statuses that occur)
    by_category: dict[str, int]  # category value → count, most frequent first
    top_communes: list[tuple[int | None, int]]  # (commune code or None when not given, count)
    median_hours_to_acknowledge: float | None
    median_hours_to_outcome: float | None
    acknowledged: int = 0  # tips with a time to acknowledgement
    with_outcome: int = 0  # tips with a time to outcome

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def compute_stats(
    rows: Sequence[ReportRow], start: date, end: date, province_code: int | None = None, top: int = 10
) -> Stats:
    statuses = Counter(row.status for row in rows)
    order = {status.value: index for index, status in enumerate(Status)}
    by_status = dict(sorted(statuses.items(), key=lambda kv: (order.get(kv[0], len(order)), kv[0])))
    by_category = dict(sorted(Counter(row.category for row in rows).items(), key=lambda kv: (-kv[1], kv[0])))
    communes = Counter(row.commune_code for row in rows)
    top_communes = sorted(communes.items(), key=lambda kv: (-kv[1], kv[0] is None, kv[0] or 0))[: max(top, 0)]
    to_ack = [h for h in (row.hours_to_acknowledge for row in rows) if h is not None]
    to_outcome = [h for h in (row.hours_to_outcome for row in rows) if h is not None]
    return Stats(
        start=start,
        end=end,
        province_code=province_code,
        total=len(rows),
        by_status=by_status,
        by_category=by_category,
        top_communes=top_communes,
        median_hours_to_acknowledge=_median(to_ack),
        median_hours_to_outcome=_median(to_outcome),
        acknowledged=len(to_ack),
        with_outcome=len(to_outcome),
    )


async def stats(storage: Storage, start: date, end: date, province_code: int | None = None, top: int = 10) -> Stats:
    """Counts and medians for the tips created from ``start`` to ``end`` (local dates, inclusive)."""
    return compute_stats(await report_rows(storage, start, end, province_code), start, end, province_code, top)


def _category_label(value: str, translator: Translator) -> str:
    try:
        return translator.gettext(CATEGORY_LABELS[Category(value)])
    except ValueError:
        return value


def _hours_text(hours: float | None, translator: Translator) -> str:
    _ = translator.gettext
    if hours is None:
        return _("no data")
    number = format_decimal(round(hours, 1), format="#,##0.0", locale=translator.language)
    return _("{hours} hours").format(hours=number)


def format_stats(result: Stats, translator: Translator) -> str:
    """A short plain-text summary for moderators, in the translator's language."""
    _ = translator.gettext
    period = {"start": translator.date(result.start), "end": translator.date(result.end)}
    if result.province_code is not None:
        lines = [
            _("Tips in {province}, {start} to {end}").format(
                province=province_name(result.province_code), **period
            )
        ]
    else:
        lines = [_("Tips, {start} to {end}").format(**period)]
    lines.append(_("Total: {total}").format(total=translator.number(result.total)))
    if result.total == 0:
        return "\n".join(lines)
    lines += ["", _("By status:")]
    lines += [
        f"  {_(STATUS_LABELS[Status(status)]) if status in Status.__members__.values() else status}: "
        f"{translator.number(count)}"
        for status, count in result.by_status.items()
    ]
    lines += ["", _("By category:")]
    lines += [
        f"  {_category_label(category, translator)}: {translator.number(count)}"
        for category, count in result.by_category.items()
    ]
    lines += ["", _("Communes with the most tips:")]
    not_given = _("Commune not given")
    for code, count in result.top_communes:
        name = commune_name(code, with_province_if_ambiguous=True) if code is not None else not_given
        lines.append(f"  {name}: {translator.number(count)}")
    lines += [
        "",
        _("Time from forwarding to acknowledgement (median): {hours}").format(
            hours=_hours_text(result.median_hours_to_acknowledge, translator)
        ),
        _("Time from forwarding to outcome (median): {hours}").format(
            hours=_hours_text(result.median_hours_to_outcome, translator)
        ),
    ]
    return "\n".join(lines)
