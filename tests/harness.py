"""The real bot (python-telegram-bot Application, real HTTP) running against the local Bot API server.

``RunningBot`` starts and stops the application the way ``run_polling`` does, records handler errors,
and knows when every update the server delivered has been fully handled (``settle``), so tests
never sleep. ``Citizen`` wraps a simulated person: do something, get the bot's answers.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from backends import all_records, database_url_for, ensure_database, open_test_storage
from botapi import FakeBotApi, SimUser
from botapi.world import snapshot
from telegram import Update
from telegram.ext import Application, ApplicationHandlerStop, TypeHandler

from bot.telegram.app import build_application
from tipline.bootstrap import Core, bootstrap
from tipline.config import Settings
from tipline.storage.ports import Storage, UnitOfWork
from tipline.tips import Tip

# A secret as an operator would make one (a predictable one is refused at start-up).
SECRET = "Tq8vN2xR5mL7pW3kZ9yB4cH6jD1fG0sA-eUiOoPtest"


class FakeClock:
    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2026, 11, 26, 3, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> None:
        self.now += timedelta(**kwargs)


def settings_for(api: FakeBotApi, db_path: Path, **extra: Any) -> Settings:
    """Settings for a bot under test; on PostgreSQL (tests/backends.py) the database standing for ``db_path``
    (``tipline_database_url=None`` among ``extra`` keeps it on the SQLite file)."""
    values: dict[str, Any] = {
        "telegram_bot_token": api.token,
        "telegram_api_base_url": api.base_url,
        "telegram_api_file_url": api.base_file_url,
        "tipline_db": db_path,
        "tipline_database_url": database_url_for(db_path),
        "tipline_secret_key": SECRET,
    }
    return Settings(**{**values, **extra})


class RunningBot:
    def __init__(self, api: FakeBotApi, db_path: Path, clock: FakeClock | None = None, **settings: Any) -> None:
        self.api = api
        self.extra_settings = settings
        self.db_path = db_path
        self.clock = clock or FakeClock()
        self.errors: list[BaseException] = []
        self.app: Application[Any, Any, Any, Any, Any, Any] | None = None
        self.core: Core | None = None
        self._finished: set[int] = set()
        # Updates issued from now on are this bot's to handle (a restarted bot inherits the backlog).
        self._first_id: int = api._next_update_id

    async def start(self) -> None:
        settings = settings_for(self.api, self.db_path, **self.extra_settings)
        await ensure_database(settings.tipline_database_url)
        self.core = await bootstrap(settings, clock=self.clock)
        app = build_application(settings, self.core)

        async def record_error(update: object, context: Any) -> None:
            self.errors.append(context.error)

        async def finished(update: Update, context: Any) -> None:
            self._finished.add(update.update_id)
            raise ApplicationHandlerStop

        app.add_error_handler(record_error)
        app.add_handler(TypeHandler(Update, finished), group=99)
        await app.initialize()
        if app.post_init:
            await app.post_init(app)
        assert app.updater is not None
        await app.updater.start_polling(poll_interval=0, timeout=1, allowed_updates=Update.ALL_TYPES)
        await app.start()
        self.app = app

    async def stop(self) -> None:
        app = self.app
        if app is None:
            return
        self.app = None
        assert self.core is not None
        try:
            assert app.updater is not None
            await app.updater.stop()
            await app.stop()
            if app.post_stop:
                await app.post_stop(app)
            await app.shutdown()
        finally:
            # Closed whatever happened above: an open database keeps a worker thread, and the process, alive.
            await self.core.close()

    async def settle(self, timeout: float = 10.0) -> None:
        """Waits until every update the server has issued so far was handled to the end."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            issued = set(range(self._first_id, self.api._next_update_id))
            if issued <= self._finished:
                return
            if asyncio.get_running_loop().time() > deadline:
                missing = sorted(issued - self._finished)
                raise AssertionError(f"updates not handled within {timeout}s: {missing}; errors: {self.errors!r}")
            await asyncio.sleep(0.005)

    async def deliver(self) -> None:
        """Delivers everything the outbox holds now (the background loop would, a moment later)."""
        assert self.core is not None
        while await self.core.outbox.deliver_due():
            pass

    @asynccontextmanager
    async def storage(self) -> AsyncIterator[Storage]:
        """The bot's storage, for assertions: its own while it runs, else the same database opened anew."""
        if self.app is not None and self.core is not None:
            yield self.core.storage
            return
        storage = await open_test_storage(self.db_path)
        try:
            yield storage
        finally:
            await storage.close()

    @asynccontextmanager
    async def read(self) -> AsyncIterator[UnitOfWork]:
        """The repositories, for reading what the bot stored (on either backend)."""
        async with self.storage() as storage, storage.read() as uow:
            yield uow

    async def tip(self, code: str) -> Tip:
        async with self.read() as uow:
            tip = await uow.tips.by_code(code)
        assert tip is not None, code
        return tip

    async def session_state(self, chat_id: int | str, channel: str = "telegram") -> str | None:
        """A chat's stored conversation state (JSON), found by its pseudonym as the bot finds it."""
        assert self.core is not None
        pseudonym = self.core.keyring.pseudonym(channel, chat_id)
        async with self.read() as uow:
            stored = await uow.sessions.load(pseudonym)
        return stored.state if stored else None

    async def records(self, *, positions: bool = False) -> dict[str, list[dict[str, Any]]]:
        """Every row of every table (backends.all_records), for scans of the whole database."""
        async with self.storage() as storage:
            return await all_records(storage, positions=positions)


class Citizen:
    """A simulated person talking to the bot in a private chat."""

    def __init__(self, user: SimUser, bot: RunningBot, pace: float = 2.0) -> None:
        self.user = user
        self.bot = bot
        # Seconds of the bot's clock that pass before each action: people take a moment to answer.
        self.pace = pace
        self.last_with_buttons: dict[str, Any] | None = None

    async def _after(self, action: Awaitable[Any], pressed: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """The bot's answers to an action: the messages it sent, after the pressed message if the bot wrote
        its answer in place of the question that was answered."""
        self.bot.clock.advance(seconds=self.pace)
        before = pressed.get("text") if pressed is not None else None
        await action
        await self.bot.settle()
        new = len(self.user.chat.sent_log) - self.user._sent_cursor
        messages = await self.user.wait_for(new) if new else []
        if pressed is not None:
            current = self.user.chat.messages.get(pressed["message_id"])
            if current is not None and current.get("text") != before:
                messages = [snapshot(current), *messages]
        for message in messages:
            if message.get("reply_markup"):
                self.last_with_buttons = message
        return messages

    async def say(self, text: str) -> list[dict[str, Any]]:
        return await self._after(self.user.send(text))

    async def press(self, label: str, message: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """Presses a button on the latest message with buttons: by its action ('cat:trading', matched
        against the callback data, whatever the language) or else by a part of its label."""
        target = message or self.last_with_buttons
        assert target is not None, "no message with buttons yet"
        keyboard = target["reply_markup"]["inline_keyboard"]
        for matches in (
            lambda b: b.get("callback_data", "").endswith("|" + label),
            lambda b: label in b["text"],
        ):
            for row in keyboard:
                for button in row:
                    if matches(button):
                        return await self._after(self.user.press(target, button["callback_data"]), snapshot(target))
        labels = [b["text"] for row in target["reply_markup"]["inline_keyboard"] for b in row]
        raise AssertionError(f"no button containing {label!r}; buttons: {labels}")

    async def press_raw(self, message_id: int, data: str) -> list[dict[str, Any]]:
        pressed = self.user.chat.messages.get(message_id)
        return await self._after(self.user.press_raw(message_id, data), snapshot(pressed) if pressed else None)

    async def send(self, action: Awaitable[Any]) -> list[dict[str, Any]]:
        """Any other action (a sticker, a photo, a location ...): ``citizen.send(user.send_sticker())``."""
        return await self._after(action)


def texts(messages: list[dict[str, Any]]) -> str:
    return "\n---\n".join(m.get("text") or m.get("caption") or "" for m in messages)


def buttons(message: dict[str, Any]) -> list[str]:
    markup = message.get("reply_markup") or {}
    return [b["text"] for row in markup.get("inline_keyboard", []) for b in row]
