"""Threat: the database file, and the secret beside it, in the wrong hands.

Who attacks: someone who copies the database (a backup, a stolen disk, a curious operator), with or without
the server secret. With the secret, a chat's pseudonym can be recomputed for every plausible chat id, so a
pseudonym is as good as a chat id to them; without it, timestamps that sit next to pseudonyms can still be
matched to a tip's minute. Also: an operator who starts the bot with another secret by mistake, runs the
CLI without one beside a production database, or picks a guessable one.

What must hold: no table holds a tip code or tip id next to a pseudonym or anything derived from a chat,
except sealed with AES-GCM and only for as long as the step needs (the question about updates: 15
minutes, then it lapses and /status offers it again); timestamps next to pseudonyms say no more than the hour
(counters: the hour or the day); /forget leaves no trace of the draft in the database or its write-ahead
log; the database, its -wal and -shm, the secret file, exports and audit anchors are readable by the owner
only; a changed secret stops the bot with one line (exit 2), the CLI never makes a new secret beside an
existing database, a low-entropy secret is refused, and `tipline secret rotate` re-seals every link and
keeps `tipline audit verify` whole across the rotation.
"""

from __future__ import annotations

import asyncio
import json
import os
import stat
import sys
from collections.abc import AsyncIterator, Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
from backends import BACKEND, database_env, database_state, postgres_only, sqlite_only, table_columns, use_database
from botapi import FakeBotApi
from cryptography.exceptions import InvalidTag
from harness import SECRET, Citizen, texts
from security_world import World, fill_report, staff_world, submit

from tipline.cli import main as cli_main
from tipline.config import ConfigError, load_settings
from tipline.outreach.model import Preferences
from tipline.privacy.keys import Keyring

ROOT = Path(__file__).resolve().parents[1]
NEW_SECRET = "Zr4pK9wQ2nV7bX5mT1cY8hL3gF6dS0aJ-uEiOoPnew"
# Words that would name a tip if they were stored in clear next to a pseudonym.
TIP_KEYS = {"tip", "tip_id", "code", "optin_code", "followup_code", "lookup_code", "question", "receipt"}


@pytest.fixture
async def world(api: FakeBotApi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[World]:
    async with staff_world(api, tmp_path, monkeypatch) as w:
        yield w


@pytest.fixture
def umask() -> Iterator[None]:
    old = os.umask(0o022)  # the usual default: files readable by everyone unless created otherwise
    try:
        yield
    finally:
        os.umask(old)


def keys_of(value: Any) -> set[str]:
    if isinstance(value, dict):
        return set(value) | {k for v in value.values() for k in keys_of(v)}
    if isinstance(value, list):
        return {k for v in value for k in keys_of(v)}
    return set()


async def sealed_parts(world: World) -> dict[str, str]:
    """Each session's sealed part, unsealed with the server secret (what a holder of both can read)."""
    keyring: Keyring = world.core.keyring
    found = {}
    for row in (await world.bot.records())["sessions"]:
        sealed = json.loads(row["state"]).get("sealed")
        if sealed:
            found[row["pseudonym"]] = keyring.unseal_text(sealed)
    return found


async def subscription_count(world: World) -> int:
    async with world.read() as uow:
        return len(await uow.subscriptions.all())


def pseudonym(world: World, person: Citizen) -> str:
    return str(world.core.keyring.pseudonym("telegram", person.user.id))


async def mid_flow(world: World) -> dict[str, Any]:
    """Tipsters at every step that names a tip: opted in, opted out, the question about updates still
    open, /status waiting for the passphrase, /followup waiting for the text."""
    lan, hoa, minh, tuan, thu = (world.citizen(n) for n in ("Lan", "Hoa", "Minh", "Tuan", "Thu"))
    lan_code, _ = await submit(lan, optin=True)
    hoa_code, hoa_pass = await submit(hoa, "Nhóm người lạ tụ tập hút bóng cười ở bãi đất trống gần bờ sông", optin=False)
    minh_code, _ = await submit(minh, "Một người bán thuốc lắc cho học sinh ở cổng trường mỗi chiều", optin=None)
    await tuan.say(f"/status {lan_code}")
    await tuan.say("AAAA-BBBB-CCCC")  # a wrong passphrase: the code's slowdown is counted (by a keyed hash)
    await tuan.say(f"/status {lan_code}")
    await thu.say("/followup")
    await thu.say(hoa_code)
    assert "TL-" in texts(await thu.say(hoa_pass))
    await world.settle()
    return {
        "people": {"lan": lan, "hoa": hoa, "minh": minh, "tuan": tuan, "thu": thu},
        "codes": [lan_code, hoa_code, minh_code],
    }


async def test_no_table_holds_a_tip_next_to_a_pseudonym_except_sealed_for_the_step(api: FakeBotApi, world: World) -> None:
    flow = await mid_flow(world)
    people: dict[str, Citizen] = flow["people"]
    codes: list[str] = flow["codes"]
    names = {pseudonym(world, p): name for name, p in people.items()}
    tip_ids = [(await world.tip(code)).id for code in codes]
    async with world.read() as uow:
        assert await uow.tips.count() == len(tip_ids)
    records = await world.bot.records()
    async with world.bot.storage() as storage:
        every_column = await table_columns(storage)
    sessions = {r["pseudonym"]: json.loads(r["state"]) for r in records["sessions"]}
    subscription_columns = list(every_column["subscriptions"])
    counters = records["counters"]
    throttles = [r["key"] for r in records["throttles"]]
    holders = {
        table for table, rows in records.items() for row in rows
        for value in row.values() if isinstance(value, str) and any(p in value for p in names)
    }
    columns = {table: every_column[table] for table in holders}
    assert set(names) <= set(sessions), "every chat has its conversation, under its pseudonym"

    # Where pseudonyms are, no column could hold a tip.
    assert holders == {"sessions"}, holders
    for table in holders:
        assert not columns[table] & {"tip_id", "code", "tip_code", "tip"}, (table, columns[table])
    # Sessions: nothing names a tip in clear.
    for key, state in sessions.items():
        clear = {k: v for k, v in state.items() if k != "sealed"}
        dumped = json.dumps(clear, ensure_ascii=False)
        assert not any(code in dumped or code.replace("-", "") in dumped for code in codes), (names.get(key), dumped)
        assert "TL-" not in dumped and not keys_of(clear) & TIP_KEYS, (names.get(key), dumped)
    # Subscriptions: the tip and a sealed reference, and nothing derived from the chat beside them.
    assert sorted(subscription_columns) == ["created_at", "id", "sealed_ref", "tip_id"]
    # Counters and slowdowns: keys that name no tip.
    for counter in counters:
        assert not any(code in counter["key"] for code in codes) and "TL-" not in counter["key"], counter
        assert not any(counter["key"].endswith(f":{tip_id}") for tip_id in tip_ids), counter
    assert throttles and not any(code in key for key in throttles for code in codes)

    # Sealed, codes are there only while a step needs them: the open question about updates, the code being
    # looked up, the tip being added to. The finished conversations hold nothing sealed at all.
    sealed = {names[k]: v for k, v in (await sealed_parts(world)).items() if k in names}
    assert set(sealed) == {"minh", "tuan", "thu"}, sealed
    assert codes[2] in sealed["minh"] and codes[0] in sealed["tuan"] and codes[1] in sealed["thu"]


async def test_times_next_to_pseudonyms_say_no_more_than_the_hour(api: FakeBotApi, world: World) -> None:
    assert world.clock().minute != 0 and world.clock().second != 0
    await mid_flow(world)
    records = await world.bot.records()
    sessions = records["sessions"]
    subscriptions = [r["created_at"] for r in records["subscriptions"]]
    counters = records["counters"]
    assert sessions and subscriptions
    for moment in [s["updated_at"] for s in sessions] + [s["expires_at"] for s in sessions] + subscriptions:
        parsed = moment if isinstance(moment, datetime) else datetime.fromisoformat(moment)  # PostgreSQL's, SQLite's
        assert (parsed.minute, parsed.second, parsed.microsecond) == (0, 0, 0), moment
    for counter in counters:  # windows of an hour or a day: their ends are whole hours
        assert counter["expires_at"] % 3600 == 0, counter


async def test_the_question_about_updates_lapses_after_15_minutes_and_status_offers_it_again(
    api: FakeBotApi, world: World
) -> None:
    minh = world.citizen("Minh")
    code, passphrase = await submit(minh, optin=None)
    question = minh.last_with_buttons
    walked_away = world.citizen("Ba")
    away_code, _ = await submit(walked_away, "Có người lạ bán hàng cấm ở bến xe buổi tối, đi xe màu trắng", optin=None)
    elsewhere = world.citizen("Cuc")
    other_code, _ = await submit(elsewhere, "Nhóm thanh niên hút bóng cười ở quán karaoke trên đường 30/4", optin=None)
    looking = world.citizen("Dung")  # starts to check the new tip, then leaves
    looked_up, _ = await submit(looking, "Có người bán thuốc lá điện tử chứa ma túy cho học sinh ở căng tin", optin=None)
    await looking.say(f"/status {looked_up}")
    assert code in (await sealed_parts(world))[pseudonym(world, minh)]

    world.clock.advance(minutes=16)
    late = await minh.press("optin:yes", question)
    assert "/status" in texts(late)
    assert await subscription_count(world) == 0
    assert code not in (await sealed_parts(world)).get(pseudonym(world, minh), ""), "lapsed: not even sealed"
    # Someone who went on to something else: the question is gone from the chat's state too.
    await elsewhere.say("/help")
    assert other_code not in (await sealed_parts(world)).get(pseudonym(world, elsewhere), "")
    # Someone who never came back: the hourly purge leaves nothing of the question either.
    await world.core.purge()
    assert away_code not in (await sealed_parts(world)).get(pseudonym(world, walked_away), "")

    # A code being looked up is kept for that step (an hour), not for as long as a receipt copy would be.
    assert looked_up in (await sealed_parts(world))[pseudonym(world, looking)]
    world.clock.advance(minutes=45)
    await world.core.purge()
    assert looked_up not in (await sealed_parts(world)).get(pseudonym(world, looking), "")

    # The citizen can still ask for updates, from /status.
    await minh.say(f"/status {code}")
    status = await minh.say(passphrase)
    assert code in texts(status)
    await minh.press("optin:yes")
    assert await subscription_count(world) == 1


MARKER = "QUOKKA7731"


async def stored_text(world: World) -> str:
    records = await world.bot.records()
    return "\n".join(str(value) for rows in records.values() for row in rows for value in row.values())


@sqlite_only
async def test_forget_leaves_no_trace_of_the_draft_in_the_files(api: FakeBotApi, world: World) -> None:
    lan = world.citizen("Lan")
    await fill_report(lan, f"Mật danh {MARKER}: người bán ở hẻm 9 tên là Tư, nhà có cổng sắt xanh.")
    db_path = world.bot.db_path
    files = [db_path, db_path.with_name(db_path.name + "-wal"), db_path.with_name(db_path.name + "-shm")]
    assert any(MARKER.encode() in f.read_bytes() for f in files if f.exists()), "the draft is in the files first"
    forgotten = await lan.say("/forget")
    assert texts(forgotten)
    async with world.read() as uow:
        assert await uow.sessions.count() == 0
    for f in files:
        if f.exists():
            assert MARKER.encode() not in f.read_bytes(), f"the draft's text is still readable in {f.name}"


@postgres_only
async def test_forget_leaves_no_trace_of_the_draft_in_any_table(api: FakeBotApi, world: World) -> None:
    """PostgreSQL's counterpart: no row keeps the draft (the files are the server's; see docs/THREAT_MODEL.md)."""
    lan = world.citizen("Lan")
    await fill_report(lan, f"Mật danh {MARKER}: người bán ở hẻm 9 tên là Tư, nhà có cổng sắt xanh.")
    assert MARKER in await stored_text(world), "the draft is stored first"
    assert texts(await lan.say("/forget"))
    async with world.read() as uow:
        assert await uow.sessions.count() == 0
    assert MARKER not in await stored_text(world)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def test_the_database_its_journal_the_secret_exports_and_anchors_are_the_owners_only(
    api: FakeBotApi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, umask: None
) -> None:
    anchors = tmp_path / "anchors.txt"
    async with staff_world(api, tmp_path, monkeypatch, tipline_audit_anchor_file=anchors) as world:
        await submit(world.citizen("Lan"))
        db_path = world.bot.db_path
        await world.core.anchor_audit()
        # The database's own files, on SQLite (PostgreSQL's are the server's, in its data directory).
        database_files = [db_path.with_name(db_path.name + suffix) for suffix in ("", "-wal", "-shm")] if BACKEND == "sqlite" else []
        for path in [*database_files, anchors]:
            assert path.exists() and mode(path) == 0o600, (path.name, oct(mode(path)))
        export = tmp_path / "exports" / "thang-11.csv"
        use_database(monkeypatch, db_path)
        monkeypatch.setenv("TIPLINE_SECRET_KEY", SECRET)
        export.parent.mkdir()
        export.with_suffix(".json").write_text("an older export, readable by all")  # replaced: its mode too
        for output in (export, export.with_suffix(".json")):
            assert await asyncio.to_thread(cli_main, ["export", "--period", "2026-11", "--output", str(output)]) == 0
            assert mode(output) == 0o600, (output.name, oct(mode(output)))
    # Local mode makes its secret once, beside a new database (a SQLite file: local mode has no server database).
    monkeypatch.delenv("TIPLINE_SECRET_KEY")
    monkeypatch.delenv("TIPLINE_DATABASE_URL", raising=False)
    monkeypatch.delenv("TELEGRAM_BOT_TOKEN", raising=False)
    local = tmp_path / "local" / "tipline.sqlite3"
    load_settings(tipline_db=local).secret()
    assert mode(local.with_name("tipline.sqlite3.secret")) == 0o600


async def run_bot(env: dict[str, str]) -> tuple[int, str]:
    """`python -m bot` as deployed; returns its exit code and standard error."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", cwd=ROOT, env=env, stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    _out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return process.returncode, err.decode()


def bot_env(api: FakeBotApi, db: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TIPLINE_", "TELEGRAM_"))}
    env.update(TELEGRAM_BOT_TOKEN=api.token, TELEGRAM_API_BASE_URL=api.base_url, **database_env(db), **extra)
    return env


async def test_a_changed_secret_stops_the_bot_with_one_line(api: FakeBotApi, world: World) -> None:
    await submit(world.citizen("Lan"), optin=True)
    await world.bot.stop()
    db = world.bot.db_path
    before = await database_state(db)
    asked = len(api.requests)
    code, err = await run_bot(bot_env(api, db, TIPLINE_SECRET_KEY=NEW_SECRET))
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1 and "TIPLINE_SECRET_KEY" in err and "Traceback" not in err, err
    assert NEW_SECRET not in err and SECRET not in err
    assert await database_state(db) == before, "nothing was written with the wrong secret"
    assert len(api.requests) == asked, "nothing was asked of Telegram either"


async def test_no_secret_is_made_up_beside_an_existing_database(
    api: FakeBotApi, world: World, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    await world.bot.stop()
    db = world.bot.db_path
    secret_file = db.with_name(db.name + ".secret")
    monkeypatch.delenv("TIPLINE_SECRET_KEY", raising=False)
    monkeypatch.delenv("TELEGRAM_BOT_TOKEN", raising=False)
    use_database(monkeypatch, db)
    for command in (["migrate"], ["purge"], ["check-config"], ["units", "list"], ["audit", "verify"]):
        assert await asyncio.to_thread(cli_main, command) == 2, command
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1 and "TIPLINE_SECRET_KEY" in err, (command, err)
        assert not secret_file.exists(), command
    # Nor by the bot's own entry point (console mode, no token).
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TIPLINE_", "TELEGRAM_"))}
    code, err = await run_bot({**env, **database_env(db)})
    assert code == 2 and len(err.strip().splitlines()) == 1 and "TIPLINE_SECRET_KEY" in err, err
    assert not secret_file.exists()


@pytest.mark.parametrize("weak", ["a" * 32, "ab" * 20, "password" * 5, "0" * 64])
async def test_a_guessable_secret_is_refused(
    api: FakeBotApi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], weak: str
) -> None:
    with pytest.raises(ConfigError, match="TIPLINE_SECRET_KEY"):
        load_settings(tipline_secret_key=weak)
    monkeypatch.setenv("TIPLINE_SECRET_KEY", weak)
    monkeypatch.setenv("TIPLINE_DB", str(tmp_path / "t.sqlite3"))
    assert await asyncio.to_thread(cli_main, ["check-config"]) == 2
    assert "TIPLINE_SECRET_KEY" in capsys.readouterr().err
    code, err = await run_bot(bot_env(api, tmp_path / "t.sqlite3", TIPLINE_SECRET_KEY=weak))
    assert code == 2 and len(err.strip().splitlines()) == 1 and "TIPLINE_SECRET_KEY" in err and weak not in err, err
    assert not (tmp_path / "t.sqlite3").exists()


async def test_secret_rotation_reseals_every_link_and_the_audit_log_stays_verifiable(
    api: FakeBotApi, world: World, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("Lan", "Hoa"):
        code, _ = await submit(world.citizen(name), optin=True)
        await world.press(world.group, world.mai, await world.card(code), "claim")
    await world.bot.stop()
    db = world.bot.db_path
    async with world.read() as uow:
        links_before = [(link.tip_id, link.sealed_ref) for link in await uow.subscriptions.all()]
        entries_before = len(await uow.audit.all())
    assert len(links_before) == 2 and entries_before > 0
    chats = sorted(str(Keyring(SECRET.encode()).unseal(ref)[1]) for _, ref in links_before)
    old_keys = Keyring(SECRET.encode())
    async with world.bot.storage() as storage, storage.uow() as uow:  # outreach: one reading, one who stopped
        for chat in (7001, 7002):
            await uow.subscribers.subscribe(
                old_keys.outreach_key("telegram", chat), "telegram", old_keys.seal("telegram", chat),
                Preferences(92, None, "general", "vi"), date(2026, 11, 1),
            )
        stopped = await uow.subscribers.by_key(old_keys.outreach_key("telegram", 7002))
        assert stopped is not None and await uow.subscribers.stop(stopped.id, date(2026, 11, 2), "stop", "")

    use_database(monkeypatch, db)
    monkeypatch.setenv("TIPLINE_SECRET_KEY", NEW_SECRET)
    monkeypatch.setenv("TIPLINE_OLD_SECRET_KEY", "Wrong-old-secret-4vN8qT2xB6mZ1pL9kR3")
    assert await asyncio.to_thread(cli_main, ["secret", "rotate"]) == 2, "the old secret must be the database's"
    monkeypatch.setenv("TIPLINE_OLD_SECRET_KEY", SECRET)
    assert await asyncio.to_thread(cli_main, ["secret", "rotate"]) == 0
    capsys.readouterr()

    async with world.read() as uow:
        links = [(link.tip_id, link.sealed_ref) for link in await uow.subscriptions.all()]
    assert sorted(tip for tip, _ in links) == sorted(tip for tip, _ in links_before)
    assert sorted(str(Keyring(NEW_SECRET.encode()).unseal(ref)[1]) for _, ref in links) == chats
    for _, ref in links:
        with pytest.raises(InvalidTag):
            Keyring(SECRET.encode()).unseal(ref)
    new_keys = Keyring(NEW_SECRET.encode())
    async with world.read() as uow:
        reading = await uow.subscribers.by_key(new_keys.outreach_key("telegram", 7001))
        assert reading is not None and reading.active and reading.sealed_ref is not None
        assert new_keys.unseal(reading.sealed_ref) == ("telegram", 7001)
        assert await uow.subscribers.by_key(old_keys.outreach_key("telegram", 7001)) is None
        # the one who stopped is found under neither secret: nothing keyed by the retired one is left
        for keys in (old_keys, new_keys):
            assert await uow.subscribers.by_key(keys.outreach_key("telegram", 7002)) is None
        assert [s.active for s in await uow.subscribers.all()] == [True, False]

    # The log spans the rotation: whole under the new secret, and with the old one its earlier MACs are checked.
    monkeypatch.delenv("TIPLINE_OLD_SECRET_KEY")
    assert await asyncio.to_thread(cli_main, ["audit", "verify"]) == 0
    assert "TIPLINE_OLD_SECRET_KEYS" in capsys.readouterr().out  # says what it could not check
    monkeypatch.setenv("TIPLINE_OLD_SECRET_KEYS", SECRET)
    assert await asyncio.to_thread(cli_main, ["audit", "verify"]) == 0
    out = capsys.readouterr().out
    assert "intact" in out and "TIPLINE_OLD_SECRET_KEYS" not in out
    monkeypatch.setenv("TIPLINE_OLD_SECRET_KEYS", "Another-wrong-secret-7yH2kD9sF4gJ1wQ5")
    assert await asyncio.to_thread(cli_main, ["audit", "verify"]) == 1, "the old MACs are really checked"
    capsys.readouterr()

    # The bot starts with the new secret, and no longer with the old one.
    code, err = await run_bot(bot_env(api, db, TIPLINE_SECRET_KEY=SECRET))
    assert code == 2 and "TIPLINE_SECRET_KEY" in err
    monkeypatch.delenv("TIPLINE_OLD_SECRET_KEYS")
    assert await asyncio.to_thread(cli_main, ["migrate"]) == 0


async def test_confirming_a_tip_writes_nothing_new_next_to_a_pseudonym(api: FakeBotApi, world: World) -> None:
    """Without the secret, the order in which rows keyed by pseudonyms were written (SQLite's rowids), held
    against the order of the tips, tells which chat sent which tip, and links a chat's tips over time; with
    the secret, such a row says outright which chats confirmed tips that day. Only the chat's own session
    (written in the hour) may change when a tip is confirmed."""
    lan, minh = world.citizen("Lan"), world.citizen("Minh")
    await fill_report(minh, "Có nhóm người lạ hút bóng cười ở bãi đất trống gần bờ sông mỗi tối")
    await fill_report(lan)
    names = [pseudonym(world, p) for p in (lan, minh)]

    async def keyed_rows() -> list[tuple[Any, ...]]:
        # Where each row sits too (SQLite's rowid, PostgreSQL's ctid): the order rows were written in is what
        # gives them away.
        records = await world.bot.records(positions=True)
        return [
            (table, *row.values()) for table, rows in records.items() if table != "sessions" for row in rows
            if any(isinstance(v, str) and any(n in v for n in names) for v in row.values())
        ]

    before = await keyed_rows()
    for person in (lan, minh):
        assert "TL-" in texts(await person.press("confirm"))
    assert await keyed_rows() == before
