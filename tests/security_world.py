"""The stage the security tests play on: the real bot against the local Bot API server, with a moderators'
group (two moderators and an admin), a police unit's chat (an officer and a stranger), citizens, and the
helpers every test of ``test_security_*.py`` needs to act as an attacker and to look at what changed.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from botapi import FakeBotApi, SimGroup, SimUser
from harness import Citizen, FakeClock, RunningBot, texts

import bot.telegram.channel as telegram_channel
from tipline.delivery.model import Address
from tipline.i18n import translator
from tipline.records.model import AuditRecord
from tipline.staff.desk import NOT_ALLOWED
from tipline.staff.units import import_units
from tipline.storage.ports import UnitOfWork
from tipline.tips import Tip

MODERATORS = -1001000000001
POLICE = -1001000000002
OTHER_POLICE = -1001000000003
ADMIN_ID = 5550001
MAI_ID = 5550002
BINH_ID = 5550005
# Two units of Cần Thơ, and one of Hà Nội (another province).
UNITS_CSV = (
    "code,name,province,communes\n"
    "CA-NK,Công an phường Ninh Kiều,Cần Thơ,Ninh Kiều\n"
    "CA-CR,Công an phường Cái Răng,Cần Thơ,Cái Răng\n"
    "CA-HK,Công an phường Hoàn Kiếm,Hà Nội,Hoàn Kiếm\n"
)
CODE = re.compile(r"TL-[2-9A-Z]{4}-[2-9A-Z]{4}")
PASSPHRASE = re.compile(r"(?<![A-Z0-9-])[2-9A-Z]{4}-[2-9A-Z]{4}-[2-9A-Z]{4}(?![A-Z0-9-])")
DESCRIPTION = "Có người bán ma túy đá ở quán nước đầu ngõ 12 mỗi tối từ 21 giờ, đi xe máy màu đỏ."


def vi(msgid: str, **params: object) -> str:
    """What staff and citizens read, from the catalog (the tests follow the wording, not a copy of it)."""
    return translator("vi").gettext(msgid).format(**params)


def vi_count(singular: str, plural: str) -> re.Pattern[str]:
    """A pattern for a counted message (``{n}``), capturing the number."""
    text = translator("vi").ngettext(singular, plural, 7).format(n="\x00")
    return re.compile(re.escape(text).replace("\x00", r"(\d+)"))


def last_action(what: str, who: str) -> str:
    """The start of a card's line naming its last action (the time left out)."""
    line = vi("Last action: {what} by {who}, {when}", what=vi(what), who=who, when="\x00")
    return line.split("\x00")[0]


NOT_ALLOWED_VI = vi(NOT_ALLOWED)


@dataclass
class World:
    api: FakeBotApi
    bot: RunningBot
    clock: FakeClock
    group: SimGroup  # the moderators' group
    police: SimGroup  # the chat of unit CA-NK, once linked
    other_police: SimGroup  # the chat of unit CA-CR, once linked
    admin: SimUser
    mai: SimUser  # a moderator
    binh: SimUser  # another moderator
    officer: SimUser  # a member of CA-NK's chat
    stranger: SimUser  # also in CA-NK's chat, not staff
    other_officer: SimUser  # a member of CA-CR's chat
    people: list[Citizen] = field(default_factory=list)

    @property
    def core(self) -> Any:
        assert self.bot.core is not None
        return self.bot.core

    def citizen(self, name: str = "Lan", pace: float = 2.0) -> Citizen:
        person = Citizen(
            self.api.user(first_name=name, last_name="Nguyễn", username=f"{name.lower()}_vn_88"), self.bot, pace
        )
        self.people.append(person)
        return person

    async def link_unit(self, code: str, chat: int) -> None:
        """Links a unit's chat directly (the invite flow has tests of its own)."""
        async with self.core.storage.uow() as uow:
            unit = await uow.units.by_code(code)
            assert unit is not None
            await uow.units.link_chat(unit.id, Address("telegram", str(chat)), self.clock())

    def read(self) -> AbstractAsyncContextManager[UnitOfWork]:
        """The repositories, for reading what the bot stored."""
        return self.bot.read()

    async def tip(self, code: str) -> Tip:
        return await self.bot.tip(code)

    async def audit(self, action: str | None = None) -> list[AuditRecord]:
        async with self.read() as uow:
            records = await uow.audit.all()
        return [r for r in records if action is None or r.action == action]

    async def staff_id(self, user: SimUser) -> str:
        """The staff id a person acts under (what the audit log names), on the staff channel."""
        async with self.read() as uow:
            roles = await uow.staff.roles("telegram", str(user.id))
        assert roles, user
        ids = {member.id for member in roles}
        assert len(ids) == 1, roles
        return str(ids.pop())

    async def unit_chat(self, code: str) -> str | None:
        """The chat a unit's tips go to (None: not linked)."""
        async with self.read() as uow:
            unit = await uow.units.by_code(code)
        assert unit is not None, code
        return unit.chat.chat if unit.chat else None

    async def snapshot(self) -> dict[str, list[dict[str, Any]]]:
        """What a press or a reply could change: tips, prompts, messages, follow-ups, subscriptions, the outbox,
        units and cards (every row, as stored)."""
        records = await self.bot.records()
        return {
            table: records[table]
            for table in (
                "tips", "prompts", "tip_messages", "followups", "subscriptions", "outbox", "units", "cards",
            )
        }

    async def settle(self) -> None:
        await self.bot.settle()
        await self.bot.deliver()

    async def card(self, code: str, chat: SimGroup | None = None) -> dict[str, Any]:
        """The latest card of a tip (a message with buttons naming the code) in a chat."""
        chat = chat or self.group
        await self.settle()
        for message in reversed(chat.inbox):
            if code in (message.get("text") or "") and message.get("reply_markup"):
                return message
        raise AssertionError(f"no card for {code} in {chat!r}: {[m.get('text', '')[:40] for m in chat.inbox]}")

    async def press(self, chat: SimGroup, who: SimUser, message: dict[str, Any], action: str) -> str:
        """Presses the button of ``action`` on a card as it is; returns the answer shown to the presser."""
        for row in message["reply_markup"]["inline_keyboard"]:
            for button in row:
                if button["callback_data"].split("|")[1] == action:
                    await chat.press(who, message, button["callback_data"])
                    await self.settle()
                    return str((await chat.wait_for_answer()).get("text") or "")
        raise AssertionError(f"no {action} button: {buttons_data(message)}")

    async def forge(self, chat: SimGroup | SimUser, message_id: int, data: str, who: SimUser | None = None) -> str:
        """A press with callback data of the attacker's choosing; returns the answer shown."""
        if isinstance(chat, SimGroup):
            assert who is not None
            await chat.press_raw(who, message_id, data)
        else:
            await chat.press_raw(message_id, data)
        await self.settle()
        return str((await chat.wait_for_answer()).get("text") or "")

    async def say(self, chat: SimGroup, who: SimUser, text: str, reply_to: dict[str, Any] | int | None = None) -> None:
        await chat.send(who, text, reply_to=reply_to)
        await self.settle()

    async def answer_prompt(self, chat: SimGroup, who: SimUser, text: str) -> None:
        prompt = chat.last
        assert prompt is not None and "✍️" in prompt["text"], prompt
        await self.say(chat, who, text, reply_to=prompt)


def buttons_data(message: dict[str, Any]) -> list[str]:
    return [b["callback_data"] for row in (message.get("reply_markup") or {}).get("inline_keyboard", []) for b in row]


async def fill_report(c: Citizen, description: str = DESCRIPTION, commune: str = "ninh kieu", photo: bool = True) -> None:
    """Walks a report up to the review."""
    await c.say("/start")
    await c.press("menu:report")
    await c.press("cat:trading")
    await c.press("urg:ongoing")
    await c.say("can tho")
    await c.say(commune)
    await c.say("Gần chợ đêm, hẻm 51")
    await c.say(description)
    await c.press("next")
    if photo:
        await c.send(c.user.send_photo(size=150_000))
    await c.press("next")


async def submit(
    c: Citizen, description: str = DESCRIPTION, optin: bool | None = False, commune: str = "ninh kieu", photo: bool = True
) -> tuple[str, str]:
    """A whole report; returns (code, passphrase). ``optin``: answer the question about updates (None: leave it)."""
    await fill_report(c, description, commune, photo)
    text = texts(await c.press("confirm"))
    code, passphrase = CODE.search(text), PASSPHRASE.search(text)
    assert code and passphrase, text
    if optin is not None:
        await c.press("optin:yes" if optin else "optin:no")
    return code.group(0), passphrase.group(0)


@asynccontextmanager
async def staff_world(
    api: FakeBotApi,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    *,
    clock: FakeClock | None = None,
    forum: bool = False,
    moderators: bool = True,
    **settings: Any,
) -> AsyncIterator[World]:
    """The bot with its staff around it. At the end: no request Telegram would refuse, no handler error."""
    monkeypatch.setattr(telegram_channel, "RETRY_BASE_DELAY", 0.01)
    clock = clock or FakeClock(datetime(2026, 11, 26, 3, 17, 42, 123456, tzinfo=UTC))
    admin = api.user(user_id=ADMIN_ID, first_name="Admin")
    mai = api.user(user_id=MAI_ID, first_name="Mai", username="mai_mod")
    binh = api.user(user_id=BINH_ID, first_name="Bình", username="binh_mod")
    officer = api.user(user_id=5550003, first_name="Hùng", username="hung_ca")
    stranger = api.user(user_id=5550004, first_name="Lạ")
    other_officer = api.user(user_id=5550006, first_name="Tâm")
    group = api.group(chat_id=MODERATORS, title="Moderators", members=[admin, mai, binh], forum=forum)
    police = api.group(chat_id=POLICE, title="CA Ninh Kiều", members=[officer, stranger])
    other_police = api.group(chat_id=OTHER_POLICE, title="CA Cái Răng", members=[other_officer])
    extra: dict[str, Any] = {"tipline_admin_ids": str(ADMIN_ID), **settings}
    if moderators:
        extra["tipline_moderator_chat_id"] = MODERATORS
    bot = RunningBot(api, tmp_path / "tipline.sqlite3", clock, **extra)
    await bot.start()
    assert bot.core is not None
    report = await import_units(bot.core.storage, UNITS_CSV)
    assert report.ok, report
    world = World(api, bot, clock, group, police, other_police, admin, mai, binh, officer, stranger, other_officer)
    try:
        yield world
    finally:
        await bot.stop()
    api.assert_no_refusals()
    assert bot.errors == []
