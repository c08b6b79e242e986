"""Staff: admins, moderators and broadcasters, identified by their user id on a channel."""

from __future__ import annotations

from datetime import datetime

from tipline.staff.model import StaffMember, StaffRole
from tipline.storage.sqlite.base import Repository
from tipline.storage.sqlite.codec import ts


class SqliteStaff(Repository):
    async def roles(self, channel: str, user_ref: str) -> list[StaffMember]:
        rows = await self._all(
            "SELECT id, channel, user_ref, name, role, active FROM staff WHERE channel = ? AND user_ref = ?",
            (channel, user_ref),
        )
        return [
            StaffMember(row["id"], row["channel"], row["user_ref"], row["name"], StaffRole(row["role"]), bool(row["active"]))
            for row in rows
        ]

    async def add(self, channel: str, user_ref: str, name: str, role: StaffRole, now: datetime) -> int:
        # Two presses of a new moderator at once both find no row: the second gets the first one's.
        row = await self._one(
            "INSERT INTO staff (channel, user_ref, name, role, added_at) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (channel, user_ref, role) DO UPDATE SET name = excluded.name RETURNING id",
            (channel, user_ref, name, role.value, ts(now)),
        )
        assert row is not None
        return int(row[0])

    async def rename(self, staff_id: int, name: str) -> None:
        await self._run("UPDATE staff SET name = ? WHERE id = ?", (name, staff_id))

    async def set_role(self, channel: str, user_ref: str, role: StaffRole, active: bool, now: datetime) -> int:
        row = await self._one(
            "INSERT INTO staff (channel, user_ref, role, active, added_at) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (channel, user_ref, role) DO UPDATE SET active = excluded.active RETURNING id",
            (channel, user_ref, role.value, int(active), ts(now)),
        )
        assert row is not None
        return int(row[0])

    async def name(self, staff_id: int) -> str | None:
        row = await self._one("SELECT name FROM staff WHERE id = ?", (staff_id,))
        return str(row[0]) if row else None
