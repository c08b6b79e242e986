"""Scale-out: updates/s and reaction p99 with 1, 2 and 4 webhook workers on PostgreSQL, against one process on
SQLite, under the same load.

Usage: .venv/bin/python bench/scale.py [--citizens 200] [--rounds 2] [--workers 1 2 4] [--postgres URL] [--keep]

The load: N citizens at once, each filing one complete report (``bench/compare.py``'s ``TIPLINE_FLOW``: /start,
the menu, category, urgency, province, commune, address, description, Xong, Bỏ qua, confirm, the updates
question), each acting as soon as the bot answered (no think time). Every action is a Telegram update that a
pump posts to the webhook port, as Telegram would (up to 40 connections, each update once, a failed post
retried); the bot's answers arrive at the local Bot API server (tests/botapi) in this process.

The bots run as deployed (``<this python> -m bot``, TIPLINE_MODE=webhook):

* sqlite: one process with its background loops, on a fresh SQLite file;
* postgresql xK: K web workers sharing the port (SO_REUSEPORT: the kernel spreads connections among them) with
  TIPLINE_BACKGROUND=0, plus one ``tipline-worker`` for the outbox and the other loops, on a fresh database
  of the server given with --postgres (default: TIPLINE_TEST_POSTGRES). Without a server only SQLite runs.

Figures, per configuration (median over rounds): updates/s = updates posted / wall time of the round (first
action to last answer); reaction p50 / p99 = a citizen's action to the bot's next question; the CPU, in cores,
of the bot's processes (all of them), of the PostgreSQL server (its ``postgres`` processes on this machine),
and of this process (server, pump and citizens: near one core, it is the bottleneck, not the bot); and how busy
the machine's cores were (any process: on a shared machine, others' work shows there too). Checked every round (exit status 1 otherwise): every citizen got one
receipt, the codes differ, N tips stored, no request the server refused, no traceback in the bots' logs.

``WebCluster``, ``Pump`` and ``run_load`` are also what ``tests/test_workers.py`` drives its workers with.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import os
import shutil
import signal
import socket
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # botapi
sys.path.insert(0, str(ROOT / "bench"))  # compare: the citizens' flow and the walk

import compare  # noqa: E402
from botapi import FakeBotApi  # noqa: E402

from bot.web.app import TELEGRAM_SECRET_HEADER, telegram_path_secret  # noqa: E402

SECRET = "scale-secret-" + "Qw8eR4tY2uI6oP0aS3dF7gH1jK5lZ9x"
WEBHOOK_SECRET = "scale-telegram-webhook-secret-0123"
PUBLIC = "https://tipline.example.org"  # what Telegram is told; the pump posts to the local port
MODERATORS = -1001000000001
READY_TIMEOUT = 60.0
CONNECTIONS = 40  # Telegram's default max_connections for a webhook


def postgres_cpu() -> float:
    """CPU seconds of the PostgreSQL server's processes on this machine (their command name is ``postgres``);
    meaningful when the server is local and serves only this benchmark."""
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        if text[text.find("(") + 1 : text.rfind(")")] == "postgres":
            fields = text.rpartition(")")[2].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def machine_busy() -> tuple[float, float]:
    """CPU seconds all cores spent busy and in total so far (/proc/stat), to see how saturated the machine was."""
    fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:9]]
    idle = fields[3] + fields[4]
    return (sum(fields) - idle) / os.sysconf("SC_CLK_TCK"), sum(fields) / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# ------------------------------------------------------------------------------------------- databases


@dataclass
class Database:
    """Where a round's bots keep their data: a fresh SQLite file, or a fresh database on a PostgreSQL server."""

    kind: str  # "sqlite" | "postgresql"
    path: Path  # the SQLite file (also named for PostgreSQL, never created there)
    url: str | None = None

    @classmethod
    async def fresh(cls, folder: Path, server: str | None) -> Database:
        path = folder / "tipline.sqlite3"
        if server is None:
            return cls("sqlite", path)
        import asyncpg

        name = "scale_" + hashlib.sha256(str(folder).encode()).hexdigest()[:16]
        admin = await asyncpg.connect(server)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await admin.execute(f'CREATE DATABASE "{name}"')
        finally:
            await admin.close()
        return cls("postgresql", path, f"{server.rsplit('/', 1)[0]}/{name}")

    async def drop(self, server: str | None) -> None:
        if self.url is None or server is None:
            return
        import asyncpg

        admin = await asyncpg.connect(server)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{self.url.rsplit("/", 1)[1]}" WITH (FORCE)')
        finally:
            await admin.close()

    def env(self) -> dict[str, str]:
        env = {"TIPLINE_DB": str(self.path)}
        if self.url is not None:
            env["TIPLINE_DATABASE_URL"] = self.url
        return env

    async def open(self) -> Any:
        """The storage, to read what the bots stored (the caller closes it)."""
        if self.url is None:
            from tipline.storage.sqlite.store import SqliteStorage

            return await SqliteStorage.open(self.path)
        from tipline.storage.postgres.store import PgStorage

        return await PgStorage.open(self.url, max_size=4)


# --------------------------------------------------------------------------------------------- the bots


def clean_env() -> dict[str, str]:
    """This environment without settings a bot would read."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("TIPLINE_", "TELEGRAM_", "ZALO_"))}


@dataclass
class Process:
    name: str
    process: asyncio.subprocess.Process
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def cpu(self) -> float:
        return compare.cpu_seconds(self.process.pid) or 0.0


class WebCluster:
    """K webhook workers (``python -m bot``) on one port, and on PostgreSQL a ``tipline-worker`` beside them."""

    def __init__(self, api: FakeBotApi, database: Database, workers: int, folder: Path, **env: str) -> None:
        self.api, self.database, self.workers, self.folder = api, database, workers, folder
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.extra = env
        self.web: list[Process] = []
        self.background: list[Process] = []

    def env(self, **more: str) -> dict[str, str]:
        return {
            **clean_env(), **self.database.env(), "TIPLINE_SECRET_KEY": SECRET,
            "TELEGRAM_BOT_TOKEN": self.api.token, "TELEGRAM_API_BASE_URL": self.api.base_url,
            "TELEGRAM_API_FILE_URL": self.api.base_file_url, "TELEGRAM_WEBHOOK_SECRET": WEBHOOK_SECRET,
            "TIPLINE_MODE": "webhook", "TIPLINE_PUBLIC_URL": PUBLIC, "TIPLINE_LISTEN": f"127.0.0.1:{self.port}",
            "TIPLINE_MODERATOR_CHAT_ID": str(MODERATORS), **self.extra, **more,
        }  # fmt: skip

    async def _spawn(self, name: str, argv: list[str], env: dict[str, str]) -> Process:
        log_path = self.folder / f"{name}.log"
        with open(log_path, "wb") as log:
            process = await asyncio.create_subprocess_exec(
                *argv, cwd=ROOT, env=env, stdin=asyncio.subprocess.DEVNULL, stdout=log, stderr=asyncio.subprocess.STDOUT,
            )
        return Process(name, process, log_path)

    async def start(self) -> None:
        separate = self.database.kind == "postgresql"
        registered = len(self.api.calls("setWebhook"))
        for k in range(self.workers):
            env = self.env(TIPLINE_BACKGROUND="0" if separate else "1")
            self.web.append(await self._spawn(f"web{k + 1}", [sys.executable, "-m", "bot"], env))
        if separate:
            await self.start_background()
        deadline = time.monotonic() + READY_TIMEOUT
        async with httpx.AsyncClient(timeout=5) as http:
            while True:
                for p in self.web + self.background:
                    if p.process.returncode is not None:
                        raise RuntimeError(f"{p.name} exited at start-up:\n{p.log()[-2000:]}")
                if len(self.api.calls("setWebhook")) - registered >= self.workers:
                    with contextlib.suppress(httpx.TransportError):
                        if (await http.get(f"{self.url}/healthz")).status_code == 200:
                            return
                if time.monotonic() > deadline:
                    raise RuntimeError("the workers did not start in time:\n" + "\n".join(p.log()[-1000:] for p in self.web))
                await asyncio.sleep(0.05)

    async def start_background(self, **more: str) -> Process:
        """Another ``tipline-worker`` (the outbox, deadlines, purges)."""
        name = f"worker{len(self.background) + 1}"
        process = await self._spawn(name, [sys.executable, "-m", "bot.worker"], self.env(**more))
        self.background.append(process)
        return process

    def processes(self) -> list[Process]:
        return self.web + self.background

    def cpu(self) -> float:
        return sum(p.cpu() for p in self.processes())

    async def stop(self) -> list[str]:
        """SIGINT to every process still running; returns what went wrong (exit status, tracebacks)."""
        problems = []
        for p in self.processes():
            if p.process.returncode is None:
                p.process.send_signal(signal.SIGINT)
        for p in self.processes():
            try:
                status = await asyncio.wait_for(p.process.wait(), 30)
            except TimeoutError:
                p.process.kill()
                status = await p.process.wait()
            if status not in (0, -signal.SIGKILL):
                problems.append(f"{p.name} exited with status {status}")
            if "Traceback" in p.log():
                problems.append(f"a traceback in {p.log_path}:\n{p.log()[p.log().index('Traceback'):][:1500]}")
        return problems


class Pump:
    """Telegram's side of the webhook: every update the local Bot API server queues is posted to the cluster's
    port once, with the secret header, up to ``connections`` at a time; a post that fails (no 200) is posted
    again, as Telegram does."""

    def __init__(self, api: FakeBotApi, url: str, connections: int = CONNECTIONS) -> None:
        self.api = api
        self.endpoint = f"{url}/telegram/{telegram_path_secret(WEBHOOK_SECRET)}"
        self.headers = {"Content-Type": "application/json", TELEGRAM_SECRET_HEADER: WEBHOOK_SECRET}
        # A fresh connection for each post (none kept alive), as bench/webhooks.py posts: the kernel then spreads
        # the posts, not just a few long-lived connections, among the workers sharing the port.
        self.client = httpx.AsyncClient(
            timeout=30, limits=httpx.Limits(max_connections=connections, max_keepalive_connections=0)
        )
        self.posted = 0  # updates, each counted once
        self.retries = 0
        self.statuses: dict[int, int] = {}
        self._inflight: set[asyncio.Task[None]] = set()
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Pump:
        self._task = asyncio.create_task(self._run())
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self.settle()
        await self.client.aclose()

    async def settle(self) -> None:
        while self._inflight:
            await asyncio.gather(*list(self._inflight), return_exceptions=True)

    async def _run(self) -> None:
        while True:
            if self.api.updates:
                batch = list(self.api.updates)
                self.api.updates.clear()
                for update in batch:
                    self.posted += 1
                    task = asyncio.create_task(self._post(json.dumps(update).encode()))
                    self._inflight.add(task)
                    task.add_done_callback(self._inflight.discard)
            await self.api.changes.wait(1.0)

    async def _post(self, body: bytes) -> None:
        for attempt in range(100):
            try:
                response = await self.client.post(self.endpoint, content=body, headers=self.headers)
                self.statuses[response.status_code] = self.statuses.get(response.status_code, 0) + 1
                if response.status_code == 200:
                    return
            except httpx.TransportError:
                pass
            self.retries += 1
            await asyncio.sleep(min(0.05 * 2**attempt, 1.0))


# --------------------------------------------------------------------------------------------- the load


@dataclass
class Load:
    n: int
    seconds: float = float("nan")
    updates: int = 0
    walks: list[compare.Walk] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    bot_cpu: float = 0.0
    own_cpu: float = 0.0
    db_cpu: float = 0.0
    busy: float = float("nan")  # share of all the machine's cores busy during the round (any process)

    @property
    def reactions(self) -> list[float]:
        return [s for w in self.walks for _, s in w.reactions]

    @property
    def receipts(self) -> list[str]:
        return [code for w in self.walks for code in w.receipts]


async def run_load(api: FakeBotApi, cluster: WebCluster, n: int, pump: Pump) -> Load:
    """N citizens at once, each through a complete report, over the pump; returns what happened."""
    result = Load(n)
    users = [api.user(first_name=f"Dân {i}", last_name="Nguyễn", language_code="vi") for i in range(n)]
    watcher = compare.Watcher(api)
    watching = asyncio.create_task(watcher.run())
    posted0, cpu0, own0, t0 = pump.posted, cluster.cpu(), time.process_time(), time.perf_counter()
    db0, (busy0, total0) = postgres_cpu() if cluster.database.kind == "postgresql" else 0.0, machine_busy()
    try:
        walks = await asyncio.gather(
            *(compare.walk(compare.TIPLINE_FLOW, i, u, watcher) for i, u in enumerate(users)), return_exceptions=True
        )
    finally:
        watching.cancel()
    result.bot_cpu, result.own_cpu = cluster.cpu() - cpu0, time.process_time() - own0
    result.db_cpu = (postgres_cpu() - db0) if cluster.database.kind == "postgresql" else 0.0
    busy1, total1 = machine_busy()
    result.busy = (busy1 - busy0) / (total1 - total0) if total1 > total0 else float("nan")
    result.walks = [w for w in walks if isinstance(w, compare.Walk)]
    result.failures += [str(w)[:500] for w in walks if isinstance(w, BaseException)]
    result.seconds = max((w.finished for w in result.walks), default=t0) - t0
    result.updates = pump.posted - posted0
    codes = [w.receipts for w in result.walks]
    if sum(len(c) == 1 for c in codes) < n:
        result.failures.append(f"{n - sum(len(c) == 1 for c in codes)} citizen(s) without exactly one receipt code")
    if len(set(result.receipts)) != len(result.receipts):
        result.failures.append("two citizens got the same tip code")
    return result


# -------------------------------------------------------------------------------------------- the table


@dataclass
class Row:
    name: str
    loads: list[Load] = field(default_factory=list)

    def good(self) -> list[Load]:
        return [load for load in self.loads if not load.failures]


async def run_round(name: str, workers: int, server: str | None, n: int, folder: Path) -> Load:
    folder.mkdir(parents=True)
    database = await Database.fresh(folder, server)
    try:
        async with FakeBotApi() as api:
            api.group(chat_id=MODERATORS, title="Moderators")
            cluster = WebCluster(api, database, workers, folder)
            problems: list[str] = []
            try:
                await cluster.start()
                async with Pump(api, cluster.url) as pump:
                    load = await run_load(api, cluster, n, pump)
            finally:
                problems = await cluster.stop()
            load.failures += problems + [f"refused: {r}" for r in api.refusals[:3]]
        storage = await database.open()
        try:
            async with storage.read() as uow:
                stored = await uow.tips.count()
        finally:
            await storage.close()
        if stored != n:
            load.failures.append(f"{stored} tips stored for {n} citizens")
        return load
    finally:
        await database.drop(server)


def line(name: str, load: Load) -> str:
    p50, p99 = compare.percentiles(load.reactions)
    rate = load.updates / load.seconds if load.seconds > 0 else float("nan")
    return (f"{name:16} {len(load.walks):4}/{load.n} reports, {load.updates} updates in {load.seconds:6.2f} s = "
            f"{rate:6.1f} updates/s   reaction p50 {p50:6.1f} ms  p99 {p99:7.1f} ms   CPU (cores) bots "
            f"{load.bot_cpu / load.seconds:.2f}, database {load.db_cpu / load.seconds:.2f}, server+pump+citizens "
            f"{load.own_cpu / load.seconds:.2f}; machine busy {load.busy:.0%}")  # fmt: skip


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--citizens", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4], help="PostgreSQL web workers per row")
    parser.add_argument("--postgres", default=os.environ.get("TIPLINE_TEST_POSTGRES"), help="a server URL to make databases on")
    parser.add_argument("--keep", action="store_true", help="keep the rounds' folders (logs, SQLite files)")
    args = parser.parse_args()
    print(compare.machine())
    configurations = [("sqlite x1", 1, None)] + (
        [(f"postgresql x{k}", k, args.postgres) for k in args.workers] if args.postgres else []
    )
    if not args.postgres:
        print("note: no PostgreSQL server (--postgres or TIPLINE_TEST_POSTGRES): SQLite only")
    print(f"load: {args.citizens} citizens at once, one complete report each, over webhooks; rounds: {args.rounds}")
    tmp = Path(tempfile.mkdtemp(prefix="tipline-scale-"))
    rows = {name: Row(name) for name, _k, _s in configurations}
    failed = False
    try:
        for r in range(args.rounds):
            for name, workers, server in configurations:  # alternating, so drift of a shared machine hits all alike
                load = await run_round(name, workers, server, args.citizens, tmp / f"round{r + 1}-{name.replace(' ', '-')}")
                rows[name].loads.append(load)
                print(f"  round {r + 1}: {line(name, load)}", flush=True)
                for failure in load.failures[:5]:
                    print(f"    FAILED: {failure}")
                failed |= bool(load.failures)
    finally:
        if args.keep or failed:
            print(f"rounds kept in {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    print(f"\n{args.citizens} citizens, median over good rounds")
    print(f"{'configuration':16}{'updates/s':>12}{'reports/s':>12}{'reaction p50':>16}{'reaction p99':>16}"
          f"{'CPU bots':>10}{'CPU db':>8}{'CPU driver':>12}{'machine busy':>14}")  # fmt: skip
    for name, row in rows.items():
        good = row.good()
        if not good:
            print(f"{name:16}{'(no good round)':>40}")
            continue
        med = statistics.median
        percentiles = [compare.percentiles(load.reactions) for load in good]
        print(f"{name:16}{med(g.updates / g.seconds for g in good):>12.1f}{med(len(g.walks) / g.seconds for g in good):>12.2f}"
              f"{med(p[0] for p in percentiles):>13.1f} ms{med(p[1] for p in percentiles):>13.1f} ms"
              f"{med(g.bot_cpu / g.seconds for g in good):>10.2f}{med(g.db_cpu / g.seconds for g in good):>8.2f}"
              f"{med(g.own_cpu / g.seconds for g in good):>12.2f}{med(g.busy for g in good):>14.0%}")  # fmt: skip
    print("\ncorrectness: " + ("FAILED (see above)" if failed else "every citizen one receipt, distinct codes, N tips stored, no refusals, no tracebacks"))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
