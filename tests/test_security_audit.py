"""Threat: a record that can be quietly shortened, and reading that leaves no trace.

Who attacks: someone with the database (the SQLite file, or the PostgreSQL database's password), maybe with
the server secret, who deletes the newest audit entries, say the ones showing who looked at or changed a tip,
and fixes up the counter of ids given (SQLite's sqlite_sequence, PostgreSQL's audit_head) so the cut does not
show; and staff who browse tips they have no business with, since only changes used to be recorded.

What must hold: with TIPLINE_AUDIT_ANCHOR_FILE set, the log's head (count and hash) is written outside the
database (on request, daily and at shutdown, also posted to the moderators' group), and `tipline audit
verify` checks the latest anchor, so cutting entries it counted fails verification. Staff reads of tips
(/tip, /find) are audited, one row per person and tip (or search) every 10 minutes with a count of the
reads it stands for, and they never show on a card as the tip's last action.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from backends import raw_connection, use_database
from botapi import FakeBotApi
from harness import SECRET
from security_world import World, last_action, staff_world, submit, vi

from tipline.cli import main as cli_main


@pytest.fixture
def anchors(tmp_path: Path) -> Path:
    return tmp_path / "outside" / "audit-anchors.txt"


@pytest.fixture
async def world(
    api: FakeBotApi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, anchors: Path
) -> AsyncIterator[World]:
    async with staff_world(api, tmp_path, monkeypatch, tipline_audit_anchor_file=anchors) as w:
        yield w


async def cut_tail(db: Path, entries: int) -> None:
    """What an attacker with the database does: drop the guards, delete the newest entries, hide the gap."""
    async with raw_connection(db) as conn:
        await conn.drop_audit_guards()
        top = (await conn.fetchone("SELECT MAX(id) AS top FROM audit_log") or {})["top"]
        await conn.execute("DELETE FROM audit_log WHERE id > ?", top - entries)
        await conn.set_audit_counter(top - entries)


async def verify(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], anchor_file: Path | None) -> tuple[int, str]:
    if anchor_file is None:
        monkeypatch.delenv("TIPLINE_AUDIT_ANCHOR_FILE", raising=False)
    else:
        monkeypatch.setenv("TIPLINE_AUDIT_ANCHOR_FILE", str(anchor_file))
    code = await asyncio.to_thread(cli_main, ["audit", "verify"])
    return code, capsys.readouterr().out


async def test_cutting_anchored_entries_off_the_end_fails_verification(
    api: FakeBotApi, world: World, anchors: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _ = await submit(world.citizen("Lan"))
    for action in ("claim", "raise", "lower"):
        await world.press(world.group, world.mai, await world.card(code), action)
    anchor = await world.core.anchor_audit()  # what the daily job does
    assert anchor.count == len(await world.audit()) and anchors.read_text().split()[1:] == [str(anchor.count), anchor.head_hash]
    await world.settle()
    assert any(anchor.head_hash in (m.get("text") or "") for m in world.group.inbox), "posted to the moderators too"
    await world.press(world.group, world.mai, await world.card(code), "unfounded")
    await world.bot.stop()  # and at shutdown
    lines = anchors.read_text().splitlines()
    assert len(lines) == 2 and int(lines[-1].split()[1]) == len(await world.audit())

    use_database(monkeypatch, world.bot.db_path)
    monkeypatch.setenv("TIPLINE_SECRET_KEY", SECRET)
    assert (await verify(monkeypatch, capsys, anchors))[0] == 0

    await cut_tail(world.bot.db_path, 2)  # the close and the last priority change are gone
    assert [r.action for r in await world.audit()][-1] == "raise"
    # Without the anchor the cut passes unnoticed, even with the secret: that is why anchors exist ...
    assert (await verify(monkeypatch, capsys, None))[0] == 0
    # ... and against the anchor it fails.
    status, out = await verify(monkeypatch, capsys, anchors)
    assert status == 1 and "NOT intact" in out and "anchor" in out, out


async def test_staff_reads_are_audited_once_per_person_and_tip_every_ten_minutes(api: FakeBotApi, world: World) -> None:
    first, _ = await submit(world.citizen("Lan"))
    second, _ = await submit(world.citizen("Minh"), "Một người bán thuốc lắc cho học sinh ở cổng trường mỗi chiều")
    await world.card(second)
    for _ in range(3):
        await world.say(world.group, world.mai, f"/tip {first}")
        world.clock.advance(minutes=1)
    shown = world.group.last
    assert shown is not None and first in shown["text"]
    marker = last_action("claimed", "\x00").split(vi("claimed"))[0]  # the line's opening words
    assert marker and marker not in shown["text"], "a read is never shown as the tip's last action"
    await world.mai.send("/start")
    await world.mai.send(f"/tip {first}")  # privately: the same person, the same tip
    await world.say(world.group, world.binh, f"/tip {first}")
    await world.say(world.group, world.mai, f"/tip {second}")
    for words in ("ma tuy", "thuoc lac"):
        await world.say(world.group, world.mai, f"/find {words}")

    async def reads() -> list[tuple[str, str | None, str, str]]:
        return [(r.actor_id, r.tip_code, r.action, r.detail) for r in await world.audit() if r.action in ("viewed", "searched")]

    mai = await world.staff_id(world.mai)
    binh = await world.staff_id(world.binh)
    expected = [
        (mai, first, "viewed", ""), (binh, first, "viewed", ""), (mai, second, "viewed", ""), (mai, None, "searched", ""),
    ]
    assert sorted(await reads(), key=str) == sorted(expected, key=str)
    assert all(r.actor_role == "moderator" for r in await world.audit() if r.action in ("viewed", "searched"))

    world.clock.advance(minutes=10)
    await world.say(world.group, world.mai, f"/tip {first}")
    assert (await reads())[-1] == (mai, first, "viewed", "and 3 more since the last entry")
