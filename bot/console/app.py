"""Local console mode: the citizen flows in a terminal, choices as numbered options, no network.

Started by ``python -m bot`` when no TELEGRAM_BOT_TOKEN is set, so anyone can try the bot at once.
"""

from __future__ import annotations

import asyncio
import sys
import threading
from functools import partial
from typing import TextIO

from tipline.citizen.service import Tipline
from tipline.events import Command, Inbound, Pick, Text
from tipline.i18n import DEFAULT_LANGUAGE, translator
from tipline.replies import Choice, Reply

CHANNEL = "console"
CHAT = "local"


def render(replies: list[Reply]) -> tuple[str, list[Choice]]:
    """The replies as terminal text, and the numbered options of the last question."""
    lines: list[str] = []
    options: list[Choice] = []
    for reply in replies:
        lines.append(reply.text)
        if reply.choices:
            options = reply.flat_choices
            lines.extend(f"  {number}) {choice.label}" for number, choice in enumerate(options, start=1))
        lines.append("")
    return "\n".join(lines), options


def parse(line: str, options: list[Choice]) -> Inbound:
    """The event for a typed line. A number that is not an option goes to the core as text, which
    answers it as it answers any unexpected text on that step."""
    text = line.strip()
    if text.isdigit() and options and 1 <= int(text) <= len(options):
        return Pick(options[int(text) - 1].data)
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
        loop.call_soon_threadsafe(lambda: future.done() or future.set_result(line))

    threading.Thread(target=read, daemon=True).start()
    return await future


async def show(replies: list[Reply], stdout: TextIO = sys.stdout) -> None:
    """Delivers replies to the terminal (the service drops a receipt copy once this returned)."""
    stdout.write(render(replies)[0])
    stdout.flush()


async def run_console(service: Tipline, stdin: TextIO = sys.stdin, stdout: TextIO = sys.stdout) -> None:
    _ = translator(DEFAULT_LANGUAGE).gettext
    banner = _(
        "Tipline, local console mode (no TELEGRAM_BOT_TOKEN set). Type a number to pick an option, "
        "text to answer, /help for commands, /quit or Ctrl-D to leave."
    )
    stdout.write(banner + "\n\n")
    output, options = render(await service.handle(CHANNEL, CHAT, Command("start")))
    stdout.write(output)
    stdout.flush()
    while True:
        stdout.write("> ")
        stdout.flush()
        line = await _read_line(stdin)
        if not line or line.strip() in ("/quit", "/exit"):
            stdout.write("\n")
            return
        if not line.strip():
            continue
        replies = await service.handle(CHANNEL, CHAT, parse(line, options), partial(show, stdout=stdout))
        if replies:
            options = render(replies)[1]
