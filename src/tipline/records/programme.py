"""Programme reports for the provincial steering committees (monthly, quarterly, 6-monthly, yearly): per
province and commune, what came in and what became of it, and what prevention outreach reached.

For the tips *received* in the period (whole days in Vietnam time, as in ``records.reports``): how many were
forwarded to the police, acknowledged by the unit, and handled (closed with an outcome), and the median hours
from receipt to forwarding, from forwarding to acknowledgement and from forwarding to the outcome. For
outreach: campaign messages delivered in the period to subscribers of that place, and poll answers to
deliveries started in the period. No identities and no free text anywhere.

The CSV opens in Excel as it is (UTF-8 with a byte order mark), and every text cell that a spreadsheet could
take for a formula (starting with = + - @, a tab or a carriage return) is neutralised with a leading
apostrophe.
"""

from __future__ import annotations

import csv
import io
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

from tipline.i18n import Translator
from tipline.outreach.model import PlaceActivity
from tipline.records.charts import stacked_bars
from tipline.records.model import ReportRow
from tipline.records.reports import commune_name, province_name, report_rows, utc_bounds
from tipline.storage.ports import Storage

COLUMNS = (
    "period_start", "period_end", "province", "commune", "tips_received", "tips_forwarded", "tips_acknowledged",
    "tips_handled", "median_hours_to_forward", "median_hours_to_acknowledge", "median_hours_to_handle",
    "campaign_messages_delivered", "poll_answers",
)  # fmt: skip
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _hours(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return (end - start).total_seconds() / 3600


@dataclass
class PlaceLine:
    """One place (a commune, or a province's tips and subscribers without a commune) over the period."""

    province_code: int
    commune_code: int | None
    received: int = 0
    forwarded: int = 0
    acknowledged: int = 0
    handled: int = 0
    to_forward: list[float] = field(default_factory=list)
    to_acknowledge: list[float] = field(default_factory=list)
    to_handle: list[float] = field(default_factory=list)
    delivered: int = 0
    answers: int = 0

    def add(self, row: ReportRow) -> None:
        self.received += 1
        if row.forwarded_at is not None:
            self.forwarded += 1
            hours = _hours(row.created_at, row.forwarded_at)
            if hours is not None:
                self.to_forward.append(hours)
        if row.acknowledged_at is not None:
            self.acknowledged += 1
        if row.hours_to_acknowledge is not None:
            self.to_acknowledge.append(row.hours_to_acknowledge)
        if row.outcome is not None and row.closed_at is not None:
            self.handled += 1
        if row.hours_to_outcome is not None:
            self.to_handle.append(row.hours_to_outcome)

    def merge(self, other: PlaceLine) -> None:
        for name in ("received", "forwarded", "acknowledged", "handled", "delivered", "answers"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.to_forward += other.to_forward
        self.to_acknowledge += other.to_acknowledge
        self.to_handle += other.to_handle


def median(values: Sequence[float]) -> float | None:
    return round(statistics.median(values), 1) if values else None


@dataclass(frozen=True)
class ProgrammeReport:
    start: date
    end: date
    province_code: int | None
    places: list[PlaceLine]  # by province, then commune (None first)

    def provinces(self) -> list[PlaceLine]:
        """One line per province: its communes added up."""
        totals: dict[int, PlaceLine] = {}
        for line in self.places:
            total = totals.setdefault(line.province_code, PlaceLine(line.province_code, None))
            total.merge(line)
        return [totals[code] for code in sorted(totals)]

    def total(self) -> PlaceLine:
        everything = PlaceLine(0, None)
        for line in self.places:
            everything.merge(line)
        return everything


async def programme_report(storage: Storage, start: date, end: date, province_code: int | None = None) -> ProgrammeReport:
    rows = await report_rows(storage, start, end, province_code)
    begin, finish = utc_bounds(start, end)
    async with storage.read() as uow:
        activity: list[PlaceActivity] = await uow.campaigns.activity(begin, finish, province_code)
    places: dict[tuple[int, int | None], PlaceLine] = {}

    def line(province: int, commune: int | None) -> PlaceLine:
        return places.setdefault((province, commune), PlaceLine(province, commune))

    for row in rows:
        line(row.province_code, row.commune_code).add(row)
    for place in activity:
        found = line(place.province_code, place.commune_code)
        found.delivered += place.delivered
        found.answers += place.answers
    ordered = sorted(places.values(), key=lambda p: (p.province_code, p.commune_code is not None, p.commune_code or 0))
    return ProgrammeReport(start, end, province_code, ordered)


def _cell(value: object) -> object:
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def _record(report: ProgrammeReport, line: PlaceLine, commune: str) -> list[object]:
    return [
        report.start.isoformat(), report.end.isoformat(), province_name(line.province_code), commune,
        line.received, line.forwarded, line.acknowledged, line.handled,
        median(line.to_forward), median(line.to_acknowledge), median(line.to_handle), line.delivered, line.answers,
    ]


def to_csv(report: ProgrammeReport) -> str:
    """One row per commune (the commune empty for what has none), then one per province with its total
    ('*' as commune). UTF-8 with a byte order mark; write it with encoding='utf-8' and newline=''."""
    buffer = io.StringIO()
    buffer.write("\ufeff")
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for line in report.places:
        commune = commune_name(line.commune_code) if line.commune_code is not None else ""
        writer.writerow([_cell(v) for v in _record(report, line, commune)])
    for total in report.provinces():
        writer.writerow([_cell(v) for v in _record(report, total, "*")])
    return buffer.getvalue()


def chart(report: ProgrammeReport, translator: Translator) -> bytes:
    """Tips by province (or by commune, for one province): handled, forwarded and waiting, not forwarded."""
    _ = translator.gettext
    lines = (
        [line for line in report.places if line.received] if report.province_code is not None
        else [line for line in report.provinces() if line.received]
    )
    lines.sort(key=lambda line: -line.received)
    labels = [
        (commune_name(line.commune_code) if line.commune_code is not None else _("commune not given"))
        if report.province_code is not None else province_name(line.province_code)
        for line in lines
    ]
    series = {
        _("handled"): [line.handled for line in lines],
        _("forwarded, not yet handled"): [line.forwarded - line.handled for line in lines],
        _("not forwarded"): [line.received - line.forwarded for line in lines],
    }
    where = province_name(report.province_code) if report.province_code is not None else _("all provinces")
    title = _("Tips received {start} to {end}, {where}").format(
        start=translator.date(report.start), end=translator.date(report.end), where=where
    )
    return stacked_bars(title, labels, series)


def summary(report: ProgrammeReport, translator: Translator) -> str:
    """A few lines for the moderators' group, beside the chart."""
    t = translator
    _ = t.gettext
    total = report.total()

    def hours(values: list[float]) -> str:
        found = median(values)
        return _("no data") if found is None else t.number(found)

    where = province_name(report.province_code) if report.province_code is not None else _("all provinces")
    lines = [
        _("Programme report {start} to {end}, {where}").format(
            start=t.date(report.start), end=t.date(report.end), where=where
        ),
        _("Tips received: {n}; forwarded: {forwarded}; acknowledged: {acknowledged}; handled: {handled}").format(
            n=t.number(total.received), forwarded=t.number(total.forwarded),
            acknowledged=t.number(total.acknowledged), handled=t.number(total.handled),
        ),
        _("Median hours: to forward {forward}, to acknowledge {acknowledge}, to handle {handle}").format(
            forward=hours(total.to_forward), acknowledge=hours(total.to_acknowledge), handle=hours(total.to_handle)
        ),
        _("Prevention messages delivered: {delivered}; poll answers: {answers}").format(
            delivered=t.number(total.delivered), answers=t.number(total.answers)
        ),
    ]
    return "\n".join(lines)
