"""What the fake Telegram *does* for each implemented Bot API method.

Every handler receives a :class:`~.validation.Call` that already passed the generic spec checks
(required parameters, types, JSON objects, documented limits), so handlers only add the rules that
need state: does the chat exist, may the bot write there, is the message there, is it modified...
Descriptions are the ones the real Bot API returns for these situations.

Methods that are valid Bot API but have no handler here are answered with 501 by the server.
"""

from __future__ import annotations

import dataclasses
import json
import random
import re
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from .formatting import EntityParseError, auto_entities, finalize_text, parse_text, sort_entities, u16len
from .validation import ApiError, Call, UploadedFile, bad_request, forbidden
from .world import MAX_DOWNLOAD, ChatRecord, StoredFile, UserRecord, snapshot, strip_none

if TYPE_CHECKING:
    from .server import FakeBotApi

Handler = Callable[["FakeBotApi", Call], Awaitable[Any]]
HANDLERS: dict[str, Handler] = {}


def api_method(*names: str) -> Callable[[Handler], Handler]:
    def register(func: Handler) -> Handler:
        for name in names:
            HANDLERS[name] = func
        return func

    return register


NOT_MODIFIED = (
    "message is not modified: specified new message content and reply markup are exactly the same "
    "as a current content and reply markup of the message"
)
QUERY_TOO_OLD = "query is too old and response timeout expired or query ID is invalid"
CONTENT_KEYS = (
    "text", "entities", "link_preview_options", "photo", "video", "document", "audio", "voice",
    "animation", "sticker", "video_note", "location", "venue", "contact", "poll", "dice", "caption",
    "caption_entities", "show_caption_above_media", "has_media_spoiler",
)  # fmt: skip
MEDIA_KEYS = ("photo", "video", "document", "audio", "voice", "animation")
SERVICE_KEYS = (
    "forum_topic_created", "forum_topic_edited", "forum_topic_closed", "forum_topic_reopened",
    "new_chat_members", "left_chat_member", "pinned_message", "group_chat_created",
)  # fmt: skip
CHAT_ACTIONS = {
    "typing", "upload_photo", "record_video", "upload_video", "record_voice", "upload_voice",
    "upload_document", "choose_sticker", "find_location", "record_video_note", "upload_video_note",
}  # fmt: skip
DEFAULT_ALLOWED_UPDATES_EXCLUDE = {"chat_member", "message_reaction", "message_reaction_count"}
_DEFAULT_MEDIA_META = {
    "video": {"width": 1280, "height": 720, "duration": 1},
    "animation": {"width": 320, "height": 240, "duration": 1},
    "audio": {"duration": 1},
    "voice": {"duration": 1},
    "video_note": {"length": 240, "duration": 1},
    "sticker": {"width": 512, "height": 512, "is_animated": False, "is_video": False, "type": "regular"},
}
_TOPIC_COLORS = [7322096, 16766590, 13338331, 9367192, 16749490, 16478047]


def is_service(message: dict) -> bool:
    return any(key in message for key in SERVICE_KEYS)


class MethodsMixin:
    """Shared rules used by the handlers. Mixed into :class:`~.server.FakeBotApi`."""

    # ------------------------------------------------------------------------------- chats

    def _resolve_chat(self: FakeBotApi, chat_id: int | str) -> ChatRecord:
        """The chat ``chat_id`` names, as far as the bot can see it, or "chat not found"."""
        chat: ChatRecord | None = None
        if isinstance(chat_id, int):
            chat = self.chats.get(chat_id)
        elif isinstance(chat_id, str) and chat_id.startswith("@"):
            wanted = chat_id[1:].lower()
            chat = next((c for c in self.chats.values() if c.type != "private" and (c.username or "").lower() == wanted), None)
        if chat is None:
            raise bad_request("chat not found")
        if chat.type == "private" and chat.user is not None and not (chat.user.started or chat.user.seen):
            raise bad_request("chat not found")  # the bot has never seen this person
        return chat

    def _writable_chat(self: FakeBotApi, chat_id: int | str) -> ChatRecord:
        """The chat, if the bot may post there now; otherwise Telegram's 400/403."""
        if isinstance(chat_id, int) and chat_id in self.users and self.users[chat_id].is_bot:
            raise forbidden("bot can't send messages to bots")
        if isinstance(chat_id, int) and chat_id in self.chats and self.chats[chat_id].type == "private":
            user = self.chats[chat_id].user
            assert user is not None
            if user.deactivated:
                raise forbidden("user is deactivated")
            if user.blocked:
                raise forbidden("bot was blocked by the user")
            if not user.started:
                raise forbidden("bot can't initiate conversation with a user")
            return self.chats[chat_id]
        chat = self._resolve_chat(chat_id)
        if chat.type != "private":
            kind = "supergroup chat" if chat.type == "supergroup" else "group chat"
            if chat.bot_status == "kicked":
                raise forbidden(f"bot was kicked from the {kind}")
            if chat.bot_status == "left":
                raise forbidden(f"bot is not a member of the {kind}")
        return chat

    def _bot_message(self: FakeBotApi, chat: ChatRecord, message_id: int | None, *, missing: str) -> dict:
        message = chat.messages.get(message_id) if message_id is not None else None
        if message is None:
            raise bad_request(missing)
        return message

    def _is_bot_message(self: FakeBotApi, message: dict) -> bool:
        return message.get("from", {}).get("id") == self.bot.id

    # ------------------------------------------------------------------------------- text

    def _format(
        self: FakeBotApi,
        text: str | None,
        parse_mode: str | None,
        entities: list[dict] | None,
        *,
        caption: bool = False,
    ) -> tuple[str, list[dict]]:
        """Parse, trim, and check a message text or caption the way Telegram does."""
        text = text or ""
        if parse_mode and parse_mode.lower() not in ("html", "markdown", "markdownv2"):
            raise bad_request("unsupported parse_mode")
        if entities is not None:
            parsed, found = text, [dict(e) for e in entities]
        else:
            try:
                parsed, found = parse_text(
                    text, parse_mode, strict_ampersand=self.strict_html, resolve_user=self._mention_target
                )
            except EntityParseError as err:
                raise bad_request(f"can't parse entities: {err}") from None
        parsed, found = finalize_text(parsed, found)
        found = sort_entities(found + auto_entities(parsed, found))
        size = u16len(parsed)
        if caption:
            if size > 1024:
                raise bad_request("message caption is too long")
        else:
            if not parsed:
                raise bad_request("message text is empty")
            if size > 4096:
                raise bad_request("message is too long")
        return parsed, found

    def _mention_target(self: FakeBotApi, user_id: int) -> dict | None:
        user = self.users.get(user_id)
        return user.json() if user else None

    def _caption_fields(self: FakeBotApi, caption: str | None, parse_mode: str | None, entities: list | None) -> dict:
        if not caption:
            if parse_mode and parse_mode.lower() not in ("html", "markdown", "markdownv2"):
                raise bad_request("unsupported parse_mode")
            return {}
        text, found = self._format(caption, parse_mode, entities, caption=True)
        out: dict[str, Any] = {}
        if text:
            out["caption"] = text
        if found:
            out["caption_entities"] = found
        return out

    # ----------------------------------------------------------------------- message building

    def _thread_fields(self: FakeBotApi, chat: ChatRecord, thread_id: int | None) -> dict:
        if thread_id is None:
            return {}
        if chat.type == "supergroup" and chat.is_forum:
            topic = chat.topics.get(thread_id)
            if topic is None:
                raise bad_request("message thread not found")
            if topic.get("closed") and chat.bot_status != "administrator":
                raise bad_request("TOPIC_CLOSED")
            return {"message_thread_id": thread_id, "is_topic_message": True}
        raise bad_request("message thread not found")  # threads are for forum supergroups only

    def _reply_fields(self: FakeBotApi, chat: ChatRecord, params: dict | None) -> dict:
        if not params:
            return {}
        target_chat = chat if params.get("chat_id") is None else self._resolve_chat(params["chat_id"])
        target = target_chat.messages.get(params["message_id"])
        if target is None:
            if params.get("allow_sending_without_reply") and target_chat is chat:
                return {}
            raise bad_request("message to be replied not found")
        replied = {k: v for k, v in target.items() if k != "reply_to_message"}
        out: dict[str, Any] = {"reply_to_message": snapshot(replied)}
        if "message_thread_id" in target and chat.is_forum:
            out["message_thread_id"] = target["message_thread_id"]
            out["is_topic_message"] = True
        return out

    def _store_bot_message(self: FakeBotApi, chat: ChatRecord, content: dict, call: Call, **extra: Any) -> dict:
        """Create a message from the bot in ``chat``; returns the Message JSON PTB will de_json."""
        fields = {**self._thread_fields(chat, call.get("message_thread_id")), **self._reply_fields(chat, call.get("reply_parameters"))}
        message: dict[str, Any] = {
            "message_id": chat.next_message_id(),
            "from": self.bot.json(),
            "chat": chat.json(),
            "date": self.clock.unix(),
            **fields,
            **content,
            **extra,
        }
        markup = call.get("reply_markup")
        if markup:
            if "inline_keyboard" in markup:
                message["reply_markup"] = strip_none(markup)
            elif "keyboard" in markup:
                chat.reply_keyboard = strip_none(markup)
            elif markup.get("remove_keyboard"):
                chat.reply_keyboard = None
        if call.get("protect_content"):
            message["has_protected_content"] = True
        chat.messages[message["message_id"]] = message
        chat.sent_log.append(snapshot(message))
        self.changes.notify()
        return snapshot(message)

    # ------------------------------------------------------------------------------- files

    def _resolve_file(self: FakeBotApi, value: Any, kind: str, call: Call) -> StoredFile:
        """The file a media parameter names: an upload, a known file_id, or a registered URL."""
        meta = {**_DEFAULT_MEDIA_META.get(kind, {})}
        for key in ("duration", "width", "height", "performer", "title", "length"):
            if call.get(key) is not None:
                meta[key] = call.get(key)
        if isinstance(value, str) and value.startswith("attach://"):
            value = call.files.get(value[len("attach://") :], value)
        if isinstance(value, UploadedFile):
            return self._store_upload(value.data, kind, value.filename, value.content_type, meta)
        if value.startswith(("http://", "https://")):
            if value not in self.files.urls:
                raise bad_request("failed to get HTTP URL content")
            data, mime = self.files.urls[value]
            return self._store_upload(data, kind, value.rsplit("/", 1)[-1] or None, mime, meta)
        stored = self.files.get(value)
        if stored is None:
            raise bad_request("wrong file identifier/HTTP URL specified")
        problem = self.files.compatible(stored, kind)
        if problem:
            raise bad_request(problem)
        if stored.kind != kind:
            return dataclasses.replace(stored, kind=kind, meta={**meta, **stored.meta})
        return stored

    def _store_upload(self: FakeBotApi, data: bytes, kind: str, filename: str | None, mime: str | None, meta: dict) -> StoredFile:
        if not data:
            raise bad_request("file must be non-empty")
        if kind == "photo":
            return self.files.add_photo(size=len(data), data=data)
        if mime in (None, "application/octet-stream") and filename:
            mime = None  # let the store guess from the file name
        return self.files.add(kind, data=data, file_name=filename, mime_type=mime, meta=meta)

    def _media_content(self: FakeBotApi, stored: StoredFile, kind: str) -> dict:
        if kind == "photo":
            return {"photo": stored.photo_json()}
        content = {kind: stored.json()}
        if kind == "animation":
            content["document"] = stored.json()  # Telegram sends both, for old clients
        return content

    # ----------------------------------------------------------------------------- updates

    def _update_allowed(self: FakeBotApi, kind: str) -> bool:
        if self.allowed_updates:
            return kind in self.allowed_updates
        return kind not in DEFAULT_ALLOWED_UPDATES_EXCLUDE

    def _push_update(self: FakeBotApi, kind: str, payload: dict) -> dict | None:
        """Queue an update for getUpdates (unless the bot's allowed_updates exclude it)."""
        if not self._update_allowed(kind):
            self.dropped_updates.append({kind: payload})
            return None
        update = {"update_id": self._next_update_id, kind: snapshot(payload)}
        self._next_update_id += 1
        self.updates.append(update)
        self.changes.notify()
        return update


# =================================================================================== handlers
# ------------------------------------------------------------------------------ bot & updates


@api_method("getMe")
async def get_me(api: FakeBotApi, call: Call) -> dict:
    return {
        **api.bot.json(),
        "can_join_groups": True,
        "can_read_all_group_messages": not api.privacy_mode,
        "supports_inline_queries": False,
        "can_connect_to_business": False,
        "has_main_web_app": False,
    }


@api_method("logOut", "close")
async def log_out(api: FakeBotApi, call: Call) -> bool:
    if call.method == "logOut":
        api.logged_out = True
    return True


@api_method("getUpdates")
async def get_updates(api: FakeBotApi, call: Call) -> list[dict]:
    if api.webhook.get("url"):
        raise ApiError(409, "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first")
    offset = call.get("offset", 0)
    limit = min(max(call.get("limit", 100), 1), 100)
    timeout = min(max(call.get("timeout", 0), 0), api.max_long_poll)
    if "allowed_updates" in call.args:
        api.allowed_updates = set(call.args["allowed_updates"]) or None
    api._confirm_updates(offset)
    return await api._long_poll(call, limit, timeout)


@api_method("setWebhook")
async def set_webhook(api: FakeBotApi, call: Call) -> bool:
    url = call.get("url", "")
    if url:
        m = re.match(r"^https://[^/:]+(?::(\d+))?(/.*)?$", url)
        if not url.lower().startswith("https://"):
            raise bad_request("bad webhook: An HTTPS URL must be provided for webhook")
        if not m:
            raise bad_request("bad webhook: Failed to resolve host: Name or service not known")
        if m.group(1) and m.group(1) not in ("80", "88", "443", "8443"):
            raise bad_request("bad webhook: Webhook can be set up only on ports 80, 88, 443 or 8443")
    secret = call.get("secret_token")
    if secret is not None and not re.fullmatch(r"[A-Za-z0-9_-]+", secret):
        raise bad_request("secret token contains unallowed characters")
    if call.get("drop_pending_updates"):
        api.updates.clear()
    if "allowed_updates" in call.args:
        api.allowed_updates = set(call.args["allowed_updates"]) or None
    api.webhook = {"url": url, "max_connections": call.get("max_connections", 40), "secret_token": secret} if url else {}
    return True


@api_method("deleteWebhook")
async def delete_webhook(api: FakeBotApi, call: Call) -> bool:
    if call.get("drop_pending_updates"):
        api.updates.clear()
        api.changes.notify()
    api.webhook = {}
    return True


@api_method("getWebhookInfo")
async def get_webhook_info(api: FakeBotApi, call: Call) -> dict:
    info: dict[str, Any] = {"url": api.webhook.get("url", ""), "has_custom_certificate": False, "pending_update_count": len(api.updates)}
    if api.webhook:
        info["max_connections"] = api.webhook["max_connections"]
        if api.allowed_updates:
            info["allowed_updates"] = sorted(api.allowed_updates)
    return info


# ------------------------------------------------------------------------------- commands etc.


def _scope_key(api: FakeBotApi, scope: dict | None) -> str:
    scope = dict(scope or {"type": "default"})
    if "chat_id" in scope:
        chat = api._resolve_chat(scope["chat_id"])
        scope["chat_id"] = chat.id
        if scope["type"] == "chat_member" and chat.status_of(scope.get("user_id", 0)) in ("left", "kicked"):
            raise bad_request("user not found")
    return json.dumps(scope, sort_keys=True)


def _language(call: Call) -> str:
    code = call.get("language_code") or ""
    if code and not re.fullmatch(r"[a-z]{2}", code):
        raise bad_request("invalid language code specified")
    return code


@api_method("setMyCommands")
async def set_my_commands(api: FakeBotApi, call: Call) -> bool:
    api.commands[(_scope_key(api, call.get("scope")), _language(call))] = [
        {"command": c["command"], "description": c["description"]} for c in call.args["commands"]
    ]
    return True


@api_method("getMyCommands")
async def get_my_commands(api: FakeBotApi, call: Call) -> list[dict]:
    return snapshot(api.commands.get((_scope_key(api, call.get("scope")), _language(call)), []))


@api_method("deleteMyCommands")
async def delete_my_commands(api: FakeBotApi, call: Call) -> bool:
    api.commands.pop((_scope_key(api, call.get("scope")), _language(call)), None)
    return True


_PROFILE_TEXTS = {
    "setMyName": "name", "getMyName": "name",
    "setMyDescription": "description", "getMyDescription": "description",
    "setMyShortDescription": "short_description", "getMyShortDescription": "short_description",
}  # fmt: skip


@api_method(*_PROFILE_TEXTS)
async def my_profile_text(api: FakeBotApi, call: Call) -> Any:
    key = _PROFILE_TEXTS[call.method]
    lang = _language(call)
    if call.method.startswith("set"):
        api.profile[(key, lang)] = call.get(key) or ""
        return True
    default = api.bot.first_name if key == "name" and not lang else ""
    return {key: api.profile.get((key, lang), default)}


# ------------------------------------------------------------------------------------ sending


@api_method("sendMessage")
async def send_message(api: FakeBotApi, call: Call) -> dict:
    text, entities = api._format(call.args["text"], call.get("parse_mode"), call.get("entities"))
    chat = api._writable_chat(call.args["chat_id"])
    content: dict[str, Any] = {"text": text}
    if entities:
        content["entities"] = entities
    if call.get("link_preview_options"):
        content["link_preview_options"] = strip_none(call.get("link_preview_options"))
    return api._store_bot_message(chat, content, call)


def _media_sender(kind: str) -> Handler:
    async def send_media(api: FakeBotApi, call: Call) -> dict:
        caption = api._caption_fields(call.get("caption"), call.get("parse_mode"), call.get("caption_entities"))
        chat = api._writable_chat(call.args["chat_id"])
        stored = api._resolve_file(call.args[kind], kind, call)
        content = {**api._media_content(stored, kind), **caption}
        if call.get("has_spoiler"):
            content["has_media_spoiler"] = True
        if call.get("show_caption_above_media") and caption:
            content["show_caption_above_media"] = True
        return api._store_bot_message(chat, content, call)

    send_media.__name__ = f"send_{kind}"
    return send_media


for _kind, _method in [
    ("photo", "sendPhoto"), ("video", "sendVideo"), ("document", "sendDocument"), ("voice", "sendVoice"),
    ("audio", "sendAudio"), ("animation", "sendAnimation"), ("sticker", "sendSticker"), ("video_note", "sendVideoNote"),
]:  # fmt: skip
    api_method(_method)(_media_sender(_kind))


@api_method("sendMediaGroup")
async def send_media_group(api: FakeBotApi, call: Call) -> list[dict]:
    items: list[dict] = call.args["media"]
    kinds = {item["type"] for item in items}
    for lonely in ("document", "audio"):
        if lonely in kinds and len(kinds) > 1:
            raise bad_request(f"{lonely} can't be mixed with other media types")
    captions = [api._caption_fields(i.get("caption"), i.get("parse_mode"), i.get("caption_entities")) for i in items]
    chat = api._writable_chat(call.args["chat_id"])
    stored = [api._resolve_file(item["media"], item["type"], call) for item in items]
    group_id = str(random.randrange(10**17, 10**18))
    messages = []
    for item, caption, file in zip(items, captions, stored, strict=True):
        content = {**api._media_content(file, item["type"]), **caption}
        if item.get("has_spoiler"):
            content["has_media_spoiler"] = True
        messages.append(api._store_bot_message(chat, content, call, media_group_id=group_id))
        call.args.pop("reply_markup", None)
    return messages


@api_method("sendLocation")
async def send_location(api: FakeBotApi, call: Call) -> dict:
    lat, lon = call.args["latitude"], call.args["longitude"]
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise bad_request("wrong latitude/longitude specified")
    chat = api._writable_chat(call.args["chat_id"])
    location: dict[str, Any] = {"latitude": lat, "longitude": lon}
    for key in ("horizontal_accuracy", "live_period", "heading", "proximity_alert_radius"):
        if call.get(key) is not None:
            location[key] = call.get(key)
    return api._store_bot_message(chat, {"location": location}, call)


@api_method("sendContact")
async def send_contact(api: FakeBotApi, call: Call) -> dict:
    chat = api._writable_chat(call.args["chat_id"])
    contact = {k: call.get(k) for k in ("phone_number", "first_name", "last_name", "vcard") if call.get(k)}
    return api._store_bot_message(chat, {"contact": contact}, call)


@api_method("sendChatAction")
async def send_chat_action(api: FakeBotApi, call: Call) -> bool:
    if call.args["action"] not in CHAT_ACTIONS:
        raise bad_request("wrong parameter action in request")
    chat = api._writable_chat(call.args["chat_id"])
    api._thread_fields(chat, call.get("message_thread_id"))
    api.chat_actions.append({"chat_id": chat.id, "action": call.args["action"], "message_thread_id": call.get("message_thread_id"), "date": api.clock.unix()})
    api.changes.notify()
    return True


@api_method("copyMessage", "forwardMessage")
async def copy_or_forward(api: FakeBotApi, call: Call) -> dict:
    forward = call.method == "forwardMessage"
    source = api._resolve_chat(call.args["from_chat_id"])
    original = source.messages.get(call.args["message_id"])
    if original is None:
        raise bad_request(f"message to {'forward' if forward else 'copy'} not found")
    content = {k: snapshot(v) for k, v in original.items() if k in CONTENT_KEYS}
    if not content:
        raise bad_request(f"message can't be {'forwarded' if forward else 'copied'}")
    if original.get("has_protected_content"):
        raise bad_request(f"message has protected content and can't be {'forwarded' if forward else 'copied'}")
    if forward:
        origin = original.get("forward_origin") or {"type": "user", "sender_user": original["from"], "date": original["date"]}
        content["forward_origin"] = snapshot(origin)
        call.args.pop("reply_markup", None)
        call.args.pop("reply_parameters", None)
    elif "caption" in call.args or "caption_entities" in call.args:
        content.pop("caption", None)
        content.pop("caption_entities", None)
        if any(k in content for k in MEDIA_KEYS):
            content.update(api._caption_fields(call.get("caption"), call.get("parse_mode"), call.get("caption_entities")))
    target = api._writable_chat(call.args["chat_id"])
    message = api._store_bot_message(target, content, call)
    return message if forward else {"message_id": message["message_id"]}


# ------------------------------------------------------------------------------------ editing


def _edit_target(api: FakeBotApi, call: Call) -> tuple[ChatRecord, dict]:
    if call.get("inline_message_id"):
        raise bad_request("MESSAGE_ID_INVALID")  # the fake server has no inline mode
    if call.get("chat_id") is None:
        raise bad_request("chat_id is empty")
    if call.get("message_id") is None:
        raise bad_request("message identifier is not specified")
    chat = api._writable_chat(call.args["chat_id"])
    message = api._bot_message(chat, call.args["message_id"], missing="message to edit not found")
    if not api._is_bot_message(message):
        raise bad_request("message can't be edited")
    return chat, message


def _new_inline_markup(call: Call) -> dict | None:
    markup = call.get("reply_markup")
    return strip_none(markup) if markup and "inline_keyboard" in markup else None


def _apply_edit(api: FakeBotApi, chat: ChatRecord, message: dict, changes: dict) -> dict:
    for key, value in changes.items():
        if value in (None, [], ""):
            message.pop(key, None)
        else:
            message[key] = value
    message["edit_date"] = api.clock.unix()
    chat.edit_log.append(snapshot(message))
    api.changes.notify()
    return snapshot(message)


@api_method("editMessageText")
async def edit_message_text(api: FakeBotApi, call: Call) -> dict:
    if call.get("text") is None and call.get("rich_message") is None:
        raise bad_request("message text is empty")
    if call.get("text") is None:
        raise ApiError(501, "Not Implemented: editMessageText with rich_message is not supported by the fake Bot API server (tests/botapi)")
    text, entities = api._format(call.args["text"], call.get("parse_mode"), call.get("entities"))
    chat, message = _edit_target(api, call)
    if "text" not in message:
        raise bad_request("there is no text in the message to edit")
    markup = _new_inline_markup(call)
    if message["text"] == text and message.get("entities", []) == entities and message.get("reply_markup") == markup:
        raise bad_request(NOT_MODIFIED)
    return _apply_edit(api, chat, message, {"text": text, "entities": entities, "reply_markup": markup})


@api_method("editMessageCaption")
async def edit_message_caption(api: FakeBotApi, call: Call) -> dict:
    caption = api._caption_fields(call.get("caption"), call.get("parse_mode"), call.get("caption_entities"))
    chat, message = _edit_target(api, call)
    if not any(k in message for k in MEDIA_KEYS):
        raise bad_request("there is no caption in the message to edit")
    markup = _new_inline_markup(call)
    new = {"caption": caption.get("caption"), "caption_entities": caption.get("caption_entities"), "reply_markup": markup}
    if all(message.get(key) == (value or None) for key, value in new.items()):
        raise bad_request(NOT_MODIFIED)
    return _apply_edit(api, chat, message, new)


@api_method("editMessageReplyMarkup")
async def edit_message_reply_markup(api: FakeBotApi, call: Call) -> dict:
    chat, message = _edit_target(api, call)
    markup = _new_inline_markup(call)
    if message.get("reply_markup") == markup:
        raise bad_request(NOT_MODIFIED)
    return _apply_edit(api, chat, message, {"reply_markup": markup})


def _can_delete(api: FakeBotApi, chat: ChatRecord, message: dict) -> str | None:
    if api.clock.now() - message["date"] > 48 * 3600:
        return "message can't be deleted for everyone"
    if "forum_topic_created" in message:
        return "message can't be deleted"
    if chat.type == "private" or api._is_bot_message(message) or chat.bot_status == "administrator":
        return None
    return "message can't be deleted"


def _delete(api: FakeBotApi, chat: ChatRecord, message_id: int) -> None:
    chat.deleted[message_id] = chat.messages.pop(message_id)
    api.changes.notify()


@api_method("deleteMessage")
async def delete_message(api: FakeBotApi, call: Call) -> bool:
    chat = api._resolve_chat(call.args["chat_id"])
    message = api._bot_message(chat, call.args["message_id"], missing="message to delete not found")
    problem = _can_delete(api, chat, message)
    if problem:
        raise bad_request(problem)
    _delete(api, chat, call.args["message_id"])
    return True


@api_method("deleteMessages")
async def delete_messages(api: FakeBotApi, call: Call) -> bool:
    chat = api._resolve_chat(call.args["chat_id"])
    for message_id in call.args["message_ids"]:
        message = chat.messages.get(message_id)
        if message is not None and _can_delete(api, chat, message) is None:
            _delete(api, chat, message_id)
    return True


@api_method("pinChatMessage", "unpinChatMessage")
async def pin_chat_message(api: FakeBotApi, call: Call) -> bool:
    chat = api._writable_chat(call.args["chat_id"])
    if chat.type != "private" and chat.bot_status != "administrator":
        raise bad_request("not enough rights to manage pinned messages in the chat")
    message_id = call.get("message_id")
    if call.method == "pinChatMessage":
        api._bot_message(chat, message_id, missing="message to pin not found")
        chat.pinned = [m for m in chat.pinned if m != message_id] + [message_id]
    elif message_id is None:
        chat.pinned = chat.pinned[:-1]
    else:
        if message_id not in chat.pinned:
            raise bad_request("message to unpin not found")
        chat.pinned.remove(message_id)
    return True


# ---------------------------------------------------------------------------- callback queries


@api_method("answerCallbackQuery")
async def answer_callback_query(api: FakeBotApi, call: Call) -> bool:
    query = api.callback_queries.get(call.args["callback_query_id"])
    if query is None or query["answer"] is not None or api.clock.now() - query["created"] > api.callback_timeout:
        raise bad_request(QUERY_TOO_OLD)
    url = call.get("url")
    if url and not url.startswith(("https://t.me/", "tg://")):
        raise bad_request("URL_INVALID")
    answer = {
        "callback_query_id": call.args["callback_query_id"],
        "user_id": query["user_id"],
        "chat_id": query["chat_id"],
        "data": query["data"],
        "text": call.get("text"),
        "show_alert": bool(call.get("show_alert")),
        "url": url,
        "cache_time": call.get("cache_time", 0),
    }
    query["answer"] = answer
    api.callback_answers.append(answer)
    api.changes.notify()
    return True


# ------------------------------------------------------------------------------------- files


@api_method("getFile")
async def get_file(api: FakeBotApi, call: Call) -> dict:
    stored = api.files.get(call.args["file_id"])
    if stored is None:
        raise bad_request("invalid file_id")
    if stored.size > MAX_DOWNLOAD:
        raise bad_request("file is too big")
    path = api.files.assign_path(stored)
    return {"file_id": stored.file_id, "file_unique_id": stored.file_unique_id, "file_size": stored.size, "file_path": path}


# ---------------------------------------------------------------------------- chats & members

_ADMIN_RIGHTS = (
    "can_manage_chat", "can_delete_messages", "can_manage_video_chats", "can_restrict_members",
    "can_promote_members", "can_change_info", "can_invite_users", "can_post_stories",
    "can_edit_stories", "can_delete_stories", "can_pin_messages", "can_manage_topics",
)  # fmt: skip


def _member_json(api: FakeBotApi, chat: ChatRecord, user: UserRecord, status: str) -> dict:
    out: dict[str, Any] = {"status": status, "user": user.json()}
    if status == "creator":
        out["is_anonymous"] = False
    elif status == "administrator":
        out.update({"can_be_edited": False, "is_anonymous": False})
        out.update({right: True for right in _ADMIN_RIGHTS})
        if not chat.is_forum:
            out.pop("can_manage_topics")
    elif status == "kicked":
        out["until_date"] = 0
    return out


@api_method("getChat")
async def get_chat(api: FakeBotApi, call: Call) -> dict:
    chat = api._resolve_chat(call.args["chat_id"])
    info = {
        **chat.json(),
        "accent_color_id": 0,
        "max_reaction_count": 11,
        "accepted_gift_types": {
            "unlimited_gifts": False, "limited_gifts": False, "unique_gifts": False,
            "premium_subscription": False, "gifts_from_channels": False,
        },
    }  # fmt: skip
    if chat.pinned:
        info["pinned_message"] = snapshot(chat.messages.get(chat.pinned[-1]))
    return strip_none(info)


@api_method("getChatMember")
async def get_chat_member(api: FakeBotApi, call: Call) -> dict:
    chat = api._resolve_chat(call.args["chat_id"])
    user_id = call.args["user_id"]
    if user_id == api.bot.id:
        return _member_json(api, chat, api.bot, chat.bot_status if chat.type != "private" else "member")
    user = api.users.get(user_id)
    if user is None:
        raise bad_request("user not found")
    return _member_json(api, chat, user, chat.status_of(user_id))


@api_method("banChatMember")
async def ban_chat_member(api: FakeBotApi, call: Call) -> bool:
    """Takes a member out of a group; refused unless the bot is an administrator there (Telegram's rule)."""
    chat = api._resolve_chat(call.args["chat_id"])
    if chat.type == "private":
        raise bad_request("can't remove chat owner")  # what Telegram says for a private chat
    if chat.bot_status != "administrator":
        raise bad_request("not enough rights to restrict/unrestrict chat member")
    user_id = call.args["user_id"]
    if chat.members.get(user_id) == "creator":
        raise bad_request("can't remove chat owner")
    chat.members[user_id] = "kicked"
    return True


@api_method("unbanChatMember")
async def unban_chat_member(api: FakeBotApi, call: Call) -> bool:
    chat = api._resolve_chat(call.args["chat_id"])
    user_id = call.args["user_id"]
    if chat.members.get(user_id) == "kicked":
        chat.members[user_id] = "left"
    elif not call.args.get("only_if_banned") and chat.members.get(user_id) in ("member", "restricted"):
        chat.members[user_id] = "left"
    return True


@api_method("getChatAdministrators")
async def get_chat_administrators(api: FakeBotApi, call: Call) -> list[dict]:
    chat = api._resolve_chat(call.args["chat_id"])
    if chat.type == "private":
        raise bad_request("there are no administrators in the private chat")
    admins = [_member_json(api, chat, api.users[uid], s) for uid, s in chat.members.items() if s in ("creator", "administrator")]
    if chat.bot_status == "administrator":
        admins.append(_member_json(api, chat, api.bot, "administrator"))
    return admins


@api_method("getChatMemberCount")
async def get_chat_member_count(api: FakeBotApi, call: Call) -> int:
    chat = api._resolve_chat(call.args["chat_id"])
    if chat.type == "private":
        return 2
    present = sum(1 for s in chat.members.values() if s in ("creator", "administrator", "member", "restricted"))
    return present + (chat.bot_status in ("member", "administrator"))


# ------------------------------------------------------------------------------ forum topics


def _forum(api: FakeBotApi, call: Call) -> ChatRecord:
    chat = api._writable_chat(call.args["chat_id"])
    if chat.type != "supergroup" or not chat.is_forum:
        raise bad_request("the chat is not a forum")
    return chat


def _topic(chat: ChatRecord, call: Call) -> dict:
    topic = chat.topics.get(call.args["message_thread_id"])
    if topic is None:
        raise bad_request("TOPIC_ID_INVALID")
    return topic


def _topic_service_message(api: FakeBotApi, chat: ChatRecord, thread_id: int, service: dict, message_id: int | None = None) -> None:
    message = {
        "message_id": message_id or chat.next_message_id(),
        "from": api.bot.json(),
        "chat": chat.json(),
        "date": api.clock.unix(),
        "message_thread_id": thread_id,
        "is_topic_message": True,
        **service,
    }
    chat.messages[message["message_id"]] = message
    api.changes.notify()


def _require_topic_rights(chat: ChatRecord, action: str) -> None:
    if chat.bot_status != "administrator":
        raise bad_request(f"not enough rights to {action} a topic")


@api_method("createForumTopic")
async def create_forum_topic(api: FakeBotApi, call: Call) -> dict:
    chat = _forum(api, call)
    _require_topic_rights(chat, "create")
    thread_id = chat.next_message_id()
    topic: dict[str, Any] = {"message_thread_id": thread_id, "name": call.args["name"], "icon_color": call.get("icon_color", _TOPIC_COLORS[thread_id % len(_TOPIC_COLORS)])}
    if call.get("icon_custom_emoji_id"):
        topic["icon_custom_emoji_id"] = call.get("icon_custom_emoji_id")
    chat.topics[thread_id] = {**topic, "closed": False}
    created = {k: topic[k] for k in ("name", "icon_color", "icon_custom_emoji_id") if k in topic}
    _topic_service_message(api, chat, thread_id, {"forum_topic_created": created}, message_id=thread_id)
    return snapshot(topic)


@api_method("editForumTopic")
async def edit_forum_topic(api: FakeBotApi, call: Call) -> bool:
    chat = _forum(api, call)
    topic = _topic(chat, call)
    _require_topic_rights(chat, "edit")
    changes = {k: call.get(k) for k in ("name", "icon_custom_emoji_id") if call.get(k) not in (None, "") and call.get(k) != topic.get(k)}
    if not changes:
        raise bad_request("TOPIC_NOT_MODIFIED")
    topic.update(changes)
    _topic_service_message(api, chat, topic["message_thread_id"], {"forum_topic_edited": changes})
    return True


@api_method("closeForumTopic", "reopenForumTopic")
async def close_forum_topic(api: FakeBotApi, call: Call) -> bool:
    chat = _forum(api, call)
    topic = _topic(chat, call)
    closing = call.method == "closeForumTopic"
    _require_topic_rights(chat, "close" if closing else "reopen")
    if topic["closed"] == closing:
        raise bad_request("TOPIC_NOT_MODIFIED")
    topic["closed"] = closing
    _topic_service_message(api, chat, topic["message_thread_id"], {"forum_topic_closed" if closing else "forum_topic_reopened": {}})
    return True


@api_method("deleteForumTopic")
async def delete_forum_topic(api: FakeBotApi, call: Call) -> bool:
    chat = _forum(api, call)
    topic = _topic(chat, call)
    _require_topic_rights(chat, "delete")
    thread_id = topic["message_thread_id"]
    del chat.topics[thread_id]
    for message_id in [m for m, msg in chat.messages.items() if msg.get("message_thread_id") == thread_id]:
        _delete(api, chat, message_id)
    return True
