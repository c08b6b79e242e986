"""The report flow, one question at a time: category → urgency → province → commune → address →
description → evidence → review. Each step takes the session and one inbound event and returns the next
question, or repeats the current one with a short reason.
"""

from __future__ import annotations

import re

from tipline.citizen.choices import menu_reply, new_prompt, option, texts, with_notice
from tipline.citizen.effects import Context, Result, SubmitTip
from tipline.citizen.session import Draft, EvidenceItem, Screen, Session
from tipline.events import Inbound, Location, Media, Text
from tipline.facts import (
    ADDRESS_MAX_CHARS,
    AMBULANCE_NUMBER,
    C04_HOTLINE,
    DESCRIPTION_MAX_CHARS,
    DESCRIPTION_MIN_CHARS,
    DRAFT_IDLE_HOURS,
    EMERGENCY_NUMBER,
    EVIDENCE_MAX_BYTES,
    EVIDENCE_MAX_ITEMS,
)
from tipline.places.communes import directory
from tipline.replies import Choice, Reply
from tipline.tips import CATEGORY_LABELS, EVIDENCE_LABELS, URGENCY_LABELS, Category, Urgency, evidence_summary

__all__ = ["DRAFT_IDLE_HOURS", "REPORT_SCREENS", "begin", "resume", "prompt", "step", "media_problem"]

REPORT_SCREENS = frozenset(
    {
        Screen.CATEGORY,
        Screen.URGENCY,
        Screen.PROVINCE,
        Screen.COMMUNE,
        Screen.ADDRESS,
        Screen.DESCRIPTION,
        Screen.EVIDENCE,
        Screen.REVIEW,
        Screen.EDIT,
    }
)
ORDER = [
    Screen.CATEGORY,
    Screen.URGENCY,
    Screen.PROVINCE,
    Screen.COMMUNE,
    Screen.ADDRESS,
    Screen.DESCRIPTION,
    Screen.EVIDENCE,
    Screen.REVIEW,
]
PROVINCES_PER_PAGE = 10
COMMUNE_RESULTS = 6
EXACT = 0.999
_URL = re.compile(r"(?:https?://|www\.)\S+|\b(?:t\.me|zalo\.me|fb\.com|facebook\.com)/\S+", re.IGNORECASE)


def begin(session: Session, ctx: Context) -> Result:
    """Starts a new report."""
    session.draft = Draft()
    session.screen = Screen.CATEGORY
    _ = texts(session).gettext
    intro = Reply(
        _(
            "Let's make a report. I will ask a few short questions; you can go back at any step, and /cancel "
            "stops without sending anything."
        )
    )
    return with_notice(intro, prompt(session, ctx))


def resume(session: Session, ctx: Context) -> Result:
    """Continues a draft from its first unanswered question."""
    draft = session.draft or Draft()
    session.draft = draft
    session.screen = _first_missing(draft)
    return prompt(session, ctx)


def _first_missing(draft: Draft) -> Screen:
    if draft.category is None:
        return Screen.CATEGORY
    if draft.urgency is None:
        return Screen.URGENCY
    if draft.province_code is None:
        return Screen.PROVINCE
    if draft.commune_code is None and not draft.commune_unknown:
        return Screen.COMMUNE
    if not draft.description:
        return Screen.DESCRIPTION
    return Screen.REVIEW


def _advance(session: Session, ctx: Context, notices: list[Reply] | None = None) -> Result:
    """Moves to the next step (or back to the review when the citizen was editing one part)."""
    draft = _draft(session)
    if draft.editing:
        session.screen = _first_missing(draft)
        draft.editing = session.screen != Screen.REVIEW
    else:
        session.screen = ORDER[ORDER.index(session.screen) + 1]
    result = prompt(session, ctx)
    for notice in reversed(notices or []):
        with_notice(notice, result)
    return result


def _back(session: Session, ctx: Context) -> Result:
    draft = _draft(session)
    if draft.editing or session.screen == Screen.EDIT:
        draft.editing = False
        session.screen = _first_missing(draft)
    elif session.screen == Screen.CATEGORY:
        session.screen = Screen.MENU
        _ = texts(session).gettext
        return Result(session, [menu_reply(session, _("Your draft is kept. Choose 'Report a tip' to continue it."))])
    else:
        session.screen = ORDER[ORDER.index(session.screen) - 1]
    return prompt(session, ctx)


def _draft(session: Session) -> Draft:
    assert session.draft is not None
    return session.draft


def _nav(session: Session, *extra: Choice) -> tuple[Choice, ...]:
    _ = texts(session).gettext
    return (*extra, option(session, _("⬅️ Back"), "back"), option(session, _("✖️ Cancel"), "cancel"))


# --- prompts ----------------------------------------------------------------------------------------


def prompt(session: Session, ctx: Context) -> Result:
    """Asks the question of the current step."""
    t = texts(session)
    _ = t.gettext
    draft = _draft(session)
    new_prompt(session)
    screen = session.screen
    if screen == Screen.CATEGORY:
        rows = tuple((option(session, _(label), f"cat:{cat.value}"),) for cat, label in CATEGORY_LABELS.items())
        reply = Reply(_("Step 1 of 6. What is the report about?"), (*rows, _nav(session)))
    elif screen == Screen.URGENCY:
        rows = tuple((option(session, _(label), f"urg:{urg.value}"),) for urg, label in URGENCY_LABELS.items())
        reply = Reply(_("Step 2 of 6. When is it happening?"), (*rows, _nav(session)))
    elif screen == Screen.PROVINCE:
        reply = _province_prompt(session)
    elif screen == Screen.COMMUNE:
        reply = _commune_prompt(session)
    elif screen == Screen.ADDRESS:
        text = _(
            "Step 4 of 6. Add a street address or a landmark near the place (up to {limit} characters), or "
            "share a location. This is optional: choose Skip if you prefer."
        ).format(limit=t.number(ADDRESS_MAX_CHARS))
        if draft.address or draft.latitude is not None:
            label = _("Continue ➡️")
        else:
            label = _("Skip ➡️")
        reply = Reply(text, ((option(session, label, "next"),), _nav(session)))
    elif screen == Screen.DESCRIPTION:
        reply = _description_prompt(session)
    elif screen == Screen.EVIDENCE:
        reply = _evidence_prompt(session)
    elif screen == Screen.REVIEW:
        reply = _review(session)
    elif screen == Screen.EDIT:
        parts = [
            ("edit:category", _("Type")),
            ("edit:urgency", _("When")),
            ("edit:place", _("Province and commune")),
            ("edit:address", _("Address or landmark")),
            ("edit:description", _("Description")),
            ("edit:evidence", _("Evidence")),
        ]
        pairs: list[tuple[Choice, ...]] = [
            tuple(option(session, label, action) for action, label in parts[i : i + 2]) for i in range(0, 6, 2)
        ]
        reply = Reply(_("Which part do you want to change?"), (*pairs, (option(session, _("⬅️ Back"), "back"),)))
    else:  # pragma: no cover - REPORT_SCREENS is closed
        raise AssertionError(screen)
    return Result(session, [reply])


def _province_prompt(session: Session) -> Reply:
    _ = texts(session).gettext
    draft = _draft(session)
    provinces = directory().provinces()
    pages = (len(provinces) + PROVINCES_PER_PAGE - 1) // PROVINCES_PER_PAGE
    page = min(max(draft.province_page, 0), pages - 1)
    shown = provinces[page * PROVINCES_PER_PAGE : (page + 1) * PROVINCES_PER_PAGE]
    rows: list[tuple[Choice, ...]] = [
        tuple(option(session, p.short_name, f"prov:{p.code}") for p in shown[i : i + 2]) for i in range(0, len(shown), 2)
    ]
    paging = []
    if page > 0:
        paging.append(option(session, _("◀️ Previous"), f"page:{page - 1}"))
    if page < pages - 1:
        paging.append(option(session, _("More ▶️"), f"page:{page + 1}"))
    if paging:
        rows.append(tuple(paging))
    rows.append(_nav(session))
    text = _(
        "Step 3 of 6. Where is it happening? Choose the province or city, or type its name "
        "(page {page} of {pages}). You can also type the commune or ward name directly."
    ).format(page=page + 1, pages=pages)
    return Reply(text, tuple(rows))


def _commune_prompt(session: Session) -> Reply:
    _ = texts(session).gettext
    draft = _draft(session)
    province = directory().province(draft.province_code or 0)
    rows: list[tuple[Choice, ...]] = []
    if draft.candidates:
        for code in draft.candidates:
            commune = directory().commune(code)
            if commune is not None:
                # The label names the province too when the name alone is ambiguous in the country.
                rows.append((option(session, directory().label(commune), f"com:{code}"),))
        text = _("Choose the commune or ward in {province}, or type the name again:").format(
            province=province.name if province else ""
        )
    else:
        text = _(
            "Type the name of the commune or ward in {province}. Typing without diacritics is fine."
        ).format(province=province.name if province else "")
    rows.append((option(session, _("I don't know the commune"), "com:unknown"),))
    rows.append(_nav(session))
    return Reply(text, tuple(rows))


def _description_prompt(session: Session) -> Reply:
    t = texts(session)
    _ = t.gettext
    draft = _draft(session)
    used = len(draft.description_text)
    if used:
        text = _(
            "Description so far: {used} of {limit} characters. Send more text to add to it, or choose Done."
        ).format(used=t.number(used), limit=t.number(DESCRIPTION_MAX_CHARS))
        extra: tuple[Choice, ...] = (option(session, _("✅ Done"), "next"), option(session, _("🗑 Start over"), "clear"))
    else:
        text = _(
            "Step 5 of 6. Describe what you know: what happens, where exactly, when and how often, and how to "
            "recognise the people, vehicles or accounts involved. Leave out your name and details that could "
            "give you away, such as 'my house is next to…'. You can send several messages, up to {limit} "
            "characters in all."
        ).format(limit=t.number(DESCRIPTION_MAX_CHARS))
        extra = ()
    rows: list[tuple[Choice, ...]] = []
    if extra:
        rows.append(extra)
    rows.append(_nav(session))
    return Reply(text, tuple(rows))


def _evidence_prompt(session: Session) -> Reply:
    t = texts(session)
    _ = t.gettext
    draft = _draft(session)
    count = len(draft.evidence)
    if count:
        text = _("Evidence so far: {count} of {items} items. Send more photos, files or links, or choose Done.").format(
            count=count, items=EVIDENCE_MAX_ITEMS
        )
    else:
        text = _(
            "Step 6 of 6. If you have photos, videos, documents, voice notes or links, send them now (up to "
            "{items} items, each up to {mb} MB). This is optional. Photos can show where you are: only send "
            "what is safe."
        ).format(items=EVIDENCE_MAX_ITEMS, mb=EVIDENCE_MAX_BYTES // (1024 * 1024))
    label = _("✅ Done") if count else _("Skip ➡️")
    return Reply(text, ((option(session, label, "next"),), _nav(session)))


def summary_lines(session: Session, draft: Draft) -> list[str]:
    """The draft in a few lines, as the citizen will check it."""
    t = texts(session)
    _ = t.gettext
    d = directory()
    province = d.province(draft.province_code or 0)
    commune = d.commune(draft.commune_code) if draft.commune_code else None
    place = commune.name if commune else _("commune not known")
    if province:
        place = f"{place}, {province.name}"
    description = draft.description_text
    if len(description) > 1500:
        description = description[:1500] + "…"
    evidence = evidence_summary((e.kind for e in draft.evidence), lambda kind: _evidence_kind(session, kind)) or _("none")
    lines = [
        _("• Type: {value}").format(value=_(CATEGORY_LABELS[Category(draft.category)]) if draft.category else "—"),
        _("• When: {value}").format(value=_(URGENCY_LABELS[Urgency(draft.urgency)]) if draft.urgency else "—"),
        _("• Place: {value}").format(value=place),
        _("• Address or landmark: {value}").format(value=draft.address or "—"),
    ]
    if draft.latitude is not None and draft.longitude is not None:
        lines.append(_("• Location shared: {lat:.5f}, {lon:.5f}").format(lat=draft.latitude, lon=draft.longitude))
    lines.append(_("• Evidence: {value}").format(value=evidence))
    lines.append(_("• Description:"))
    lines.append(description)
    return lines


def _review(session: Session) -> Reply:
    _ = texts(session).gettext
    draft = _draft(session)
    text = "\n".join(
        [_("Please check your report:"), "", *summary_lines(session, draft), "", _("Nothing is sent until you choose Confirm.")]
    )
    return Reply(
        text,
        (
            (option(session, _("✅ Confirm and send"), "confirm"),),
            (option(session, _("✏️ Change something"), "edit"), option(session, _("✖️ Cancel"), "cancel")),
        ),
    )


def _evidence_kind(session: Session, kind: str) -> str:
    return texts(session).gettext(EVIDENCE_LABELS[kind]) if kind in EVIDENCE_LABELS else kind


# --- steps ------------------------------------------------------------------------------------------


def step(session: Session, event: Inbound, ctx: Context, action: str | None) -> Result:
    """Handles one event on the current report step."""
    _ = texts(session).gettext
    if action == "cancel":
        session.draft = None
        session.screen = Screen.MENU
        return Result(session, [menu_reply(session, _("Your report was discarded. Nothing was sent."))])
    if action == "back":
        return _back(session, ctx)
    handler = _STEPS[session.screen]
    return handler(session, event, ctx, action)


def _repeat(session: Session, ctx: Context, reason: str) -> Result:
    return with_notice(Reply(reason), prompt(session, ctx))


def _expect_button(session: Session, ctx: Context) -> Result:
    _ = texts(session).gettext
    return _repeat(session, ctx, _("Please choose one of the options below."))


def _on_category(session: Session, event: Inbound, ctx: Context, action: str | None) -> Result:
    value = (action or "").removeprefix("cat:")
    if action and action.startswith("cat:") and value in Category.__members__.values():
        _draft(session).category = value
        return _advance(session, ctx)
    return _expect_button(session, ctx)


def _on_urgency(session: Session, event: Inbound, ctx: Context, action: str | None) -> Result:
    value = (action or "").removeprefix("urg:")
    if action and action.startswith("urg:") and value in Urgency.__members__.values():
        _draft(session).urgency = value
        notices = [_emergency_notice(session)] if value == Urgency.NOW else []
        return _advance(session, ctx, notices)
    return _expect_button(session, ctx)


def _emergency_notice(session: Session) -> Reply:
    _ = texts(session).gettext
    return Reply(
        _(
            "If anyone is in danger right now, call {emergency} (police) or {ambulance} (ambulance) at once. You "
            "can also call or text the drug-crime line {c04} (24/7). Your report continues below."
        ).format(emergency=EMERGENCY_NUMBER, ambulance=AMBULANCE_NUMBER, c04=C04_HOTLINE)
    )


def _on_province(session: Session, event: Inbound, ctx: Context, action: str | None) -> Result:
    _ = texts(session).gettext
    draft = _draft(session)
    d = directory()
    if action and action.startswith("page:"):
        page = action.removeprefix("page:")
        if page.isdigit():
            draft.province_page = int(page)
            return prompt(session, ctx)
    if action and action.startswith("prov:"):
        code = action.removeprefix("prov:")
        if code.isdigit() and d.province(int(code)) is not None:
            return _set_province(session, int(code), ctx)
    if action and action.startswith("com:"):
        code = action.removeprefix("com:")
        commune = d.commune(int(code)) if code.isdigit() and int(code) in draft.candidates else None
        if commune is not None:
            draft.province_code = commune.province_code
            return _set_commune(session, commune.code, ctx)
    if isinstance(event, Text):
        query = event.text.strip()
        if len(query) > 100:
            return _repeat(session, ctx, _("That is too long for a place name."))
        provinces = d.search_provinces(query)
        if provinces and _clear_winner([p.score for p in provinces]):
            chosen = provinces[0]
            result = _set_province(session, chosen.province.code, ctx)
            if chosen.former:
                note = _("{former} is now part of {province}.").format(former=chosen.former, province=chosen.province.name)
                with_notice(Reply(note), result)
            return result
        matches = d.search(query, limit=COMMUNE_RESULTS)
        if provinces or matches:
            new_prompt(session)
            draft.candidates = [m.commune.code for m in matches]
            rows: list[tuple[Choice, ...]] = [
                (option(session, p.province.name, f"prov:{p.province.code}"),) for p in provinces[:4]
            ]
            rows += [
                (option(session, f"{m.commune.name} ({m.province.name})", f"com:{m.commune.code}"),) for m in matches
            ]
            rows.append(_nav(session))
            return Result(session, [Reply(_("Did you mean one of these?"), tuple(rows))])
        return _repeat(session, ctx, _("I could not find a province or commune called '{query}'.").format(query=query))
    return _expect_button(session, ctx)


def _clear_winner(scores: list[float]) -> bool:
    """True when the best match is exact and no other is: then the citizen need not pick."""
    return bool(scores) and scores[0] >= EXACT and (len(scores) == 1 or scores[1] < EXACT)


def _set_province(session: Session, code: int, ctx: Context) -> Result:
    draft = _draft(session)
    if draft.province_code != code:
        draft.commune_code = None
        draft.commune_unknown = False
    draft.province_code = code
    draft.candidates = []
    session.screen = Screen.COMMUNE
    return prompt(session, ctx)


def _set_commune(session: Session, code: int | None, ctx: Context, notices: list[Reply] | None = None) -> Result:
    draft = _draft(session)
    draft.commune_code = code
    draft.commune_unknown = code is None
    draft.candidates = []
    session.screen = Screen.COMMUNE
    return _advance(session, ctx, notices)


def _typed_place_notice(session: Session, commune_code: int) -> Reply:
    """Says which commune a typed name was taken for, with its province, so a wrong guess is seen at once."""
    _ = texts(session).gettext
    d = directory()
    commune = d.commune(commune_code)
    province = d.province(commune.province_code) if commune else None
    place = {"commune": commune.name if commune else "", "province": province.name if province else ""}
    if _draft(session).editing:  # the review comes next, with its own way to change the place
        return Reply(_("Place noted: {commune}, {province}.").format(**place))
    return Reply(_("Place noted: {commune}, {province}. If that is not right, choose Back.").format(**place))


def _on_commune(session: Session, event: Inbound, ctx: Context, action: str | None) -> Result:
    _ = texts(session).gettext
    draft = _draft(session)
    d = directory()
    if action == "com:unknown":
        return _set_commune(session, None, ctx)
    if action and action.startswith("com:"):
        code = action.removeprefix("com:")
        commune = d.commune(int(code)) if code.isdigit() else None
        if commune is not None and commune.province_code == draft.province_code:
            return _set_commune(session, commune.code, ctx)
        return _expect_button(session, ctx)
    if isinstance(event, Text):
        query = event.text.strip()
        if len(query) > 100:
            return _repeat(session, ctx, _("That is too long for a commune name."))
        matches = d.search(query, province_code=draft.province_code, limit=COMMUNE_RESULTS)
        if matches and _clear_winner([m.score for m in matches]):
            found = matches[0].commune.code
            return _set_commune(session, found, ctx, [_typed_place_notice(session, found)])
        draft.candidates = [m.commune.code for m in matches]
        if not matches:
            province = d.province(draft.province_code or 0)
            return _repeat(
                session,
                ctx,
                _("No commune or ward in {province} matches '{query}'. Check the name and try again.").format(
                    province=province.name if province else "", query=query
                ),
            )
        return prompt(session, ctx)
    return _repeat(session, ctx, _("Please type the name of the commune or ward, or choose one of the options."))


# What can give a sender away, and is held until they choose to keep it.
REVEALING_MEDIA = frozenset({"voice", "video_note"})


def _ask_to_keep(session: Session, warning: str) -> Result:
    """Warns in one line and asks whether to keep what was just sent (nothing of it is kept before)."""
    _ = texts(session).gettext
    new_prompt(session)
    choices = ((option(session, _("Keep it"), "pending:keep"), option(session, _("Remove it"), "pending:drop")),)
    return Result(session, [Reply(warning, choices)])


def _settle_pending(session: Session, ctx: Context, action: str | None) -> Result | None:
    """Keeps or drops what was held back; anything else drops it and goes on as usual (None)."""
    _ = texts(session).gettext
    draft = _draft(session)
    if draft.pending_media is None and draft.pending_location is None:
        return None
    media, location = draft.pending_media, draft.pending_location
    draft.pending_media = draft.pending_location = None
    if action == "pending:keep":
        if location is not None:
            draft.latitude, draft.longitude = location
        if media is not None and len(draft.evidence) < EVIDENCE_MAX_ITEMS:
            draft.evidence.append(media)
        return _repeat(session, ctx, _("Kept."))
    if action == "pending:drop":
        return _repeat(session, ctx, _("Removed: it was not kept."))
    return None


def _hold_location(session: Session, event: Location) -> Result:
    _ = texts(session).gettext
    _draft(session).pending_location = (event.latitude, event.longitude)
    return _ask_to_keep(
        session,
        _("A shared location shows where you are now, to within a few metres. Keep it with the report only if "
          "that is safe for you."),
    )


def _on_address(session: Session, event: Inbound, ctx: Context, action: str | None) -> Result:
    _ = texts(session).gettext
    draft = _draft(session)
    settled = _settle_pending(session, ctx, action)
    if settled is not None:
        return settled
    if action == "next":
        return _advance(session, ctx)
    if isinstance(event, Location):
        return _hold_location(session, event)
    if isinstance(event, Text):
        text = event.text.strip()
        if len(text) > ADDRESS_MAX_CHARS:
            return _repeat(
                session,
                ctx,
                _("That is {count} characters; the limit here is {limit}. Put the details in the description instead.")
                .format(count=len(text), limit=ADDRESS_MAX_CHARS),
            )
        if text:
            draft.address = text
            return _advance(session, ctx)
    if isinstance(event, Media):
        return _repeat(session, ctx, _("Files and photos come at the evidence step. Please type an address here."))
    return _repeat(session, ctx, _("Please type an address or landmark, share a location, or choose Skip."))


def _on_description(session: Session, event: Inbound, ctx: Context, action: str | None) -> Result:
    t = texts(session)
    _ = t.gettext
    draft = _draft(session)
    if action == "next":
        if len(draft.description_text.strip()) < DESCRIPTION_MIN_CHARS:
            return _repeat(session, ctx, _("Please write at least a few words about what you saw."))
        return _advance(session, ctx)
    if action == "clear":
        draft.description = []
        return _repeat(session, ctx, _("The description was cleared."))
    if isinstance(event, Text):
        text = event.text.strip()
        if not text:
            return _repeat(session, ctx, _("The message was empty."))
        total = len(draft.description_text) + len(text) + (1 if draft.description else 0)
        if total > DESCRIPTION_MAX_CHARS:
            return _repeat(
                session,
                ctx,
                _(
                    "That message would make the description {total} characters long, {over} over the limit of "
                    "{limit}. Please shorten it; what you sent before is kept."
                ).format(
                    total=t.number(total), over=t.number(total - DESCRIPTION_MAX_CHARS), limit=t.number(DESCRIPTION_MAX_CHARS)
                ),
            )
        draft.description.append(text)
        return prompt(session, ctx)
    if isinstance(event, Media):
        return _repeat(session, ctx, _("Photos and files come at the next step. Please describe in words here."))
    return _repeat(session, ctx, _("Please describe what you know in a text message."))


def media_problem(session: Session, media: Media) -> str | None:
    """Why an attachment cannot be kept, or None when it can."""
    _ = texts(session).gettext
    if media.size is not None and media.size > EVIDENCE_MAX_BYTES:
        return _("That file is too large ({mb} MB). The limit is {limit} MB per file.").format(
            mb=texts(session).number(round(media.size / (1024 * 1024), 1)), limit=EVIDENCE_MAX_BYTES // (1024 * 1024)
        )
    return None


def _on_evidence(session: Session, event: Inbound, ctx: Context, action: str | None) -> Result:
    _ = texts(session).gettext
    draft = _draft(session)
    settled = _settle_pending(session, ctx, action)
    if settled is not None:
        return settled
    if action == "next":
        return _advance(session, ctx)
    items: list[EvidenceItem] = []
    if isinstance(event, Media):
        problem = media_problem(session, event)
        if problem:
            return _repeat(session, ctx, problem)
        # The original file name can name a person or a phone: it is never kept.
        item = EvidenceItem(kind=event.kind, ref=event.ref, size=event.size, mime=event.mime)
        if event.kind in REVEALING_MEDIA:
            draft.pending_media = item
            return _ask_to_keep(
                session,
                _("A voice note or a round video carries your voice or your face. Moderators hear and see it; the "
                  "police unit does not. Keep it only if that is safe for you."),
            )
        items.append(item)
    elif isinstance(event, Text):
        links = [match.group(0) for match in _URL.finditer(event.text)]
        if not links:
            return _repeat(session, ctx, _("Please send a photo, file or link here. To change the description, choose Back."))
        items.extend(EvidenceItem(kind="link", ref=link[:500]) for link in links)
    elif isinstance(event, Location):
        return _hold_location(session, event)
    else:
        return _expect_button(session, ctx)
    room = EVIDENCE_MAX_ITEMS - len(draft.evidence)
    if room <= 0:
        return _repeat(session, ctx, _("You have already sent the maximum of {items} items.").format(items=EVIDENCE_MAX_ITEMS))
    draft.evidence.extend(items[:room])
    if any(item.kind == "document" and item.mime != "application/pdf" for item in items[:room]):
        notice = _(
            "Files of this kind can hold details about who made them: only the moderators will see it, not the "
            "police unit."
        )
        return _repeat(session, ctx, notice)
    return prompt(session, ctx)


def _on_review(session: Session, event: Inbound, ctx: Context, action: str | None) -> Result:
    if action == "confirm":
        return Result(session, [], SubmitTip())
    if action == "edit":
        session.screen = Screen.EDIT
        return prompt(session, ctx)
    return _expect_button(session, ctx)


_EDIT_TARGETS = {
    "edit:category": Screen.CATEGORY,
    "edit:urgency": Screen.URGENCY,
    "edit:place": Screen.PROVINCE,
    "edit:address": Screen.ADDRESS,
    "edit:description": Screen.DESCRIPTION,
    "edit:evidence": Screen.EVIDENCE,
}


def _on_edit(session: Session, event: Inbound, ctx: Context, action: str | None) -> Result:
    target = _EDIT_TARGETS.get(action or "")
    if target is None:
        return _expect_button(session, ctx)
    draft = _draft(session)
    draft.editing = True
    if target == Screen.PROVINCE:
        draft.province_code = None
        draft.commune_code = None
        draft.commune_unknown = False
    session.screen = target
    return prompt(session, ctx)


_STEPS = {
    Screen.CATEGORY: _on_category,
    Screen.URGENCY: _on_urgency,
    Screen.PROVINCE: _on_province,
    Screen.COMMUNE: _on_commune,
    Screen.ADDRESS: _on_address,
    Screen.DESCRIPTION: _on_description,
    Screen.EVIDENCE: _on_evidence,
    Screen.REVIEW: _on_review,
    Screen.EDIT: _on_edit,
}
