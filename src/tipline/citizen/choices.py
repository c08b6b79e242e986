"""Choices shared by the conversation's screens: turn-stamped options, the menu, notices."""

from __future__ import annotations

from tipline.citizen.effects import Result
from tipline.citizen.session import Session
from tipline.i18n import Translator, translator
from tipline.replies import Choice, Reply

GLOBAL_TURN = "*"


# --- small helpers shared by every screen -----------------------------------------------------------


def tr(session: Session) -> Translator:
    return translator(session.lang)


def option(session: Session, label: str, action: str) -> Choice:
    """A choice valid only for the prompt being built (see ``Session.turn``)."""
    return Choice(label, f"{session.turn}|{action}")


def global_option(label: str, action: str) -> Choice:
    """A choice that keeps working on old messages: the main menu's entries."""
    return Choice(label, f"{GLOBAL_TURN}|{action}")


def new_prompt(session: Session) -> None:
    session.turn += 1


def menu_choices(session: Session) -> tuple[tuple[Choice, ...], ...]:
    _ = tr(session).gettext
    return (
        (global_option(_("📝 Report a tip"), "menu:report"),),
        (global_option(_("🔎 Check a tip"), "menu:status"), global_option(_("➕ Add information"), "menu:followup")),
        (global_option(_("ℹ️ About drugs and getting help"), "menu:info"),),
        (global_option(_("🌐 Language / Ngôn ngữ"), "menu:language"),),
    )


def menu_reply(session: Session, text: str | None = None) -> Reply:
    _ = tr(session).gettext
    return Reply(text or _("What would you like to do?"), menu_choices(session))


def with_notice(notice: Reply, result: Result) -> Result:
    """Puts a short explanation before the result's replies (e.g. why the question is repeated)."""
    result.replies.insert(0, notice)
    return result
