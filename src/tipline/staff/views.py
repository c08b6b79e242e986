"""What staff read: a tip's card view, the open tips most urgent first, and search."""

from __future__ import annotations

from tipline.places.communes import directory
from tipline.places.textnorm import fold
from tipline.staff.cards import CardView
from tipline.staff.triage import Assessment
from tipline.storage.ports import UnitOfWork
from tipline.tips import Tip


async def card_view(uow: UnitOfWork, tip: Tip) -> CardView:
    """Everything a card shows about a tip (no field could hold the tipster's identity)."""
    d = directory()
    province = d.province(tip.province_code)
    commune = d.commune(tip.commune_code) if tip.commune_code else None
    unit = await uow.units.by_id(tip.unit_id) if tip.unit_id else None
    duplicate = await uow.tips.by_id(tip.duplicate_of) if tip.duplicate_of else None
    last = await uow.audit.last_by_staff(tip.code)
    last_action = None
    if last is not None:
        actor_id = int(last.actor_id or 0)
        if last.actor_role == "unit":
            acting_unit = await uow.units.by_id(actor_id)
            who = acting_unit.name if acting_unit else last.actor_role
        else:
            who = await uow.staff.name(actor_id) or last.actor_role
        last_action = (who, last.action, last.at)
    return CardView(
        tip=tip,
        assessment=Assessment.from_json(tip.triage),
        province_name=province.name if province else "",
        commune_name=commune.name if commune else None,
        claimed_by=await uow.staff.name(tip.claimed_by) if tip.claimed_by else None,
        unit_name=unit.name if unit else None,
        duplicate_of=duplicate.code if duplicate else None,
        followups=await uow.tips.followup_count(tip.id),
        last_action=last_action,
    )


async def find(uow: UnitOfWork, text: str, limit: int = 10) -> list[Tip]:
    """Tips whose description or address contains the words, with or without diacritics."""
    words = [word for word in fold(text).split() if len(word) > 1][:6]
    return await uow.tips.search(words, limit)
