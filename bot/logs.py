"""Logging set-up. Our own log lines carry tip codes only; libraries are kept quiet because their
debug and info lines carry what we must never log: python-telegram-bot's debug output prints whole
updates (names, user ids), httpx's info line prints request URLs, which contain the bot token."""

from __future__ import annotations

import logging

LIBRARY_LEVELS = {
    "httpx": logging.WARNING, "httpcore": logging.WARNING, "telegram": logging.WARNING, "aiosqlite": logging.WARNING,
    # uvicorn's access lines print request paths (the Telegram webhook's holds a secret); webhook mode also
    # turns that logger off entirely (bot.web).
    "uvicorn.access": logging.WARNING,
}


def quiet_libraries() -> None:
    for name, level in LIBRARY_LEVELS.items():
        logging.getLogger(name).setLevel(level)


def configure(level: int = logging.INFO) -> None:
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    quiet_libraries()
