"""Subscribing to prevention messages: place (typed, the intake's search), commune or the whole province,
audience, language, then an explicit yes. ``/unsubscribe``, the words "dừng" / "stop" and the Stop button under
every campaign message stop at once, and the bot says so.

The subscription is apart from any tip (see ``tipline.outreach.subscriptions``); this module only asks the
questions and hands the service a ``JoinOutreach`` or ``LeaveOutreach`` effect.
"""

from __future__ import annotations

import unicodedata

from tipline.citizen.choices import menu_reply, new_prompt, option, texts, with_notice
from tipline.citizen.effects import Context, JoinOutreach, LeaveOutreach, Result
from tipline.citizen.session import OutreachDraft, Screen, Session
from tipline.events import Inbound, Text
from tipline.outreach.model import AUDIENCES, Preferences
from tipline.outreach.places import AUDIENCE_NAMES, LANGUAGE_NAMES
from tipline.places.communes import directory
from tipline.replies import Choice, Reply

COMMANDS = frozenset({"subscribe", "unsubscribe"})
SCREENS = frozenset(
    {Screen.SUB_PLACE, Screen.SUB_COMMUNE, Screen.SUB_AUDIENCE, Screen.SUB_LANGUAGE, Screen.SUB_CONFIRM}
)
START = "sub:start"  # a menu entry: start subscribing (from the library)
STOP = "sub:stop"  # a menu entry: the Stop button under campaign messages
# Whole messages that stop prevention messages (compared after lower-casing, with their diacritics: "đúng"
# typed without them is "dung" and would be read as a stop word, so only these exact forms count).
STOP_WORDS = frozenset({"dừng", "dung", "stop", "dừng lại", "dung lai", "hủy đăng ký", "huy dang ky", "unsubscribe"})
PLACE_RESULTS = 6
EXACT = 0.999
WEEKLY_CAP_SHOWN = 3
AUDIENCE_LABELS = AUDIENCE_NAMES


def owns(action: str) -> bool:
    return action in (START, STOP)


def is_stop_word(text: str) -> bool:
    words = " ".join(unicodedata.normalize("NFC", text).lower().strip(" .!").split())
    return words in STOP_WORDS


def stop_by_word(session: Session) -> Result:
    return Result(session, [], LeaveOutreach("word"))


def command(session: Session, name: str, ctx: Context) -> Result:
    if name == "unsubscribe":
        return Result(session, [], LeaveOutreach("unsubscribe"))
    return begin(session, ctx)


def global_action(session: Session, action: str, ctx: Context) -> Result:
    if action == STOP:
        return Result(session, [], LeaveOutreach("button"))
    return begin(session, ctx)


def begin(session: Session, ctx: Context) -> Result:
    if not ctx.traits.campaigns:
        # Subscribing where nothing would ever arrive would be a promise broken: say where they are sent.
        _ = texts(session).gettext
        session.outreach = None
        session.screen = Screen.MENU
        text = _(
            "Prevention messages are sent on Telegram only: here the bot may write to you only after you "
            "wrote to it. To receive them, open our Telegram bot and send /subscribe there. Here you can read "
            "about drugs and getting help at any time."
        )
        return Result(session, [menu_reply(session, text)])
    session.outreach = OutreachDraft(lang=session.lang)
    session.screen = Screen.SUB_PLACE
    return prompt(session, ctx)


def _draft(session: Session) -> OutreachDraft:
    if session.outreach is None:
        session.outreach = OutreachDraft(lang=session.lang)
    return session.outreach


def _cancel_row(session: Session) -> tuple[Choice, ...]:
    _ = texts(session).gettext
    return (option(session, _("✖️ Cancel"), "sub:cancel"),)


def prompt(session: Session, ctx: Context) -> Result:
    """Asks the question of the current subscription step."""
    t = texts(session)
    _ = t.gettext
    draft = _draft(session)
    new_prompt(session)
    d = directory()
    screen = session.screen
    if screen == Screen.SUB_PLACE:
        rows: list[tuple[Choice, ...]] = []
        for code in draft.candidates:
            commune = d.commune(code)
            province = d.province(commune.province_code) if commune else None
            if commune and province:
                rows.append((option(session, f"{commune.name} ({province.name})", f"com:{code}"),))
        text = (
            _("Did you mean one of these? You can also type the name again.") if rows else _(
                "Prevention messages: short warnings and advice about drugs for where you live, at most {cap} a "
                "week, never at night.\n\nWhich province or city do you live in? Type its name (for example: Cần "
                "Thơ), or your commune or ward. Typing without diacritics is fine."
            ).format(cap=WEEKLY_CAP_SHOWN)
        )
        return Result(session, [Reply(text, (*rows, _cancel_row(session)))])
    if screen == Screen.SUB_COMMUNE:
        province = d.province(draft.province_code or 0)
        rows = []
        for code in draft.candidates:
            commune = d.commune(code)
            if commune is not None:
                rows.append((option(session, d.label(commune), f"com:{code}"),))
        rows.append((option(session, _("🌐 The whole province"), "com:all"),))
        text = (
            _("Choose your commune or ward in {province}, or type the name again:") if draft.candidates
            else _("Type the name of your commune or ward in {province}, or choose the whole province.")
        ).format(province=province.name if province else "")
        return Result(session, [Reply(text, (*rows, _cancel_row(session)))])
    if screen == Screen.SUB_AUDIENCE:
        rows = [(option(session, _(label), f"aud:{code}"),) for code, label in AUDIENCE_LABELS.items()]
        text = _("Which messages suit you best?")
        return Result(session, [Reply(text, (*rows, _cancel_row(session)))])
    if screen == Screen.SUB_LANGUAGE:
        rows = [(option(session, label, f"lang:{code}"),) for code, label in LANGUAGE_NAMES.items()]
        return Result(session, [Reply(_("In which language?"), (*rows, _cancel_row(session)))])
    # the confirmation: exactly what is agreed to
    province = d.province(draft.province_code or 0)
    commune = d.commune(draft.commune_code) if draft.commune_code else None
    place = f"{commune.name}, {province.name}" if commune and province else (province.name if province else "")
    text = _(
        "Please check:\n• Place: {place}\n• For: {audience}\n• Language: {language}\n\n"
        "You will receive at most {cap} prevention messages a week, never between 21:00 and 07:00. To receive "
        "them we keep a sealed reference to this chat, for this only: it is never linked to any tip. You can stop "
        "at any time with /unsubscribe or by sending “dừng”."
    ).format(
        place=place,
        audience=_(AUDIENCE_LABELS.get(draft.audience or "general", AUDIENCE_LABELS["general"])),
        language=LANGUAGE_NAMES.get(draft.lang or session.lang, ""),
        cap=WEEKLY_CAP_SHOWN,
    )
    rows = [(option(session, _("✅ Yes, send me prevention messages"), "sub:yes"),), _cancel_row(session)]
    return Result(session, [Reply(text, tuple(rows))])


def _repeat(session: Session, ctx: Context, reason: str) -> Result:
    return with_notice(Reply(reason), prompt(session, ctx))


def step(session: Session, event: Inbound, ctx: Context, action: str | None) -> Result:
    """One answer on the current subscription step."""
    _ = texts(session).gettext
    draft = _draft(session)
    d = directory()
    if action == "sub:cancel":
        session.outreach = None
        session.screen = Screen.MENU
        return Result(session, [menu_reply(session, _("Cancelled. You are not subscribed to anything new."))])
    screen = session.screen
    if screen in (Screen.SUB_PLACE, Screen.SUB_COMMUNE) and action and action.startswith("com:"):
        value = action.removeprefix("com:")
        if value == "all" and screen == Screen.SUB_COMMUNE:
            return _set_commune(session, None, ctx)
        commune = d.commune(int(value)) if value.isdigit() and int(value) in draft.candidates else None
        if commune is not None:
            draft.province_code = commune.province_code
            return _set_commune(session, commune.code, ctx)
        return _repeat(session, ctx, _("Please choose one of the options below."))
    if screen == Screen.SUB_PLACE and isinstance(event, Text):
        query = event.text.strip()
        if not query or len(query) > 100:
            return _repeat(session, ctx, _("Please type the name of a province, city, commune or ward."))
        provinces = d.search_provinces(query)
        if provinces and provinces[0].score >= EXACT and (len(provinces) == 1 or provinces[1].score < EXACT):
            draft.province_code = provinces[0].province.code
            draft.candidates = []
            session.screen = Screen.SUB_COMMUNE
            return prompt(session, ctx)
        matches = d.search(query, limit=PLACE_RESULTS)
        if matches and matches[0].score >= EXACT and (len(matches) == 1 or matches[1].score < EXACT):
            draft.province_code = matches[0].commune.province_code
            return _set_commune(session, matches[0].commune.code, ctx)
        if provinces and not matches:
            draft.province_code = provinces[0].province.code
            draft.candidates = []
            session.screen = Screen.SUB_COMMUNE
            return prompt(session, ctx)
        draft.candidates = [m.commune.code for m in matches]
        if not matches:
            return _repeat(session, ctx, _("I could not find a place called '{query}'.").format(query=query))
        return prompt(session, ctx)
    if screen == Screen.SUB_COMMUNE and isinstance(event, Text):
        query = event.text.strip()
        if not query or len(query) > 100:
            return _repeat(session, ctx, _("Please type the name of your commune or ward."))
        matches = d.search(query, province_code=draft.province_code, limit=PLACE_RESULTS)
        if matches and matches[0].score >= EXACT and (len(matches) == 1 or matches[1].score < EXACT):
            return _set_commune(session, matches[0].commune.code, ctx)
        draft.candidates = [m.commune.code for m in matches]
        if not matches:
            province = d.province(draft.province_code or 0)
            return _repeat(
                session, ctx,
                _("No commune or ward in {province} matches '{query}'. Check the name and try again.").format(
                    province=province.name if province else "", query=query
                ),
            )
        return prompt(session, ctx)
    if screen == Screen.SUB_AUDIENCE and action and action.startswith("aud:") and action[4:] in AUDIENCES:
        draft.audience = action[4:]
        session.screen = Screen.SUB_LANGUAGE
        return prompt(session, ctx)
    if screen == Screen.SUB_LANGUAGE and action and action.startswith("lang:") and action[5:] in LANGUAGE_NAMES:
        draft.lang = action[5:]
        session.screen = Screen.SUB_CONFIRM
        return prompt(session, ctx)
    if screen == Screen.SUB_CONFIRM and action == "sub:yes" and draft.province_code is not None:
        prefs = Preferences(draft.province_code, draft.commune_code, draft.audience or "general", draft.lang or "vi")
        return Result(session, [], JoinOutreach(prefs))
    return _repeat(session, ctx, _("Please choose one of the options below."))


def _set_commune(session: Session, code: int | None, ctx: Context) -> Result:
    draft = _draft(session)
    draft.commune_code = code
    draft.candidates = []
    session.screen = Screen.SUB_AUDIENCE
    return prompt(session, ctx)


def after_join(session: Session, event: str) -> Result:
    _ = texts(session).gettext
    session.outreach = None
    session.screen = Screen.MENU
    text = (
        _("Done: your choices were updated.") if event == "change"
        else _("Done: nothing changed, you are already subscribed with these choices.") if event == "same"
        else _("Thank you: you are subscribed to prevention messages. Send /unsubscribe or “dừng” at any time to stop.")
    )
    return Result(session, [menu_reply(session, text)])


def after_leave(session: Session, stopped: bool) -> Result:
    _ = texts(session).gettext
    session.outreach = None
    if session.screen in SCREENS:
        session.screen = Screen.MENU
    text = (
        _("Done: you will receive no more prevention messages, and the link to this chat was deleted. You can "
          "subscribe again at any time with /subscribe.") if stopped
        else _("This chat does not receive prevention messages, so there is nothing to stop. To receive them, "
               "send /subscribe.")
    )
    return Result(session, [menu_reply(session, text)])
