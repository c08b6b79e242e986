"""The outbox: what the bot still owes someone (a card to post or refresh, a message to send).

Rows are written inside the transaction of the change that caused them, so a crash or an outage
cannot separate a change from its news; the channel adapter delivers them and marks them.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import aiosqlite


async def enqueue(
    conn: aiosqlite.Connection,
    audience: str,
    tip_id: int | None,
    kind: str,
    now: datetime,
    payload: dict[str, Any] | None = None,
    unit_id: int | None = None,
) -> None:
    """Adds one item; call it inside the caller's ``db.transaction()``."""
    await conn.execute(
        "INSERT INTO outbox (audience, tip_id, unit_id, kind, payload, created_at) VALUES (?, ?, ?, ?, ?, ?)",
        (audience, tip_id, unit_id, kind, json.dumps(payload or {}, ensure_ascii=False), now.isoformat()),
    )
