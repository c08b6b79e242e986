"""Local console mode: the citizen flows in a terminal, choices written out to be typed back, no network.

Started by ``python -m bot`` when no TELEGRAM_BOT_TOKEN is set, so anyone can try the bot at once.
"""

from __future__ import annotations

import asyncio
import sys
import threading
from functools import partial
from typing import TextIO

from tipline.citizen.service import CitizenService
from tipline.delivery.plain import plain_text
from tipline.delivery.port import ChannelTraits
from tipline.events import Command, Inbound, Text
from tipline.i18n import DEFAULT_LANGUAGE, translator
from tipline.replies import Reply

CHANNEL = "console"
CHAT = "local"
TRAITS = ChannelTraits(buttons=False, max_text=100_000, reply_to=False, edits=False)


def render(replies: list[Reply]) -> str:
    """The replies as terminal text, each followed by a blank line."""
    return "".join(plain_text(reply) + "\n\n" for reply in replies)


def parse(line: str) -> Inbound:
    """The event for a typed line: a command, or text (the core decides whether it picks a choice)."""
    text = line.strip()
    if text.startswith("/") and len(text) > 1:
        head, _sep, args = text.partition(" ")
        return Command(head[1:], args.strip())
    return Text(line.rstrip("\n"))


async def _read_line(stdin: TextIO) -> str:
    """Reads a line in a daemon thread, so Ctrl-C is not kept waiting for the Enter key."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[str] = loop.create_future()

    def read() -> None:
        try:
            line = stdin.readline()
        except (OSError, ValueError):
            line = ""
        def deliver() -> None:
            if not future.done():
                future.set_result(line)

        loop.call_soon_threadsafe(deliver)

    threading.Thread(target=read, daemon=True).start()
    return await future


async def show(replies: list[Reply], stdout: TextIO = sys.stdout) -> None:
    """Delivers replies to the terminal (the service drops a receipt copy once this returned)."""
    stdout.write(render(replies))
    stdout.flush()


async def run_console(service: CitizenService, stdin: TextIO = sys.stdin, stdout: TextIO = sys.stdout) -> None:
    _ = translator(DEFAULT_LANGUAGE).gettext
    banner = _(
        "Tipline, local console mode (no TELEGRAM_BOT_TOKEN set). Type a number to pick an option, "
        "text to answer, /help for commands, /quit or Ctrl-D to leave."
    )
    stdout.write(banner + "\n\n")
    await service.handle(CHANNEL, CHAT, Command("start"), partial(show, stdout=stdout), TRAITS)
    while True:
        stdout.write("> ")
        stdout.flush()
        line = await _read_line(stdin)
        if not line or line.strip() in ("/quit", "/exit"):
            stdout.write("\n")
            return
        if not line.strip():
            continue
        await service.handle(CHANNEL, CHAT, parse(line), partial(show, stdout=stdout), TRAITS)
