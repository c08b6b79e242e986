"""`tipline db copy --from sqlite:PATH --to postgresql://...`: a SQLite deployment moves to PostgreSQL without
losing a tip, an audit entry or a pending outbox item, `tipline audit verify` passes on the copy, and the bot
carries on there (the pending item goes out). Runs with TIPLINE_TEST_POSTGRES only."""

from __future__ import annotations

import asyncio
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
from backends import database_url_for, ensure_database, postgres_only, use_database
from botapi import FakeBotApi
from harness import SECRET, RunningBot
from security_world import MODERATORS, staff_world, submit
from test_programme import known_outreach

from tipline.cli import main as cli_main
from tipline.delivery.model import Audience, Kind, NewItem
from tipline.outreach.model import AudienceFilter, Preferences, RecipientState
from tipline.records.audit import AuditLog
from tipline.storage.ports import Storage
from tipline.storage.postgres.store import PgStorage
from tipline.storage.sqlite.store import SqliteStorage

pytestmark = postgres_only
PENDING = "📌 Một dòng cho nhóm điều phối, còn chờ gửi khi bot dừng"


async def everything(storage: Storage, codes: list[str]) -> dict[str, Any]:
    """What must survive the move, read through the repositories."""
    async with storage.read() as uow:
        tips = [await uow.tips.by_code(code) for code in codes]
        return {
            "tips": tips,
            "count": await uow.tips.count(),
            "followups": [await uow.tips.followups(tip.id) for tip in tips if tip],
            "messages": [await uow.messages.for_tip(tip.id) for tip in tips if tip],
            "subscriptions": await uow.subscriptions.all(),
            "audit": await uow.audit.all(),
            "outbox": await uow.outbox.tally(),
            "outbox_staff": await uow.outbox.tally(Kind.STAFF_TEXT),
            "sessions": await uow.sessions.count(),
            "units": await uow.units.all(),
            "staff": await uow.staff.roles("telegram", "5550002"),
            "webhook_keys": await uow.webhook_updates.count(),
            "fingerprint": await uow.meta.get("secret_fingerprint"),
            "subscribers": [await uow.subscribers.by_key(f"k{n}") for n in range(3)],
            "subscriber_events": await uow.subscribers.events(1),
            "audience": await uow.subscribers.count(AudienceFilter()),
            "campaign": await uow.campaigns.get(1),
            "deliveries": [await uow.campaigns.counts(1, run) for run in (1, 2)],
            "tallies": await uow.campaigns.tallies(1),
        }


def instants(value: Any) -> Any:
    """Times as instants (SQLite gives them in the offset they were written with, PostgreSQL in UTC)."""
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, list | tuple):
        return type(value)(instants(v) for v in value)
    if hasattr(value, "__dataclass_fields__"):
        return tuple(instants(getattr(value, name)) for name in value.__dataclass_fields__)
    return value


async def test_a_sqlite_deployment_moves_to_postgresql_whole(
    api: FakeBotApi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "tipline.sqlite3"
    async with staff_world(api, tmp_path, monkeypatch, tipline_database_url=None) as world:  # on the SQLite file
        assert isinstance(world.core.storage, SqliteStorage)
        lan, hoa = world.citizen("Lan"), world.citizen("Hoa")
        first, _ = await submit(lan, optin=True)
        second, _ = await submit(hoa, "Nhóm người lạ hút bóng cười ở bãi đất trống gần bờ sông mỗi tối", optin=False)
        await world.press(world.group, world.mai, await world.card(first), "claim")
        await world.press(world.group, world.mai, await world.card(first), "ask")
        await world.answer_prompt(world.group, world.mai, "Người bán đi xe gì?")
        await lan.user.wait_for(1)
        await lan.send(lan.user.send("Xe Wave màu đỏ", reply_to=lan.user.inbox[-1]))
        await world.press(world.group, world.mai, await world.card(second), "spam")
        await world.settle()
    # The bot stopped with a line still waiting in its outbox.
    sqlite = await SqliteStorage.open(source)
    try:
        async with sqlite.uow() as uow:
            await uow.outbox.add(NewItem(Kind.STAFF_TEXT, Audience.MODERATORS, payload={"text": PENDING}), world.clock())
        await known_outreach(sqlite)  # subscribers, a poll delivered twice and its tallies
        before = await everything(sqlite, [first, second])
    finally:
        await sqlite.close()
    assert before["outbox"].waiting == 1 and before["subscriptions"] and len(before["audit"]) >= 4
    assert all(before["subscribers"]) and before["tallies"] and before["deliveries"][1].count(RecipientState.SENT) == 3

    target = tmp_path / "copy.sqlite3"  # names the PostgreSQL database of the copy
    url = database_url_for(target)
    assert url is not None
    await ensure_database(url)
    assert await asyncio.to_thread(cli_main, ["db", "copy", "--from", f"sqlite:{source}", "--to", url]) == 0
    assert "copied" in capsys.readouterr().out
    copy = await PgStorage.open(url, max_size=4)
    try:
        after = await everything(copy, [first, second])
        assert (await AuditLog(SECRET.encode()).verify(copy)).ok
    finally:
        await copy.close()
    for key in before:
        assert instants(after[key]) == instants(before[key]), key
    assert [r.at_text for r in after["audit"]] == [r.at_text for r in before["audit"]], "the hashed text of each time"

    # The command the copy's line names, on the copy; a second copy into it is refused, nothing written.
    use_database(monkeypatch, target)
    monkeypatch.setenv("TIPLINE_SECRET_KEY", SECRET)
    assert await asyncio.to_thread(cli_main, ["audit", "verify"]) == 0
    assert "intact" in capsys.readouterr().out
    assert await asyncio.to_thread(cli_main, ["db", "copy", "--from", f"sqlite:{source}", "--to", url]) == 1
    assert "not empty" in capsys.readouterr().err

    # The bot carries on on PostgreSQL: the pending line goes out, new tips get new ids and codes.
    group_heard = len(world.group.inbox)
    moved = RunningBot(api, target, world.clock, tipline_moderator_chat_id=MODERATORS, tipline_admin_ids="5550001")
    await moved.start()
    try:
        await moved.deliver()
        assert [m["text"] for m in world.group.inbox[group_heard:] if m.get("text") == PENDING] == [PENDING]
        async with moved.read() as uow:
            assert (await uow.outbox.tally()).waiting == 0
            tip = await uow.tips.by_code(first)
            assert tip is not None and tip.claimed_by is not None
        async with moved.storage() as storage, storage.uow() as uow:  # a new subscriber: the next id
            await uow.subscribers.subscribe("k-new", "telegram", b"x", Preferences(92, None, "general", "vi"), date(2026, 12, 2))
            new = await uow.subscribers.by_key("k-new")
        assert new is not None and new.id == 4
    finally:
        await moved.stop()
    assert moved.errors == []
