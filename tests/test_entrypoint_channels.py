"""`python -m bot` as deployed with Zalo: Telegram and Zalo by long polling in one process, and webhook mode,
each a separate process talking to the local servers over HTTP, stopped by a signal."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from backends import database_env, database_url_for, ensure_database
from botapi import FakeBotApi
from harness import SECRET
from zaloapi import FakeZaloApi

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
async def zapi() -> AsyncIterator[FakeZaloApi]:
    async with FakeZaloApi() as server:
        yield server


async def database(path: Path) -> dict[str, str]:
    """The environment naming a test's database (created first on PostgreSQL)."""
    await ensure_database(database_url_for(path))
    return database_env(path)


async def run_bot(env: dict[str, str]) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", cwd=ROOT, env={**os.environ, **env},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )


async def stop(process: asyncio.subprocess.Process, sig: int = signal.SIGINT) -> str:
    process.send_signal(sig)
    _out, err = await asyncio.wait_for(process.communicate(), 30)
    log = err.decode()
    assert process.returncode == 0, log
    assert "Traceback" not in log
    return log


async def test_telegram_and_zalo_by_long_polling_in_one_process(api: FakeBotApi, zapi: FakeZaloApi, tmp_path: Path) -> None:
    process = await run_bot({
        "TELEGRAM_BOT_TOKEN": api.token, "TELEGRAM_API_BASE_URL": api.base_url,
        "TELEGRAM_API_FILE_URL": api.base_file_url, "ZALO_BOT_TOKEN": zapi.token, "ZALO_API_BASE_URL": zapi.base_url,
        **await database(tmp_path / "tipline.sqlite3"), "TIPLINE_SECRET_KEY": SECRET,
    })
    try:
        lan = api.user(first_name="Lan", username="lan_vn_88")
        hoa = zapi.user(display_name="Trần Thị Hoa")
        await lan.send("/start")
        await hoa.send("Xin chào")
        [welcome] = await lan.wait_for(1, timeout=30)
        assert "113" in welcome["text"] and welcome["reply_markup"]
        [zalo_welcome] = await hoa.wait_for(1, timeout=30)
        assert "113" in zalo_welcome["text"] and "1) " in zalo_welcome["text"]
        await hoa.send("tra cứu")
        [asked] = await hoa.wait_for(1, timeout=30)
        assert "TL-" in asked["text"]
    finally:
        log = await stop(process)
    assert "long polling: telegram, zalo" in log
    for secret in ("Lan", str(lan.id), api.token, "Hoa", hoa.id, zapi.token):
        assert secret not in log
    api.assert_no_refusals()
    zapi.assert_no_refusals()


async def test_webhook_mode_registers_answers_and_stops_on_sigterm(zapi: FakeZaloApi, tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = await run_bot({
        "ZALO_BOT_TOKEN": zapi.token, "ZALO_API_BASE_URL": zapi.base_url, "ZALO_WEBHOOK_SECRET": "z" * 24,
        "TIPLINE_MODE": "webhook", "TIPLINE_PUBLIC_URL": f"http://127.0.0.1:{port}", "TIPLINE_LISTEN": f"127.0.0.1:{port}",
        **await database(tmp_path / "tipline.sqlite3"), "TIPLINE_SECRET_KEY": SECRET,
    })
    try:
        for _ in range(300):  # the bot registers its webhook once it listens
            if zapi.webhook is not None:
                break
            await asyncio.sleep(0.05)
        assert zapi.webhook is not None and zapi.webhook.url == f"http://127.0.0.1:{port}/zalo"
        async with httpx.AsyncClient() as http:  # ready, as a load balancer would ask, before Zalo posts
            for _ in range(300):
                with contextlib.suppress(httpx.HTTPError):
                    if (await http.get(f"http://127.0.0.1:{port}/healthz")).status_code == 200:
                        break
                await asyncio.sleep(0.05)
        hoa = zapi.user(display_name="Trần Thị Hoa")
        await hoa.send("/start")
        try:
            [welcome] = await hoa.wait_for(1, timeout=30)
        except AssertionError as missing:
            raise AssertionError(f"{missing}\ndeliveries: {[str(d) for d in zapi.deliveries]}") from None
        assert "113" in welcome["text"]
        assert [d.status for d in zapi.deliveries] == [200]
    finally:
        log = await stop(process, signal.SIGTERM)
    [line] = [line for line in log.splitlines() if "webhook mode" in line]
    assert f"Zalo at http://127.0.0.1:{port}/zalo" in line
    for secret in ("Hoa", hoa.id, zapi.token, "z" * 24):
        assert secret not in log
    zapi.assert_no_refusals()
