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

# Each says once what is missing, from whom, and when it was due.
OVERDUE = {
    "acknowledge": N_("⏰ Overdue: {unit} has not acknowledged {code} (due {due})."),
    "outcome": N_("⏰ Overdue: {unit} has not reported the outcome of {code} (due {due})."),
}
REMINDER = {
    "acknowledge": N_("🔔 Reminder: please acknowledge {code} by {due}."),
    "outcome": N_("🔔 Reminder: please report the outcome of {code} by {due}."),
}


async def check_deadlines(storage: Storage, audit: AuditLog, clock: Clock, deadlines: Deadlines) -> int:
    """Reminds units of deadlines drawing near and escalates overdue ones; returns how many acted."""
    now = clock()
    t = translator(STAFF_LANGUAGE)
    _ = t.gettext
    acted = 0
    async with storage.uow() as uow:
        for due in await uow.deadlines.open():
            remind_at = due.started_at + (due.due_at - due.started_at) * deadlines.remind_at
            if now >= due.due_at and due.escalated_at is None:
                unit = await uow.units.by_id(due.unit_id) if due.unit_id else None
                name = unit.name if unit else _("the police unit")
                text = _(OVERDUE[due.kind]).format(unit=name, code=due.tip_code, due=t.datetime(due.due_at))
                await uow.outbox.add(NewItem(Kind.STAFF_TEXT, Audience.MODERATORS, due.tip_id, payload={"text": text}), now)
                await uow.deadlines.escalated(due.id, now)
                await audit.append(
                    uow,
                    AuditEntry(at=now, actor_role="system", tip_code=due.tip_code, action=f"{due.kind}_overdue"),
                )
                acted += 1
            elif remind_at <= now < due.due_at and due.reminded_at is None:
                text = _(REMINDER[due.kind]).format(code=due.tip_code, due=t.datetime(due.due_at))
                await uow.outbox.add(
                    NewItem(Kind.STAFF_TEXT, Audience.UNIT, due.tip_id, due.unit_id, payload={"text": text}), now
                )
                await uow.deadlines.reminded(due.id, now)
                acted += 1
    return acted
