"""A unit of work on one PostgreSQL connection: every repository, bound to the open transaction."""

from __future__ import annotations

from tipline.storage.postgres.audit import PgAudit
from tipline.storage.postgres.base import Conn
from tipline.storage.postgres.campaigns import PgCampaigns
from tipline.storage.postgres.outbox import PgOutbox
from tipline.storage.postgres.small import (
    PgCards,
    PgCounters,
    PgDeadlines,
    PgMeta,
    PgPrompts,
    PgSessions,
    PgStaff,
    PgSubscriptions,
    PgThrottles,
    PgTipMessages,
    PgWebhookUpdates,
)
from tipline.storage.postgres.subscribers import PgSubscribers
from tipline.storage.postgres.tips import PgTips
from tipline.storage.postgres.units import PgUnits


class PgUnitOfWork:
    def __init__(self, conn: Conn, writing: bool = False) -> None:
        """``writing``: a unit of work that writes, whose reads of rows it is about to change lock them."""
        self.tips = PgTips(conn, writing)
        self.messages = PgTipMessages(conn)
        self.sessions = PgSessions(conn)
        self.counters = PgCounters(conn)
        self.subscriptions = PgSubscriptions(conn)
        self.outbox = PgOutbox(conn)
        self.cards = PgCards(conn)
        self.staff = PgStaff(conn)
        self.units = PgUnits(conn)
        self.audit = PgAudit(conn)
        self.deadlines = PgDeadlines(conn, writing)
        self.prompts = PgPrompts(conn)
        self.throttles = PgThrottles(conn)
        self.meta = PgMeta(conn)
        self.webhook_updates = PgWebhookUpdates(conn)
        self.subscribers = PgSubscribers(conn, writing)
        self.campaigns = PgCampaigns(conn, writing)
