"""The moderation service against a real SQLite file: state moves, authorisation, deadlines."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tipline.staff.moderation import Actor, Moderation, Refusal, Role
from tipline.staff.units import import_units
from tipline.storage.sqlite.database import Database
from tipline.storage.sqlite.repositories import SqliteTips
from tipline.tips import Category, NewTip, Status, Urgency


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 26, 2, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
async def setup(tmp_path: Path) -> AsyncIterator[tuple[Moderation, int, Clock, Database]]:
    db = await Database.open(tmp_path / "m.sqlite3")
    clock = Clock()
    tip = await SqliteTips(db).create(
        NewTip(Category.TRADING, Urgency.NOW, 92, 31135, None, None, None, "Bán ma túy ở hẻm 51", (), "vi", "telegram"),
        "TL-AAAA-BBBB", "h", clock(),
    )
    report = await import_units(db, "code,name,province,communes\nCA-NK,Công an phường Ninh Kiều,92,31135\n")
    assert report.ok
    yield Moderation(db, clock), tip.id, clock, db
    await db.close()


async def status_of(db: Database, tip_id: int) -> str:
    async with db.read() as conn:
        row = await (await conn.execute("SELECT status FROM tips WHERE id = ?", (tip_id,))).fetchone()
    return str(row[0])


async def moderator(moderation: Moderation, user: str = "1", name: str = "Mai") -> Actor:
    actor = await moderation.staff("telegram", user, name, is_admin=False, in_group=True)
    assert actor is not None
    return actor


async def test_asking_a_new_tip_claims_it_and_waits_for_the_tipster(setup: tuple[Moderation, int, Clock, Database]) -> None:
    moderation, tip_id, _clock, db = setup
    mai = await moderation.staff("telegram", "1", "Mai", is_admin=False, in_group=True)
    assert mai is not None and mai.role == Role.MODERATOR
    done = await moderation.act(mai, tip_id, "ask", "new", "Ở số nhà mấy?")
    assert done.status == Status.NEEDS_INFO and await status_of(db, tip_id) == "needs_info"
    await moderation.tipster_wrote(tip_id, "Số 12", False)
    assert await status_of(db, tip_id) == "in_review"
    # Forwarding while waiting for an answer is allowed too.
    await moderation.act(mai, tip_id, "ask", None, "Màu xe?")
    assert (await moderation.act(mai, tip_id, "fwd")).status == Status.FORWARDED


async def test_invalid_moves_and_wrong_actors_are_refused_and_change_nothing(setup: tuple[Moderation, int, Clock, Database]) -> None:
    moderation, tip_id, _clock, db = setup
    mai, lan = await moderator(moderation, "1", "Mai"), await moderator(moderation, "2", "Lan")
    with pytest.raises(Refusal):
        await moderation.act(mai, tip_id, "close", None, "")  # new → unfounded is not a move
    with pytest.raises(Refusal):
        await moderation.act(mai, tip_id, "ack")  # a unit action
    await moderation.act(mai, tip_id, "claim")
    with pytest.raises(Refusal, match="Another moderator"):
        await moderation.act(lan, tip_id, "fwd")
    with pytest.raises(Refusal, match="out of date"):
        await moderation.act(mai, tip_id, "spam", seen="new")
    unit = Actor(Role.UNIT, 999, "Another unit")
    await moderation.act(mai, tip_id, "fwd")
    with pytest.raises(Refusal, match="not forwarded to your unit"):
        await moderation.act(unit, tip_id, "ack")
    assert await status_of(db, tip_id) == "forwarded"
    stranger = await moderation.staff("telegram", "3", "X", is_admin=False, in_group=False)
    assert stranger is None


async def test_removed_moderators_cannot_act_even_in_the_group(setup: tuple[Moderation, int, Clock, Database]) -> None:
    moderation, _tip_id, _clock, _db = setup
    admin = await moderation.staff("telegram", "9", "Admin", is_admin=True, in_group=False)
    assert admin is not None and admin.role == Role.ADMIN
    mai = await moderator(moderation)
    with pytest.raises(Refusal):
        await moderation.set_moderator(mai, "telegram", "2", False)
    await moderation.set_moderator(admin, "telegram", "1", False)
    assert await moderation.staff("telegram", "1", "Mai", is_admin=False, in_group=True) is None
    await moderation.set_moderator(admin, "telegram", "5", True)
    assert await moderation.staff("telegram", "5", "Added", is_admin=False, in_group=False) is not None


async def test_deadlines_remind_then_escalate_once(setup: tuple[Moderation, int, Clock, Database]) -> None:
    moderation, tip_id, clock, db = setup
    mai = await moderator(moderation)
    await moderation.act(mai, tip_id, "claim")
    await moderation.act(mai, tip_id, "fwd")
    clock.now += timedelta(hours=17)
    assert await moderation.check_deadlines() == 0
    clock.now += timedelta(hours=2)
    assert await moderation.check_deadlines() == 1  # reminder at 75 %
    assert await moderation.check_deadlines() == 0
    clock.now += timedelta(hours=6)
    assert await moderation.check_deadlines() == 1  # overdue: escalated
    assert await moderation.check_deadlines() == 0
    async with db.read() as conn:
        kinds = [r[0] for r in await (await conn.execute("SELECT audience FROM outbox WHERE kind = 'text' ORDER BY id")).fetchall()]
    assert kinds == ["unit", "moderators"]
    unit = await moderation.unit_for_chat(0)
    assert unit is None


async def test_outcomes_close_the_tip_and_the_reopen_needs_a_reason(setup: tuple[Moderation, int, Clock, Database]) -> None:
    moderation, tip_id, _clock, db = setup
    mai = await moderator(moderation)
    await moderation.act(mai, tip_id, "claim")
    await moderation.act(mai, tip_id, "fwd")
    async with db.transaction() as conn:
        await conn.execute("UPDATE units SET chat_id = -100 WHERE code = 'CA-NK'")
    unit = await moderation.unit_for_chat(-100)
    assert unit is not None
    done = await moderation.act(unit, tip_id, "no")  # an outcome implies the acknowledgement
    assert done.status == Status.UNFOUNDED
    with pytest.raises(Refusal, match="reason"):
        await moderation.act(mai, tip_id, "reopen", None, " ")
    assert (await moderation.act(mai, tip_id, "reopen", None, "Có tin mới")).status == Status.IN_REVIEW
    assert (await moderation.audit.verify()).ok
