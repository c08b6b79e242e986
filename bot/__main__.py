"""``python -m bot``: the Telegram bot when TELEGRAM_BOT_TOKEN is set, local console mode otherwise."""

from __future__ import annotations

import asyncio
import logging
import sys

from tipline.bootstrap import bootstrap
from tipline.config import ConfigError, Settings, load_settings

from . import logs


def main() -> int:
    try:
        settings = load_settings()
        settings.secret()
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


def run_telegram(settings: Settings) -> int:
    from .telegram.app import build_application

    application = build_application(settings)
    application.run_polling(allowed_updates=["message", "edited_message", "callback_query", "my_chat_member"])
    return 0


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
