"""End to end, as deployed: the bot process is killed (SIGKILL, no chance to clean up) in the middle of a
report, and nothing it had answered is lost.

Every step's draft is committed before the bot answers it (sessions are written with group commit: the
answer waits for the transaction holding its step), and a confirmed tip is committed before its receipt.
So whatever moment the process dies, a restarted bot finds every answered step in the draft, and the tip
of every receipt in the database.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, closing
from pathlib import Path
from typing import Any

import pytest
from botapi import FakeBotApi, SimUser
from harness import SECRET

from tipline.privacy.keys import Keyring

ROOT = Path(__file__).resolve().parents[1]
CODE_PREFIX = "TL-"

# What the citizen does, and what the draft holds once the step was answered (None: nothing to check).
STEPS: list[tuple[str, str, str | None, Any]] = [
    ("send", "/start", None, None),
    ("press", "menu:report", None, None),
    ("press", "cat:trading", "category", "trading"),
    ("press", "urg:ongoing", "urgency", "ongoing"),
    ("send", "can tho", "province_code", 92),
    ("send", "ninh kieu", "commune_code", 31135),
    ("send", "Hẻm 51, gần chợ đêm", "address", "Hẻm 51, gần chợ đêm"),
    ("send", "Có người bán ma túy đá ở quán nước đầu ngõ mỗi tối.", "description", ["Có người bán ma túy đá ở quán nước đầu ngõ mỗi tối."]),
    ("press", "next", None, None),  # done with the description
    ("press", "next", None, None),  # no evidence: the review
]


@asynccontextmanager
async def deployed_bot(api: FakeBotApi, db: Path) -> AsyncIterator[asyncio.subprocess.Process]:
    """``python -m bot`` on ``db``, once it polls; killed (SIGKILL) when the block ends, if still running."""
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("TIPLINE_", "TELEGRAM_"))},
        "TELEGRAM_BOT_TOKEN": api.token, "TELEGRAM_API_BASE_URL": api.base_url,
        "TELEGRAM_API_FILE_URL": api.base_file_url, "TIPLINE_DB": str(db), "TIPLINE_SECRET_KEY": SECRET,
    }  # fmt: skip
    api._poller = None
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", cwd=ROOT, env=env,
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while api._poller is None:  # its first long poll is waiting at the server
            assert process.returncode is None, "the bot exited at start-up"
            assert time.monotonic() < deadline, "the bot did not start polling"
            await asyncio.sleep(0.01)
        yield process
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def act(api: FakeBotApi, user: SimUser, kind: str, what: str) -> None:
    """Does one step without waiting for the answer (pressing the button whose data ends with ``what`` on
    the latest message with buttons)."""
    if kind == "send":
        await user.send(what)
        return
    board = next(m for m in reversed(list(user.chat.messages.values())) if m.get("reply_markup") and m["from"]["is_bot"])
    data = next(b["callback_data"] for row in board["reply_markup"]["inline_keyboard"] for b in row
                if b["callback_data"].endswith("|" + what))  # fmt: skip
    await user.press(board["message_id"], data)


async def answered(api: FakeBotApi, user: SimUser, before: dict[int, str | None]) -> None:
    """Waits for the answer, which ends with the next question: a new message with buttons, or a message of
    the bot whose text changed and that has buttons (answered in place)."""

    def changed() -> bool:
        return any(
            (mid not in before or before[mid] != m.get("text")) and m.get("reply_markup")
            for mid, m in user.chat.messages.items()
            if m["from"]["is_bot"]
        )

    assert await api.changes.until(changed, 30), "no answer within 30 s"


def bot_texts(user: SimUser) -> dict[int, str | None]:
    return {mid: m.get("text") for mid, m in user.chat.messages.items() if m["from"]["is_bot"]}


def draft_of(db: Path, user: SimUser) -> dict[str, Any]:
    pseudonym = Keyring(SECRET.encode()).pseudonym("telegram", user.chat_id)
    with closing(sqlite3.connect(db)) as conn:
        row = conn.execute("SELECT state FROM sessions WHERE pseudonym = ?", (pseudonym,)).fetchone()
    assert row is not None, "the chat's session is gone"
    draft: dict[str, Any] = json.loads(row[0]).get("draft") or {}
    return draft


@pytest.mark.parametrize("killed_at", [3, 6, 8])
async def test_a_killed_bot_loses_no_answered_step(api: FakeBotApi, tmp_path: Path, killed_at: int) -> None:
    db = tmp_path / "tipline.sqlite3"
    lan = api.user(first_name="Lan", last_name="Nguyễn")
    async with deployed_bot(api, db) as process:
        for kind, what, _field, _value in STEPS[:killed_at]:
            before = bot_texts(lan)
            await act(api, lan, kind, what)
            await answered(api, lan, before)
        # The next step is on its way (maybe being written, maybe answered) when the process dies.
        kind, what, _field, _value = STEPS[killed_at]
        await act(api, lan, kind, what)
        process.send_signal(signal.SIGKILL)
        await process.wait()
    draft = draft_of(db, lan)
    for _kind, _what, field, value in STEPS[:killed_at]:
        if field is not None:
            assert draft.get(field) == value, (field, draft)

    # Started again on the same database, the bot takes the citizen on from where the report was.
    async with deployed_bot(api, db):
        before = bot_texts(lan)
        await lan.send("/report")
        await answered(api, lan, before)
    draft = draft_of(db, lan)
    for _kind, _what, field, value in STEPS[:killed_at]:
        if field is not None:
            assert draft.get(field) == value, (field, draft)
    api.assert_no_refusals()


async def test_a_receipt_means_the_tip_is_stored_even_if_the_bot_dies_right_after(
    api: FakeBotApi, tmp_path: Path
) -> None:
    db = tmp_path / "tipline.sqlite3"
    lan = api.user(first_name="Lan", last_name="Nguyễn")
    async with deployed_bot(api, db) as process:
        for kind, what, _field, _value in STEPS:
            before = bot_texts(lan)
            await act(api, lan, kind, what)
            await answered(api, lan, before)
        sent = len(lan.chat.sent_log)
        await act(api, lan, "press", "confirm")
        assert await api.changes.until(
            lambda: any(CODE_PREFIX in (m.get("text") or "") for m in lan.chat.sent_log[sent:]), 30
        )
        process.send_signal(signal.SIGKILL)
        await process.wait()
    receipt = next(m["text"] for m in lan.chat.sent_log[sent:] if CODE_PREFIX in (m.get("text") or ""))
    code = receipt[receipt.index(CODE_PREFIX) :][:12]
    with closing(sqlite3.connect(db)) as conn:
        assert conn.execute("SELECT COUNT(*) FROM tips WHERE code = ?", (code,)).fetchone()[0] == 1
