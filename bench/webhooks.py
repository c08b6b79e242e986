"""Webhook mode under a burst: how fast the bot acknowledges updates posted all at once.

Usage: .venv/bin/python bench/webhooks.py [--posts 200] [--rounds 3] [--channel both|telegram|zalo]

The bot runs as deployed: ``<this python> -m bot`` with TIPLINE_MODE=webhook, both tokens, listening on a free
local port, against the local Telegram and Zalo servers (tests/botapi, tests/zaloapi) started in this process.
A round posts ``--posts`` updates at once (each a ``/start`` from a different person, split between the two
channels with ``both``), over as many connections, with the secret headers, to ``/telegram/<path>`` and
``/zalo``, and times each request from sending to the answer. Then it waits until every person got the bot's
answer, and posts every update once more: a redelivery must be acknowledged and processed no second time.

Figures per round: acknowledgement latency p50 / p99 / max over the posts (the goal: p99 under 100 ms), and the
time until the last answer reached its person (processing happens after the acknowledgement). The posts are
made and timed by a process of their own over bare sockets, one fresh connection each (this process runs both
servers, which answer the bot's calls meanwhile; an HTTP client library's own overhead for 200 requests at once
is larger than what is measured). The machine's load average is printed: on a shared machine the figures vary
with it. Checked every round (exit status 1
otherwise): every post answered 200, every person answered exactly once, redeliveries not processed, no
request the servers refused, no traceback in the bot's log, a clean exit on SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import signal
import socket
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # botapi, zaloapi (pytest puts rootdir/tests there for the tests)

from botapi import FakeBotApi  # noqa: E402
from zaloapi import FakeZaloApi  # noqa: E402
from zaloapi.world import new_id  # noqa: E402

from bot.web.app import TELEGRAM_SECRET_HEADER, telegram_path_secret  # noqa: E402
from bot.zalo.updates import SECRET_HEADER as ZALO_SECRET_HEADER  # noqa: E402

SECRET = "bench-secret-" + "k" * 40
TELEGRAM_SECRET = "bench-telegram-webhook-secret-0123"
ZALO_SECRET = "bench-zalo-webhook-secret-0123"
PUBLIC = "https://tipline.example.org"  # what the servers are told; the benchmark posts to the local port
TARGET_P99_MS = 100.0
READY_TIMEOUT = 60.0
DONE_TIMEOUT = 120.0


def machine() -> str:
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    load = " load {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()) if hasattr(os, "getloadavg") else ""
    return (f"CPUs: {cpus} usable (of {os.cpu_count()}),{load}  Python {platform.python_version()}  "
            f"SQLite {sqlite3.sqlite_version}  {platform.system()} {platform.release()}")  # fmt: skip


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def run_round(posts: int, channel: str, number: int) -> bool:
    async with FakeBotApi() as api, FakeZaloApi() as zapi, httpx.AsyncClient(
        timeout=30, limits=httpx.Limits(max_connections=posts, max_keepalive_connections=posts)
    ) as http:
        port = free_port()
        folder = tempfile.mkdtemp(prefix="tipline-bench-")
        env = {
            **os.environ, "TIPLINE_MODE": "webhook", "TIPLINE_PUBLIC_URL": PUBLIC, "TIPLINE_LISTEN": f"127.0.0.1:{port}",
            "TIPLINE_DB": str(Path(folder) / "tipline.sqlite3"), "TIPLINE_SECRET_KEY": SECRET,
            "TELEGRAM_BOT_TOKEN": api.token, "TELEGRAM_API_BASE_URL": api.base_url,
            "TELEGRAM_API_FILE_URL": api.base_file_url, "TELEGRAM_WEBHOOK_SECRET": TELEGRAM_SECRET,
            "ZALO_BOT_TOKEN": zapi.token, "ZALO_API_BASE_URL": zapi.base_url, "ZALO_WEBHOOK_SECRET": ZALO_SECRET,
        }
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", cwd=ROOT, env=env, stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        url = f"http://127.0.0.1:{port}"
        ok = True
        try:
            await _ready(http, url, process)
            n_telegram = posts if channel == "telegram" else 0 if channel == "zalo" else posts // 2
            telegram_people = [api.user(first_name=f"Người {n}") for n in range(n_telegram)]
            zalo_people = [zapi.user(display_name=f"Người {n}", started=True) for n in range(posts - n_telegram)]
            for person in telegram_people:
                await person.send("/start")
            telegram_updates = list(api.updates)
            api.updates.clear()
            requests = [_telegram_post(url, u) for u in telegram_updates] + [_zalo_post(url, p.id) for p in zalo_people]

            started = time.perf_counter()
            results = await burst(port, requests)
            people = [*telegram_people, *zalo_people]
            answered = await _all_answered(people, api, zapi)
            done_s = time.perf_counter() - started
            statuses = [status for status, _ms in results]
            latencies = [ms for _status, ms in results]
            again = await burst(port, requests)  # every update posted again
            await asyncio.sleep(1.0)  # time enough for a wrongly processed redelivery to show
            once = all(len(p.inbox) == 1 for p in people)
            checks = {
                "all 200": all(s == 200 for s in statuses) and all(s == 200 for s, _ms in again),
                "all answered": answered,
                "each once": once,
                "no refusals": not api.refusals and not zapi.refusals,
            }
            p50, p99 = statistics.median(latencies), percentile(latencies, 0.99)
            print(
                f"round {number}: {len(requests)} posts ({n_telegram} Telegram, {len(requests) - n_telegram} Zalo)  "
                f"ack p50 {p50:6.1f} ms  p99 {p99:6.1f} ms  max {max(latencies):6.1f} ms  "
                f"last answer after {done_s:5.2f} s  "
                + "  ".join(f"{name}: {'ok' if good else 'FAILED'}" for name, good in checks.items()),
                flush=True,
            )
            ok = all(checks.values())
            round_results.append((p50, p99))
        finally:
            process.send_signal(signal.SIGINT)
            _out, err = await asyncio.wait_for(process.communicate(), 60)
            log = err.decode()
            if process.returncode != 0 or "Traceback" in log:
                print(f"round {number}: the bot did not stop cleanly (exit {process.returncode})\n{log[-3000:]}")
                ok = False
        return ok


round_results: list[tuple[float, float]] = []


async def burst(port: int, requests: list[tuple[str, bytes, dict[str, str]]]) -> list[tuple[int, float]]:
    """All the posts at once, from a process of their own (``--client``): this one runs both servers, which
    answer the bot's calls meanwhile, and would delay the clock readings of the posts it timed itself."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as plan:
        json.dump([[url, body.decode(), headers] for url, body, headers in requests], plan)
    client = await asyncio.create_subprocess_exec(
        sys.executable, __file__, "--client", plan.name, str(port), stdout=asyncio.subprocess.PIPE,
    )
    out, _err = await client.communicate()
    os.unlink(plan.name)
    return [(int(status), float(ms)) for status, ms in json.loads(out)]


async def client_main(plan: str, port: int) -> int:
    with open(plan) as source:
        requests = [(url, body.encode(), headers) for url, body, headers in json.load(source)]
    results = await asyncio.gather(*(post_raw(port, *request) for request in requests))
    print(json.dumps(results))
    return 0


async def post_raw(port: int, url: str, body: bytes, headers: dict[str, str]) -> tuple[int, float]:
    """One POST on a fresh connection, as a platform's webhook sender makes it; (status, milliseconds from
    connecting to the status line). A bare socket, so the timing holds as little of this process as possible."""
    path = "/" + url.split("/", 3)[3]
    head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    request = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{head}Content-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n"
    ).encode() + body
    started = time.perf_counter()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request)
        status_line = await reader.readline()
        elapsed = (time.perf_counter() - started) * 1000
        await reader.read()
    finally:
        writer.close()
    return int(status_line.split()[1]), elapsed


def _telegram_post(url: str, update: dict[str, Any]) -> tuple[str, bytes, dict[str, str]]:
    headers = {"Content-Type": "application/json", TELEGRAM_SECRET_HEADER: TELEGRAM_SECRET}
    return f"{url}/telegram/{telegram_path_secret(TELEGRAM_SECRET)}", json.dumps(update).encode(), headers


def _zalo_post(url: str, user_id: str) -> tuple[str, bytes, dict[str, str]]:
    update = {
        "event_name": "message.text.received",
        "message": {
            "message_id": new_id(), "date": int(time.time() * 1000), "text": "/start",
            "chat": {"id": user_id, "chat_type": "PRIVATE"},
            "from": {"id": user_id, "display_name": "Người dùng", "is_bot": False},
        },
    }
    headers = {"Content-Type": "application/json", ZALO_SECRET_HEADER: ZALO_SECRET}
    return f"{url}/zalo", json.dumps({"ok": True, "result": update}).encode(), headers


async def _ready(http: httpx.AsyncClient, url: str, process: asyncio.subprocess.Process) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        if process.returncode is not None:
            raise RuntimeError("the bot exited while starting")
        try:
            if (await http.get(f"{url}/healthz")).status_code == 200:
                return
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.1)
    raise RuntimeError("the bot did not start listening in time")


async def _all_answered(people: list[Any], api: FakeBotApi, zapi: FakeZaloApi) -> bool:
    deadline = time.monotonic() + DONE_TIMEOUT
    while time.monotonic() < deadline:
        if all(p.inbox for p in people):
            return True
        await asyncio.sleep(0.02)
    return False


async def main() -> int:
    if sys.argv[1:2] == ["--client"]:
        return await client_main(sys.argv[2], int(sys.argv[3]))
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--posts", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--channel", choices=["both", "telegram", "zalo"], default="both")
    args = parser.parse_args()
    print(machine())
    ok = True
    for number in range(1, args.rounds + 1):
        ok = await run_round(args.posts, args.channel, number) and ok
    if round_results:
        p50 = statistics.median(r[0] for r in round_results)
        p99 = statistics.median(r[1] for r in round_results)
        verdict = "under" if p99 < TARGET_P99_MS else "OVER"
        print(f"median of rounds: ack p50 {p50:.1f} ms, p99 {p99:.1f} ms ({verdict} the {TARGET_P99_MS:.0f} ms goal)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
