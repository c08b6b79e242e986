"""Delivers the staff side's outbox items: tips' cards (posted once, then edited in place, in a forum
topic of their own where the group has topics) and lines of text under them."""

from __future__ import annotations

import hashlib
import logging

from tipline.clock import Clock
from tipline.delivery.direct import outgoing
from tipline.delivery.model import Address, Audience, OutboxItem, Sent
from tipline.delivery.port import Channel, Channels, FileRef, Outgoing, Rejected, RetryLater
from tipline.i18n import translator
from tipline.replies import Reply
from tipline.staff.cards import STAFF_LANGUAGE, moderator_card, unit_card, withdrawn_card
from tipline.staff.model import CardPlacement
from tipline.staff.moderation import Deadlines
from tipline.staff.views import card_view
from tipline.storage.ports import Storage
from tipline.tips import Tip

log = logging.getLogger(__name__)
# Voice and round video notes carry a voice or a face: moderators hear them, police units do not. Files
# other than cleaned pictures and PDFs may carry their author's traces: moderators only, too.
_NOT_FOR_UNITS = frozenset({"voice", "video_note"})


def _for_units(kind: str, mime: str | None) -> bool:
    if kind in _NOT_FOR_UNITS:
        return False
    return kind != "document" or mime == "application/pdf"


class CardPoster:
    def __init__(
        self,
        storage: Storage,
        channels: Channels,
        moderators: Address | None,
        clock: Clock,
        deadlines: Deadlines | None = None,
    ) -> None:
        self.storage = storage
        self.channels = channels
        self.moderators = moderators
        self.clock = clock
        self.deadlines = deadlines or Deadlines()  # stated on the units' cards

    def _channel(self, address: Address) -> Channel:
        channel = self.channels.get(address.channel)
        if channel is None:
            raise RetryLater(f"the {address.channel} channel does not run in this process", after=60)
        return channel

    async def _target(self, item: OutboxItem, tip: Tip | None) -> Address | None:
        """Where the item goes: the moderators' chat, or the chat of the unit it is for (None: nowhere yet)."""
        if item.audience == Audience.MODERATORS:
            if self.moderators is None:
                # Kept, not dropped: the cards go out once the moderators' chat is configured.
                raise RetryLater("no moderators' chat is configured (TIPLINE_MODERATOR_CHAT_ID)", after=600)
            return self.moderators
        unit_id = item.unit_id or (tip.unit_id if tip else None)
        async with self.storage.read() as uow:
            unit = await uow.units.by_id(unit_id) if unit_id else None
        return unit.chat if unit else None

    async def post_card(self, item: OutboxItem) -> None:
        assert item.tip_id is not None
        async with self.storage.read() as uow:
            tip = await uow.tips.by_id(item.tip_id)
            if tip is None:
                return
            view = await card_view(uow, tip)
            placement = await uow.cards.get(tip.id, item.audience.value)
        target = await self._target(item, tip)
        if target is None:
            if item.audience == Audience.UNIT:
                await self._unit_not_linked(tip)
            return
        if item.audience == Audience.MODERATORS:
            reply = moderator_card(view)
        elif tip.unit_id == item.unit_id or item.unit_id is None:
            reply = unit_card(view, self.deadlines)
        else:
            reply = withdrawn_card(tip.code)
        channel = self._channel(target)
        state = "closed" if tip.is_closed else "open"
        digest = hashlib.sha256(repr((reply.text, reply.choices)).encode()).hexdigest()[:16] + ":" + state
        message = outgoing(reply)
        if placement is not None and placement.sent.address.chat == target.chat:
            if placement.digest == digest:
                return  # nothing changed: an edit would be refused
            try:
                await channel.edit(placement.sent, message)
            except Rejected as exc:
                log.warning("tip %s: its card could not be edited (%s); posting it again", tip.code, exc)
            else:
                thread = placement.sent.address.thread
                if thread is not None and not placement.digest.endswith(":" + state):
                    await channel.set_topic_closed(placement.sent.address, closed=tip.is_closed)
                await self._save(CardPlacement(tip.id, item.audience.value, placement.sent, digest))
                return
        where = target
        if item.audience == Audience.MODERATORS and channel.traits.topics and await channel.has_topics(target):
            where = await channel.open_topic(target, f"{tip.code} · {view.commune_name or view.province_name}"[:128])
        sent = await channel.send(where, message)
        await self._save(CardPlacement(tip.id, item.audience.value, sent, digest))
        await self._send_evidence(channel, tip, sent, for_unit=item.audience == Audience.UNIT)

    async def _save(self, placement: CardPlacement) -> None:
        async with self.storage.uow() as uow:
            await uow.cards.save(placement)

    async def _send_evidence(self, channel: Channel, tip: Tip, card: Sent, for_unit: bool) -> None:
        """Re-sends the citizen's files under the card (links are on the card itself)."""
        for item in tip.evidence:
            if item.kind == "link" or (for_unit and not _for_units(item.kind, item.mime)):
                continue
            file = FileRef(item.kind, item.ref, tip.channel, item.mime, item.name)
            try:
                await channel.send_file(card.address, file, reply_to=card.message)
            except Rejected as exc:
                log.warning("tip %s: an evidence file could not be re-sent (%s)", tip.code, exc)

    async def _unit_not_linked(self, tip: Tip) -> None:
        if self.moderators is None:
            return
        _ = translator(STAFF_LANGUAGE).gettext
        text = _("⚠️ {code}: the police unit has not linked its chat yet; send it an invite (/invite).").format(
            code=tip.code
        )
        await self._channel(self.moderators).send(self.moderators, Outgoing(text))

    async def post_text(self, item: OutboxItem) -> None:
        """A line for the moderators or a unit, as an answer to the tip's card when there is one."""
        async with self.storage.read() as uow:
            tip = await uow.tips.by_id(item.tip_id) if item.tip_id else None
            placement = await uow.cards.get(item.tip_id, item.audience.value) if item.tip_id else None
        target = await self._target(item, tip)
        if target is None:
            return  # a unit without a chat: nothing to deliver to
        reply_to = None
        if placement is not None and placement.sent.address.chat == target.chat:
            target, reply_to = placement.sent.address, placement.sent.message
        text = str(item.payload.get("text", ""))
        channel = self._channel(target)
        sent = await channel.send(target, outgoing(Reply(text), reply_to=reply_to))
        for file in item.payload.get("files", []):  # a follow-up's files, under its line
            ref = FileRef(str(file["kind"]), str(file["ref"]), str(file.get("channel") or ""), file.get("mime"))
            try:
                await channel.send_file(sent.address, ref, reply_to=sent.message)
            except Rejected as exc:
                log.warning("a follow-up file could not be re-sent (%s)", exc)
