"""Direct replies: the answers to what a person just did, sent at once through their channel."""

from __future__ import annotations

from collections.abc import Sequence

from tipline.delivery.model import Address, Sent
from tipline.delivery.port import Channel, Outgoing
from tipline.replies import Reply


def outgoing(reply: Reply, reply_to: str | None = None, expects_reply: bool = False) -> Outgoing:
    return Outgoing(reply.text, reply.choices, reply_to, expects_reply, reply.free_text, reply.lang)


async def send_replies(channel: Channel, to: Address, replies: Sequence[Reply]) -> list[Sent]:
    """Sends the replies in order; returns where each landed."""
    return [await channel.send(to, outgoing(reply)) for reply in replies]
