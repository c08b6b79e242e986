"""Callback data: short, versioned, validated in one place.

A button carries ``v1:<turn>|<action>``. The version lets buttons already posted keep working (or be
refused politely) after a change; anything that does not parse becomes an empty pick, which the core
answers as a stale button.
"""

from __future__ import annotations

VERSION = "v1"
MAX_BYTES = 64  # Telegram's limit for callback_data


class CallbackTooLong(ValueError):
    pass


def pack(data: str) -> str:
    packed = f"{VERSION}:{data}"
    if len(packed.encode()) > MAX_BYTES:
        raise CallbackTooLong(packed)
    return packed


def unpack(raw: str | None) -> str:
    """The core's choice data, or '' for anything forged, foreign or from an unknown version."""
    if not raw:
        return ""
    version, sep, data = raw.partition(":")
    if version != VERSION or not sep or not data.isprintable() or len(raw.encode()) > MAX_BYTES:
        return ""
    return data
