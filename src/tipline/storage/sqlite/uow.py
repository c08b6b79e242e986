"""A unit of work on the SQLite connection: every repository, bound to the open transaction."""

from __future__ import annotations

import aiosqlite

from tipline.storage.sqlite.audit import SqliteAudit
from tipline.storage.sqlite.campaigns import SqliteCampaigns
from tipline.storage.sqlite.cards import SqliteCards
from tipline.storage.sqlite.counters import SqliteCounters
from tipline.storage.sqlite.deadlines import SqliteDeadlines
from tipline.storage.sqlite.messages import SqliteTipMessages
from tipline.storage.sqlite.meta import SqliteMeta
from tipline.storage.sqlite.outbox import SqliteOutbox
from tipline.storage.sqlite.prompts import SqlitePrompts
from tipline.storage.sqlite.sessions import SqliteSessions, SqliteSessionStore
from tipline.storage.sqlite.staff import SqliteStaff
from tipline.storage.sqlite.subscribers import SqliteSubscribers
from tipline.storage.sqlite.subscriptions import SqliteSubscriptions
from tipline.storage.sqlite.throttles import SqliteThrottles
from tipline.storage.sqlite.tips import SqliteTips
from tipline.storage.sqlite.units import SqliteUnits
from tipline.storage.sqlite.webhook_updates import SqliteWebhookUpdates


class SqliteUnitOfWork:
    def __init__(
        self, conn: aiosqlite.Connection, sessions: SqliteSessionStore | None = None, read_only: bool = False
    ) -> None:
        self.tips = SqliteTips(conn)
        self.messages = SqliteTipMessages(conn)
        self.sessions = SqliteSessions(conn, sessions)
        self.counters = SqliteCounters(conn)
        self.subscriptions = SqliteSubscriptions(conn)
        self.outbox = SqliteOutbox(conn)
        self.cards = SqliteCards(conn)
        self.staff = SqliteStaff(conn)
        self.units = SqliteUnits(conn)
        self.audit = SqliteAudit(conn)
        self.deadlines = SqliteDeadlines(conn)
        self.prompts = SqlitePrompts(conn)
        self.throttles = SqliteThrottles(conn)
        self.meta = SqliteMeta(conn)
        self.webhook_updates = SqliteWebhookUpdates(conn)
        self.subscribers = SqliteSubscribers(conn)
        self.campaigns = SqliteCampaigns(conn)
        if read_only:
            for repository in vars(self).values():
                repository.read_only = True
