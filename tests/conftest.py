"""Shared fixtures. PTB_TIMEDELTA is set before `telegram` is imported anywhere (see bot/__init__.py)."""

from __future__ import annotations

import os

os.environ.setdefault("PTB_TIMEDELTA", "1")

from collections.abc import AsyncIterator  # noqa: E402

import pytest  # noqa: E402
from botapi import FakeBotApi  # noqa: E402


@pytest.fixture
async def api() -> AsyncIterator[FakeBotApi]:
    """A fresh local Bot API server for one test."""
    async with FakeBotApi() as server:
        yield server


def pytest_report_header(config: pytest.Config) -> str:
    from backends import BACKEND

    return f"tipline storage backend: {BACKEND}"


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fails loudly, instead of hanging at exit, when a test left a non-daemon thread running (an
    aiosqlite connection that was never closed keeps its worker thread, and the process, alive)."""
    import sys
    import threading

    from backends import drop_created

    drop_created()

    left = [t.name for t in threading.enumerate() if t is not threading.main_thread() and not t.daemon]
    if left:
        sys.stderr.write(f"\nERROR: threads left running after the tests (unclosed database?): {left}\n")
        sys.stderr.flush()
        sys.stdout.flush()
        os._exit(3)
