"""A local Zalo Bot Platform API server for end-to-end tests.

Why: the Zalo adapter runs unchanged - its real HTTP client - against this server instead of
Zalo's. URLs compose exactly as Zalo's do: the real base URL is ``https://bot-api.zaloplatforms.com/bot``
and a call goes to ``base_url + token + "/" + method``, so here::

    async with FakeZaloApi() as zapi:
        client = ZaloBotClient(zapi.token, base_url=zapi.base_url)   # http://127.0.0.1:<port>/bot
        lan = zapi.user(display_name="Lan")
        await lan.send("Xin chào")
        update = await client.get_updates(timeout=5)
        await client.send_message(update.chat_id, "Chào bạn")
        [reply] = await lan.wait_for(1)

Updates reach the bot by long polling (``getUpdates``: one update per call, none -> 408) or, once
the bot called ``setWebhook``, by POSTs to its URL (``webhook.py``). Every API request is logged in
:attr:`FakeZaloApi.requests`; refusals, which a correct bot never provokes, in :attr:`refusals`.
Photos, voice notes and stickers of simulated people are served by this server at ``/files/<name>``.

What Zalo does not document (error codes, the HTTP status of an error, retries of a webhook) is a
choice made here and said where it is made; options cover the alternatives a client must survive.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import socket
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

from aiohttp import web

from .methods import HANDLERS, NO_RESULT, ApiError, InjectedFault, Outage
from .simulation import SimGroup, SimUser
from .webhook import CONFIGURED, Envelope, WebhookDelivery, WebhookSender
from .world import Changes, ChatRecord, Clock, HostedFile, UserRecord, new_id, snapshot

__all__ = ["BOT_ID", "TOKEN", "FakeZaloApi", "RequestRecord", "Webhook"]

#: The bot's id: a token is ``{bot_id}:{secret}``.
BOT_ID = "2749610853317700123"
TOKEN = f"{BOT_ID}:TiplineFakeZaloSecret0123456789abcdefghijKLMNOPQRSTuvwxyz0123456789"

_TOKEN_SHAPE = re.compile(r"^\d{5,25}:[A-Za-z0-9_-]{16,128}$")
# What a gateway in front of an API answers when the service behind it is down: not the API's JSON.
_BAD_GATEWAY_PAGE = (
    "<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center></body></html>"
)
_NOT_FOUND_PAGE = "404 page not found"


@dataclass
class RequestRecord:
    """One API request as the server saw it. ``status`` is the HTTP status answered, ``error_code``
    the one in the body (they differ with ``errors_as_http_200``). Requests whose client went away
    before the answer are not logged."""

    method: str
    http_method: str = "POST"
    content_type: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    status: int = 0
    ok: bool = False
    error_code: int | None = None
    description: str | None = None
    result: Any = None
    injected: bool = False
    ignored_params: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        outcome = "ok" if self.ok else f"{self.error_code or self.status} {self.description}"
        params = {k: (v if len(str(v)) < 80 else str(v)[:77] + "...") for k, v in self.params.items()}
        return f"{self.method}({params}) -> {outcome}"


@dataclass
class Webhook:
    url: str
    secret_token: str


@dataclass
class _Fault:
    method: str | None  # None: any method except getUpdates
    remaining: int
    error: ApiError | None = None
    delay: float = 0.0


class FakeZaloApi:
    """A Zalo Bot API server on 127.0.0.1 (random free port), living in the current event loop.

    Args:
        token: the token the bot must use (``{bot_id}:{secret}``). Another well-formed token gets 401;
            a malformed one a plain-text 404, as from a server that has no such path.
        account_name: the bot's ``account_name`` in getMe.
        webhook_envelope: ``"result"`` posts ``{"ok": true, "result": update}`` to the webhook (what
            Zalo documents), ``"bare"`` posts the update itself (what some integrations see).
        image_field: the key of an image's URL in ``message.image.received``: ``"photo_url"`` (what
            the project's notes say) or ``"photo"`` (what Zalo's reference page shows).
        errors_as_http_200: answer refusals with HTTP 200 (the body still says ``"ok": false``)
            instead of an HTTP status equal to ``error_code``; which one Zalo uses is undocumented.
        require_https: refuse ``setWebhook`` with an http URL, as Zalo does (off, so tests can use a
            receiver on http://127.0.0.1).
        max_long_poll: upper bound for ``getUpdates(timeout=...)``.
        webhook_timeout: seconds the fake waits for the webhook receiver's answer.
    """

    def __init__(
        self,
        token: str = TOKEN,
        *,
        account_name: str = "bot.tipline_test",
        webhook_envelope: Envelope = "result",
        image_field: str = "photo_url",
        errors_as_http_200: bool = False,
        require_https: bool = False,
        max_long_poll: float = 60.0,
        webhook_timeout: float = 5.0,
    ) -> None:
        if image_field not in ("photo_url", "photo"):
            raise ValueError("image_field is 'photo_url' or 'photo'")
        self.token = token
        self.bot_id = token.split(":", 1)[0]
        self.account_name = account_name
        self.webhook_envelope: Envelope = webhook_envelope
        self.image_field = image_field
        self.errors_as_http_200 = errors_as_http_200
        self.require_https = require_https
        self.max_long_poll = max_long_poll

        self.clock = Clock()
        self.changes = Changes()
        self.users: dict[str, UserRecord] = {}
        self.chats: dict[str, ChatRecord] = {}
        self.files: dict[str, HostedFile] = {}
        self._user_handles: dict[str, SimUser] = {}

        #: every API request, in the order answered
        self.requests: list[RequestRecord] = []
        #: exceptions raised by the fake itself (re-raised when the server stops)
        self.server_errors: list[BaseException] = []
        #: updates waiting for getUpdates, oldest first (while no webhook is set)
        self.updates: list[dict[str, Any]] = []
        self.webhook: Webhook | None = None
        self.webhook_updated_at = self.clock.ms()
        self._sender = WebhookSender(self, webhook_timeout)
        self._delivery_cursor = 0

        self._poller: asyncio.Future[str] | None = None
        self._faults: list[_Fault] = []
        self._outage = False
        self._closing = False
        self._runner: web.AppRunner | None = None
        self._port: int | None = None

    # ------------------------------------------------------------------------------ lifecycle

    async def __aenter__(self) -> FakeZaloApi:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def start(self) -> None:
        self._closing = False
        app = web.Application()
        app.router.add_route("*", "/bot{token}/{method}", self._handle_api)
        app.router.add_route("GET", "/files/{name}", self._handle_file)
        # handler_cancellation: a long poll whose client went away (bot shutting down) ends at once
        self._runner = web.AppRunner(app, access_log=None, handler_cancellation=True, shutdown_timeout=1.0)
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        self._port = sock.getsockname()[1]
        await web.SockSite(self._runner, sock).start()
        await self._sender.start()

    async def stop(self) -> None:
        """Stop serving; raises if the fake server itself crashed while handling a request."""
        self._closing = True
        self._end_poll("closing")
        self.changes.notify()
        await self._sender.stop()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self.server_errors:
            raise RuntimeError(
                f"the fake Zalo server crashed {len(self.server_errors)} time(s)"
            ) from self.server_errors[0]

    @property
    def url(self) -> str:
        if self._port is None:
            raise RuntimeError("FakeZaloApi is not started; use `async with FakeZaloApi() as zapi:`")
        return f"http://127.0.0.1:{self._port}"

    @property
    def base_url(self) -> str:
        """The counterpart of ``https://bot-api.zaloplatforms.com/bot``: a client calls
        ``f"{base_url}{token}/{method}"``."""
        return f"{self.url}/bot"

    # ------------------------------------------------------------------------------ simulation

    def user(
        self, display_name: str = "Người dùng thử", *, user_id: str | None = None, started: bool = False
    ) -> SimUser:
        """A person with a private chat with the bot (chat id = user id, as on Zalo). The bot can't
        write to them until they wrote to it (or ``started=True``): before that it has no chat id.
        Calling again with the same ``user_id`` returns the same handle."""
        if user_id is None:
            user_id = new_id()
        if user_id in self._user_handles:
            return self._user_handles[user_id]
        if user_id in self.chats:
            raise ValueError(f"id {user_id} is taken by a group")
        record = UserRecord(id=user_id, display_name=display_name, started=started)
        self.users[user_id] = record
        self.chats[user_id] = ChatRecord(id=user_id, chat_type="PRIVATE", user=record)
        handle = SimUser(self, record)
        self._user_handles[user_id] = handle
        return handle

    def group(
        self, title: str = "Nhóm thử", *, members: Iterable[SimUser] = (), chat_id: str | None = None
    ) -> SimGroup:
        """A group chat the bot is in (Zalo's GROUP chats are in beta)."""
        chat_id = chat_id or new_id()
        if chat_id in self.chats:
            raise ValueError(f"chat {chat_id} exists")
        chat = ChatRecord(id=chat_id, chat_type="GROUP", title=title, members=[m.id for m in members])
        self.chats[chat_id] = chat
        return SimGroup(self, chat)

    def block(self, user: SimUser | str) -> None:
        """The person blocks the bot: every send to them is refused with 403 from now on."""
        self.users[user if isinstance(user, str) else user.id].blocked = True

    def unblock(self, user: SimUser | str) -> None:
        self.users[user if isinstance(user, str) else user.id].blocked = False

    def add_file(self, data: bytes, *, ext: str = "jpg", content_type: str = "image/jpeg") -> str:
        """Host ``data`` at a fresh ``/files/<id>.<ext>`` URL, which is returned."""
        name = f"{new_id()}.{ext}"
        self.files[name] = HostedFile(name, data, content_type)
        return f"{self.url}/files/{name}"

    def file(self, url: str) -> HostedFile:
        """The hosted file behind a URL from :meth:`add_file` (bytes, downloads so far)."""
        return self.files[url.rsplit("/", 1)[-1]]

    def advance_time(self, seconds: float) -> None:
        """Move Zalo's clock forward (dates of later messages)."""
        self.clock.offset += seconds
        self.changes.notify()

    def _push_update(self, update: dict[str, Any]) -> None:
        if self.webhook is not None:
            self._sender.enqueue(snapshot(update))
        else:
            self.updates.append(snapshot(update))
        self.changes.notify()

    # ------------------------------------------------------------------------------- webhook

    def _set_webhook(self, url: str, secret_token: str) -> None:
        self.webhook = Webhook(url, secret_token)
        self.webhook_updated_at = self.clock.ms()
        self._end_poll("webhook")
        waiting, self.updates = self.updates, []
        for update in waiting:  # what nobody polled yet goes to the new webhook
            self._sender.enqueue(update)
        self.changes.notify()

    def _delete_webhook(self) -> None:
        self.webhook = None
        self.webhook_updated_at = self.clock.ms()
        self.updates.extend(self._sender.drain())
        self.changes.notify()

    @property
    def deliveries(self) -> list[WebhookDelivery]:
        """Every POST to the webhook so far (deliveries, redeliveries and raw posts), in order."""
        return list(self._sender.deliveries)

    async def wait_for_deliveries(self, n: int = 1, timeout: float = 5.0) -> list[WebhookDelivery]:
        """Wait until ``n`` more webhook POSTs were answered (or failed) since the previous call and
        return them."""
        start = self._delivery_cursor
        done = await self.changes.until(lambda: len(self._sender.deliveries) - start >= n, timeout)
        arrived = self._sender.deliveries[start:]
        if not done:
            raise AssertionError(
                f"expected {n} webhook deliveries within {timeout}s, got {len(arrived)}: {[str(d) for d in arrived]}"
            )
        self._delivery_cursor = start + n
        return arrived[:n]

    async def webhook_idle(self, timeout: float = 5.0) -> None:
        """Wait until every queued update was posted to the webhook."""
        if not await self.changes.until(lambda: self._sender.idle, timeout):
            raise AssertionError(f"webhook deliveries still queued after {timeout}s")

    async def redeliver(
        self, update: dict[str, Any], *, secret: Any = CONFIGURED, envelope: Envelope | None = None
    ) -> WebhookDelivery:
        """POST ``update`` to the webhook again (or for the first time, if it is made up), at once.

        ``secret``: the header value; by default the configured secret_token, ``None`` leaves the
        header out, any string is sent as is (negative tests). ``envelope`` overrides the server's
        ``webhook_envelope`` for this post."""
        return await self._sender.deliver(update, secret=secret, shape=envelope, redelivery=True)

    async def post_webhook(
        self, body: bytes | dict[str, Any], *, secret: Any = CONFIGURED, content_type: str = "application/json"
    ) -> WebhookDelivery:
        """POST an arbitrary body (malformed JSON, an array, a forged update) to the webhook."""
        raw = json.dumps(body).encode() if isinstance(body, dict) else body
        return await self._sender.post_raw(raw, secret=secret, content_type=content_type)

    # ------------------------------------------------------------------------ fault injection

    def fail_next(
        self,
        method: str | None = None,
        count: int = 1,
        status: int = 502,
        retry_after: int | None = None,
        description: str | None = None,
    ) -> None:
        """Make the next ``count`` calls of ``method`` fail before doing anything, with a JSON error.

        ``method=None`` matches any method *except getUpdates* (the bot polls constantly and would
        swallow the fault). ``status=429`` answers ``Too Many Requests`` with
        ``parameters.retry_after`` and a ``Retry-After`` header (default 1 s)."""
        if status == 429:
            retry_after = 1 if retry_after is None else retry_after
            error = InjectedFault(
                429, description or f"Too Many Requests: retry after {retry_after}", {"retry_after": retry_after}
            )
        else:
            error = InjectedFault(status, description or _phrase(status))
        self._faults.append(_Fault(method, count, error=error))

    def delay_next(self, method: str | None = None, seconds: float = 1.0, count: int = 1) -> None:
        """Make the next ``count`` calls of ``method`` answer only after ``seconds`` (client timeouts)."""
        self._faults.append(_Fault(method, count, delay=seconds))

    @contextlib.asynccontextmanager
    async def outage(self) -> AsyncIterator[None]:
        """Within the block every API request (polling included) gets a gateway's HTML 502 page and
        a long poll in progress is cut off. Webhook deliveries are not affected."""
        self._outage = True
        self._end_poll("outage")
        try:
            yield
        finally:
            self._outage = False

    def _take_fault(self, method: str) -> _Fault | None:
        for fault in self._faults:
            if fault.method == method or (fault.method is None and method != "getUpdates"):
                fault.remaining -= 1
                if fault.remaining <= 0:
                    self._faults.remove(fault)
                return fault
        return None

    # ------------------------------------------------------------------------------ inspection

    @property
    def refusals(self) -> list[RequestRecord]:
        """Requests Zalo would have refused: not injected faults or outages, and not the 408 that
        ends an empty long poll."""
        return [
            r
            for r in self.requests
            if not r.ok and not r.injected and not (r.method == "getUpdates" and r.error_code == 408)
        ]

    def calls(self, method: str) -> list[RequestRecord]:
        return [r for r in self.requests if r.method == method]

    def assert_no_refusals(self) -> None:
        if self.refusals:
            lines = "\n  ".join(str(r) for r in self.refusals)
            raise AssertionError(f"the bot made {len(self.refusals)} request(s) Zalo would refuse:\n  {lines}")

    @property
    def pending_updates(self) -> int:
        """Updates not yet fetched by getUpdates."""
        return len(self.updates)

    async def wait_until_consumed(self, timeout: float = 5.0) -> None:
        """Wait until the bot fetched every waiting update (polling) or each was posted (webhook)."""
        if not await self.changes.until(lambda: not self.updates and self._sender.idle, timeout):
            raise AssertionError(
                f"{len(self.updates)} update(s) not fetched within {timeout}s; recent requests:\n  "
                + "\n  ".join(map(str, self.requests[-5:]))
            )

    # ----------------------------------------------------------------------------- long poll

    def _end_poll(self, reason: str) -> None:
        if self._poller is not None and not self._poller.done():
            self._poller.set_result(reason)

    async def _long_poll(self, timeout: float) -> dict[str, Any] | None:
        """The oldest waiting update, or the first to arrive within ``timeout`` seconds."""
        loop = asyncio.get_running_loop()
        me: asyncio.Future[str] = loop.create_future()
        self._end_poll("conflict")
        self._poller = me
        deadline = loop.time() + timeout
        try:
            while not self.updates and not self._closing:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                await self.changes.wait(remaining, also=me)
                if me.done():
                    reason = me.result()
                    if reason == "conflict":
                        raise ApiError(409, "Conflict: terminated by another getUpdates request")
                    if reason == "webhook":
                        raise ApiError(409, "Conflict: a webhook was set while polling")
                    if reason == "outage":
                        raise Outage
                    break
        finally:
            if self._poller is me:
                self._poller = None
        if not self.updates:
            return None
        update = self.updates.pop(0)
        self.changes.notify()
        return update

    # ---------------------------------------------------------------------------------- HTTP

    async def _handle_api(self, request: web.Request) -> web.StreamResponse:
        record = RequestRecord(method=request.match_info["method"], http_method=request.method)
        if request.body_exists:
            record.content_type = request.content_type
        try:
            if self._outage:
                raise Outage
            token = request.match_info["token"]
            if not _TOKEN_SHAPE.match(token):
                record.status, record.description = 404, _NOT_FOUND_PAGE
                self.requests.append(record)
                return web.Response(status=404, text=_NOT_FOUND_PAGE)
            if token != self.token:
                raise ApiError(401, "Unauthorized")
            known = HANDLERS.get(record.method)
            if known is None:
                raise ApiError(404, "Not Found: no such method")
            handler, names = known
            record.params = await _read_params(request)
            record.ignored_params = sorted(set(record.params) - names)
            fault = self._take_fault(record.method)
            if fault is not None:
                if fault.delay:
                    await asyncio.sleep(fault.delay)
                if fault.error is not None:
                    raise fault.error
            result = await handler(self, record.params)
        except asyncio.CancelledError:
            raise
        except Outage:
            record.status, record.description, record.injected = 502, "Bad Gateway (outage)", True
            self.requests.append(record)
            return web.Response(status=502, text=_BAD_GATEWAY_PAGE, content_type="text/html")
        except ApiError as err:
            record.status = 200 if self.errors_as_http_200 or not 400 <= err.code < 600 else err.code
            record.error_code, record.description = err.code, err.description
            record.injected = isinstance(err, InjectedFault)
            if err.code == 409 and (request.transport is None or request.transport.is_closing()):
                return web.json_response(err.payload(), status=record.status)  # nobody is listening
            self.requests.append(record)
            headers = (
                {"Retry-After": str(err.parameters["retry_after"])}
                if err.parameters and "retry_after" in err.parameters
                else None
            )
            return web.json_response(err.payload(), status=record.status, headers=headers, dumps=_dumps)
        except Exception as exc:  # a bug in the fake server: fail loudly, at the latest in stop()
            self.server_errors.append(exc)
            record.status, record.description = 500, f"fake server crashed: {exc!r}"
            self.requests.append(record)
            return web.json_response({"ok": False, "error_code": 500, "description": record.description}, status=500)
        record.status, record.ok = 200, True
        body: dict[str, Any] = {"ok": True}
        if result is not NO_RESULT:
            record.result = body["result"] = result
        self.requests.append(record)
        return web.json_response(body, dumps=_dumps)

    async def _handle_file(self, request: web.Request) -> web.Response:
        hosted = self.files.get(request.match_info["name"])
        if hosted is None:
            return web.Response(status=404, text=_NOT_FOUND_PAGE)
        hosted.downloads += 1
        return web.Response(body=hosted.data, content_type=hosted.content_type)


async def _read_params(request: web.Request) -> dict[str, Any]:
    """Parameters from the query string and a JSON or form body (Zalo's clients send JSON)."""
    params: dict[str, Any] = dict(request.query)
    if not request.body_exists:
        return params
    if request.content_type == "application/json":
        try:
            body = await request.json()
        except ValueError:
            raise ApiError(400, "Bad Request: the body is not valid JSON") from None
        if not isinstance(body, dict):
            raise ApiError(400, "Bad Request: the JSON body must be an object")
        params.update(body)
    elif request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        form = await request.post()
        params.update({k: v for k, v in form.items() if isinstance(v, str)})
    return params


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return f"Error {status}"


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)
