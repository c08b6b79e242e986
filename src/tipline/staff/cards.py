"""Cards: how a tip looks to moderators and to the police unit it was forwarded to.

A card is built from a ``CardView``, which has no field that could hold the tipster's identity. Buttons
carry ``<audience>|<tip id>|<action>|<status seen>``: the server re-checks role and state on every press,
and a press on a card whose status has moved on is refused as stale.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from tipline.i18n import N_, translator
from tipline.replies import Choice, Reply
from tipline.staff.triage import Assessment
from tipline.tips import CATEGORY_LABELS, EVIDENCE_LABELS, STATUS_LABELS, URGENCY_LABELS, Status, Tip

STAFF_LANGUAGE = "vi"
LEVELS = ("low", "normal", "high", "urgent")
LEVEL_LABELS = {"low": N_("low"), "normal": N_("normal"), "high": N_("high"), "urgent": N_("URGENT")}
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
OUTCOME_LABELS = {
    "verified": N_("verified and handled"),
    "not_verified": N_("not verified"),
    "transferred": N_("transferred"),
    "unfounded": N_("unfounded"),
}
ACTION_LABELS = {
    "claim": N_("claimed"),
    "unclaim": N_("released"),
    "up": N_("priority raised"),
    "down": N_("priority lowered"),
    "ask": N_("question to the tipster"),
    "spam": N_("marked as spam"),
    "dup": N_("marked as duplicate"),
    "fwd": N_("forwarded"),
    "fwdto": N_("forwarded"),
    "close": N_("closed"),
    "reopen": N_("reopened"),
    "ack": N_("acknowledged"),
    "info": N_("asked for more information"),
    "ok": N_("outcome reported"),
    "no": N_("outcome reported"),
    "tr": N_("outcome reported"),
}
PROMPT_ACTIONS = ("ask", "dup", "reopen", "info")


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
    return LEVELS[max(0, min(tip.priority, len(LEVELS) - 1))]


def _choice(audience: str, tip: Tip, label: str, action: str) -> Choice:
    return Choice(label, f"{audience}|{tip.id}|{action}|{tip.status.value}")


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
        _("Status: {status}").format(status=_(STATUS_LABELS[tip.status])),
        _("Type: {category} · When: {urgency}").format(
            category=_(CATEGORY_LABELS[tip.category]), urgency=_(URGENCY_LABELS[tip.urgency])
        ),
        _("Place: {place}, {province}").format(place=place, province=view.province_name),
    ]
    if tip.address:
        lines.append(_("Address or landmark: {address}").format(address=tip.address))
    if tip.latitude is not None and tip.longitude is not None:
        lines.append(_("Location: {lat:.5f}, {lon:.5f}").format(lat=tip.latitude, lon=tip.longitude))
    lines.append(_("Received: {when}").format(when=t.datetime(tip.created_at)))
    lines.append("")
    lines.append(tip.description[:2500])
    lines.append("")
    kinds: dict[str, int] = {}
    for item in tip.evidence:
        kinds[item.kind] = kinds.get(item.kind, 0) + 1
    if kinds:
        items = ", ".join(f"{_(EVIDENCE_LABELS[k]) if k in EVIDENCE_LABELS else k} × {n}" for k, n in kinds.items())
        lines.append(_("Evidence: {items}").format(items=items))
        lines.extend(f"🔗 {item.ref}" for item in tip.evidence if item.kind == "link")
    if view.followups:
        lines.append(_("Follow-ups from the tipster: {n}").format(n=view.followups))
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
        if tip.outcome:
            outcome = _(OUTCOME_LABELS[tip.outcome]) if tip.outcome in OUTCOME_LABELS else tip.outcome
            lines.append(_("Outcome: {outcome}").format(outcome=outcome))
        if view.last_action:
            who, what, when = view.last_action
            what = _(ACTION_LABELS[what]) if what in ACTION_LABELS else what
            lines.append(_("Last action: {what} by {who}, {when}").format(what=what, who=who, when=t.datetime(when)))
    return "\n".join(lines)


def _reason(key: str, detail: str) -> str:
    _ = translator(STAFF_LANGUAGE).gettext
    label = _(REASON_LABELS[key]) if key in REASON_LABELS else key
    return f"{label} ({detail})" if detail else label


def moderator_card(view: CardView) -> Reply:
    _ = translator(STAFF_LANGUAGE).gettext
    tip = view.tip

    def c(label: str, action: str) -> Choice:
        return _choice("m", tip, label, action)

    priority = (c(_("⬆️ Priority"), "up"), c(_("⬇️ Priority"), "down"))
    rows: list[tuple[Choice, ...]]
    if tip.status == Status.NEW:
        rows = [(c(_("🙋 Claim"), "claim"), c(_("❓ Ask tipster"), "ask")), (c(_("🚫 Spam"), "spam"), c(_("♊ Duplicate"), "dup")), priority]
    elif tip.status in (Status.IN_REVIEW, Status.NEEDS_INFO):
        rows = [
            (c(_("❓ Ask tipster"), "ask"), c(_("👮 Forward"), "fwd")),
            (c(_("👮 Forward to…"), "units"), c(_("↩️ Release"), "unclaim")),
            (c(_("🚫 Spam"), "spam"), c(_("♊ Duplicate"), "dup"), c(_("✖️ Unfounded"), "close")),
            priority,
        ]
    else:
        rows = [(c(_("🔄 Reopen"), "reopen"),)]
    return Reply(card_text(view), tuple(rows))


def unit_card(view: CardView) -> Reply:
    _ = translator(STAFF_LANGUAGE).gettext
    tip = view.tip

    def c(label: str, action: str) -> Choice:
        return _choice("u", tip, label, action)

    rows: tuple[tuple[Choice, ...], ...] = ()
    if tip.status == Status.FORWARDED:
        rows = ((c(_("✅ Acknowledge"), "ack"), c(_("❓ Ask for more"), "info")),)
    elif tip.status == Status.ACKNOWLEDGED:
        rows = (
            (c(_("✔️ Verified and handled"), "ok"),),
            (c(_("✖️ Not verified"), "no"), c(_("➡️ Transferred"), "tr")),
            (c(_("❓ Ask for more"), "info"),),
        )
    header = _("👮 Forwarded tip for your unit. Please acknowledge it, verify it, and report the outcome.")
    return Reply(header + "\n\n" + card_text(view, for_police=True), rows)


def prompt_text(action: str, code: str) -> str:
    """The message a moderator or unit answers (as a reply) to give the text an action needs."""
    _ = translator(STAFF_LANGUAGE).gettext
    asks = {
        "ask": _("Reply to this message with your question for the tipster."),
        "dup": _("Reply to this message with the code of the tip this one duplicates."),
        "reopen": _("Reply to this message with the reason for reopening."),
        "info": _("Reply to this message with what you need to know; the moderators will ask the tipster."),
    }
    return f"✍️ [{action} {code}] {asks[action]}"


def parse_callback(data: str) -> tuple[str, int, str, str, str] | None:
    """(audience, tip id, action, argument, status seen) from button data, or None when malformed."""
    parts = data.split("|")
    if len(parts) != 4 or parts[0] not in ("m", "u") or not parts[1].isdigit():
        return None
    action, _sep, arg = parts[2].partition(":")
    if not action.isalpha() or parts[3] not in {s.value for s in Status}:
        return None
    return parts[0], int(parts[1]), action, arg, parts[3]
