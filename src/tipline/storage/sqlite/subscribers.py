"""Outreach subscribers: a sealed chat reference, what the person chose, and dated consent (never a tip)."""

from __future__ import annotations

import json
from datetime import date

import aiosqlite

from tipline.outreach.model import AudienceFilter, Preferences, Subscriber, SubscriberEvent
from tipline.storage.sqlite.base import Repository

_COLUMNS = "id, channel, sealed_ref, province_code, commune_code, audience, lang, active, consented_on, changed_on"


def _subscriber(row: aiosqlite.Row) -> Subscriber:
    return Subscriber(
        id=row["id"],
        channel=row["channel"],
        sealed_ref=bytes(row["sealed_ref"]) if row["sealed_ref"] is not None else None,
        prefs=Preferences(row["province_code"], row["commune_code"], row["audience"], row["lang"]),
        active=bool(row["active"]),
        consented_on=date.fromisoformat(row["consented_on"]),
        changed_on=date.fromisoformat(row["changed_on"]),
    )


def describe(prefs: Preferences) -> str:
    """What was agreed to, for the consent record (places by code, no words of the person's)."""
    commune = prefs.commune_code if prefs.commune_code is not None else "all"
    return f"province={prefs.province_code} commune={commune} audience={prefs.audience} lang={prefs.lang}"


def filter_sql(audience: AudienceFilter, alias: str = "s") -> tuple[str, list[object]]:
    """The WHERE condition (after ``active = 1``) for an audience filter, and its parameters."""
    conditions: list[str] = []
    params: list[object] = []
    if audience.provinces or audience.communes:
        conditions.append(
            f"({alias}.province_code IN (SELECT value FROM json_each(?)) "
            f"OR {alias}.commune_code IN (SELECT value FROM json_each(?)))"
        )
        params += [json.dumps(list(audience.provinces)), json.dumps(list(audience.communes))]
    if audience.audiences:
        conditions.append(f"{alias}.audience IN (SELECT value FROM json_each(?))")
        params.append(json.dumps(list(audience.audiences)))
    if audience.langs:
        conditions.append(f"{alias}.lang IN (SELECT value FROM json_each(?))")
        params.append(json.dumps(list(audience.langs)))
    return " AND ".join([f"{alias}.active = 1", *conditions]), params


class SqliteSubscribers(Repository):
    async def by_key(self, chat_key: str) -> Subscriber | None:
        row = await self._one(f"SELECT {_COLUMNS} FROM outreach_subscribers WHERE chat_key = ?", (chat_key,))
        return _subscriber(row) if row else None

    async def by_id(self, subscriber_id: int) -> Subscriber | None:
        row = await self._one(f"SELECT {_COLUMNS} FROM outreach_subscribers WHERE id = ?", (subscriber_id,))
        return _subscriber(row) if row else None

    async def subscribe(self, chat_key: str, channel: str, sealed_ref: bytes, prefs: Preferences, today: date) -> str:
        """Records consent (new, or again after stopping) or a change; returns 'consent', 'change' or 'same'."""
        found = await self.by_key(chat_key)
        day = today.isoformat()
        values = (prefs.province_code, prefs.commune_code, prefs.audience, prefs.lang)
        if found is None:
            subscriber_id = await self._insert(
                "INSERT INTO outreach_subscribers (chat_key, channel, sealed_ref, province_code, commune_code, audience, "
                "lang, active, consented_on, changed_on) VALUES (?, ?, ?, ?, ?, ?, ?, 1, ?, ?)",
                (chat_key, channel, sealed_ref, *values, day, day),
            )
            event = "consent"
        else:
            subscriber_id = found.id
            if found.active and found.prefs == prefs:
                return "same"
            event = "change" if found.active else "consent"
            await self._run(
                "UPDATE outreach_subscribers SET channel = ?, sealed_ref = ?, province_code = ?, commune_code = ?, "
                "audience = ?, lang = ?, active = 1, changed_on = ?, "
                "consented_on = CASE WHEN active = 1 THEN consented_on ELSE ? END WHERE id = ?",
                (channel, sealed_ref, *values, day, day, subscriber_id),
            )
        await self._event(subscriber_id, day, event, describe(prefs))
        return event

    async def stop(self, subscriber_id: int, today: date, event: str, detail: str) -> bool:
        """Stops one subscriber and drops their sealed chat and the keyed hash that found it (a random key takes its
        place: with the secret, a stopped row names no chat); False when already stopped."""
        changed = await self._run(
            "UPDATE outreach_subscribers SET active = 0, sealed_ref = NULL, changed_on = ?, "
            "chat_key = 'stopped:' || lower(hex(randomblob(16))) WHERE id = ? AND active = 1",
            (today.isoformat(), subscriber_id),
        )
        if changed:
            await self._event(subscriber_id, today.isoformat(), event, detail)
        return bool(changed)

    async def events(self, subscriber_id: int) -> list[SubscriberEvent]:
        rows = await self._all(
            "SELECT on_day, event, detail FROM outreach_subscriber_events WHERE subscriber_id = ? ORDER BY id",
            (subscriber_id,),
        )
        return [SubscriberEvent(date.fromisoformat(row[0]), row[1], row[2]) for row in rows]

    async def count(self, audience: AudienceFilter) -> int:
        condition, params = filter_sql(audience)
        row = await self._one(f"SELECT COUNT(*) FROM outreach_subscribers s WHERE {condition}", params)
        return int(row[0]) if row else 0

    async def all(self) -> list[Subscriber]:
        return [_subscriber(row) for row in await self._all(f"SELECT {_COLUMNS} FROM outreach_subscribers ORDER BY id", ())]

    async def rekey(self, subscriber_id: int, chat_key: str, sealed_ref: bytes | None) -> None:
        await self._run(
            "UPDATE outreach_subscribers SET chat_key = ?, sealed_ref = ? WHERE id = ?", (chat_key, sealed_ref, subscriber_id)
        )

    async def _event(self, subscriber_id: int, day: str, event: str, detail: str) -> None:
        await self._run(
            "INSERT INTO outreach_subscriber_events (subscriber_id, on_day, event, detail) VALUES (?, ?, ?, ?)",
            (subscriber_id, day, event, detail[:200]),
        )
