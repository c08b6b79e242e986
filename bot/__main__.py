"""``python -m bot``: the Telegram bot when TELEGRAM_BOT_TOKEN is set, local console mode otherwise."""

from __future__ import annotations

import asyncio
import logging
import sys

from tipline.bootstrap import bootstrap, open_storage
from tipline.config import ConfigError, Settings, load_settings

from . import logs


def main() -> int:
    try:
        settings = load_settings()
        settings.secret()
        asyncio.run(_check_database(settings))
    except ConfigError as exc:
        print(f"tipline: configuration error: {exc}", file=sys.stderr)
        return 2
    if settings.telegram_bot_token:
        logs.configure(logging.INFO)
        return run_telegram(settings)
    logs.configure(logging.WARNING)
    try:
        return asyncio.run(run_local(settings))
    except KeyboardInterrupt:
        print(file=sys.stderr)
        return 130


async def _check_database(settings: Settings) -> None:
    """Opens the database once before anything starts: migrations, and the secret it was written with."""
    storage = await open_storage(settings)
    await storage.close()


def run_telegram(settings: Settings) -> int:
    from .telegram.app import build_application

    application = build_application(settings)
    _faster_event_loop()
    application.run_polling(allowed_updates=["message", "edited_message", "callback_query"])
    return 0


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
