"""The campaign sender: delivers each approved campaign to its recipients at the channel's limit, never twice.

The queue is durable: a delivery writes one row per recipient (``pending``). The sender leases a small batch
(``sending``, with a lease that outlives any request), sends each message paced to the channel's global limit
(``delivery.pacing.Pace``), and records what happened (``sent``, ``blocked``, ``failed``) in one write per
batch. A batch is sized to a tenth of a second of sending, so little is in flight at any moment. After a
crash, rows still ``sending`` when their lease runs out become ``unknown``: maybe delivered, never sent again.
Everything else resumes exactly where it stopped.

The channel's answers steer it: ``RetryLater`` with a time pauses *all* bulk sending for that long (and the
recipient waits its turn again); a network error that proves the request never left is retried with backoff;
one that leaves it unclear (the request was written, the answer never came) is ``unknown``; ``Unreachable``
(blocked, chat gone) stops the subscriber; ``Rejected`` fails the one recipient.

Citizens come first: the sender has its own channels (its own HTTP connections), its own database connection,
a bounded number of sends in flight, and the pace leaves room for every reply the bot sends meanwhile, which
never waits for it. Quiet hours (21:00-07:00 in Vietnam by default) hold a delivery until morning; a weekly cap
skips subscribers who already got three campaign messages in the last seven days.

The author gets one progress message, edited as delivery goes ("12.340 / 100.000 · 12% · còn khoảng 52
phút"), then a report: delivered, blocked, failed, unknown, skipped, by province, with a chart.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from cryptography.exceptions import InvalidTag

from tipline.clock import Clock
from tipline.delivery.direct import outgoing
from tipline.delivery.model import Address, Sent
from tipline.delivery.outbox import backoff
from tipline.delivery.pacing import Pace
from tipline.delivery.port import (
    Channels,
    DeliveryError,
    FileRef,
    Outgoing,
    Rejected,
    RetryLater,
    Sender,
    Senders,
    Unreachable,
)
from tipline.i18n import TIMEZONE, translator
from tipline.outreach.campaigns import message
from tipline.outreach.desk import poll_results
from tipline.outreach.model import (
    Campaign,
    CampaignKind,
    CampaignStatus,
    Outcome,
    Recipient,
    RecipientState,
    RunCounts,
)
from tipline.outreach.policy import Policy, next_run
from tipline.privacy.keys import Keyring
from tipline.records.audit import AuditEntry, AuditLog
from tipline.records.charts import stacked_bars
from tipline.records.reports import province_name
from tipline.staff.cards import STAFF_LANGUAGE
from tipline.storage.ports import Storage

log = logging.getLogger(__name__)

NETWORK_TRIES = 5  # a recipient whose requests never leave is tried this often, then failed
PROGRESS_EVERY = 5.0  # seconds between edits of the author's progress message
FLUSH_EVERY = 0.05  # seconds between writes of what became of the recipients sent
IDLE_POLL = 2.0  # seconds between looks for due campaigns when nothing is being sent
SHARE_EVERY = 0.5  # seconds between renewals of this sender's share of the global rate
SHARE_LAPSE = 5.0  # a sender not heard from for this long (its process died) no longer takes a share
# A larger share is taken only once this many seconds passed since fewer senders were seen (what those who left
# sent in their last second still counts at the channel); a sender that joins others waits as long before its
# first send, so that they have seen it and are down to their smaller shares.
SHARE_SETTLE = 1.0 + SHARE_EVERY + 0.2
SHARE_POOL = "campaigns"
REPORT_TOP = 15  # provinces listed in the report's text


@dataclass
class _Run:
    """What the sender keeps in memory about a delivery under way (all of it can be rebuilt from storage)."""

    campaign: Campaign
    replies: dict[str, Outgoing] = field(default_factory=dict)
    started: float = field(default_factory=time.monotonic)
    done_at_start: int | None = None
    progress: Sent | None = None
    last_progress: float = 0.0
    note: str = ""


def _gone_here(owner: str) -> bool:
    """Whether a sender (``host:pid:random``) ran on this machine in a process that no longer exists."""
    host, _sep, rest = owner.partition(":")
    pid = rest.partition(":")[0]
    if host != socket.gethostname() or not pid.isdigit() or int(pid) == os.getpid():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except OSError:  # it exists (another user's process): not ours to judge
        return False
    return False


class CampaignSender:
    def __init__(
        self,
        storage: Storage,
        keyring: Keyring,
        clock: Clock,
        channels: Senders,
        staff_channels: Channels,
        pace: Pace,
        audit: AuditLog,
        policy: Policy | None = None,
        *,
        in_flight: int | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.storage = storage
        self.keyring = keyring
        self.clock = clock
        self.channels = channels  # bulk: their own HTTP connections
        self.staff_channels = staff_channels  # the author's progress and report
        self.pace = pace
        self.audit = audit
        self.policy = policy or Policy(rate=pace.rate)
        self.monotonic = monotonic
        self.in_flight = in_flight or max(8, min(50, int(pace.rate / 10)))  # sends awaiting an answer at once
        self.slots = asyncio.Semaphore(self.in_flight)
        self.batch = max(1, min(100, int(pace.rate * 0.05)))  # a twentieth of a second of sending
        self._wake = asyncio.Event()
        self._running = asyncio.Lock()
        self._runs: dict[int, _Run] = {}
        self._last_sent: dict[str, float] = {}  # chat → when, for the one-message-per-second-per-chat rule
        self._outcomes: list[Outcome] = []
        self._tasks: set[asyncio.Task[None]] = set()
        # Who this sender is among those sharing the database's one budget (no person in it).
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
        self._fewer_since: float | None = None

    def wake(self) -> None:
        self._wake.set()

    # --- the loop --------------------------------------------------------------------------------------

    async def run(self) -> None:
        while True:
            self._wake.clear()
            try:
                busy = await self.step()
            except Exception:
                log.exception("campaign delivery failed; trying again shortly")
                busy = False
            if not busy:
                try:
                    await asyncio.wait_for(self._wake.wait(), IDLE_POLL)
                except TimeoutError:
                    pass

    async def step(self, max_batches: int | None = None) -> bool:
        """Starts due deliveries and sends what may be sent now; True when something was sent or is waiting
        only for the pace (call again at once), False when nothing can go before later."""
        async with self._running:
            now = self.clock()
            async with self.storage.uow() as uow:
                expired = await uow.campaigns.expire_leases(now)
            if expired:
                log.warning("campaigns: %d sends in flight when the sender stopped are counted as unknown", expired)
            await self._start_due(now)
            busy = False
            async with self.storage.read() as uow:
                running = await uow.campaigns.with_status((CampaignStatus.RUNNING, CampaignStatus.PAUSED))
            for campaign in sorted(running, key=lambda c: c.id):
                busy = await self._deliver(campaign, max_batches) or busy
            # A delivery cancelled meanwhile: what was sent is final; the author gets its report.
            for campaign_id in set(self._runs) - {c.id for c in running}:
                async with self.storage.read() as uow:
                    gone = await uow.campaigns.get(campaign_id)
                if gone is not None and gone.status == CampaignStatus.CANCELLED:
                    await self._finish(self._runs[campaign_id], gone)
                else:
                    self._runs.pop(campaign_id, None)
            return busy

    async def _start_due(self, now: datetime) -> None:
        async with self.storage.read() as uow:
            due = await uow.campaigns.due(now)
        for campaign in due:
            run = campaign.runs + 1
            scheduled = campaign.next_run_at or now
            following = next_run(campaign.schedule, now, after=scheduled)
            async with self.storage.uow() as uow:
                count = await uow.campaigns.start_run(campaign.id, run, campaign.audience, now)
                if count is None:  # another worker started this delivery a moment ago
                    continue
                await uow.campaigns.update(
                    campaign.id, now, status=CampaignStatus.RUNNING, runs=run, next_run_at=following,
                    progress_chat=None, progress_message=None, progress_text=None,
                )
                await self.audit.append(
                    uow, AuditEntry(at=now, actor_role="system", action="campaign_started",
                                    detail=f"campaign {campaign.id} run {run} recipients {count}"),
                )
            log.info("campaign %d: delivery %d started for %d recipients", campaign.id, run, count)

    # --- one campaign ----------------------------------------------------------------------------------

    async def _state(self, campaign: Campaign) -> _Run:
        state = self._runs.get(campaign.id)
        if state is None or state.campaign.runs != campaign.runs:
            state = _Run(campaign)
            if campaign.progress_chat and campaign.progress_message:
                channel, _sep, chat = campaign.progress_chat.partition(":")
                state.progress = Sent(Address(channel, chat), campaign.progress_message)
            self._runs[campaign.id] = state
        state.campaign = campaign
        return state

    async def _deliver(self, campaign: Campaign, max_batches: int | None) -> bool:
        state = await self._state(campaign)
        run = campaign.runs
        if campaign.status == CampaignStatus.PAUSED:
            await self._progress(state, translator(STAFF_LANGUAGE).gettext("paused"))
            return False
        now = self.clock()
        if self.policy.quiet(now):
            until = self.policy.quiet_until(now).astimezone(TIMEZONE).strftime("%H:%M")
            await self._progress(state, translator(STAFF_LANGUAGE).gettext("quiet hours until {time}").format(time=until))
            return False
        # Three tasks, so that the database never stalls the sending: one claims the next batch while the
        # previous one goes out, one sends (paced), one writes outcomes and progress every twentieth of a second.
        queue: asyncio.Queue[list[Recipient] | None] = asyncio.Queue(maxsize=1)
        claimed = 0
        finished = asyncio.Event()

        async def claim_batches() -> None:
            nonlocal claimed
            try:
                while max_batches is None or claimed < max_batches:
                    if self.pace.paused_for > 0:
                        await asyncio.sleep(self.pace.paused_for)  # the channel asked to wait: so does every campaign
                    if not await self._still_running(campaign.id) or self.policy.quiet(self.clock()):
                        break
                    recipients = await self._claim(campaign.id, run)
                    if not recipients:
                        await queue.join()  # what was claimed is out, or in flight
                        if not self._tasks and not self._outcomes:
                            break
                        await self._drain()  # a send in flight may put its recipient back in line (a 429)
                        continue
                    claimed += 1
                    await queue.put(recipients)
            except asyncio.CancelledError:
                raise  # the sending below has stopped: nobody waits for the end mark
            except BaseException:
                await queue.put(None)  # the sending below finishes what it holds, then stops
                raise
            await queue.put(None)

        async def write_often() -> None:
            while not finished.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(finished.wait(), FLUSH_EVERY)
                await self._flush()
                await self._progress(state, "")

        async def keep_share() -> None:
            while not finished.is_set():
                await self._share()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(finished.wait(), SHARE_EVERY)

        if await self._share() > 1:  # others are sending: they take a moment to make room for this one
            await asyncio.sleep(SHARE_SETTLE)
        sharer = asyncio.create_task(keep_share())
        claimer = asyncio.create_task(claim_batches())
        writer = asyncio.create_task(write_often())
        try:
            while True:
                recipients = await queue.get()
                try:
                    if recipients is None:
                        break
                    await self._send_batch(state, recipients)
                finally:
                    queue.task_done()
        finally:
            finished.set()
            if not claimer.done():
                claimer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await claimer
            await writer
            await sharer
            await self._unshare()
        sent_any = claimed > 0
        await self._drain()
        async with self.storage.read() as uow:
            left = await uow.campaigns.pending(campaign.id, run)
            current = await uow.campaigns.get(campaign.id)
        if left == 0 and current is not None and current.status in (CampaignStatus.RUNNING, CampaignStatus.PAUSED):
            await self._finish(state, current)
            return False
        return sent_any

    async def _share(self) -> int:
        """Renews this sender's place among the senders delivering now, in every process on this database, and
        takes its part of the channel's rate: one global budget, split evenly. When a process dies, its part
        goes back to the others once it has not been heard from for ``SHARE_LAPSE`` seconds."""
        now = self.clock()
        try:
            async with self.storage.uow() as uow:
                since = now - timedelta(seconds=SHARE_LAPSE)
                senders = await uow.send_shares.beat(self.owner, SHARE_POOL, now, since)
                if senders > 1:  # a sender of this machine whose process is gone (killed, restarted) counts no more
                    gone = [owner for owner in await uow.send_shares.owners(SHARE_POOL) if _gone_here(owner)]
                    for owner in gone:
                        await uow.send_shares.leave(owner)
                    if gone:
                        senders = await uow.send_shares.beat(self.owner, SHARE_POOL, now, since)
        except Exception:  # keep the last share: sending on with it is safe, and the next renewal may work
            log.exception("campaigns: could not renew this sender's share of the rate")
            return self.pace.shared_by
        if senders < self.pace.shared_by:  # a larger share, once those who left no longer count at the channel
            if self._fewer_since is None:
                self._fewer_since = self.monotonic()
            if self.monotonic() - self._fewer_since < SHARE_SETTLE:
                return senders
        self._fewer_since = None
        if senders != self.pace.shared_by:
            log.info("campaigns: %d senders share the rate; this one sends up to %d a second", senders,
                     self.pace.share(senders))
        return senders

    async def _unshare(self) -> None:
        try:
            async with self.storage.uow() as uow:
                await uow.send_shares.leave(self.owner)
        except Exception:
            log.exception("campaigns: could not give back this sender's share of the rate")
        self.pace.share(1)

    async def _claim(self, campaign_id: int, run: int) -> list[Recipient]:
        now = self.clock()
        async with self.storage.uow() as uow:
            return await uow.campaigns.claim(
                campaign_id, run, now, now + self.policy.lease, self.batch, self.policy.weekly_cap, now - timedelta(days=7)
            )

    async def _still_running(self, campaign_id: int) -> bool:
        async with self.storage.read() as uow:
            current = await uow.campaigns.get(campaign_id)
        return current is not None and current.status == CampaignStatus.RUNNING

    async def _send_batch(self, state: _Run, recipients: list[Recipient]) -> None:
        if state.campaign.has_image and not state.campaign.image_ref:
            await self._start_send(state, recipients[0], wait=True)  # the upload: the rest go by its file id
            recipients = recipients[1:]
        for index, recipient in enumerate(recipients):
            if self.pace.paused_for > 1.0 or self.policy.quiet(self.clock()):
                # The channel asked everyone to wait (or night fell): the rest were not tried; back in line.
                self._outcomes += [
                    Outcome(r.id, r.subscriber_id, RecipientState.PENDING, retry_at=None, count_attempt=False)
                    for r in recipients[index:]
                ]
                return
            await self._start_send(state, recipient)

    async def _start_send(self, state: _Run, recipient: Recipient, wait: bool = False) -> None:
        """Prepares one send, waits for a connection and for the pace, and starts it. The pace comes last, just
        before the request is written, so that the channel counts the send when the pace did."""
        try:
            channel_name, chat = self.keyring.unseal(recipient.sealed_ref)
        except (InvalidTag, ValueError, KeyError):
            self._outcomes.append(Outcome(recipient.id, recipient.subscriber_id, RecipientState.FAILED))
            return
        channel = self.channels.get(channel_name)
        if channel is None:  # a subscriber on a channel this process cannot send campaigns on
            log.warning("campaigns: no bulk channel %s registered; a recipient failed", channel_name)
            self._outcomes.append(Outcome(recipient.id, recipient.subscriber_id, RecipientState.FAILED))
            return
        to = Address(channel_name, str(chat))
        image = await self._file(state, channel_name) if state.campaign.has_image or state.campaign.image_ref else None
        key = f"{channel_name}:{chat}"
        last = self._last_sent.get(key)
        if last is not None and self.monotonic() - last < self.policy.per_chat_seconds:
            # One message per chat per second: rare (two campaigns at once), so this send just waits its turn.
            await asyncio.sleep(last + self.policy.per_chat_seconds - self.monotonic())
        await self.slots.acquire()
        started = await self.pace.acquire()
        self._last_sent[key] = self.monotonic()
        task = asyncio.create_task(self._send_one(state, recipient, channel, to, image))
        task.add_done_callback(lambda _task: self.pace.done(started))
        self._tasks.add(task)
        task.add_done_callback(self._done)
        if wait:
            await task

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self.slots.release()

    async def _drain(self) -> None:
        if self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
        await self._flush()

    def _reply(self, state: _Run, lang: str) -> Outgoing:
        reply = state.replies.get(lang)
        if reply is None:
            reply = state.replies[lang] = outgoing(message(state.campaign, lang, state.campaign.runs))
        return reply

    async def _file(self, state: _Run, channel: str) -> FileRef | None:
        campaign = state.campaign
        if campaign.image_ref:
            owner, _sep, ref = campaign.image_ref.partition(":")
            if owner == channel:
                return FileRef("photo", ref, channel)
        if not campaign.has_image:
            return None
        async with self.storage.read() as uow:
            data = await uow.campaigns.image(campaign.id)
        return FileRef("photo", f"campaign-{campaign.id}.png", "", data=data) if data else None

    async def _send_one(
        self, state: _Run, recipient: Recipient, channel: Sender, to: Address, image: FileRef | None
    ) -> None:
        now = self.clock()
        reply = self._reply(state, recipient.lang)
        try:
            if state.campaign.has_image or state.campaign.image_ref:
                if image is None:
                    raise Rejected("the campaign's image is missing")
                sent = await channel.send_file(to, image, caption=reply)
                if sent.file_ref and image.data is not None:
                    await self._remember_image(state, f"{to.channel}:{sent.file_ref}")
            else:
                await channel.send(to, reply)
        except RetryLater as exc:
            if exc.uncertain:  # the request may have been delivered: never sent again
                self._outcomes.append(Outcome(recipient.id, recipient.subscriber_id, RecipientState.UNKNOWN))
                return
            if exc.after is not None:
                # Not delivered (a 429 is a refusal): back in line; the pause holds every campaign send.
                self.pace.pause(exc.after)
                log.warning("campaigns: the channel asks to wait %.0f s; all campaign sending waits", exc.after)
                self._outcomes.append(Outcome(recipient.id, recipient.subscriber_id, RecipientState.PENDING,
                                              count_attempt=False))
                return
            if recipient.attempts + 1 >= NETWORK_TRIES:
                self._outcomes.append(Outcome(recipient.id, recipient.subscriber_id, RecipientState.FAILED))
            else:
                self._outcomes.append(Outcome(recipient.id, recipient.subscriber_id, RecipientState.PENDING,
                                              retry_at=now + backoff(recipient.attempts)))
            return
        except Unreachable:
            self._outcomes.append(Outcome(recipient.id, recipient.subscriber_id, RecipientState.BLOCKED))
            return
        except (Rejected, DeliveryError) as exc:
            log.warning("campaigns: a message was refused (%s)", exc)
            self._outcomes.append(Outcome(recipient.id, recipient.subscriber_id, RecipientState.FAILED))
            return
        except Exception:
            log.exception("campaigns: a message could not be sent")
            self._outcomes.append(Outcome(recipient.id, recipient.subscriber_id, RecipientState.FAILED))
            return
        self._outcomes.append(Outcome(recipient.id, recipient.subscriber_id, RecipientState.SENT))

    async def _remember_image(self, state: _Run, ref: str) -> None:
        async with self.storage.uow() as uow:
            await uow.campaigns.update(state.campaign.id, self.clock(), image_ref=ref)
        state.campaign = await self._reload(state.campaign.id) or state.campaign

    async def _reload(self, campaign_id: int) -> Campaign | None:
        async with self.storage.read() as uow:
            return await uow.campaigns.get(campaign_id)

    async def _flush(self) -> None:
        """Writes what became of the recipients sent so far, in one unit of work."""
        if not self._outcomes:
            return
        outcomes, self._outcomes = self._outcomes, []
        now = self.clock()
        today = now.astimezone(TIMEZONE).date()
        async with self.storage.uow() as uow:
            await uow.campaigns.finish(outcomes, now)
            for outcome in outcomes:
                if outcome.state == RecipientState.BLOCKED:
                    await uow.subscribers.stop(outcome.subscriber_id, today, "blocked", "campaign")
        horizon = self.monotonic() - self.policy.per_chat_seconds
        if len(self._last_sent) > 5000:
            self._last_sent = {k: v for k, v in self._last_sent.items() if v >= horizon}

    # --- the author's progress message and report ---------------------------------------------------

    async def _counts(self, campaign: Campaign) -> RunCounts:
        async with self.storage.read() as uow:
            return await uow.campaigns.counts(campaign.id, campaign.runs)

    def _progress_text(self, state: _Run, counts: RunCounts, note: str) -> str:
        t = translator(STAFF_LANGUAGE)
        _ = t.gettext
        total, done = counts.total, counts.done
        share = int(done * 100 / total) if total else 100
        if state.done_at_start is None:
            state.done_at_start = done
        parts = [
            _("Campaign #{id}").format(id=state.campaign.id),
            f"{t.number(done)} / {t.number(total)}",
            f"{share}%",
        ]
        elapsed = self.monotonic() - state.started
        progressed = done - (state.done_at_start or 0)
        if note:
            parts.append(note)
        elif progressed > 0 and elapsed > 0 and done < total:
            minutes = max(1, round((total - done) / (progressed / elapsed) / 60))
            parts.append(t.ngettext("about {n} minute left", "about {n} minutes left", minutes).format(n=t.number(minutes)))
        return " · ".join(parts)

    async def _progress(self, state: _Run, note: str, force: bool = False) -> None:
        """Edits the author's progress message (at most every few seconds; sends it first if need be)."""
        if not force and note == state.note and self.monotonic() - state.last_progress < PROGRESS_EVERY:
            return
        state.note = note
        state.last_progress = self.monotonic()
        campaign = state.campaign
        counts = await self._counts(campaign)
        text = self._progress_text(state, counts, note)
        channel = self.staff_channels.get(campaign.author_channel)
        if channel is None:
            return
        if state.progress is None:  # another worker may have sent it meanwhile
            async with self.storage.read() as uow:
                current = await uow.campaigns.get(campaign.id)
            if current is not None and current.progress_chat and current.progress_message:
                where, _sep, chat = current.progress_chat.partition(":")
                state.progress = Sent(Address(where, chat), current.progress_message)
        # Workers delivering one campaign take turns: each change is claimed in the database first.
        async with self.storage.uow() as uow:
            if not await uow.campaigns.take_progress(campaign.id, text, first=state.progress is None):
                return
        try:
            if state.progress is None:
                state.progress = await channel.send(Address(campaign.author_channel, campaign.author_ref), Outgoing(text))
                async with self.storage.uow() as uow:
                    await uow.campaigns.update(
                        campaign.id, self.clock(), progress_chat=f"{campaign.author_channel}:{campaign.author_ref}",
                        progress_message=state.progress.message,
                    )
            else:
                await channel.edit(state.progress, Outgoing(text))
        except DeliveryError as exc:
            log.warning("campaigns: the author's progress message could not be updated (%s)", exc)

    async def _finish(self, state: _Run, campaign: Campaign) -> None:
        now = self.clock()
        counts = await self._counts(campaign)
        status = CampaignStatus.APPROVED if campaign.next_run_at is not None else CampaignStatus.DONE
        async with self.storage.uow() as uow:
            # One transaction: the delivery is marked finished, the campaign's status and the audit go with it.
            finished_here = await uow.campaigns.finish_run(campaign.id, campaign.runs, now)
            if finished_here:
                if campaign.status != CampaignStatus.CANCELLED:
                    await uow.campaigns.update(campaign.id, now, status=status)
                await self.audit.append(
                    uow,
                    AuditEntry(
                        at=now, actor_role="system", action="campaign_delivered",
                        detail=f"campaign {campaign.id} run {campaign.runs} " + " ".join(
                            f"{state_}={count}" for state_, count in sorted(counts.by_state.items())
                        ),
                    ),
                )
        if not finished_here:  # another worker finished it a moment ago: it tells the author
            self._runs.pop(campaign.id, None)
            return
        self._runs.pop(campaign.id, None)
        log.info("campaign %d: delivery %d finished (%s)", campaign.id, campaign.runs, counts.by_state)
        _ = translator(STAFF_LANGUAGE).gettext
        await self._progress(state, _("cancelled") if campaign.status == CampaignStatus.CANCELLED else _("finished"), force=True)
        await self.report(campaign, counts)

    async def report(self, campaign: Campaign, counts: RunCounts) -> None:
        """The delivery's report for the author: the figures, by province, and a chart."""
        channel = self.staff_channels.get(campaign.author_channel)
        if channel is None:
            return
        to = Address(campaign.author_channel, campaign.author_ref)
        text = report_text(campaign, counts)
        if campaign.kind == CampaignKind.POLL:
            async with self.storage.read() as uow:
                tallies = await uow.campaigns.tallies(campaign.id, campaign.runs)
            text += "\n\n" + poll_results(campaign, tallies, STAFF_LANGUAGE)
        try:
            await channel.send(to, Outgoing(text))
            chart = await asyncio.to_thread(report_chart, campaign, counts)
            await channel.send_file(to, FileRef("photo", f"campaign-{campaign.id}-{campaign.runs}.png", "", data=chart))
        except DeliveryError as exc:
            log.warning("campaigns: the report could not be sent to the author (%s)", exc)


def _state_names() -> dict[RecipientState, str]:
    _ = translator(STAFF_LANGUAGE).gettext
    return {
        RecipientState.SENT: _("delivered"),
        RecipientState.BLOCKED: _("blocked the bot"),
        RecipientState.FAILED: _("failed"),
        RecipientState.UNKNOWN: _("unknown (in flight at a restart, not sent again)"),
        RecipientState.SKIPPED: _("skipped (weekly limit, unsubscribed or cancelled)"),
    }


def report_text(campaign: Campaign, counts: RunCounts) -> str:
    t = translator(STAFF_LANGUAGE)
    _ = t.gettext
    names = _state_names()
    lines = [
        _("Campaign #{id}: delivery {run} finished.").format(id=campaign.id, run=campaign.runs),
        _("Recipients: {n}").format(n=t.number(counts.total)),
    ]
    lines += [f"• {names[state]}: {t.number(counts.count(state))}" for state in names]
    provinces = sorted(counts.by_province.items(), key=lambda kv: -sum(kv[1].values()))
    if provinces:
        lines += ["", _("By province (delivered / recipients):")]
        for code, by_state in provinces[:REPORT_TOP]:
            lines.append(f"  {province_name(code)}: {t.number(by_state.get('sent', 0))} / {t.number(sum(by_state.values()))}")
        if len(provinces) > REPORT_TOP:
            lines.append("  …")
    return "\n".join(lines)


def report_chart(campaign: Campaign, counts: RunCounts) -> bytes:
    names = _state_names()
    provinces = sorted(counts.by_province.items(), key=lambda kv: -sum(kv[1].values()))
    rows = [province_name(code) for code, _ in provinces]
    series = {
        names[state].split(" (")[0]: [by_state.get(state.value, 0) for _, by_state in provinces]
        for state in (RecipientState.SENT, RecipientState.BLOCKED, RecipientState.FAILED, RecipientState.UNKNOWN,
                      RecipientState.SKIPPED)
    }
    title = translator(STAFF_LANGUAGE).gettext("Campaign #{id}, delivery {run}").format(id=campaign.id, run=campaign.runs)
    return stacked_bars(title, rows, series)

