"""The fake Telegram's state: people, chats, messages, files, and a clock.

Everything here is plain data plus the few rules that are about the data itself (who may receive
a message, which file a file_id names). Request handling lives in ``methods.py``; the objects tests
use to act as people live in ``simulation.py``.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import itertools
import mimetypes
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

# ------------------------------------------------------------------------------------- clock


class Clock:
    """Wall-clock time that tests can move forward (``api.advance_time``) to age callback queries
    and messages without sleeping."""

    def __init__(self) -> None:
        self.offset = 0.0

    def now(self) -> float:
        return time.time() + self.offset

    def unix(self) -> int:
        return int(self.now())


class Changes:
    """Wakes everything waiting for the fake Telegram's state to change (new updates for a long
    poll, new bot messages for ``user.wait_for``). Notifying is synchronous, so state changes made
    from plain (non-async) code wake waiters too."""

    def __init__(self) -> None:
        self._waiters: set[asyncio.Future] = set()

    def notify(self) -> None:
        for fut in self._waiters:
            if not fut.done():
                fut.set_result(None)
        self._waiters.clear()

    async def wait(self, timeout: float, *, also: asyncio.Future | None = None) -> None:
        """Return after the next change, after ``timeout`` seconds, or when ``also`` completes."""
        if timeout <= 0:
            return
        fut = asyncio.get_running_loop().create_future()
        self._waiters.add(fut)
        try:
            waitables = {fut} if also is None else {fut, also}
            await asyncio.wait(waitables, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            self._waiters.discard(fut)
            if not fut.done():
                fut.cancel()

    async def until(self, predicate: Callable[[], Any], timeout: float) -> Any:
        """Wait until ``predicate()`` is truthy and return it; return ``None`` on timeout."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            result = predicate()
            if result:
                return result
            remaining = deadline - loop.time()
            if remaining <= 0:
                return None
            await self.wait(remaining)


# ------------------------------------------------------------------------------------- people


@dataclass
class UserRecord:
    id: int
    first_name: str
    last_name: str | None = None
    username: str | None = None
    language_code: str | None = None
    is_bot: bool = False
    is_premium: bool | None = None
    phone_number: str | None = None
    started: bool = False  # has written to the bot, so the bot may write to them
    seen: bool = False  # the bot received something from them (a group message, a button press)
    blocked: bool = False  # blocked the bot
    deactivated: bool = False  # deleted their account

    def json(self) -> dict:
        out: dict[str, Any] = {"id": self.id, "is_bot": self.is_bot, "first_name": self.first_name}
        if self.last_name:
            out["last_name"] = self.last_name
        if self.username:
            out["username"] = self.username
        if self.language_code and not self.is_bot:
            out["language_code"] = self.language_code
        if self.is_premium:
            out["is_premium"] = True
        return out


# -------------------------------------------------------------------------------------- chats


@dataclass
class ChatRecord:
    id: int
    type: str  # private | group | supergroup | channel
    title: str | None = None
    username: str | None = None
    user: UserRecord | None = None  # the other person, for private chats
    is_forum: bool = False
    members: dict[int, str] = field(default_factory=dict)  # user id -> creator/administrator/member/left/kicked
    bot_status: str = "member"  # member | administrator | left | kicked
    messages: dict[int, dict] = field(default_factory=dict)  # message_id -> Message JSON (current state)
    deleted: dict[int, dict] = field(default_factory=dict)
    sent_log: list[dict] = field(default_factory=list)  # snapshots of bot messages, in the order sent
    edit_log: list[dict] = field(default_factory=list)  # snapshots of bot messages after each edit
    topics: dict[int, dict] = field(default_factory=dict)  # message_thread_id -> ForumTopic + "closed"
    reply_keyboard: dict | None = None  # the custom keyboard the person currently sees
    pinned: list[int] = field(default_factory=list)
    chat_instance: str = ""
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1))

    def next_message_id(self) -> int:
        return next(self._ids)

    def json(self) -> dict:
        out: dict[str, Any] = {"id": self.id, "type": self.type}
        if self.type == "private" and self.user is not None:
            out["first_name"] = self.user.first_name
            if self.user.last_name:
                out["last_name"] = self.user.last_name
            if self.user.username:
                out["username"] = self.user.username
        else:
            out["title"] = self.title or ""
            if self.username:
                out["username"] = self.username
            if self.is_forum:
                out["is_forum"] = True
        return out

    def status_of(self, user_id: int) -> str:
        if self.type == "private":
            return "member" if self.user is not None and user_id == self.user.id else "left"
        return self.members.get(user_id, "left")


# -------------------------------------------------------------------------------------- files

_FILE_ID_PREFIX = {
    "photo": "AgACAgIAAxkBAAI",
    "document": "BQACAgIAAxkBAAI",
    "video": "BAACAgIAAxkBAAI",
    "voice": "AwACAgIAAxkBAAI",
    "audio": "CQACAgIAAxkBAAI",
    "sticker": "CAACAgIAAxkBAAI",
    "animation": "CgACAgIAAxkBAAI",
    "video_note": "DQACAgIAAxkBAAI",
}
_FOLDER = {
    "photo": "photos", "document": "documents", "video": "videos", "voice": "voice", "audio": "music",
    "sticker": "stickers", "animation": "animations", "video_note": "video_notes",
}  # fmt: skip
_DEFAULT_MIME = {
    "photo": "image/jpeg", "document": "application/octet-stream", "video": "video/mp4",
    "voice": "audio/ogg", "audio": "audio/mpeg", "sticker": "image/webp", "animation": "video/mp4",
    "video_note": "video/mp4",
}  # fmt: skip
# tdlib's file type classes: a file_id can be re-sent as any type of the same class.
_FILE_CLASS = {"photo": "Photo"}
_KIND_NAME = {
    "photo": "Photo", "document": "Document", "video": "Video", "voice": "VoiceNote", "audio": "Audio",
    "sticker": "Sticker", "animation": "Animation", "video_note": "VideoNote",
}  # fmt: skip

MAX_DOWNLOAD = 20 * 1024 * 1024  # getFile refuses bigger files ("file is too big")


def _random_token(length: int) -> str:
    return base64.urlsafe_b64encode(os.urandom(length)).decode().rstrip("=")[:length]


@dataclass
class StoredFile:
    """One file Telegram knows. ``data`` is None for simulated uploads whose bytes nobody provided:
    they are generated on download (``size`` bytes of a repeating pattern)."""

    file_id: str
    file_unique_id: str
    kind: str
    size: int
    data: bytes | None = None
    file_name: str | None = None
    mime_type: str | None = None
    meta: dict = field(default_factory=dict)  # width/height/duration/... for the Message JSON
    file_path: str | None = None  # assigned by getFile
    siblings: list[StoredFile] = field(default_factory=list)  # photo sizes, smallest first

    def content(self) -> bytes:
        if self.data is not None:
            return self.data
        pattern = (self.file_unique_id.encode() + b"\n") * 8
        return (pattern * (self.size // len(pattern) + 1))[: self.size]

    def json(self) -> dict:
        """The object for a Message (PhotoSize, Document, Video, ...)."""
        out: dict[str, Any] = {"file_id": self.file_id, "file_unique_id": self.file_unique_id}
        out.update(self.meta)
        if self.kind != "photo":
            if self.file_name and self.kind in ("document", "video", "audio", "animation"):
                out["file_name"] = self.file_name
            if self.mime_type and self.kind not in ("sticker", "video_note"):
                out["mime_type"] = self.mime_type
        out["file_size"] = self.size
        return out

    def photo_json(self) -> list[dict]:
        return [f.json() for f in (self.siblings or [self])]


class FileStore:
    def __init__(self) -> None:
        self.by_id: dict[str, StoredFile] = {}
        self.by_path: dict[str, StoredFile] = {}
        self.urls: dict[str, tuple[bytes, str | None]] = {}
        self._paths = itertools.count(1)

    def add(
        self,
        kind: str,
        *,
        size: int | None = None,
        data: bytes | None = None,
        file_name: str | None = None,
        mime_type: str | None = None,
        meta: dict | None = None,
    ) -> StoredFile:
        if size is None:
            size = len(data) if data is not None else 0
        stored = StoredFile(
            file_id=_FILE_ID_PREFIX.get(kind, "BQACAgIAAxkBAAI") + _random_token(56),
            file_unique_id="AgAD" + _random_token(12),
            kind=kind,
            size=size,
            data=data,
            file_name=file_name,
            mime_type=mime_type or (mimetypes.guess_type(file_name)[0] if file_name else None) or _DEFAULT_MIME.get(kind),
            meta=dict(meta or {}),
        )
        self.by_id[stored.file_id] = stored
        return stored

    def add_photo(self, *, size: int, data: bytes | None = None, width: int = 1280, height: int = 960) -> StoredFile:
        """A photo as Telegram stores it: several sizes; the largest is returned (last in ``photo``)."""
        scale = 90 / max(width, height)
        thumb = self.add("photo", size=max(1, min(size, 1500)), meta={"width": max(1, round(width * scale)), "height": max(1, round(height * scale))})
        full = self.add("photo", size=size, data=data, meta={"width": width, "height": height})
        full.siblings = thumb.siblings = [thumb, full]
        return full

    def get(self, file_id: str) -> StoredFile | None:
        return self.by_id.get(file_id)

    def assign_path(self, stored: StoredFile) -> str:
        if stored.file_path is None:
            ext = mimetypes.guess_extension(stored.mime_type or "") or ""
            if stored.file_name and "." in stored.file_name:
                ext = "." + stored.file_name.rsplit(".", 1)[1]
            ext = {".jpe": ".jpg", ".oga": ".ogg"}.get(ext, ext)
            stored.file_path = f"{_FOLDER.get(stored.kind, 'documents')}/file_{next(self._paths)}{ext}"
            self.by_path[stored.file_path] = stored
        return stored.file_path

    @staticmethod
    def compatible(stored: StoredFile, kind: str) -> str | None:
        """None if ``stored`` may be sent as ``kind``, else Telegram's complaint."""
        if _FILE_CLASS.get(stored.kind, "Document") == _FILE_CLASS.get(kind, "Document"):
            return None
        return f"can't use file of type {_KIND_NAME.get(stored.kind, stored.kind)} as {_KIND_NAME.get(kind, kind)}"


def snapshot(value: Any) -> Any:
    """Deep copy handed to tests, so they can't mutate the server's state by accident."""
    return copy.deepcopy(value)


def strip_none(value: Any) -> Any:
    """Drop null fields recursively (Telegram does not echo them; comparisons ignore them)."""
    if isinstance(value, dict):
        return {k: strip_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [strip_none(v) for v in value]
    return value
