"""The real Zalo adapter (``bot.zalo``: its HTTP client, long polling, the channel) running against the local
Zalo Bot API server (tests/zaloapi), on the core of a ``RunningBot`` so that moderators work on the local
Telegram server as in the other end-to-end tests.

``RunningZalo.settle`` waits until every update the test caused was handled to the end, so tests never sleep.
``ZaloCitizen`` wraps a simulated person: do something, get the bot's answers (as texts).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable
from typing import Any

from harness import FakeClock
from zaloapi import FakeZaloApi, SimUser

from bot.lanes import Lanes
from bot.zalo.app import ZaloBot
from bot.zalo.client import ZaloBotClient
from bot.zalo.updates import ZaloUpdate
from tipline.bootstrap import Core

NUMBERED = re.compile(r"^\s*(\d+)\) (.+)$", re.MULTILINE)


class RunningZalo:
    def __init__(self, core: Core, zapi: FakeZaloApi) -> None:
        self.core = core
        self.zapi = zapi
        self.client = ZaloBotClient(zapi.token, base_url=zapi.base_url)
        self.bot = ZaloBot(core, self.client)
        self.lanes = Lanes()
        self.stopping = asyncio.Event()
        self.caused = 0  # updates the test caused
        self.handled = 0  # updates the adapter finished with
        self._task: asyncio.Task[None] | None = None
        handle = self.bot.handle

        async def counted(update: ZaloUpdate) -> None:
            try:
                await handle(update)
            finally:
                self.handled += 1

        self.bot.handle = counted  # type: ignore[method-assign]

    async def start(self) -> None:
        self._task = asyncio.create_task(self.bot.poll(self.lanes, self.stopping))

    async def stop(self) -> None:
        self.stopping.set()
        if self._task is not None:
            await self._task
        await self.lanes.close()
        await self.client.aclose()

    async def settle(self, timeout: float = 10.0) -> None:
        deadline = asyncio.get_running_loop().time() + timeout
        while self.handled < self.caused:
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"{self.caused - self.handled} Zalo update(s) not handled within {timeout}s")
            await asyncio.sleep(0.005)


class ZaloCitizen:
    """A simulated person talking to the bot on Zalo."""

    def __init__(self, user: SimUser, zalo: RunningZalo, clock: FakeClock, pace: float = 2.0) -> None:
        self.user = user
        self.zalo = zalo
        self.clock = clock
        self.pace = pace

    async def _after(self, action: Awaitable[Any]) -> list[str]:
        self.clock.advance(seconds=self.pace)
        self.zalo.caused += 1
        await action
        await self.zalo.settle()
        new = len(self.user.chat.sent_log) - self.user._sent_cursor
        messages = await self.user.wait_for(new) if new else []
        return [m.get("text") or m.get("caption") or m.get("kind", "") for m in messages]

    async def say(self, text: str) -> list[str]:
        return await self._after(self.user.send(text))

    async def send(self, action: Awaitable[Any]) -> list[str]:
        """Any other action: ``citizen.send(user.send_image())``."""
        return await self._after(action)


def number_of(messages: list[str], words: str) -> str:
    """The number to type for the option whose label contains ``words`` in the last numbered list."""
    for text in reversed(messages):
        options = NUMBERED.findall(text)
        if options:
            for number, label in options:
                if words.lower() in label.lower():
                    return number
            raise AssertionError(f"no option with {words!r} in {options}")
    raise AssertionError(f"no numbered options in {messages}")
