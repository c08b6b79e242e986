"""What the core asks of storage: repositories behind a unit of work.

Services never see SQL or rows: they open a unit of work (``async with storage.uow() as uow``), call
typed repositories on it (``uow.tips``, ``uow.outbox``, ``uow.audit`` ...) that take and return domain
objects, and everything they wrote commits together, or nothing does. ``storage.read()`` gives the same
repositories for reading only. The SQLite backend (``storage/sqlite``) implements these protocols; a
PostgreSQL backend would implement them too.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Protocol

from tipline.delivery.model import Address, Kind, NewItem, OutboxItem, OutboxTally, Sent
from tipline.outreach.model import (
    AudienceFilter,
    Campaign,
    CampaignStatus,
    NewCampaign,
    Outcome,
    PlaceActivity,
    Preferences,
    Recipient,
    RunCounts,
    Subscriber,
    SubscriberEvent,
    Tally,
)
from tipline.records.model import AuditRecord, ReportRow
from tipline.staff.model import (
    CardPlacement,
    Invite,
    OpenDeadline,
    Prompt,
    StaffMember,
    StaffRole,
    TipMessage,
    Unit,
    UnitRow,
    UpsertCounts,
)
from tipline.tips import Evidence, Followup, NewTip, Tip


class StorageFull(Exception):
    """The disk (or the database's size limit) is full: nothing of the unit of work was written."""


class QuotaReached(Exception):
    """A counted action is at its limit for the window: nothing of the unit of work was written."""


@dataclass(frozen=True)
class Quota:
    """A counter that one more of something goes on, and how many its window allows."""

    key: str
    window_seconds: int
    limit: int


class CodeTaken(Exception):
    """A freshly drawn code (tip or invite) is already in use: draw another."""


class CommuneTaken(Exception):
    """Communes already covered by a unit that the rows being written do not include."""

    def __init__(self, taken: list[tuple[int, str]]) -> None:
        self.taken = taken  # (commune code, owning unit code)
        super().__init__(", ".join(f"{commune} belongs to {owner}" for commune, owner in taken))


class ChatAlreadyLinked(Exception):
    """The chat is already the chat of another unit; unlink it there first."""

    def __init__(self, unit_code: str) -> None:
        self.unit_code = unit_code
        super().__init__(f"the chat is already linked to unit {unit_code}")


@dataclass(frozen=True)
class SealedLink:
    """A tipster's opt-in to a tip's updates: the chat reference sealed with the server secret."""

    id: int
    tip_id: int
    sealed_ref: bytes


@dataclass(frozen=True)
class StoredSession:
    state: str  # JSON
    updated_at: datetime


class TipRepository(Protocol):
    async def create(self, tip: NewTip, code: str, passphrase_hash: str, now: datetime) -> Tip:
        """Writes a confirmed tip and its evidence; raises CodeTaken when the code is in use."""
    async def by_id(self, tip_id: int) -> Tip | None: ...
    async def by_code(self, code: str) -> Tip | None: ...
    async def passphrase_hash(self, code: str) -> str | None: ...
    async def update(self, tip_id: int, **changes: object) -> None:
        """Sets moderation fields (status, priority, claimed_by, unit_id, outcome, times ...)."""
    async def add_followup(self, tip_id: int, text: str, evidence: tuple[Evidence, ...], now: datetime) -> int: ...
    async def followups(self, tip_id: int) -> list[Followup]:
        """A tip's follow-ups, oldest first, each with its files."""
    async def followup_count(self, tip_id: int) -> int: ...
    async def count(self) -> int:
        """How many tips there are (redacted ones included)."""
    async def in_commune_since(self, commune_code: int, since: datetime, exclude_id: int) -> list[Tip]: ...
    async def add_duplicate_candidates(self, tip_id: int, scores: Sequence[tuple[int, float]]) -> None: ...
    async def open_tips(self, offset: int, limit: int) -> tuple[list[Tip], int]: ...
    async def search(self, folded_words: Sequence[str], limit: int) -> list[Tip]: ...
    async def report_rows(self, begin: datetime, end: datetime, province_code: int | None) -> list[ReportRow]: ...
    async def redact_closed(self, closed_before: datetime, now: datetime) -> int: ...


class TipMessageRepository(Protocol):
    async def add(self, tip_id: int, direction: str, text: str, now: datetime) -> int: ...
    async def get(self, message_id: int) -> TipMessage | None: ...
    async def to_tipster(self, tip_id: int) -> list[TipMessage]: ...
    async def for_tip(self, tip_id: int) -> list[TipMessage]:
        """Every message about a tip, both ways, oldest first."""
    async def mark_delivered(self, message_ids: Sequence[int], now: datetime) -> None: ...


class SessionRepository(Protocol):
    async def load(self, pseudonym: str) -> StoredSession | None: ...
    async def save(self, pseudonym: str, state: str, now: datetime, keep_until: datetime) -> None: ...
    async def delete(self, pseudonym: str) -> None: ...
    async def expire_drafts(self, idle_since: datetime) -> int:
        """Drops drafts idle since before ``idle_since`` and flags those sessions so the citizen is told."""
    async def purge(self, now: datetime) -> int: ...
    async def with_sealed(self) -> list[str]:
        """The pseudonyms whose state holds a sealed part (what ties a chat to a tip while a step needs it)."""
    async def set_state(self, pseudonym: str, state: str) -> None:
        """Replaces a session's state, leaving its times as they are."""
    async def count(self) -> int:
        """How many chats have a session now."""


class SessionStore(Protocol):
    """Conversation state by pseudonym on the path of every message, outside units of work.

    ``save`` returns once the state is durable: a backend may commit many chats' states together (one
    transaction, one sync to disk), but never answers a caller before its own state is committed. A
    backend may keep what it read and wrote in memory (by pseudonym, bounded); the database stays the
    source of truth, and a change made through a unit of work (``uow.sessions``) is seen by ``load``.
    """

    async def load(self, pseudonym: str) -> StoredSession | None: ...
    async def save(self, pseudonym: str, state: str, now: datetime, keep_until: datetime) -> None: ...


class CounterRepository(Protocol):
    async def hit(self, key: str, window_seconds: int, now: datetime, amount: int = 1) -> int: ...
    async def peek(self, key: str, window_seconds: int, now: datetime) -> int: ...
    async def purge(self, now: datetime) -> int: ...


class SubscriptionRepository(Protocol):
    async def add(self, tip_id: int, sealed_ref: bytes, now: datetime) -> None: ...
    async def for_tip(self, tip_id: int) -> list[SealedLink]: ...
    async def all(self) -> list[SealedLink]: ...
    async def remove(self, link_ids: Sequence[int]) -> int: ...
    async def forget_tip(self, tip_id: int) -> int: ...
    async def forget_closed(self, closed_before: datetime) -> int: ...


class ThrottleRepository(Protocol):
    async def get(self, key: str) -> tuple[float, datetime] | None: ...
    async def set(self, key: str, level: float, now: datetime) -> None: ...
    async def purge(self, idle_since: datetime) -> int: ...


class MetaRepository(Protocol):
    async def get(self, key: str) -> str | None: ...
    async def set(self, key: str, value: str) -> None: ...


class SubscriberRepository(Protocol):
    """Outreach subscribers (never joined to tips): a sealed chat, its choices, dated consent."""

    async def by_key(self, chat_key: str) -> Subscriber | None: ...
    async def by_id(self, subscriber_id: int) -> Subscriber | None: ...
    async def subscribe(self, chat_key: str, channel: str, sealed_ref: bytes, prefs: Preferences, today: date) -> str:
        """Records consent (new, or again after stopping) or a change: 'consent', 'change' or 'same'."""
    async def stop(self, subscriber_id: int, today: date, event: str, detail: str) -> bool:
        """Stops a subscriber and drops their sealed chat; False when already stopped."""
    async def events(self, subscriber_id: int) -> list[SubscriberEvent]: ...
    async def count(self, audience: AudienceFilter) -> int:
        """Active subscribers an audience filter reaches."""
    async def all(self) -> list[Subscriber]:
        """Every subscriber, stopped ones too, by id (for moving to a new server secret)."""
    async def rekey(self, subscriber_id: int, chat_key: str, sealed_ref: bytes | None) -> None:
        """Replaces how a subscriber is found and reached (``tipline secret rotate``)."""


class CampaignRepository(Protocol):
    """Outreach campaigns, the durable queue of each delivery (one row per recipient), poll tallies."""

    async def create(
        self, new: NewCampaign, status: CampaignStatus, author_channel: str, author_ref: str, draft_step: str | None,
        now: datetime,
    ) -> int: ...
    async def get(self, campaign_id: int) -> Campaign | None: ...
    async def update(self, campaign_id: int, now: datetime, **changes: Any) -> None:
        """Sets campaign fields (status, content, audience, schedule, next_run_at, runs, draft_step, ...)."""
    async def image(self, campaign_id: int) -> bytes | None: ...
    async def with_status(self, statuses: Sequence[CampaignStatus], limit: int = 50) -> list[Campaign]: ...
    async def draft_of(self, author_channel: str, author_ref: str) -> Campaign | None:
        """The author's campaign being written in the guided flow, if any."""
    async def drafting(self) -> list[tuple[str, str]]:
        """(channel, user) of every author in the middle of the guided flow."""
    async def due(self, now: datetime) -> list[Campaign]:
        """Approved campaigns whose next delivery should start."""
    async def start_run(self, campaign_id: int, run: int, audience: AudienceFilter, now: datetime) -> int | None:
        """Writes the recipients of one delivery; returns how many, or None when that delivery was started
        already (by another worker: only one starts it)."""
    async def claim(
        self, campaign_id: int, run: int, now: datetime, lease_until: datetime, limit: int, cap: int, since: datetime
    ) -> list[Recipient]:
        """Leases pending recipients (oldest first); skips those stopped or over ``cap`` messages since ``since``."""
    async def finish(self, outcomes: Sequence[Outcome], now: datetime) -> None: ...
    async def expire_leases(self, now: datetime) -> int:
        """Leased recipients whose lease ran out (a crash mid-send) become 'unknown': never sent again."""
    async def skip_pending(self, campaign_id: int, now: datetime) -> int: ...
    async def counts(self, campaign_id: int, run: int) -> RunCounts: ...
    async def pending(self, campaign_id: int, run: int) -> int: ...
    async def finish_run(self, campaign_id: int, run: int, now: datetime) -> bool:
        """Marks a delivery finished; False when it was already (another worker finished it)."""
    async def take_progress(self, campaign_id: int, text: str, first: bool) -> bool:
        """Claims the next change of the author's progress message: sending it (``first``: only while nobody
        sent one) or editing it to ``text`` (only when it shows, or is being changed to, another text)."""
    async def run_started(self, campaign_id: int, run: int) -> datetime | None: ...
    async def vote(self, campaign_id: int, run: int, subscriber_id: int, option: int) -> str:
        """'counted', 'already' (one answer per recipient) or 'not_recipient'."""
    async def tallies(self, campaign_id: int, run: int | None = None) -> list[Tally]: ...
    async def activity(self, begin: datetime, end: datetime, province_code: int | None) -> list[PlaceActivity]: ...


class OutboxRepository(Protocol):
    async def add(self, item: NewItem, now: datetime) -> int: ...
    async def claim(
        self, owner: str, now: datetime, lease_until: datetime, limit: int, channels: Sequence[str],
        unaddressed: bool = True,
    ) -> list[OutboxItem]:
        """Leases up to ``limit`` due items for ``channels`` (and, with ``unaddressed``, items that name no
        channel), most urgent first: no other worker takes them meanwhile."""
    async def delivered(self, item_id: int, now: datetime) -> None: ...
    async def retry(self, item_id: int, at: datetime, *, count_attempt: bool) -> None: ...
    async def fail(self, item_id: int, now: datetime, reason: str) -> None: ...
    async def backlog(self, now: datetime) -> tuple[int, datetime | None]:
        """How many items wait, and since when the oldest one does."""
    async def tally(self, kind: Kind | None = None) -> OutboxTally:
        """How many items (of one kind, or all) wait, were delivered, or were set aside as failed."""


class CardRepository(Protocol):
    async def get(self, tip_id: int, audience: str) -> CardPlacement | None: ...
    async def at(self, sent: Sent) -> CardPlacement | None: ...
    async def save(self, placement: CardPlacement) -> None: ...


class StaffRepository(Protocol):
    async def roles(self, channel: str, user_ref: str) -> list[StaffMember]: ...
    async def add(self, channel: str, user_ref: str, name: str, role: StaffRole, now: datetime) -> int:
        """The person's row for that role, made if it did not exist (adding twice gives the same row)."""
    async def rename(self, staff_id: int, name: str) -> None: ...
    async def set_role(self, channel: str, user_ref: str, role: StaffRole, active: bool, now: datetime) -> int: ...
    async def name(self, staff_id: int) -> str | None: ...


class UnitRepository(Protocol):
    async def by_id(self, unit_id: int) -> Unit | None: ...
    async def by_code(self, code: str) -> Unit | None: ...
    async def all(self) -> list[Unit]: ...
    async def active_in_province(self, province_code: int) -> list[Unit]: ...
    async def in_province(self, province_code: int) -> list[Unit]: ...
    async def active_for_commune(self, commune_code: int) -> Unit | None: ...
    async def for_commune(self, commune_code: int) -> Unit | None: ...
    async def active_by_chat(self, chat: Address) -> Unit | None: ...
    async def active_chats(self) -> list[Address]:
        """The linked chats of the active units."""
    async def owners(self, commune_codes: Sequence[int]) -> dict[int, tuple[str, str]]: ...
    async def upsert(self, rows: Sequence[UnitRow], now: datetime) -> UpsertCounts: ...
    async def link_chat(self, unit_id: int, chat: Address, now: datetime) -> Unit | None:
        """Makes ``chat`` the unit's chat; None for an unknown unit; ChatAlreadyLinked if another unit has it."""
    async def request_relink(self, unit_id: int, chat: Address, now: datetime) -> None: ...
    async def pending_relink(self, unit_id: int) -> Address | None: ...
    async def clear_relink(self, unit_id: int) -> None: ...
    async def add_invite(self, unit_id: int, code_hash: str, created_by: str, now: datetime, expires: datetime) -> None: ...
    async def invite(self, code_hash: str) -> Invite | None: ...
    async def use_invites(self, unit_id: int, now: datetime) -> None: ...
    async def void_pending_invites(self, now: datetime) -> int: ...


class AuditRepository(Protocol):
    async def lock_chain(self) -> None:
        """Makes appends in concurrent units of work take turns (one chain, never a fork)."""
    async def head(self) -> AuditRecord | None: ...
    async def highest_id(self) -> int:
        """The highest id ever given, even to entries since cut off (ids are never reused)."""
    async def insert(self, record: AuditRecord) -> None: ...
    async def for_tip(self, tip_code: str) -> list[AuditRecord]: ...
    async def last_by_staff(self, tip_code: str) -> AuditRecord | None: ...
    async def all(self) -> list[AuditRecord]: ...


class DeadlineRepository(Protocol):
    async def set(self, tip_id: int, kind: str, due: datetime) -> None: ...
    async def meet(self, tip_id: int, now: datetime, kind: str | None = None) -> None: ...
    async def open(self) -> list[OpenDeadline]: ...
    async def reminded(self, deadline_id: int, now: datetime) -> None: ...
    async def escalated(self, deadline_id: int, now: datetime) -> None: ...


class PromptRepository(Protocol):
    async def add(
        self, sent: Sent, action: str, tip_id: int, actor_role: str, actor_id: int, now: datetime, expires: datetime
    ) -> int: ...
    async def at(self, sent: Sent) -> Prompt | None: ...
    async def use(self, prompt_id: int, now: datetime) -> bool:
        """Marks the prompt used; False when it was used already (one answer per prompt, whoever is faster)."""
    async def purge(self, now: datetime) -> int: ...


class SendShareRepository(Protocol):
    """The campaign senders delivering now, in every process on this database: they split the global rate."""

    async def beat(self, owner: str, channel: str, now: datetime, since: datetime) -> int:
        """Marks ``owner`` as delivering on ``channel`` now, forgets senders not seen since ``since``, and returns
        how many deliver on that channel (this one included)."""
    async def leave(self, owner: str) -> None:
        """This sender stopped delivering (or, named by another, its process is gone)."""
    async def owners(self, channel: str) -> list[str]:
        """The senders counted on ``channel``."""


class WebhookUpdateRepository(Protocol):
    """Keys of updates a webhook already took in (a hash of channel and update id, never a chat id)."""

    async def first_time(self, key: str, now: datetime) -> bool:
        """Records the key; False when it was recorded before (the platform sent the update again)."""
    async def purge(self, before: datetime) -> int: ...
    async def count(self) -> int:
        """How many keys are kept."""


class UnitOfWork(Protocol):
    """The repositories of one transaction (read-only properties, so any backend's own types fit)."""

    @property
    def tips(self) -> TipRepository: ...

    @property
    def messages(self) -> TipMessageRepository: ...

    @property
    def sessions(self) -> SessionRepository: ...

    @property
    def counters(self) -> CounterRepository: ...

    @property
    def subscriptions(self) -> SubscriptionRepository: ...

    @property
    def outbox(self) -> OutboxRepository: ...

    @property
    def cards(self) -> CardRepository: ...

    @property
    def staff(self) -> StaffRepository: ...

    @property
    def units(self) -> UnitRepository: ...

    @property
    def audit(self) -> AuditRepository: ...

    @property
    def deadlines(self) -> DeadlineRepository: ...

    @property
    def prompts(self) -> PromptRepository: ...

    @property
    def throttles(self) -> ThrottleRepository: ...

    @property
    def meta(self) -> MetaRepository: ...

    @property
    def webhook_updates(self) -> WebhookUpdateRepository: ...

    @property
    def send_shares(self) -> SendShareRepository: ...

    @property
    def subscribers(self) -> SubscriberRepository: ...

    @property
    def campaigns(self) -> CampaignRepository: ...


class Storage(Protocol):
    @property
    def sessions(self) -> SessionStore:
        """Per-chat state, read and written on every message (see ``SessionStore``)."""

    def uow(self) -> AbstractAsyncContextManager[UnitOfWork]:
        """A unit of work that writes: all of it commits, or none of it (StorageFull on a full disk)."""

    # Two units of work on the path of a receipt, written in one go (a backend may run them without a round
    # trip per statement). All of each commits, or none of it (StorageFull on a full disk).
    async def file_tip(
        self, tip: NewTip, code: str, passphrase_hash: str, now: datetime, quota: Quota | None,
        owed: Callable[[Tip], Sequence[NewItem]],
    ) -> Tip:
        """Counts one more on ``quota`` (if any) and writes the confirmed tip, its evidence and the outbox items
        it is ``owed``: QuotaReached past the quota's limit, CodeTaken when the code is in use."""
    async def file_assessment(
        self, tip_id: int, triage: str, priority: int, duplicates: Sequence[tuple[int, float]], owed: Sequence[NewItem],
        now: datetime,
    ) -> None:
        """Stores a tip's triage assist (its priority, its duplicate candidates) and the outbox items it causes."""
    def read(self) -> AbstractAsyncContextManager[UnitOfWork]:
        """The same repositories for reading only."""
    async def schema_version(self) -> int: ...
    async def checkpoint(self) -> None:
        """Makes deletions final in the files (no copy left in a write-ahead log)."""
    def chat_lock(self, key: str) -> AbstractAsyncContextManager[None]:
        """Serialises one chat's events (``key``: its pseudonym) for every process using this storage."""
    async def close(self) -> None: ...
