"""The Telegram application: turns updates into core events and core replies into Bot API calls.

No business rule lives here. Identities never reach a log line: handlers log tip codes only (the service
does), and the error handler logs the exception without the update.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from telegram import BotCommand, Message, Update
from telegram.constants import ChatType, ParseMode
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CallbackContext,
    CallbackQueryHandler,
    ContextTypes,
    ExtBot,
    MessageHandler,
    filters,
)

from tipline.bootstrap import bootstrap
from tipline.citizen.conversation import error_reply
from tipline.citizen.service import Tipline
from tipline.citizen.session import Session
from tipline.config import Settings
from tipline.events import Answer, Command, Inbound, Location, Media, Pick, Text, Unsupported
from tipline.i18n import translator
from tipline.replies import Reply
from tipline.staff.moderation import question_code

from .callbacks import unpack
from .render import chunks, keyboard
from .staff import Staff

log = logging.getLogger(__name__)
CHANNEL = "telegram"
T = TypeVar("T")

PURGE_EVERY_SECONDS = 3600
SEND_ATTEMPTS = 6
RETRY_BASE_DELAY = 0.5  # seconds; doubles per attempt, capped at 10


class TiplineContext(CallbackContext[ExtBot[None], dict[Any, Any], dict[Any, Any], dict[Any, Any]]):
    """The handler context, with the core service and the staff side as typed attributes."""

    @property
    def service(self) -> Tipline:
        service: Tipline = self.application.bot_data["service"]
        return service

    @property
    def staff(self) -> Staff:
        staff: Staff = self.application.bot_data["staff"]
        return staff


# --- updates → core events -------------------------------------------------------------------------


def to_event(message: Message) -> Inbound:
    """What the person did, in the core's terms."""
    replied = message.reply_to_message
    if message.text is not None and replied is not None and replied.from_user is not None and replied.from_user.is_bot:
        code = question_code(replied.text or "")
        if code and not message.text.startswith("/"):
            return Answer(code, message.text)
    if message.text is not None:
        entity = message.entities[0] if message.entities else None
        if entity is not None and entity.type == "bot_command" and entity.offset == 0:
            head, _sep, args = message.text.partition(" ")
            return Command(head[1:].split("@", 1)[0], args.strip())
        return Text(message.text)
    if message.photo:
        largest = message.photo[-1]
        return Media("photo", largest.file_id, largest.file_size, "image/jpeg")
    for kind in ("video", "document", "voice", "audio", "animation", "video_note"):
        attachment = getattr(message, kind)
        if attachment is not None:
            return Media(
                kind,  # type: ignore[arg-type]
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


# --- core replies → Bot API ------------------------------------------------------------------------


async def with_retry(call: Callable[[], Awaitable[T]]) -> T:
    """Retries through flood limits and network trouble; a refusal (400/403) is not retried."""
    delay = RETRY_BASE_DELAY
    for attempt in range(1, SEND_ATTEMPTS + 1):
        try:
            return await call()
        except RetryAfter as exc:
            wait = exc.retry_after if isinstance(exc.retry_after, int | float) else exc.retry_after.total_seconds()
            if attempt == SEND_ATTEMPTS:
                raise
            await asyncio.sleep(float(wait))
        except BadRequest:
            raise
        except NetworkError:
            if attempt == SEND_ATTEMPTS:
                raise
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)
    raise AssertionError("unreachable")  # pragma: no cover


async def send_replies(bot: ExtBot[None], chat_id: int, replies: list[Reply]) -> None:
    for reply in replies:
        pieces = chunks(reply.text)
        for index, piece in enumerate(pieces):
            markup = keyboard(reply) if index == len(pieces) - 1 else None

            async def send(piece: str = piece, markup: Any = markup) -> Message:
                return await bot.send_message(chat_id, piece, parse_mode=ParseMode.HTML, reply_markup=markup)

            await with_retry(send)


async def _answer(context: TiplineContext, chat_id: int, event: Inbound) -> None:
    async def deliver(replies: list[Reply]) -> None:
        await send_replies(context.bot, chat_id, replies)

    await context.service.handle(CHANNEL, chat_id, event, deliver)


# --- handlers --------------------------------------------------------------------------------------


async def on_message(update: Update, context: TiplineContext) -> None:
    """Answers a message in a private chat."""
    message = update.effective_message
    if message is None or update.effective_chat is None:
        return
    if await context.staff.on_message(update, context.bot):
        context.staff.wake.set()
        return
    await _answer(context, update.effective_chat.id, to_event(message))
    context.staff.wake.set()


async def on_group_message(update: Update, context: TiplineContext) -> None:
    """Staff commands and prompt answers in the moderators' group and police unit chats."""
    if await context.staff.on_message(update, context.bot):
        context.staff.wake.set()


async def on_edited(update: Update, context: TiplineContext) -> None:
    """Explains that edits are not picked up (the earlier text was already used)."""
    if update.effective_chat is not None:
        await _answer(context, update.effective_chat.id, Unsupported("edited"))


async def on_button(update: Update, context: TiplineContext) -> None:
    """Answers a button press: stops the spinner, removes the old buttons, runs the choice."""
    query = update.callback_query
    if query is None:
        return
    if await context.staff.on_button(update, context.bot):
        return
    message = query.message
    chat = message.chat if message is not None else None
    try:
        await query.answer()
    except BadRequest:
        pass  # too old to answer; the press is still handled below
    if chat is None or chat.type != ChatType.PRIVATE or not isinstance(message, Message):
        return
    data = unpack(query.data)
    if message.reply_markup is not None and not data.startswith("*|"):
        try:
            await message.edit_reply_markup(reply_markup=None)
        except TelegramError:
            pass  # already edited or deleted: harmless
    await _answer(context, chat.id, Pick(data))


async def on_error(update: object, context: TiplineContext) -> None:
    """Logs the error without the update (it holds identities) and apologises to the citizen."""
    error = context.error
    if isinstance(error, Forbidden):
        log.info("a chat is unreachable (blocked the bot or left)")
        return
    if isinstance(error, NetworkError) and not isinstance(error, BadRequest):
        log.warning("Telegram could not be reached while answering an update: %s", error)
    else:
        log.error("unexpected error while handling an update", exc_info=error)
    if isinstance(update, Update) and update.effective_chat and update.effective_chat.type == ChatType.PRIVATE:
        chat_id = update.effective_chat.id
        try:
            await send_replies(context.bot, chat_id, [error_reply(Session())])
        except TelegramError:
            log.warning("could not send the apology either")


# --- the application -------------------------------------------------------------------------------


def bot_commands(language: str) -> list[BotCommand]:
    _ = translator(language).gettext
    return [
        BotCommand("start", _("Start and show the menu")),
        BotCommand("report", _("Report a tip anonymously")),
        BotCommand("status", _("Check a tip with its code")),
        BotCommand("followup", _("Add information to a tip")),
        BotCommand("info", _("About drugs and getting help")),
        BotCommand("language", _("Change the language")),
        BotCommand("cancel", _("Stop what you are doing")),
        BotCommand("forget", _("Remove this chat's link to your tips and its saved data")),
        BotCommand("help", _("Show the commands")),
    ]


async def _purge_loop(service: Tipline) -> None:
    while True:
        try:
            await service.purge()
        except Exception:  # keep purging later even if one run fails
            log.exception("purge failed")
        await asyncio.sleep(PURGE_EVERY_SECONDS)


async def _post_init(application: Application[Any, Any, Any, Any, Any, Any]) -> None:
    if "service" not in application.bot_data:
        # Opened here so the database lives on the loop that runs the bot.
        application.bot_data["service"] = await bootstrap(application.bot_data["settings"])
        application.bot_data["owns_service"] = True
    await application.bot.set_my_commands(bot_commands("vi"))
    await application.bot.set_my_commands(bot_commands("en"), language_code="en")
    service = application.bot_data["service"]
    staff = Staff(application.bot_data["settings"], service)
    application.bot_data["staff"] = staff
    application.bot_data["tasks"] = [
        asyncio.create_task(_purge_loop(service)),
        asyncio.create_task(staff.run_delivery(application.bot)),
        asyncio.create_task(staff.run_deadlines()),
    ]


async def _post_stop(application: Application[Any, Any, Any, Any, Any, Any]) -> None:
    for task in application.bot_data.pop("tasks", []):
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass


async def _post_shutdown(application: Application[Any, Any, Any, Any, Any, Any]) -> None:
    if application.bot_data.pop("owns_service", False):
        await application.bot_data["service"].db.close()


def build_application(
    settings: Settings, service: Tipline | None = None, token: str | None = None
) -> Application[Any, Any, Any, Any, Any, Any]:
    """The configured application; the caller runs it (polling here, or a webhook it owns).

    Without a service, one is bootstrapped from the settings when the application starts.
    """
    application = (
        ApplicationBuilder()
        .token(token or settings.telegram_bot_token or "")
        .base_url(settings.telegram_api_base_url)
        .base_file_url(settings.file_base_url)
        .context_types(ContextTypes(context=TiplineContext))
        .concurrent_updates(True)
        .post_init(_post_init)
        .post_stop(_post_stop)
        .post_shutdown(_post_shutdown)
        .build()
    )
    application.bot_data["settings"] = settings
    if service is not None:
        application.bot_data["service"] = service
    private = filters.ChatType.PRIVATE
    application.add_handler(CallbackQueryHandler(on_button))
    application.add_handler(MessageHandler(private & filters.UpdateType.MESSAGE, on_message))
    application.add_handler(MessageHandler(private & filters.UpdateType.EDITED_MESSAGE, on_edited))
    application.add_handler(MessageHandler(~private & filters.UpdateType.MESSAGE & filters.TEXT, on_group_message))
    application.add_error_handler(on_error)  # type: ignore[arg-type]
    return application
