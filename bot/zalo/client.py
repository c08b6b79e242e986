"""A small async client for the Zalo Bot Platform API (the Telegram-like one, not the OA API).

Every call is ``POST {base_url}{token}/{method}`` with a JSON body; the answer is
``{"ok": true, "result": ...}`` or ``{"ok": false, "error_code": N, "description": "..."}``. Zalo
does not document its error codes, so errors are classified by the HTTP-like code in the body (or
the HTTP status when the body is not the API's JSON) into a few exceptions that say what the caller
should do: drop the recipient (:class:`ZaloForbidden`), fix the request (:class:`ZaloBadRequest`),
fix the configuration (:class:`ZaloUnauthorized`, :class:`ZaloConflict`), wait
(:class:`ZaloRateLimited`), or try again later (:class:`ZaloUnavailable`).

Why no logging of URLs, texts or ids: the token is part of every URL, and chat ids and texts belong
to citizens. This module logs method names and outcomes only, its exceptions carry no URL and do
not chain httpx's (whose messages can include one), and httpx's own request log must stay quiet
(``bot.logs`` sets it to WARNING).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from types import TracebackType
from typing import Any, ClassVar, Final

import httpx

from .updates import ZaloUpdate, parse_update

__all__ = [
    "DEFAULT_BASE_URL",
    "ZaloBadRequest",
    "ZaloBotClient",
    "ZaloBotInfo",
    "ZaloConflict",
    "ZaloError",
    "ZaloForbidden",
    "ZaloRateLimited",
    "ZaloSentMessage",
    "ZaloUnauthorized",
    "ZaloUnavailable",
    "ZaloWebhookInfo",
]

DEFAULT_BASE_URL: Final = "https://bot-api.zaloplatforms.com/bot"
#: getUpdates' ``timeout`` default, as Zalo's.
DEFAULT_POLL_TIMEOUT: Final = 30.0
#: Extra seconds the HTTP read waits beyond a long poll's own timeout before giving up on it.
POLL_GRACE: Final = 10.0

log = logging.getLogger(__name__)


# ------------------------------------------------------------------------------------ errors


class ZaloError(Exception):
    """A call that did not succeed. ``code`` is Zalo's ``error_code`` (or the HTTP status, or None
    for a network failure); ``description`` its text. Raised as such only for codes none of the
    subclasses covers."""

    #: whether the same call may succeed later unchanged
    transient: ClassVar[bool] = False

    def __init__(self, code: int | None, description: str, *, method: str = "") -> None:
        super().__init__(
            f"{method or 'Zalo call'} failed: {code if code is not None else 'no answer'} {description}".rstrip()
        )
        self.code = code
        self.description = description
        self.method = method


class ZaloForbidden(ZaloError):
    """The recipient can't be reached (they blocked the bot): permanent for this recipient."""


class ZaloBadRequest(ZaloError):
    """Zalo refused the request itself (a parameter, a limit, an unknown chat): permanent."""


class ZaloUnauthorized(ZaloError):
    """The token is wrong or revoked (or the base URL points somewhere else): fix the configuration."""


class ZaloConflict(ZaloError):
    """getUpdates while a webhook is set, or a poll cut short by another poller of the same bot."""


class ZaloRateLimited(ZaloError):
    """Too many requests; ``retry_after`` is the wait in seconds if Zalo said one."""

    transient = True

    def __init__(
        self, code: int | None, description: str, *, method: str = "", retry_after: float | None = None
    ) -> None:
        super().__init__(code, description, method=method)
        self.retry_after = retry_after


class ZaloUnavailable(ZaloError):
    """No usable answer: network failure, timeout, 5xx, or something that is not the API's JSON."""

    transient = True


class _NothingNew(ZaloError):
    """getUpdates' 408: the long poll ended without an update (the normal case, never raised out)."""


# ---------------------------------------------------------------------------------- results


@dataclass(frozen=True, slots=True)
class ZaloBotInfo:
    id: str
    account_name: str
    account_type: str
    can_join_groups: bool


@dataclass(frozen=True, slots=True)
class ZaloSentMessage:
    message_id: str
    date_ms: int


@dataclass(frozen=True, slots=True)
class ZaloWebhookInfo:
    url: str  # "" when no webhook is set
    updated_at_ms: int | None

    @property
    def is_set(self) -> bool:
        return bool(self.url)


# ----------------------------------------------------------------------------------- client


class ZaloBotClient:
    """The Zalo Bot API over one ``httpx.AsyncClient``: given, or made here and closed by
    :meth:`aclose` / ``async with``. A call goes to ``f"{base_url}{token}/{method}"``."""

    def __init__(
        self,
        token: str,
        base_url: str = DEFAULT_BASE_URL,
        http: httpx.AsyncClient | None = None,
        *,
        timeout: float = 10.0,
    ) -> None:
        if not token:
            raise ValueError("a Zalo bot token is required")
        self._token = token
        self._base_url = base_url
        self._timeout = timeout
        self._owns_http = http is None
        self._http = http if http is not None else httpx.AsyncClient(timeout=timeout)

    def __repr__(self) -> str:
        return "<ZaloBotClient>"  # never the token

    async def __aenter__(self) -> ZaloBotClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    # ----------------------------------------------------------------------------- methods

    async def get_me(self) -> ZaloBotInfo:
        result = _object(await self._call("getMe", {}), "getMe")
        return ZaloBotInfo(
            id=str(result.get("id", "")),
            account_name=str(result.get("account_name", "")),
            account_type=str(result.get("account_type", "")),
            can_join_groups=result.get("can_join_groups") is True,
        )

    async def get_updates(self, timeout: float = DEFAULT_POLL_TIMEOUT) -> ZaloUpdate | None:
        """Wait up to ``timeout`` seconds for the next update. Zalo hands out one update per call and
        forgets it once answered (no offset to confirm it), and answers 408 when none came: both an
        empty poll and an update this code can't read give None."""
        seconds = max(0, int(timeout))
        try:
            # the docs call timeout a string; clients in the field send it as one
            result = await self._call("getUpdates", {"timeout": str(seconds)}, read_timeout=seconds + POLL_GRACE)
        except _NothingNew:
            return None
        if result is None:
            return None
        update = parse_update({"ok": True, "result": result})
        if update is None:
            log.warning("zalo getUpdates: skipped an update that is not well-formed")
        return update

    async def set_webhook(self, url: str, secret_token: str) -> ZaloWebhookInfo:
        """Have Zalo POST updates to ``url`` with ``secret_token`` (8-256 characters) in the
        ``X-Bot-Api-Secret-Token`` header; getUpdates stops working until :meth:`delete_webhook`."""
        result = await self._call("setWebhook", {"url": url, "secret_token": secret_token})
        return _webhook_info(result, "setWebhook", assumed_url=url)

    async def delete_webhook(self) -> ZaloWebhookInfo:
        return _webhook_info(await self._call("deleteWebhook", {}), "deleteWebhook", assumed_url="")

    async def get_webhook_info(self) -> ZaloWebhookInfo:
        return _webhook_info(await self._call("getWebhookInfo", {}), "getWebhookInfo")

    async def send_message(self, chat_id: str, text: str) -> ZaloSentMessage:
        """Send plain text (1-2000 characters; splitting longer text is the caller's job)."""
        return _sent(await self._call("sendMessage", {"chat_id": chat_id, "text": text}), "sendMessage")

    async def send_photo(self, chat_id: str, photo_url: str, caption: str | None = None) -> ZaloSentMessage:
        """Send the photo Zalo will fetch from ``photo_url`` (a public http(s) URL)."""
        params: dict[str, Any] = {"chat_id": chat_id, "photo": photo_url}
        if caption:
            params["caption"] = caption
        return _sent(await self._call("sendPhoto", params), "sendPhoto")

    async def send_chat_action(self, chat_id: str, action: str = "typing") -> None:
        """Show "typing…" in the chat (``typing`` is the only action Zalo offers bots so far)."""
        await self._call("sendChatAction", {"chat_id": chat_id, "action": action})

    # ------------------------------------------------------------------------------- calls

    async def _call(self, method: str, params: dict[str, Any], *, read_timeout: float | None = None) -> Any:
        """The ``result`` of a successful call (None if the answer has none), else a ZaloError."""
        url = f"{self._base_url}{self._token}/{method}"
        timeout = (
            httpx.Timeout(self._timeout, read=read_timeout) if read_timeout is not None else httpx.USE_CLIENT_DEFAULT
        )
        try:
            response = await self._http.post(url, json=params, timeout=timeout)
        except httpx.TimeoutException as exc:
            log.info("zalo %s: timed out", method)
            raise ZaloUnavailable(None, f"timed out ({type(exc).__name__})", method=method) from None
        except httpx.HTTPError as exc:
            log.info("zalo %s: network error %s", method, type(exc).__name__)
            raise ZaloUnavailable(None, f"network error ({type(exc).__name__})", method=method) from None
        body = _json_or_none(response)
        if body is None:
            raise _not_api_answer(response, method)
        if body["ok"] is True:
            log.debug("zalo %s: ok", method)
            return body.get("result")
        code = body.get("error_code")
        code = code if isinstance(code, int) and not isinstance(code, bool) else response.status_code
        description = str(body.get("description") or "")
        error = _classify(code, description, method, _retry_after(body, response))
        log.info("zalo %s: refused with %s", method, code)
        raise error


def _json_or_none(response: httpx.Response) -> dict[str, Any] | None:
    """The API's JSON answer: an object with a boolean ``ok``; None for anything else (a proxy's
    HTML page, an empty body)."""
    try:
        body = response.json()
    except ValueError:
        return None
    if isinstance(body, dict) and isinstance(body.get("ok"), bool):
        return body
    return None


def _classify(code: int, description: str, method: str, retry_after: float | None) -> ZaloError:
    """The exception for an ``ok: false`` answer. Codes outside HTTP's 4xx/5xx (Zalo's other APIs
    use negative ones) stay a plain ZaloError: nothing is known about them."""
    if code == 408:
        return (
            _NothingNew(code, description, method=method)
            if method == "getUpdates"
            else ZaloUnavailable(code, description, method=method)
        )
    if code == 429:
        return ZaloRateLimited(code, description, method=method, retry_after=retry_after)
    if 500 <= code < 600:
        return ZaloUnavailable(code, description, method=method)
    kind = {401: ZaloUnauthorized, 403: ZaloForbidden, 409: ZaloConflict}.get(code)
    if kind is None:
        kind = ZaloBadRequest if 400 <= code < 500 else ZaloError
    return kind(code, description, method=method)


def _not_api_answer(response: httpx.Response, method: str) -> ZaloError:
    """An answer that is not the API's JSON: a gateway's error page, a server with no such path."""
    status = response.status_code
    description = f"HTTP {status} without a Bot API answer"
    if status == 429:
        return ZaloRateLimited(status, description, method=method, retry_after=_retry_after({}, response))
    if status in (401, 403, 404):  # the path with this token does not exist: the token or base URL is wrong
        return ZaloUnauthorized(status, description, method=method)
    return ZaloUnavailable(status, description, method=method)


def _retry_after(body: dict[str, Any], response: httpx.Response) -> float | None:
    parameters = body.get("parameters")
    value: Any = parameters.get("retry_after") if isinstance(parameters, dict) else None
    if value is None:
        value = response.headers.get("Retry-After")
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        return None
    return seconds if seconds >= 0 else None


def _object(result: Any, method: str) -> dict[str, Any]:
    if not isinstance(result, dict):
        raise ZaloError(None, "the answer says ok but has no result object", method=method)
    return result


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _sent(result: Any, method: str) -> ZaloSentMessage:
    """What a send returned. Zalo said ok, so the message went out: an odd result must not turn
    into an error that a caller would retry (and so send twice)."""
    if not isinstance(result, dict):
        log.warning("zalo %s: ok without a message result", method)
        return ZaloSentMessage(message_id="", date_ms=0)
    return ZaloSentMessage(message_id=str(result.get("message_id", "")), date_ms=_int_or_none(result.get("date")) or 0)


def _webhook_info(result: Any, method: str, *, assumed_url: str | None = None) -> ZaloWebhookInfo:
    """Webhook state from a result object; setWebhook and deleteWebhook answers that are a bare
    ``true`` (as some clients expect) mean the requested state."""
    if not isinstance(result, dict) and assumed_url is not None:
        return ZaloWebhookInfo(url=assumed_url, updated_at_ms=None)
    result = _object(result, method)
    url = result.get("url")
    return ZaloWebhookInfo(
        url=url if isinstance(url, str) else "", updated_at_ms=_int_or_none(result.get("updated_at"))
    )
