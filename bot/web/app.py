"""Webhook mode: one ASGI application (Starlette under uvicorn, as python-telegram-bot's custom-webhook example
does) that Telegram and Zalo post their updates to.

    POST /telegram/<path-secret>   X-Telegram-Bot-Api-Secret-Token checked, in constant time
    POST /zalo                     X-Bot-Api-Secret-Token checked, in constant time
    GET  /healthz                  database reachable, outbox backlog and age, last update seen per channel

A request without the secret header gets 401, one with a wrong secret 403, and nothing of it is read further.
A body that is not an update gets 400 and a log line with its size only. An update is acknowledged at once
(200) and processed afterwards in its chat's lane (``bot.lanes``: one chat in order, bounded concurrency);
when too many wait, 503 asks the platform to send it again later. A platform that sends an update again (same
Telegram ``update_id``, same Zalo ``message_id``) gets it processed once, also across a restart: the key, a
hash of the channel and that id (never a chat id), is recorded in the database (``webhook_updates``) before
the update is processed, and kept for a few days.

The path secret of Telegram's URL is derived from TELEGRAM_WEBHOOK_SECRET, so neither the header's secret nor
the bot token ever appears in a URL (and uvicorn's access log, which would print paths, is off).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import socket
from collections import OrderedDict
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from telegram.ext import Application

from tipline.bootstrap import Core
from tipline.config import Settings

from ..lanes import Job, Lanes
from ..telegram.app import ALLOWED_UPDATES, build_application
from ..telegram.light import parse_update as telegram_update
from ..zalo.app import ZaloBot
from ..zalo.client import ZaloBotClient
from ..zalo.updates import SECRET_HEADER as ZALO_SECRET_HEADER
from ..zalo.updates import parse_update

log = logging.getLogger(__name__)

TELEGRAM_SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
MAX_BODY = 1024 * 1024  # an update is a few kilobytes; nothing bigger is read
RECENT_KEYS = 10_000  # keys remembered in memory, to answer a quick redelivery without the database
KEEP_KEYS = timedelta(days=3)  # how long a key stays in the database (platforms stop retrying long before)
PURGE_EVERY_SECONDS = 3600
HEALTH_TIMEOUT = 2.0
# Updates processed at once (across chats) and allowed to wait: beyond that, 503 and the platform retries.
# Few at once leave the event loop to the acknowledgements during a burst; the database serialises writes anyway.
CONCURRENCY = 16
CAPACITY = 10_000


def update_key(channel: str, update_id: str) -> str:
    """What is stored of an update: a hash of its channel and its own id, never a chat id."""
    return hashlib.sha256(f"{channel}:{update_id}".encode()).hexdigest()


def telegram_path_secret(webhook_secret: str) -> str:
    """The secret part of Telegram's webhook path, derived from TELEGRAM_WEBHOOK_SECRET."""
    return hmac.new(webhook_secret.encode(), b"tipline/telegram-webhook-path/v1", hashlib.sha256).hexdigest()[:32]


def _same(received: str | None, expected: str) -> bool:
    """Constant-time comparison, so a guess does not learn how much of it was right."""
    return received is not None and bool(expected) and hmac.compare_digest(received.encode(), expected.encode())


def _refused(received: str | None) -> Response:
    """401 without the secret, 403 with a wrong one: said in as few words as possible."""
    return Response(status_code=401 if received is None else 403)


async def _body(request: Request) -> bytes | None:
    """The request's body, or None when it is larger than ``MAX_BODY`` (read no further than that)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY:
        return None
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY:
            return None
    return bytes(body)


def _json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:  # UnicodeDecodeError is one
        return None


class Intake:
    """What both webhooks share: recognising redeliveries, the lanes, and the time of the last update."""

    def __init__(self, core: Core, lanes: Lanes) -> None:
        self.core = core
        self.lanes = lanes
        self.last_seen: dict[str, datetime] = {}
        self._recent: OrderedDict[str, None] = OrderedDict()

    def accept(self, channel: str, update_id: str, lane: str, job: Job) -> Response:
        key = update_key(channel, update_id)
        if key in self._recent:
            return Response(status_code=200)  # already taken in: processed once
        if not self.lanes.submit(lane, self._once(channel, key, job)):
            log.error("%s webhook: %d updates wait already; asking the platform to send this one later", channel, self.lanes.pending)
            return Response(status_code=503, headers={"Retry-After": "5"})
        self._recent[key] = None
        while len(self._recent) > RECENT_KEYS:
            self._recent.popitem(last=False)
        self.last_seen[channel] = self.core.clock()
        return Response(status_code=200)

    def _once(self, channel: str, key: str, job: Job) -> Job:
        async def run() -> None:
            async with self.core.storage.uow() as uow:
                first = await uow.webhook_updates.first_time(key, self.core.clock())
            if first:
                await job()
            else:
                log.info("%s webhook: an update sent again was skipped (processed before)", channel)

        return run

    async def purge(self) -> int:
        async with self.core.storage.uow() as uow:
            return await uow.webhook_updates.purge(self.core.clock() - KEEP_KEYS)


class TelegramWebhook:
    """``POST /telegram/<path-secret>``: python-telegram-bot's Application processes the update."""

    def __init__(self, application: Application[Any, Any, Any, Any, Any, Any], secret: str, intake: Intake) -> None:
        self.application = application
        self.secret = secret
        self.path_secret = telegram_path_secret(secret)
        self.intake = intake

    async def endpoint(self, request: Request) -> Response:
        if not _same(request.path_params.get("secret"), self.path_secret):
            return Response(status_code=404)
        received = request.headers.get(TELEGRAM_SECRET_HEADER)
        if not _same(received, self.secret):
            log.warning("telegram webhook: a request with %s secret was refused", "no" if received is None else "a wrong")
            return _refused(received)
        body = await _body(request)
        if body is None:
            log.warning("telegram webhook: a body over %d bytes was refused", MAX_BODY)
            return Response(status_code=413)
        data = _json(body)
        lane = _telegram_lane(data)
        if lane is None:
            log.warning("telegram webhook: a malformed body was refused (%d bytes)", len(body))
            return Response(status_code=400)
        return self.intake.accept("telegram", str(data["update_id"]), lane, lambda: self._process(data))

    async def _process(self, data: dict[str, Any]) -> None:
        """Read (python-telegram-bot's ``de_json`` takes a while; a citizen's text or press is read light) only
        after the acknowledgement."""
        try:
            update = telegram_update(data, self.application.bot)
        except Exception:  # whatever the shape: dropped with a line, never an error page
            log.warning("telegram webhook: an update that could not be read was dropped")
            return
        await self.application.process_update(update)


def _telegram_lane(data: Any) -> str | None:
    """The lane (chat) of a Telegram update read from its JSON, cheaply, in the request; None when the body is
    not an update (no integer ``update_id``, or a message without a chat with an integer id)."""
    if not isinstance(data, dict) or type(data.get("update_id")) is not int:
        return None
    for kind in ("message", "edited_message", "channel_post", "edited_channel_post"):
        if kind in data:
            return _chat_lane(data[kind])
    if "callback_query" in data:
        query = data["callback_query"]
        if not isinstance(query, dict):
            return None
        if isinstance(query.get("message"), dict):
            return _chat_lane(query["message"])
        sender = query.get("from")  # a button under an inline message: the person's private chat
        return f"telegram:{sender['id']}" if isinstance(sender, dict) and type(sender.get("id")) is int else None
    return "telegram:-"  # a kind the bot does not ask for: handled (ignored) in a lane of its own


def _chat_lane(message: Any) -> str | None:
    chat = message.get("chat") if isinstance(message, dict) else None
    return f"telegram:{chat['id']}" if isinstance(chat, dict) and type(chat.get("id")) is int else None


class ZaloWebhook:
    """``POST /zalo``: the Zalo adapter processes the update (either envelope Zalo uses)."""

    def __init__(self, bot: ZaloBot, secret: str, intake: Intake) -> None:
        self.bot = bot
        self.secret = secret
        self.intake = intake

    async def endpoint(self, request: Request) -> Response:
        received = request.headers.get(ZALO_SECRET_HEADER)
        if not _same(received, self.secret):
            log.warning("zalo webhook: a request with %s secret was refused", "no" if received is None else "a wrong")
            return _refused(received)
        body = await _body(request)
        if body is None:
            log.warning("zalo webhook: a body over %d bytes was refused", MAX_BODY)
            return Response(status_code=413)
        update = parse_update(_json(body))
        if update is None:
            log.warning("zalo webhook: a malformed body was refused (%d bytes)", len(body))
            return Response(status_code=400)
        if not self.bot.wanted(update):
            return Response(status_code=200)  # a group or a bot: nothing for the tip line
        return self.intake.accept("zalo", update.message_id, self.bot.lane(update), self.bot.job(update))


def build_web_app(intake: Intake, telegram: TelegramWebhook | None, zalo: ZaloWebhook | None) -> Starlette:
    """The ASGI application: the webhooks of the channels that run, and the health check."""
    core = intake.core

    async def healthz(request: Request) -> Response:
        now = core.clock()
        try:
            async with asyncio.timeout(HEALTH_TIMEOUT), core.storage.read() as uow:
                waiting, oldest = await uow.outbox.backlog(now)
        except Exception as exc:
            log.warning("health check: the database did not answer (%s)", type(exc).__name__)
            return JSONResponse({"ok": False, "database": "unreachable"}, status_code=503)
        age = (now - oldest).total_seconds() if oldest is not None else 0.0
        channels = ([("telegram", telegram)] if telegram else []) + ([("zalo", zalo)] if zalo else [])
        return JSONResponse(
            {
                "ok": True,
                "database": "ok",
                "outbox": {"waiting": waiting, "oldest_seconds": round(max(age, 0.0), 1)},
                "updates": {
                    "processing": intake.lanes.pending,
                    "last_seen": {
                        name: (intake.last_seen[name].isoformat() if name in intake.last_seen else None)
                        for name, _hook in channels
                    },
                },
            }
        )

    routes = [Route("/healthz", healthz, methods=["GET"])]
    if telegram is not None:
        routes.append(Route("/telegram/{secret}", telegram.endpoint, methods=["POST"]))
    if zalo is not None:
        routes.append(Route("/zalo", zalo.endpoint, methods=["POST"]))
    return Starlette(routes=routes)


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: the runner stops every channel together (``WebhookService``)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def shared_socket(host: str, port: int) -> socket.socket:
    """A listening socket that several worker processes can open on the same port (SO_REUSEPORT: the kernel
    spreads connections among them), as `uvicorn --workers` would."""
    family = socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if hasattr(socket, "SO_REUSEPORT"):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host.strip("[]"), port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


class WebhookService:
    """Everything webhook mode runs beside the core: the channels' webhooks registered, the web server, the
    lanes that process updates, the core's background loops, and the purge of old update keys."""

    def __init__(self, settings: Settings, core: Core, *, background: bool = True) -> None:
        if not settings.tipline_public_url:
            raise ValueError("webhook mode needs TIPLINE_PUBLIC_URL")
        self.settings = settings
        self.core = core
        self.background = background
        self.lanes = Lanes(CONCURRENCY, CAPACITY)
        self.intake = Intake(core, self.lanes)
        self.telegram: TelegramWebhook | None = None
        self.zalo: ZaloWebhook | None = None
        self.zalo_client: ZaloBotClient | None = None
        self.app: Starlette | None = None
        self._server: _Server | None = None
        self._tasks: list[asyncio.Task[Any]] = []

    @property
    def public_url(self) -> str:
        assert self.settings.tipline_public_url is not None
        return self.settings.tipline_public_url

    async def start(self, sock: socket.socket | None = None) -> None:
        """Registers the webhooks and starts serving (on ``sock`` if given, else on TIPLINE_LISTEN)."""
        settings, core = self.settings, self.core
        where = []
        if settings.telegram_bot_token and settings.telegram_webhook_secret:
            application = build_application(settings, core, background=False)
            await application.initialize()
            if application.post_init:
                await application.post_init(application)
            await application.start()
            self.telegram = TelegramWebhook(application, settings.telegram_webhook_secret, self.intake)
            await application.bot.set_webhook(
                f"{self.public_url}/telegram/{self.telegram.path_secret}",
                secret_token=settings.telegram_webhook_secret,
                allowed_updates=ALLOWED_UPDATES,
            )
            where.append(f"Telegram at {self.public_url}/telegram/…")
        if settings.zalo_bot_token and settings.zalo_webhook_secret:
            self.zalo_client = ZaloBotClient(settings.zalo_bot_token, settings.zalo_api_base_url)
            self.zalo = ZaloWebhook(ZaloBot(core, self.zalo_client), settings.zalo_webhook_secret, self.intake)
            await self.zalo_client.set_webhook(f"{self.public_url}/zalo", settings.zalo_webhook_secret)
            where.append(f"Zalo at {self.public_url}/zalo")
        self.app = build_web_app(self.intake, self.telegram, self.zalo)
        if sock is None:
            sock = shared_socket(*settings.listen)
        host, port = sock.getsockname()[:2]
        config = uvicorn.Config(
            self.app, host=host, port=port, log_config=None, access_log=False, lifespan="off", server_header=False,
        )
        # Access log lines would print request paths, and Telegram's holds the path secret: never written.
        logging.getLogger("uvicorn.access").disabled = True
        self._server = _Server(config)
        served = asyncio.create_task(self._server.serve(sockets=[sock] if sock is not None else None), name="web")
        self._tasks.append(served)
        while not self._server.started:
            if served.done():
                await served  # raises why it could not start
                raise RuntimeError("the web server stopped while starting")
            await asyncio.sleep(0.01)
        if self.background:
            self._tasks.append(asyncio.create_task(core.background(), name="core-background"))
        self._tasks.append(asyncio.create_task(self._purge_loop(), name="webhook-keys-purge"))
        log.info("webhook mode: listening on %s:%d; webhooks registered: %s", host, port, ", ".join(where) or "none")

    async def _purge_loop(self) -> None:
        while True:
            try:
                removed = await self.intake.purge()
                if removed:
                    log.info("purge: %d webhook update keys removed", removed)
            except Exception:
                log.exception("purging webhook update keys failed")
            await asyncio.sleep(PURGE_EVERY_SECONDS)

    async def stop(self) -> None:
        """Stops serving, lets the updates already taken in finish, stops the channels (webhooks stay set:
        the platforms keep updates for a while and send them once the service is back)."""
        if self._server is not None:
            self._server.should_exit = True
        served, rest = self._tasks[:1], self._tasks[1:]
        await asyncio.gather(*served, return_exceptions=True)
        await self.lanes.close()
        for task in rest:
            task.cancel()
        await asyncio.gather(*rest, return_exceptions=True)
        self._tasks = []
        if self.telegram is not None:
            application = self.telegram.application
            await application.stop()
            if application.post_stop:
                await application.post_stop(application)
            await application.shutdown()
        if self.zalo_client is not None:
            await self.zalo_client.aclose()


async def run_webhook(settings: Settings, core: Core, stop: asyncio.Event) -> None:
    """Webhook mode until ``stop`` is set."""
    service = WebhookService(settings, core, background=settings.tipline_background)
    try:
        await service.start()
        await stop.wait()
    finally:
        await service.stop()
