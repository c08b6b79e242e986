"""Several worker processes on one PostgreSQL database (runs with TIPLINE_TEST_POSTGRES only).

The workers run as deployed (``bench/scale.py``'s ``WebCluster``): K ``python -m bot`` processes in webhook mode
sharing one port (SO_REUSEPORT) with TIPLINE_BACKGROUND=0, and ``tipline-worker`` processes for the outbox.
Telegram is the local Bot API server, and a pump posts every update to the port as Telegram would.

- 200 citizens at once over two and over four web workers: one receipt each, 200 tips, every update taken in
  once, every moderators' card delivered once, every web worker did part of the work.
- A chat's rapid messages posted at once land on different workers and are never handled at once: none is
  lost (two workers handling one chat at once would each save the draft without the other's part).
- 20,000 outbox items delivered by four tipline-workers, one of them SIGKILLed mid-way: none lost, none sent
  twice but the one the killed worker was sending, and the items it held are taken over once its lease ran out.
- A campaign to 20,000 subscribers delivered by three tipline-workers, one of them SIGKILLed mid-way: nobody
  gets it twice, and nobody misses it but the sends the killed worker had in flight (counted unknown).
"""

from __future__ import annotations

import asyncio
import collections
import importlib.util
import signal
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from backends import database_url_for, ensure_database, open_test_storage, postgres_only, raw_connection
from botapi import FakeBotApi, SimGroup, SimUser

from tipline.delivery.model import Audience, Kind, NewItem
from tipline.outreach.model import CampaignStatus
from tipline.privacy.keys import Keyring

pytestmark = postgres_only
ROOT = Path(__file__).resolve().parents[1]


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"bench_{name}", ROOT / "bench" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


scale = _load("scale")
broadcast = _load("broadcast")
compare = sys.modules["compare"]


@pytest.fixture
async def database(tmp_path: Path) -> Any:
    path = tmp_path / "tipline.sqlite3"
    url = database_url_for(path)
    await ensure_database(url)
    return scale.Database("postgresql", path, url)


async def until(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not await predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout:.0f} s")
        await asyncio.sleep(0.2)


async def outbox_empty(path: Path) -> bool:
    storage = await open_test_storage(path)
    try:
        async with storage.read() as uow:
            return (await uow.outbox.tally()).waiting == 0
    finally:
        await storage.close()


def cards_per_code(group: SimGroup) -> collections.Counter[str]:
    """Moderators' cards in the group, by their tip's code (a card is a message with buttons that starts with
    it; possible duplicates it lists come later in its text)."""
    found: collections.Counter[str] = collections.Counter()
    for message in group.chat.sent_log:
        code = compare.RECEIPT.search(message.get("text") or "")
        if message.get("reply_markup") and code:
            found[code.group(0)] += 1
    return found


@pytest.mark.parametrize("workers", [2, 4])
async def test_200_citizens_at_once_over_several_web_workers(
    api: FakeBotApi, database: Any, tmp_path: Path, workers: int
) -> None:
    group = api.group(chat_id=scale.MODERATORS, title="Moderators")
    cluster = scale.WebCluster(api, database, workers, tmp_path)
    try:
        await cluster.start()
        cpu0 = [p.cpu() for p in cluster.web]
        async with scale.Pump(api, cluster.url) as pump:
            load = await scale.run_load(api, cluster, 200, pump)
            await pump.settle()
        assert load.failures == []
        assert len(load.walks) == 200 and len(set(load.receipts)) == 200
        assert pump.statuses == {200: pump.posted} and pump.retries == 0, pump.statuses
        shares = [p.cpu() - before for p, before in zip(cluster.web, cpu0, strict=True)]
        assert all(share > 0.5 for share in shares), f"CPU seconds per web worker: {shares}"
        await until(lambda: outbox_empty(database.path), 120, "the tipline-worker delivers the cards")
    finally:
        problems = await cluster.stop()
    assert problems == []
    storage = await open_test_storage(database.path)
    try:
        async with storage.read() as uow:
            assert await uow.tips.count() == 200
            assert await uow.webhook_updates.count() == pump.posted, "every update taken in once"
            tally = await uow.outbox.tally(Kind.CARD)
            assert (tally.waiting, tally.failed) == (0, 0) and tally.delivered >= 200
    finally:
        await storage.close()
    cards = cards_per_code(group)
    assert set(cards) == set(load.receipts) and set(cards.values()) == {1}, "one card per tip, none twice"
    api.assert_no_refusals()


async def press(user: SimUser, suffix: str, timeout: float = 60) -> None:
    """Presses the button whose callback data ends with ``suffix`` on the latest message with buttons, and waits
    for the bot's answer: a new message with buttons, or the pressed question edited into the next one."""
    chat = user.chat
    board = next(
        current for m in reversed(chat.sent_log) if compare.buttons_of(current := chat.messages.get(m["message_id"], m))
    )
    [data] = [d for _, d in compare.buttons_of(board) if d.endswith(suffix)]
    mark, edits, before = len(chat.sent_log), len(chat.edit_log), board.get("text")

    def answered() -> bool:
        if any(compare.buttons_of(m) for m in chat.sent_log[mark:]):
            return True
        current = chat.messages.get(board["message_id"])
        return len(chat.edit_log) > edits and current is not None and current.get("text") != before and bool(
            compare.buttons_of(current)
        )

    await user.press(board["message_id"], data)
    await user.api.changes.until(answered, timeout)
    assert answered(), f"no answer to {suffix}"


async def test_a_chats_messages_on_several_workers_are_never_handled_at_once(
    api: FakeBotApi, database: Any, tmp_path: Path
) -> None:
    """40 citizens each type five parts of their description at once (the parts are posted together, over the
    pump's connections, to four workers). A draft saved by two workers handling one chat at once would lose a
    part; each part is also answered once."""
    api.group(chat_id=scale.MODERATORS, title="Moderators")
    cluster = scale.WebCluster(api, database, 4, tmp_path)
    flow = compare.TIPLINE_FLOW
    to_description = compare.Flow(flow.name, flow.answer, flow.variants, flow.steps[:8])  # ... address: asks for it
    users = [api.user(first_name=f"Dân {i}", language_code="vi") for i in range(40)]
    parts = [[f"Phần {j} của tin {i}: có người lạ giao hàng ở hẻm {i}." for j in range(1, 6)] for i in range(40)]
    try:
        await cluster.start()
        async with scale.Pump(api, cluster.url) as pump:
            watcher = compare.Watcher(api)
            watching = asyncio.create_task(watcher.run())
            try:
                await asyncio.gather(*(compare.walk(to_description, i, u, watcher) for i, u in enumerate(users)))
            finally:
                watching.cancel()
            marks = [len(u.chat.sent_log) for u in users]
            for user, texts in zip(users, parts, strict=True):
                for text in texts:
                    await user.send(text)
            await api.changes.until(
                lambda: all(len(u.chat.sent_log) - m >= 5 for u, m in zip(users, marks, strict=True)), 60
            )
            await asyncio.sleep(0.5)  # time for an answer too many to show
            answered = [len(u.chat.sent_log) - m for u, m in zip(users, marks, strict=True)]
            assert answered == [5] * len(users), "each part answered once"
            for user in users:
                await press(user, "next")  # done with the description
                await press(user, "next")  # no evidence
                await press(user, "confirm")
            await pump.settle()
    finally:
        problems = await cluster.stop()
    assert problems == []
    receipts = [compare.RECEIPT.findall(" ".join(m.get("text") or "" for m in u.chat.messages.values())) for u in users]
    assert all(len(set(r)) == 1 for r in receipts)
    storage = await open_test_storage(database.path)
    try:
        async with storage.read() as uow:
            for (code,), texts in zip((set(r) for r in receipts), parts, strict=True):
                tip = await uow.tips.by_code(code)
                assert tip is not None
                kept = [text for text in texts if text in tip.description]
                assert kept == texts, f"{code}: parts lost: {set(texts) - set(kept)}"
    finally:
        await storage.close()
    api.assert_no_refusals()


async def test_20000_outbox_items_over_four_workers_one_killed_mid_way(
    api: FakeBotApi, database: Any, tmp_path: Path
) -> None:
    group = api.group(chat_id=scale.MODERATORS, title="Moderators")
    n, lease = 20_000, 5.0
    storage = await open_test_storage(database.path)
    try:
        for start in range(0, n, 2000):
            async with storage.uow() as uow:
                for k in range(start, start + 2000):
                    item = NewItem(Kind.STAFF_TEXT, Audience.MODERATORS, payload={"text": f"mục {k}"})
                    await uow.outbox.add(item, datetime.now(UTC))
    finally:
        await storage.close()
    cluster = scale.WebCluster(api, database, 0, tmp_path, TIPLINE_OUTBOX_LEASE_SECONDS=str(lease))
    try:
        workers = [await cluster.start_background() for _ in range(4)]
        await api.changes.until(lambda: len(group.chat.sent_log) >= n // 4, 120)
        victim = workers[0]
        victim.process.send_signal(signal.SIGKILL)
        await victim.process.wait()
        killed_at = time.monotonic()
        async with raw_connection(database.path) as raw:  # what the killed worker held (its leases)
            held = {r["id"]: r["lease_until"] for r in await raw.fetchall(
                "SELECT id, lease_until FROM outbox WHERE lease_owner LIKE ? AND delivered_at IS NULL",
                f"%:{victim.process.pid}:%",
            )}
        assert held, "the killed worker held items"
        await until(lambda: outbox_empty(database.path), 300, "the other workers deliver everything")
        assert time.monotonic() - killed_at < 300
    finally:
        problems = await cluster.stop()
    assert problems == []
    texts = collections.Counter(m.get("text") for m in group.chat.sent_log)
    assert set(texts) == {f"mục {k}" for k in range(n)}, "no item lost"
    twice = [text for text, count in texts.items() if count > 1]
    assert len(twice) <= 1 and all(count <= 2 for count in texts.values()), f"sent twice: {twice[:5]}"
    async with raw_connection(database.path) as raw:
        rows = await raw.fetchall("SELECT id, delivered_at FROM outbox WHERE id = ANY(?::bigint[])", list(held))
        totals = await raw.fetchone(
            "SELECT COUNT(*) FILTER (WHERE delivered_at IS NOT NULL) AS delivered, "
            "COUNT(*) FILTER (WHERE failed_at IS NOT NULL) AS failed FROM outbox"
        )
    assert totals == {"delivered": n, "failed": 0}
    assert len(rows) == len(held), "what the killed worker held was delivered by the others ..."
    assert all(r["delivered_at"] >= held[r["id"]] for r in rows), "... once its lease had run out"
    api.assert_no_refusals()



async def approved_campaign(api: FakeBotApi, database: Any, n: int) -> tuple[list[SimUser], int]:
    """N subscribers and one approved campaign, as ``bench/broadcast.py`` prepares them."""
    people = [api.user(started=True) for _ in range(n)]
    author, approver = api.user(first_name="Tác giả", started=True), api.user(first_name="Người duyệt", started=True)
    storage = await open_test_storage(database.path)
    try:
        return people, await broadcast.prepare(storage, scale.SECRET, people, author, approver)
    finally:
        await storage.close()


async def campaign_done(database: Any, campaign_id: int) -> bool:
    storage = await open_test_storage(database.path)
    try:
        async with storage.read() as uow:
            campaign = await uow.campaigns.get(campaign_id)
        return campaign is not None and campaign.status == CampaignStatus.DONE
    finally:
        await storage.close()


async def test_a_campaign_to_20000_subscribers_over_three_workers_one_killed_mid_way(
    api: FakeBotApi, database: Any, tmp_path: Path
) -> None:
    """Campaign delivery claims recipients with SKIP LOCKED: three tipline-workers share one campaign; one is
    SIGKILLed mid-way; the others finish it. Nobody gets it twice, and whoever did not get it is a send the
    killed worker had in flight (counted unknown once its lease ran out, never sent again)."""
    n, lease = 20_000, 10  # the shortest lease the settings allow
    people, campaign_id = await approved_campaign(api, database, n)
    keyring = Keyring(scale.SECRET.encode())

    subscribers = {str(p.id) for p in people}

    def delivered() -> collections.Counter[str]:
        sent = (str(chat) for _t, method, chat in api.send_log if method == "sendMessage")
        return collections.Counter(chat for chat in sent if chat in subscribers)

    cluster = scale.WebCluster(
        api, database, 0, tmp_path, TIPLINE_BROADCAST_RATE="1000", TIPLINE_QUIET_HOURS="00:00-00:00",
        TIPLINE_BROADCAST_LEASE=str(lease),
    )
    try:
        workers = [await cluster.start_background() for _ in range(3)]
        await api.changes.until(lambda: sum(delivered().values()) >= n // 4, 180)
        victim = workers[0]
        victim.process.send_signal(signal.SIGKILL)
        await victim.process.wait()
        await until(lambda: campaign_done(database, campaign_id), 300, "the other workers finish the campaign")
    finally:
        problems = await cluster.stop()
    assert problems == []
    got = delivered()
    assert max(got.values()) == 1, f"sent twice: {[chat for chat, count in got.items() if count > 1][:5]}"
    chats = {keyring.outreach_key("telegram", p.id): str(p.id) for p in people}
    async with raw_connection(database.path) as raw:
        rows = await raw.fetchall(
            "SELECT r.state, s.chat_key FROM outreach_recipients r JOIN outreach_subscribers s ON s.id = r.subscriber_id"
        )
    states = collections.Counter(row["state"] for row in rows)
    assert len(rows) == n and set(states) <= {"sent", "unknown"}, states
    for row in rows:
        received = got.get(chats[row["chat_key"]], 0)
        assert row["state"] == "unknown" or received == 1, row  # 'sent' means it is at the server
    missing = [p.id for p in people if str(p.id) not in got]
    unknown = states.get("unknown", 0)
    # at most what one worker had leased: its sends in flight and the batches claimed behind them
    assert len(missing) <= unknown <= 300, (len(missing), unknown)
    api.assert_no_refusals()



async def test_workers_delivering_one_campaign_keep_together_to_the_one_global_rate(database: Any, tmp_path: Path) -> None:
    """Two workers share one budget kept in the database: together they send at the channel's limit, not at
    twice it (which would draw 429s from Telegram and slow every reply)."""
    n, rate = 1_500, 50
    async with FakeBotApi(global_limit=rate) as api:
        people, campaign_id = await approved_campaign(api, database, n)
        subscribers = {str(p.id) for p in people}
        cluster = scale.WebCluster(
            api, database, 0, tmp_path, TIPLINE_BROADCAST_RATE=str(rate), TIPLINE_QUIET_HOURS="00:00-00:00",
        )
        try:
            for _ in range(2):
                await cluster.start_background()
            await until(lambda: campaign_done(database, campaign_id), 120, "the campaign is delivered")
        finally:
            problems = await cluster.stop()
        assert problems == []
        times = [t for t, method, chat in api.send_log if method == "sendMessage" and str(chat) in subscribers]
        assert len(times) == n == len(set(str(chat) for _t, _m, chat in api.send_log if str(chat) in subscribers))
        refused = [r for r in api.requests if r.status == 429 and str(r.arg("chat_id")) in subscribers]
        assert refused == [], f"{len(refused)} campaign messages over the limit"
        achieved = (len(times) - 1) / (times[-1] - times[0])
        assert 0.8 * rate <= achieved <= rate * 1.01, achieved  # together at the limit: not half, not twice
