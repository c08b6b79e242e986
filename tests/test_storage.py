"""Storage on a real database (a SQLite file, or PostgreSQL with TIPLINE_TEST_POSTGRES): migrations, pragmas,
tips, the state machine, subscriptions, counters, the outbox's leases, full disks and read-only units."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest
from backends import (
    INTEGRITY_ERRORS,
    READ_ONLY_ERRORS,
    database_url_for,
    ensure_database,
    open_test_storage,
    postgres_only,
    raw_connection,
    sqlite_only,
)

from tipline.delivery.model import Audience, Kind, NewItem, OutboxTally
from tipline.storage.ports import CodeTaken, Storage, StorageFull
from tipline.storage.sqlite.store import SqliteStorage, migrations
from tipline.tips import Category, Evidence, Followup, NewTip, Status, Urgency

NOW = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Storage]:
    database = await open_test_storage(tmp_path / "t.sqlite3")
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


@sqlite_only
async def test_migrations_apply_once_with_wal_and_foreign_keys(tmp_path: Path) -> None:
    path = tmp_path / "m.sqlite3"
    first = await SqliteStorage.open(path)
    latest = len(migrations())
    assert await first.schema_version() == latest
    conn = first.conn
    assert (await (await conn.execute("PRAGMA journal_mode")).fetchone())[0] == "wal"
    assert (await (await conn.execute("PRAGMA foreign_keys")).fetchone())[0] == 1
    await first.close()
    again = await SqliteStorage.open(path)  # re-running is a no-op
    assert await again.migrate() == latest
    await again.close()
    plain = sqlite3.connect(path)
    tables = {row[0] for row in plain.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"tips", "evidence", "followups", "tip_messages", "subscriptions", "sessions", "counters"} <= tables
    plain.close()


@sqlite_only
async def test_a_failing_migration_leaves_the_schema_as_it_was(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import tipline.storage.sqlite.store as dbmodule

    good = migrations()
    broken = [*good, (len(good) + 1, "CREATE TABLE extra (x INTEGER);\nTHIS IS NOT SQL;")]
    monkeypatch.setattr(dbmodule, "migrations", lambda: broken)
    with pytest.raises(sqlite3.OperationalError):
        await SqliteStorage.open(tmp_path / "b.sqlite3")
    plain = sqlite3.connect(tmp_path / "b.sqlite3")
    assert plain.execute("PRAGMA user_version").fetchone()[0] == len(good)
    assert plain.execute("SELECT COUNT(*) FROM sqlite_master WHERE name = 'extra'").fetchone()[0] == 0
    plain.close()


@postgres_only
async def test_postgres_migrations_apply_once_even_from_workers_starting_together(tmp_path: Path) -> None:
    from tipline.storage.postgres.store import PgStorage
    from tipline.storage.postgres.store import migrations as pg_migrations

    url = database_url_for(tmp_path / "m.sqlite3")
    await ensure_database(url, empty=True)
    assert url is not None
    # Four workers start at once on an empty database: the migrations run once, under an advisory lock.
    workers = await asyncio.gather(*(PgStorage.open(url, max_size=2) for _ in range(4)))
    latest = len(pg_migrations())
    try:
        assert [await w.schema_version() for w in workers] == [latest] * 4
        assert await workers[0].migrate() == latest  # re-running is a no-op
    finally:
        for worker in workers:
            await worker.close()
    async with raw_connection(tmp_path / "m.sqlite3") as raw:
        tables = {r["tablename"] for r in await raw.fetchall("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
        assert {"tips", "evidence", "followups", "tip_messages", "subscriptions", "sessions", "counters", "audit_log"} <= tables
        assert [r["version"] for r in await raw.fetchall("SELECT version FROM schema_version")] == [latest]


@postgres_only
async def test_a_failing_postgres_migration_leaves_the_schema_as_it_was(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import tipline.storage.postgres.store as pgmodule

    path = tmp_path / "b.sqlite3"
    good = pgmodule.migrations()
    first = await open_test_storage(path)  # the schema as it is
    await first.close()
    broken = [*good, (len(good) + 1, "CREATE TABLE extra (x INTEGER);\nTHIS IS NOT SQL;")]
    monkeypatch.setattr(pgmodule, "migrations", lambda: broken)
    with pytest.raises(asyncpg.PostgresSyntaxError):
        await open_test_storage(path)
    async with raw_connection(path) as raw:
        assert (await raw.fetchone("SELECT version FROM schema_version")) == {"version": len(good)}
        assert await raw.fetchone("SELECT to_regclass('extra') IS NULL AS absent") == {"absent": True}


async def test_tips_are_written_whole_and_read_back(db: Storage) -> None:
    async with db.uow() as uow:
        tip = await uow.tips.create(new_tip(), "TL-AAAA-BBBB", "scrypt$x", NOW)
    assert tip.status == Status.NEW and tip.evidence == (Evidence("photo", "F1", 1000),)
    async with db.read() as uow:
        assert await uow.tips.by_code("TL-AAAA-BBBB") == tip
        assert await uow.tips.passphrase_hash("TL-AAAA-BBBB") == "scrypt$x"
        assert await uow.tips.by_code("TL-CCCC-DDDD") is None
    with pytest.raises(CodeTaken):
        async with db.uow() as uow:
            await uow.tips.create(new_tip(), "TL-AAAA-BBBB", "scrypt$y", NOW)
    async with db.uow() as uow:
        await uow.tips.add_followup(tip.id, "thêm", (Evidence("link", "https://x.y"),), NOW + timedelta(hours=1))
        [followup] = await uow.tips.followups(tip.id)
        assert followup == Followup(followup.id, "thêm", NOW + timedelta(hours=1), (Evidence("link", "https://x.y"),))
        assert await uow.tips.followup_count(tip.id) == 1
        assert await uow.tips.count() == 1
    async with db.read() as uow:
        found = await uow.tips.by_id(tip.id)
        assert found is not None and found.created_at == NOW and found.created_at.tzinfo is not None


async def test_a_failed_unit_of_work_leaves_nothing_behind(db: Storage) -> None:
    bad_evidence = new_tip(evidence=(Evidence("photo", None, 1),))  # type: ignore[arg-type]
    with pytest.raises(INTEGRITY_ERRORS):
        async with db.uow() as uow:
            tip = await uow.tips.create(new_tip(), "TL-CCCC-DDDD", "h", NOW)
            await uow.outbox.add(NewItem(Kind.CARD, Audience.MODERATORS, tip.id), NOW)
            await uow.tips.create(bad_evidence, "TL-AAAA-BBBB", "h", NOW)
    async with db.read() as uow:
        assert await uow.tips.by_code("TL-AAAA-BBBB") is None
        assert await uow.tips.by_code("TL-CCCC-DDDD") is None
        assert await uow.outbox.backlog(NOW) == (0, None)
        assert await uow.tips.count() == 0 and await uow.outbox.tally() == OutboxTally()


async def test_only_moderation_fields_can_be_changed(db: Storage) -> None:
    async with db.uow() as uow:
        tip = await uow.tips.create(new_tip(), "TL-AAAA-BBBB", "h", NOW)
        await uow.tips.update(tip.id, status=Status.IN_REVIEW, claimed_by=None, closed_at=None)
        with pytest.raises(ValueError, match="description"):
            await uow.tips.update(tip.id, description="rewritten")
    async with db.read() as uow:
        found = await uow.tips.by_id(tip.id)
    assert found is not None and found.status == Status.IN_REVIEW and found.description == tip.description


async def test_links_are_removed_by_id_and_with_their_tip(db: Storage) -> None:
    async with db.uow() as uow:
        a = await uow.tips.create(new_tip(), "TL-AAAA-BBBB", "h", NOW)
        b = await uow.tips.create(new_tip(), "TL-CCCC-DDDD", "h", NOW)
        await uow.subscriptions.add(a.id, b"1", NOW)
        await uow.subscriptions.add(b.id, b"2", NOW)
        await uow.subscriptions.add(b.id, b"3", NOW)
        links = await uow.subscriptions.all()
        assert [link.sealed_ref for link in links] == [b"1", b"2", b"3"]
        assert await uow.subscriptions.remove([links[0].id, links[1].id]) == 2
        assert [link.sealed_ref for link in await uow.subscriptions.for_tip(b.id)] == [b"3"]
        assert await uow.subscriptions.forget_tip(b.id) == 1
        assert await uow.subscriptions.all() == []


async def test_counters_count_per_window_and_expire(db: Storage) -> None:
    async with db.uow() as uow:
        counters = uow.counters
        assert [await counters.hit("k", 60, NOW) for _ in range(3)] == [1, 2, 3]
        assert await counters.peek("k", 60, NOW) == 3
        later = NOW + timedelta(seconds=61)
        assert await counters.peek("k", 60, later) == 0
        assert await counters.hit("k", 60, later) == 1
        assert await counters.purge(later) == 1


async def test_sessions_expire_drafts_and_purge(db: Storage) -> None:
    async with db.uow() as uow:
        sessions = uow.sessions
        await sessions.save("p1", '{"draft": {"category": "trading"}, "screen": "urgency"}', NOW, NOW + timedelta(days=30))
        await sessions.save("p2", '{"lang": "en"}', NOW, NOW + timedelta(hours=1))
        assert await sessions.expire_drafts(NOW + timedelta(hours=25)) == 1
        loaded = await sessions.load("p1")
        assert loaded is not None and '"draft"' not in loaded.state
        assert '"draft_expired":true' in loaded.state.replace(" ", "")
        assert await sessions.purge(NOW + timedelta(hours=2)) == 1
        assert await sessions.load("p2") is None


@sqlite_only
async def test_each_session_save_is_committed_when_it_returns_and_many_share_a_commit(db: SqliteStorage) -> None:
    async def save(k: int) -> None:
        await db.sessions.save(f"p{k}", f'{{"turn": {k}}}', NOW, NOW + timedelta(days=30))
        with sqlite3.connect(db.path) as other:  # another connection sees it: committed, not just cached
            row = other.execute("SELECT state FROM sessions WHERE pseudonym = ?", (f"p{k}",)).fetchone()
        assert row == (f'{{"turn": {k}}}',)

    await asyncio.gather(*(save(k) for k in range(50)))
    assert 1 <= db.writer.commits < 50 and db.writer.written == 50  # states that arrived together share a commit
    loaded = await db.sessions.load("p7")
    assert loaded is not None and loaded.state == '{"turn": 7}' and loaded.updated_at == NOW


async def test_the_session_store_sees_what_units_of_work_change(db: Storage) -> None:
    await db.sessions.save("p1", '{"draft": {"category": "trading"}, "screen": "urgency"}', NOW, NOW + timedelta(days=30))
    assert await db.sessions.load("p1") is not None  # now held in memory
    async with db.uow() as uow:
        assert await uow.sessions.expire_drafts(NOW + timedelta(hours=25)) == 1
    loaded = await db.sessions.load("p1")
    assert loaded is not None and '"draft"' not in loaded.state
    async with db.uow() as uow:
        await uow.sessions.delete("p1")
    assert await db.sessions.load("p1") is None
    async with db.uow() as uow:
        await uow.sessions.save("p1", '{"lang": "en"}', NOW, NOW + timedelta(days=30))
    loaded = await db.sessions.load("p1")
    assert loaded is not None and loaded.state == '{"lang": "en"}'
    async with db.uow() as uow:
        assert await uow.sessions.purge(NOW + timedelta(days=31)) == 1
    assert await db.sessions.load("p1") is None


@sqlite_only
async def test_the_session_store_holds_a_bounded_number_of_states(db: SqliteStorage) -> None:
    db.sessions.capacity = 3
    for k in range(10):
        await db.sessions.save(f"p{k}", "{}", NOW, NOW + timedelta(days=30))
    assert db.sessions.cached() == 3
    assert all([await db.sessions.load(f"p{k}") is not None for k in range(10)])  # the rest is read again
    assert db.sessions.cached() == 3


@sqlite_only
async def test_a_write_that_fails_in_a_group_is_rolled_back_alone(db: SqliteStorage) -> None:
    await db.conn.execute(
        "CREATE TEMP TRIGGER refuse BEFORE INSERT ON sessions WHEN NEW.pseudonym = 'bad' "
        "BEGIN SELECT RAISE(ABORT, 'refused'); END"
    )
    commits = db.writer.commits
    results = await asyncio.gather(
        db.sessions.save("good", '{"lang": "en"}', NOW, NOW + timedelta(days=30)),
        db.sessions.save("bad", "{}", NOW, NOW + timedelta(days=30)),
        db.sessions.save("fine", "{}", NOW, NOW + timedelta(days=30)),
        return_exceptions=True,
    )
    assert results[0] is None and results[2] is None and isinstance(results[1], sqlite3.IntegrityError), results
    assert db.writer.commits == commits + 1  # one transaction for the three
    assert await db.sessions.load("bad") is None
    with sqlite3.connect(db.path) as other:
        assert sorted(r[0] for r in other.execute("SELECT pseudonym FROM sessions")) == ["fine", "good"]


async def test_the_outbox_leases_most_urgent_first_and_retries_later(db: Storage) -> None:
    async with db.uow() as uow:
        tip = await uow.tips.create(new_tip(), "TL-AAAA-BBBB", "h", NOW)
        news = await uow.outbox.add(NewItem(Kind.TIPSTER_NEWS, Audience.TIPSTER, tip.id, payload={"n": 1}), NOW)
        card = await uow.outbox.add(NewItem(Kind.CARD, Audience.MODERATORS, tip.id), NOW)
    lease = NOW + timedelta(minutes=2)
    async with db.uow() as uow:
        first = await uow.outbox.claim("worker-1", NOW, lease, 10, ["telegram"])
        assert [item.id for item in first] == [card, news]  # a card never waits behind news
        assert await uow.outbox.claim("worker-2", NOW, lease, 10, ["telegram"]) == []  # leased: nobody else takes them
        await uow.outbox.delivered(card, NOW)
        await uow.outbox.retry(news, NOW + timedelta(seconds=30), count_attempt=True)
        assert await uow.outbox.claim("worker-2", NOW + timedelta(seconds=10), lease, 10, ["telegram"]) == []
        again = await uow.outbox.claim("worker-2", NOW + timedelta(seconds=31), lease, 10, ["telegram"])
        assert [(item.id, item.attempts, item.payload) for item in again] == [(news, 1, {"n": 1})]
    async with db.uow() as uow:  # a worker that died: its lease runs out and another takes the item
        assert [item.id for item in await uow.outbox.claim("worker-3", lease + timedelta(minutes=3), lease, 10, ["telegram"])] == [news]
        await uow.outbox.fail(news, NOW, "refused")
        assert await uow.outbox.backlog(NOW) == (0, None)


@sqlite_only
async def test_a_full_disk_raises_storage_full_and_writes_nothing(db: Storage) -> None:
    assert isinstance(db, SqliteStorage)
    conn = db.conn
    pages = (await (await conn.execute("PRAGMA page_count")).fetchone())[0]
    await conn.execute(f"PRAGMA max_page_count = {pages}")
    with pytest.raises(StorageFull):
        async with db.uow() as uow:
            await uow.tips.create(new_tip(description="x" * 20000), "TL-AAAA-BBBB", "h", NOW)
    async with db.read() as uow:
        assert await uow.tips.by_code("TL-AAAA-BBBB") is None


@postgres_only
async def test_a_full_disk_on_the_server_raises_storage_full_and_writes_nothing(db: Storage, tmp_path: Path) -> None:
    """The server says its disk is full (SQLSTATE 53100) at the tip's evidence, after the tip's own row."""
    async with raw_connection(tmp_path / "t.sqlite3") as raw:
        await raw.execute(
            "CREATE FUNCTION disk_full() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            "RAISE EXCEPTION 'could not extend file' USING ERRCODE = 'disk_full'; END; $$"
        )
        await raw.execute("CREATE TRIGGER disk_full BEFORE INSERT ON evidence FOR EACH ROW EXECUTE FUNCTION disk_full()")
    with pytest.raises(StorageFull):
        async with db.uow() as uow:
            tip = await uow.tips.create(new_tip(), "TL-AAAA-BBBB", "h", NOW)
            await uow.outbox.add(NewItem(Kind.CARD, Audience.MODERATORS, tip.id), NOW)
    async with db.read() as uow:
        assert await uow.tips.by_code("TL-AAAA-BBBB") is None and await uow.tips.count() == 0
        assert await uow.outbox.tally() == OutboxTally()


async def test_a_read_cannot_write(db: Storage) -> None:
    """A change belongs in a unit of work, where it commits with the rest of it or not at all."""
    with pytest.raises(READ_ONLY_ERRORS, match="read-?only"):
        async with db.read() as uow:
            await uow.tips.create(new_tip(), "TL-AAAA-BBBB", "h", NOW)
    async with db.uow() as uow:  # and writing works again afterwards
        await uow.tips.create(new_tip(), "TL-AAAA-BBBB", "h", NOW)


async def test_the_storage_lock_lets_the_session_writer_go_first_but_not_twice_while_others_wait() -> None:
    from tipline.storage.sqlite.base import StorageLock

    lock, order = StorageLock(), []
    release_first = asyncio.Event()

    async def holder() -> None:
        async with lock:
            order.append("holder")
            await release_first.wait()

    async def unit(name: str) -> None:
        async with lock:
            order.append(name)
            await asyncio.sleep(0)

    async def sessions(name: str) -> None:
        async with lock.first():
            order.append(name)
            await asyncio.sleep(0)

    first = asyncio.create_task(holder())
    await asyncio.sleep(0)
    waiting = [asyncio.create_task(unit("u1")), asyncio.create_task(unit("u2")),
               asyncio.create_task(sessions("s1")), asyncio.create_task(sessions("s2"))]  # fmt: skip
    await asyncio.sleep(0)
    gave_up = asyncio.create_task(unit("never"))
    await asyncio.sleep(0)
    gave_up.cancel()  # a waiter that gives up is skipped
    release_first.set()
    await asyncio.gather(first, *waiting)
    assert order == ["holder", "s1", "u1", "s2", "u2"]
    assert not lock.locked()
    async with lock:  # free again: taken at once
        assert lock.locked()


async def test_writing_through_the_read_only_repositories_fails_and_changes_nothing(db: Storage) -> None:
    # One attempt per read: PostgreSQL ends a transaction at its first error.
    with pytest.raises(READ_ONLY_ERRORS):
        async with db.read() as uow:
            await uow.tips.create(new_tip(), "TL-AAAA-BBBB", "h", NOW)
    with pytest.raises(READ_ONLY_ERRORS):
        async with db.read() as uow:
            await uow.counters.hit("k", 60, NOW)  # INSERT ... RETURNING, read back like a query
    async with db.read() as uow:
        assert await uow.counters.peek("k", 60, NOW) == 0
        assert await uow.tips.by_code("TL-AAAA-BBBB") is None
    async with db.uow() as uow:  # the same repositories write in a unit of work
        assert await uow.counters.hit("k", 60, NOW) == 1


async def test_filing_a_tip_counts_it_writes_it_with_what_it_is_owed_or_nothing(db: Storage, tmp_path: Path) -> None:
    from tipline.storage.ports import Quota, QuotaReached

    quota = Quota("day:p1", 86400, 1)
    card = lambda tip: [NewItem(Kind.CARD, Audience.MODERATORS, tip.id)]  # noqa: E731
    tip = await db.file_tip(new_tip(), "TL-AAAA-BBBB", "h", NOW, quota, card)
    async with db.read() as uow:
        assert await uow.tips.by_id(tip.id) == tip  # what came back is what is stored, evidence included
        assert await uow.counters.peek("day:p1", 86400, NOW) == 1
        assert await uow.outbox.backlog(NOW) == (1, NOW)
    with pytest.raises(QuotaReached):
        await db.file_tip(new_tip(), "TL-CCCC-DDDD", "h", NOW, quota, card)
    with pytest.raises(CodeTaken):
        await db.file_tip(new_tip(), "TL-AAAA-BBBB", "h", NOW, Quota("day:p2", 86400, 5), card)
    async with db.read() as uow:  # neither the refused tip nor its count nor its card
        assert await uow.tips.by_code("TL-CCCC-DDDD") is None
        assert await uow.counters.peek("day:p1", 86400, NOW) == 1
        assert await uow.counters.peek("day:p2", 86400, NOW) == 0
        assert await uow.outbox.backlog(NOW) == (1, NOW)

    other = await db.file_tip(new_tip(), "TL-EEEE-FFFF", "h", NOW, Quota("day:p3", 86400, 5), lambda tip: [])
    await db.file_assessment(other.id, '{"version": 1}', 3, [(tip.id, 0.8)], card(other), NOW)
    async with db.read() as uow:
        assessed = await uow.tips.by_id(other.id)
        assert assessed is not None and assessed.priority == 3 and assessed.triage == '{"version": 1}'
        assert await uow.outbox.backlog(NOW) == (2, NOW)
    async with raw_connection(tmp_path / "t.sqlite3") as plain:
        rows = await plain.fetchall("SELECT tip_id, other_id, score FROM duplicate_candidates")
    assert rows == [{"tip_id": other.id, "other_id": tip.id, "score": 0.8}]
