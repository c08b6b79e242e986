"""Who may act on the staff side, decided on the server from records it keeps:

- admins by configuration (their user ids);
- moderators by membership of the moderators' chat, asked of the channel (``Membership``) and cached for a
  minute, or by an admin's addition; an admin's removal overrides membership at once;
- police units by the chat an invite linked, and only while the unit is active.

A chat a button sits in is never proof of anything by itself.
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol

from tipline.clock import Clock
from tipline.delivery.model import Address
from tipline.once import OneAtATime
from tipline.staff.actors import Actor, Role, StaffUser
from tipline.staff.model import StaffRole
from tipline.storage.ports import Storage

MEMBERSHIP_TTL = 60.0  # seconds a "member of the moderators' chat" answer is trusted
STAFF_CHATS_TTL = 60.0  # seconds the list of units' chats is used before it is read again


class Membership(Protocol):
    async def is_member(self, chat: Address, user_ref: str) -> bool:
        """Whether the person is a current member of the chat (the channel is asked)."""


class Authorizer:
    def __init__(
        self,
        storage: Storage,
        clock: Clock,
        admins: frozenset[tuple[str, str]],
        moderators: Address | None,
        membership: Membership | None = None,
    ) -> None:
        self.storage = storage
        self.clock = clock
        self.admins = admins  # (channel, user_ref)
        self.moderators = moderators
        self.membership = membership
        self._members: dict[tuple[str, str], tuple[bool, float]] = {}
        self._asking: dict[tuple[str, str], asyncio.Future[bool]] = {}
        self._unit_chats: tuple[frozenset[tuple[str, str]], float] | None = None
        # One read for all who ask meanwhile, and they go on in the order they asked: a chat's messages are
        # not reordered before they reach its lock.
        self._read_unit_chats_once = OneAtATime(self._read_unit_chats)

    def is_moderators_chat(self, chat: Address) -> bool:
        return self.moderators is not None and (chat.channel, chat.chat) == (self.moderators.channel, self.moderators.chat)

    async def is_staff_chat(self, chat: Address) -> bool:
        """The moderators' chat or an active unit's linked chat: talk there is not a citizen's conversation.

        Asked for every button pressed in a private chat, so the units' chats are read at most once a
        minute (and again at once after this process linked a chat, see ``forget_unit_chats``). It only
        routes a press; whoever acts on the staff side is still decided by ``actor``, read fresh."""
        if self.is_moderators_chat(chat):
            return True
        if self._unit_chats is None or self._unit_chats[1] <= time.monotonic():
            await self._read_unit_chats_once()
        assert self._unit_chats is not None
        return (chat.channel, chat.chat) in self._unit_chats[0]

    async def _read_unit_chats(self) -> None:
        async with self.storage.read() as uow:
            chats = await uow.units.active_chats()
        self._unit_chats = (frozenset((c.channel, c.chat) for c in chats), time.monotonic() + STAFF_CHATS_TTL)

    def forget_unit_chats(self) -> None:
        """A unit's chat changed: the next ``is_staff_chat`` reads them again."""
        self._unit_chats = None

    async def unit(self, chat: Address) -> Actor | None:
        """The police unit whose linked chat this is, if it is active."""
        if self.is_moderators_chat(chat):
            return None
        async with self.storage.read() as uow:
            unit = await uow.units.active_by_chat(Address(chat.channel, chat.chat))
        return Actor(Role.UNIT, unit.id, unit.name) if unit else None

    async def _in_group(self, user: StaffUser) -> bool:
        if self.moderators is None or self.membership is None or user.channel != self.moderators.channel:
            return False
        key = (user.channel, user.user_ref)
        cached = self._members.get(key)
        if cached is not None and cached[1] > time.monotonic():
            return cached[0]
        # One question to the channel per person at a time: presses arriving together wait for its answer
        # (a script pressing hundreds of forged buttons costs one request, not hundreds).
        asking = self._asking.get(key)
        if asking is None:
            asking = asyncio.ensure_future(self.membership.is_member(self.moderators, user.user_ref))
            self._asking[key] = asking
            asking.add_done_callback(lambda _: self._asking.pop(key, None))
        member = await asyncio.shield(asking)
        self._members[key] = (member, time.monotonic() + MEMBERSHIP_TTL)
        return member

    def forget(self, channel: str, user_ref: str) -> None:
        """Drops what is cached about a person (after an admin changed their role)."""
        self._members.pop((channel, user_ref), None)

    async def actor(self, user: StaffUser, chat: Address) -> Actor | None:
        """The unit or staff member acting, or None when they may not act."""
        unit = await self.unit(chat)
        if unit is not None:
            return unit
        return await self.staff(user)

    async def staff(self, user: StaffUser) -> Actor | None:
        """The admin or moderator behind a person, or None."""
        is_admin = (user.channel, user.user_ref) in self.admins
        name = user.name[:64]
        async with self.storage.read() as uow:
            by_role = {member.role: member for member in await uow.staff.roles(user.channel, user.user_ref)}
        role: Role | None = None
        if is_admin:
            role = Role.ADMIN
        elif StaffRole.MODERATOR in by_role:
            role = Role.MODERATOR if by_role[StaffRole.MODERATOR].active else None
        elif await self._in_group(user):  # admins need no membership
            role = Role.MODERATOR
        if role is None:
            return None
        member = by_role.get(StaffRole(role.value))
        if member is None or member.name != name:  # the name is shown on cards ("claimed by"): follows renames
            async with self.storage.uow() as uow:
                if member is None:
                    staff_id = await uow.staff.add(user.channel, user.user_ref, name, StaffRole(role.value), self.clock())
                else:
                    staff_id = member.id
                    await uow.staff.rename(staff_id, name)
        else:
            staff_id = member.id
        return Actor(role, staff_id, user.name)

    async def is_broadcaster(self, user: StaffUser) -> bool:
        """Broadcasters (for awareness campaigns) are named by admins; admins broadcast too."""
        if (user.channel, user.user_ref) in self.admins:
            return True
        async with self.storage.read() as uow:
            roles = await uow.staff.roles(user.channel, user.user_ref)
        return any(member.role == StaffRole.BROADCASTER and member.active for member in roles)
