"""When a tip arrives: the triage assist (priority, possible duplicates, spam signals) is stored with
it, and its card is refreshed to show them."""

from __future__ import annotations

from datetime import datetime, timedelta

from tipline.delivery.model import Audience, Kind, NewItem
from tipline.staff.triage import Assessment, TipFacts, assess
from tipline.storage.ports import Storage
from tipline.tips import PRIORITY_LEVELS, Tip

DUPLICATE_WINDOW = timedelta(days=30)


def _facts(tip: Tip) -> TipFacts:
    return TipFacts(
        tip.code, tip.category, tip.urgency, tip.description, len(tip.evidence), tip.latitude is not None,
        tip.commune_code, tip.created_at, tip.sender_recent_tips,
    )


async def assess_tip(storage: Storage, tip: Tip, now: datetime) -> Assessment:
    """Runs the triage assist on a new tip and stores it; the moderators' card is refreshed with it."""
    async with storage.read() as uow:
        recent = (
            await uow.tips.in_commune_since(tip.commune_code, tip.created_at - DUPLICATE_WINDOW, tip.id)
            if tip.commune_code else []
        )
    candidates = [
        TipFacts(other.code, other.category, other.urgency, other.description, 0, False, other.commune_code,
                 other.created_at, 0)
        for other in recent
    ]
    assessment = assess(_facts(tip), candidates)
    ids = {other.code: other.id for other in recent}
    await storage.file_assessment(
        tip.id, assessment.to_json(), PRIORITY_LEVELS.index(assessment.priority.level),
        [(ids[code], score) for code, score in assessment.duplicates if code in ids],
        [NewItem(Kind.CARD, Audience.MODERATORS, tip.id)], now,
    )
    return assessment
