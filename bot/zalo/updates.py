"""Zalo Bot Platform updates: the one place their JSON is read.

An update arrives the same way from ``getUpdates`` and from a webhook POST, in one of two shapes:
``{"ok": true, "result": {"event_name": ..., "message": {...}}}`` (what Zalo documents) or the bare
``{"event_name": ..., "message": {...}}`` (what some integrations see). :func:`parse_update` takes
both and turns them into a :class:`ZaloUpdate`, or None for anything malformed: input from outside
never raises here.

Privacy: a ``ZaloUpdate`` keeps no display name, and its ``repr`` shows no id, text or URL, so an
update that ends up in a log line or a traceback gives no one away.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field
from typing import Any, Final

__all__ = [
    "EVENT_IMAGE",
    "EVENT_STICKER",
    "EVENT_TEXT",
    "EVENT_UNSUPPORTED",
    "EVENT_VOICE",
    "SECRET_HEADER",
    "ZaloUpdate",
    "parse_update",
    "secret_matches",
]

EVENT_TEXT: Final = "message.text.received"
EVENT_IMAGE: Final = "message.image.received"
EVENT_STICKER: Final = "message.sticker.received"
EVENT_VOICE: Final = "message.voice.received"
EVENT_UNSUPPORTED: Final = "message.unsupported.received"

#: The header in which Zalo sends the webhook's secret_token.
SECRET_HEADER: Final = "X-Bot-Api-Secret-Token"


@dataclass(frozen=True, slots=True)
class ZaloUpdate:
    """One incoming message. ``event_name`` may be one this code does not know yet (Zalo adds
    events); ``kind`` says which content fields to read."""

    event_name: str
    message_id: str
    chat_type: str  # "PRIVATE" or "GROUP" (GROUP chats are in beta on Zalo)
    date_ms: int
    chat_id: str = field(repr=False)
    sender_id: str = field(repr=False)
    sender_is_bot: bool = False
    text: str | None = field(default=None, repr=False)
    photo_url: str | None = field(default=None, repr=False)
    caption: str | None = field(default=None, repr=False)
    sticker: str | None = field(default=None, repr=False)
    voice_url: str | None = field(default=None, repr=False)

    @property
    def kind(self) -> str:
        """``text``, ``image``, ``sticker``, ``voice``, ``unsupported``, or ``other`` for an event
        name this code does not know."""
        return _KINDS.get(self.event_name, "other")

    @property
    def is_private(self) -> bool:
        return self.chat_type == "PRIVATE"


_KINDS: Final = {
    EVENT_TEXT: "text",
    EVENT_IMAGE: "image",
    EVENT_STICKER: "sticker",
    EVENT_VOICE: "voice",
    EVENT_UNSUPPORTED: "unsupported",
}


def parse_update(payload: object) -> ZaloUpdate | None:
    """The update in ``payload`` (either envelope), or None if it is not a well-formed one."""
    try:
        return _parse(payload)
    except Exception:  # a guard: whatever shape comes in, the caller gets None, never an exception
        return None


def secret_matches(received: str | None, expected: str) -> bool:
    """Whether a webhook request's ``X-Bot-Api-Secret-Token`` is ours, compared in constant time so
    the comparison does not leak how much of a guess was right."""
    if received is None or not expected:
        return False
    return hmac.compare_digest(received.encode(), expected.encode())


def _parse(payload: object) -> ZaloUpdate | None:
    if not isinstance(payload, dict):
        return None
    body: object = payload
    if "result" in payload:
        if payload.get("ok") is not True:
            return None
        body = payload["result"]
    if not isinstance(body, dict):
        return None
    event_name = body.get("event_name")
    message = body.get("message")
    if not isinstance(event_name, str) or not event_name or not isinstance(message, dict):
        return None
    chat, sender = message.get("chat"), message.get("from")
    if not isinstance(chat, dict) or not isinstance(sender, dict):
        return None
    message_id, chat_id, sender_id = _id(message.get("message_id")), _id(chat.get("id")), _id(sender.get("id"))
    chat_type = chat.get("chat_type")
    date_ms = _integer(message.get("date"))
    if message_id is None or chat_id is None or sender_id is None or date_ms is None:
        return None
    if chat_type not in ("PRIVATE", "GROUP"):
        return None
    return ZaloUpdate(
        event_name=event_name,
        message_id=message_id,
        chat_type=chat_type,
        date_ms=date_ms,
        chat_id=chat_id,
        sender_id=sender_id,
        sender_is_bot=sender.get("is_bot") is True,
        text=_text(message.get("text")),
        # Zalo's reference page calls the image URL "photo"; other sources saw "photo_url"
        photo_url=_text(message.get("photo_url")) or _text(message.get("photo")),
        caption=_text(message.get("caption")),
        sticker=_text(message.get("sticker")),
        voice_url=_text(message.get("voice_url")),
    )


def _id(value: Any) -> str | None:
    """Ids are strings on Zalo; a number is taken as its decimal string, anything else refused."""
    if isinstance(value, str):
        return value or None
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


def _integer(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None
