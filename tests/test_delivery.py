"""The campaign sender, end to end through the local Bot API server: audience filters, languages, buttons,
blocked chats, 429, pause / resume / cancel, quiet hours, the weekly cap, a monthly schedule on a controllable
clock, resuming after a crash without sending anyone anything twice, polls, and citizens never waiting."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from backends import table_columns
from botapi import FakeBotApi, SimUser
from harness import FakeClock, RunningBot, texts

import bot.telegram.channel as telegram_channel
from tipline.bootstrap import Core
from tipline.delivery.pacing import Pace
from tipline.outreach.campaigns import Broadcaster
from tipline.outreach.model import (
    AudienceFilter,
    ButtonKind,
    CampaignButton,
    CampaignKind,
    CampaignStatus,
    Content,
    NewCampaign,
    Preferences,
    Schedule,
    Subscriber,
)

NOW = datetime(2026, 11, 26, 3, 0, tzinfo=UTC)  # 10:00 in Vietnam
AUTHOR_ID, APPROVER_ID = 5550010, 5550011
AUTHOR = Broadcaster("telegram", str(AUTHOR_ID), "Tác giả", 1)
APPROVER = Broadcaster("telegram", str(APPROVER_ID), "Người duyệt", 2)
CAN_THO, NINH_KIEU, CAI_RANG = 92, 31135, 31186
HANOI = 1

TEXT = Content(
    text={"vi": "Cảnh giác với “nước vui” pha sẵn trong đồ uống.", "en": "Beware of 'happy water' mixed into drinks."},
    buttons=(CampaignButton(ButtonKind.READ_MORE, "disguised-happy-water"), CampaignButton(ButtonKind.REPORT),
             CampaignButton(ButtonKind.STOP)),
)


@dataclass
class World:
    api: FakeBotApi
    bot: RunningBot
    author: SimUser
    subscriber_ids: dict[int, int] = field(default_factory=dict)

    @property
    def core(self) -> Core:
        assert self.bot.core is not None
        return self.bot.core

    async def people(self, n: int, prefs: Preferences) -> list[SimUser]:
        found = []
        for _ in range(n):
            user = self.api.user(started=True)
            await self.core.citizens.outreach.subscribe("telegram", user.id, prefs)
            found.append(user)
            await self.subscriber(user)  # its id, for reading the row after it stopped
        return found

    async def campaign(self, content: Content = TEXT, audience: AudienceFilter | None = None,
                       kind: CampaignKind = CampaignKind.MESSAGE, schedule: Schedule | None = None) -> int:
        new = NewCampaign(kind, "Nước vui", content, audience or AudienceFilter(), schedule or Schedule())
        campaign_id = await self.core.campaigns.create(AUTHOR, new, submit=True)
        await self.core.campaigns.approve(APPROVER, campaign_id)
        return campaign_id

    async def deliver(self, max_batches: int | None = None) -> None:
        await self.core.sender.step(max_batches)
        await self.bot.settle()

    async def states(self, campaign_id: int) -> dict[str, int]:
        """How many of the campaign's recipients (of all its deliveries) are in each state."""
        found: dict[str, int] = {}
        async with self.bot.read() as uow:
            campaign = await uow.campaigns.get(campaign_id)
            assert campaign is not None
            for run in range(1, campaign.runs + 1):
                for state, count in (await uow.campaigns.counts(campaign_id, run)).by_state.items():
                    found[state] = found.get(state, 0) + count
        return found

    async def subscriber(self, user: SimUser) -> Subscriber:
        """The person's subscription: found by the chat's keyed hash while active; once stopped that hash is
        gone (nothing left names the chat), and the row is read by the id it had."""
        async with self.bot.read() as uow:
            found = await uow.subscribers.by_key(self.core.keyring.outreach_key("telegram", user.id))
            if found is None:
                found = await uow.subscribers.by_id(self.subscriber_ids[user.id])
                assert found is not None and not found.active
            self.subscriber_ids[user.id] = found.id
        return found


def campaign_messages(user: SimUser) -> list[dict[str, Any]]:
    """The campaign messages a person got (each ends with how to stop them)."""
    return [m for m in user.inbox if "“dừng”" in (m.get("text") or m.get("caption") or "")]


@pytest.fixture
async def world(api: FakeBotApi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[World]:
    monkeypatch.setattr(telegram_channel, "RETRY_BASE_DELAY", 0.01)
    author = api.user(user_id=AUTHOR_ID, first_name="Tác giả", started=True)
    api.user(user_id=APPROVER_ID, first_name="Người duyệt", started=True)
    bot = RunningBot(api, tmp_path / "tipline.sqlite3", FakeClock(NOW), tipline_broadcast_rate=200)
    await bot.start()
    assert bot.app is not None
    bot.app.bot_data["tasks"][0].cancel()  # the background loops: these tests deliver step by step
    world = World(api, bot, author)
    yield world
    await world.bot.stop()  # the bot running now (a test may have restarted it)
    api.assert_no_refusals()
    assert bot.errors == [] and world.bot.errors == []


async def test_a_campaign_reaches_its_audience_once_in_their_language(world: World) -> None:
    pupils_vi = await world.people(3, Preferences(CAN_THO, NINH_KIEU, "pupil", "vi"))
    pupil_en = await world.people(1, Preferences(CAN_THO, CAI_RANG, "pupil", "en"))
    parents = await world.people(2, Preferences(CAN_THO, NINH_KIEU, "parent", "vi"))
    hanoi = await world.people(2, Preferences(HANOI, None, "pupil", "vi"))
    campaign_id = await world.campaign(audience=AudienceFilter(provinces=(CAN_THO,), audiences=("pupil",)))
    await world.deliver()

    for user in pupils_vi:
        [received] = campaign_messages(user)
        assert received["text"].startswith("Cảnh giác với “nước vui”")
        labels = [b["text"] for row in received["reply_markup"]["inline_keyboard"] for b in row]
        assert labels[0].startswith("📖 Đọc thêm") and "📝 Báo tin" in labels and "🛑 Ngừng nhận tin" in labels
    [english] = campaign_messages(pupil_en[0])
    assert english["text"].startswith("Beware of 'happy water'")
    for user in parents + hanoi:
        assert campaign_messages(user) == []
    assert await world.states(campaign_id) == {"sent": 4}
    assert (await world.core.campaigns.get(campaign_id)).status == CampaignStatus.DONE

    # the author: one progress message, edited, then the report and its chart
    author_messages = world.author.inbox
    assert author_messages[0]["text"].startswith("Chiến dịch #1 · 4 / 4 · 100%")
    report = next(m for m in author_messages if "đợt gửi 1 đã xong" in (m.get("text") or ""))
    assert "• đã gửi tới: 4" in report["text"] and "Thành phố Cần Thơ: 4 / 4" in report["text"]
    chart = author_messages[-1]
    assert "photo" in chart

    # the read-more button opens the library entry for the subscriber
    reader = pupils_vi[0]
    await reader.press(campaign_messages(reader)[0], "2m|lib:e:disguised-happy-water")
    await world.bot.settle()
    entry, source = await reader.wait_for(2)
    assert entry["text"].startswith("“Nước vui” là gì?") and source["text"].startswith("Nguồn:")


async def test_a_chat_that_blocked_the_bot_is_stopped_on_the_first_refusal(world: World) -> None:
    people = await world.people(3, Preferences(CAN_THO, None, "general", "vi"))
    people[1].record.blocked = True  # blocked without the bot hearing of it (no my_chat_member update)
    campaign_id = await world.campaign()
    await world.deliver()
    assert await world.states(campaign_id) == {"sent": 2, "blocked": 1}
    subscribers = [await world.subscriber(user) for user in people]
    assert [(s.active, s.sealed_ref is None) for s in subscribers] == [(True, False), (False, True), (True, False)]
    async with world.bot.read() as uow:
        events = [e.event for s in subscribers for e in await uow.subscribers.events(s.id)]
    assert events.count("blocked") == 1
    # the next campaign does not even try
    again = await world.campaign()
    await world.deliver()
    assert await world.states(again) == {"sent": 2}
    # The one 403 was the point of this test (Telegram's answer to a blocked bot), not a wrong request.
    [forbidden] = [r for r in world.api.requests if r.status == 403]
    world.api.requests.remove(forbidden)


async def test_429_pauses_all_sending_and_nobody_gets_a_message_twice(world: World) -> None:
    people = await world.people(6, Preferences(CAN_THO, None, "general", "vi"))
    world.api.fail_next("sendMessage", count=2, status=429, retry_after=1)
    campaign_id = await world.campaign()
    await world.deliver()
    assert await world.states(campaign_id) == {"sent": 6}
    assert all(len(campaign_messages(user)) == 1 for user in people)
    refused = [r for r in world.api.requests if r.status == 429]
    assert len(refused) == 2


async def test_pause_resume_and_cancel_mid_delivery(world: World) -> None:
    world.core.sender.batch = 2
    people = await world.people(8, Preferences(CAN_THO, None, "general", "vi"))
    campaign_id = await world.campaign()
    await world.deliver(max_batches=1)
    assert await world.states(campaign_id) == {"sent": 2, "pending": 6}
    await world.core.campaigns.pause(APPROVER, campaign_id)
    await world.deliver()
    assert await world.states(campaign_id) == {"sent": 2, "pending": 6}
    await world.core.campaigns.resume(AUTHOR, campaign_id)
    await world.deliver(max_batches=1)
    assert await world.states(campaign_id) == {"sent": 4, "pending": 4}
    await world.core.campaigns.cancel(APPROVER, campaign_id)
    await world.deliver()
    assert await world.states(campaign_id) == {"sent": 4, "skipped": 4}
    assert sum(len(campaign_messages(user)) for user in people) == 4
    assert any("đợt gửi 1 đã xong" in (m.get("text") or "") for m in world.author.inbox)
    async with world.bot.read() as uow:
        actions = [entry.action for entry in await uow.audit.all()]
    assert actions[-4:] == ["campaign_paused", "campaign_resumed", "campaign_cancelled", "campaign_delivered"]


async def test_quiet_hours_hold_a_delivery_until_morning(world: World) -> None:
    people = await world.people(2, Preferences(CAN_THO, None, "general", "vi"))
    world.bot.clock.now = datetime(2026, 11, 26, 15, 0, tzinfo=UTC)  # 22:00 in Vietnam
    campaign_id = await world.campaign()
    await world.deliver()
    assert await world.states(campaign_id) == {"pending": 2}
    assert "giờ nghỉ, gửi tiếp lúc 07:00" in world.author.inbox[0]["text"]
    world.bot.clock.now = datetime(2026, 11, 27, 0, 1, tzinfo=UTC)  # 07:01
    await world.deliver()
    assert await world.states(campaign_id) == {"sent": 2}
    assert all(len(campaign_messages(user)) == 1 for user in people)


async def test_the_weekly_cap_skips_a_fourth_campaign_message(world: World) -> None:
    [person] = await world.people(1, Preferences(CAN_THO, None, "general", "vi"))
    for day in range(4):
        world.bot.clock.now = NOW + timedelta(days=day)
        campaign_id = await world.campaign()
        await world.deliver()
    assert await world.states(campaign_id) == {"skipped": 1}
    assert len(campaign_messages(person)) == 3
    world.bot.clock.now = NOW + timedelta(days=7, hours=1)  # the first one is more than 7 days old
    later = await world.campaign()
    await world.deliver()
    assert await world.states(later) == {"sent": 1}


async def test_a_monthly_campaign_runs_every_month_on_a_controllable_clock(world: World) -> None:
    [person] = await world.people(1, Preferences(CAN_THO, None, "general", "vi"))
    campaign_id = await world.campaign(schedule=Schedule(kind="monthly", day=1, time="08:00"))
    await world.deliver()
    assert await world.states(campaign_id) == {}  # not before 1 December
    world.bot.clock.now = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)  # 08:00 in Vietnam
    await world.deliver()
    campaign = await world.core.campaigns.get(campaign_id)
    assert campaign.status == CampaignStatus.APPROVED and campaign.runs == 1
    assert campaign.next_run_at == datetime(2027, 1, 1, 1, 0, tzinfo=UTC)
    world.bot.clock.now = datetime(2026, 12, 20, tzinfo=UTC)
    await world.deliver()
    assert len(campaign_messages(person)) == 1
    world.bot.clock.now = datetime(2027, 1, 1, 1, 0, 30, tzinfo=UTC)
    await world.deliver()
    assert len(campaign_messages(person)) == 2 and (await world.core.campaigns.get(campaign_id)).runs == 2


async def test_a_restart_resumes_where_it_stopped_and_never_sends_twice(api: FakeBotApi, world: World) -> None:
    world.core.sender.batch = 3
    people = await world.people(10, Preferences(CAN_THO, None, "general", "vi"))
    campaign_id = await world.campaign()
    await world.deliver(max_batches=1)
    assert await world.states(campaign_id) == {"sent": 3, "pending": 7}
    # The sender dies holding the lease on the next two recipients (their requests in flight).
    async with world.bot.storage() as storage, storage.uow() as uow:
        leased = await uow.campaigns.claim(campaign_id, 1, NOW, NOW + timedelta(seconds=60), 2, 3, NOW - timedelta(days=7))
    in_flight = people[3:5]
    assert sorted(recipient.subscriber_id for recipient in leased) == [(await world.subscriber(u)).id for u in in_flight]
    await world.bot.stop()

    restarted = RunningBot(api, world.bot.db_path, FakeClock(NOW + timedelta(seconds=10)), tipline_broadcast_rate=200)
    await restarted.start()
    assert restarted.app is not None
    restarted.app.bot_data["tasks"][0].cancel()
    world.bot = restarted
    await world.deliver()
    assert await world.states(campaign_id) == {"sent": 8, "sending": 2}  # the dead sender's leases still run
    restarted.clock.advance(seconds=60)
    await world.deliver()
    assert await world.states(campaign_id) == {"sent": 8, "unknown": 2}  # maybe delivered: never sent again
    for user in people:
        assert len(campaign_messages(user)) == (0 if user in in_flight else 1)
    assert (await world.core.campaigns.get(campaign_id)).status == CampaignStatus.DONE
    report = next(m["text"] for m in world.author.inbox if "đợt gửi 1 đã xong" in (m.get("text") or ""))
    assert "• không rõ (đang gửi khi khởi động lại, không gửi lại): 2" in report


async def test_a_poll_counts_one_answer_per_subscriber_by_place_and_never_who(world: World) -> None:
    ninh_kieu = await world.people(4, Preferences(CAN_THO, NINH_KIEU, "general", "vi"))
    cai_rang = await world.people(1, Preferences(CAN_THO, CAI_RANG, "general", "vi"))
    poll = Content(text={"vi": "Bạn đã từng được mời “nước vui” chưa?"}, options=({"vi": "Rồi"}, {"vi": "Chưa"}))
    campaign_id = await world.campaign(content=poll, kind=CampaignKind.POLL)
    await world.deliver()
    for index, user in enumerate(ninh_kieu + cai_rang):
        message = campaign_messages(user)[0]
        answer = "2v|1|1|0" if index < 3 else "2v|1|1|1"
        await user.press(message, answer)
    await world.bot.settle()
    twice = ninh_kieu[0]
    await twice.press(campaign_messages(twice)[0], "2v|1|1|1")  # a second answer is not counted
    outsider = world.api.user(started=True)
    await outsider.send("/start")
    await world.bot.settle()
    await outsider.press_raw(outsider.inbox[-1]["message_id"], "2v|1|1|0")  # not a recipient
    await world.bot.settle()
    assert "chỉ câu trả lời đầu tiên" in twice.callback_answers[-1]["text"]
    async with world.bot.read() as uow:
        tallies = await uow.campaigns.tallies(campaign_id)
    assert [(t.option, t.province_code, t.commune_code, t.answers) for t in tallies] == [
        (0, CAN_THO, NINH_KIEU, 3), (1, CAN_THO, NINH_KIEU, 1), (1, CAN_THO, CAI_RANG, 1)
    ]
    async with world.bot.storage() as storage:
        columns = (await table_columns(storage))["outreach_poll_tallies"]
    assert "answers" in columns and not {"subscriber_id", "chat_key", "sealed_ref"} & columns
    results = await _results(world, campaign_id)
    assert "1. Rồi: 3" in results and "2. Chưa: 2" in results
    assert "Ninh Kiều: 3" in results and "Cái Răng" not in results  # one answer: only in the province total
    assert results.count("Thành phố Cần Thơ: ") == 2


async def _results(world: World, campaign_id: int) -> str:
    from tipline.outreach.desk import poll_results

    campaign = await world.core.campaigns.get(campaign_id)
    async with world.core.storage.read() as uow:
        tallies = await uow.campaigns.tallies(campaign_id)
    return poll_results(campaign, tallies, "vi")


async def test_citizens_are_answered_while_campaign_sending_waits(world: World) -> None:
    people = await world.people(3, Preferences(CAN_THO, None, "general", "vi"))
    campaign_id = await world.campaign()
    world.core.pace.pause(3600)  # as if Telegram had asked the campaigns to wait an hour
    citizen = world.api.user(first_name="Lan")
    await citizen.send("/start")
    await world.bot.settle()
    [welcome] = await citizen.wait_for(1)
    assert "113" in welcome["text"]  # answered at once: replies never go through the campaigns' pace
    assert world.core.pace.priority_sent >= 1 and await world.states(campaign_id) == {}
    assert all(campaign_messages(user) == [] for user in people)


async def test_the_pace_keeps_to_the_limit_and_replies_go_before_campaign_messages() -> None:
    now = [0.0]

    async def sleep(seconds: float) -> None:
        now[0] += seconds

    pace = Pace(10, priority_wait=1.0, monotonic=lambda: now[0], sleep=sleep)
    bulk: list[float] = []
    every: list[float] = []
    for index in range(45):
        if index % 9 == 0:
            async with pace.slot():  # a reply to a citizen: counted first, in the next free slot at the latest
                every.append(now[0])
        started = await pace.acquire()
        pace.done(started)  # the channel answered at once
        bulk.append(now[0])
        every.append(now[0])

    def busiest(times: list[float]) -> int:
        return max(sum(1 for t in times if start <= t < start + 1.0) for start in times)

    assert busiest(every) <= 10  # replies included: never over the channel's limit
    assert pace.priority_sent == 5 and pace.bulk_sent == 45
    assert 4.5 <= now[0] <= 5.5  # 50 sends at a little under 10 a second
    pace.pause(5)
    assert pace.delay() == pytest.approx(5.0)


async def test_a_send_counts_until_a_second_after_its_answer_whatever_delayed_it() -> None:
    now = [0.0]

    async def sleep(seconds: float) -> None:
        now[0] += seconds

    pace = Pace(10, margin=0.0, monotonic=lambda: now[0], sleep=sleep)
    slow = await pace.acquire()  # this request meets a delay: the channel may count it late
    for _ in range(9):
        pace.done(await pace.acquire())
    assert now[0] == pytest.approx(0.9)
    now[0] = 1.05  # the slow one started more than a second ago, but has no answer yet: it still counts
    assert pace.delay() == pytest.approx(0.05)
    pace.done(slow)  # answered now: it counts until 2.05 s, whenever the channel counted it
    await pace.acquire()
    assert now[0] == pytest.approx(1.1)  # the next slot: the send started at 0.1 s stops counting
    assert pace._count(2.0) == 2  # at 2 s: the slow one (until 2.05 s) and the one still in flight


async def test_a_reply_waits_at_most_for_the_next_free_slot_and_bulk_yields_to_it() -> None:
    now = [0.0]

    async def sleep(seconds: float) -> None:
        now[0] += seconds

    pace = Pace(10, margin=0.0, monotonic=lambda: now[0], sleep=sleep)
    for _ in range(10):
        pace.done(await pace.acquire())  # the window is full: 10 campaign messages in 0.9 s
    assert now[0] == pytest.approx(0.9)
    async with pace.slot():
        assert now[0] == pytest.approx(1.0)  # the first slot to free up (the first message's second is over)
    pace._waiting = 1  # a reply waiting: no campaign message may take its slot
    assert pace.delay() > 0
    pace._waiting = 0
    slow = Pace(10, margin=0.0, priority_wait=0.05, monotonic=lambda: now[0], sleep=sleep)
    for _ in range(10):
        slow.done(await slow.priority())  # ten replies at once
    before = now[0]
    async with slow.slot():
        assert now[0] == before  # no slot frees within priority_wait: waiting would not help, it goes at once
    now[0] += 0.96  # the first ten stop counting at before + 1.0: a slot frees within priority_wait
    async with slow.slot():
        assert now[0] - before == pytest.approx(1.0)  # the next free slot
    in_flight = Pace(10, margin=0.0, priority_wait=0.05, monotonic=lambda: now[0], sleep=sleep)
    started = [await in_flight.priority() for _ in range(10)]  # ten replies without an answer yet
    now[0] += 0.5
    async with in_flight.slot():
        assert now[0] - started[0] == pytest.approx(0.5)  # none can stop counting within 0.05 s: at once
    in_flight.done(started[0])
    assert in_flight._count(now[0]) == 11 and len(in_flight._starts) == 9  # two answered, nine in flight


async def test_english_falls_back_to_vietnamese_when_the_campaign_has_no_english(world: World) -> None:
    [person] = await world.people(1, Preferences(CAN_THO, None, "general", "en"))
    await world.campaign(content=Content(text={"vi": "Chỉ có tiếng Việt."}))
    await world.deliver()
    [received] = campaign_messages(person)
    assert received["text"].startswith("Chỉ có tiếng Việt.") and "Send “dừng”" in received["text"]
    assert texts([received])


async def test_a_subscriber_on_a_channel_without_a_campaign_sender_fails_instead_of_waiting(world: World) -> None:
    [person] = await world.people(1, Preferences(CAN_THO, None, "general", "vi"))
    await world.core.citizens.outreach.subscribe("zalo", "a1b2c3d4e5", Preferences(CAN_THO, None, "general", "vi"))
    campaign_id = await world.campaign()
    await world.deliver()
    assert await world.states(campaign_id) == {"sent": 1, "failed": 1}
    assert len(campaign_messages(person)) == 1
    assert (await world.core.campaigns.get(campaign_id)).status == CampaignStatus.DONE


async def test_processes_that_share_the_budget_each_send_their_part() -> None:
    now = [0.0]

    async def sleep(seconds: float) -> None:
        now[0] += seconds

    pace = Pace(10, margin=0.0, monotonic=lambda: now[0], sleep=sleep)
    assert pace.share(2) == 5  # two senders on one database: half of the one budget each
    for _ in range(10):
        pace.done(await pace.acquire())
    assert now[0] == pytest.approx(1.8)  # 10 sends at 5 a second: the other process sends the other 5
    assert pace.share(1) == 10 and pace.interval == pytest.approx(0.1)  # alone again: the whole budget
