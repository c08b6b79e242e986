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
