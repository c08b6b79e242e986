"""Side by side: this project's bot and the textbook peer bot, each as its own process, under the same load.

Usage: .venv/bin/python bench/compare.py [--citizens 60 200] [--rounds 3] [--peer PATH] [--steps]

Why: the intake goal is at least twice the peer's throughput with a lower p99. ``bench/intake.py``
runs the bot inside the benchmark's event loop; here both bots run the way they are deployed, as
separate OS processes long polling a Bot API server over HTTP, so the comparison is fair and
includes everything a deployment pays for (process, HTTP stack, persistence).

* The server is ``tests/botapi`` (FakeBotApi), started in this process, fresh for every round.
* This bot: ``<this python> -m bot`` from the repository root, with TELEGRAM_BOT_TOKEN,
  TELEGRAM_API_BASE_URL, TELEGRAM_API_FILE_URL, TIPLINE_DB (a fresh file) and TIPLINE_SECRET_KEY.
* The peer: ``<this python> PATH`` (default ``../shared/peer/bot/__main__.py`` from the repository
  root, else ``/work/shared/peer/bot/__main__.py``) with TELEGRAM_BOT_TOKEN, TELEGRAM_API_BASE_URL
  and TIPLINE_DB. When it is absent the peer is skipped with a note: the project never needs it.

A round: a fresh server, a fresh bot process on a fresh database, wait until the bot has called
getUpdates and its CPU has settled (start-up is not measured, nor what it left running in the
background), then N citizens each file one complete report, all at once,
each acting as soon as it is answered (no think time: a worst case for the bot). Rounds alternate
(this, peer, this, peer, ...) so that slow drift of a shared machine hits both alike.

What a citizen does is one table per bot (``TIPLINE_FLOW``, ``PEER_FLOW``): when wording or callback
data change, that table is the one place to edit. Buttons are chosen by callback-data suffix, else by
label substring; no match, or more than one, fails with the buttons seen.

Figures: reports/s = completed reports / wall time of the round (first action to last answer).
Reaction = time from a citizen's action to the arrival of the bot's message that carries the next
question (for this bot the next message with buttons, or the pressed question edited into the next one,
"✓ <choice>" then the question; for the peer, whose prompts for typed answers have none, its next
message), over all steps of all citizens. One watcher task sleeps on the server's
change notifier and stamps arrivals: N citizens each waiting on the notifier would all wake on every
change (O(N^2) wake-ups, see bench/intake.py). The table gives the median over rounds of each round's
reports/s, p50 and p99. Each round's line also shows Bot API calls per report, the CPU the bot used
(from /proc, its worker processes included) and the CPU of this process (server and citizens: if it nears 100% of a core, the driver
is the bottleneck, not the bot) and the load average before the round (the machine may be shared);
``--steps`` adds p50/p99 per step and calls per report by method. ``run_round(..., on_ready=...)``
lets a profiler attach to the bot's pid after start-up.

Checked every round (any failure makes the exit status 1): every citizen got exactly one receipt
(a tip code TL-XXXX-XXXX) and the codes differ, no request the server refused (``api.refusals``), no
traceback in the bot's log, a clean exit on SIGINT, and for this bot exactly N tips in its SQLite
database. The peer's stored count (its pickle) is shown for information.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import gc
import os
import pickle
import platform
import re
import secrets
import shutil
import signal
import sqlite3
import statistics
import sys
import tempfile
import time
import unicodedata
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # botapi (pytest puts rootdir/tests there for the tests)

from botapi import FakeBotApi, SimUser  # noqa: E402
from botapi.world import snapshot  # noqa: E402

TIMEOUT = 60.0  # seconds a citizen waits for one answer before the round fails
READY_TIMEOUT = 60.0  # seconds a bot may take to start polling
RECEIPT = re.compile(r"\bTL-[0-9A-Z]{4}-[0-9A-Z]{4}\b")

# ------------------------------------------------------------------ what citizens do: edit here


@dataclass(frozen=True)
class Button:
    """Which button to choose: callback data ending with ``data``, else the label containing ``label``
    (case-insensitive). Both are templates filled from the citizen's plan (``{category}``)."""

    data: str = ""
    label: str = ""


@dataclass(frozen=True)
class Step:
    """One action: ``send`` a text (a template) or ``choose`` a button on the latest message with
    buttons. ``optional``: choose only if such a button is offered (else skip the step). ``answer``:
    what ends the step, "keyboard" (the next message with buttons) or "message" (the next message);
    None takes the flow's."""

    name: str
    send: str = ""
    choose: Button | None = None
    optional: bool = False
    answer: str | None = None


@dataclass(frozen=True)
class Flow:
    name: str
    answer: str  # the default end of a step (see Step.answer)
    variants: dict[str, tuple[str, ...]]  # values that differ per bot, spread over the citizens
    steps: tuple[Step, ...]


TIPLINE_FLOW = Flow(
    "tipline", answer="keyboard",  # every answer of this bot ends with the next question's buttons (a new
    # message, or the pressed question edited into the next one when the answer is a single message)
    variants={"category": ("trading", "use"), "urgency": ("now", "ongoing", "past")},
    steps=(
        Step("start", send="/start"),
        Step("report", choose=Button("menu:report", "Báo tin")),
        Step("category", choose=Button("cat:{category}")),
        Step("urgency", choose=Button("urg:{urgency}")),
        Step("province", send="{province_typed}"),
        Step("commune", send="{commune_typed}"),
        Step("commune list", choose=Button(label="{commune_label}"), optional=True),  # when several match
        Step("address", send="{address}"),
        Step("description", send="{description}"),
        Step("done", choose=Button("next", "Xong")),
        Step("evidence", choose=Button("next", "Bỏ qua")),
        Step("confirm", choose=Button("confirm", "Xác nhận")),  # receipt, then the updates question
        Step("updates", choose=Button("optin:no", "Không")),
    ),
)  # fmt: skip

PEER_FLOW = Flow(
    "peer", answer="message",  # one message per step; the prompts for typed answers have no buttons
    variants={"category": ("sell", "org"), "urgency": ("now", "ongoing", "past")},
    steps=(
        Step("start", send="/start"),
        Step("report", choose=Button("report", "Báo tin")),
        Step("category", choose=Button("c:{category}")),
        Step("urgency", choose=Button("u:{urgency}")),
        Step("province", choose=Button(label="{province_label}")),
        Step("commune", send="{commune_typed}"),
        Step("commune list", choose=Button(label="{commune_label}")),
        Step("address", send="{address}"),
        Step("description", send="{description}"),
        Step("done", choose=Button("done", "Xong")),
        Step("confirm", choose=Button("ok", "Xác nhận")),  # the receipt
    ),
)  # fmt: skip

# Places both bots know (the peer knows communes in three provinces, all on its first page).
# (province as typed, province label, commune as typed, label of the commune to choose if a list comes)
PLACES = (
    ("ha noi", "Hà Nội", "hoan kiem", "Hoàn Kiếm"),
    ("Hà Nội", "Hà Nội", "cua nam", "Cửa Nam"),
    ("nghe an", "Nghệ An", "vinh", "Vinh Phú"),  # several communes match: both bots offer a list
    ("Nghệ An", "Nghệ An", "vinh hung", "Vinh Hưng"),
    ("can tho", "Cần Thơ", "ninh kieu", "Ninh Kiều"),
    ("Cần Thơ", "Cần Thơ", "cai khe", "Cái Khế"),
)
DESCRIPTIONS = (
    "Có người bán ma túy đá ở quán nước đầu ngõ mỗi tối từ 21 giờ, đi xe máy màu đỏ.",
    "Nhóm thanh niên tụ tập sử dụng bóng cười tại quán karaoke vào cuối tuần.",
    "Một căn nhà cuối hẻm nhận hàng mỗi đêm, người lạ ra vào chỉ vài phút rồi đi.",
    "Tài khoản Facebook bán cần sa qua tin nhắn, giao hàng tận nơi, nhận chuyển khoản.",
)


def plan(flow: Flow, index: int) -> dict[str, str]:
    """What citizen ``index`` types and chooses (the same places and texts for both bots)."""
    province_typed, province_label, commune_typed, commune_label = PLACES[index % len(PLACES)]
    values = {
        "province_typed": province_typed, "province_label": province_label,
        "commune_typed": commune_typed, "commune_label": commune_label,
        "address": f"Hẻm {index % 300 + 1}, gần chợ",
        "description": f"{DESCRIPTIONS[index % len(DESCRIPTIONS)]} (#{index})",
    }  # fmt: skip
    for k, (name, options) in enumerate(sorted(flow.variants.items())):
        values[name] = options[(index // (k + 1)) % len(options)]
    return values


# ----------------------------------------------------------------------------------- driving


def _norm(text: str) -> str:
    return unicodedata.normalize("NFC", text).casefold()


def buttons_of(message: dict[str, Any] | None) -> list[tuple[str, str]]:
    """(label, callback data) of a message's inline keyboard."""
    rows = ((message or {}).get("reply_markup") or {}).get("inline_keyboard") or []
    return [(b.get("text", ""), b.get("callback_data", "")) for row in rows for b in row]


def find_button(message: dict[str, Any] | None, want: Button, values: dict[str, str]) -> list[str]:
    """The callback data of the buttons that match: by data suffix if exactly one does, else by label."""
    buttons = buttons_of(message)
    data, label = want.data.format(**values), _norm(want.label.format(**values))
    by_data = [d for _, d in buttons if data and d.endswith(data)]
    if len(by_data) == 1 or not label:
        return by_data
    return [d for t, d in buttons if label in _norm(t)]


class StepFailed(AssertionError):
    pass


@dataclass
class Wait:
    chat: Any  # the server's ChatRecord: sent_log (new messages), edit_log and messages (their latest state)
    scanned: int  # sent_log entries already looked at
    edits: int  # edit_log entries already looked at
    pressed: tuple[int, str | None] | None  # the message a button was pressed on, and its text then
    keyboard: bool
    future: asyncio.Future[Answer]


@dataclass
class Answer:
    found: int | None  # index in sent_log of the message that ends the step, or None: the pressed message
    edited: dict[str, Any] | None  # the pressed message, when the bot wrote its answer in its place
    at: float  # perf_counter time the answer arrived


class Watcher:
    """Resolves each waiting citizen's future when its answer reaches its chat: one task sleeping on
    the server's change notifier, looking only at the chats whose message or edit log grew.

    An answer is a new message, or the pressed message edited into the next question (its text changed:
    an edit that only removes buttons is not one)."""

    def __init__(self, api: FakeBotApi) -> None:
        self.api = api
        self.waiting: dict[int, Wait] = {}

    def expect(self, user: SimUser, keyboard: bool, pressed: dict[str, Any] | None = None) -> asyncio.Future[Answer]:
        future: asyncio.Future[Answer] = asyncio.get_running_loop().create_future()
        chat = user.chat
        before = (pressed["message_id"], pressed.get("text")) if pressed is not None else None
        self.waiting[user.chat_id] = Wait(chat, len(chat.sent_log), len(chat.edit_log), before, keyboard, future)
        return future

    def check(self) -> None:
        now = time.perf_counter()
        for chat_id, wait in list(self.waiting.items()):
            if wait.future.done():  # timed out
                del self.waiting[chat_id]
                continue
            log, edits = wait.chat.sent_log, wait.chat.edit_log
            if len(log) == wait.scanned and len(edits) == wait.edits:
                continue
            answer = None
            if len(edits) > wait.edits and wait.pressed is not None:
                current = wait.chat.messages.get(wait.pressed[0])
                if current is not None and current.get("text") != wait.pressed[1] and (
                    not wait.keyboard or buttons_of(current)
                ):
                    answer = Answer(None, snapshot(current), now)
            if answer is None:
                new = range(wait.scanned, len(log))
                found = next((i for i in new if not wait.keyboard or buttons_of(log[i])), None)
                if found is not None:
                    answer = Answer(found, None, now)
            if answer is None:
                wait.scanned, wait.edits = len(log), len(edits)
            else:
                del self.waiting[chat_id]
                wait.future.set_result(answer)

    async def run(self) -> None:
        while True:  # no await between check() and the next wait: no change is missed
            self.check()
            await self.api.changes.wait(3600)


@dataclass
class Walk:
    reactions: list[tuple[str, float]] = field(default_factory=list)  # (step, seconds)
    receipts: list[str] = field(default_factory=list)
    finished: float = 0.0  # perf_counter time of the last answer


async def walk(flow: Flow, index: int, user: SimUser, watcher: Watcher) -> Walk:
    """One citizen's complete report; raises StepFailed with what the bot said when a step goes wrong."""
    values, result = plan(flow, index), Walk()
    log = user.chat.sent_log
    board: dict[str, Any] | None = None  # the latest message with buttons
    for step in flow.steps:
        data = ""
        if step.choose is not None:
            matches = find_button(board, step.choose, values)
            if len(matches) != 1 and not (step.optional and not matches):
                seen = ", ".join(f"{t!r}={d!r}" for t, d in buttons_of(board)) or "none"
                raise StepFailed(f"{flow.name} citizen {index}, step {step.name!r}: {len(matches)} buttons match "
                                 f"{step.choose} with {values}; buttons seen: {seen}")  # fmt: skip
            if not matches:
                continue
            data = matches[0]
        mark = len(log)
        pressed = board if data else None
        arrival = watcher.expect(user, (step.answer or flow.answer) == "keyboard", pressed)
        t0 = time.perf_counter()
        if data:
            assert board is not None
            await user.press(board["message_id"], data)
        else:
            await user.send(step.send.format(**values))
        try:
            answer = await asyncio.wait_for(arrival, TIMEOUT)
        except TimeoutError:
            texts = [(m.get("text") or "")[:60] for m in log[mark:]]
            raise StepFailed(f"{flow.name} citizen {index}, step {step.name!r}: no answer within {TIMEOUT:.0f}s; "
                             f"messages since the action: {texts}") from None  # fmt: skip
        result.reactions.append((step.name, answer.at - t0))
        result.finished = answer.at
        arrived = log[mark : answer.found + 1] if answer.found is not None else []
        for message in ([answer.edited] if answer.edited is not None else []) + arrived:
            result.receipts += RECEIPT.findall(message.get("text") or "")
            if buttons_of(message):
                board = message
    return result


# ------------------------------------------------------------------------------- bot processes


def _clean_env() -> dict[str, str]:
    """This environment without settings a bot would read (an operator's TIPLINE_ADMIN_IDS ...)."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("TIPLINE_", "TELEGRAM_"))}


@dataclass
class Contender:
    """A bot under test: how to start it, and how many reports it stored."""

    flow: Flow
    command: Callable[[FakeBotApi, Path], tuple[list[str], dict[str, str], Path]]  # argv, env, cwd
    stored: Callable[[Path], int | None]  # reports in its database after it stopped
    checks_stored: bool  # a stored count other than N fails the round


def tipline_command(api: FakeBotApi, workdir: Path) -> tuple[list[str], dict[str, str], Path]:
    env = {**_clean_env(), "TELEGRAM_BOT_TOKEN": api.token, "TELEGRAM_API_BASE_URL": api.base_url,
           "TELEGRAM_API_FILE_URL": api.base_file_url, "TIPLINE_DB": str(workdir / "tipline.sqlite3"),
           "TIPLINE_SECRET_KEY": secrets.token_hex(32)}  # fmt: skip
    return [sys.executable, "-m", "bot"], env, ROOT


def tipline_stored(workdir: Path) -> int | None:
    with contextlib.closing(sqlite3.connect(workdir / "tipline.sqlite3")) as db:
        return int(db.execute("SELECT COUNT(*) FROM tips").fetchone()[0])


def peer_command(path: Path) -> Callable[[FakeBotApi, Path], tuple[list[str], dict[str, str], Path]]:
    def command(api: FakeBotApi, workdir: Path) -> tuple[list[str], dict[str, str], Path]:
        env = {**_clean_env(), "TELEGRAM_BOT_TOKEN": api.token, "TELEGRAM_API_BASE_URL": api.base_url,
               "TIPLINE_DB": str(workdir / "peer")}  # fmt: skip
        return [sys.executable, str(path)], env, workdir

    return command


def peer_stored(workdir: Path) -> int | None:
    """Tips in the peer's PicklePersistence file (written when it stops), or None if unreadable."""
    try:
        with open(workdir / "peer.pickle", "rb") as f:  # our own child's file
            return len(pickle.load(f).get("bot_data", {}).get("tips", {}))
    except Exception:
        return None


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a running process and of the processes it started that are running (a
    worker process of the bot's counts as the bot's), from Linux /proc, or None."""
    stats: dict[int, list[str]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stats[int(entry.name)] = (entry / "stat").read_text().rpartition(")")[2].split()
            except OSError:
                continue  # gone meanwhile
    if pid not in stats:
        return None
    family, found = {pid}, True
    while found:
        found = False
        for other, fields in stats.items():
            if other not in family and int(fields[1]) in family:  # fields[1]: the parent's pid
                family.add(other)
                found = True
    try:
        return sum(int(stats[p][11]) + int(stats[p][12]) for p in family) / os.sysconf("SC_CLK_TCK")
    except (ValueError, IndexError):
        return None


class BotProcess:
    def __init__(self, process: asyncio.subprocess.Process, log_path: Path) -> None:
        self.process = process
        self.log_path = log_path

    @classmethod
    async def start(cls, contender: Contender, api: FakeBotApi, workdir: Path) -> BotProcess:
        argv, env, cwd = contender.command(api, workdir)
        log_path = workdir / "bot.log"
        with open(log_path, "wb") as log:
            process = await asyncio.create_subprocess_exec(*argv, cwd=cwd, env=env, stdin=asyncio.subprocess.DEVNULL,
                                                           stdout=log, stderr=asyncio.subprocess.STDOUT)  # fmt: skip
        return cls(process, log_path)

    @property
    def pid(self) -> int:
        return self.process.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    async def ready(self, api: FakeBotApi) -> None:
        """Returns once the bot's first getUpdates is waiting at the server (a long poll in progress:
        the server's ``_poller``; a finished request would only be logged at the end of the poll)."""
        deadline = time.monotonic() + READY_TIMEOUT
        while api._poller is None:
            if self.process.returncode is not None:
                raise StepFailed(f"the bot exited with {self.process.returncode} at start-up:\n{self.log()[-2000:]}")
            if time.monotonic() > deadline:
                raise StepFailed(f"the bot did not poll within {READY_TIMEOUT:.0f}s:\n{self.log()[-2000:]}")
            await asyncio.sleep(0.01)

    async def settled(self) -> None:
        """Returns once the bot has finished what it does in the background at start-up (it used less than
        5% of a core over a tenth of a second), so that a round measures a bot already running, as a
        burst finds it, not the end of its start-up: this bot hashes its stock of passphrases then."""
        deadline = time.monotonic() + READY_TIMEOUT
        before = cpu_seconds(self.pid)
        while time.monotonic() < deadline:
            await asyncio.sleep(0.1)
            after = cpu_seconds(self.pid)
            if before is None or after is None or after - before < 0.005:
                return
            before = after

    async def stop(self) -> int:
        """SIGINT, as Ctrl-C or a platform's stop does; killed if it does not exit within 30 s."""
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGINT)
            try:
                await asyncio.wait_for(self.process.wait(), 30)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()
                return -9
        return self.process.returncode or 0


# ------------------------------------------------------------------------------------ rounds


@dataclass
class Round:
    bot: str
    n: int
    seconds: float = float("nan")
    completed: int = 0
    reactions: list[tuple[str, float]] = field(default_factory=list)
    receipts: int = 0
    stored: int | None = None
    refusals: int = 0
    calls: collections.Counter[str] = field(default_factory=collections.Counter)  # Bot API calls by method
    bot_cpu: float | None = None  # CPU seconds of the bot during the round
    own_cpu: float = 0.0  # CPU seconds of this process (server and citizens) during the round
    load: float = field(default_factory=lambda: os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan"))
    failures: list[str] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.completed / self.seconds if self.seconds > 0 else float("nan")


def percentiles(values: Sequence[float]) -> tuple[float, float]:
    """p50 and p99 in milliseconds (inclusive method: never outside the observed range)."""
    if len(values) < 2:
        return (values[0] * 1000,) * 2 if values else (float("nan"),) * 2
    q = statistics.quantiles(values, n=100, method="inclusive")
    return q[49] * 1000, q[98] * 1000


OnReady = Callable[[int], Awaitable[None]]


async def run_round(contender: Contender, n: int, workdir: Path, on_ready: OnReady | None = None) -> Round:
    """One bot process on a fresh server and database, N citizens at once. ``on_ready(pid)`` runs
    after start-up and before the citizens (a profiler attaching, say)."""
    result = Round(contender.flow.name, n)
    workdir.mkdir(parents=True)
    async with FakeBotApi() as api:
        users = [api.user(first_name=f"Dân {i}", last_name="Nguyễn", language_code="vi") for i in range(n)]
        bot = await BotProcess.start(contender, api, workdir)
        watcher = Watcher(api)
        watching = asyncio.create_task(watcher.run())
        try:
            await bot.ready(api)
            await bot.settled()
            if on_ready is not None:
                await on_ready(bot.pid)
            cpu0, own0, t0 = cpu_seconds(bot.pid), time.process_time(), time.perf_counter()
            walks = await asyncio.gather(*(walk(contender.flow, i, u, watcher) for i, u in enumerate(users)),
                                         return_exceptions=True)  # fmt: skip
            cpu1, own1 = cpu_seconds(bot.pid), time.process_time()
            done = [w for w in walks if isinstance(w, Walk)]
            result.failures += [str(w) for w in walks if isinstance(w, BaseException)]
            result.completed = len(done)
            result.seconds = max((w.finished for w in done), default=t0) - t0
            result.bot_cpu = cpu1 - cpu0 if cpu0 is not None and cpu1 is not None else None
            result.own_cpu = own1 - own0
            result.reactions = [r for w in done for r in w.reactions]
            codes = [w.receipts for w in done]
            result.receipts = sum(len(c) == 1 for c in codes)
            if result.receipts < n:
                result.failures.append(f"{n - result.receipts} citizen(s) without exactly one receipt code")
            if len({c for cs in codes for c in cs}) != sum(map(len, codes)):
                result.failures.append("two citizens got the same tip code")
        except StepFailed as exc:
            result.failures.append(str(exc))
        finally:
            watching.cancel()
            status = await bot.stop()
        if status != 0:
            result.failures.append(f"the bot exited with status {status} on SIGINT")
        if "Traceback" in bot.log():
            tail = bot.log()[bot.log().index("Traceback") :][:1500]
            result.failures.append(f"a traceback in the bot's log ({bot.log_path}):\n{tail}")
        result.refusals = len(api.refusals)
        result.calls.update(r.method for r in api.requests)
        result.failures += [f"refused: {r}" for r in api.refusals[:3]]
    result.stored = contender.stored(workdir)
    if contender.checks_stored and result.stored != n:
        result.failures.append(f"{result.stored} reports stored for {n} citizens")
    return result


def describe(r: Round) -> str:
    p50, p99 = percentiles([s for _, s in r.reactions])
    cpu = (f"{r.bot_cpu / r.seconds:.0%} ({1000 * r.bot_cpu / max(1, r.completed):.0f} ms/report)"
           if r.bot_cpu is not None and r.seconds > 0 else "?")
    return (f"{r.bot:8} {r.completed:4}/{r.n} reports in {r.seconds:6.2f} s = {r.rate:6.1f}/s   reaction p50 "
            f"{p50:6.1f} ms  p99 {p99:7.1f} ms   receipts {r.receipts}, stored {r.stored}, refusals {r.refusals}   "
            f"API calls/report {r.calls.total() / r.n:.1f}   "
            f"CPU bot {cpu}, server+citizens {r.own_cpu / r.seconds if r.seconds > 0 else 0:.0%}, "
            f"load before {r.load:.1f}")  # fmt: skip


def summary(rounds: list[Round], n: int, contenders: dict[str, Contender], steps: bool) -> None:
    ok = {name: [r for r in rounds if r.bot == name and not r.failures] for name in contenders}
    print(f"\nN = {n} citizens: median over rounds ({', '.join(f'{k}: {len(v)}' for k, v in ok.items())} good)")
    print(f"{'bot':14}{'reports/s':>12}{'reaction p50':>16}{'reaction p99':>16}")
    figures: dict[str, tuple[float, float, float]] = {}
    for name, good in ok.items():
        if not good:
            print(f"{name:14}{'(no good round)':>44}")
            continue
        ps = [percentiles([s for _, s in r.reactions]) for r in good]
        figures[name] = (statistics.median(r.rate for r in good), statistics.median(p[0] for p in ps),
                         statistics.median(p[1] for p in ps))  # fmt: skip
        rate, p50, p99 = figures[name]
        print(f"{name:14}{rate:>12.1f}{p50:>13.1f} ms{p99:>13.1f} ms")
    if "tipline" in figures and "peer" in figures:
        (a, _, a99), (b, _, b99) = figures["tipline"], figures["peer"]
        print(f"{'tipline/peer':14}{a / b:>11.2f}x{'':>16}{a99 / b99:>15.2f}x   (goal: >= 2x reports/s, < 1x p99)")
    if steps:
        for name, good in ok.items():
            per: dict[str, list[float]] = {s.name: [] for s in contenders[name].flow.steps}
            for r in good:
                for step, s in r.reactions:
                    per.setdefault(step, []).append(s)
            print(f"  {name} per step, all good rounds (p50 / p99 ms): " + ", ".join(
                f"{step} {percentiles(v)[0]:.0f}/{percentiles(v)[1]:.0f}" for step, v in per.items() if v))  # fmt: skip
            calls = sum((r.calls for r in good), collections.Counter[str]())
            reports = sum(r.n for r in good)
            print(f"  {name} Bot API calls per report: " + ", ".join(
                f"{method} {count / reports:.1f}" for method, count in calls.most_common()))  # fmt: skip


def find_peer(explicit: Path | None) -> Path | None:
    if explicit is not None:
        return explicit if explicit.is_file() else None
    candidates = [ROOT.parent / "shared/peer/bot/__main__.py", Path("/work/shared/peer/bot/__main__.py")]
    return next((p for p in candidates if p.is_file()), None)


def machine() -> str:
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    load = " load {:.1f} {:.1f} {:.1f}".format(*os.getloadavg()) if hasattr(os, "getloadavg") else ""
    return (f"CPUs: {cpus} usable (of {os.cpu_count()}){load}  Python {platform.python_version()} "
            f"({platform.python_implementation()}, {platform.machine()})  SQLite {sqlite3.sqlite_version}  "
            f"{platform.system()} {platform.release()}")  # fmt: skip


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--citizens", type=int, nargs="+", default=[60, 200], help="N per table (default 60 200)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per bot and N (default 3)")
    parser.add_argument("--peer", type=Path, help="the peer's bot/__main__.py (default: found in ../shared)")
    parser.add_argument("--only", choices=["tipline", "peer"], help="run one bot only")
    parser.add_argument("--steps", action="store_true", help="also print p50/p99 per step")
    parser.add_argument("--keep", action="store_true", help="keep the rounds' directories (databases, bot logs)")
    args = parser.parse_args()

    contenders = {"tipline": Contender(TIPLINE_FLOW, tipline_command, tipline_stored, checks_stored=True)}
    peer = find_peer(args.peer)
    if peer is None:
        print(f"note: the peer ({args.peer or '../shared/peer/bot/__main__.py'}) is absent; running this bot only")
    else:
        contenders["peer"] = Contender(PEER_FLOW, peer_command(peer), peer_stored, checks_stored=False)
    if args.only:
        contenders = {k: v for k, v in contenders.items() if k == args.only}
    print(machine())
    print(f"bots: {', '.join(contenders)}{f' (peer: {peer})' if 'peer' in contenders else ''}  "
          f"citizens: {args.citizens}  rounds: {args.rounds}")  # fmt: skip

    tmp = Path(tempfile.mkdtemp(prefix="tipline-compare-"))
    failed = False
    try:
        for n in args.citizens:
            rounds: list[Round] = []
            for k in range(args.rounds):
                for name, contender in contenders.items():
                    gc.collect()  # the previous round's garbage (every request the server logged) is not this one's
                    r = await run_round(contender, n, tmp / f"n{n}-round{k + 1}-{name}")
                    rounds.append(r)
                    print(f"  N={n} round {k + 1}: {describe(r)}", flush=True)
                    for failure in r.failures[:5]:
                        print(f"    FAILED: {failure}")
                    failed |= bool(r.failures)
            summary(rounds, n, contenders, args.steps)
    finally:
        if args.keep or failed:
            print(f"\nrounds kept in {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    print("\ncorrectness: " + ("FAILED (see above)" if failed else
          "every citizen got one receipt, no refusals, no tracebacks, tips stored = N (this bot)"))  # fmt: skip
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
