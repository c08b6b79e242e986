"""Throughput and per-step latency of complete reports, through Telegram and through the core alone.

Usage: .venv/bin/python bench/intake.py [--citizens N] [--mode both|telegram|core] [--cpu K] [--db PATH]
       (default N=200, both modes; ``--mode core --cpu 0``: the core's steps/s on one core)

N simulated citizens file one complete report each, all at once (``asyncio.gather``): /start, Report,
a category, an urgency, the province typed ("can tho", "Cần Thơ"), the commune typed ("ninh kieu",
"Ninh Kiều", "phuong ninh kieu"), an address, a description, Done, Skip or one photo and Done, Confirm,
and No to updates. Places are a seeded pick over ``directory()``, kept when what is typed has exactly
one exact match, so every walk has the same steps. Two modes, each on a fresh SQLite file:

* telegram: the real bot (PTB over HTTP, started as ``tests/harness.py``'s RunningBot) against the
  local Bot API server (``tests/botapi``), all in this process and event loop, as in the e2e tests;
* core: the same walks through ``core.citizens.handle("bench", chat_id, event)`` (presses are ``Pick``
  events with the reply's choice action), with an instant ``deliver`` callback as adapters pass one.
  ``steps/s`` is every citizen's steps over the run's wall time.

Latency of a step: ``time.perf_counter`` from the citizen's action to the arrival of its last answer
(a new message, or the pressed question edited into the next one).
Waiting is per citizen (the harness's ``settle()`` waits for every chat's updates, which would
serialise the citizens). Every step of this walk ends with exactly one message with buttons, the
next question; what comes before it (intro, receipt, "happening now" notice) has none. So a citizen
notes its chat's ``sent_log`` length, acts, and waits until a message with an inline keyboard appears
past that mark, or the message it pressed a button on is edited into a new question with buttons (an
answer of one message to a choice takes the question's place); then it checks the number of messages and that the keyboard offers the expected
action (``com:unknown`` after the province: the commune is asked, not a list of guesses) and presses
its next button on that message. One watcher task (``Arrivals``) sleeps on the server's change
notifier and stamps the arrival time; N citizens each calling ``api.changes.until`` would all wake on
every change of every chat (O(N^2) wake-ups, which at N=200 cost about as much CPU as the bot).
In core mode the answer is ``handle()``'s return value. Checked at the end: no flood notice, no
refusal (``api.refusals``), no handler error, no stray message, and exactly N tips in the database,
each with its citizen's description and commune.

Pacing: the service's clock is a FakeClock that each action advances by PACE seconds, as the
harness's ``Citizen`` does, so a citizen's ~13 events span minutes of the bot's time and the flood
limit (30 a minute per chat) cannot trip; in wall-clock time citizens act as soon as they are
answered (a worst case for the server).

"confirm" writes the tip (``synchronous=FULL``) with a passphrase whose scrypt hash (N=2^11, ~4 ms in its
own thread) was made ahead of time when one is in stock, and is its own row. Sessions are read from a cache
by pseudonym and written with group commit (many chats' steps in one transaction, one trip to SQLite's
thread and one sync), each step durable before its answer. ``--mode core --cpu 0`` runs every thread of
the process (event loop, SQLite, scrypt) on one CPU: the core's steps/s on one core.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import platform
import random
import re
import sqlite3
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # botapi, harness (pytest puts rootdir there for the tests)
os.environ.setdefault("PTB_TIMEDELTA", "1")  # as tests/conftest.py, before telegram is imported

from botapi import FakeBotApi  # noqa: E402
from botapi.world import snapshot  # noqa: E402
from harness import SECRET, FakeClock, RunningBot  # noqa: E402

from tipline.bootstrap import bootstrap  # noqa: E402
from tipline.citizen import conversation  # noqa: E402
from tipline.citizen.session import Session  # noqa: E402
from tipline.config import Settings  # noqa: E402
from tipline.events import Command, Media, Pick, Text  # noqa: E402
from tipline.places.communes import directory  # noqa: E402
from tipline.places.textnorm import fold  # noqa: E402
from tipline.tips import Category, Urgency  # noqa: E402

STEPS = ["start", "report", "category", "urgency", "province", "commune", "address",
         "description", "done", "photo", "evidence", "confirm", "optin"]  # fmt: skip
PACE = 2.0  # seconds of the bot's clock per citizen action
TIMEOUT = 60.0  # seconds a citizen waits for one answer before the run fails
FLOOD_TEXT = conversation.flood_notice(Session()).text
CODE = re.compile(r"TL-[2-9A-Z]{4}-[2-9A-Z]{4}")
DESCRIPTIONS = [
    "Có người bán ma túy đá ở quán nước đầu ngõ mỗi tối từ 21 giờ, đi xe máy màu đỏ.",
    "Nhóm thanh niên tụ tập sử dụng bóng cười tại quán karaoke vào cuối tuần.",
    "A house at the end of the alley receives packages every night; people come and go for minutes only.",
    "Tài khoản Facebook bán cần sa qua tin nhắn, giao hàng tận nơi, nhận chuyển khoản.",
]


@dataclass
class Plan:
    """What one citizen reports."""

    index: int
    category: str
    urgency: str
    province: str  # as typed
    commune: str  # as typed
    commune_code: int
    address: str
    description: str
    photo: bool


def exact(matches: list[Any], code: int, key: str) -> bool:
    """The intended place is the one exact match, so the bot picks it without asking."""
    scores = [m.score for m in matches] + [0.0]
    return bool(matches) and getattr(matches[0], key).code == code and scores[0] >= 0.999 > scores[1]


def make_plans(n: int, seed: int = 2025) -> list[Plan]:
    d, rng, plans = directory(), random.Random(seed), []
    while len(plans) < n:
        p = rng.choice(d.provinces())
        c = rng.choice(d.communes_in(p.code))
        style = len(plans) % 3
        province = p.short_name if style == 1 else fold(p.short_name)
        commune = [fold(c.short_name), c.short_name, f"{fold(c.kind)} {fold(c.short_name)}"][style]
        if not (exact(d.search_provinces(province), p.code, "province")
                and exact(d.search(commune, province_code=p.code, limit=6), c.code, "commune")):  # fmt: skip
            continue  # ~1% of communes share their name with a neighbour: the bot would ask which
        k = len(plans)
        plans.append(Plan(k, rng.choice(list(Category)).value, rng.choice(list(Urgency)).value, province, commune,
                          c.code, f"Hẻm {rng.randint(1, 300)}, gần chợ {c.short_name}",
                          f"{DESCRIPTIONS[k % len(DESCRIPTIONS)]} (bench #{k})", k % 2 == 0))  # fmt: skip
    return plans


def action_of(data: str) -> str:
    """'2s|7|cat:use' or '2m|menu:report' (Telegram callback data) -> 'cat:use', 'menu:report'."""
    return data.rpartition("|")[2]


@dataclass
class Citizen:
    """One walk; subclasses perform an action and return its answers as (text, [actions]) pairs."""

    plan: Plan
    clock: FakeClock
    latencies: dict[str, list[float]]
    seen: int = 0  # answers accounted for
    texts: list[str] = field(default_factory=list)  # every answer's text
    extra: list[str] = field(default_factory=list)  # answers beyond what the steps produce

    async def perform(self, kind: str, arg: str) -> tuple[list[tuple[str, list[str]]], float]:
        """Does one action; returns its answers and the perf_counter time the last one arrived."""
        raise NotImplementedError

    async def step(self, name: str, kind: str, arg: str, want: str, n: int = 1) -> None:
        """One action that must produce ``n`` answers, the last one offering the action ``want``."""
        self.clock.advance(seconds=PACE)
        t0 = time.perf_counter()
        answers, answered = await self.perform(kind, arg)
        self.latencies[name].append(answered - t0)
        self.seen += len(answers)
        self.texts += [text for text, _ in answers]
        leading = [text for text, _ in answers[: len(answers) - n]]  # answers the step does not produce
        # The one tolerated extra: the service re-sends a receipt it was not told was delivered.
        if want not in answers[-1][1] or len(answers) < n or not all(CODE.search(t) for t in leading):
            raise AssertionError(f"citizen {self.plan.index}, step {name}: expected {n} answer(s), the last "
                                 f"with a {want!r} button; got {[(t[:50], a) for t, a in answers]}")  # fmt: skip
        self.extra += leading

    async def walk(self) -> None:
        p = self.plan
        await self.step("start", "command", "start", "menu:report")
        await self.step("report", "press", "menu:report", "cat:trading", n=2)  # intro + first question
        await self.step("category", "press", f"cat:{p.category}", "urg:ongoing")
        await self.step("urgency", "press", f"urg:{p.urgency}", "page:1", n=2 if p.urgency == "now" else 1)
        await self.step("province", "say", p.province, "com:unknown")
        await self.step("commune", "say", p.commune, "next", n=2)  # "Place noted: ..." + the next question
        await self.step("address", "say", p.address, "back")
        await self.step("description", "say", p.description, "clear")
        await self.step("done", "press", "next", "next")
        if p.photo:
            await self.step("photo", "photo", "", "next")
        await self.step("evidence", "press", "next", "confirm")
        await self.step("confirm", "press", "confirm", "optin:no", n=2)  # receipt + opt-in question
        await self.step("optin", "press", "optin:no", "menu:report")


class Arrivals:
    """Resolves each waiting citizen's future when its answer reaches its chat: a new message with buttons,
    or the pressed message edited into the next question (its text changed and it has buttons)."""

    def __init__(self, api: FakeBotApi) -> None:
        self.api = api
        # chat id -> (chat record, sent_log entries seen, edit_log entries seen, (pressed id, its text) or None, future)
        self.waiting: dict[int, tuple[Any, int, int, tuple[int, str | None] | None, asyncio.Future[Any]]] = {}

    def expect(self, user: Any, pressed: dict[str, Any] | None) -> asyncio.Future[tuple[int | None, Any, float]]:
        """A result is (index in sent_log of the answer, or None; the edited pressed message, or None; time)."""
        future: asyncio.Future[tuple[int | None, Any, float]] = asyncio.get_running_loop().create_future()
        before = (pressed["message_id"], pressed.get("text")) if pressed is not None else None
        chat = user.chat
        self.waiting[user.chat_id] = (chat, len(chat.sent_log), len(chat.edit_log), before, future)
        return future

    def check(self) -> None:
        now = time.perf_counter()
        for chat_id, (chat, scanned, edits, pressed, future) in list(self.waiting.items()):
            log = chat.sent_log
            if future.done():
                del self.waiting[chat_id]
                continue
            if len(log) == scanned and len(chat.edit_log) == edits:
                continue  # nothing new in this chat
            result = None
            if pressed is not None and len(chat.edit_log) > edits:
                current = chat.messages.get(pressed[0])
                if current is not None and current.get("text") != pressed[1] and current.get("reply_markup"):
                    result = (None, snapshot(current), now)
            if result is None:
                found = next((i for i in range(scanned, len(log)) if log[i].get("reply_markup")), None)
                result = (found, None, now) if found is not None else None
            if result is None:
                self.waiting[chat_id] = (chat, len(log), len(chat.edit_log), pressed, future)
            else:
                del self.waiting[chat_id]
                future.set_result(result)

    async def run(self) -> None:
        while True:  # no await between check() and registering the next wait: no change is missed
            self.check()
            await self.api.changes.wait(3600)


class TelegramCitizen(Citizen):
    def __init__(self, plan: Plan, clock: FakeClock, latencies: dict[str, list[float]], api: FakeBotApi,
                 arrivals: Arrivals) -> None:  # fmt: skip
        super().__init__(plan, clock, latencies)
        self.arrivals = arrivals
        self.user = api.user(first_name=f"Dân{plan.index}", last_name="Nguyễn")
        self.last: dict[str, Any] | None = None  # the latest message with buttons
        self.sent = 0  # new messages among the answers (the rest were questions edited in place)

    async def perform(self, kind: str, arg: str) -> tuple[list[tuple[str, list[str]]], float]:
        log = self.user.chat.sent_log
        pressed = self.last if kind == "press" else None
        arrival = self.arrivals.expect(self.user, pressed)
        mark = len(log)
        if kind == "press":
            assert self.last is not None
            buttons = [b["callback_data"] for row in self.last["reply_markup"]["inline_keyboard"] for b in row]
            await self.user.press(self.last, next(b for b in buttons if action_of(b) == arg))
        elif kind == "photo":
            await self.user.send_photo(size=150_000)
        else:
            await self.user.send(f"/{arg}" if kind == "command" else arg)
        try:
            last, edited, answered = await asyncio.wait_for(arrival, TIMEOUT)
        except TimeoutError:
            raise AssertionError(f"citizen {self.plan.index}: no answer in {TIMEOUT}s to {kind} {arg!r}") from None
        new = log[mark : last + 1] if last is not None else []
        self.sent += len(new)
        messages = ([edited] if edited is not None else []) + new
        self.last = messages[-1]
        return [(m.get("text") or "", [action_of(b.get("callback_data", "")) for row in
                 (m.get("reply_markup") or {}).get("inline_keyboard", []) for b in row]) for m in messages], answered


class CoreCitizen(Citizen):
    def __init__(self, plan: Plan, clock: FakeClock, latencies: dict[str, list[float]], service: Any) -> None:
        super().__init__(plan, clock, latencies)
        self.service = service
        self.chat_id = 500_000_000 + plan.index
        self.last: list[Any] = []  # choices of the latest reply with choices

    async def perform(self, kind: str, arg: str) -> tuple[list[tuple[str, list[str]]], float]:
        if kind == "press":
            event: Any = Pick(next(c.action for c in self.last if c.action.name == arg))
        elif kind == "photo":
            event = Media("photo", f"bench-photo-{self.plan.index}", 150_000, "image/jpeg")
        else:
            event = Command(arg) if kind == "command" else Text(arg)
        answered = 0.0

        async def deliver(replies: list[Any]) -> None:  # the adapter's delivery, here instant
            nonlocal answered
            answered = time.perf_counter()

        replies = await self.service.handle("bench", self.chat_id, event, deliver)
        answered = answered or time.perf_counter()
        self.last = next((r.flat_choices for r in reversed(replies) if r.choices), self.last)
        return [(r.text, [c.action.name for c in r.flat_choices]) for r in replies] or [("", [])], answered


@dataclass
class Run:
    seconds: float
    latencies: dict[str, list[float]]


def check_database(db_path: Path, plans: list[Plan]) -> None:
    with sqlite3.connect(db_path) as db:
        rows = db.execute("SELECT description, commune_code FROM tips").fetchall()
        photos = db.execute("SELECT COUNT(*) FROM evidence WHERE kind = 'photo'").fetchone()[0]
    assert len(rows) == len(plans), f"{db_path.name}: {len(rows)} tips for {len(plans)} citizens"
    assert sorted(rows) == sorted((p.description, p.commune_code) for p in plans), "tips differ from what was typed"
    assert photos == sum(p.photo for p in plans), f"{photos} photos stored"


async def timed_walks(citizens: list[Citizen]) -> float:
    t0 = time.perf_counter()
    await asyncio.gather(*(c.walk() for c in citizens))
    seconds = time.perf_counter() - t0
    assert not any(t == FLOOD_TEXT for c in citizens for t in c.texts), "a flood notice was sent"
    extra = [t for c in citizens for t in c.extra]
    if extra:  # only re-sent receipts get here (see Citizen.step)
        print(f"  note: {len(extra)} unexpected answer(s) (re-sent receipts): {extra[0][:70]!r}...")
    return seconds


async def run_telegram(plans: list[Plan], db_path: Path) -> Run:
    latencies: dict[str, list[float]] = {s: [] for s in STEPS}
    async with FakeBotApi() as api:
        bot = RunningBot(api, db_path)
        await bot.start()
        try:
            arrivals = Arrivals(api)
            watcher = asyncio.create_task(arrivals.run())
            citizens = [TelegramCitizen(p, bot.clock, latencies, api, arrivals) for p in plans]
            try:
                seconds = await timed_walks(citizens)
            finally:
                watcher.cancel()
            await bot.settle(timeout=TIMEOUT)  # every update handled to the end, before counting
            for c in citizens:
                assert len(c.user.chat.sent_log) == c.sent, f"citizen {c.plan.index}: stray messages"
        finally:
            await bot.stop()
        assert not api.refusals, f"Telegram would have refused: {[str(r) for r in api.refusals[:3]]}"
        assert not bot.errors, f"handler errors: {bot.errors[:3]!r}"
    check_database(db_path, plans)
    return Run(seconds, latencies)


async def run_core(plans: list[Plan], db_path: Path) -> Run:
    latencies: dict[str, list[float]] = {s: [] for s in STEPS}
    clock = FakeClock()
    core = await bootstrap(Settings(tipline_db=db_path, tipline_secret_key=SECRET), clock=clock)
    try:
        seconds = await timed_walks([CoreCitizen(p, clock, latencies, core.citizens) for p in plans])
    finally:
        await core.close()
    check_database(db_path, plans)
    return Run(seconds, latencies)


def pct(values: list[float]) -> tuple[float, float]:
    """p50 and p99 in milliseconds (inclusive method: never outside the observed range)."""
    if len(values) < 2:
        return (values[0] * 1000,) * 2 if values else (float("nan"),) * 2
    q = statistics.quantiles(values, n=100, method="inclusive")
    return q[49] * 1000, q[98] * 1000


def report(runs: dict[str, Run], n: int) -> None:
    modes = list(runs)
    print(f"\n{'':12}" + "".join(f"{mode:>20}" for mode in modes))
    print(f"{'reports/s':12}" + "".join(f"{n / runs[m].seconds:>20.1f}" for m in modes))
    print(f"{'steps/s':12}" + "".join(f"{sum(map(len, runs[m].latencies.values())) / runs[m].seconds:>20.0f}" for m in modes))
    print(f"{'total s':12}" + "".join(f"{runs[m].seconds:>20.2f}" for m in modes))
    print(f"\n{'step (ms)':12}" + "".join(f"{'n':>5}{'p50':>9}{'p99':>9}" for _ in modes))
    for step in STEPS:
        row = ""
        for m in modes:
            p50, p99 = pct(runs[m].latencies[step])
            row += f"{len(runs[m].latencies[step]):>5}{p50:>9.1f}{p99:>9.1f}"
        print(f"{step:12}{row}")
    print("(n: steps timed)")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--citizens", type=int, default=200, help="concurrent citizens per mode (default 200)")
    parser.add_argument("--mode", choices=["both", "telegram", "core"], default="both", help="which modes to run")
    parser.add_argument("--cpu", type=int, help="run on this one CPU only (e.g. --cpu 0: the core's steps/s on one core)")
    parser.add_argument("--db", type=Path, help="database file; each mode uses a fresh sibling file "
                        "(PATH with -telegram / -core added); default: a temporary directory")  # fmt: skip
    args = parser.parse_args()
    if args.cpu is not None:
        os.sched_setaffinity(0, {args.cpu})  # every thread of this process: event loop, SQLite, scrypt
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"CPUs: {cpus} (of {os.cpu_count()})  Python {platform.python_version()} ({platform.machine()})  "
          f"SQLite {sqlite3.sqlite_version}  citizens: {args.citizens}")  # fmt: skip
    plans = make_plans(args.citizens)  # also builds the commune directory before any timing
    modes = ["telegram", "core"] if args.mode == "both" else [args.mode]
    runners = {"telegram": run_telegram, "core": run_core}
    runs: dict[str, Run] = {}
    with tempfile.TemporaryDirectory(prefix="tipline-bench-") as tmp:
        base = args.db or Path(tmp) / "tipline.sqlite3"
        paths = {mode: base.with_name(f"{base.stem}-{mode}{base.suffix}") for mode in modes}
        for path in paths.values():
            if path.exists():
                sys.exit(f"{path} exists; the benchmark needs a fresh database")
        print(f"databases: {base.parent} ({', '.join(p.name for p in paths.values())})")
        for mode in modes:
            gc.collect()  # the previous run's garbage (every request the server logged) is not this one's cost
            runs[mode] = await runners[mode](plans, paths[mode])
    report(runs, args.citizens)


if __name__ == "__main__":
    asyncio.run(main())
