"""A local Telegram Bot API server for end-to-end tests.

Why: the bot under test runs unchanged - python-telegram-bot's ``Application`` with its real httpx
stack - against this server instead of api.telegram.org::

    async with FakeBotApi() as api:
        app = (ApplicationBuilder().token(api.token)
               .base_url(api.base_url).base_file_url(api.base_file_url).build())
        alice = api.user(first_name="Alice")
        await alice.send("/start")
        [reply] = await alice.wait_for(1)

The server accepts exactly what Telegram accepts and refuses the rest the way Telegram does
(``{"ok": false, "error_code": 400, "description": "Bad Request: ..."}``), so a request Telegram would
refuse fails in our tests first. Every request is logged in :attr:`FakeBotApi.requests`; refusals
(which a correct bot never provokes) in :attr:`FakeBotApi.refusals`.

Updates reach the bot only through ``getUpdates`` (long polling), as with a real bot in polling
mode. People are simulated with :meth:`FakeBotApi.user` / :meth:`FakeBotApi.group`.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import itertools
import json
import random
import re
import socket
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

from aiohttp import web

from .methods import HANDLERS, MethodsMixin
from .simulation import SimGroup, SimUser
from .validation import ApiError, Call, Spec, UploadedFile
from .world import Changes, ChatRecord, Clock, FileStore, UserRecord, snapshot

__all__ = ["TOKEN", "FakeBotApi", "RequestRecord"]

#: A valid-looking token (bot id 7000000001). Telegram tokens are ``<bot id>:<35 characters>``.
TOKEN = "7000000001:AAHfakeTiplineTestTokenXyz0123456789"

_TOKEN_SHAPE = re.compile(r"^\d{1,20}:[A-Za-z0-9_-]{30,60}$")
_CONFLICT_OTHER_POLL = "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running"
_MAX_UPLOAD = 50 * 1024 * 1024
#: methods that send a message (counted by ``global_limit`` and logged in ``send_log``)
SEND_METHODS = frozenset({
    "sendMessage", "sendPhoto", "sendVideo", "sendDocument", "sendVoice", "sendAudio", "sendAnimation",
    "sendVideoNote", "sendSticker", "sendLocation", "sendContact", "sendMediaGroup", "copyMessage", "forwardMessage",
})


class InjectedFault(ApiError):
    """An error produced by :meth:`FakeBotApi.fail_next` / :meth:`FakeBotApi.outage`."""


@dataclass
class RequestRecord:
    """One request as the server saw it. ``params`` are the raw transported values (strings for
    form data, JSON-encoded strings for objects); ``ok`` is False for every error response.
    A request whose client went away before the answer (PTB cancelling a long poll on shutdown)
    is not logged."""

    method: str
    params: dict[str, Any] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)
    status: int = 0
    ok: bool = False
    description: str | None = None
    result: Any = None
    injected: bool = False
    ignored_params: list[str] = field(default_factory=list)

    def arg(self, name: str) -> Any:
        """A parameter's value, whichever way it travelled: form fields carry numbers and objects as
        (JSON) text, a JSON body carries them as they are."""
        value = self.params.get(name)
        if isinstance(value, str):
            try:
                return json.loads(value)
            except ValueError:
                return value
        return value

    def __str__(self) -> str:
        outcome = "ok" if self.ok else f"{self.status} {self.description}"
        params = {k: (v if len(str(v)) < 80 else str(v)[:77] + "...") for k, v in self.params.items()}
        return f"{self.method}({params}) -> {outcome}"


@dataclass
class _Fault:
    method: str | None  # lower-case method name; None = any method except getUpdates
    remaining: int
    error: ApiError


class FakeBotApi(MethodsMixin):
    """A Telegram Bot API server on 127.0.0.1 (random free port), living in the current event loop.

    Args:
        token: the token the bot must use; any other well-formed token gets 401 Unauthorized.
        bot_username / bot_name: the bot's identity (``getMe``).
        callback_timeout: seconds after which a callback query can no longer be answered.
        strict_html: refuse a bare ``&`` in HTML text (Telegram's documented rule; tdlib itself
            keeps it literally). Unescaped ``<`` is always refused, like Telegram does.
        privacy_mode: like a real bot's default, in groups where the bot is not an administrator
            it only receives commands, replies to its messages and mentions.
        max_long_poll: upper bound for ``getUpdates(timeout=...)``.
        global_limit: like Telegram's broadcast limit, at most this many messages sent per second across all
            chats (sliding one-second window); a send above it gets 429 "Too Many Requests" with
            ``retry_after`` (``limit_retry_after`` seconds) and is not delivered. None: no limit.
    """

    def __init__(
        self,
        token: str = TOKEN,
        *,
        bot_username: str = "tipline_test_bot",
        bot_name: str = "Tipline Test Bot",
        callback_timeout: float = 15.0,
        strict_html: bool = True,
        privacy_mode: bool = True,
        max_long_poll: float = 50.0,
        global_limit: int | None = None,
        limit_retry_after: int = 1,
    ) -> None:
        self.token = token
        self.spec = Spec.load()
        self.clock = Clock()
        self.changes = Changes()
        self.files = FileStore()
        self.callback_timeout = callback_timeout
        self.strict_html = strict_html
        self.privacy_mode = privacy_mode
        self.max_long_poll = max_long_poll
        self.global_limit = global_limit
        self.limit_retry_after = limit_retry_after
        #: every message-sending request accepted: (loop time, method, chat_id), for rates and duplicates
        self.send_log: list[tuple[float, str, Any]] = []
        #: sends refused by ``global_limit``
        self.limited = 0
        self._window: collections.deque[float] = collections.deque()

        self.bot = UserRecord(id=int(token.split(":", 1)[0]), first_name=bot_name, username=bot_username, is_bot=True)
        self.users: dict[int, UserRecord] = {self.bot.id: self.bot}
        self.chats: dict[int, ChatRecord] = {}
        self._user_handles: dict[int, SimUser] = {}
        self._group_handles: dict[int, SimGroup] = {}
        self._user_ids = itertools.count(100_000_001)
        self._group_ids = itertools.count(1_000_000_001)

        #: every request, in the order it completed
        self.requests: list[RequestRecord] = []
        #: exceptions raised by the fake server itself (re-raised when the server stops)
        self.server_errors: list[BaseException] = []
        #: unconfirmed updates, oldest first (what getUpdates returns)
        self.updates: list[dict] = []
        #: updates not queued because the bot's allowed_updates excluded them
        self.dropped_updates: list[dict] = []
        self.allowed_updates: set[str] | None = None
        self.webhook: dict = {}
        self.commands: dict[tuple[str, str], list[dict]] = {}
        self.profile: dict[tuple[str, str], str] = {}
        self.callback_queries: dict[str, dict] = {}
        #: every successful answerCallbackQuery, as dicts (callback_query_id, user_id, text, show_alert, ...)
        self.callback_answers: list[dict] = []
        #: every successful sendChatAction: {"chat_id", "action", "message_thread_id", "date"}
        self.chat_actions: list[dict] = []
        self.logged_out = False

        self._next_update_id = random.randrange(100_000_000, 900_000_000)
        self._poller: asyncio.Future | None = None
        self._faults: list[_Fault] = []
        self._outage = False
        self._closing = False
        self._runner: web.AppRunner | None = None
        self._port: int | None = None

    # ------------------------------------------------------------------------------ lifecycle

    async def __aenter__(self) -> FakeBotApi:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def start(self) -> None:
        self._closing = False
        app = web.Application(client_max_size=_MAX_UPLOAD + 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle_api)
        app.router.add_route("GET", "/file/bot{token}/{path:.+}", self._handle_file)
        # handler_cancellation: a long poll whose client went away (bot shutting down) ends at once
        self._runner = web.AppRunner(app, access_log=None, handler_cancellation=True, shutdown_timeout=1.0)
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        self._port = sock.getsockname()[1]
        site = web.SockSite(self._runner, sock)
        await site.start()

    async def stop(self) -> None:
        """Stop serving; raises if the fake server itself crashed while handling a request."""
        self._closing = True
        if self._poller is not None and not self._poller.done():
            self._poller.set_result("closing")
        self.changes.notify()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self.server_errors:
            raise RuntimeError(f"the fake Bot API server crashed {len(self.server_errors)} time(s)") from self.server_errors[0]

    @property
    def url(self) -> str:
        if self._port is None:
            raise RuntimeError("FakeBotApi is not started; use `async with FakeBotApi() as api:`")
        return f"http://127.0.0.1:{self._port}"

    @property
    def base_url(self) -> str:
        """For ``ApplicationBuilder().base_url(...)``; PTB appends ``<token>/<method>``."""
        return f"{self.url}/bot"

    @property
    def base_file_url(self) -> str:
        """For ``ApplicationBuilder().base_file_url(...)``; PTB appends ``<token>/<file_path>``."""
        return f"{self.url}/file/bot"

    # ------------------------------------------------------------------------------ simulation

    def user(
        self,
        user_id: int | None = None,
        first_name: str = "Test User",
        *,
        username: str | None = None,
        last_name: str | None = None,
        language_code: str | None = "vi",
        started: bool = False,
        phone_number: str | None = None,
        is_premium: bool | None = None,
    ) -> SimUser:
        """A person with a private chat with the bot. They have not started the bot until they send
        it something (or ``started=True``), so the bot can't write to them first - like Telegram.
        Calling again with the same ``user_id`` returns the same handle."""
        if user_id is None:
            user_id = next(self._user_ids)
        if user_id in self._user_handles:
            return self._user_handles[user_id]
        if user_id in self.users:
            raise ValueError(f"user id {user_id} is taken (the bot?)")
        record = UserRecord(
            id=user_id, first_name=first_name, last_name=last_name, username=username, language_code=language_code,
            started=started, phone_number=phone_number or f"+8490{user_id % 10_000_000:07d}", is_premium=is_premium,
        )  # fmt: skip
        self.users[user_id] = record
        self.chats[user_id] = ChatRecord(id=user_id, type="private", user=record, chat_instance=_chat_instance())
        handle = SimUser(self, record)
        self._user_handles[user_id] = handle
        return handle

    def group(
        self,
        chat_id: int | None = None,
        title: str = "Test group",
        *,
        forum: bool = False,
        members: Iterable[SimUser] = (),
        admins: Iterable[SimUser] = (),
        owner: SimUser | None = None,
        bot_admin: bool = True,
        username: str | None = None,
        supergroup: bool = True,
    ) -> SimGroup:
        """A group the bot is in (as administrator unless ``bot_admin=False``). Supergroup ids look
        like ``-100...``; ``forum=True`` makes it a forum supergroup with topics."""
        if forum and not supergroup:
            raise ValueError("only supergroups can be forums")
        if chat_id is None:
            chat_id = -(1_000_000_000_000 + next(self._group_ids)) if supergroup else -(next(self._group_ids) % 10**9)
        if chat_id in self.chats:
            raise ValueError(f"chat {chat_id} exists")
        chat = ChatRecord(
            id=chat_id, type="supergroup" if supergroup else "group", title=title, username=username,
            is_forum=forum, bot_status="administrator" if bot_admin else "member", chat_instance=_chat_instance(),
        )  # fmt: skip
        for member in members:
            chat.members[member.id] = "member"
        for admin in admins:
            chat.members[admin.id] = "administrator"
        if owner is not None:
            chat.members[owner.id] = "creator"
        self.chats[chat_id] = chat
        handle = SimGroup(self, chat)
        self._group_handles[chat_id] = handle
        return handle

    def block(self, user: SimUser | int) -> None:
        """The person blocks the bot: sends now fail with 403, the bot gets a my_chat_member update."""
        self._set_blocked(user, True)

    def unblock(self, user: SimUser | int) -> None:
        self._set_blocked(user, False)

    def deactivate(self, user: SimUser | int) -> None:
        """The person deletes their account: sends fail with "Forbidden: user is deactivated"."""
        self.users[user if isinstance(user, int) else user.id].deactivated = True

    def _set_blocked(self, user: SimUser | int, blocked: bool) -> None:
        record = self.users[user if isinstance(user, int) else user.id]
        if record.blocked == blocked:
            return
        record.blocked = blocked
        old, new = ("member", "kicked") if blocked else ("kicked", "member")
        bot = self.bot.json()
        self._push_update(
            "my_chat_member",
            {
                "chat": self.chats[record.id].json(),
                "from": record.json(),
                "date": self.clock.unix(),
                "old_chat_member": {"status": old, "user": bot, **({"until_date": 0} if old == "kicked" else {})},
                "new_chat_member": {"status": new, "user": bot, **({"until_date": 0} if new == "kicked" else {})},
            },
        )

    def add_file(
        self,
        kind: str = "document",
        *,
        data: bytes | None = None,
        size: int | None = None,
        file_name: str | None = None,
        mime_type: str | None = None,
    ) -> str:
        """Make a file Telegram knows (e.g. one the bot stored earlier); returns its file_id."""
        if kind == "photo":
            return self.files.add_photo(size=size if size is not None else len(data or b"x"), data=data).file_id
        return self.files.add(kind, data=data, size=size, file_name=file_name, mime_type=mime_type).file_id

    def register_url(self, url: str, data: bytes, mime_type: str | None = None) -> None:
        """Let ``sendPhoto(photo="https://...")`` & co. fetch ``url``; other URLs fail like an
        unreachable one ("failed to get HTTP URL content")."""
        self.files.urls[url] = (data, mime_type)

    def advance_time(self, seconds: float) -> None:
        """Move Telegram's clock forward (callback queries expire, messages age)."""
        self.clock.offset += seconds
        self.changes.notify()

    def messages(self, chat_id: int) -> list[dict]:
        """All current (not deleted) messages of a chat, from anyone, in order."""
        return snapshot(list(self.chats[chat_id].messages.values()))

    def commands_for(self, scope: dict | None = None, language_code: str = "") -> list[dict]:
        """The command list set with setMyCommands for this exact scope and language."""
        return snapshot(self.commands.get((json.dumps(scope or {"type": "default"}, sort_keys=True), language_code), []))

    # ------------------------------------------------------------------------ fault injection

    def fail_next(
        self,
        method: str | None = None,
        count: int = 1,
        status: int = 502,
        retry_after: int | None = None,
        description: str | None = None,
    ) -> None:
        """Make the next ``count`` calls of ``method`` fail before doing anything.

        ``method=None`` matches any method *except getUpdates* (the bot polls constantly, which
        would swallow the fault); pass ``method="getUpdates"`` to fail polling. ``status=429``
        produces Telegram's flood-control answer with ``parameters.retry_after`` (default 1 s;
        PTB's polling loop sleeps retry_after + 0.5 s).
        """
        if status == 429:
            retry_after = 1 if retry_after is None else retry_after
            error = InjectedFault(429, description or f"Too Many Requests: retry after {retry_after}", {"retry_after": retry_after})
        else:
            error = InjectedFault(status, description or _phrase(status))
        self._faults.append(_Fault(method.lower() if method else None, count, error))

    @contextlib.asynccontextmanager
    async def outage(self) -> AsyncIterator[None]:
        """Within the block, every request (polling included) gets 502 Bad Gateway and a long poll in
        progress is cut off. Note PTB's polling backs off (1 s, 1.5 s, 2.25 s, ...) after errors."""
        self._outage = True
        if self._poller is not None and not self._poller.done():
            self._poller.set_result("outage")
        try:
            yield
        finally:
            self._outage = False

    def _take_fault(self, method: str) -> ApiError | None:
        for fault in self._faults:
            if fault.method == method.lower() or (fault.method is None and method != "getUpdates"):
                fault.remaining -= 1
                if fault.remaining <= 0:
                    self._faults.remove(fault)
                return fault.error
        return None

    # ------------------------------------------------------------------------------ inspection

    @property
    def refusals(self) -> list[RequestRecord]:
        """Requests Telegram would have refused (not counting injected faults)."""
        return [r for r in self.requests if not r.ok and not r.injected]

    def calls(self, method: str) -> list[RequestRecord]:
        """Successful and failed requests of one method (case-insensitive)."""
        return [r for r in self.requests if r.method.lower() == method.lower()]

    def assert_no_refusals(self) -> None:
        if self.refusals:
            lines = "\n  ".join(str(r) for r in self.refusals)
            raise AssertionError(f"the bot made {len(self.refusals)} request(s) Telegram would refuse:\n  {lines}")

    @property
    def pending_updates(self) -> int:
        """Updates not yet confirmed by the bot (Telegram's ``pending_update_count``)."""
        return len(self.updates)

    async def wait_until_consumed(self, timeout: float = 5.0) -> None:
        """Wait until the bot confirmed every update (fetched it and polled again)."""
        if await self.changes.until(lambda: not self.updates, timeout) is None:
            raise AssertionError(f"the bot did not consume {len(self.updates)} update(s) within {timeout}s; recent requests:\n  " + "\n  ".join(map(str, self.requests[-5:])))

    # ----------------------------------------------------------------------------- updates

    def _confirm_updates(self, offset: int) -> None:
        before = len(self.updates)
        if offset > 0:
            self.updates = [u for u in self.updates if u["update_id"] >= offset]
        elif offset < 0:
            self.updates = self.updates[offset:]
        if len(self.updates) != before:
            self.changes.notify()

    async def _long_poll(self, call: Call, limit: int, timeout: float) -> list[dict]:
        """getUpdates: answer at once if updates are queued, else wait for one or the timeout."""
        loop = asyncio.get_running_loop()
        me = loop.create_future()
        previous, self._poller = self._poller, me
        if previous is not None and not previous.done():
            previous.set_result("conflict")
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
                        raise ApiError(409, _CONFLICT_OTHER_POLL)
                    if reason == "outage":
                        raise InjectedFault(502, "Bad Gateway")
                    break
        finally:
            if self._poller is me:
                self._poller = None
        return snapshot(self.updates[:limit])

    # ------------------------------------------------------------------------------- HTTP

    async def _handle_api(self, request: web.Request) -> web.Response:
        record = RequestRecord(method=request.match_info["method"])
        try:
            try:
                if self._outage:
                    raise InjectedFault(502, "Bad Gateway")
                self._check_token(request.match_info["token"])
                method = self.spec.canonical(record.method)
                if method is None:
                    raise ApiError(404, "Not Found")
                record.method = method
                params, files = await self._read_params(request)
                record.params, record.files = params, sorted(files)
                fault = self._take_fault(method)
                if fault is not None:
                    raise fault
                sending = method in SEND_METHODS
                if sending:
                    self._check_global_limit()
                call = self.spec.check_call(method, params, files)
                record.ignored_params = call.ignored
                handler = HANDLERS.get(method)
                if handler is None:
                    raise ApiError(501, f"Not Implemented: {method} is valid Bot API but the fake server (tests/botapi) does not implement it")
                result = await handler(self, call)
                if sending:
                    self.send_log.append((asyncio.get_running_loop().time(), method, params.get("chat_id")))
            except ApiError as err:
                record.status, record.description, record.injected = err.code, err.description, isinstance(err, InjectedFault)
                if err.code == 409 and (request.transport is None or request.transport.is_closing()):
                    return web.json_response(err.payload(), status=err.code)  # nobody is listening
                self.requests.append(record)
                return web.json_response(err.payload(), status=err.code)
            except Exception as exc:  # a bug in the fake server: fail loudly, at the latest in stop()
                self.server_errors.append(exc)
                record.status, record.description = 500, f"Internal Server Error: fake server crashed: {exc!r}"
                self.requests.append(record)
                return web.json_response({"ok": False, "error_code": 500, "description": record.description}, status=500)
        except asyncio.CancelledError:
            raise
        record.status, record.ok, record.result = 200, True, result
        self.requests.append(record)
        return web.json_response({"ok": True, "result": result}, dumps=_dumps)

    def _check_global_limit(self) -> None:
        """Telegram's broadcast limit: at most ``global_limit`` sends in any second, 429 above it."""
        if self.global_limit is None:
            return
        now = asyncio.get_running_loop().time()
        window = self._window
        while window and window[0] <= now - 1.0:
            window.popleft()
        if len(window) >= self.global_limit:
            self.limited += 1
            wait = self.limit_retry_after
            # Not a refusal of a wrong request (``refusals``): the limit the test configured, like a fault.
            raise InjectedFault(429, f"Too Many Requests: retry after {wait}", {"retry_after": wait})
        window.append(now)

    def _check_token(self, token: str) -> None:
        if not _TOKEN_SHAPE.match(token):
            raise ApiError(404, "Not Found")
        if token != self.token or self.logged_out:
            raise ApiError(401, "Unauthorized")

    async def _read_params(self, request: web.Request) -> tuple[dict[str, Any], dict[str, UploadedFile]]:
        """Parameters from the query string and a urlencoded, multipart or JSON body."""
        params: dict[str, Any] = dict(request.query)
        files: dict[str, UploadedFile] = {}
        if not request.body_exists:
            return params, files
        ctype = request.content_type
        if ctype == "application/json":
            try:
                body = await request.json()
            except ValueError:
                raise ApiError(400, "Bad Request: can't parse JSON encoded request") from None
            if not isinstance(body, dict):
                raise ApiError(400, "Bad Request: JSON request must be an object")
            params.update(body)
        elif ctype in ("application/x-www-form-urlencoded", "multipart/form-data"):
            try:
                form = await request.post()
            except web.HTTPRequestEntityTooLarge:
                raise ApiError(413, "Request Entity Too Large") from None
            for name, value in form.items():
                if isinstance(value, web.FileField):
                    files[name] = UploadedFile(name, value.filename, value.content_type, value.file.read())
                else:
                    params[name] = value
        return params, files

    async def _handle_file(self, request: web.Request) -> web.Response:
        stored = self.files.by_path.get(request.match_info["path"])
        if request.match_info["token"] != self.token or stored is None:
            return web.json_response({"ok": False, "error_code": 404, "description": "Not Found"}, status=404)
        return web.Response(body=stored.content(), content_type=stored.mime_type or "application/octet-stream")


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return f"Error {status}"


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _chat_instance() -> str:
    return str(random.randrange(-(2**63), 2**63))
