"""`python -m bot` as deployed: a separate process, long polling the local Bot API server over HTTP."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

from backends import database_env, database_url_for, ensure_database
from botapi import FakeBotApi
from harness import SECRET

ROOT = Path(__file__).resolve().parents[1]


async def test_the_deployed_bot_answers_and_stops_cleanly(api: FakeBotApi, tmp_path: Path) -> None:
    env = {
        **os.environ,
        "TELEGRAM_BOT_TOKEN": api.token,
        "TELEGRAM_API_BASE_URL": api.base_url,
        "TELEGRAM_API_FILE_URL": api.base_file_url,
        **database_env(tmp_path / "tipline.sqlite3"),
        "TIPLINE_SECRET_KEY": SECRET,
        "TIPLINE_MODERATOR_CHAT_ID": "-1001000000001",
        "TIPLINE_AUDIT_ANCHOR_FILE": str(tmp_path / "anchors" / "audit.txt"),
    }
    await ensure_database(database_url_for(tmp_path / "tipline.sqlite3"))
    moderators = api.group(chat_id=-1001000000001, title="Moderators")
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", cwd=ROOT, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    try:
        lan = api.user(first_name="Lan", username="lan_vn_88")
        await lan.send("/start")
        [welcome] = await lan.wait_for(1, timeout=30)
        assert "113" in welcome["text"] and welcome["reply_markup"]
        assert api.commands_for(language_code="") and api.commands_for(language_code="en")
    finally:
        process.send_signal(signal.SIGINT)
        _out, err = await asyncio.wait_for(process.communicate(), 30)
    log = err.decode()
    assert process.returncode == 0, log
    assert "Traceback" not in log
    assert "Lan" not in log and str(lan.id) not in log and api.token not in log
    api.assert_no_refusals()
    # At shutdown the audit log's head is written down outside the database, in both places.
    anchors = (tmp_path / "anchors" / "audit.txt").read_text().splitlines()
    assert len(anchors) == 1 and anchors[0].split()[1] == "0"
    assert oct((tmp_path / "anchors" / "audit.txt").stat().st_mode & 0o777) == "0o600"
    assert any(anchors[0].split()[2] in (m.get("text") or "") for m in moderators.inbox)
