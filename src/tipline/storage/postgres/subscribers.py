"""Outreach subscribers: a sealed chat reference, what the person chose, and dated consent (never a tip)."""

from __future__ import annotations

from datetime import date

import asyncpg

from tipline.outreach.model import AudienceFilter, Preferences, Subscriber, SubscriberEvent
from tipline.storage.postgres.base import Repository

_COLUMNS = "id, channel, sealed_ref, province_code, commune_code, audience, lang, active, consented_on, changed_on"


def _subscriber(row: asyncpg.Record) -> Subscriber:
    return Subscriber(
        id=row["id"],
        channel=row["channel"],
        sealed_ref=bytes(row["sealed_ref"]) if row["sealed_ref"] is not None else None,
        prefs=Preferences(row["province_code"], row["commune_code"], row["audience"], row["lang"]),
        active=row["active"],
        consented_on=row["consented_on"],
        changed_on=row["changed_on"],
    )


def describe(prefs: Preferences) -> str:
    """What was agreed to, for the consent record (places by code, no words of the person's)."""
    commune = prefs.commune_code if prefs.commune_code is not None else "all"
    return f"province={prefs.province_code} commune={commune} audience={prefs.audience} lang={prefs.lang}"


def filter_sql(audience: AudienceFilter, first: int, alias: str = "s") -> tuple[str, list[object]]:
    """The WHERE condition (``active`` first) for an audience filter, its parameters numbered from ``first``."""
    conditions: list[str] = []
    params: list[object] = []

    def mark(value: object, cast: str) -> str:
        params.append(value)
        return f"${first + len(params) - 1}::{cast}[]"

    if audience.provinces or audience.communes:
        provinces, communes = mark(list(audience.provinces), "int"), mark(list(audience.communes), "int")
        conditions.append(f"({alias}.province_code = ANY({provinces}) OR {alias}.commune_code = ANY({communes}))")
    if audience.audiences:
        conditions.append(f"{alias}.audience = ANY({mark(list(audience.audiences), 'text')})")
    if audience.langs:
        conditions.append(f"{alias}.lang = ANY({mark(list(audience.langs), 'text')})")
    return " AND ".join([f"{alias}.active", *conditions]), params


class PgSubscribers(Repository):
    async def by_key(self, chat_key: str) -> Subscriber | None:
        # In a unit of work that writes, the row stays locked until it ends: one chat's changes take turns.
        lock = " FOR UPDATE" if self.writing else ""
        row = await self._one(f"SELECT {_COLUMNS} FROM outreach_subscribers WHERE chat_key = $1{lock}", (chat_key,))
        return _subscriber(row) if row else None

    async def by_id(self, subscriber_id: int) -> Subscriber | None:
        row = await self._one(f"SELECT {_COLUMNS} FROM outreach_subscribers WHERE id = $1", (subscriber_id,))
        return _subscriber(row) if row else None

    async def subscribe(self, chat_key: str, channel: str, sealed_ref: bytes, prefs: Preferences, today: date) -> str:
        """Records consent (new, or again after stopping) or a change; returns 'consent', 'change' or 'same'."""
        values = (prefs.province_code, prefs.commune_code, prefs.audience, prefs.lang)
        found = await self.by_key(chat_key)
        if found is None:
            # A chat subscribing in two workers at once: the second finds the first's row (and changes it).
            subscriber_id = await self.conn.fetchval(
                "INSERT INTO outreach_subscribers (chat_key, channel, sealed_ref, province_code, commune_code, "
                "audience, lang, active, consented_on, changed_on) VALUES ($1, $2, $3, $4, $5, $6, $7, TRUE, $8, $8) "
                "ON CONFLICT (chat_key) DO NOTHING RETURNING id",
                chat_key, channel, sealed_ref, *values, today,
            )
            if subscriber_id is not None:
                await self._event(int(subscriber_id), today, "consent", describe(prefs))
                return "consent"
            found = await self.by_key(chat_key)
            assert found is not None
        if found.active and found.prefs == prefs:
            return "same"
        event = "change" if found.active else "consent"
        await self._run(
            "UPDATE outreach_subscribers SET channel = $1, sealed_ref = $2, province_code = $3, commune_code = $4, "
            "audience = $5, lang = $6, active = TRUE, changed_on = $7, "
            "consented_on = CASE WHEN active THEN consented_on ELSE $7 END WHERE id = $8",
            (channel, sealed_ref, *values, today, found.id),
        )
        await self._event(found.id, today, event, describe(prefs))
        return event

    async def stop(self, subscriber_id: int, today: date, event: str, detail: str) -> bool:
        """Stops one subscriber and drops their sealed chat and the keyed hash that found it (a random key takes its
        place: with the secret, a stopped row names no chat); False when already stopped."""
        changed = await self._run(
            "UPDATE outreach_subscribers SET active = FALSE, sealed_ref = NULL, changed_on = $1, "
            "chat_key = 'stopped:' || md5(random()::text || clock_timestamp()::text) WHERE id = $2 AND active",
            (today, subscriber_id),
        )
        if changed:
            await self._event(subscriber_id, today, event, detail)
        return bool(changed)

    async def events(self, subscriber_id: int) -> list[SubscriberEvent]:
        rows = await self._all(
            "SELECT on_day, event, detail FROM outreach_subscriber_events WHERE subscriber_id = $1 ORDER BY id",
            (subscriber_id,),
        )
        return [SubscriberEvent(row["on_day"], row["event"], row["detail"]) for row in rows]

    async def count(self, audience: AudienceFilter) -> int:
        condition, params = filter_sql(audience, 1)
        value = await self.conn.fetchval(f"SELECT COUNT(*) FROM outreach_subscribers s WHERE {condition}", *params)
        return int(value or 0)

    async def all(self) -> list[Subscriber]:
        return [_subscriber(row) for row in await self._all(f"SELECT {_COLUMNS} FROM outreach_subscribers ORDER BY id", ())]

    async def rekey(self, subscriber_id: int, chat_key: str, sealed_ref: bytes | None) -> None:
        await self._run(
            "UPDATE outreach_subscribers SET chat_key = $1, sealed_ref = $2 WHERE id = $3", (chat_key, sealed_ref, subscriber_id)
        )

    async def _event(self, subscriber_id: int, day: date, event: str, detail: str) -> None:
        await self._run(
            "INSERT INTO outreach_subscriber_events (subscriber_id, on_day, event, detail) VALUES ($1, $2, $3, $4)",
            (subscriber_id, day, event, detail[:200]),
        )
