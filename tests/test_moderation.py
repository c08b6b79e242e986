"""Moderation and authorisation against a real SQLite file: state moves, who may act, deadlines."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from backends import open_test_storage

from tipline.delivery.model import Address, Kind
from tipline.records.audit import AuditLog
from tipline.staff.actors import Actor, Refusal, Role, StaffUser
from tipline.staff.authorization import Authorizer
from tipline.staff.deadlines import check_deadlines
from tipline.staff.model import StaffRole
from tipline.staff.moderation import Moderation
from tipline.staff.units import import_units
from tipline.storage.ports import Storage
from tipline.tips import Category, NewTip, Status, Urgency

MODERATORS = Address("telegram", "-100")
POLICE = Address("telegram", "-200")


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 26, 2, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


class Members:
    """The moderators' chat as the channel reports it."""

    def __init__(self, *user_refs: str) -> None:
        self.user_refs = set(user_refs)
        self.asked = 0

    async def is_member(self, chat: Address, user_ref: str) -> bool:
        self.asked += 1
        return chat == MODERATORS and user_ref in self.user_refs


@dataclass
class World:
    storage: Storage
    moderation: Moderation
    authorizer: Authorizer
    members: Members
    audit: AuditLog
    clock: Clock
    tip_id: int

    async def status(self) -> Status:
        async with self.storage.read() as uow:
            tip = await uow.tips.by_id(self.tip_id)
        assert tip is not None
        return tip.status

    async def moderator(self, user: str = "1", name: str = "Mai") -> Actor:
        self.members.user_refs.add(user)
        actor = await self.authorizer.staff(StaffUser("telegram", user, name))
        assert actor is not None
        return actor


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    storage = await open_test_storage(tmp_path / "m.sqlite3")
    clock = Clock()
    async with storage.uow() as uow:
        tip = await uow.tips.create(
            NewTip(Category.TRADING, Urgency.NOW, 92, 31135, None, None, None, "Bán ma túy ở hẻm 51", (), "vi", "telegram"),
            "TL-AAAA-BBBB", "h", clock(),
        )
    report = await import_units(storage, "code,name,province,communes\nCA-NK,Công an phường Ninh Kiều,92,31135\n")
    assert report.ok
    audit = AuditLog(b"s" * 32)
    members = Members()
    authorizer = Authorizer(storage, clock, frozenset({("telegram", "9")}), MODERATORS, members)
    yield World(storage, Moderation(storage, audit, clock), authorizer, members, audit, clock, tip.id)
    await storage.close()


async def test_asking_a_new_tip_claims_it_and_waits_for_the_tipster(world: World) -> None:
    mai = await world.moderator()
    assert mai.role == Role.MODERATOR
    done = await world.moderation.act(mai, world.tip_id, "ask", "new", "Ở số nhà mấy?")
    assert done.status == Status.NEEDS_INFO and await world.status() == Status.NEEDS_INFO
    await world.moderation.tipster_wrote(world.tip_id, "Số 12")
    assert await world.status() == Status.IN_REVIEW
    # Forwarding while waiting for an answer is allowed too.
    await world.moderation.act(mai, world.tip_id, "ask", None, "Màu xe?")
    assert (await world.moderation.act(mai, world.tip_id, "forward")).status == Status.FORWARDED


async def test_invalid_moves_and_wrong_actors_are_refused_and_change_nothing(world: World) -> None:
    moderation, tip_id = world.moderation, world.tip_id
    mai, lan = await world.moderator("1", "Mai"), await world.moderator("2", "Lan")
    with pytest.raises(Refusal):
        await moderation.act(mai, tip_id, "unfounded")  # new → unfounded is not a move
    with pytest.raises(Refusal):
        await moderation.act(mai, tip_id, "acknowledge")  # a unit action
    await moderation.act(mai, tip_id, "claim")
    for action in ("forward", "spam", "raise", "release"):  # the claim covers every change
        with pytest.raises(Refusal, match="Another moderator"):
            await moderation.act(lan, tip_id, action)
    with pytest.raises(Refusal, match="out of date"):
        await moderation.act(mai, tip_id, "spam", seen="new")
    unit = Actor(Role.UNIT, 999, "Another unit")
    await moderation.act(mai, tip_id, "forward")
    with pytest.raises(Refusal, match="not allowed"):
        await moderation.act(unit, tip_id, "acknowledge")
    assert await world.status() == Status.FORWARDED
    assert await world.authorizer.staff(StaffUser("telegram", "3", "X")) is None


async def test_removed_moderators_cannot_act_even_in_the_group(world: World) -> None:
    admin = await world.authorizer.staff(StaffUser("telegram", "9", "Admin"))
    assert admin is not None and admin.role == Role.ADMIN
    await world.moderator("1")
    async with world.storage.uow() as uow:
        await uow.staff.set_role("telegram", "1", StaffRole.MODERATOR, False, world.clock())
        await uow.staff.set_role("telegram", "5", StaffRole.MODERATOR, True, world.clock())
    world.authorizer.forget("telegram", "1")
    assert await world.authorizer.staff(StaffUser("telegram", "1", "Mai")) is None
    assert await world.authorizer.staff(StaffUser("telegram", "5", "Added")) is not None


async def test_membership_is_asked_once_a_minute_at_most(world: World) -> None:
    await world.moderator("1")
    await world.authorizer.staff(StaffUser("telegram", "1", "Mai"))
    assert world.members.asked == 1


async def test_deadlines_remind_then_escalate_once(world: World) -> None:
    moderation, tip_id, clock = world.moderation, world.tip_id, world.clock
    mai = await world.moderator()
    await moderation.act(mai, tip_id, "claim")
    await moderation.act(mai, tip_id, "forward")

    async def check() -> int:
        return await check_deadlines(world.storage, world.audit, clock, moderation.deadlines)

    clock.now += timedelta(hours=17)
    assert await check() == 0
    clock.now += timedelta(hours=2)
    assert await check() == 1  # reminder at 75 %
    assert await check() == 0
    clock.now += timedelta(hours=6)
    assert await check() == 1  # overdue: escalated
    assert await check() == 0
    async with world.storage.uow() as uow:
        items = await uow.outbox.claim("test", clock.now, clock.now + timedelta(minutes=1), 100, ["telegram"])
    assert [item.audience.value for item in items if item.kind == Kind.STAFF_TEXT] == ["unit", "moderators"]  # reminder, then escalation
    assert "⏰" in next(i.payload["text"] for i in items if i.kind == Kind.STAFF_TEXT and i.audience.value == "moderators")


async def test_outcomes_close_the_tip_and_the_reopen_needs_a_reason(world: World) -> None:
    moderation, tip_id = world.moderation, world.tip_id
    mai = await world.moderator()
    await moderation.act(mai, tip_id, "claim")
    await moderation.act(mai, tip_id, "forward")
    async with world.storage.uow() as uow:
        unit_record = await uow.units.by_code("CA-NK")
        assert unit_record is not None
        await uow.units.link_chat(unit_record.id, POLICE, world.clock())
    unit = await world.authorizer.unit(POLICE)
    assert unit is not None and unit.role == Role.UNIT
    done = await moderation.act(unit, tip_id, "not_verified")  # an outcome implies the acknowledgement
    assert done.status == Status.UNFOUNDED
    with pytest.raises(Refusal):
        await moderation.act(unit, tip_id, "verified")  # a closed outcome is final
    with pytest.raises(Refusal, match="reason"):
        await moderation.act(mai, tip_id, "reopen", None, " ")
    assert (await moderation.act(mai, tip_id, "reopen", None, "Có tin mới")).status == Status.IN_REVIEW
    with pytest.raises(Refusal):  # reopening took the tip back from the unit
        await moderation.act(unit, tip_id, "ask_more", None, "?")
    assert (await world.audit.verify(world.storage)).ok


async def test_forwarding_to_another_province_needs_an_admin(world: World) -> None:
    report = await import_units(world.storage, "code,name,province,communes\nCA-HK,Công an phường Hoàn Kiếm,Hà Nội,Hoàn Kiếm\n")
    assert report.ok
    async with world.storage.read() as uow:
        hanoi = await uow.units.by_code("CA-HK")
    assert hanoi is not None
    mai = await world.moderator()
    await world.moderation.act(mai, world.tip_id, "claim")
    with pytest.raises(Refusal, match="another province"):
        await world.moderation.act(mai, world.tip_id, "forward_to", None, str(hanoi.id))
    admin = await world.authorizer.staff(StaffUser("telegram", "9", "Admin"))
    assert admin is not None
    assert (await world.moderation.act(admin, world.tip_id, "forward_to", None, str(hanoi.id))).status == Status.FORWARDED


async def test_a_units_chat_is_a_staff_chat_once_linked(world: World) -> None:
    unit_chat, citizen_chat = Address("telegram", "4242"), Address("telegram", "777")
    assert await world.authorizer.is_staff_chat(MODERATORS)
    assert not await world.authorizer.is_staff_chat(unit_chat)
    async with world.storage.uow() as uow:
        unit = await uow.units.by_code("CA-NK")
        assert unit is not None
        await uow.units.link_chat(unit.id, unit_chat, world.clock())
    world.authorizer.forget_unit_chats()  # as the desk does after it linked a chat
    assert await world.authorizer.is_staff_chat(unit_chat)
    assert not await world.authorizer.is_staff_chat(citizen_chat)


async def test_who_asks_while_the_staff_chats_are_read_goes_on_in_the_order_they_asked(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A chat's messages must reach its lock in the order they came: while the staff chats are read (once a
    minute), everyone who asks waits for that one read and goes on in turn, never overtaking another."""
    reads = 0
    real = world.storage.read

    @contextlib.asynccontextmanager
    async def slow_read() -> AsyncIterator[Any]:
        nonlocal reads
        reads += 1
        await asyncio.sleep(0.05 if reads == 1 else 0)  # the first read is slow; a second would be quick
        async with real() as uow:
            yield uow

    monkeypatch.setattr(world.storage, "read", slow_read)
    order: list[int] = []

    async def ask(n: int) -> None:
        await world.authorizer.is_staff_chat(Address("telegram", str(1000 + n)))
        order.append(n)

    await asyncio.gather(*(ask(n) for n in range(5)))
    assert order == [0, 1, 2, 3, 4] and reads == 1
