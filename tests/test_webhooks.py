"""Webhook mode (bot.web) over real HTTP: the bot registers its webhooks with the local Telegram and Zalo servers,
which (Zalo) or the test (Telegram, whose local server does not post) then post updates to it. Forged and missing
secrets, malformed bodies, redeliveries (also after a restart), 200 updates at once, and the health check."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from backends import database_url_for, ensure_database, open_test_storage
from botapi import FakeBotApi
from harness import SECRET, FakeClock
from zaloapi import FakeZaloApi
from zaloapi.world import new_id

import bot.telegram.channel as telegram_channel
import bot.zalo.channel as zalo_channel
from bot.logs import quiet_libraries
from bot.web.app import TELEGRAM_SECRET_HEADER, WebhookService, telegram_path_secret
from bot.zalo.updates import SECRET_HEADER as ZALO_SECRET_HEADER
from tipline.bootstrap import bootstrap
from tipline.config import Settings

TELEGRAM_SECRET = "telegram-webhook-secret-0123456789"
ZALO_SECRET = "zalo-webhook-secret-0123456789"
PUBLIC = "https://tipline.example.org"  # what Telegram is told; the test posts to the local address itself


def free_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


class Running:
    """A webhook service on its own core, started on a fresh local port; ``restart`` keeps the database."""

    def __init__(self, db: Path, clock: FakeClock, api: FakeBotApi | None, zapi: FakeZaloApi | None, public: str | None) -> None:
        self.db, self.clock, self.api, self.zapi, self.public = db, clock, api, zapi, public
        self.service: WebhookService | None = None
        self.url = ""

    async def start(self) -> WebhookService:
        sock = free_socket()
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        extra: dict[str, Any] = {}
        if self.api is not None:
            extra |= dict(
                telegram_bot_token=self.api.token, telegram_api_base_url=self.api.base_url,
                telegram_api_file_url=self.api.base_file_url, telegram_webhook_secret=TELEGRAM_SECRET,
            )
        if self.zapi is not None:
            extra |= dict(zalo_bot_token=self.zapi.token, zalo_api_base_url=self.zapi.base_url, zalo_webhook_secret=ZALO_SECRET)
        await ensure_database(database_url_for(self.db))
        settings = Settings(
            tipline_db=self.db, tipline_database_url=database_url_for(self.db), tipline_secret_key=SECRET, tipline_mode="webhook",
            tipline_public_url=self.public or self.url, **extra,
        )
        core = await bootstrap(settings, clock=self.clock)
        self.service = WebhookService(settings, core, background=False)
        try:
            await self.service.start(sock)
        except BaseException:
            await self.service.stop()
            await core.close()
            raise
        return self.service

    async def stop(self) -> None:
        if self.service is not None:
            service, self.service = self.service, None
            await service.stop()
            await service.core.close()

    async def restart(self) -> WebhookService:
        await self.stop()
        return await self.start()

    async def settle(self) -> None:
        assert self.service is not None
        if self.zapi is not None:
            await self.zapi.webhook_idle()
        await self.service.lanes.join()

    async def seen_keys(self) -> int:
        """Keys of the updates taken in, as stored."""
        if self.service is not None:
            async with self.service.core.storage.read() as uow:
                return await uow.webhook_updates.count()
        storage = await open_test_storage(self.db)
        try:
            async with storage.read() as uow:
                return await uow.webhook_updates.count()
        finally:
            await storage.close()


@pytest.fixture(autouse=True)
def _fast_retries(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(telegram_channel, "RETRY_BASE_DELAY", 0.01)
    monkeypatch.setattr(zalo_channel, "RETRY_BASE_DELAY", 0.01)
    caplog.set_level(logging.INFO)
    quiet_libraries()


@pytest.fixture
async def zapi() -> AsyncIterator[FakeZaloApi]:
    async with FakeZaloApi() as server:
        yield server


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=10) as client:
        yield client


@pytest.fixture
async def zalo_hook(zapi: FakeZaloApi, tmp_path: Path) -> AsyncIterator[Running]:
    running = Running(tmp_path / "tipline.sqlite3", FakeClock(), None, zapi, None)
    await running.start()
    yield running
    await running.stop()
    zapi.assert_no_refusals()


@pytest.fixture
async def telegram_hook(api: FakeBotApi, tmp_path: Path) -> AsyncIterator[Running]:
    running = Running(tmp_path / "tipline.sqlite3", FakeClock(), api, None, PUBLIC)
    await running.start()
    yield running
    await running.stop()
    api.assert_no_refusals()


def zalo_update(user_id: str, text: str, name: str = "Nguyễn Văn Bí Mật") -> dict[str, Any]:
    """An update shaped as Zalo sends it (for posts the test makes itself)."""
    return {
        "event_name": "message.text.received",
        "message": {
            "message_id": new_id(), "date": 1766619597466, "text": text,
            "chat": {"id": user_id, "chat_type": "PRIVATE"},
            "from": {"id": user_id, "display_name": name, "is_bot": False},
        },
    }


async def post_telegram(
    http: httpx.AsyncClient, running: Running, body: bytes | dict[str, Any], secret: str | None = TELEGRAM_SECRET,
    path: str | None = None,
) -> int:
    headers = {"Content-Type": "application/json"}
    if secret is not None:
        headers[TELEGRAM_SECRET_HEADER] = secret
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    path = path or telegram_path_secret(TELEGRAM_SECRET)
    return (await http.post(f"{running.url}/telegram/{path}", content=data, headers=headers)).status_code


def logged(caplog: pytest.LogCaptureFixture) -> str:
    return "\n".join(record.getMessage() for record in caplog.records)


# --- Zalo --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("envelope", ["result", "bare"])
async def test_zalo_posts_to_the_webhook_the_bot_registered(tmp_path: Path, envelope: str, caplog: pytest.LogCaptureFixture) -> None:
    async with FakeZaloApi(webhook_envelope=envelope) as zapi:  # type: ignore[arg-type]
        running = Running(tmp_path / "t.sqlite3", FakeClock(), None, zapi, None)
        await running.start()
        try:
            assert zapi.webhook is not None and zapi.webhook.url == f"{running.url}/zalo"
            assert zapi.webhook.secret_token == ZALO_SECRET
            lan = zapi.user(display_name="Lan")
            await lan.send("/start")
            [delivery] = await zapi.wait_for_deliveries(1)
            assert delivery.status == 200
            await running.settle()
            [welcome] = await lan.wait_for(1)
            assert "113" in welcome["text"] and "1) " in welcome["text"]
            assert await running.seen_keys() == 1
        finally:
            await running.stop()
        zapi.assert_no_refusals()
    [line] = [r.getMessage() for r in caplog.records if r.getMessage().startswith("webhook mode")]
    assert f"Zalo at {running.url}/zalo" in line and zapi.token not in line and ZALO_SECRET not in line


async def test_zalo_forged_missing_and_malformed_posts_are_refused_unread(
    zapi: FakeZaloApi, zalo_hook: Running, caplog: pytest.LogCaptureFixture
) -> None:
    lan = zapi.user(display_name="Lan")
    await lan.send("/start")
    await zapi.wait_for_deliveries(1)
    await zalo_hook.settle()
    await lan.wait_for(1)

    forged = await zapi.redeliver(zalo_update(lan.id, "/help"), secret="not-the-secret-at-all")
    missing = await zapi.redeliver(zalo_update(lan.id, "/help"), secret=None)
    assert (forged.status, missing.status) == (403, 401)
    secret_body = b'{"event_name": "message.text.received", "message": {"text": "Nguy\\u1ec5n V\\u0103n B\\u00ed M\\u1eadt"'
    malformed = [
        await zapi.post_webhook(secret_body),  # cut off
        await zapi.post_webhook({"event_name": "message.text.received", "note": "Nguyễn Văn Bí Mật"}),  # no message
        await zapi.post_webhook(b"[1, 2, 3]"),
        await zapi.post_webhook(b"\xff\xfe not utf-8"),
    ]
    assert [d.status for d in malformed] == [400, 400, 400, 400]
    await zapi.wait_for_deliveries(6)
    await zalo_hook.settle()
    assert await lan.wait_quiet(0.2) == []  # nothing was processed
    assert await zalo_hook.seen_keys() == 1
    text = logged(caplog)
    assert "malformed body was refused" in text and "wrong secret" in text and "no secret" in text
    assert "Bí Mật" not in text and "Bi Mat" not in text and lan.id not in text


async def test_zalo_redelivery_is_processed_once_also_after_a_restart(zapi: FakeZaloApi, zalo_hook: Running) -> None:
    lan = zapi.user(display_name="Lan")
    update = await lan.send("/start")
    await zapi.wait_for_deliveries(1)
    await zalo_hook.settle()
    assert len(await lan.wait_for(1)) == 1
    again = await zapi.redeliver(update)
    assert again.status == 200
    await zalo_hook.settle()
    assert await lan.wait_quiet(0.2) == []

    await zalo_hook.restart()  # memory is gone; the database remembers
    assert zapi.webhook is not None and zapi.webhook.url == f"{zalo_hook.url}/zalo"
    after_restart = await zapi.redeliver(update)
    assert after_restart.status == 200
    await zalo_hook.settle()
    assert await lan.wait_quiet(0.2) == []
    assert await zalo_hook.seen_keys() == 1

    await lan.send("/help")  # and the restarted bot still answers what is new
    await zapi.wait_for_deliveries(1)
    await zalo_hook.settle()
    [helped] = await lan.wait_for(1)
    assert "/status" in helped["text"] and await zalo_hook.seen_keys() == 2


# --- Telegram ----------------------------------------------------------------------------------------------


async def test_telegram_webhook_registered_answered_and_refusals(
    api: FakeBotApi, telegram_hook: Running, http: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    path = telegram_path_secret(TELEGRAM_SECRET)
    assert api.webhook["url"] == f"{PUBLIC}/telegram/{path}" and api.webhook["secret_token"] == TELEGRAM_SECRET
    assert TELEGRAM_SECRET not in path and api.token.split(":")[1] not in api.webhook["url"]
    lan = api.user(first_name="Lan", username="lan_vn_88")
    await lan.send("/start")
    [update] = api.updates  # held by Telegram while a webhook is set: the test posts it, as Telegram would
    api.updates.clear()
    assert await post_telegram(http, telegram_hook, update, secret="wrong-secret-wrong-secret") == 403
    assert await post_telegram(http, telegram_hook, update, secret=None) == 401
    assert await post_telegram(http, telegram_hook, update, path="0" * 32) == 404
    assert await post_telegram(http, telegram_hook, b'{"update_id": 12, "message": {"text": "L\\u00e0 t\\u00f4i"') == 400
    assert await post_telegram(http, telegram_hook, {"update_id": "12", "message": {"text": "Là tôi"}}) == 400
    assert await post_telegram(http, telegram_hook, {"message": {"text": "Là tôi"}}) == 400
    assert await post_telegram(http, telegram_hook, {"update_id": 13, "message": {"text": "Là tôi", "chat": "x"}}) == 400
    await telegram_hook.settle()
    assert lan.inbox == [] and await telegram_hook.seen_keys() == 0  # nothing was processed
    # Shaped like an update but not one: acknowledged (it is read in full afterwards), then dropped with a line.
    assert await post_telegram(http, telegram_hook, {"update_id": 14, "message": {"chat": {"id": lan.id}}}) == 200
    await telegram_hook.settle()
    assert lan.inbox == [] and "an update that could not be read was dropped" in logged(caplog)

    assert await post_telegram(http, telegram_hook, update) == 200
    await telegram_hook.settle()
    [welcome] = await lan.wait_for(1)
    assert "113" in welcome["text"] and welcome["reply_markup"]  # buttons on Telegram, as by long polling
    text = logged(caplog)
    assert "Là tôi" not in text and "Lan" not in text and str(lan.id) not in text and TELEGRAM_SECRET not in text
    assert path not in text and api.token not in text


async def test_telegram_redelivery_is_processed_once_also_after_a_restart(
    api: FakeBotApi, telegram_hook: Running, http: httpx.AsyncClient
) -> None:
    lan = api.user(first_name="Lan")
    await lan.send("/start")
    [update] = api.updates
    api.updates.clear()
    assert [await post_telegram(http, telegram_hook, update) for _ in range(3)] == [200, 200, 200]
    await telegram_hook.settle()
    assert len(await lan.wait_for(1)) == 1 and await lan.wait_quiet(0.2) == []
    await telegram_hook.restart()
    assert await post_telegram(http, telegram_hook, update) == 200
    await telegram_hook.settle()
    assert await lan.wait_quiet(0.2) == [] and await telegram_hook.seen_keys() == 1


# --- both at once ------------------------------------------------------------------------------------------


async def test_200_concurrent_posts_are_each_processed_once(
    api: FakeBotApi, zapi: FakeZaloApi, tmp_path: Path, http: httpx.AsyncClient
) -> None:
    running = Running(tmp_path / "t.sqlite3", FakeClock(), api, zapi, PUBLIC)
    await running.start()
    try:
        zalo_people = [zapi.user(display_name=f"Người {n}", started=True) for n in range(100)]
        telegram_people = [api.user(first_name=f"Người {n}") for n in range(100)]
        for person in telegram_people:
            await person.send("/start")
        telegram_updates = list(api.updates)
        api.updates.clear()
        zalo_updates = [zalo_update(p.id, "/start") for p in zalo_people]

        async def post_zalo(update: dict[str, Any]) -> int:
            headers = {ZALO_SECRET_HEADER: ZALO_SECRET}
            return (await http.post(f"{running.url}/zalo", json={"ok": True, "result": update}, headers=headers)).status_code

        posts = [post_zalo(u) for u in zalo_updates] + [post_telegram(http, running, u) for u in telegram_updates]
        statuses = await asyncio.gather(*posts, *[post_zalo(u) for u in zalo_updates])  # each Zalo one twice
        assert statuses == [200] * 300
        await running.settle()
        assert all(len(p.inbox) == 1 for p in zalo_people), [len(p.inbox) for p in zalo_people]
        assert all(len(p.inbox) == 1 for p in telegram_people), [len(p.inbox) for p in telegram_people]
        assert await running.seen_keys() == 200

        health = await http.get(f"{running.url}/healthz")
        body = health.json()
        assert health.status_code == 200 and body["ok"] and body["database"] == "ok"
        assert body["updates"]["last_seen"]["telegram"] and body["updates"]["last_seen"]["zalo"]
        assert body["outbox"]["waiting"] == 0 and body["updates"]["processing"] == 0
        assert running.service is not None
        await running.service.core.storage.close()  # the database goes away
        broken = await http.get(f"{running.url}/healthz")
        assert broken.status_code == 503 and broken.json() == {"ok": False, "database": "unreachable"}
    finally:
        if running.service is not None:
            await running.service.stop()
            await running.service.core.citizens.close()  # its storage was closed above
            await running.service.core.bulk_storage.close()
            running.service = None
    zapi.assert_no_refusals()
    api.assert_no_refusals()
