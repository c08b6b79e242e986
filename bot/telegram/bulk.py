"""Telegram for campaign sending: a lean Bot API client on aiohttp, on connections of its own.

Campaigns send up to 1,000 messages a second. python-telegram-bot on httpx spends over a millisecond of CPU
per request (connection pool bookkeeping, building and parsing objects), more than that rate leaves; this
client posts JSON with aiohttp, reads only what the sender needs (the message id, an uploaded photo's file
id) and spends a fraction of that (``bench/broadcast.py``). Replies to citizens keep python-telegram-bot
(``channel.TelegramChannel``) on connections of their own, so campaign traffic never holds them up.

It implements the delivery port for sending only, and maps Telegram's answers to the port's errors without
retrying anything itself (the campaign sender paces, pauses and retries):

- 429 → ``RetryLater(after=retry_after)``: not delivered;
- 403, or "chat not found" and the like → ``Unreachable``: the person blocked the bot or is gone;
- another 4xx → ``Rejected``;
- no connection could be made → ``RetryLater``: the request never left, safe to send again;
- the connection broke or timed out after the request was written, or a 5xx → ``RetryLater(uncertain=True)``:
  it may have been delivered, so it is never sent again.
"""

from __future__ import annotations

import html
import json
from functools import lru_cache
from typing import Any

import aiohttp

from tipline.bootstrap import Core
from tipline.delivery.model import Address, Sent
from tipline.delivery.port import ChannelTraits, FileRef, Outgoing, Rejected, RetryLater, Unreachable
from tipline.replies import Choice

from .callbacks import pack
from .render import MAX_TEXT, chunks

NAME = "telegram"
TRAITS = ChannelTraits(buttons=True, max_text=MAX_TEXT, reply_to=False, edits=False, campaigns=True)
_UNREACHABLE = ("chat not found", "bot was blocked", "user is deactivated", "bot was kicked", "not a member")


@lru_cache(maxsize=256)
def keyboard(choices: tuple[tuple[Choice, ...], ...]) -> dict[str, Any] | None:
    """An inline keyboard as the Bot API takes it (a campaign's few keyboards are built once; not changed)."""
    if not choices:
        return None
    rows = [[{"text": choice.label, "callback_data": pack(choice.action)} for choice in row] for row in choices]
    return {"inline_keyboard": rows}


class BulkTelegramChannel:
    name = NAME
    traits = TRAITS

    def __init__(self, base_url: str, token: str, connections: int, timeout: float = 15.0) -> None:
        self.url = f"{base_url}{token}/"
        self.connections = connections
        self.timeout = timeout
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=self.connections, ttl_dns_cache=300),
            timeout=aiohttp.ClientTimeout(total=self.timeout, sock_connect=5.0),
        )

    @classmethod
    async def open_for(cls, core: Core, base_url: str, token: str) -> BulkTelegramChannel:
        """Started and registered as the core's campaign channel for Telegram (the bot's process and
        ``tipline-worker`` alike); close it when the process stops."""
        bulk = cls(base_url, token, core.sender.in_flight + 2)
        await bulk.start()
        core.bulk_channels.register(bulk)
        return bulk

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _call(self, method: str, data: Any, as_json: bool = True) -> dict[str, Any]:
        if self._session is None:
            raise RetryLater("the bulk channel is not started")
        try:
            request = (
                self._session.post(self.url + method, json=data) if as_json
                else self._session.post(self.url + method, data=data)
            )
            async with request as response:
                body = await response.read()
                status = response.status
        except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError) as exc:
            raise RetryLater(f"Telegram unreachable: {exc}") from exc  # never left: safe to retry
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise RetryLater(f"no answer from Telegram: {exc!r}", uncertain=True) from exc
        try:
            answer = json.loads(body)
        except ValueError:
            answer = {}
        if status == 200 and answer.get("ok"):
            result: dict[str, Any] = answer.get("result") or {}
            return result
        description = str(answer.get("description", f"HTTP {status}"))
        if status == 429:
            after = (answer.get("parameters") or {}).get("retry_after", 1)
            raise RetryLater("Telegram's flood limit", after=float(after))
        if status == 403 or any(reason in description.lower() for reason in _UNREACHABLE):
            raise Unreachable(description)
        if 400 <= status < 500:
            raise Rejected(description)
        raise RetryLater(f"Telegram answered {status}: {description}", uncertain=True)

    async def send(self, to: Address, message: Outgoing) -> Sent:
        pieces = chunks(message.text)
        result: dict[str, Any] = {}
        for index, piece in enumerate(pieces):
            data: dict[str, Any] = {
                "chat_id": to.chat, "text": piece, "parse_mode": "HTML", "link_preview_options": {"is_disabled": True},
            }
            markup = keyboard(message.choices) if index == len(pieces) - 1 else None
            if markup is not None:
                data["reply_markup"] = markup
            result = await self._call("sendMessage", data)
        return Sent(to, str(result.get("message_id", "")))

    async def send_file(
        self, to: Address, file: FileRef, reply_to: str | None = None, caption: Outgoing | None = None
    ) -> Sent:
        if file.kind != "photo":
            raise Rejected(f"the bulk channel sends photos only, not a {file.kind}")
        fields: dict[str, Any] = {"chat_id": to.chat}
        if caption is not None:
            fields["caption"] = html.escape(caption.text, quote=False)[:1024]
            fields["parse_mode"] = "HTML"
            markup = keyboard(caption.choices)
            if markup is not None:
                fields["reply_markup"] = markup
        if file.data is None:
            if file.channel != NAME:
                raise Rejected(f"a {file.channel} file cannot be re-sent on Telegram")
            fields["photo"] = file.ref
            result = await self._call("sendPhoto", fields)
        else:
            form = aiohttp.FormData()
            for key, value in fields.items():
                form.add_field(key, json.dumps(value, ensure_ascii=False) if isinstance(value, dict) else str(value))
            form.add_field("photo", file.data, filename=file.ref or "image.png", content_type=file.mime or "image/png")
            result = await self._call("sendPhoto", form, as_json=False)
        photos = result.get("photo") or []
        stored = photos[-1].get("file_id") if photos and file.data is not None else None
        return Sent(to, str(result.get("message_id", "")), stored)

    async def edit(self, sent: Sent, message: Outgoing) -> None:
        raise Rejected("the bulk channel does not edit messages")

    async def has_topics(self, chat: Address) -> bool:
        return False

    async def open_topic(self, chat: Address, name: str) -> Address:
        raise Rejected("the bulk channel has no topics")

    async def set_topic_closed(self, topic: Address, closed: bool) -> None:
        raise Rejected("the bulk channel has no topics")
