"""Storage on a real SQLite file: migrations, pragmas, tips, the state machine, subscriptions, counters."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tipline.storage.sqlite.database import Database, migrations
from tipline.storage.sqlite.repositories import (
    CodeTaken,
    SqliteCounters,
    SqliteSessions,
    SqliteSubscriptions,
    SqliteTips,
)
from tipline.tips import Category, Evidence, InvalidTransition, NewTip, Status, Urgency

NOW = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = await Database.open(tmp_path / "t.sqlite3")
    yield database
    await database.close()


def new_tip(**changes: object) -> NewTip:
    values: dict[str, object] = dict(
        category=Category.TRADING, urgency=Urgency.TODAY, province_code=92, commune_code=31117, address="hẻm 51",
        latitude=None, longitude=None, description="Bán ma túy ở hẻm 51", evidence=(Evidence("photo", "F1", 1000),),
        language="vi", channel="telegram",
    )
    values.update(changes)
    return NewTip(**values)  # type: ignore[arg-type]


async def test_migrations_apply_once_with_wal_and_foreign_keys(tmp_path: Path) -> None:
    path = tmp_path / "m.sqlite3"
    first = await Database.open(path)
    latest = len(migrations())
    assert await first.schema_version() == latest
    async with first.read() as conn:
        assert (await (await conn.execute("PRAGMA journal_mode")).fetchone())[0] == "wal"
        assert (await (await conn.execute("PRAGMA foreign_keys")).fetchone())[0] == 1
    await first.close()
    again = await Database.open(path)  # re-running is a no-op
    assert await again.migrate() == latest
    await again.close()
    plain = sqlite3.connect(path)
    tables = {row[0] for row in plain.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"tips", "evidence", "followups", "tip_messages", "subscriptions", "sessions", "counters"} <= tables
    plain.close()


async def test_a_failing_migration_leaves_the_schema_as_it_was(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import tipline.storage.sqlite.database as dbmodule

    good = migrations()
    broken = [*good, (len(good) + 1, "CREATE TABLE extra (x INTEGER);\nTHIS IS NOT SQL;")]
    monkeypatch.setattr(dbmodule, "migrations", lambda: broken)
    with pytest.raises(sqlite3.OperationalError):
        await Database.open(tmp_path / "b.sqlite3")
    plain = sqlite3.connect(tmp_path / "b.sqlite3")
    assert plain.execute("PRAGMA user_version").fetchone()[0] == len(good)
    assert plain.execute("SELECT COUNT(*) FROM sqlite_master WHERE name = 'extra'").fetchone()[0] == 0
    plain.close()


async def test_tips_are_written_whole_and_read_back(db: Database) -> None:
    tips = SqliteTips(db)
    tip = await tips.create(new_tip(), "TL-AAAA-BBBB", "scrypt$x", NOW)
    assert tip.status == Status.NEW and tip.evidence == (Evidence("photo", "F1", 1000),)
    found = await tips.by_code("TL-AAAA-BBBB")
    assert found is not None and found[0] == tip and found[1] == "scrypt$x"
    assert await tips.by_code("TL-CCCC-DDDD") is None
    with pytest.raises(CodeTaken):
        await tips.create(new_tip(), "TL-AAAA-BBBB", "scrypt$y", NOW)
    await tips.add_followup(tip.id, "thêm", (Evidence("link", "https://x.y"),), NOW + timedelta(hours=1))
    assert await tips.followups(tip.id) == [("thêm", NOW + timedelta(hours=1))]


async def test_a_failed_write_leaves_nothing_behind(db: Database) -> None:
    tips = SqliteTips(db)
    bad_evidence = new_tip(evidence=(Evidence("photo", None, 1),))  # type: ignore[arg-type]
    with pytest.raises(sqlite3.IntegrityError):
        await tips.create(bad_evidence, "TL-AAAA-BBBB", "h", NOW)
    assert await tips.by_code("TL-AAAA-BBBB") is None


async def test_status_moves_follow_the_state_machine_and_closing_drops_the_chat_link(db: Database) -> None:
    tips, subs = SqliteTips(db), SqliteSubscriptions(db)
    tip = await tips.create(new_tip(), "TL-AAAA-BBBB", "h", NOW)
    await subs.add(tip.id, "key", b"sealed", NOW)
    with pytest.raises(InvalidTransition):
        await tips.set_status(tip.id, Status.RESOLVED, NOW)
    for target in (Status.IN_REVIEW, Status.FORWARDED, Status.ACKNOWLEDGED):
        await tips.set_status(tip.id, target, NOW)
    assert await subs.for_tip(tip.id) == [b"sealed"]
    await tips.set_status(tip.id, Status.RESOLVED, NOW)
    assert await subs.for_tip(tip.id) == []


async def test_forgetting_a_chat_removes_only_its_links(db: Database) -> None:
    tips, subs = SqliteTips(db), SqliteSubscriptions(db)
    a = await tips.create(new_tip(), "TL-AAAA-BBBB", "h", NOW)
    b = await tips.create(new_tip(), "TL-CCCC-DDDD", "h", NOW)
    await subs.add(a.id, "me", b"1", NOW)
    await subs.add(b.id, "me", b"2", NOW)
    await subs.add(b.id, "other", b"3", NOW)
    assert await subs.forget_chat("me") == 2
    assert await subs.for_tip(b.id) == [b"3"]


async def test_counters_count_per_window_and_expire(db: Database) -> None:
    counters = SqliteCounters(db)
    assert [await counters.hit("k", 60, NOW) for _ in range(3)] == [1, 2, 3]
    assert await counters.peek("k", 60, NOW) == 3
    later = NOW + timedelta(seconds=61)
    assert await counters.peek("k", 60, later) == 0
    assert await counters.hit("k", 60, later) == 1
    assert await counters.purge(later) == 1


async def test_sessions_expire_drafts_and_purge(db: Database) -> None:
    sessions = SqliteSessions(db)
    await sessions.save("p1", '{"draft": {"category": "trading"}, "screen": "urgency"}', NOW, timedelta(days=30))
    await sessions.save("p2", '{"lang": "en"}', NOW, timedelta(hours=1))
    assert await sessions.expire_drafts(NOW + timedelta(hours=25)) == 1
    loaded = await sessions.load("p1")
    assert loaded is not None and '"draft"' not in loaded[0] and '"draft_expired":true' in loaded[0].replace(" ", "")
    assert await sessions.purge(NOW + timedelta(hours=2)) == 1
    assert await sessions.load("p2") is None
