"""A campaign to N subscribers at Telegram's limit, with a citizen chatting meanwhile, and a crash halfway.

Usage: .venv/bin/python bench/broadcast.py [--subscribers 20000] [--limits 30 1000] [--only normal|crash]

* The Bot API server is ``tests/botapi`` (FakeBotApi) in this process, made to enforce a global limit L
  (``global_limit``: more than L messages in any second get 429 with retry_after = 1 s, not delivered).
* The bot runs as it is deployed: ``<this python> -m bot`` from the repository root, with
  TIPLINE_BROADCAST_RATE = L, no quiet hours, a 15 s lease, a fresh database holding N subscribers (sealed
  chats of N people who started the bot, spread over provinces) and one approved campaign ("now").
* Meanwhile one citizen chats with the bot: asks a question, waits for the answer, reads for about a second,
  asks again. Latency = from the question reaching the server to the answer reaching it.
* "crash": when half of the subscribers have their message, the bot is SIGKILLed, started again on the same
  database, and finishes. Sends in flight at the kill stay leased until the lease runs out, then count as
  unknown, never sent again.

Printed per L and scenario:
  rate/L      campaign messages per second while sending (first to last, minus the restart) / L; with the
              citizen's answers and the author's progress edits: all/L
  duplicates  subscribers who got the campaign more than once (target 0)
  lost        subscribers without a message whose delivery is not accounted for: not unknown, blocked,
              failed or skipped (target 0); 'sent' rows without a message at the server count too
  unknown     recipients counted unknown (the crash's in-flight sends), and how many of them did get it
  429         sends the server refused over its limit
  citizen     answers, p50 and p99 latency (target p99 < 300 ms)
Exit status 1 when a target is missed or the campaign does not finish.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import os
import platform
import secrets
import shutil
import signal
import sqlite3
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # botapi

from botapi import FakeBotApi, SimUser  # noqa: E402

from tipline.clock import utcnow  # noqa: E402
from tipline.outreach.campaigns import Broadcaster, Campaigns  # noqa: E402
from tipline.outreach.model import (  # noqa: E402
    ButtonKind,
    CampaignButton,
    CampaignKind,
    Content,
    NewCampaign,
    Preferences,
)
from tipline.privacy.keys import Keyring  # noqa: E402
from tipline.records.audit import AuditLog  # noqa: E402
from tipline.staff.model import StaffRole  # noqa: E402
from tipline.storage.ports import Storage  # noqa: E402
from tipline.storage.sqlite.store import SqliteStorage  # noqa: E402

READY_TIMEOUT = 60.0
FINISH_TIMEOUT_PER_MESSAGE = 0.2  # seconds per subscriber at L = 30 (about 0.034 needed): a generous bound
LEASE_SECONDS = 15
PLACES = [(92, 31135, "pupil"), (92, None, "parent"), (1, None, "general"), (79, None, "teacher"), (40, None, "general")]
QUESTIONS = ["bóng cười có phải ma túy không", "methadone ở đâu", "tem giấy là gì", "/info", "nuoc vui la gi"]
TEXT = (
    "Tháng 6 là Tháng hành động phòng, chống ma túy. Cảnh giác với “nước vui”, kẹo và thuốc lá điện tử "
    "có chất gây nghiện: đừng nhận đồ uống, đồ ăn từ người lạ."
)


@dataclass
class Outcome:
    limit: int
    scenario: str
    subscribers: int
    seconds: float = 0.0
    rate: float = 0.0
    all_rate: float = 0.0
    duplicates: int = 0
    lost: int = 0
    unknown: int = 0
    unknown_delivered: int = 0
    states: dict[str, int] = field(default_factory=dict)
    limited: int = 0
    limited_replies: int = 0  # of which: answers to the citizen or the author (not campaign messages)
    latencies: list[float] = field(default_factory=list)
    kill_at: int | None = None
    timeline: list[int] = field(default_factory=list)  # campaign messages accepted per second
    bot_cpu: float = 0.0  # CPU seconds of the bot process(es)
    own_cpu: float = 0.0  # CPU seconds of this process: the server and the citizen
    failures: list[str] = field(default_factory=list)

    def p(self, q: float) -> float:
        if not self.latencies:
            return float("nan")
        values = sorted(self.latencies)
        return values[min(len(values) - 1, int(q * len(values)))]


def machine() -> str:
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    load = " load {:.1f} {:.1f} {:.1f}".format(*os.getloadavg()) if hasattr(os, "getloadavg") else ""
    return f"CPUs: {cpus}{load}  Python {platform.python_version()}  SQLite {sqlite3.sqlite_version}"


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("TIPLINE_", "TELEGRAM_"))}


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a running process (Linux /proc), or 0."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return 0.0


class Bot:
    """The bot as a process."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.env = env
        self.log_path = log_path
        self.process: asyncio.subprocess.Process | None = None
        self.cpu = 0.0  # CPU seconds of the processes that ended

    def sample(self) -> float:
        return self.cpu + (cpu_seconds(self.process.pid) if self.process and self.process.returncode is None else 0.0)

    async def start(self, api: FakeBotApi) -> None:
        with open(self.log_path, "ab") as log:
            profile = ["-m", "cProfile", "-o", os.environ["BENCH_PROFILE"]] if os.environ.get("BENCH_PROFILE") else []
            self.process = await asyncio.create_subprocess_exec(
                sys.executable, *profile, "-m", "bot", cwd=ROOT, env=self.env, stdin=asyncio.subprocess.DEVNULL,
                stdout=log, stderr=asyncio.subprocess.STDOUT,
            )
        deadline = time.monotonic() + READY_TIMEOUT
        while api._poller is None:
            if self.process.returncode is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the bot did not start:\n{self.log()[-3000:]}")
            await asyncio.sleep(0.01)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    async def kill(self, api: FakeBotApi) -> None:
        assert self.process is not None
        self.cpu = self.sample()
        self.process.send_signal(signal.SIGKILL)
        await self.process.wait()
        deadline = time.monotonic() + 10
        while api._poller is not None and time.monotonic() < deadline:  # its long poll is cut off
            await asyncio.sleep(0.01)

    async def stop(self) -> None:
        self.cpu = self.sample()
        if self.process is not None and self.process.returncode is None:
            self.process.send_signal(signal.SIGINT)
            try:
                await asyncio.wait_for(self.process.wait(), 30)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()


async def prepare(storage: Storage, secret: str, people: list[SimUser], author: SimUser, approver: SimUser) -> int:
    """N subscribers (sealed as the bot seals them) and one approved campaign, written before the bot starts;
    returns the campaign's id. Also what ``tests/test_workers.py`` prepares its campaigns with."""
    keyring = Keyring(secret.encode())
    today = date.today()
    async with storage.uow() as uow:
        for index, person in enumerate(people):
            province, commune, audience = PLACES[index % len(PLACES)]
            prefs = Preferences(province, commune, audience, "vi" if index % 10 else "en")
            key = keyring.outreach_key("telegram", person.id)
            await uow.subscribers.subscribe(key, "telegram", keyring.seal("telegram", person.id), prefs, today)
        now = utcnow()
        author_id = await uow.staff.set_role("telegram", str(author.id), StaffRole.BROADCASTER, True, now)
        approver_id = await uow.staff.set_role("telegram", str(approver.id), StaffRole.BROADCASTER, True, now)
    campaigns = Campaigns(storage, AuditLog(secret.encode()), utcnow)
    content = Content(
        text={"vi": TEXT, "en": "June is the action month against drugs. Beware of 'happy water'."},
        buttons=(CampaignButton(ButtonKind.READ_MORE, "disguised-happy-water"), CampaignButton(ButtonKind.STOP)),
    )
    who = Broadcaster("telegram", str(author.id), "Tác giả", author_id)
    campaign_id = await campaigns.create(who, NewCampaign(CampaignKind.MESSAGE, "Tháng hành động", content), submit=True)
    await campaigns.approve(Broadcaster("telegram", str(approver.id), "Người duyệt", approver_id), campaign_id)
    return campaign_id


def db_states(db: Path) -> dict[str, int]:
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)) as conn:
        return {state: count for state, count in conn.execute("SELECT state, COUNT(*) FROM outreach_recipients GROUP BY state")}


def campaign_status(db: Path) -> str:
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)) as conn:
        row = conn.execute("SELECT status FROM outreach_campaigns").fetchone()
    return row[0] if row else ""


class Citizen:
    """One person chatting with the bot during the campaign; latencies measured at the server."""

    def __init__(self, api: FakeBotApi, user: SimUser) -> None:
        self.api = api
        self.user = user
        self.latencies: list[float] = []
        self.active = asyncio.Event()
        self.active.set()
        self.generation = 0  # raised at a kill: an answer that waited for a restart is not a latency

    async def run(self) -> None:
        await self.user.send("/start")
        await self.user.wait_for(1, timeout=30)
        asked = 0
        while True:
            await self.active.wait()
            question = QUESTIONS[asked % len(QUESTIONS)]
            asked += 1
            generation = self.generation
            sent = time.perf_counter()
            await self.user.send(question)
            try:
                await self.user.wait_for(1, timeout=30)
                waited = time.perf_counter() - sent
            except AssertionError:
                waited = 30.0
                self.user._mark_action()
            if self.active.is_set() and generation == self.generation:
                self.latencies.append(waited)
            # Reading the answer, then typing the next question: about 25 messages a minute, under the bot's
            # flood limit (30 a minute), which would otherwise rightly stop answering.
            await asyncio.sleep(2.0 + 0.5 * (asked % 3))


async def run(limit: int, n: int, scenario: str, workdir: Path) -> Outcome:
    outcome = Outcome(limit, scenario, n)
    workdir.mkdir(parents=True)
    db = workdir / "tipline.sqlite3"
    secret = secrets.token_hex(32)
    async with FakeBotApi(global_limit=limit) as api:
        people = [api.user(started=True) for _ in range(n)]
        author = api.user(first_name="Tác giả", started=True)
        approver = api.user(first_name="Người duyệt", started=True)
        chatty = api.user(first_name="Lan")
        storage = await SqliteStorage.open(db)
        try:
            await prepare(storage, secret, people, author, approver)
        finally:
            await storage.close()
        env = {
            **clean_env(), "TELEGRAM_BOT_TOKEN": api.token, "TELEGRAM_API_BASE_URL": api.base_url,
            "TELEGRAM_API_FILE_URL": api.base_file_url, "TIPLINE_DB": str(db), "TIPLINE_SECRET_KEY": secret,
            "TIPLINE_BROADCAST_RATE": str(limit), "TIPLINE_QUIET_HOURS": "00:00-00:00",
            "TIPLINE_BROADCAST_LEASE": str(LEASE_SECONDS),
        }  # fmt: skip
        bot = Bot(env, workdir / "bot.log")
        subscribers = {str(p.id) for p in people}
        # The server holds every message it was sent: a full garbage collection of that many objects stops its
        # loop for a noticeable time, after which it counts a backlog of sends as if they had come together.
        # Telegram's counter does not pause like that, so neither does this one: no collection while measuring.
        gc.collect()
        gc.freeze()
        gc.disable()
        started = time.perf_counter()
        own_start = time.process_time()
        await bot.start(api)
        citizen = Citizen(api, chatty)
        chat_task = asyncio.create_task(citizen.run())
        segments: list[tuple[int, int]] = []  # index ranges of send_log per bot process
        segment_start = len(api.send_log)
        deadline = time.monotonic() + 60 + n * FINISH_TIMEOUT_PER_MESSAGE * 30 / limit
        try:
            killed = scenario != "crash"
            counted, delivered = 0, 0
            while True:
                await asyncio.sleep(0.2)
                log_now = api.send_log[counted:]  # only what is new: a long scan would stall the server
                counted += len(log_now)
                delivered += sum(1 for _t, method, chat in log_now if chat in subscribers and method == "sendMessage")
                if not killed and delivered >= n // 2:
                    citizen.active.clear()
                    citizen.generation += 1
                    segments.append((segment_start, len(api.send_log)))
                    await bot.kill(api)
                    outcome.kill_at = delivered
                    killed = True
                    await asyncio.sleep(0.5)
                    segment_start = len(api.send_log)
                    await bot.start(api)
                    citizen.active.set()
                # Read in a thread: a query on this loop would stall the server and skew its one-second windows.
                states = await asyncio.to_thread(db_states, db)
                if states and not states.get("pending") and not states.get("sending"):
                    if await asyncio.to_thread(campaign_status, db) == "done":
                        break
                if time.monotonic() > deadline:
                    outcome.failures.append(f"the campaign did not finish in time: {states}")
                    break
        finally:
            segments.append((segment_start, len(api.send_log)))
            chat_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await chat_task
            await bot.stop()
        gc.enable()
        gc.unfreeze()
        outcome.seconds = time.perf_counter() - started
        outcome.bot_cpu = bot.cpu
        outcome.own_cpu = time.process_time() - own_start
        outcome.latencies = citizen.latencies
        outcome.limited = api.limited
        outcome.limited_replies = sum(
            1 for r in api.requests if r.status == 429 and str(r.params.get("chat_id")) not in subscribers
        )
        log = api.send_log
        campaign_times: list[list[float]] = []
        all_times: list[list[float]] = []
        for begin, end in segments:
            part = log[begin:end]
            campaign_times.append([t for t, method, chat in part if chat in subscribers])
            all_times.append([t for t, _method, _chat in part])

        def rate(chunks: list[list[float]]) -> float:
            count = sum(max(0, len(c) - 1) for c in chunks if len(c) > 1)
            seconds = sum(c[-1] - c[0] for c in chunks if len(c) > 1)
            return count / seconds if seconds else 0.0

        outcome.rate = rate(campaign_times) / limit
        flat = sorted(t for chunk in campaign_times for t in chunk)
        if flat:
            seconds = Counter(int(t - flat[0]) for t in flat)
            outcome.timeline = [seconds.get(k, 0) for k in range(max(seconds) + 1)]
        # all traffic over the same spans as the campaign's sending
        spans = [(c[0], c[-1]) for c in campaign_times if len(c) > 1]
        in_spans = [[t for t in chunk if any(a <= t <= b for a, b in spans)] for chunk in all_times]
        outcome.all_rate = sum(len(c) for c in in_spans) / max(1e-9, sum(b - a for a, b in spans)) / limit
        per_chat = Counter(chat for _t, method, chat in log if chat in subscribers)
        outcome.duplicates = sum(1 for count in per_chat.values() if count > 1)
        with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
            keyring = Keyring(secret.encode())
            rows = conn.execute(
                "SELECT r.state, s.chat_key FROM outreach_recipients r JOIN outreach_subscribers s ON s.id = r.subscriber_id"
            ).fetchall()
        by_key = {keyring.outreach_key("telegram", p.id): str(p.id) for p in people}
        outcome.states = dict(Counter(state for state, _key in rows))
        accounted = {"unknown", "blocked", "failed", "skipped"}
        for state, key in rows:
            chat = by_key[key]
            got = per_chat.get(chat, 0)
            if state == "unknown":
                outcome.unknown += 1
                outcome.unknown_delivered += got > 0
            elif (state == "sent" and got == 0) or (got == 0 and state not in accounted):
                outcome.lost += 1
        if api.server_errors:
            outcome.failures.append(f"the fake server crashed: {api.server_errors[0]!r}")
        if "Traceback" in bot.log():
            outcome.failures.append("a traceback in the bot's log")
    return outcome


def describe(o: Outcome) -> str:
    p50, p99 = o.p(0.5) * 1000, o.p(0.99) * 1000
    kill = f" (killed at {o.kill_at:,})" if o.kill_at is not None else ""
    return (
        f"L={o.limit:<5} {o.scenario:<6}{kill}  rate/L {o.rate:.3f} (all traffic {o.all_rate:.3f})  "
        f"duplicates {o.duplicates}  lost {o.lost}  unknown {o.unknown} (of which delivered {o.unknown_delivered})  "
        f"429 {o.limited} ({o.limited_replies} on replies)  citizen {len(o.latencies)} answers p50 {p50:.0f} ms p99 {p99:.0f} ms  "
        f"states {o.states}  {o.seconds:.0f} s, CPU bot {o.bot_cpu:.0f} s, server+citizen {o.own_cpu:.0f} s"
    )


def verdict(o: Outcome) -> list[str]:
    missed = list(o.failures)
    if o.rate < 0.97:
        missed.append(f"rate/L {o.rate:.3f} < 0.97")
    if o.duplicates:
        missed.append(f"{o.duplicates} duplicates")
    if o.lost:
        missed.append(f"{o.lost} lost")
    if not o.latencies or o.p(0.99) >= 0.3:
        missed.append(f"citizen p99 {o.p(0.99) * 1000:.0f} ms >= 300 ms")
    return missed


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=20_000)
    parser.add_argument("--limits", type=int, nargs="+", default=[30, 1000])
    parser.add_argument("--only", choices=["normal", "crash"])
    parser.add_argument("--keep", action="store_true", help="keep the databases and bot logs")
    parser.add_argument("--timeline", action="store_true", help="also print campaign messages per second")
    args = parser.parse_args()
    print(machine())
    print(f"subscribers: {args.subscribers:,}  limits: {args.limits}  started {datetime.now(UTC):%Y-%m-%d %H:%M} UTC", flush=True)
    tmp = Path(tempfile.mkdtemp(prefix="tipline-broadcast-"))
    missed_any = False
    try:
        for limit in args.limits:
            for scenario in ("normal", "crash"):
                if args.only and scenario != args.only:
                    continue
                outcome = await run(limit, args.subscribers, scenario, tmp / f"L{limit}-{scenario}")
                print(describe(outcome), flush=True)
                if args.timeline:
                    print("    per second: " + " ".join(str(n) for n in outcome.timeline), flush=True)
                missed = verdict(outcome)
                for line in missed:
                    print(f"    MISSED: {line}", flush=True)
                missed_any |= bool(missed)
    finally:
        if args.keep or missed_any:
            print(f"kept in {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    print("targets: rate/L >= 0.97, duplicates 0, lost 0, citizen p99 < 300 ms: " + ("MISSED" if missed_any else "met"))
    return 1 if missed_any else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
