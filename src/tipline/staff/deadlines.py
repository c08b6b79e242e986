"""Police units' deadlines: a reminder to the unit when most of the time has passed, and word to the
moderators when it is over. Kept in the database, checked every minute, so restarts lose none."""

from __future__ import annotations

from tipline.clock import Clock
from tipline.delivery.model import Audience, Kind, NewItem
from tipline.i18n import N_, translator
from tipline.records.audit import AuditEntry, AuditLog
from tipline.staff.cards import STAFF_LANGUAGE
from tipline.staff.moderation import Deadlines
from tipline.storage.ports import Storage

OVERDUE = {
    "acknowledge": N_("⏰ Overdue: {code} has not been acknowledged by the police unit in time."),
    "outcome": N_("⏰ Overdue: no outcome has been reported for {code} in time."),
}
REMINDER = {
    "acknowledge": N_("🔔 Reminder: please acknowledge {code}."),
    "outcome": N_("🔔 Reminder: please report the outcome for {code}."),
}


async def check_deadlines(storage: Storage, audit: AuditLog, clock: Clock, deadlines: Deadlines) -> int:
    """Reminds units of deadlines drawing near and escalates overdue ones; returns how many acted."""
    now = clock()
    _ = translator(STAFF_LANGUAGE).gettext
    acted = 0
    async with storage.uow() as uow:
        for due in await uow.deadlines.open():
            remind_at = due.started_at + (due.due_at - due.started_at) * deadlines.remind_at
            if now >= due.due_at and due.escalated_at is None:
                text = _(OVERDUE[due.kind]).format(code=due.tip_code)
                await uow.outbox.add(NewItem(Kind.STAFF_TEXT, Audience.MODERATORS, due.tip_id, payload={"text": text}), now)
                await uow.deadlines.escalated(due.id, now)
                await audit.append(
                    uow,
                    AuditEntry(at=now, actor_role="system", tip_code=due.tip_code, action=f"{due.kind}_overdue"),
                )
                acted += 1
            elif remind_at <= now < due.due_at and due.reminded_at is None:
                text = _(REMINDER[due.kind]).format(code=due.tip_code)
                await uow.outbox.add(
                    NewItem(Kind.STAFF_TEXT, Audience.UNIT, due.tip_id, due.unit_id, payload={"text": text}), now
                )
                await uow.deadlines.reminded(due.id, now)
                acted += 1
    return acted
