"""The audit log on a real database (a SQLite file, or PostgreSQL with TIPLINE_TEST_POSTGRES): append-only
triggers, the hash chain, MACs, tamper detection by someone holding the database (plain driver, guards
dropped), the CLI."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from backends import INTEGRITY_ERRORS, Raw, open_test_storage, raw_connection, use_database

from tipline.cli import main
from tipline.records.audit import GENESIS_HASH, AuditEntry, AuditLog, entry_hash
from tipline.records.model import AuditRecord
from tipline.storage.ports import Storage
from tipline.tips import Category, NewTip, Status, Urgency

NOW = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)
SECRET = b"s" * 40
CODE = "TL-7K3Q-9XMP"
OTHER = "TL-2222-3333"


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "audit.sqlite3"


@pytest.fixture
async def db(path: Path) -> AsyncIterator[Storage]:
    storage = await open_test_storage(path)
    yield storage
    await storage.close()


def entry(n: int, code: str | None = CODE, **changes: object) -> AuditEntry:
    values: dict[str, object] = dict(
        actor_role="moderator", actor_id=7, action="status", tip_code=code,
        from_status=Status.NEW, to_status=Status.IN_REVIEW, detail=f"step {n}", at=NOW + timedelta(minutes=n),
    )
    values.update(changes)
    return AuditEntry(**values)  # type: ignore[arg-type]


async def fill(db: Storage, log: AuditLog, n: int) -> None:
    for i in range(1, n + 1):
        await log.record(db, entry(i, CODE if i % 2 else OTHER))


async def head_hash(db: Storage) -> str:
    """The hash of the newest entry (GENESIS_HASH when the log is empty)."""
    async with db.read() as uow:
        head = await uow.audit.head()
    return head.hash if head else GENESIS_HASH


async def entries_for(db: Storage, tip_code: str) -> list[AuditRecord]:
    async with db.read() as uow:
        return await uow.audit.for_tip(tip_code)


def new_tip() -> NewTip:
    return NewTip(
        category=Category.TRADING, urgency=Urgency.TODAY, province_code=92, commune_code=31135, address=None,
        latitude=None, longitude=None, description="Bán ma túy ở hẻm 51", evidence=(), language="vi",
        channel="telegram",
    )


async def attack_with(path: Path, attack: Attack) -> None:
    """The attacker: the plain driver on the database, the append-only triggers dropped."""
    async with raw_connection(path) as conn:
        await conn.drop_audit_guards()
        await attack(conn)


async def rehash(conn: Raw, entry_id: int, prev_hash: str) -> str:
    """Recomputes one row's hash the way the attacker would (knowing the format), returns it."""
    fields = await conn.fetchone("SELECT * FROM audit_log WHERE id = ?", entry_id)
    assert fields is not None
    digest = entry_hash(fields, prev_hash)
    await conn.execute("UPDATE audit_log SET prev_hash = ?, hash = ? WHERE id = ?", prev_hash, digest, entry_id)
    return digest


# --- appending ---------------------------------------------------------------------------------------


async def test_entries_chain_from_the_genesis_hash_and_verify(db: Storage) -> None:
    log = AuditLog()
    result = await log.verify(db)
    assert result.ok and result.count == 0 and result.head_hash == GENESIS_HASH
    first = await log.record(db, entry(1))
    second = await log.record(db, entry(2, actor_role="tipster", actor_id="", action="followup", from_status=None,
                                         to_status=None, detail=""))
    third = await log.record(db, entry(3, code=None, actor_role="system", actor_id="", action="purge"))
    assert (first.id, second.id, third.id) == (1, 2, 3)
    assert first.prev_hash == GENESIS_HASH and second.prev_hash == first.hash and third.prev_hash == second.hash
    assert first.from_status == "new" and first.to_status == "in_review" and first.actor_id == "7"
    assert first.mac is None
    result = await log.verify(db)
    assert result.ok and result.count == 3 and result.head_hash == third.hash == await head_hash(db)
    assert result.first_bad_id is None and result.reason == ""


async def test_entries_for_a_tip_oldest_first(db: Storage) -> None:
    log = AuditLog()
    await fill(db, log, 5)
    mine = await entries_for(db, CODE)
    assert [e.id for e in mine] == [1, 3, 5] and [e.detail for e in mine] == ["step 1", "step 3", "step 5"]
    assert mine[0].at == NOW + timedelta(minutes=1)
    assert await entries_for(db, "TL-XXXX-YYYY") == []


async def test_a_state_change_and_its_entry_commit_or_roll_back_together(db: Storage) -> None:
    log = AuditLog()
    async with db.uow() as uow:
        tip = await uow.tips.create(new_tip(), CODE, "scrypt$x", NOW)
        await log.append(uow, entry(1))
    with pytest.raises(RuntimeError, match="boom"):
        async with db.uow() as uow:
            await uow.tips.update(tip.id, status=Status.IN_REVIEW)
            await log.append(uow, entry(2))
            raise RuntimeError("boom")
    async with db.read() as uow:
        assert (await uow.tips.by_id(tip.id)).status == Status.NEW  # type: ignore[union-attr]
        assert [record.id for record in await uow.audit.all()] == [1]
    nxt = await log.record(db, entry(3))
    assert nxt.id == 2  # the rolled-back entry left no trace, not even a used id
    assert (await log.verify(db)).ok


async def test_a_state_change_and_its_entry_commit_together(db: Storage) -> None:
    log = AuditLog()
    async with db.uow() as uow:
        tip = await uow.tips.create(new_tip(), CODE, "scrypt$x", NOW)
    async with db.uow() as uow:
        await uow.tips.update(tip.id, status=Status.IN_REVIEW)
        await log.append(uow, entry(1))
    async with db.read() as uow:
        assert (await uow.tips.by_id(tip.id)).status == Status.IN_REVIEW  # type: ignore[union-attr]
        (record,) = await uow.audit.for_tip(CODE)
        assert await uow.audit.head() == record
    assert (record.from_status, record.to_status) == ("new", "in_review")


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"actor_role": "tipster", "actor_id": "123456789"}, "anonymous"),
        ({"actor_role": "police"}, "police"),
        ({"action": "Forwarded to unit 3!"}, "action"),
        ({"action": ""}, "action"),
        ({"at": datetime(2026, 11, 26, 8, 0)}, "timezone"),
    ],
)
async def test_entries_that_must_not_be_written_are_refused(db: Storage, changes: dict, message: str) -> None:
    log = AuditLog()
    with pytest.raises(ValueError, match=message):
        await log.record(db, entry(1, **changes))
    assert (await log.verify(db)).count == 0


async def test_details_are_kept_to_one_short_line(db: Storage) -> None:
    log = AuditLog()
    long = await log.record(db, entry(1, detail="x" * 500))
    assert long.detail == "x" * 199 + "…"
    lines = await log.record(db, entry(2, detail="  line one\n\tline two\r\n"))
    assert lines.detail == "line one line two"
    assert [e.detail for e in await entries_for(db, CODE)] == [long.detail, "line one line two"]
    assert (await log.verify(db)).ok


async def test_the_schema_itself_refuses_a_tipster_with_an_id(path: Path, db: Storage) -> None:
    async with raw_connection(path) as conn:
        with pytest.raises(INTEGRITY_ERRORS, match="(?i)check constraint"):
            await conn.execute(
                "INSERT INTO audit_log (id, at, actor_role, actor_id, action, prev_hash, hash) "
                "VALUES (99, 'x', 'tipster', '123456789', 'a', 'p', 'h')"
            )
        await conn.execute(  # the same row without the id is accepted: the check is what refused it
            "INSERT INTO audit_log (id, at, actor_role, actor_id, action, prev_hash, hash) "
            "VALUES (99, 'x', 'tipster', '', 'a', 'p', 'h')"
        )


async def test_concurrent_appends_form_one_chain(db: Storage) -> None:
    log = AuditLog(secret=SECRET)
    await asyncio.gather(*(log.record(db, entry(i)) for i in range(40)))
    result = await log.verify(db)
    assert result.ok and result.count == 40


# --- append-only in the database itself ---------------------------------------------------------------


async def test_triggers_block_update_and_delete(path: Path, db: Storage) -> None:
    log = AuditLog()
    await fill(db, log, 2)
    for statement in ("UPDATE audit_log SET detail = 'x' WHERE id = 1", "DELETE FROM audit_log WHERE id = 2"):
        with pytest.raises(INTEGRITY_ERRORS, match="append-only"):
            async with db.uow() as uow:  # the repositories cannot even say it: plain SQL on the unit's connection
                await uow.audit.conn.execute(statement)  # type: ignore[attr-defined]
    async with raw_connection(path) as plain:  # nor can someone with the database, unless they drop the guards
        statements = ["DELETE FROM audit_log", "UPDATE audit_log SET prev_hash = hash"]
        if plain.pg is not None:
            statements.append("TRUNCATE audit_log")
        for statement in statements:
            with pytest.raises(INTEGRITY_ERRORS, match="append-only"):
                await plain.execute(statement)
    assert (await log.verify(db)).ok and (await log.verify(db)).count == 2


# --- tampering by someone with the file ----------------------------------------------------------------


Attack = Callable[[Raw], Awaitable[object]]
INSERT = (
    "INSERT INTO audit_log (id, at, actor_role, actor_id, tip_code, action, from_status, to_status, detail, "
    "prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def forged(entry_id: int, **changes: object) -> dict[str, object]:
    fields: dict[str, object] = dict(
        id=entry_id, at="2026-11-26T09:00:00.000000+00:00", actor_role="admin", actor_id="1", tip_code=CODE,
        action="status", from_status="in_review", to_status="spam", detail="forged",
    )
    fields.update(changes)
    return fields


async def insert(conn: Raw, fields: dict[str, object], prev_hash: str, digest: str | None = None) -> None:
    await conn.execute(INSERT, *fields.values(), prev_hash, digest or entry_hash(fields, prev_hash))


async def hash_of(conn: Raw, entry_id: int) -> str:
    row = await conn.fetchone("SELECT hash FROM audit_log WHERE id = ?", entry_id)
    assert row is not None
    return str(row["hash"])


async def move_up_and_insert(conn: Raw) -> None:
    """Slips a made-up entry 3 in: the old 3 and 4 move to 4 and 5, the moved 4 is re-linked to it."""
    await conn.execute("UPDATE audit_log SET id = id + 10 WHERE id >= 3")
    await conn.execute("UPDATE audit_log SET id = id - 9 WHERE id >= 13")
    fields, prev = forged(3), await hash_of(conn, 2)
    digest = entry_hash(fields, prev)
    await conn.execute("UPDATE audit_log SET prev_hash = ? WHERE id = 4", digest)
    await insert(conn, fields, prev, digest)


async def tampered(path: Path, n: int, attack: Attack, secret: bytes | None = None) -> tuple[Storage, AuditLog]:
    """Writes n entries, closes the database, runs the attack with the plain driver, reopens."""
    db = await open_test_storage(path)
    await fill(db, AuditLog(secret=secret), n)
    await db.close()
    await attack_with(path, attack)
    db = await open_test_storage(path)
    return db, AuditLog(secret=secret)


async def check(path: Path, attack: Attack, bad_id: int | None, reason: str, secret: bytes | None = None) -> None:
    db, log = await tampered(path, 4, attack, secret)
    try:
        result = await log.verify(db)
    finally:
        await db.close()
    assert not result.ok
    assert result.first_bad_id == bad_id, result
    assert reason in result.reason, result


async def test_a_changed_entry_is_named(path: Path) -> None:
    await check(
        path, lambda c: c.execute("UPDATE audit_log SET detail = 'nothing' WHERE id = 2"), 2, "contents do not match"
    )


async def test_a_changed_status_is_named(path: Path) -> None:
    await check(
        path, lambda c: c.execute("UPDATE audit_log SET to_status = 'spam' WHERE id = 3"), 3, "contents do not match"
    )


async def test_a_changed_entry_with_its_own_hash_redone_breaks_the_link_to_the_next(path: Path) -> None:
    async def attack(conn: Raw) -> None:
        await conn.execute("UPDATE audit_log SET actor_id = '99' WHERE id = 2")
        await rehash(conn, 2, await hash_of(conn, 1))

    await check(path, attack, 3, "prev_hash does not match the hash of entry 2")


async def test_a_deleted_middle_entry_is_named(path: Path) -> None:
    await check(path, lambda c: c.execute("DELETE FROM audit_log WHERE id = 2"), 3, "entry 2 is missing")


async def test_a_deleted_middle_entry_with_renumbering_is_named(path: Path) -> None:
    async def attack(conn: Raw) -> None:
        await conn.execute("DELETE FROM audit_log WHERE id = 2")
        await conn.execute("UPDATE audit_log SET id = id - 1 WHERE id > 2")
        await conn.set_audit_counter(3)

    await check(path, attack, 2, "prev_hash does not match the hash of entry 1")


async def test_reordered_entries_are_named(path: Path) -> None:
    async def attack(conn: Raw) -> None:
        await conn.execute("UPDATE audit_log SET id = 100 WHERE id = 2")
        await conn.execute("UPDATE audit_log SET id = 2 WHERE id = 3")
        await conn.execute("UPDATE audit_log SET id = 3 WHERE id = 100")

    await check(path, attack, 2, "prev_hash does not match the hash of entry 1")


async def test_an_inserted_entry_is_named(path: Path) -> None:
    # Without the secret the forgery itself checks out, and the chain breaks at the first moved entry (its
    # hash covers its old id and link); with the secret the MAC names the forgery itself (see below).
    await check(path, move_up_and_insert, 4, "contents do not match its hash")


async def test_an_entry_appended_with_a_wrong_link_is_named(path: Path) -> None:
    await check(path, lambda c: insert(c, forged(5), "f" * 64), 5, "prev_hash does not match the hash of entry 4")


async def test_an_entry_with_a_made_up_hash_is_named(path: Path) -> None:
    async def attack(c: Raw) -> None:
        await insert(c, forged(5), await hash_of(c, 4), "e" * 64)

    await check(path, attack, 5, "contents do not match its hash")


async def test_an_entry_with_an_unreadable_time_is_named(path: Path) -> None:
    await check(path, lambda c: c.execute("UPDATE audit_log SET at = 'yesterday' WHERE id = 2"), 2, "contents do not match")


async def test_a_time_rewritten_as_the_same_instant_in_another_offset_is_named(path: Path) -> None:
    async def rewrite(c: Raw) -> None:
        row = await c.fetchone("SELECT at FROM audit_log WHERE id = 2")
        assert row is not None
        moment = datetime.fromisoformat(row["at"])
        await c.execute("UPDATE audit_log SET at = ? WHERE id = 2", moment.astimezone(timezone(timedelta(hours=7))).isoformat())

    await check(path, rewrite, 2, "contents do not match")


async def test_a_cut_off_tail_is_named(path: Path) -> None:
    await check(path, lambda c: c.execute("DELETE FROM audit_log WHERE id >= 3"), 3, "truncated")


async def test_appending_after_a_cut_tail_never_reuses_an_id(path: Path) -> None:
    db, log = await tampered(path, 4, lambda c: c.execute("DELETE FROM audit_log WHERE id = 4"))
    try:
        added = await log.record(db, entry(9))
        assert added.id == 5
        result = await log.verify(db)
        assert not result.ok and result.first_bad_id == 5 and "entry 4 is missing" in result.reason
    finally:
        await db.close()


async def test_a_fully_recomputed_chain_passes_alone_but_not_against_an_anchor(path: Path) -> None:
    db = await open_test_storage(path)
    log = AuditLog()
    await fill(db, log, 4)
    anchor = (await log.verify(db)).head_hash
    await db.close()

    async def attack(conn: Raw) -> None:
        await conn.execute("UPDATE audit_log SET detail = 'rewritten' WHERE id = 2")
        prev = GENESIS_HASH
        for entry_id in range(1, 5):
            prev = await rehash(conn, entry_id, prev)

    await attack_with(path, attack)
    db = await open_test_storage(path)
    log = AuditLog()
    try:
        assert (await log.verify(db)).ok  # the limit of a plain chain: hence the anchor, and the MAC
        result = await log.verify(db, anchor=anchor)
        assert not result.ok and result.first_bad_id is None and "anchored hash is not in the log" in result.reason
        assert "not a valid hash" in (await log.verify(db, anchor="not-a-hash")).reason
    finally:
        await db.close()


async def test_an_old_anchor_stays_valid_as_the_log_grows(db: Storage) -> None:
    log = AuditLog()
    await fill(db, log, 3)
    anchor = (await log.verify(db)).head_hash
    await fill(db, log, 2)
    result = await log.verify(db, anchor=anchor.upper())
    assert result.ok and result.count == 5 and result.head_hash != anchor


# --- with the secret: MACs ------------------------------------------------------------------------------


async def test_with_the_secret_every_entry_carries_a_mac(db: Storage) -> None:
    log = AuditLog(secret=SECRET)
    first = await log.record(db, entry(1))
    key = hmac.new(SECRET, b"tipline/audit-mac/v1", hashlib.sha256).digest()
    assert first.mac == hmac.new(key, first.hash.encode(), hashlib.sha256).hexdigest()
    assert (await log.verify(db)).ok
    wrong = await AuditLog(secret=b"t" * 40).verify(db)
    assert not wrong.ok and wrong.first_bad_id == 1 and "MAC is wrong" in wrong.reason
    assert (await AuditLog().verify(db)).ok  # the plain chain still checks without the secret


async def test_a_log_written_without_the_secret_fails_a_keyed_check(db: Storage) -> None:
    await fill(db, AuditLog(), 2)
    result = await AuditLog(secret=SECRET).verify(db)
    assert not result.ok and result.first_bad_id == 1 and "no MAC" in result.reason
    assert (await AuditLog(secret=SECRET).verify(db, use_key=False)).ok


async def test_with_the_secret_a_recomputed_chain_is_caught_at_the_first_rewritten_entry(path: Path) -> None:
    async def attack(conn: Raw) -> None:
        await conn.execute("UPDATE audit_log SET detail = 'rewritten' WHERE id = 3")
        prev = await hash_of(conn, 2)
        for entry_id in (3, 4):
            prev = await rehash(conn, entry_id, prev)

    await check(path, attack, 3, "MAC is wrong", secret=SECRET)


async def test_with_the_secret_an_inserted_entry_is_named_itself(path: Path) -> None:
    await check(path, move_up_and_insert, 3, "no MAC", secret=SECRET)


async def test_with_the_secret_an_appended_entry_is_named(path: Path) -> None:
    async def attack(c: Raw) -> None:
        await insert(c, forged(5), await hash_of(c, 4))

    await check(path, attack, 5, "no MAC", secret=SECRET)


# --- the command ---------------------------------------------------------------------------------------------


@pytest.fixture
def env(path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    use_database(monkeypatch, path)
    monkeypatch.setenv("TIPLINE_SECRET_KEY", "Tq8vN2xR5mL7pW3kZ9yB4cH6jD1fG0sA-eUiOoPtest")
    monkeypatch.delenv("TELEGRAM_BOT_TOKEN", raising=False)
    return path


async def _write(path: Path, n: int, secret: bytes | None) -> str:
    db = await open_test_storage(path)
    log = AuditLog(secret=secret)
    await fill(db, log, n)
    head = await head_hash(db)
    await db.close()
    return head


def test_cli_verify_prints_the_head(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    head = asyncio.run(_write(env, 3, b"Tq8vN2xR5mL7pW3kZ9yB4cH6jD1fG0sA-eUiOoPtest"))
    assert main(["audit", "verify"]) == 0
    assert capsys.readouterr().out.strip() == f"audit log intact: 3 entries, head {head}"
    assert main(["audit", "verify", "--anchor", head]) == 0
    assert "anchor found" in capsys.readouterr().out
    assert main(["audit", "verify", "--anchor", "ab" * 32]) == 1
    assert "anchored hash is not in the log" in capsys.readouterr().out


def test_cli_verify_names_the_first_bad_entry(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    asyncio.run(_write(env, 4, b"Tq8vN2xR5mL7pW3kZ9yB4cH6jD1fG0sA-eUiOoPtest"))
    asyncio.run(attack_with(env, lambda c: c.execute("UPDATE audit_log SET detail = 'x' WHERE id = 3")))
    assert main(["audit", "verify"]) == 1
    out = capsys.readouterr().out
    assert "NOT intact: entry 3:" in out and "contents do not match" in out


def test_cli_verify_with_and_without_the_key(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    asyncio.run(_write(env, 2, None))
    assert main(["audit", "verify"]) == 1
    assert "entry 1: it has no MAC" in capsys.readouterr().out
    assert main(["audit", "verify", "--without-key"]) == 0
    assert "audit log intact: 2 entries" in capsys.readouterr().out


def test_cli_show_lists_a_tips_entries(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    asyncio.run(_write(env, 4, b"Tq8vN2xR5mL7pW3kZ9yB4cH6jD1fG0sA-eUiOoPtest"))
    assert main(["audit", "show", "tl 7k3q 9xmp"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2
    assert lines[0] == "#1  2026-11-26 15:01:00  moderator 7  status  new → in_review  step 1"
    assert lines[1].startswith("#3  2026-11-26 15:03:00")
    assert main(["audit", "show", "TL-4444-5555"]) == 1
    assert "no audit entries for TL-4444-5555" in capsys.readouterr().err
    assert main(["audit", "show", "hello"]) == 2
