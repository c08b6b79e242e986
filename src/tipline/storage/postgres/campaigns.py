"""Outreach campaigns, the durable per-recipient queue of each delivery, and poll tallies.

Recipients are leased with ``FOR UPDATE SKIP LOCKED``: senders in several processes never take the same one.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import asyncpg

from tipline.outreach.model import (
    AudienceFilter,
    Campaign,
    CampaignKind,
    CampaignStatus,
    Content,
    NewCampaign,
    Outcome,
    PlaceActivity,
    Recipient,
    RecipientState,
    RunCounts,
    Schedule,
    Tally,
)
from tipline.storage.postgres.base import Repository
from tipline.storage.postgres.subscribers import filter_sql

_COLUMNS = (
    "id, kind, status, title, content, image IS NOT NULL AS has_image, image_ref, audience, schedule, next_run_at, "
    "runs, author_channel, author_ref, approver_ref, draft_step, progress_chat, progress_message, created_at, "
    "updated_at"
)
_JSON_FIELDS = {"content", "audience", "schedule"}
_FIELDS = {
    "kind", "status", "title", "content", "image", "image_ref", "audience", "schedule", "next_run_at", "runs",
    "approver_ref", "draft_step", "progress_chat", "progress_message",
}  # fmt: skip
# States that count towards the weekly cap: delivered, or maybe delivered.
_COUNTED = ["sent", "unknown", "sending"]


def _campaign(row: asyncpg.Record) -> Campaign:
    return Campaign(
        id=row["id"],
        kind=CampaignKind(row["kind"]),
        status=CampaignStatus(row["status"]),
        title=row["title"],
        content=Content.from_json(json.loads(row["content"])),
        has_image=row["has_image"],
        image_ref=row["image_ref"],
        audience=AudienceFilter.from_json(json.loads(row["audience"])),
        schedule=Schedule.from_json(json.loads(row["schedule"])),
        next_run_at=row["next_run_at"],
        runs=row["runs"],
        author_channel=row["author_channel"],
        author_ref=row["author_ref"],
        approver_ref=row["approver_ref"],
        draft_step=row["draft_step"],
        progress_chat=row["progress_chat"],
        progress_message=row["progress_message"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def _value(name: str, value: Any) -> Any:
    if name in _JSON_FIELDS:
        return json.dumps(value.to_json(), ensure_ascii=False)
    if isinstance(value, CampaignKind | CampaignStatus):
        return value.value
    return value


class PgCampaigns(Repository):
    # --- campaigns -------------------------------------------------------------------------------------

    async def create(
        self, new: NewCampaign, status: CampaignStatus, author_channel: str, author_ref: str, draft_step: str | None,
        now: datetime,
    ) -> int:
        return await self._insert(
            "INSERT INTO outreach_campaigns (kind, status, title, content, image, audience, schedule, author_channel, "
            "author_ref, draft_step, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11) "
            "RETURNING id",
            (
                new.kind.value, status.value, new.title, _value("content", new.content), new.image,
                _value("audience", new.audience), _value("schedule", new.schedule), author_channel, author_ref,
                draft_step, now,
            ),
        )

    async def get(self, campaign_id: int) -> Campaign | None:
        # In a unit of work that writes, read to decide a change: the campaign stays locked until it ends, so
        # two people approving, pausing or cancelling it at once take turns (as SQLite's one writer made them).
        lock = " FOR UPDATE" if self.writing else ""
        row = await self._one(f"SELECT {_COLUMNS} FROM outreach_campaigns WHERE id = $1{lock}", (campaign_id,))
        return _campaign(row) if row else None

    async def update(self, campaign_id: int, now: datetime, **changes: Any) -> None:
        unknown = set(changes) - _FIELDS
        if unknown:
            raise ValueError(f"not campaign fields: {sorted(unknown)}")
        if not changes:
            return
        names = sorted(changes)
        assignments = ", ".join(f"{name} = ${index}" for index, name in enumerate(names, start=1))
        await self._run(
            f"UPDATE outreach_campaigns SET {assignments}, updated_at = ${len(names) + 1} WHERE id = ${len(names) + 2}",
            (*(_value(name, changes[name]) for name in names), now, campaign_id),
        )

    async def image(self, campaign_id: int) -> bytes | None:
        value = await self.conn.fetchval("SELECT image FROM outreach_campaigns WHERE id = $1", campaign_id)
        return bytes(value) if value is not None else None

    async def with_status(self, statuses: Sequence[CampaignStatus], limit: int = 50) -> list[Campaign]:
        rows = await self._all(
            f"SELECT {_COLUMNS} FROM outreach_campaigns WHERE status = ANY($1::text[]) ORDER BY id DESC LIMIT $2",
            ([s.value for s in statuses], limit),
        )
        return [_campaign(row) for row in rows]

    async def draft_of(self, author_channel: str, author_ref: str) -> Campaign | None:
        row = await self._one(
            f"SELECT {_COLUMNS} FROM outreach_campaigns WHERE status = 'draft' AND author_channel = $1 "
            "AND author_ref = $2 AND draft_step IS NOT NULL ORDER BY id DESC LIMIT 1",
            (author_channel, author_ref),
        )
        return _campaign(row) if row else None

    async def drafting(self) -> list[tuple[str, str]]:
        rows = await self._all(
            "SELECT DISTINCT author_channel, author_ref FROM outreach_campaigns WHERE status = 'draft' "
            "AND draft_step IS NOT NULL"
        )
        return [(row[0], row[1]) for row in rows]

    async def due(self, now: datetime) -> list[Campaign]:
        rows = await self._all(
            f"SELECT {_COLUMNS} FROM outreach_campaigns WHERE status = 'approved' AND next_run_at IS NOT NULL "
            "AND next_run_at <= $1 ORDER BY next_run_at, id",
            (now,),
        )
        return [_campaign(row) for row in rows]

    # --- deliveries ------------------------------------------------------------------------------------

    async def start_run(self, campaign_id: int, run: int, audience: AudienceFilter, now: datetime) -> int:
        """Writes the recipients of a delivery (the active subscribers the filter reaches); returns how many."""
        condition, params = filter_sql(audience, 3)
        count = await self._run(
            "INSERT INTO outreach_recipients (campaign_id, run, subscriber_id, province_code, commune_code) "
            f"SELECT $1, $2, s.id, s.province_code, s.commune_code FROM outreach_subscribers s WHERE {condition} "
            "ORDER BY s.id ON CONFLICT (campaign_id, run, subscriber_id) DO NOTHING",
            (campaign_id, run, *params),
        )
        await self._run(
            "INSERT INTO outreach_runs (campaign_id, run, started_at, recipients) VALUES ($1, $2, $3, $4)",
            (campaign_id, run, now, count),
        )
        return count

    async def claim(
        self, campaign_id: int, run: int, now: datetime, lease_until: datetime, limit: int, cap: int, since: datetime
    ) -> list[Recipient]:
        """Leases up to ``limit`` pending recipients, oldest first. Those stopped meanwhile, or who already got
        ``cap`` campaign messages since ``since``, are marked skipped instead.

        The recipients and their subscribers are locked first, skipping any another worker holds (it is leasing
        them, or changing that subscription): no two workers take one recipient, nor count one subscriber's week
        at the same time. The week is counted in a statement of its own, after the locks, so it sees what any
        worker that held them last had leased."""
        picked = await self._all(
            "SELECT r.id FROM outreach_recipients r JOIN outreach_subscribers s ON s.id = r.subscriber_id "
            "WHERE r.campaign_id = $1 AND r.run = $2 AND r.state = 'pending' "
            "AND (r.next_attempt_at IS NULL OR r.next_attempt_at <= $3) ORDER BY r.id LIMIT $4 "
            "FOR UPDATE OF r, s SKIP LOCKED",
            (campaign_id, run, now, limit),
        )
        if not picked:
            return []
        rows = await self._all(
            "SELECT r.id, r.subscriber_id, r.attempts, s.channel, s.sealed_ref, s.lang, s.active, "
            "(SELECT COUNT(*) FROM outreach_recipients x WHERE x.subscriber_id = r.subscriber_id AND x.id <> r.id "
            "AND x.state = ANY($2::text[]) AND (x.finished_at IS NULL OR x.finished_at >= $3)) AS recent "
            "FROM outreach_recipients r JOIN outreach_subscribers s ON s.id = r.subscriber_id "
            "WHERE r.id = ANY($1::bigint[]) ORDER BY r.id",
            ([row["id"] for row in picked], _COUNTED, since),
        )
        skipped = [row["id"] for row in rows if not row["active"] or row["sealed_ref"] is None or row["recent"] >= cap]
        leased = [row for row in rows if row["id"] not in set(skipped)]
        if skipped:
            await self._set_state(skipped, "skipped", now)
        if leased:
            await self._run(
                "UPDATE outreach_recipients SET state = 'sending', lease_until = $1 WHERE id = ANY($2::bigint[])",
                (lease_until, [row["id"] for row in leased]),
            )
        return [
            Recipient(row["id"], row["subscriber_id"], row["channel"], bytes(row["sealed_ref"]), row["lang"], row["attempts"])
            for row in leased
        ]

    async def finish(self, outcomes: Sequence[Outcome], now: datetime) -> None:
        """Records what became of leased recipients (final states, or pending again for a retry)."""
        final: dict[str, list[int]] = {}
        retries = []
        for outcome in outcomes:
            if outcome.state == RecipientState.PENDING:
                retries.append((outcome.retry_at, int(outcome.count_attempt), outcome.recipient_id))
            else:
                final.setdefault(outcome.state.value, []).append(outcome.recipient_id)
        if retries:
            await self.conn.executemany(
                "UPDATE outreach_recipients SET state = 'pending', lease_until = NULL, next_attempt_at = $1, "
                "attempts = attempts + $2 WHERE id = $3 AND state = 'sending'",
                retries,
            )
        for state, ids in final.items():
            await self._set_state(ids, state, now, attempted=state != "skipped")

    async def _set_state(self, ids: Sequence[int], state: str, now: datetime, attempted: bool = False) -> None:
        await self._run(
            "UPDATE outreach_recipients SET state = $1, finished_at = $2, lease_until = NULL, attempts = attempts + $3 "
            "WHERE id = ANY($4::bigint[])",
            (state, now, int(attempted), list(ids)),
        )

    async def expire_leases(self, now: datetime) -> int:
        """Recipients leased by a sender that stopped mid-send: 'unknown' (maybe delivered), never sent again."""
        return await self._run(
            "UPDATE outreach_recipients SET state = 'unknown', finished_at = lease_until, lease_until = NULL "
            "WHERE state = 'sending' AND lease_until <= $1",
            (now,),
        )

    async def skip_pending(self, campaign_id: int, now: datetime) -> int:
        return await self._run(
            "UPDATE outreach_recipients SET state = 'skipped', finished_at = $1 WHERE campaign_id = $2 "
            "AND state = 'pending'",
            (now, campaign_id),
        )

    async def counts(self, campaign_id: int, run: int) -> RunCounts:
        rows = await self._all(
            "SELECT province_code, state, COUNT(*) FROM outreach_recipients WHERE campaign_id = $1 AND run = $2 "
            "GROUP BY province_code, state",
            (campaign_id, run),
        )
        by_state: dict[str, int] = {}
        by_province: dict[int, dict[str, int]] = {}
        for province, state, count in rows:
            by_state[state] = by_state.get(state, 0) + count
            by_province.setdefault(province, {})[state] = count
        return RunCounts(by_state, by_province)

    async def pending(self, campaign_id: int, run: int) -> int:
        """Recipients not yet finished (pending or being sent)."""
        value = await self.conn.fetchval(
            "SELECT COUNT(*) FROM outreach_recipients WHERE campaign_id = $1 AND run = $2 "
            "AND state IN ('pending', 'sending')",
            campaign_id, run,
        )
        return int(value or 0)

    async def finish_run(self, campaign_id: int, run: int, now: datetime) -> None:
        await self._run(
            "UPDATE outreach_runs SET finished_at = $1 WHERE campaign_id = $2 AND run = $3 AND finished_at IS NULL",
            (now, campaign_id, run),
        )

    async def run_started(self, campaign_id: int, run: int) -> datetime | None:
        value: datetime | None = await self.conn.fetchval(
            "SELECT started_at FROM outreach_runs WHERE campaign_id = $1 AND run = $2", campaign_id, run
        )
        return value

    # --- polls -------------------------------------------------------------------------------------------

    async def vote(self, campaign_id: int, run: int, subscriber_id: int, option: int) -> str:
        """Counts one answer: 'counted', 'already' (one answer per recipient) or 'not_recipient'. The recipient
        is marked answered in the same statement that finds it unanswered: two answers sent at once through two
        workers count once."""
        row = await self._one(
            "UPDATE outreach_recipients SET answered = TRUE WHERE campaign_id = $1 AND run = $2 AND subscriber_id = $3 "
            "AND state IN ('sent', 'unknown') AND NOT answered RETURNING province_code, commune_code",
            (campaign_id, run, subscriber_id),
        )
        if row is None:
            recipient = await self.conn.fetchval(
                "SELECT 1 FROM outreach_recipients WHERE campaign_id = $1 AND run = $2 AND subscriber_id = $3 "
                "AND state IN ('sent', 'unknown')",
                campaign_id, run, subscriber_id,
            )
            return "already" if recipient is not None else "not_recipient"
        await self._run(
            "INSERT INTO outreach_poll_tallies (campaign_id, run, option, province_code, commune_code, answers) "
            "VALUES ($1, $2, $3, $4, $5, 1) ON CONFLICT (campaign_id, run, option, province_code, commune_code) "
            "DO UPDATE SET answers = outreach_poll_tallies.answers + 1",
            (campaign_id, run, option, row["province_code"], row["commune_code"] or 0),
        )
        return "counted"

    async def tallies(self, campaign_id: int, run: int | None = None) -> list[Tally]:
        rows = await self._all(
            "SELECT option, province_code, commune_code, SUM(answers) FROM outreach_poll_tallies WHERE campaign_id = $1 "
            "AND ($2::int IS NULL OR run = $2) GROUP BY option, province_code, commune_code "
            "ORDER BY option, province_code, commune_code",
            (campaign_id, run),
        )
        return [Tally(row[0], row[1], row[2] or None, int(row[3])) for row in rows]

    # --- programme reports -------------------------------------------------------------------------------

    async def activity(self, begin: datetime, end: datetime, province_code: int | None) -> list[PlaceActivity]:
        """Per place: campaign messages delivered in [begin, end), and poll answers to deliveries started then."""
        delivered = await self._all(
            "SELECT province_code, commune_code, COUNT(*) FROM outreach_recipients WHERE state = 'sent' "
            "AND finished_at >= $1 AND finished_at < $2 AND ($3::int IS NULL OR province_code = $3) "
            "GROUP BY province_code, commune_code",
            (begin, end, province_code),
        )
        answers = await self._all(
            "SELECT t.province_code, t.commune_code, SUM(t.answers) FROM outreach_poll_tallies t "
            "JOIN outreach_runs r ON r.campaign_id = t.campaign_id AND r.run = t.run "
            "WHERE r.started_at >= $1 AND r.started_at < $2 AND ($3::int IS NULL OR t.province_code = $3) "
            "GROUP BY t.province_code, t.commune_code",
            (begin, end, province_code),
        )
        places: dict[tuple[int, int | None], list[int]] = {}
        for province, commune, count in delivered:
            places.setdefault((province, commune), [0, 0])[0] += int(count)
        for province, commune, count in answers:
            places.setdefault((province, commune or None), [0, 0])[1] += int(count)
        return [
            PlaceActivity(p, c, d, a) for (p, c), (d, a) in sorted(places.items(), key=lambda kv: (kv[0][0], kv[0][1] or 0))
        ]
