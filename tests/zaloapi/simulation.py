"""Simulated people: what a test does instead of typing in the Zalo app.

A :class:`SimUser` is one person and their private chat with the bot; a :class:`SimGroup` a group
chat the bot is in. Their actions become updates shaped as Zalo sends them::

    {"event_name": "message.text.received",
     "message": {"message_id": "<20 hex>", "date": <ms>, "text": "...",
                 "chat": {"id": "<20 hex>", "chat_type": "PRIVATE"},
                 "from": {"id": "<20 hex>", "display_name": "Lan", "is_bot": false}}}

queued for the bot's getUpdates, or posted to its webhook. An image carries a URL on this server
(``photo_url``, or ``photo`` with ``image_field="photo"``) that serves a real JPEG with camera EXIF
and GPS tags; a voice note a ``voice_url``; a sticker its id and a ``url``.

Waiting is explicit and bounded: ``await lan.wait_for(n)`` returns the next ``n`` messages the bot
sent to the chat since the person's last action, or fails with an AssertionError that shows what
the bot did instead (including requests Zalo refused).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .photos import HANOI, camera_jpeg, sticker_png
from .world import ChatRecord, UserRecord, new_id, snapshot

if TYPE_CHECKING:
    from .server import FakeZaloApi

__all__ = ["SimGroup", "SimUser"]

# The first bytes of an AAC (ADTS) frame, then silence: enough to be recognised as audio/aac.
_AAC_SILENCE = bytes.fromhex("fff15080021ffc") + bytes(200)


class _ChatView:
    """What a participant sees of one chat, plus the posting and waiting shared by users and groups."""

    def __init__(self, api: FakeZaloApi, chat: ChatRecord) -> None:
        self.api = api
        self.chat = chat
        self._sent_cursor = 0  # index into chat.sent_log

    @property
    def chat_id(self) -> str:
        return self.chat.id

    # --------------------------------------------------------------------------- inspection

    @property
    def inbox(self) -> list[dict[str, Any]]:
        """The bot's messages in this chat, in order: ``{"message_id", "date", "kind", "text"}``,
        ``kind`` ``"photo"`` with ``photo`` (URL) and maybe ``caption``, or ``"sticker"``."""
        return snapshot(self.chat.sent_log)

    @property
    def last(self) -> dict[str, Any] | None:
        """The bot's latest message in this chat, or None."""
        return snapshot(self.chat.sent_log[-1]) if self.chat.sent_log else None

    @property
    def history(self) -> list[dict[str, Any]]:
        """Every message in the chat, from anyone (the bot's have ``"from_bot": True``)."""
        return snapshot(self.chat.messages)

    @property
    def chat_actions(self) -> list[str]:
        """Chat actions (``typing``) the bot sent to this chat, oldest first."""
        return list(self.chat.chat_actions)

    # ------------------------------------------------------------------------------ waiting

    def _mark_action(self) -> None:
        """Everything the bot sends from now on counts as a reaction to this action."""
        self._sent_cursor = len(self.chat.sent_log)

    async def wait_for(self, n: int = 1, timeout: float = 5.0) -> list[dict[str, Any]]:
        """Wait until the bot has sent ``n`` new messages to this chat since the last action here
        (or since the previous ``wait_for``) and return them."""
        start = self._sent_cursor
        got = await self.api.changes.until(lambda: len(self.chat.sent_log) - start >= n, timeout)
        if not got:
            self._fail(
                f"expected {n} new bot message(s) within {timeout}s, got {len(self.chat.sent_log) - start}",
                self.chat.sent_log[start:],
            )
        self._sent_cursor = start + n
        return snapshot(self.chat.sent_log[start : start + n])

    async def wait_quiet(self, seconds: float = 0.3) -> list[dict[str, Any]]:
        """Let the bot work for ``seconds``; returns what it sent here meanwhile (a test of "the bot
        says nothing" asserts this is empty)."""
        start = len(self.chat.sent_log)
        await self.api.changes.until(lambda: False, seconds)
        return snapshot(self.chat.sent_log[start:])

    def _fail(self, what: str, arrived: list[dict[str, Any]]) -> None:
        lines = [f"{self!r}: {what}."]
        if arrived:
            lines.append(
                "Arrived: " + "; ".join(repr(m.get("text") or m.get("caption") or m.get("kind")) for m in arrived)
            )
        refusals = self.api.refusals[-5:]
        if refusals:
            lines.append("Refused requests (latest last):\n  " + "\n  ".join(map(str, refusals)))
        if self.api.server_errors:
            lines.append(f"The fake server crashed: {self.api.server_errors[-1]!r}")
        lines.append(f"Waiting updates: {self.api.pending_updates}; requests so far: {len(self.api.requests)}")
        raise AssertionError("\n".join(lines))

    # ----------------------------------------------------------------------------- posting

    def _post(self, sender: UserRecord, event_name: str, content: dict[str, Any]) -> dict[str, Any]:
        """Put a message from ``sender`` into the chat and hand the update to the bot."""
        message: dict[str, Any] = {
            "message_id": new_id(),
            "date": self.api.clock.ms(),
            "chat": self.chat.json(),
            "from": sender.json(),
            **content,
        }
        self.chat.messages.append(message)
        self._mark_action()
        update = {"event_name": event_name, "message": message}
        self.api._push_update(update)
        return snapshot(update)

    def _image(
        self, url: str | None, caption: str | None, gps: tuple[float, float] | None, data: bytes | None
    ) -> dict[str, Any]:
        if url is None:
            url = self.api.add_file(data if data is not None else camera_jpeg(gps=gps))
        content: dict[str, Any] = {self.api.image_field: url}
        if caption is not None:
            content["caption"] = caption
        return content

    def _sticker(self, sticker_id: str | None) -> dict[str, Any]:
        return {
            "sticker": sticker_id or new_id(),
            "url": self.api.add_file(sticker_png(), ext="png", content_type="image/png"),
        }

    def _voice(self, url: str | None, data: bytes | None) -> dict[str, Any]:
        if url is None:
            url = self.api.add_file(data if data is not None else _AAC_SILENCE, ext="aac", content_type="audio/aac")
        return {"voice_url": url}


class SimUser(_ChatView):
    """A person and their private chat with the bot. Create with :meth:`FakeZaloApi.user`."""

    def __init__(self, api: FakeZaloApi, record: UserRecord) -> None:
        super().__init__(api, api.chats[record.id])
        self.record = record

    def __repr__(self) -> str:
        return f"<SimUser {self.id} {self.record.display_name!r}>"

    @property
    def id(self) -> str:
        """The person's Zalo id, which is also their private chat's id."""
        return self.record.id

    @property
    def display_name(self) -> str:
        return self.record.display_name

    @property
    def json(self) -> dict[str, Any]:
        """The ``from`` object of their updates."""
        return self.record.json()

    @property
    def blocked(self) -> bool:
        return self.record.blocked

    def block(self) -> None:
        """Block the bot: its sends to this person are refused with 403 from now on."""
        self.api.block(self)

    def unblock(self) -> None:
        self.api.unblock(self)

    def _post_own(self, event_name: str, content: dict[str, Any]) -> dict[str, Any]:
        if self.record.blocked:
            raise RuntimeError(f"{self!r} blocked the bot; call unblock() first")
        self.record.started = True
        return self._post(self.record, event_name, content)

    async def send(self, text: str) -> dict[str, Any]:
        """Send a text message; returns the update as the bot receives it."""
        return self._post_own("message.text.received", {"text": text})

    async def send_image(
        self,
        url: str | None = None,
        *,
        caption: str | None = None,
        gps: tuple[float, float] | None = HANOI,
        data: bytes | None = None,
    ) -> dict[str, Any]:
        """Send a photo. Without ``url`` the fake hosts one: ``data``, or a camera JPEG whose EXIF
        says where it was taken (``gps``, Hà Nội by default; ``None`` for none)."""
        return self._post_own("message.image.received", self._image(url, caption, gps, data))

    async def send_sticker(self, sticker_id: str | None = None) -> dict[str, Any]:
        return self._post_own("message.sticker.received", self._sticker(sticker_id))

    async def send_voice(self, url: str | None = None, *, data: bytes | None = None) -> dict[str, Any]:
        """Send a voice note (hosted here as .aac unless ``url`` is given)."""
        return self._post_own("message.voice.received", self._voice(url, data))

    async def send_unsupported(self) -> dict[str, Any]:
        """Something Zalo does not pass on to bots (or a sender whose content it withholds): the
        update says only that a message came."""
        return self._post_own("message.unsupported.received", {})


class SimGroup(_ChatView):
    """A group chat with the bot in it. Create with :meth:`FakeZaloApi.group`."""

    def __repr__(self) -> str:
        return f"<SimGroup {self.chat.id} {self.chat.title!r}>"

    def _member(self, member: SimUser) -> UserRecord:
        if member.id not in self.chat.members:
            raise LookupError(f"{member!r} is not a member of {self!r}")
        return member.record

    def add(self, member: SimUser) -> None:
        if member.id not in self.chat.members:
            self.chat.members.append(member.id)

    async def send(self, member: SimUser, text: str) -> dict[str, Any]:
        return self._post(self._member(member), "message.text.received", {"text": text})

    async def send_image(
        self,
        member: SimUser,
        url: str | None = None,
        *,
        caption: str | None = None,
        gps: tuple[float, float] | None = HANOI,
    ) -> dict[str, Any]:
        return self._post(self._member(member), "message.image.received", self._image(url, caption, gps, None))
