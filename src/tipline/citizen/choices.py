"""Choices shared by the conversation's screens: turn-stamped options, the menu, notices, and choices
typed back on channels without buttons."""

from __future__ import annotations

import functools
import re
from dataclasses import replace

from tipline.citizen.effects import Context, Result
from tipline.citizen.session import FREE_TEXT_SCREENS, Offered, Session
from tipline.events import Inbound, Pick, Text
from tipline.i18n import Translator, translator
from tipline.places.textnorm import fold
from tipline.replies import Choice, MenuEntry, Reply, Step

_NOT_WORD = re.compile(r"[^0-9a-z ]+")


def texts(session: Session) -> Translator:
    """The citizen's language."""
    return translator(session.lang)


def option(session: Session, label: str, action: str) -> Choice:
    """A choice valid only for the prompt being built (see ``Session.turn``)."""
    return Choice(label, Step(action, session.turn))


def global_option(label: str, action: str) -> Choice:
    """A choice that keeps working on old messages: the main menu's entries."""
    return Choice(label, MenuEntry(action))


def new_prompt(session: Session) -> None:
    session.turn += 1


def menu_choices(session: Session) -> tuple[tuple[Choice, ...], ...]:
    _ = texts(session).gettext
    return (
        (global_option(_("📝 Report a tip"), "menu:report"),),
        (global_option(_("🔎 Check a tip"), "menu:status"), global_option(_("➕ Add information"), "menu:followup")),
        (global_option(_("ℹ️ About drugs and getting help"), "menu:info"),),
        (global_option(_("🌐 Language / Ngôn ngữ"), "menu:language"),),
    )


def menu_reply(session: Session, text: str | None = None) -> Reply:
    _ = texts(session).gettext
    return Reply(text or _("What would you like to do?"), menu_choices(session))


def with_notice(notice: Reply, result: Result) -> Result:
    """Puts a short explanation before the result's replies (e.g. why the question is repeated)."""
    result.replies.insert(0, notice)
    return result


@functools.lru_cache(maxsize=4096)  # the same labels come back with every question
def choice_key(label: str) -> str:
    """A label as it may be typed: without diacritics, emoji or punctuation ('✅ Xong' → 'xong')."""
    return " ".join(_NOT_WORD.sub(" ", fold(label)).split())


def remember_offer(result: Result) -> Result:
    """Notes the choices of the last question asked, and whether that question also takes typed words."""
    session = result.session
    for index in range(len(result.replies) - 1, -1, -1):
        reply = result.replies[index]
        if reply.choices:
            free_text = session.screen in FREE_TEXT_SCREENS
            session.offered = [
                Offered(
                    name=choice.action.name if isinstance(choice.action, Step | MenuEntry) else "",
                    key=choice_key(choice.label),
                    turn=choice.action.turn if isinstance(choice.action, Step) else None,
                )
                for choice in reply.flat_choices
            ]
            session.offered_free_text = free_text
            result.replies[index] = replace(reply, free_text=free_text)
            break
    result.replies = [reply if reply.lang == session.lang else replace(reply, lang=session.lang) for reply in result.replies]
    return result


def typed_choice(session: Session, event: Inbound, ctx: Context) -> Inbound:
    """Text that picks one of the offered choices, as a ``Pick``; anything else unchanged.

    A choice's words pick it on every channel. A bare number picks the n-th choice only on channels without
    buttons, and only where the question takes no typed answer: "2" in a description stays text.
    """
    if not isinstance(event, Text) or not session.offered:
        return event
    key = choice_key(event.text)
    if not key:
        return event
    picked: Offered | None = None
    if key.isdigit() and not ctx.traits.buttons and not session.offered_free_text:
        number = int(key)
        if 1 <= number <= len(session.offered):
            picked = session.offered[number - 1]
    else:
        matches = [offer for offer in session.offered if offer.key == key]
        picked = matches[0] if matches else None
    if picked is None or not picked.name:
        return event
    return Pick(MenuEntry(picked.name) if picked.turn is None else Step(picked.name, picked.turn))
