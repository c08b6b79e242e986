"""Staff commands in the moderators' chat or in private: the queue, one tip, search, statistics."""

from __future__ import annotations

from datetime import datetime

from tipline.i18n import N_, TIMEZONE, translator
from tipline.records.reports import format_stats, stats
from tipline.replies import Choice, QueuePage, Reply
from tipline.staff.cards import STAFF_LANGUAGE, level_of
from tipline.staff.views import find
from tipline.storage.ports import Storage
from tipline.tips import LEVEL_LABELS, STATUS_LABELS, Tip

QUEUE_PAGE = 10
STAFF_COMMANDS = frozenset(
    {
        "queue", "tip", "find", "stats", "addmod", "removemod", "addbroadcaster", "removebroadcaster", "invite",
        "relink", "staffhelp", "report",
    }
)
STAFF_HELP = N_(
    "Staff commands: /queue [page], /tip CODE, /find TEXT, /stats; admins: /addmod ID, /removemod ID, "
    "/addbroadcaster ID, /removebroadcaster ID, /invite UNIT, /relink UNIT, /report [PERIOD]; broadcasters: "
    "/campaign (a new one, in a private chat), /campaigns, /campaign N, /approve N, /reject N, /pause N, "
    "/resume N, /stopcampaign N"
)


def tip_line(tip: Tip) -> str:
    """One line of a list: code, status as staff read it, priority, the start of the description."""
    _ = translator(STAFF_LANGUAGE).gettext
    return f"• {tip.code} · {_(STATUS_LABELS[tip.status])} · {_(LEVEL_LABELS[level_of(tip)])} · {tip.description[:60]}"


async def queue_page(storage: Storage, page: int) -> Reply:
    """One page of open tips, most urgent first, with choices to turn the page."""
    _ = translator(STAFF_LANGUAGE).gettext
    async with storage.read() as uow:
        tips, total = await uow.tips.open_tips(page * QUEUE_PAGE, QUEUE_PAGE)
    pages = max(1, -(-total // QUEUE_PAGE))
    lines = [_("Open tips: {total} (page {page} of {pages})").format(total=total, page=page + 1, pages=pages)]
    lines += [tip_line(tip) for tip in tips]
    turn = []
    if page > 0:
        turn.append(Choice(_("◀️ Previous"), QueuePage(page - 1)))
    if page + 1 < pages:
        turn.append(Choice(_("More ▶️"), QueuePage(page + 1)))
    return Reply("\n".join(lines), (tuple(turn),) if turn else ())


async def find_tips(storage: Storage, text: str) -> Reply:
    t = translator(STAFF_LANGUAGE)
    async with storage.read() as uow:
        tips = await find(uow, text)
    found = t.ngettext("Found {n} tip", "Found {n} tips", len(tips)).format(n=len(tips))
    return Reply("\n".join([found] + [tip_line(tip) for tip in tips]))


async def month_stats(storage: Storage, now: datetime) -> Reply:
    """This month so far, in Vietnam's time zone."""
    today = now.astimezone(TIMEZONE).date()
    summary = await stats(storage, today.replace(day=1), today)
    return Reply(format_stats(summary, translator(STAFF_LANGUAGE)))
