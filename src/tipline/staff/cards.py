"""Cards: how a tip looks to moderators and to the police unit it was forwarded to.

A card is built from a ``CardView``, which has no field that could hold the tipster's identity. Its
buttons carry an action and the status the card showed, nothing else: the tip is the card's, found on the
server from the message that was pressed, and the server re-checks role and state on every press.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from tipline.i18n import N_, Translator, translator
from tipline.privacy.media import round_location
from tipline.replies import CardAction, Choice, Reply
from tipline.staff.moderation import Deadlines
from tipline.staff.triage import Assessment
from tipline.tips import (
    CATEGORY_LABELS,
    EVIDENCE_LABELS,
    LEVEL_LABELS,
    OUTCOME_LABELS,
    STATUS_LABELS,
    URGENCY_LABELS,
    Category,
    Status,
    Tip,
    evidence_summary,
    priority_level,
)

STAFF_LANGUAGE = "vi"
REASON_LABELS = {
    "urgency_now": N_("happening now"),
    "urgency_today": N_("today"),
    "urgency_ongoing": N_("ongoing"),
    "children": N_("children"),
    "school": N_("school"),
    "weapon": N_("weapons"),
    "violence": N_("violence or threats"),
    "quantity": N_("large quantity"),
    "evidence": N_("evidence attached"),
    "location": N_("location shared"),
    "production": N_("production"),
    "online_sales": N_("online sales"),
    "category": N_("type of crime"),
    "cultivation": N_("growing drug plants"),
    "too_short": N_("very short"),
    "links_only": N_("only links"),
    "gibberish": N_("looks like gibberish"),
    "repeated_sender": N_("many tips from one sender in an hour"),
}
# A tip as the unit it was forwarded to sees it: what is expected of the unit now.
UNIT_STATUS_LABELS = {
    Status.FORWARDED: N_("waiting for your unit to acknowledge"),
    Status.ACKNOWLEDGED: N_("acknowledged by your unit, outcome to report"),
    Status.RESOLVED: N_("outcome reported, tip closed"),
    Status.UNFOUNDED: N_("outcome reported, tip closed"),
}
ACTION_LABELS = {
    "claim": N_("claimed"),
    "release": N_("released"),
    "raise": N_("priority raised"),
    "lower": N_("priority lowered"),
    "ask": N_("question to the tipster"),
    "spam": N_("marked as spam"),
    "duplicate": N_("marked as duplicate"),
    "forward": N_("forwarded"),
    "forward_to": N_("forwarded"),
    "unfounded": N_("closed"),
    "reopen": N_("reopened"),
    "acknowledge": N_("acknowledged"),
    "ask_more": N_("asked for more information"),
    "verified": N_("outcome reported"),
    "not_verified": N_("outcome reported"),
    "transferred": N_("outcome reported"),
}
# Names the audit log used before the actions were renamed (entries are never rewritten).
ACTION_LABELS.update(
    {
        "unclaim": ACTION_LABELS["release"], "up": ACTION_LABELS["raise"], "down": ACTION_LABELS["lower"],
        "dup": ACTION_LABELS["duplicate"], "fwd": ACTION_LABELS["forward"], "fwdto": ACTION_LABELS["forward"],
        "close": ACTION_LABELS["unfounded"], "ack": ACTION_LABELS["acknowledge"], "info": ACTION_LABELS["ask_more"],
        "ok": ACTION_LABELS["verified"], "no": ACTION_LABELS["verified"], "tr": ACTION_LABELS["verified"],
    }
)
# The channel a tip came in on, as moderators know it (app names stay as they are).
CHANNEL_NAMES = {"telegram": "Telegram", "zalo": "Zalo", "console": N_("local console")}
# Actions that need text first: the bot asks for it in a message answered by replying to it.
PROMPT_ACTIONS = frozenset({"ask", "duplicate", "reopen", "ask_more"})
# Opens the list of the province's units to forward to.
CHOOSE_UNIT = "choose_unit"


@dataclass(frozen=True)
class CardView:
    tip: Tip
    assessment: Assessment | None
    province_name: str
    commune_name: str | None
    claimed_by: str | None
    unit_name: str | None
    duplicate_of: str | None
    followups: int
    last_action: tuple[str, str, datetime] | None  # (who, what, when)


def level_of(tip: Tip) -> str:
    return priority_level(tip.priority)


def _choice(tip: Tip, label: str, action: str) -> Choice:
    return Choice(label, CardAction(action, tip.status.value))


def card_text(view: CardView, for_police: bool = False) -> str:
    t = translator(STAFF_LANGUAGE)
    _ = t.gettext
    tip = view.tip
    place = view.commune_name or _("commune not known")
    lines = [
        _("{icon} Tip {code} · priority: {level}").format(
            icon="🔴" if level_of(tip) == "urgent" else "🆕" if tip.status == Status.NEW else "📄",
            code=tip.code,
            level=_(LEVEL_LABELS[level_of(tip)]),
        ),
        _("Status: {status}").format(status=_(_status_label(tip.status, for_police))),
        _("Type: {category} · When: {urgency}").format(
            category=_(CATEGORY_LABELS[tip.category]), urgency=_(URGENCY_LABELS[tip.urgency])
        ),
        _("Place: {place}, {province}").format(place=place, province=view.province_name),
    ]
    if tip.address:
        lines.append(_("Address or landmark: {address}").format(address=tip.address))
    if tip.latitude is not None and tip.longitude is not None:
        if for_police:  # a police unit needs the area, not the spot where the tipster stood
            lat, lon = round_location(tip.latitude, tip.longitude, 100)
            lines.append(_("Location (to about 100 m): {lat:.4f}, {lon:.4f}").format(lat=lat, lon=lon))
        else:
            lines.append(_("Location: {lat:.5f}, {lon:.5f}").format(lat=tip.latitude, lon=tip.longitude))
    lines.append(_("Reported: {when}").format(when=t.datetime(tip.created_at)))
    if not for_police:
        # Which app the tipster wrote from (their photos come from there; Zalo has no buttons or replies).
        channel = _(CHANNEL_NAMES[tip.channel]) if tip.channel in CHANNEL_NAMES else tip.channel
        lines.append(_("Channel: {channel}").format(channel=channel))
    lines.append("")
    lines.append(tip.description[:2500])
    lines.append("")
    items = evidence_summary((e.kind for e in tip.evidence), lambda k: _(EVIDENCE_LABELS[k]) if k in EVIDENCE_LABELS else k)
    if items:
        lines.append(_("Evidence: {items}").format(items=items))
        lines.extend(f"🔗 {item.ref}" for item in tip.evidence if item.kind == "link")
    if view.followups:
        lines.append(_("Follow-ups from the tipster: {n}").format(n=view.followups))
    if tip.outcome:
        outcome = _(OUTCOME_LABELS[tip.outcome]) if tip.outcome in OUTCOME_LABELS else tip.outcome
        lines.append(_("Outcome: {outcome}").format(outcome=outcome))
    if not for_police:
        assessment = view.assessment
        if assessment is not None:
            reasons = [_reason(r.key, r.detail) for r in assessment.priority.reasons]
            if reasons:
                lines.append(_("Priority because: {reasons}").format(reasons="; ".join(reasons)))
            if assessment.spam:
                lines.append(_("⚠️ Spam signals: {signals}").format(signals="; ".join(_reason(r.key, r.detail) for r in assessment.spam)))
            if assessment.duplicates:
                codes = ", ".join(f"{code} ({score:.0%})" for code, score in assessment.duplicates[:5])
                lines.append(_("Possible duplicates: {codes}").format(codes=codes))
        if view.claimed_by:
            lines.append(_("Claimed by: {name}").format(name=view.claimed_by))
        if view.unit_name:
            lines.append(_("Police unit: {unit}").format(unit=view.unit_name))
        if view.duplicate_of:
            lines.append(_("Duplicate of: {code}").format(code=view.duplicate_of))
        if view.last_action:
            who, what, when = view.last_action
            what = _(ACTION_LABELS[what]) if what in ACTION_LABELS else what
            lines.append(_("Last action: {what} by {who}, {when}").format(what=what, who=who, when=t.datetime(when)))
    return "\n".join(lines)


def _status_label(status: Status, for_police: bool) -> str:
    if for_police and status in UNIT_STATUS_LABELS:
        return UNIT_STATUS_LABELS[status]
    return STATUS_LABELS[status]


def _reason(key: str, detail: str) -> str:
    _ = translator(STAFF_LANGUAGE).gettext
    label = _(REASON_LABELS[key]) if key in REASON_LABELS else key
    if key == "category" and detail in Category.__members__.values():
        detail = _(CATEGORY_LABELS[Category(detail)])  # the triage keeps the key; staff read the label
    return f"{label} ({detail})" if detail else label


def moderator_card(view: CardView) -> Reply:
    _ = translator(STAFF_LANGUAGE).gettext
    tip = view.tip

    def c(label: str, action: str) -> Choice:
        return _choice(tip, label, action)

    priority = (c(_("⬆️ Priority"), "raise"), c(_("⬇️ Priority"), "lower"))
    rows: list[tuple[Choice, ...]]
    if tip.status == Status.NEW:
        rows = [(c(_("🙋 Claim"), "claim"), c(_("❓ Ask tipster"), "ask")), (c(_("🚫 Spam"), "spam"), c(_("♊ Duplicate"), "duplicate")), priority]
    elif tip.status in (Status.IN_REVIEW, Status.NEEDS_INFO):
        rows = [
            (c(_("❓ Ask tipster"), "ask"), c(_("👮 Forward"), "forward")),
            (c(_("👮 Forward to…"), CHOOSE_UNIT), c(_("↩️ Release"), "release")),
            (c(_("🚫 Spam"), "spam"), c(_("♊ Duplicate"), "duplicate"), c(_("✖️ Unfounded"), "unfounded")),
            priority,
        ]
    else:
        rows = [(c(_("🔄 Reopen"), "reopen"),)]
    return Reply(card_text(view), tuple(rows))


def unit_card(view: CardView, deadlines: Deadlines | None = None) -> Reply:
    t = translator(STAFF_LANGUAGE)
    _ = t.gettext
    tip = view.tip
    deadlines = deadlines or Deadlines()

    def c(label: str, action: str) -> Choice:
        return _choice(tip, label, action)

    rows: tuple[tuple[Choice, ...], ...] = ()
    if tip.status == Status.FORWARDED:
        rows = ((c(_("✅ Acknowledge"), "acknowledge"), c(_("❓ Ask for more"), "ask_more")),)
    elif tip.status == Status.ACKNOWLEDGED:
        rows = (
            (c(_("✔️ Verified and handled"), "verified"),),
            (c(_("✖️ Not verified"), "not_verified"),),
            (c(_("➡️ Passed to the competent authority"), "transferred"),),
            (c(_("❓ Ask for more"), "ask_more"),),
        )
    header = _(
        "👮 A tip forwarded to your unit. Please acknowledge receipt within {acknowledge}, then verify it and "
        "report the outcome within {outcome}."
    ).format(acknowledge=duration(t, deadlines.acknowledge), outcome=duration(t, deadlines.outcome))
    return Reply(header + "\n\n" + card_text(view, for_police=True), rows)


def duration(t: Translator, span: timedelta) -> str:
    """A configured deadline as staff say it: '24 giờ', '7 ngày', '1,5 giờ'."""
    hours = span.total_seconds() / 3600
    if hours >= 48 and hours % 24 == 0:
        days = int(hours // 24)
        return t.ngettext("{n} day", "{n} days", days).format(n=days)
    count = int(hours) if hours == int(hours) else 2  # a fraction of an hour reads as plural ("1.5 hours")
    return t.ngettext("{n} hour", "{n} hours", count).format(n=t.number(round(hours, 1)))


def prompt_text(action: str, code: str) -> str:
    """The message a moderator or unit answers (as a reply) to give the text an action needs."""
    _ = translator(STAFF_LANGUAGE).gettext
    asks = {
        "ask": _("{code}: reply to this message with your question for the tipster."),
        "duplicate": _("{code}: reply to this message with the code of the tip this one duplicates."),
        "reopen": _("{code}: reply to this message with the reason for reopening."),
        "ask_more": _("{code}: reply to this message with what you need to know; the moderators will ask the tipster."),
    }
    return "✍️ " + asks[action].format(code=code)


def withdrawn_card(code: str) -> Reply:
    """What a unit's card becomes when the moderators take a tip back: no details it no longer needs."""
    _ = translator(STAFF_LANGUAGE).gettext
    return Reply(_("{code}: the moderators took this tip back; it is no longer with your unit.").format(code=code))
