"""What several workers on one database must not do to each other, tried with two storages on one database
(two connections to a SQLite file, or two connection pools on PostgreSQL, as two worker processes have):
a change decided from a tip is never overtaken, a deadline is reminded once, a prompt answers once, and many
chats at once never starve the connections their own units of work need."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from backends import open_test_storage, postgres_only

from tipline.delivery.model import Address, Kind, OutboxTally, Sent
from tipline.records.audit import AuditLog
from tipline.staff.deadlines import check_deadlines
from tipline.staff.moderation import Deadlines
from tipline.storage.ports import Storage
from tipline.tips import Category, NewTip, Urgency

NOW = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)


def new_tip() -> NewTip:
    return NewTip(
        category=Category.TRADING, urgency=Urgency.TODAY, province_code=92, commune_code=31117, address=None,
        latitude=None, longitude=None, description="Bán ma túy ở hẻm 51", evidence=(), language="vi", channel="telegram",
    )


@pytest.fixture
async def two(tmp_path: Path) -> AsyncIterator[tuple[Storage, Storage]]:
    """Two workers' storages on one database."""
    first = await open_test_storage(tmp_path / "t.sqlite3")
    second = await open_test_storage(tmp_path / "t.sqlite3")
    yield first, second
    await second.close()
    await first.close()


async def test_a_change_decided_from_a_tip_is_never_overtaken(two: tuple[Storage, Storage]) -> None:
    """Two workers raise one tip's priority at once: both raises count (a read that decides a change holds
    the tip until the change commits; without that, the second read the old value and one raise was lost)."""
    a, b = two
    async with a.uow() as uow:
        tip = await uow.tips.create(new_tip(), "TL-AAAA-BBBB", "h", NOW)
    first_read = asyncio.Event()

    async def raise_priority(storage: Storage, pause: float) -> None:
        async with storage.uow() as uow:
            found = await uow.tips.by_id(tip.id)
            assert found is not None
            first_read.set()
            await asyncio.sleep(pause)  # a worker busy deciding (checks, an audit entry ...)
            await uow.tips.update(tip.id, priority=found.priority + 1)

    async def late() -> None:
        await first_read.wait()
        await raise_priority(b, 0)

    await asyncio.gather(raise_priority(a, 0.3), late())
    async with a.read() as uow:
        found = await uow.tips.by_id(tip.id)
    assert found is not None and found.priority == tip.priority + 2


async def test_a_deadline_is_reminded_once_when_two_workers_check_at_once(two: tuple[Storage, Storage]) -> None:
    a, b = two
    async with a.uow() as uow:
        tips = [await uow.tips.create(new_tip(), f"TL-AAAA-BBB{n}", "h", NOW) for n in range(2, 8)]
        for tip in tips:
            await uow.tips.update(tip.id, forwarded_at=NOW)
            await uow.deadlines.set(tip.id, "acknowledge", NOW + timedelta(hours=24))
    later = NOW + timedelta(hours=25)  # overdue: each deadline is escalated, once
    acted = await asyncio.gather(*(
        check_deadlines(storage, AuditLog(), lambda: later, Deadlines()) for storage in (a, b, a, b)
    ))
    assert sum(acted) == len(tips)
    async with a.read() as uow:
        assert await uow.outbox.tally(Kind.STAFF_TEXT) == OutboxTally(waiting=len(tips))
        assert [r.action for r in await uow.audit.all()] == ["acknowledge_overdue"] * len(tips)
        assert await uow.deadlines.open() and all(d.escalated_at == later for d in await uow.deadlines.open())
    assert (await AuditLog().verify(a)).ok


async def test_a_prompt_answers_once_whoever_is_faster(two: tuple[Storage, Storage]) -> None:
    a, b = two
    sent = Sent(Address("telegram", "-100"), "7")
    async with a.uow() as uow:
        tip = await uow.tips.create(new_tip(), "TL-AAAA-BBBB", "h", NOW)
        prompt = await uow.prompts.add(sent, "ask", tip.id, "moderator", 1, NOW, NOW + timedelta(minutes=10))

    async def use(storage: Storage) -> bool:
        async with storage.uow() as uow:
            return await uow.prompts.use(prompt, NOW)

    assert sorted(await asyncio.gather(use(a), use(b), use(a), use(b))) == [False, False, False, True]


async def test_many_chats_at_once_never_starve_their_units_of_work(two: tuple[Storage, Storage]) -> None:
    """A chat's lock is held while its event is handled, and the handling opens units of work: a hundred
    chats at once (ten times the connections of a PostgreSQL pool) all finish."""
    a, _b = two

    async def chat(n: int) -> None:
        async with a.chat_lock(f"pseudonym-{n}"):
            async with a.uow() as uow:
                await uow.meta.set(f"chat-{n}", "seen")
            async with a.read() as uow:
                assert await uow.meta.get(f"chat-{n}") == "seen"

    await asyncio.wait_for(asyncio.gather(*(chat(n) for n in range(100))), 30)


async def test_one_chats_events_take_turns_in_a_process(two: tuple[Storage, Storage]) -> None:
    a, _b = two
    inside: list[int] = []
    overlaps = 0

    async def event(n: int) -> None:
        nonlocal overlaps
        async with a.chat_lock("pseudonym-1"):
            overlaps += bool(inside)
            inside.append(n)
            await asyncio.sleep(0.01)
            inside.remove(n)

    await asyncio.gather(*(event(n) for n in range(20)))
    assert overlaps == 0


@postgres_only
async def test_one_chats_events_take_turns_across_worker_processes(two: tuple[Storage, Storage]) -> None:
    """PostgreSQL's chat lock holds across processes (an advisory lock): while one worker handles a chat's
    event, another worker's event of that chat waits, and other chats do not."""
    a, b = two
    holding, release = asyncio.Event(), asyncio.Event()
    timeline: list[str] = []

    async def first() -> None:
        async with a.chat_lock("pseudonym-1"):
            timeline.append("a in")
            holding.set()
            await release.wait()
            timeline.append("a out")

    async def second() -> None:
        await holding.wait()
        async with b.chat_lock("pseudonym-1"):
            timeline.append("b in")

    async def other_chat() -> None:
        await holding.wait()
        async with b.chat_lock("pseudonym-2"):
            timeline.append("other chat")

    tasks = [asyncio.create_task(first()), asyncio.create_task(second())]
    await asyncio.wait_for(other_chat(), 5)  # not held up by pseudonym-1
    await asyncio.sleep(0.3)
    assert timeline == ["a in", "other chat"], "b waits while a holds the chat"
    release.set()
    await asyncio.gather(*tasks)
    assert timeline == ["a in", "other chat", "a out", "b in"]
