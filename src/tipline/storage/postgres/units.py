"""Police units, their communes, chats and invites. "Which units are active" is answered here (``_ACTIVE``)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import asyncpg

from tipline.delivery.model import Address
from tipline.staff.model import Invite, Unit, UnitRow, UpsertCounts
from tipline.storage.ports import ChatAlreadyLinked, CodeTaken, CommuneTaken
from tipline.storage.postgres.base import Repository

_COLUMNS = "id, code, name, province_code, chat_channel, chat, linked_at, active, created_at, updated_at"
_ACTIVE = "active"


def _unit(row: asyncpg.Record, communes: tuple[int, ...]) -> Unit:
    chat = Address(row["chat_channel"], row["chat"]) if row["chat"] is not None else None
    return Unit(
        id=row["id"], code=row["code"], name=row["name"], province_code=row["province_code"], chat=chat,
        linked_at=row["linked_at"], active=row["active"], created_at=row["created_at"], updated_at=row["updated_at"],
        communes=communes,
    )


class PgUnits(Repository):
    async def _fetch(self, where: str = "TRUE", params: Sequence[object] = ()) -> list[Unit]:
        rows = await self._all(f"SELECT {_COLUMNS} FROM units WHERE {where} ORDER BY province_code, code", params)
        if not rows:
            return []
        communes: dict[int, list[int]] = {}
        for unit_id, commune in await self._all(
            "SELECT unit_id, commune_code FROM unit_communes WHERE unit_id = ANY($1::bigint[]) ORDER BY commune_code",
            ([row["id"] for row in rows],),
        ):
            communes.setdefault(unit_id, []).append(commune)
        return [_unit(row, tuple(communes.get(row["id"], ()))) for row in rows]

    async def _first(self, where: str, params: Sequence[object]) -> Unit | None:
        found = await self._fetch(where, params)
        return found[0] if found else None

    async def by_id(self, unit_id: int) -> Unit | None:
        return await self._first("id = $1", (unit_id,))

    async def by_code(self, code: str) -> Unit | None:
        return await self._first("lower(code) = lower($1)", (code.strip(),))

    async def all(self) -> list[Unit]:
        return await self._fetch()

    async def in_province(self, province_code: int) -> list[Unit]:
        return await self._fetch("province_code = $1", (province_code,))

    async def active_in_province(self, province_code: int) -> list[Unit]:
        units = await self._fetch(f"province_code = $1 AND {_ACTIVE}", (province_code,))
        return sorted(units, key=lambda unit: unit.name)

    async def for_commune(self, commune_code: int) -> Unit | None:
        return await self._first("id = (SELECT unit_id FROM unit_communes WHERE commune_code = $1)", (commune_code,))

    async def active_for_commune(self, commune_code: int) -> Unit | None:
        return await self._first(
            f"id = (SELECT unit_id FROM unit_communes WHERE commune_code = $1) AND {_ACTIVE}", (commune_code,)
        )

    async def active_by_chat(self, chat: Address) -> Unit | None:
        return await self._first(f"chat_channel = $1 AND chat = $2 AND {_ACTIVE}", (chat.channel, chat.chat))

    async def active_chats(self) -> list[Address]:
        rows = await self._all(f"SELECT chat_channel, chat FROM units WHERE chat IS NOT NULL AND {_ACTIVE}")
        return [Address(row[0], row[1]) for row in rows]

    async def owners(self, commune_codes: Sequence[int]) -> dict[int, tuple[str, str]]:
        rows = await self._all(
            "SELECT uc.commune_code, u.code, u.name FROM unit_communes uc JOIN units u ON u.id = uc.unit_id "
            "WHERE uc.commune_code = ANY($1::integer[])",
            (sorted(set(commune_codes)),),
        )
        return {row[0]: (row[1], row[2]) for row in rows}

    async def upsert(self, rows: Sequence[UnitRow], now: datetime) -> UpsertCounts:
        codes = [row.code.lower() for row in rows]
        if len(set(codes)) != len(codes):
            raise ValueError("a unit code appears twice")
        communes = [commune for row in rows for commune in row.communes]
        if len(set(communes)) != len(communes):
            raise ValueError("a commune appears twice")
        redefined = set(codes)
        owners = await self.owners(communes)
        taken = [
            (commune, owners[commune][0])
            for row in rows for commune in row.communes
            if commune in owners and owners[commune][0].lower() not in redefined
        ]
        if taken:
            raise CommuneTaken(taken)
        existing = {unit.code.lower(): unit for unit in await self._fetch()}
        created = updated = unchanged = 0
        changed: list[tuple[int, UnitRow]] = []
        for row in rows:
            unit = existing.get(row.code.lower())
            if unit is None:
                unit_id = await self._insert(
                    "INSERT INTO units (code, name, province_code, active, created_at, updated_at) "
                    "VALUES ($1, $2, $3, TRUE, $4, $4) RETURNING id",
                    (row.code, row.name, row.province_code, now),
                )
                changed.append((unit_id, row))
                created += 1
            elif (unit.code, unit.name, unit.province_code, unit.communes) != (
                row.code, row.name, row.province_code, tuple(sorted(row.communes))
            ):
                await self._run(
                    "UPDATE units SET code = $1, name = $2, province_code = $3, updated_at = $4 WHERE id = $5",
                    (row.code, row.name, row.province_code, now, unit.id),
                )
                changed.append((unit.id, row))
                updated += 1
            else:
                unchanged += 1
        if changed:
            await self._run("DELETE FROM unit_communes WHERE unit_id = ANY($1::bigint[])", ([uid for uid, _ in changed],))
            pairs = [(uid, commune) for uid, row in changed for commune in row.communes]
            if pairs:
                await self.conn.executemany("INSERT INTO unit_communes (unit_id, commune_code) VALUES ($1, $2)", pairs)
        return UpsertCounts(created, updated, unchanged)

    async def link_chat(self, unit_id: int, chat: Address, now: datetime) -> Unit | None:
        other = await self._first("chat_channel = $1 AND chat = $2 AND id != $3", (chat.channel, chat.chat, unit_id))
        if other is not None:
            raise ChatAlreadyLinked(other.code)
        try:
            async with self.conn.transaction():  # a savepoint: another worker may link the chat meanwhile
                changed = await self._run(
                    "UPDATE units SET chat_channel = $1, chat = $2, linked_at = $3, updated_at = $3 WHERE id = $4",
                    (chat.channel, chat.chat, now, unit_id),
                )
        except asyncpg.UniqueViolationError:
            other = await self._first("chat_channel = $1 AND chat = $2 AND id != $3", (chat.channel, chat.chat, unit_id))
            raise ChatAlreadyLinked(other.code if other else "?") from None
        return await self.by_id(unit_id) if changed == 1 else None

    async def request_relink(self, unit_id: int, chat: Address, now: datetime) -> None:
        await self._run(
            "INSERT INTO unit_relinks (unit_id, channel, chat, requested_at) VALUES ($1, $2, $3, $4) "
            "ON CONFLICT (unit_id) DO UPDATE SET channel = excluded.channel, chat = excluded.chat, "
            "requested_at = excluded.requested_at",
            (unit_id, chat.channel, chat.chat, now),
        )

    async def pending_relink(self, unit_id: int) -> Address | None:
        row = await self._one("SELECT channel, chat FROM unit_relinks WHERE unit_id = $1", (unit_id,))
        return Address(row[0], row[1]) if row else None

    async def clear_relink(self, unit_id: int) -> None:
        await self._run("DELETE FROM unit_relinks WHERE unit_id = $1", (unit_id,))

    async def add_invite(self, unit_id: int, code_hash: str, created_by: str, now: datetime, expires: datetime) -> None:
        try:
            async with self.conn.transaction():
                await self._run(
                    "INSERT INTO unit_invites (unit_id, code_hash, created_by, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)",
                    (unit_id, code_hash, created_by, now, expires),
                )
        except asyncpg.UniqueViolationError as exc:
            raise CodeTaken(code_hash) from exc

    async def invite(self, code_hash: str) -> Invite | None:
        # FOR UPDATE: of two workers redeeming one code, the second waits and then sees it used.
        row = await self._one(
            "SELECT id, unit_id, expires_at, used_at FROM unit_invites WHERE code_hash = $1 FOR UPDATE", (code_hash,)
        )
        return Invite(row["id"], row["unit_id"], row["expires_at"], row["used_at"]) if row else None

    async def use_invites(self, unit_id: int, now: datetime) -> None:
        await self._run("UPDATE unit_invites SET used_at = $1 WHERE unit_id = $2 AND used_at IS NULL", (now, unit_id))

    async def void_pending_invites(self, now: datetime) -> int:
        return await self._run("UPDATE unit_invites SET used_at = $1 WHERE used_at IS NULL", (now,))
