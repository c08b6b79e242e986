"""Core messages as Bot API parameters: HTML-escaped text, inline keyboards, long text split."""

from __future__ import annotations

import html
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from tipline.replies import Choice

from .callbacks import pack

MAX_TEXT = 4096


def keyboard(choices: tuple[tuple[Choice, ...], ...]) -> InlineKeyboardMarkup | None:
    if not choices:
        return None
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(choice.label, callback_data=pack(choice.action)) for choice in row] for row in choices]
    )


def keyboard_json(choices: tuple[tuple[Choice, ...], ...]) -> dict[str, Any] | None:
    """The same keyboard as the Bot API's JSON, for calls that skip building python-telegram-bot objects."""
    if not choices:
        return None
    return {"inline_keyboard": [[{"text": c.label, "callback_data": pack(c.action)} for c in row] for row in choices]}


def chunks(text: str, limit: int = MAX_TEXT) -> list[str]:
    """Splits plain text at line breaks so that each escaped piece fits in one message."""
    pieces: list[str] = []
    current = ""
    for line in text.split("\n"):
        candidate = f"{current}\n{line}" if current else line
        if len(html.escape(candidate, quote=False)) <= limit:
            current = candidate
            continue
        if current:
            pieces.append(current)
        while len(html.escape(line, quote=False)) > limit:
            cut = limit // 6  # worst case: every character escapes to '&quot;'-sized entities
            pieces.append(line[:cut])
            line = line[cut:]
        current = line
    if current or not pieces:
        pieces.append(current or "…")
    return [html.escape(piece, quote=False) for piece in pieces]
