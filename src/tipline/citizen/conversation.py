"""The citizen conversation: a pure function of (session, inbound event) → (session, replies, effect).

Nothing here does I/O. Steps that need storage (submitting a tip, checking a receipt, adding a follow-up,
opting in to updates, forgetting a chat) return an ``Effect``; the service performs it and calls back
into the matching ``after_*`` function here to word the answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from tipline.citizen import intake, prevention, subscribe
from tipline.citizen.choices import (
    choice_key,
    menu_choices,
    menu_reply,
    new_prompt,
    option,
    remember_offer,
    texts,
    typed_choice,
    with_notice,
)
from tipline.citizen.effects import AddFollowup, AnswerTip, CheckReceipt, Context, Forget, Result, Subscribe
from tipline.citizen.receipts import normalize_code
from tipline.citizen.session import FREE_TEXT_SCREENS, Screen, Session
from tipline.events import Command, Inbound, Location, Media, Pick, Text, Unsupported
from tipline.facts import (
    EMERGENCY_NUMBER,
    FOLLOWUP_MAX_CHARS,
)
from tipline.i18n import LANGUAGES
from tipline.replies import MenuEntry, Reply, Step
from tipline.tips import Tip, public_status


def welcome(session: Session) -> Reply:
    _ = texts(session).gettext
    text = _(
        "Welcome to the drug-crime tip line.\n\n"
        "Here you can report drug crime anonymously, check on your report with a code, and find information "
        "about drugs and where to get help.\n\n"
        "Anonymous here means: no name, phone number or account travels with your tip. Staff and police read "
        "what you send, not who you are. The messaging app itself knows which account wrote to us.\n\n"
        "In an emergency call {emergency}."
    ).format(emergency=EMERGENCY_NUMBER)
    return Reply(text, menu_choices(session))


def help_reply(session: Session) -> Reply:
    _ = texts(session).gettext
    text = _(
        "Commands:\n"
        "/report: report a tip\n"
        "/status: check a tip with its code and passphrase\n"
        "/followup: add information to a tip\n"
        "/info: about drugs and getting help\n"
        "/language: change the language\n"
        "/cancel: stop what you are doing\n"
        "/forget: remove this chat's link to your tips and its saved data\n\n"
        "In an emergency call {emergency}."
    ).format(emergency=EMERGENCY_NUMBER)
    return Reply(text, menu_choices(session))


# --- the dispatcher ---------------------------------------------------------------------------------


def handle(session: Session, event: Inbound, ctx: Context, *, owned: bool = False) -> Result:
    """Answers one inbound event. The given session is not modified; the result carries the new one.

    ``owned``: the caller hands the session over (it was just read and nothing else holds it), so it is
    changed in place instead of copied first (a deep copy cost more than many a step).
    """
    if not owned:
        session = session.model_copy(deep=True)
    return remember_offer(_dispatch(session, typed_choice(session, event, ctx), ctx))


# Commands typed as plain words on channels without buttons (Zalo, the console), where people seldom type a
# slash, and at the menu on every channel (nothing there could take the word as an answer). Only a message that is exactly the word counts (folded: with or without diacritics, any case, "huỷ"
# or "hủy"), so a sentence that merely contains it stays text. Keys are folded as ``choice_key`` folds.
WORD_COMMANDS = {
    "tra cuu": "status",
    "bo sung": "followup",
    "huy": "cancel",
    "bao tin": "report",
    "tro giup": "help",
}
# The same words typed as slash commands, without their space ("/tracuu", "/huỷ").
_COMMAND_ALIASES = {word.replace(" ", ""): name for word, name in WORD_COMMANDS.items()}


def word_command(text: str) -> str | None:
    """The command a message names when it is nothing but one of ``WORD_COMMANDS``."""
    return WORD_COMMANDS.get(choice_key(text))


def _dispatch(session: Session, event: Inbound, ctx: Context) -> Result:
    if isinstance(event, Text) and (not ctx.traits.buttons or session.screen == Screen.MENU):
        word = word_command(event.text)
        if word is not None:
            event = Command(word)
    if isinstance(event, Command):
        return _command(session, event, ctx)
    if ctx.first_contact and not isinstance(event, Pick):
        # Zalo has no /start: whatever a new chat says first ("Xin chào"), it is greeted as /start would be,
        # with what the bot is, what anonymity means here and the emergency number.
        return _command(session, Command("start"), ctx)
    question = session.private.question
    if question is not None and question.until <= ctx.now:
        session.private.question = question = None
    if isinstance(event, Text) and session.screen not in FREE_TEXT_SCREENS and subscribe.is_stop_word(event.text):
        return subscribe.stop_by_word(session)
    if isinstance(event, Text) and question is not None and event.reply_to == question.message:
        # A reply to the very message that carried the team's question (kept sealed by the service).
        text = event.text.strip()
        if text and len(text) <= FOLLOWUP_MAX_CHARS:
            return Result(session, [], AnswerTip(question.code, text))
    if isinstance(event, Text) and question is not None and not ctx.traits.reply_to and session.screen == Screen.MENU:
        # Channels where nobody can reply to one message (Zalo): while the team's question is open, the next
        # free text typed at the menu is the answer (a typed number or option word was already read as a choice,
        # commands are handled above). The question closes with it; /followup still adds more.
        text = event.text.strip()
        if len(text) > FOLLOWUP_MAX_CHARS:
            return with_notice(Reply(_too_long(session, len(text))), reprompt(session, ctx))
        if text:
            session.private.question = None
            return Result(session, [], AnswerTip(question.code, text))
    if isinstance(event, Pick):
        action = event.action
        if isinstance(action, MenuEntry):
            return _global_action(session, action.name, ctx)
        if not isinstance(action, Step) or action.turn != session.turn:
            _ = texts(session).gettext
            notice = Reply(_("That choice belongs to an older message. Here is where we are now:"))
            return with_notice(notice, reprompt(session, ctx))
        return _screen(session, event, ctx, action.name)
    return _screen(session, event, ctx, None)


def _command(session: Session, event: Command, ctx: Context) -> Result:
    name = event.name.lower()
    name = _COMMAND_ALIASES.get(choice_key(name).replace(" ", ""), name)
    _ = texts(session).gettext
    if name == "start":
        if session.draft is not None and session.screen not in (Screen.MENU,):
            session.screen = Screen.MENU
            notice = Reply(_("You have an unfinished report. Choose 'Report a tip' to continue it, or /cancel."))
            return Result(session, [welcome(session), notice])
        session.screen = Screen.MENU
        return Result(session, [welcome(session)])
    if name in ("report", "tip", "baotin"):
        return _global_action(session, "menu:report", ctx)
    if name == "status":
        return _start_lookup(session, "status", event.args)
    if name == "followup":
        return _start_lookup(session, "followup", event.args)
    if name in ("info", "help_me"):
        return _global_action(session, "menu:info", ctx)
    if name == "language":
        return _global_action(session, "menu:language", ctx)
    if name == "help":
        return Result(session, [help_reply(session)])
    if name in ("privacy", "rieng_tu"):
        return Result(session, [privacy_reply(session)])
    if name in subscribe.COMMANDS:
        return subscribe.command(session, name, ctx)
    if name == "cancel":
        had_draft = session.draft is not None
        session.draft = None
        _clear_lookup(session)
        session.private.optin_code = None
        session.screen = Screen.MENU
        text = _("Your report was discarded. Nothing was sent.") if had_draft else _("Cancelled.")
        return Result(session, [menu_reply(session, text)])
    if name == "forget":
        return Result(session, [], Forget())
    unknown = Reply(_("I don't know the command /{name}. Send /help to see what I can do.").format(name=event.name))
    return with_notice(unknown, reprompt(session, ctx))


def _global_action(session: Session, action: str, ctx: Context) -> Result:
    _ = texts(session).gettext
    if action == "menu:report":
        if session.draft is not None and session.screen in intake.REPORT_SCREENS:
            notice = Reply(_("Let's continue your report where you left it."))
            return with_notice(notice, reprompt(session, ctx))
        if session.draft is not None:
            return with_notice(Reply(_("Let's continue your unfinished report.")), intake.resume(session, ctx))
        return intake.begin(session, ctx)
    if action == "menu:status":
        return _start_lookup(session, "status", "")
    if action == "menu:followup":
        return _start_lookup(session, "followup", "")
    if action == "menu:info":
        return prevention.open_library(session)
    if prevention.owns(action):
        return prevention.global_action(session, action, ctx)
    if subscribe.owns(action):
        return subscribe.global_action(session, action, ctx)
    if action == "menu:language":
        session.screen = Screen.LANGUAGE
        new_prompt(session)
        choices = tuple((option(session, label, f"lang:{code}"),) for code, label in _LANGUAGE_NAMES.items())
        return Result(session, [Reply(_("Choose a language:"), choices)])
    return with_notice(Reply(_("That choice is no longer available.")), reprompt(session, ctx))


_LANGUAGE_NAMES = {"vi": "Tiếng Việt", "en": "English"}


def reprompt(session: Session, ctx: Context) -> Result:
    """Repeats the question of the current screen."""
    screen = session.screen
    if screen in intake.REPORT_SCREENS and session.draft is not None:
        return intake.prompt(session, ctx)
    _ = texts(session).gettext
    if screen == Screen.LOOKUP_CODE:
        return Result(session, [_code_prompt(session)])
    if screen == Screen.LOOKUP_PASSPHRASE:
        return Result(session, [_passphrase_prompt(session)])
    if screen == Screen.FOLLOWUP:
        return Result(session, [_followup_prompt(session)])
    if screen == Screen.OPTIN and _optin_open(session, ctx):
        return Result(session, [optin_prompt(session)])
    if screen == Screen.LANGUAGE:
        return _global_action(session, "menu:language", ctx)
    if screen == Screen.LIBRARY:
        return prevention.reprompt(session, ctx)
    if screen in subscribe.SCREENS:
        return subscribe.prompt(session, ctx)
    session.screen = Screen.MENU
    return Result(session, [menu_reply(session)])


def _screen(session: Session, event: Inbound, ctx: Context, action: str | None) -> Result:
    _ = texts(session).gettext
    if isinstance(event, Unsupported):
        if event.kind == "contact":
            text = _("For your safety we do not keep phone numbers: that contact was not saved.")
        elif event.kind == "unsafe_file":
            text = _("That file could not be read safely, so it was not kept. Please send pictures as photos, or a PDF.")
        elif event.kind == "edited":
            text = _("Edited messages are not picked up. Please send the corrected text as a new message.")
        else:
            text = _("Sorry, I can't use that here (a {kind}).").format(kind=_kind_name(session, event.kind))
        return with_notice(Reply(text), reprompt(session, ctx))
    screen = session.screen
    if screen in intake.REPORT_SCREENS and session.draft is not None:
        return intake.step(session, event, ctx, action)
    if screen == Screen.LANGUAGE and action and action.startswith("lang:"):
        code = action.removeprefix("lang:")
        if code in LANGUAGES:
            session.lang = code
            session.screen = Screen.MENU
            return Result(session, [menu_reply(session, texts(session).gettext("Language changed."))])
    if screen == Screen.LOOKUP_CODE:
        return _on_code(session, event, ctx)
    if screen == Screen.LOOKUP_PASSPHRASE:
        return _on_passphrase(session, event, ctx)
    if screen == Screen.FOLLOWUP:
        return _on_followup(session, event, ctx, action)
    if screen == Screen.OPTIN and not _optin_open(session, ctx):
        session.private.optin_code = session.private.optin_until = None
        session.screen = Screen.MENU
        text = _("The question about updates has expired. To get updates about your tip, check it with /status.")
        return Result(session, [menu_reply(session, text)])
    if screen == Screen.OPTIN:
        if action == "optin:yes" and session.private.optin_code:
            return Result(session, [], Subscribe(session.private.optin_code))
        if action == "optin:no":
            session.private.optin_code = session.private.optin_until = None
            session.screen = Screen.MENU
            text = _(
                "All right: no news will be sent to this chat. You can delete this chat now if you like. To check "
                "your tip later, send /status with your code and passphrase."
            )
            return Result(session, [menu_reply(session, text)])
        return with_notice(Reply(_("Please choose one of the options below.")), reprompt(session, ctx))
    if screen == Screen.LIBRARY:
        return prevention.step(session, event, ctx, action)
    if screen in subscribe.SCREENS:
        return subscribe.step(session, event, ctx, action)
    if screen == Screen.MENU and isinstance(event, Text) and prevention.is_greeting(event.text):
        return Result(session, [menu_reply(session)])
    if screen == Screen.MENU and isinstance(event, Text) and prevention.is_question(event.text):
        return prevention.answer(session, event.text, ctx)
    if isinstance(event, Text | Media | Location):
        if screen == Screen.MENU:
            return Result(session, [menu_reply(session, _("Please choose one of the options below, or send /help."))])
        return with_notice(Reply(_("Please choose one of the options below.")), reprompt(session, ctx))
    return with_notice(Reply(_("That choice is no longer available.")), reprompt(session, ctx))


def _kind_name(session: Session, kind: str) -> str:
    _ = texts(session).gettext
    names = {
        "sticker": _("sticker"),
        "poll": _("poll"),
        "dice": _("dice"),
        "game": _("game"),
        "venue": _("venue"),
        "story": _("story"),
        "voice": _("voice message"),
    }
    return names.get(kind, _("message of this kind"))


# --- receipts: /status and /followup ----------------------------------------------------------------


def _clear_lookup(session: Session) -> None:
    session.lookup_purpose = None
    session.private.lookup_code = None
    session.private.followup_code = None


def _code_prompt(session: Session) -> Reply:
    _ = texts(session).gettext
    return Reply(_("Send the tip code you received, for example TL-7K3Q-9XMP. Send /cancel to stop."))


def _passphrase_prompt(session: Session) -> Reply:
    _ = texts(session).gettext
    return Reply(
        _("Now send the passphrase that came with code {code}. Delete the message afterwards if you like.").format(
            code=session.private.lookup_code
        )
    )


def _followup_prompt(session: Session) -> Reply:
    _ = texts(session).gettext
    new_prompt(session)
    return Reply(
        _(
            "Send what you want to add to {code}: text (up to {limit} characters per message), photos, videos, "
            "files or links. Each message is added as you send it. Choose Done when you have finished."
        ).format(code=session.private.followup_code, limit=texts(session).number(FOLLOWUP_MAX_CHARS)),
        ((option(session, _("✅ Done"), "followup:done"),),),
    )


def _start_lookup(session: Session, purpose: str, args: str) -> Result:
    _clear_lookup(session)
    session.lookup_purpose = "status" if purpose == "status" else "followup"
    session.screen = Screen.LOOKUP_CODE
    code = normalize_code(args) if args.strip() else None
    if code:
        session.private.lookup_code = code
        session.screen = Screen.LOOKUP_PASSPHRASE
        return Result(session, [_passphrase_prompt(session)])
    replies = []
    if args.strip():
        replies.append(Reply(texts(session).gettext("That does not look like a tip code. Codes look like TL-7K3Q-9XMP.")))
    return Result(session, [*replies, _code_prompt(session)])


def _on_code(session: Session, event: Inbound, ctx: Context) -> Result:
    _ = texts(session).gettext
    if not isinstance(event, Text):
        return with_notice(Reply(_("Please type the code as text.")), reprompt(session, ctx))
    code = normalize_code(event.text)
    if code is None:
        return with_notice(
            Reply(_("That does not look like a tip code. Codes look like TL-7K3Q-9XMP.")), reprompt(session, ctx)
        )
    session.private.lookup_code = code
    session.screen = Screen.LOOKUP_PASSPHRASE
    return Result(session, [_passphrase_prompt(session)])


def _on_passphrase(session: Session, event: Inbound, ctx: Context) -> Result:
    _ = texts(session).gettext
    if not isinstance(event, Text) or not event.text.strip() or len(event.text) > 100:
        return with_notice(Reply(_("Please type the passphrase as text.")), reprompt(session, ctx))
    assert session.private.lookup_code is not None and session.lookup_purpose is not None
    return Result(session, [], CheckReceipt(session.lookup_purpose, session.private.lookup_code, event.text))


def _on_followup(session: Session, event: Inbound, ctx: Context, action: str | None) -> Result:
    _ = texts(session).gettext
    code = session.private.followup_code
    if code is None:
        session.screen = Screen.MENU
        return Result(session, [menu_reply(session)])
    if action == "followup:done":
        _clear_lookup(session)
        session.screen = Screen.MENU
        return Result(session, [menu_reply(session, _("Thank you for the information. It was added to {code}.").format(code=code))])
    if isinstance(event, Text):
        text = event.text.strip()
        if not text:
            return with_notice(Reply(_("The message was empty.")), reprompt(session, ctx))
        if len(text) > FOLLOWUP_MAX_CHARS:
            return with_notice(Reply(_too_long(session, len(text))), reprompt(session, ctx))
        return Result(session, [], AddFollowup(code, text=text))
    if isinstance(event, Media):
        problem = intake.media_problem(session, event)
        if problem:
            return with_notice(Reply(problem), reprompt(session, ctx))
        return Result(session, [], AddFollowup(code, media=event))
    if isinstance(event, Location):
        text = f"📍 {event.latitude:.6f}, {event.longitude:.6f}"
        return Result(session, [], AddFollowup(code, text=text))
    return with_notice(Reply(_("Please send text or a file, or choose Done.")), reprompt(session, ctx))


def _too_long(session: Session, count: int) -> str:
    t = texts(session)
    return t.gettext("That message is too long ({count} characters; the limit is {limit}). Please split it.").format(
        count=t.number(count), limit=t.number(FOLLOWUP_MAX_CHARS)
    )


# --- continuations after the service performed an effect -------------------------------------------


OPTIN_WINDOW = timedelta(minutes=15)  # how long the question about updates stays open (the link is sealed)


def _optin_open(session: Session, ctx: Context) -> bool:
    until = session.private.optin_until
    return session.private.optin_code is not None and until is not None and ctx.now < until


def offer_updates(session: Session, code: str, ctx: Context) -> None:
    """Opens the question about updates for one tip, for a short while."""
    session.screen = Screen.OPTIN
    session.private.optin_code = code
    session.private.optin_until = ctx.now + OPTIN_WINDOW


def optin_prompt(session: Session) -> Reply:
    _ = texts(session).gettext
    new_prompt(session)
    return Reply(
        _(
            "Shall we send news about this tip to this chat, for example when it reaches the police or if the "
            "team has a question? If yes, this chat stays linked to the tip until the tip is closed or you send "
            "/forget. If no, you can still check it with /status."
        ),
        ((option(session, _("Yes, send me updates"), "optin:yes"), option(session, _("No, thanks"), "optin:no")),),
    )


def after_submit(session: Session, code: str, passphrase: str, ctx: Context) -> Result:
    """The receipt: code and passphrase, shown once, and what happens next; then the question about updates,
    whose answer brings the advice that fits it (keep this chat, or delete it if you like)."""
    _ = texts(session).gettext
    session.draft = None
    offer_updates(session, code, ctx)
    receipt = Reply(
        _(
            "Thank you for the information. Your report was received.\n\n"
            "Tip code: {code}\n"
            "Passphrase: {passphrase}\n\n"
            "The passphrase is shown only this once. Write both down only if you want to check back later "
            "(/status) or add information (/followup), from any chat.\n\n"
            "What happens next: staff review your report and the commune police verify it. They read what you "
            "sent, not who you are. Nobody will phone you or come to see you."
        ).format(code=code, passphrase=passphrase)
    )
    return Result(session, [receipt, optin_prompt(session)])


def after_submit_failed(session: Session, ctx: Context) -> Result:
    _ = texts(session).gettext
    notice = Reply(
        _(
            "Sorry, we could not save your report just now because of a storage problem. Nothing was sent; "
            "your draft is kept. Please choose Confirm again in a few minutes."
        )
    )
    return with_notice(notice, reprompt(session, ctx))


def after_subscribe(session: Session) -> Result:
    _ = texts(session).gettext
    session.private.optin_code = session.private.optin_until = None
    session.screen = Screen.MENU
    text = _(
        "Done: news about this tip will come to this chat. Please keep this chat: deleting it can stop the news. "
        "Send /forget at any time to remove the link."
    )
    return Result(session, [menu_reply(session, text)])


@dataclass(frozen=True)
class StatusView:
    tip: Tip
    messages: list[tuple[str, datetime]]
    province_name: str
    commune_name: str | None
    subscribed: bool = False


def after_receipt_ok(session: Session, view: StatusView, ctx: Context) -> Result:
    t = texts(session)
    _ = t.gettext
    if session.lookup_purpose == "followup":
        session.private.followup_code = view.tip.code
        session.private.lookup_code = None
        session.screen = Screen.FOLLOWUP
        return Result(session, [_followup_prompt(session)])
    _clear_lookup(session)
    session.screen = Screen.MENU
    lines = [
        _("Tip {code}").format(code=view.tip.code),
        _("Status: {status}").format(status=_(public_status(view.tip.status, view.tip.outcome))),
        _("Received: {when}").format(when=t.datetime(view.tip.created_at)),
        _("Last change: {when}").format(when=t.datetime(view.tip.updated_at)),
    ]
    if view.messages:
        lines.append("")
        lines.append(_("Messages for you:"))
        for text, when in view.messages:
            lines.append(f"• {t.datetime(when)}: {text}")
        lines.append(_("To answer, use /followup."))
    if view.tip.is_closed or view.subscribed:
        return Result(session, [menu_reply(session, "\n".join(lines))])
    # Updates can still be asked for here, whether or not the receipt's question was answered.
    offer_updates(session, view.tip.code, ctx)
    return Result(session, [Reply("\n".join(lines)), optin_prompt(session)])


def after_receipt_failed(session: Session, ctx: Context, attempts_left: int, lockout_minutes: int) -> Result:
    t = texts(session)
    session.private.lookup_code = None
    session.screen = Screen.LOOKUP_CODE
    text = t.ngettext(
        "The code and passphrase do not match any tip. You have {n} more try; after that you must wait "
        "{minutes} minutes.",
        "The code and passphrase do not match any tip. You have {n} more tries; after that you must wait "
        "{minutes} minutes.",
        attempts_left,
    ).format(n=attempts_left, minutes=lockout_minutes)
    return Result(session, [Reply(text), _code_prompt(session)])


def after_receipt_slowed(session: Session, ctx: Context, seconds: int) -> Result:
    """Many wrong passphrases were tried for this code (by anyone): the next try has to wait a little."""
    t = texts(session)
    _clear_lookup(session)
    session.screen = Screen.MENU
    text = t.ngettext(
        "Many wrong passphrases have been tried for this code, so tries are slowed down. Please wait {n} second "
        "and try again.",
        "Many wrong passphrases have been tried for this code, so tries are slowed down. Please wait {n} seconds "
        "and try again.",
        seconds,
    ).format(n=seconds)
    return Result(session, [menu_reply(session, text)])


def after_submit_limited(session: Session, ctx: Context, per_day: int) -> Result:
    """A chat confirmed its maximum of tips for the day: the draft is kept for tomorrow."""
    t = texts(session)
    text = t.ngettext(
        "This chat has already sent {n} report today, the most we take in a day. Your draft is kept: please "
        "confirm it tomorrow. In an emergency call {emergency}.",
        "This chat has already sent {n} reports today, the most we take in a day. Your draft is kept: please "
        "confirm it tomorrow. In an emergency call {emergency}.",
        per_day,
    ).format(n=per_day, emergency=EMERGENCY_NUMBER)
    return with_notice(Reply(text), reprompt(session, ctx))


def after_receipt_locked(session: Session, minutes: int) -> Result:
    t = texts(session)
    _clear_lookup(session)
    session.screen = Screen.MENU
    text = t.ngettext(
        "Too many wrong attempts. Please wait {n} minute and try again.",
        "Too many wrong attempts. Please wait {n} minutes and try again.",
        minutes,
    ).format(n=minutes)
    return Result(session, [menu_reply(session, text)])


def after_followup(session: Session, ctx: Context, added: str) -> Result:
    _ = texts(session).gettext
    new_prompt(session)
    note = _("Added to {code}: {what}. Send more, or choose Done.").format(code=session.private.followup_code, what=added)
    return Result(session, [Reply(note, ((option(session, _("✅ Done"), "followup:done"),),))])


def after_answer(session: Session, ctx: Context, code: str) -> Result:
    _ = texts(session).gettext
    text = _("Thank you for the information. Your answer about {code} was passed on to the team.").format(code=code)
    return with_notice(Reply(text), reprompt(session, ctx))


def after_forget(session: Session, removed: int) -> Result:
    t = texts(session)
    fresh = Session(lang=session.lang, turn=session.turn)
    if removed == 0:
        text = t.gettext("Done. Your unfinished report and settings in this chat were deleted. No tip was linked to it.")
        return Result(fresh, [menu_reply(fresh, text)])
    text = t.ngettext(
        "Done. This chat is no longer linked to {n} tip, and your unfinished report and settings here were deleted.",
        "Done. This chat is no longer linked to {n} tips, and your unfinished report and settings here were deleted.",
        removed,
    ).format(n=removed)
    return Result(fresh, [menu_reply(fresh, text)])


def flood_notice(session: Session) -> Reply:
    _ = texts(session).gettext
    return Reply(_("You are sending messages very fast. Please wait a minute; messages sent meanwhile are ignored."))


def draft_expired_notice(session: Session) -> Reply:
    _ = texts(session).gettext
    return Reply(
        _(
            "Your unfinished report was deleted because it was left for more than {hours} hours, to protect "
            "you. You can start again with /report."
        ).format(hours=intake.DRAFT_IDLE_HOURS)
    )


def error_reply(session: Session) -> Reply:
    _ = texts(session).gettext
    return Reply(_("Sorry, something went wrong on our side. Please try again; what you entered so far is kept."))


def privacy_reply(session: Session) -> Reply:
    """What stays private, in plain words (docs/THREAT_MODEL.vi.md is the same, for reading elsewhere)."""
    _ = texts(session).gettext
    text = _(
        "What stays private\n"
        "• No name, phone number or account travels with your tip: staff and police read what you send, not who "
        "you are.\n"
        "• The messaging app itself knows which account wrote to us.\n"
        "• Files lose hidden details (place, device); a location or voice note is kept only if you agree.\n"
        "• A link for updates is locked and goes when the tip closes or with /forget.\n"
        "• Rewards or witness protection need your identity: go to the police directly."
    )
    return Reply(text, menu_choices(session))
