"""The Telegram application: updates in, the core's answers out through ``TelegramChannel``.

No business rule lives here: citizens' updates go to ``core.citizens``, the staff side's to
``core.staff``. Identities never reach a log line: handlers log tip codes only (the core does), and the
error handler logs the exception without the update.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections import OrderedDict
from collections.abc import Coroutine
from dataclasses import replace
from typing import Any

from telegram import BotCommand, Message, Update
from telegram.constants import ChatMemberStatus, ChatType
from telegram.error import BadRequest, Forbidden, NetworkError, TelegramError
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CallbackContext,
    CallbackQueryHandler,
    ChatMemberHandler,
    ContextTypes,
    ExtBot,
    MessageHandler,
    TypeHandler,
    filters,
)

from tipline.bootstrap import Core, bootstrap
from tipline.citizen.conversation import error_reply
from tipline.citizen.session import Session
from tipline.config import Settings
from tipline.delivery.direct import outgoing, send_replies
from tipline.delivery.model import Address
from tipline.delivery.port import DeliveryError, Rejected
from tipline.events import Inbound, Media, Pick, Text, Unsupported
from tipline.i18n import translator
from tipline.replies import CampaignAction, MenuEntry, PollVote, Reply, Step

from .bulk import BulkTelegramChannel
from .callbacks import unpack
from .channel import NAME, TelegramChannel, call, sent_of
from .light import CitizenUpdate, Pressed, TiplineBot
from .render import chunks
from .request import AiohttpRequest
from .updates import command_of, replied_to_bot, staff_user, to_event

log = logging.getLogger(__name__)
CLEARED_MEMORY = 10_000  # keyboards the bot remembers having removed
# The updates the bot asks Telegram for, by long polling or webhook.
ALLOWED_UPDATES = ["message", "edited_message", "callback_query", "my_chat_member"]
TRACE = "✓ "  # before a choice made, on the message that asked for it
# Connections to the Bot API server: as many as updates handled at once (python-telegram-bot's default for
# concurrent updates), so an answer never waits for a connection another chat holds.
CONNECTIONS = 256


class TiplineContext(CallbackContext[ExtBot[None], dict[Any, Any], dict[Any, Any], dict[Any, Any]]):
    """The handler context, with the core and the channel as typed attributes."""

    @property
    def core(self) -> Core:
        core: Core = self.application.bot_data["core"]
        return core

    @property
    def channel(self) -> TelegramChannel:
        channel: TelegramChannel = self.application.bot_data["channel"]
        return channel

    @property
    def cleared(self) -> OrderedDict[tuple[int, int], None]:
        cleared: OrderedDict[tuple[int, int], None] = self.application.bot_data["cleared"]
        return cleared


# --- citizens ----------------------------------------------------------------------------------------


async def _citizen(
    context: TiplineContext, chat_id: int, event: Inbound, pressed: Pressed | None = None, label: str | None = None
) -> None:
    """Runs one event through the citizen service; the replies go out under the chat's lock. ``pressed`` is
    the message whose button ``label`` was chosen."""
    to = Address(NAME, str(chat_id))

    async def deliver(replies: list[Reply]) -> None:
        if pressed is None:
            await send_replies(context.channel, to, replies)
            return
        if len(replies) == 1 and replies[0].answers_choice and await _in_place(context, pressed, label, replies[0]):
            return
        # The old question's buttons go while the answer is on its way: two requests in flight, not in a row.
        await asyncio.gather(_clear_keyboard(context, pressed), send_replies(context.channel, to, replies))

    # What a citizen's event adds to the outbox (a tip's card, a follow-up) wakes it from the core's hooks.
    await context.core.citizens.handle(NAME, chat_id, event, deliver, context.channel.traits)


async def _in_place(context: TiplineContext, pressed: Pressed, label: str | None, reply: Reply) -> bool:
    """Shows the answer to a choice in place of the question it answers: "✓ <the choice>" (after the choices
    already made on this message) and the next question, with its buttons, in one edit instead of removing
    the old buttons and sending a new message. False (and nothing changed) when that cannot be done: the
    question was not plain text, the choice is unknown, the whole would not fit in one message, or Telegram
    refused the edit."""
    if pressed.text is None or not label:
        return False
    trace = list(itertools.takewhile(lambda line: line.startswith(TRACE), pressed.text.split("\n")))
    if not trace or trace[-1] != TRACE + label:  # turning pages: one line for them all
        trace.append(TRACE + label)
    text = "\n".join(trace) + "\n\n" + reply.text
    if len(chunks(text)) > 1:
        return False
    try:
        await context.channel.edit(pressed.sent, outgoing(replace(reply, text=text)))
    except Rejected:
        return False
    context.cleared.pop((pressed.chat_id, pressed.message_id), None)  # it has buttons again
    return True


async def _clear_keyboard(context: TiplineContext, message: Pressed) -> None:
    """Removes the buttons of a question once one was chosen, once: a double tap must not ask Telegram to
    remove them again (it refuses an edit that changes nothing). Runs under the chat's lock."""
    key = (message.chat_id, message.message_id)
    if not message.buttons or key in context.cleared:
        return
    context.cleared[key] = None
    while len(context.cleared) > CLEARED_MEMORY:
        context.cleared.popitem(last=False)
    try:
        await call(context.bot, "editMessageReplyMarkup", {"chat_id": message.chat_id, "message_id": message.message_id})
    except TelegramError:
        pass  # already edited or deleted: harmless


# --- handlers ----------------------------------------------------------------------------------------


async def on_private_message(update: Update, context: TiplineContext) -> None:
    """A message in a private chat: a staff command if it is one for this person, else the citizen's."""
    message, chat, user = update.effective_message, update.effective_chat, update.effective_user
    if message is None or chat is None:
        return
    command = command_of(message)
    staff, broadcasts = context.core.staff, context.core.broadcasts
    where = sent_of(message).address
    if command is not None and user is not None:
        if await staff.command(staff_user(user), where, command.name, command.args, True):
            return
        if await broadcasts.command(staff_user(user), where, command.name, command.args, True):
            return
    replied = replied_to_bot(message)
    if replied is not None and user is not None and message.text is not None and command is None:
        # A moderator answering a prompt in a private chat with the bot (the prompt row decides).
        if await staff.reply(staff_user(user), sent_of(replied), message.text):
            return
    if user is not None and command is None:
        # A broadcaster writing a campaign answers its questions here (known in memory: no cost to citizens).
        event = to_event(message)
        if isinstance(event, Text) and await broadcasts.text(staff_user(user), where, event.text):
            return
        if isinstance(event, Media) and await broadcasts.media(staff_user(user), where, event):
            return
    await _citizen(context, chat.id, to_event(message))


async def on_group_message(update: Update, context: TiplineContext) -> None:
    """Staff commands and answers to the bot's prompts in the moderators' group and police unit chats."""
    message, user = update.effective_message, update.effective_user
    if message is None or user is None or message.text is None:
        return
    staff = context.core.staff
    where = sent_of(message).address
    command = command_of(message)
    if command is not None:
        if not await staff.command(staff_user(user), where, command.name, command.args, False):
            await context.core.broadcasts.command(staff_user(user), where, command.name, command.args, False)
        return
    replied = replied_to_bot(message)
    if replied is not None:
        await staff.reply(staff_user(user), sent_of(replied), message.text)
    # Anything else is staff talking among themselves: nothing for the bot to do.


async def on_edited(update: Update, context: TiplineContext) -> None:
    """Explains that edits are not picked up (the earlier text was already used)."""
    if update.effective_chat is not None:
        await _citizen(context, update.effective_chat.id, Unsupported("edited"))


async def on_my_chat_member(update: Update, context: TiplineContext) -> None:
    """The bot's own membership changed: a person who blocks the bot stops their prevention messages at once."""
    change = update.my_chat_member
    if change is None or change.chat.type != ChatType.PRIVATE:
        return
    if change.new_chat_member.status in (ChatMemberStatus.BANNED, ChatMemberStatus.LEFT):
        await context.core.citizens.outreach.blocked(NAME, change.chat.id)


async def on_button(update: Update, context: TiplineContext) -> None:
    """A button: a citizen's choice in a private chat, or a staff button anywhere else."""
    query = update.callback_query
    if query is None or update.effective_user is None:
        return
    message = query.message
    action = unpack(query.data)
    if isinstance(action, CampaignAction) and isinstance(message, Message):
        answer = await context.core.broadcasts.press(staff_user(update.effective_user), sent_of(message), action)
        await _answer(query, answer)
        return
    if isinstance(action, PollVote) and isinstance(message, Message) and message.chat.type == ChatType.PRIVATE:
        # A subscriber's answer to a poll: counted by place only, once; the answer is a short notice.
        answer = await context.core.citizens.outreach.vote(NAME, message.chat.id, action)
        await _answer(query, answer)
        return
    citizen = action is None or isinstance(action, Step | MenuEntry)
    if (
        citizen
        and isinstance(message, Message)
        and message.chat.type == ChatType.PRIVATE
        and not await context.core.staff.is_staff_chat(sent_of(message).address)
    ):
        # Answered at once, without waiting for Telegram's reply: the press is handled meanwhile.
        _in_background(context, _answer(query, ""))
        pressed = Pressed.of(message)
        await _citizen(context, message.chat.id, Pick(action), pressed=pressed, label=pressed.label(query.data))
        return
    if not isinstance(message, Message):
        await _answer(query, "")
        return
    answer = await context.core.staff.press(staff_user(update.effective_user), sent_of(message), action)
    await _answer(query, answer)


async def on_citizen_update(update: CitizenUpdate, context: TiplineContext) -> None:
    """A citizen's plain text or button press in a private chat, read light (bot/telegram/light.py): the same
    as ``on_private_message`` and ``on_button`` do with them; anything else is read in full for them."""
    if update.text is not None:
        if update.sender is not None and await context.core.broadcasts.drafting(NAME, str(update.sender)):
            await on_private_message(update.full(context.bot), context)  # a broadcaster writing a campaign
            return
        await _citizen(context, update.chat_id, Text(update.text))
        return
    query, pressed = update.query, update.pressed
    assert query is not None and pressed is not None
    action = unpack(query.get("data"))
    if isinstance(action, PollVote):
        # A subscriber's answer to a poll (a campaign's burst of them): as on_button counts it.
        answer = await context.core.citizens.outreach.vote(NAME, update.chat_id, action)
        await _answer_json(context, query["id"], answer)
        return
    if isinstance(action, Step | MenuEntry | None) and not await context.core.staff.is_staff_chat(pressed.sent.address):
        # Answered at once, without waiting for Telegram's reply: the press is handled meanwhile.
        _in_background(context, _answer_json(context, query["id"]))
        await _citizen(context, update.chat_id, Pick(action), pressed=pressed, label=pressed.label(query.get("data")))
        return
    await on_button(update.full(context.bot), context)  # a staff or campaign button: read in full


async def _answer_json(context: TiplineContext, query_id: str, text: str = "") -> None:
    """``_answer`` for a press read light."""
    params: dict[str, Any] = {"callback_query_id": query_id}
    if text:
        params.update(text=text[:200], show_alert=True)
    try:
        await call(context.bot, "answerCallbackQuery", params)
    except BadRequest:
        pass  # too old to answer; the press is still handled


async def _answer(query: Any, text: str) -> None:
    try:
        await query.answer(text[:200] or None, show_alert=bool(text))
    except BadRequest:
        pass  # too old to answer; the press is still handled


def _in_background(context: TiplineContext, job: Coroutine[Any, Any, None]) -> None:
    """Sends a request the handler need not wait for; kept until done (shutdown waits for it), and a
    failure is logged without the update."""
    pending: set[asyncio.Task[None]] = context.application.bot_data["pending"]
    task = asyncio.create_task(job)
    pending.add(task)

    def finished(done: asyncio.Task[None]) -> None:
        pending.discard(done)
        error = None if done.cancelled() else done.exception()
        if error is not None:
            log.warning("a button press could not be acknowledged (%s)", type(error).__name__)

    task.add_done_callback(finished)


async def on_error(update: object, context: TiplineContext) -> None:
    """Logs the error without the update (it holds identities) and apologises to the citizen."""
    error = context.error
    if isinstance(error, Forbidden):
        log.info("a chat is unreachable (blocked the bot or left)")
        return
    if isinstance(error, NetworkError | DeliveryError) and not isinstance(error, BadRequest):
        log.warning("Telegram could not be reached while answering an update: %s", error)
    else:
        log.error("unexpected error while handling an update", exc_info=error)
    if isinstance(update, CitizenUpdate):
        chat: int | None = update.chat_id
    elif isinstance(update, Update) and update.effective_chat and update.effective_chat.type == ChatType.PRIVATE:
        chat = update.effective_chat.id
    else:
        chat = None
    if chat is not None:
        to = Address(NAME, str(chat))
        try:
            await send_replies(context.channel, to, [error_reply(Session())])
        except DeliveryError:
            log.warning("could not send the apology either")


# --- the application ---------------------------------------------------------------------------------


def bot_commands(language: str) -> list[BotCommand]:
    _ = translator(language).gettext
    return [
        BotCommand("start", _("Start and show the menu")),
        BotCommand("report", _("Report a tip anonymously")),
        BotCommand("status", _("Check a tip with its code")),
        BotCommand("followup", _("Add information to a tip")),
        BotCommand("info", _("About drugs and getting help")),
        BotCommand("subscribe", _("Receive prevention messages")),
        BotCommand("unsubscribe", _("Stop prevention messages")),
        BotCommand("language", _("Change the language")),
        BotCommand("cancel", _("Stop what you are doing")),
        BotCommand("privacy", _("What stays private when you report")),
        BotCommand("forget", _("Remove this chat's link to your tips and its saved data")),
        BotCommand("help", _("Show the commands")),
    ]


async def _post_init(application: Application[Any, Any, Any, Any, Any, Any]) -> None:
    if "core" not in application.bot_data:
        # Opened here so the database lives on the loop that runs the bot.
        application.bot_data["core"] = await bootstrap(application.bot_data["settings"])
        application.bot_data["owns_core"] = True
    core: Core = application.bot_data["core"]
    # Everything the bot sends here goes before any campaign message in the channel's one-second budget.
    channel = TelegramChannel(application.bot, budget=core.pace.slot)
    application.bot_data["channel"] = channel
    application.bot_data["cleared"] = OrderedDict()
    application.bot_data["pending"] = set()
    core.channels.register(channel)
    # Campaigns get a client of their own (aiohttp, its own connections): bulk sending never holds up a reply.
    settings: Settings = application.bot_data["settings"]
    application.bot_data["bulk"] = await BulkTelegramChannel.open_for(core, settings.telegram_api_base_url, application.bot.token)
    core.authorizer.membership = channel
    if core.authorizer.moderators is None:
        log.warning("TIPLINE_MODERATOR_CHAT_ID is not set: tips are kept, and their cards wait until it is")
    await application.bot.set_my_commands(bot_commands("vi"))
    await application.bot.set_my_commands(bot_commands("en"), language_code="en")
    # The core's loops run once per process: here, unless whoever runs several channels runs them itself.
    if application.bot_data.get("background", True):
        application.bot_data["tasks"] = [asyncio.create_task(core.background())]


async def _post_stop(application: Application[Any, Any, Any, Any, Any, Any]) -> None:
    pending: set[asyncio.Task[None]] = application.bot_data.get("pending", set())
    if pending:
        await asyncio.wait(pending, timeout=10)
    for task in application.bot_data.pop("tasks", []):
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass
    core: Core | None = application.bot_data.get("core")
    if core is not None:
        try:
            await core.anchor_audit()  # at shutdown too, so a cut made while the bot is down is caught
        except Exception:
            log.exception("the audit log could not be anchored at shutdown")
    bulk = application.bot_data.pop("bulk", None)
    if bulk is not None:
        await bulk.close()


async def _post_shutdown(application: Application[Any, Any, Any, Any, Any, Any]) -> None:
    if application.bot_data.pop("owns_core", False):
        await application.bot_data["core"].close()


def build_application(
    settings: Settings, core: Core | None = None, token: str | None = None, background: bool = True
) -> Application[Any, Any, Any, Any, Any, Any]:
    """The configured application; the caller runs it (polling here, or a webhook it owns).

    Without a core, one is bootstrapped from the settings when the application starts. ``background=False``:
    the caller runs ``core.background()`` (one process running Telegram and Zalo runs it once).
    """
    bot = TiplineBot(
        token or settings.telegram_bot_token or "",
        base_url=settings.telegram_api_base_url,
        base_file_url=settings.file_base_url,
        request=AiohttpRequest(connections=CONNECTIONS),
        get_updates_request=AiohttpRequest(connections=1),
    )
    application = (
        ApplicationBuilder()
        .bot(bot)
        .context_types(ContextTypes(context=TiplineContext))
        .concurrent_updates(True)
        .post_init(_post_init)
        .post_stop(_post_stop)
        .post_shutdown(_post_shutdown)
        .build()
    )
    application.bot_data["settings"] = settings
    application.bot_data["background"] = background
    if core is not None:
        application.bot_data["core"] = core
    private = filters.ChatType.PRIVATE
    application.add_handler(TypeHandler(CitizenUpdate, on_citizen_update))
    application.add_handler(CallbackQueryHandler(on_button))
    application.add_handler(ChatMemberHandler(on_my_chat_member, ChatMemberHandler.MY_CHAT_MEMBER))
    application.add_handler(MessageHandler(private & filters.UpdateType.MESSAGE, on_private_message))
    application.add_handler(MessageHandler(private & filters.UpdateType.EDITED_MESSAGE, on_edited))
    application.add_handler(MessageHandler(~private & filters.UpdateType.MESSAGE & filters.TEXT, on_group_message))
    application.add_error_handler(on_error)
    return application
