"""``python -m bot``: the channels whose tokens are set (TELEGRAM_BOT_TOKEN, ZALO_BOT_TOKEN), by long polling
(the default) or by webhooks (TIPLINE_MODE=webhook, ``bot.web``); local console mode when no token is set.

Telegram and Zalo run in one process when both tokens are set, or in separate processes (each with its own
token) sharing the database: each process delivers the outbox items of the channels it runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from typing import Any

from tipline.bootstrap import Core, bootstrap, open_storage
from tipline.config import ConfigError, Settings, load_settings

from . import logs

log = logging.getLogger("bot")


def main() -> int:
    try:
        settings = load_settings()
        settings.secret()
        asyncio.run(_check_database(settings))
    except ConfigError as exc:
        print(f"tipline: configuration error: {exc}", file=sys.stderr)
        return 2
    if not settings.channels:
        logs.configure(logging.WARNING)
        try:
            return asyncio.run(run_local(settings))
        except KeyboardInterrupt:
            print(file=sys.stderr)
            return 130
    logs.configure(logging.INFO)
    if settings.tipline_mode == "polling" and settings.channels == ["telegram"]:
        return run_telegram(settings)
    _faster_event_loop()
    return asyncio.run(run_channels(settings))


async def _check_database(settings: Settings) -> None:
    """Opens the database once before anything starts: migrations, and the secret it was written with."""
    storage = await open_storage(settings)
    await storage.close()


def run_telegram(settings: Settings) -> int:
    """Telegram alone by long polling: python-telegram-bot's own loop (signals, retries at start-up)."""
    from .telegram.app import ALLOWED_UPDATES, build_application

    application = build_application(settings, background=settings.tipline_background)
    _faster_event_loop()
    application.run_polling(allowed_updates=ALLOWED_UPDATES)
    return 0


async def run_channels(settings: Settings) -> int:
    """Zalo (and Telegram beside it) by long polling, or every channel by webhook, until SIGINT or SIGTERM."""
    core = await bootstrap(settings)
    if "telegram" not in settings.channels:
        log.warning("Telegram does not run in this process: moderators' cards wait for a process that runs it")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        if settings.tipline_mode == "webhook":
            from .web.app import run_webhook

            await run_webhook(settings, core, stop)
        else:
            await run_polling(settings, core, stop)
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        await core.close()
    return 0


async def run_polling(settings: Settings, core: Core, stop: asyncio.Event) -> None:
    """Long polling on every channel with a token, sharing one core (and one run of its background loops)."""
    from .lanes import Lanes
    from .telegram.app import ALLOWED_UPDATES, build_application
    from .zalo.app import ZaloBot
    from .zalo.client import ZaloBotClient

    lanes = Lanes()
    tasks: list[asyncio.Task[Any]] = []
    if settings.tipline_background:
        tasks.append(asyncio.create_task(core.background(), name="core-background"))
    application = None
    client = None
    try:
        if settings.telegram_bot_token:
            application = build_application(settings, core, background=False)
            await application.initialize()
            if application.post_init:
                await application.post_init(application)
            assert application.updater is not None
            await application.updater.start_polling(allowed_updates=ALLOWED_UPDATES)
            await application.start()
        if settings.zalo_bot_token:
            client = ZaloBotClient(settings.zalo_bot_token, settings.zalo_api_base_url)
            tasks.append(asyncio.create_task(ZaloBot(core, client).poll(lanes, stop), name="zalo-polling"))
        log.info("long polling: %s", ", ".join(settings.channels))
        await stop.wait()
    finally:
        stop.set()
        await lanes.close()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if application is not None:
            with contextlib.suppress(Exception):
                if application.updater is not None and application.updater.running:
                    await application.updater.stop()
                if application.running:
                    await application.stop()
                if application.post_stop:
                    await application.post_stop(application)
                await application.shutdown()
        if client is not None:
            await client.aclose()


def _faster_event_loop() -> None:
    """The bot's event loop is uvloop's (libuv) where it is installed: every update, request and database
    answer goes through the loop's callbacks and sockets, which cost less there (bench/compare.py: about
    8% less CPU per report)."""
    try:
        import uvloop
    except ImportError:  # Windows has none: the standard loop
        return
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


async def run_local(settings: Settings) -> int:
    from .console.app import run_console

    core = await bootstrap(settings)
    try:
        await run_console(core.citizens)
    finally:
        await core.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
