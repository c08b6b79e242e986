"""Telegram updates as the core's events (what a citizen did) and staff inputs (who pressed what where)."""

from __future__ import annotations

from telegram import Message, User

from tipline.events import Command, Inbound, Location, Media, Text, Unsupported
from tipline.staff.actors import StaffUser

from .channel import NAME


def command_of(message: Message) -> Command | None:
    """``/name args`` when the message starts with a bot command."""
    if message.text is None:
        return None
    entity = message.entities[0] if message.entities else None
    if entity is None or entity.type != "bot_command" or entity.offset != 0:
        return None
    head, _sep, args = message.text.partition(" ")
    return Command(head[1:].split("@", 1)[0], args.strip())


def replied_to_bot(message: Message) -> Message | None:
    """The bot's message this one answers, if it answers one."""
    replied = message.reply_to_message
    if replied is not None and replied.from_user is not None and replied.from_user.is_bot:
        return replied
    return None


def to_event(message: Message) -> Inbound:
    """What the person did, in the core's terms."""
    command = command_of(message)
    if command is not None:
        return command
    if message.text is not None:
        replied = replied_to_bot(message)
        return Text(message.text, str(replied.message_id) if replied is not None else None)
    if message.photo:
        largest = message.photo[-1]
        return Media("photo", largest.file_id, largest.file_size, "image/jpeg")
    for kind in ("video", "document", "voice", "audio", "animation", "video_note"):
        attachment = getattr(message, kind)
        if attachment is not None:
            return Media(
                kind,
                attachment.file_id,
                getattr(attachment, "file_size", None),
                getattr(attachment, "mime_type", None),
                getattr(attachment, "file_name", None),
            )
    if message.location is not None:
        return Location(message.location.latitude, message.location.longitude)
    for kind in ("sticker", "contact", "poll", "dice", "game", "venue", "story"):
        if getattr(message, kind, None) is not None:
            return Unsupported(kind)
    return Unsupported("other")


def staff_user(user: User) -> StaffUser:
    return StaffUser(NAME, str(user.id), user.full_name)
