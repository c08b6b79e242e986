"""Outreach campaigns, the durable per-recipient queue of each delivery, and poll tallies."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import aiosqlite

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
from tipline.storage.sqlite.base import Repository
from tipline.storage.sqlite.codec import dt, opt_dt, opt_ts, ts
from tipline.storage.sqlite.subscribers import filter_sql

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
_COUNTED = ("sent", "unknown", "sending")


def _campaign(row: aiosqlite.Row) -> Campaign:
    return Campaign(
        id=row["id"],
        kind=CampaignKind(row["kind"]),
        status=CampaignStatus(row["status"]),
        title=row["title"],
        content=Content.from_json(json.loads(row["content"])),
        has_image=bool(row["has_image"]),
        image_ref=row["image_ref"],
        audience=AudienceFilter.from_json(json.loads(row["audience"])),
        schedule=Schedule.from_json(json.loads(row["schedule"])),
        next_run_at=opt_dt(row["next_run_at"]),
        runs=row["runs"],
        author_channel=row["author_channel"],
        author_ref=row["author_ref"],
        approver_ref=row["approver_ref"],
        draft_step=row["draft_step"],
        progress_chat=row["progress_chat"],
        progress_message=row["progress_message"],
        created_at=dt(row["created_at"]),
        updated_at=dt(row["updated_at"]),
    )


def _value(name: str, value: Any) -> Any:
    if name in _JSON_FIELDS:
        return json.dumps(value.to_json(), ensure_ascii=False)
    if isinstance(value, datetime):
        return ts(value)
    if isinstance(value, CampaignKind | CampaignStatus):
        return value.value
    return value


class SqliteCampaigns(Repository):
    # --- campaigns -------------------------------------------------------------------------------------

    async def create(
        self, new: NewCampaign, status: CampaignStatus, author_channel: str, author_ref: str, draft_step: str | None,
        now: datetime,
    ) -> int:
        return await self._insert(
            "INSERT INTO outreach_campaigns (kind, status, title, content, image, audience, schedule, author_channel, "
            "author_ref, draft_step, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                new.kind.value, status.value, new.title, _value("content", new.content), new.image,
                _value("audience", new.audience), _value("schedule", new.schedule), author_channel, author_ref,
                draft_step, ts(now), ts(now),
            ),
        )

    async def get(self, campaign_id: int) -> Campaign | None:
        row = await self._one(f"SELECT {_COLUMNS} FROM outreach_campaigns WHERE id = ?", (campaign_id,))
        return _campaign(row) if row else None

    async def update(self, campaign_id: int, now: datetime, **changes: Any) -> None:
        unknown = set(changes) - _FIELDS
        if unknown:
            raise ValueError(f"not campaign fields: {sorted(unknown)}")
        if not changes:
            return
        names = sorted(changes)
        assignments = ", ".join(f"{name} = ?" for name in names)
        await self._run(
            f"UPDATE outreach_campaigns SET {assignments}, updated_at = ? WHERE id = ?",
            (*(_value(name, changes[name]) for name in names), ts(now), campaign_id),
        )

    async def image(self, campaign_id: int) -> bytes | None:
        row = await self._one("SELECT image FROM outreach_campaigns WHERE id = ?", (campaign_id,))
        return bytes(row[0]) if row and row[0] is not None else None

    async def with_status(self, statuses: Sequence[CampaignStatus], limit: int = 50) -> list[Campaign]:
        marks = ", ".join("?" * len(statuses))
        rows = await self._all(
            f"SELECT {_COLUMNS} FROM outreach_campaigns WHERE status IN ({marks}) ORDER BY id DESC LIMIT ?",
            (*(s.value for s in statuses), limit),
        )
        return [_campaign(row) for row in rows]

    async def draft_of(self, author_channel: str, author_ref: str) -> Campaign | None:
        row = await self._one(
            f"SELECT {_COLUMNS} FROM outreach_campaigns WHERE status = 'draft' AND author_channel = ? AND author_ref = ? "
            "AND draft_step IS NOT NULL ORDER BY id DESC LIMIT 1",
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
            "AND next_run_at <= ? ORDER BY next_run_at, id",
            (ts(now),),
        )
        return [_campaign(row) for row in rows]

    # --- deliveries ------------------------------------------------------------------------------------

    async def start_run(self, campaign_id: int, run: int, audience: AudienceFilter, now: datetime) -> int:
        """Writes the recipients of a delivery (the active subscribers the filter reaches); returns how many."""
        condition, params = filter_sql(audience)
        cursor = await self.conn.execute(
            "INSERT OR IGNORE INTO outreach_recipients (campaign_id, run, subscriber_id, province_code, commune_code) "
            f"SELECT ?, ?, s.id, s.province_code, s.commune_code FROM outreach_subscribers s WHERE {condition} "
            "ORDER BY s.id",
            (campaign_id, run, *params),
        )
        count = cursor.rowcount
        await self._run(
            "INSERT INTO outreach_runs (campaign_id, run, started_at, recipients) VALUES (?, ?, ?, ?)",
            (campaign_id, run, ts(now), count),
        )
        return count

    async def claim(
        self, campaign_id: int, run: int, now: datetime, lease_until: datetime, limit: int, cap: int, since: datetime
    ) -> list[Recipient]:
        """Leases up to ``limit`` pending recipients, oldest first. Those stopped meanwhile, or who already got
        ``cap`` campaign messages since ``since``, are marked skipped instead."""
        rows = await self._all(
            "SELECT r.id, r.subscriber_id, r.attempts, s.channel, s.sealed_ref, s.lang, s.active, "
            "(SELECT COUNT(*) FROM outreach_recipients x WHERE x.subscriber_id = r.subscriber_id AND x.id != r.id "
            f"AND x.state IN {_COUNTED} AND (x.finished_at IS NULL OR x.finished_at >= ?)) AS recent "
            "FROM outreach_recipients r JOIN outreach_subscribers s ON s.id = r.subscriber_id "
            "WHERE r.campaign_id = ? AND r.run = ? AND r.state = 'pending' "
            "AND (r.next_attempt_at IS NULL OR r.next_attempt_at <= ?) ORDER BY r.id LIMIT ?",
            (ts(since), campaign_id, run, ts(now), limit),
        )
        skipped = [row["id"] for row in rows if not row["active"] or row["sealed_ref"] is None or row["recent"] >= cap]
        leased = [row for row in rows if row["id"] not in set(skipped)]
        if skipped:
            await self._set_state(skipped, "skipped", now)
        if leased:
            marks = ", ".join("?" * len(leased))
            await self._run(
                f"UPDATE outreach_recipients SET state = 'sending', lease_until = ? WHERE id IN ({marks})",
                (ts(lease_until), *(row["id"] for row in leased)),
            )
        return [
            Recipient(row["id"], row["subscriber_id"], row["channel"], bytes(row["sealed_ref"]), row["lang"], row["attempts"])
            for row in leased
        ]

    async def finish(self, outcomes: Sequence[Outcome], now: datetime) -> None:
        """Records what became of leased recipients (final states, or pending again for a retry)."""
        final: dict[str, list[int]] = {}
        for outcome in outcomes:
            if outcome.state == RecipientState.PENDING:
                await self._run(
                    "UPDATE outreach_recipients SET state = 'pending', lease_until = NULL, next_attempt_at = ?, "
                    "attempts = attempts + ? WHERE id = ? AND state = 'sending'",
                    (opt_ts(outcome.retry_at), int(outcome.count_attempt), outcome.recipient_id),
                )
            else:
                final.setdefault(outcome.state.value, []).append(outcome.recipient_id)
        for state, ids in final.items():
            await self._set_state(ids, state, now, attempted=state != "skipped")

    async def _set_state(self, ids: Sequence[int], state: str, now: datetime, attempted: bool = False) -> None:
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ", ".join("?" * len(chunk))
            await self._run(
                f"UPDATE outreach_recipients SET state = ?, finished_at = ?, lease_until = NULL, "
                f"attempts = attempts + ? WHERE id IN ({marks})",
                (state, ts(now), int(attempted), *chunk),
            )

    async def expire_leases(self, now: datetime) -> int:
        """Recipients leased by a sender that stopped mid-send: 'unknown' (maybe delivered), never sent again."""
        return await self._run(
            "UPDATE outreach_recipients SET state = 'unknown', finished_at = lease_until, lease_until = NULL "
            "WHERE state = 'sending' AND lease_until <= ?",
            (ts(now),),
        )

    async def skip_pending(self, campaign_id: int, now: datetime) -> int:
        return await self._run(
            "UPDATE outreach_recipients SET state = 'skipped', finished_at = ? WHERE campaign_id = ? AND state = 'pending'",
            (ts(now), campaign_id),
        )

    async def counts(self, campaign_id: int, run: int) -> RunCounts:
        rows = await self._all(
            "SELECT province_code, state, COUNT(*) FROM outreach_recipients WHERE campaign_id = ? AND run = ? "
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
        row = await self._one(
            "SELECT COUNT(*) FROM outreach_recipients WHERE campaign_id = ? AND run = ? "
            "AND state IN ('pending', 'sending')",
            (campaign_id, run),
        )
        return int(row[0]) if row else 0

    async def finish_run(self, campaign_id: int, run: int, now: datetime) -> None:
        await self._run(
            "UPDATE outreach_runs SET finished_at = ? WHERE campaign_id = ? AND run = ? AND finished_at IS NULL",
            (ts(now), campaign_id, run),
        )

    async def run_started(self, campaign_id: int, run: int) -> datetime | None:
        row = await self._one("SELECT started_at FROM outreach_runs WHERE campaign_id = ? AND run = ?", (campaign_id, run))
        return dt(row[0]) if row else None

    # --- polls -------------------------------------------------------------------------------------------

    async def vote(self, campaign_id: int, run: int, subscriber_id: int, option: int) -> str:
        """Counts one answer: 'counted', 'already' (one answer per recipient) or 'not_recipient'."""
        row = await self._one(
            "SELECT id, province_code, commune_code, answered FROM outreach_recipients WHERE campaign_id = ? AND run = ? "
            "AND subscriber_id = ? AND state IN ('sent', 'unknown')",
            (campaign_id, run, subscriber_id),
        )
        if row is None:
            return "not_recipient"
        if row["answered"]:
            return "already"
        await self._run("UPDATE outreach_recipients SET answered = 1 WHERE id = ?", (row["id"],))
        await self._run(
            "INSERT INTO outreach_poll_tallies (campaign_id, run, option, province_code, commune_code, answers) "
            "VALUES (?, ?, ?, ?, ?, 1) ON CONFLICT (campaign_id, run, option, province_code, commune_code) "
            "DO UPDATE SET answers = answers + 1",
            (campaign_id, run, option, row["province_code"], row["commune_code"] or 0),
        )
        return "counted"

    async def tallies(self, campaign_id: int, run: int | None = None) -> list[Tally]:
        rows = await self._all(
            "SELECT option, province_code, commune_code, SUM(answers) FROM outreach_poll_tallies WHERE campaign_id = ? "
            "AND (? IS NULL OR run = ?) GROUP BY option, province_code, commune_code ORDER BY option, province_code, "
            "commune_code",
            (campaign_id, run, run),
        )
        return [Tally(row[0], row[1], row[2] or None, int(row[3])) for row in rows]

    # --- programme reports -------------------------------------------------------------------------------

    async def activity(self, begin: datetime, end: datetime, province_code: int | None) -> list[PlaceActivity]:
        """Per place: campaign messages delivered in [begin, end), and poll answers to deliveries started then."""
        delivered = await self._all(
            "SELECT province_code, commune_code, COUNT(*) FROM outreach_recipients WHERE state = 'sent' "
            "AND finished_at >= ? AND finished_at < ? AND (? IS NULL OR province_code = ?) "
            "GROUP BY province_code, commune_code",
            (ts(begin), ts(end), province_code, province_code),
        )
        answers = await self._all(
            "SELECT t.province_code, t.commune_code, SUM(t.answers) FROM outreach_poll_tallies t "
            "JOIN outreach_runs r ON r.campaign_id = t.campaign_id AND r.run = t.run "
            "WHERE r.started_at >= ? AND r.started_at < ? AND (? IS NULL OR t.province_code = ?) "
            "GROUP BY t.province_code, t.commune_code",
            (ts(begin), ts(end), province_code, province_code),
        )
        places: dict[tuple[int, int | None], list[int]] = {}
        for province, commune, count in delivered:
            places.setdefault((province, commune), [0, 0])[0] += int(count)
        for province, commune, count in answers:
            places.setdefault((province, commune or None), [0, 0])[1] += int(count)
        return [PlaceActivity(p, c, d, a) for (p, c), (d, a) in sorted(places.items(), key=lambda kv: (kv[0][0], kv[0][1] or 0))]
