"""Police units, the communes each covers, their chats and the one-time invites that link a chat.

"Which units are active" is answered here and nowhere else (``_ACTIVE``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import aiosqlite

from tipline.delivery.model import Address
from tipline.staff.model import Invite, Unit, UnitRow, UpsertCounts
from tipline.storage.ports import ChatAlreadyLinked, CodeTaken, CommuneTaken
from tipline.storage.sqlite.base import Repository
from tipline.storage.sqlite.codec import dt, opt_dt, ts

_COLUMNS = "id, code, name, province_code, chat_channel, chat, linked_at, active, created_at, updated_at"
_ACTIVE = "active = 1"


def _unit(row: aiosqlite.Row, communes: tuple[int, ...]) -> Unit:
    chat = Address(row["chat_channel"], row["chat"]) if row["chat"] is not None else None
    return Unit(
        id=row["id"], code=row["code"], name=row["name"], province_code=row["province_code"], chat=chat,
        linked_at=opt_dt(row["linked_at"]), active=bool(row["active"]), created_at=dt(row["created_at"]),
        updated_at=dt(row["updated_at"]), communes=communes,
    )


class SqliteUnits(Repository):
    async def _fetch(self, where: str = "1", params: Sequence[object] = ()) -> list[Unit]:
        rows = await self._all(f"SELECT {_COLUMNS} FROM units WHERE {where} ORDER BY province_code, code", params)
        if not rows:
            return []
        communes: dict[int, list[int]] = {}
        ids = [row["id"] for row in rows]
        marks = ", ".join("?" * len(ids))
        for unit_id, commune in await self._all(
            f"SELECT unit_id, commune_code FROM unit_communes WHERE unit_id IN ({marks}) ORDER BY commune_code", ids
        ):
            communes.setdefault(unit_id, []).append(commune)
        return [_unit(row, tuple(communes.get(row["id"], ()))) for row in rows]

    async def _first(self, where: str, params: Sequence[object]) -> Unit | None:
        found = await self._fetch(where, params)
        return found[0] if found else None

    async def by_id(self, unit_id: int) -> Unit | None:
        return await self._first("id = ?", (unit_id,))

    async def by_code(self, code: str) -> Unit | None:
        """The unit with this code, ignoring case and surrounding spaces."""
        return await self._first("code = ?", (code.strip(),))

    async def all(self) -> list[Unit]:
        return await self._fetch()

    async def in_province(self, province_code: int) -> list[Unit]:
        return await self._fetch("province_code = ?", (province_code,))

    async def active_in_province(self, province_code: int) -> list[Unit]:
        units = await self._fetch(f"province_code = ? AND {_ACTIVE}", (province_code,))
        return sorted(units, key=lambda unit: unit.name)

    async def for_commune(self, commune_code: int) -> Unit | None:
        return await self._first("id = (SELECT unit_id FROM unit_communes WHERE commune_code = ?)", (commune_code,))

    async def active_for_commune(self, commune_code: int) -> Unit | None:
        return await self._first(
            f"id = (SELECT unit_id FROM unit_communes WHERE commune_code = ?) AND {_ACTIVE}", (commune_code,)
        )

    async def active_by_chat(self, chat: Address) -> Unit | None:
        return await self._first(f"chat_channel = ? AND chat = ? AND {_ACTIVE}", (chat.channel, chat.chat))

    async def active_chats(self) -> list[Address]:
        rows = await self._all(f"SELECT chat_channel, chat FROM units WHERE chat IS NOT NULL AND {_ACTIVE}")
        return [Address(row[0], row[1]) for row in rows]

    async def owners(self, commune_codes: Sequence[int]) -> dict[int, tuple[str, str]]:
        """Commune code -> (code, name) of the unit that covers it, for the communes already covered."""
        owners: dict[int, tuple[str, str]] = {}
        wanted = sorted(set(commune_codes))
        for start in range(0, len(wanted), 500):  # stay far below SQLite's bound-parameter limit
            chunk = wanted[start : start + 500]
            marks = ", ".join("?" * len(chunk))
            for commune, code, name in await self._all(
                "SELECT uc.commune_code, u.code, u.name FROM unit_communes uc JOIN units u ON u.id = uc.unit_id "
                f"WHERE uc.commune_code IN ({marks})",
                chunk,
            ):
                owners[commune] = (code, name)
        return owners

    async def upsert(self, rows: Sequence[UnitRow], now: datetime) -> UpsertCounts:
        """Creates or updates units by code (case-insensitive) and replaces their communes.

        Raises ValueError when the rows repeat a unit code or a commune, and CommuneTaken when a commune is
        covered by a unit the rows do not include.
        """
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
                    "VALUES (?, ?, ?, 1, ?, ?)",
                    (row.code, row.name, row.province_code, ts(now), ts(now)),
                )
                changed.append((unit_id, row))
                created += 1
            elif (unit.code, unit.name, unit.province_code, unit.communes) != (
                row.code, row.name, row.province_code, tuple(sorted(row.communes))
            ):
                await self._run(
                    "UPDATE units SET code = ?, name = ?, province_code = ?, updated_at = ? WHERE id = ?",
                    (row.code, row.name, row.province_code, ts(now), unit.id),
                )
                changed.append((unit.id, row))
                updated += 1
            else:
                unchanged += 1
        # Free every replaced commune before inserting, so that communes can move between units in one import.
        await self._many("DELETE FROM unit_communes WHERE unit_id = ?", [(uid,) for uid, _ in changed])
        await self._many(
            "INSERT INTO unit_communes (unit_id, commune_code) VALUES (?, ?)",
            [(uid, commune) for uid, row in changed for commune in row.communes],
        )
        return UpsertCounts(created, updated, unchanged)

    async def link_chat(self, unit_id: int, chat: Address, now: datetime) -> Unit | None:
        other = await self._first("chat_channel = ? AND chat = ? AND id != ?", (chat.channel, chat.chat, unit_id))
        if other is not None:
            raise ChatAlreadyLinked(other.code)
        changed = await self._run(
            "UPDATE units SET chat_channel = ?, chat = ?, linked_at = ?, updated_at = ? WHERE id = ?",
            (chat.channel, chat.chat, ts(now), ts(now), unit_id),
        )
        return await self.by_id(unit_id) if changed == 1 else None

    async def request_relink(self, unit_id: int, chat: Address, now: datetime) -> None:
        await self._run(
            "INSERT INTO unit_relinks (unit_id, channel, chat, requested_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (unit_id) DO UPDATE SET channel = excluded.channel, chat = excluded.chat, "
            "requested_at = excluded.requested_at",
            (unit_id, chat.channel, chat.chat, ts(now)),
        )

    async def pending_relink(self, unit_id: int) -> Address | None:
        row = await self._one("SELECT channel, chat FROM unit_relinks WHERE unit_id = ?", (unit_id,))
        return Address(row[0], row[1]) if row else None

    async def clear_relink(self, unit_id: int) -> None:
        await self._run("DELETE FROM unit_relinks WHERE unit_id = ?", (unit_id,))

    async def add_invite(self, unit_id: int, code_hash: str, created_by: str, now: datetime, expires: datetime) -> None:
        try:
            await self._run(
                "INSERT INTO unit_invites (unit_id, code_hash, created_by, created_at, expires_at) VALUES (?, ?, ?, ?, ?)",
                (unit_id, code_hash, created_by, ts(now), ts(expires)),
            )
        except aiosqlite.IntegrityError as exc:
            raise CodeTaken(code_hash) from exc

    async def invite(self, code_hash: str) -> Invite | None:
        row = await self._one("SELECT id, unit_id, expires_at, used_at FROM unit_invites WHERE code_hash = ?", (code_hash,))
        return Invite(row["id"], row["unit_id"], dt(row["expires_at"]), opt_dt(row["used_at"])) if row else None

    async def void_pending_invites(self, now: datetime) -> int:
        return await self._run("UPDATE unit_invites SET used_at = ? WHERE used_at IS NULL", (ts(now),))

    async def use_invites(self, unit_id: int, now: datetime) -> None:
        await self._run("UPDATE unit_invites SET used_at = ? WHERE unit_id = ? AND used_at IS NULL", (ts(now), unit_id))
