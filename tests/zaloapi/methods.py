"""What each Zalo Bot API method does in the fake, and what it refuses.

Every handler takes the server and the request's parameters (a dict from the JSON body, or from the
query string or a form) and returns the ``result`` of ``{"ok": true, "result": ...}``, or raises
:class:`ApiError`, which the server turns into ``{"ok": false, "error_code": N, "description": ...}``.

Limits are Zalo's documented ones (text 1-2000 characters, secret_token 8-256 characters, the only
chat action ``typing``). Error codes and descriptions are not documented by Zalo; the fake uses
HTTP-like codes with Telegram-style descriptions written for this fake:

=====  ==========================================================================================
code   when
=====  ==========================================================================================
400    a parameter is missing, has the wrong type or breaks a limit; ``chat not found`` for a chat
       the bot does not know (a person who never wrote to it has no chat the bot may use)
401    a well-formed token that is not the bot's
403    the person blocked the bot (``Forbidden: the user has blocked the bot``): permanent
404    an unknown method (method names are case-sensitive, as Zalo's are)
408    ``getUpdates`` found nothing within its ``timeout`` (the normal end of an empty long poll)
409    ``getUpdates`` while a webhook is set, or a long poll cut short by a newer one
429    only when injected with ``fail_next(status=429)``
=====  ==========================================================================================
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from .world import ChatRecord, new_id, snapshot

if TYPE_CHECKING:
    from .server import FakeZaloApi

__all__ = ["HANDLERS", "NO_RESULT", "ApiError", "InjectedFault", "Outage"]

MAX_TEXT = 2000  # sendMessage text and sendPhoto caption, in UTF-16 code units (see _length)
SECRET_LENGTH = range(8, 257)
CHAT_ACTIONS = frozenset({"typing"})  # Zalo lists upload_photo as "coming soon"


class ApiError(Exception):
    """A refusal, sent as ``{"ok": false, "error_code": code, "description": description}``."""

    def __init__(self, code: int, description: str, parameters: dict[str, Any] | None = None) -> None:
        super().__init__(f"{code} {description}")
        self.code = code
        self.description = description
        self.parameters = parameters

    def payload(self) -> dict[str, Any]:
        body: dict[str, Any] = {"ok": False, "error_code": self.code, "description": self.description}
        if self.parameters:
            body["parameters"] = self.parameters
        return body


class InjectedFault(ApiError):
    """An error made by :meth:`FakeZaloApi.fail_next`, not by anything the bot did."""


class Outage(Exception):
    """The service is down: answered by a gateway's HTML 502 page, not by the Bot API."""


#: A handler returning this makes the answer ``{"ok": true}`` with no ``result`` (sendChatAction).
NO_RESULT = object()

Handler = Callable[["FakeZaloApi", dict[str, Any]], Awaitable[Any]]

#: method name -> (handler, the parameters it knows)
HANDLERS: dict[str, tuple[Handler, frozenset[str]]] = {}


def api_method(name: str, *params: str) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        HANDLERS[name] = (handler, frozenset(params))
        return handler

    return register


# ----------------------------------------------------------------------------- parameters


def bad_request(what: str) -> ApiError:
    return ApiError(400, f"Bad Request: {what}")


def _string(params: dict[str, Any], name: str, *, required: bool = True) -> str | None:
    value = params.get(name)
    if value is None or value == "":
        if required:
            raise bad_request(f"{name} is required")
        return None
    if not isinstance(value, str):
        raise bad_request(f"{name} must be a string")
    return value


def _length(text: str) -> int:
    """Length as a JavaScript server counts it (UTF-16 code units): the cautious reading of "2000
    characters", since an emoji counts twice. Vietnamese letters, precomposed, count once."""
    return len(text.encode("utf-16-le")) // 2


def _bounded_text(params: dict[str, Any], name: str) -> str:
    text = _string(params, name)
    assert text is not None
    if not text.strip():
        raise bad_request(f"{name} is empty")
    if _length(text) > MAX_TEXT:
        raise bad_request(f"{name} is too long ({_length(text)} characters; at most {MAX_TEXT})")
    return text


def _http_url(value: str, name: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise bad_request(f"{name} must be an http or https URL")
    return value


def _chat(api: FakeZaloApi, params: dict[str, Any]) -> ChatRecord:
    """The chat named by ``chat_id``, if the bot may write to it now."""
    chat_id = _string(params, "chat_id")
    assert chat_id is not None
    chat = api.chats.get(chat_id)
    if chat is None:
        raise bad_request("chat not found")
    refusal = chat.reachable_error
    if refusal is not None:
        raise ApiError(*refusal)
    return chat


def _timeout(params: dict[str, Any]) -> float:
    """``timeout`` in seconds: Zalo's docs call it a string and show a number; both are taken."""
    raw = params.get("timeout", 30)
    if isinstance(raw, bool):
        raise bad_request("timeout must be a number of seconds")
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise bad_request("timeout must be a number of seconds") from None
    if value < 0:
        raise bad_request("timeout must not be negative")
    return value


def _post_bot_message(api: FakeZaloApi, chat: ChatRecord, content: dict[str, Any]) -> dict[str, Any]:
    message = {"message_id": new_id(), "date": api.clock.ms(), "from_bot": True, **content}
    chat.messages.append(message)
    chat.sent_log.append(snapshot(message))
    api.changes.notify()
    return {"message_id": message["message_id"], "date": message["date"]}


# -------------------------------------------------------------------------------- methods


@api_method("getMe")
async def get_me(api: FakeZaloApi, params: dict[str, Any]) -> dict[str, Any]:
    return {"id": api.bot_id, "account_name": api.account_name, "account_type": "BASIC", "can_join_groups": False}


@api_method("getUpdates", "timeout")
async def get_updates(api: FakeZaloApi, params: dict[str, Any]) -> dict[str, Any]:
    """One update per call (Zalo has no batches, offsets or acknowledgements): the oldest waiting,
    or the first to arrive within ``timeout`` seconds; 408 when none did."""
    if api.webhook is not None:
        raise ApiError(409, "Conflict: getUpdates is not available while a webhook is set; call deleteWebhook first")
    timeout = min(_timeout(params), api.max_long_poll)
    update = await api._long_poll(timeout)
    if update is None:
        raise ApiError(408, "Request timeout")
    return update


@api_method("setWebhook", "url", "secret_token")
async def set_webhook(api: FakeZaloApi, params: dict[str, Any]) -> dict[str, Any]:
    url = _string(params, "url")
    secret = _string(params, "secret_token")
    assert url is not None and secret is not None
    _http_url(url, "url")
    if api.require_https and urlsplit(url).scheme != "https":
        raise bad_request("url must be an https URL")
    if len(secret) not in SECRET_LENGTH:
        raise bad_request("secret_token must be 8 to 256 characters")
    api._set_webhook(url, secret)
    return {"url": url, "updated_at": api.webhook_updated_at}


@api_method("deleteWebhook")
async def delete_webhook(api: FakeZaloApi, params: dict[str, Any]) -> dict[str, Any]:
    api._delete_webhook()
    return {"url": "", "updated_at": api.webhook_updated_at}


@api_method("getWebhookInfo")
async def get_webhook_info(api: FakeZaloApi, params: dict[str, Any]) -> dict[str, Any]:
    return {"url": api.webhook.url if api.webhook else "", "updated_at": api.webhook_updated_at}


@api_method("sendMessage", "chat_id", "text")
async def send_message(api: FakeZaloApi, params: dict[str, Any]) -> dict[str, Any]:
    text = _bounded_text(params, "text")
    chat = _chat(api, params)
    return _post_bot_message(api, chat, {"kind": "text", "text": text})


@api_method("sendPhoto", "chat_id", "photo", "caption")
async def send_photo(api: FakeZaloApi, params: dict[str, Any]) -> dict[str, Any]:
    photo = _string(params, "photo")
    assert photo is not None
    _http_url(photo, "photo")
    # caption is optional, but one that is sent must be 1-2000 characters (null counts as absent)
    caption = _bounded_text(params, "caption") if params.get("caption") is not None else None
    chat = _chat(api, params)
    content: dict[str, Any] = {"kind": "photo", "photo": photo}
    if caption is not None:
        content["caption"] = caption
    return _post_bot_message(api, chat, content)


@api_method("sendSticker", "chat_id", "sticker")
async def send_sticker(api: FakeZaloApi, params: dict[str, Any]) -> dict[str, Any]:
    sticker = _string(params, "sticker")
    chat = _chat(api, params)
    return _post_bot_message(api, chat, {"kind": "sticker", "sticker": sticker})


@api_method("sendChatAction", "chat_id", "action")
async def send_chat_action(api: FakeZaloApi, params: dict[str, Any]) -> object:
    action = _string(params, "action")
    if action not in CHAT_ACTIONS:
        raise bad_request("action must be typing")
    chat = _chat(api, params)
    chat.chat_actions.append(action)
    api.changes.notify()
    return NO_RESULT
