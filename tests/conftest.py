"""Shared fixtures. PTB_TIMEDELTA is set before `telegram` is imported anywhere (see bot/__init__.py)."""

from __future__ import annotations

import os

os.environ.setdefault("PTB_TIMEDELTA", "1")
