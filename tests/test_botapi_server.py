"""Tests of the fake Telegram Bot API server (tests/botapi) itself.

Two clients: raw httpx requests (to pin down the wire format and Telegram's exact descriptions)
and python-telegram-bot's own ``Bot``/``Application`` (to prove the real bot stack works against
it). Note PTB strips "Bad Request: " from descriptions and capitalizes the rest (lower-casing it),
hence the ``.lower()`` comparisons on PTB exceptions.
"""

from __future__ import annotations

import asyncio
import json
import time
from datetime import timedelta

import httpx
import pytest
from botapi import TOKEN, FakeBotApi
from botapi.formatting import parse_html, parse_markdown_v2, utf16_slice
from telegram import (
    Bot,
    BotCommand,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputMediaPhoto,
    KeyboardButton,
    ReplyKeyboardMarkup,
    ReplyParameters,
    Update,
)
from telegram.constants import ParseMode
from telegram.error import BadRequest, Conflict, Forbidden, InvalidToken, NetworkError, RetryAfter
from telegram.ext import (
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

# ------------------------------------------------------------------------------------ fixtures


@pytest.fixture
async def api():
    async with FakeBotApi() as server:
        yield server


@pytest.fixture
async def http():
    async with httpx.AsyncClient(timeout=10) as client:
        yield client


@pytest.fixture
async def raw(api, http):
    """``await raw("sendMessage", chat_id=1, text="x")`` -> (HTTP status, JSON body), form-encoded
    like python-telegram-bot sends it (dicts/lists JSON-encoded as strings)."""

    async def call(method: str, *, token: str | None = None, **params):
        data = {k: json.dumps(v) if isinstance(v, dict | list) else str(v).lower() if isinstance(v, bool) else str(v) for k, v in params.items()}
        response = await http.post(f"{api.base_url}{token or api.token}/{method}", data=data)
        return response.status_code, response.json()

    return call


@pytest.fixture
async def bot(api):
    async with Bot(api.token, base_url=api.base_url, base_file_url=api.base_file_url) as client:
        yield client


def keyboard(*buttons: tuple[str, str]) -> dict:
    return {"inline_keyboard": [[{"text": text, "callback_data": data} for text, data in buttons]]}


async def started_user(api, **kwargs):
    user = api.user(**kwargs)
    await user.send("/start")
    api.updates.clear()
    return user


# ------------------------------------------------------------------------------ auth & routing


async def test_get_me_through_ptb(bot, api):
    me = await bot.get_me()
    assert me.is_bot and me.username == "tipline_test_bot" and me.id == int(TOKEN.split(":")[0])
    assert api.calls("getMe")[-1].ok


async def test_wrong_token_is_unauthorized(api, raw):
    other = TOKEN.split(":")[0] + ":" + "B" * 35
    assert await raw("getMe", token=other) == (401, {"ok": False, "error_code": 401, "description": "Unauthorized"})
    assert await raw("getMe", token="not-a-token") == (404, {"ok": False, "error_code": 404, "description": "Not Found"})
    with pytest.raises(InvalidToken):
        async with Bot(other, base_url=api.base_url):
            pass


async def test_unknown_method_is_not_found_and_names_are_case_insensitive(api, raw):
    assert await raw("sendMessages", chat_id=1, text="x") == (404, {"ok": False, "error_code": 404, "description": "Not Found"})
    status, body = await raw("GETME")
    assert status == 200 and body["result"]["username"] == "tipline_test_bot"


async def test_valid_but_unimplemented_method_is_501_not_pretended(api, raw):
    status, body = await raw("sendPoll", chat_id=1, question="q", options=[{"text": "a"}, {"text": "b"}])
    assert status == 501 and body["ok"] is False and "sendPoll" in body["description"]
    assert api.refusals[-1].status == 501  # so "assert no refusals" notices it


async def test_params_from_query_json_and_get(api, http):
    user = await started_user(api)
    url = f"{api.base_url}{api.token}"
    r = await http.get(f"{url}/sendMessage", params={"chat_id": user.id, "text": "via GET"})
    assert r.json()["result"]["text"] == "via GET"
    r = await http.post(f"{url}/sendMessage", json={"chat_id": user.id, "text": "via JSON", "reply_markup": keyboard(("A", "a"))})
    assert r.json()["result"]["reply_markup"] == keyboard(("A", "a"))
    assert [m["text"] for m in user.inbox] == ["via GET", "via JSON"]


# ---------------------------------------------------------------------------- generic checks


async def test_missing_required_parameters(api, raw):
    user = await started_user(api)
    assert await raw("sendMessage", text="x") == (400, {"ok": False, "error_code": 400, "description": "Bad Request: chat_id is empty"})
    assert (await raw("sendMessage", chat_id=user.id))[1]["description"] == "Bad Request: message text is empty"
    assert (await raw("sendMessage", chat_id=user.id, text=""))[1]["description"] == "Bad Request: message text is empty"
    assert (await raw("sendPhoto", chat_id=user.id))[1]["description"] == "Bad Request: there is no photo in the request"
    assert (await raw("setMyCommands"))[1]["description"] == 'Bad Request: parameter "commands" is required'


async def test_empty_text_through_ptb(bot, api):
    user = await started_user(api)
    with pytest.raises(BadRequest, match="(?i)^message text is empty$"):
        await bot.send_message(user.id, "")
    with pytest.raises(BadRequest, match="(?i)^message text is empty$"):
        await bot.send_message(user.id, " \n ")  # Telegram trims whitespace first
    with pytest.raises(BadRequest, match="(?i)^message text is empty$"):
        await bot.send_message(user.id, "<b></b>", parse_mode=ParseMode.HTML)


async def test_text_length_counts_parsed_text(bot, api):
    user = await started_user(api)
    await bot.send_message(user.id, "a" * 4096)
    await bot.send_message(user.id, "<b>" + "a" * 4096 + "</b>", parse_mode=ParseMode.HTML)
    with pytest.raises(BadRequest, match="(?i)^message is too long$"):
        await bot.send_message(user.id, "a" * 4097)
    with pytest.raises(BadRequest, match="(?i)^message is too long$"):
        await bot.send_message(user.id, "😀" * 2049)  # 4098 UTF-16 code units
    assert len(user.inbox) == 2


async def test_caption_and_callback_answer_limits(api, raw, bot):
    user = await started_user(api)
    photo = api.add_file("photo")
    status, body = await raw("sendPhoto", chat_id=user.id, photo=photo, caption="c" * 1025)
    assert body["description"] == "Bad Request: message caption is too long"
    assert (await raw("sendPhoto", chat_id=user.id, photo=photo, caption="c" * 1024))[0] == 200
    await bot.send_message(user.id, "pick", reply_markup=InlineKeyboardMarkup([[InlineKeyboardButton("A", callback_data="a")]]))
    query_id = await user.press(user.last, "A")
    status, body = await raw("answerCallbackQuery", callback_query_id=query_id, text="t" * 201)
    assert (status, body["description"]) == (400, "Bad Request: MESSAGE_TOO_LONG")


async def test_scalar_types_are_checked(api, raw):
    user = await started_user(api)
    assert (await raw("sendMessage", chat_id="abc", text="x"))[1]["description"] == "Bad Request: chat not found"
    status, body = await raw("sendMessage", chat_id=user.id, text="x", disable_notification="yes")
    assert status == 400 and "Boolean" in body["description"]
    status, body = await raw("deleteMessage", chat_id=user.id, message_id="first")
    assert status == 400 and "Integer" in body["description"]
    assert (await raw("sendMessage", chat_id=user.id, text="x", reply_markup="{not json"))[1]["description"].startswith(
        "Bad Request: can't parse reply keyboard markup JSON object"
    )


async def test_unsupported_parse_mode(api, raw):
    user = await started_user(api)
    assert (await raw("sendMessage", chat_id=user.id, text="x", parse_mode="Markdown3"))[1]["description"] == "Bad Request: unsupported parse_mode"
    assert (await raw("sendMessage", chat_id=user.id, text="<b>x</b>", parse_mode="html"))[0] == 200


# ------------------------------------------------------------------------------ inline keyboards


async def test_callback_data_limit_is_in_bytes(api, raw, bot):
    user = await started_user(api)
    ok = await raw("sendMessage", chat_id=user.id, text="x", reply_markup=keyboard(("A", "d" * 64)))
    assert ok[0] == 200
    status, body = await raw("sendMessage", chat_id=user.id, text="x", reply_markup=keyboard(("A", "d" * 65)))
    assert (status, body["description"]) == (400, "Bad Request: BUTTON_DATA_INVALID")
    with pytest.raises(BadRequest, match="(?i)^button_data_invalid$"):  # 33 characters, 66 bytes
        await bot.send_message(user.id, "x", reply_markup=InlineKeyboardMarkup([[InlineKeyboardButton("A", callback_data="é" * 33)]]))


async def test_inline_button_needs_exactly_one_action(api, raw):
    user = await started_user(api)
    bare = {"inline_keyboard": [[{"text": "A"}]]}
    assert (await raw("sendMessage", chat_id=user.id, text="x", reply_markup=bare))[1]["description"] == (
        "Bad Request: can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard"
    )
    both = {"inline_keyboard": [[{"text": "A", "callback_data": "a", "url": "https://example.com"}]]}
    status, body = await raw("sendMessage", chat_id=user.id, text="x", reply_markup=both)
    assert status == 400 and body["description"].startswith("Bad Request: can't parse inline keyboard button: exactly one")
    no_text = {"inline_keyboard": [[{"callback_data": "a"}]]}
    assert (await raw("sendMessage", chat_id=user.id, text="x", reply_markup=no_text))[1]["description"] == (
        'Bad Request: can\'t parse inline keyboard button: Field "text" must be of type String'
    )
    not_rows = {"inline_keyboard": [{"text": "A", "callback_data": "a"}]}
    assert (await raw("sendMessage", chat_id=user.id, text="x", reply_markup=not_rows))[0] == 400


# --------------------------------------------------------------------------------- formatting


@pytest.mark.parametrize(
    ("html", "reason"),
    [
        ("<b>bold", 'Can\'t find end tag corresponding to start tag "b"'),
        ("1 < 2", 'Unsupported start tag "" at byte offset 2'),
        ("<br>", 'Unsupported start tag "br" at byte offset 0'),
        ("<b>x</i>", 'Unmatched end tag at byte offset 4, expected "</b>", found "</i>"'),
        ("x</b>", "Unexpected end tag at byte offset 1"),
        ("Tom & Jerry", 'Unescaped "&" at byte offset 4'),
        ("<span>x</span>", 'Tag "span" must have class "tg-spoiler" at byte offset 0'),
        ("é <b", "Unclosed start tag at byte offset 3"),
    ],
)
async def test_bad_html_is_refused_like_telegram(api, raw, html, reason):
    user = await started_user(api)
    status, body = await raw("sendMessage", chat_id=user.id, text=html, parse_mode="HTML")
    assert status == 400
    assert body["description"].startswith(f"Bad Request: can't parse entities: {reason}")
    assert user.inbox == []


async def test_html_entities_use_utf16_offsets(bot, api):
    user = await started_user(api)
    text = '😀 <b>bold</b> &lt;3 <a href="https://example.com/?a=1&amp;b=2">link</a> <tg-spoiler>s</tg-spoiler>'
    message = await bot.send_message(user.id, text, parse_mode=ParseMode.HTML)
    assert message.text == "😀 bold <3 link s"
    by_type = {e.type: e for e in message.entities}
    assert (by_type["bold"].offset, by_type["bold"].length) == (3, 4)
    assert by_type["text_link"].url == "https://example.com/?a=1&b=2"
    assert message.parse_entity(by_type["text_link"]) == "link"
    assert message.parse_entity(by_type["spoiler"]) == "s"


def test_html_parser_details():
    text, entities = parse_html('<pre><code class="language-python">x = 1</code></pre><blockquote expandable>q</blockquote>')
    assert text == "x = 1q"
    assert {"type": "pre", "offset": 0, "length": 5, "language": "python"} in entities
    assert {"type": "expandable_blockquote", "offset": 5, "length": 1} in entities
    text, entities = parse_html("<i>&#128512;&#x41;</i> &quot;ok&quot;")
    assert text == '😀A "ok"' and entities == [{"type": "italic", "offset": 0, "length": 3}]
    assert parse_html("Tom & Jerry", strict_ampersand=False)[0] == "Tom & Jerry"  # what tdlib does


def test_markdown_v2_parser():
    text, entities = parse_markdown_v2("*bold* _it_ __u__ ~s~ ||sp|| `c` [l](https://t.me/x) 1\\.5")
    assert text == "bold it u s sp c l 1.5"
    assert [e["type"] for e in entities] == ["bold", "italic", "underline", "strikethrough", "spoiler", "code", "text_link"]
    assert utf16_slice(text, entities[-1]["offset"], entities[-1]["length"]) == "l"


async def test_markdown_v2_reserved_characters(bot, api):
    user = await started_user(api)
    with pytest.raises(BadRequest) as err:
        await bot.send_message(user.id, "Done. Thanks!", parse_mode=ParseMode.MARKDOWN_V2)
    assert err.value.message.lower() == "can't parse entities: character '.' is reserved and must be escaped with the preceding '\\'"
    message = await bot.send_message(user.id, "Done\\. *Thanks*\\!", parse_mode=ParseMode.MARKDOWN_V2)
    assert message.text == "Done. Thanks!" and message.entities[0].type == "bold"


# ------------------------------------------------------------------------------- chat rules


async def test_unknown_chat(bot, api):
    with pytest.raises(BadRequest, match="(?i)^chat not found$"):
        await bot.send_message(424242, "hello?")
    api.user(user_id=5150, first_name="Never")
    with pytest.raises(BadRequest, match="(?i)^chat not found$"):
        await bot.get_chat(5150)  # exists, but the bot has never seen them


async def test_user_who_never_started_the_bot(bot, api, raw):
    user = api.user(first_name="Quiet")
    status, body = await raw("sendMessage", chat_id=user.id, text="hi")
    assert (status, body) == (403, {"ok": False, "error_code": 403, "description": "Forbidden: bot can't initiate conversation with a user"})
    with pytest.raises(Forbidden, match="bot can't initiate conversation with a user"):
        await bot.send_message(user.id, "hi")
    await user.send("hello")
    assert (await bot.send_message(user.id, "hi")).text == "hi"


async def test_blocked_user(bot, api):
    user = await started_user(api, first_name="Blocker")
    api.block(user)
    with pytest.raises(Forbidden, match="bot was blocked by the user"):
        await bot.send_message(user.id, "still there?")
    with pytest.raises(Forbidden, match="bot was blocked by the user"):
        await bot.send_chat_action(user.id, "typing")
    [update] = await bot.get_updates()
    assert update.my_chat_member.new_chat_member.status == "kicked"
    user.unblock()
    await bot.send_message(user.id, "welcome back")


async def test_deactivated_user(bot, api):
    user = await started_user(api)
    api.deactivate(user)
    with pytest.raises(Forbidden, match="user is deactivated"):
        await bot.send_message(user.id, "x")


# ------------------------------------------------------------------------------ updates


async def test_get_updates_offset_limit_and_confirmation(bot, api):
    user = api.user()
    for i in range(3):
        await user.send(f"m{i}")
    first = await bot.get_updates(limit=2)
    assert [u.message.text for u in first] == ["m0", "m1"]
    assert api.pending_updates == 3
    rest = await bot.get_updates(offset=first[-1].update_id + 1)
    assert [u.message.text for u in rest] == ["m2"]
    assert api.pending_updates == 1
    assert await bot.get_updates(offset=rest[-1].update_id + 1) == ()
    assert api.pending_updates == 0


async def test_long_poll_returns_as_soon_as_an_update_arrives(bot, api):
    user = api.user()
    poll = asyncio.create_task(bot.get_updates(timeout=10))
    await asyncio.sleep(0.2)
    assert not poll.done()
    started = time.monotonic()
    await user.send("now")
    updates = await asyncio.wait_for(poll, 2)
    assert time.monotonic() - started < 1
    assert updates[0].message.text == "now"
    assert updates[0].message.from_user.language_code == "vi"


async def test_long_poll_times_out_empty(bot):
    started = time.monotonic()
    assert await bot.get_updates(timeout=1) == ()
    assert 0.9 < time.monotonic() - started < 3


async def test_second_poller_terminates_the_first(api, bot):
    first = asyncio.create_task(bot.get_updates(timeout=5))
    await asyncio.sleep(0.2)
    async with Bot(api.token, base_url=api.base_url) as other:
        assert await other.get_updates(timeout=0) == ()
    with pytest.raises(Conflict, match="terminated by other getUpdates request"):
        await first


async def test_allowed_updates_filter(bot, api):
    user = await started_user(api)
    await bot.send_message(user.id, "pick", reply_markup=InlineKeyboardMarkup([[InlineKeyboardButton("A", callback_data="a")]]))
    await bot.get_updates(allowed_updates=["callback_query"])
    await user.send("ignored")
    await user.press(user.last, "A")
    updates = await bot.get_updates()
    assert [u.callback_query.data for u in updates] == ["a"]


async def test_webhook_blocks_get_updates(bot, api, raw):
    assert await bot.set_webhook("https://example.com/hook", secret_token="s3cr3t")
    info = await bot.get_webhook_info()
    assert info.url == "https://example.com/hook"
    with pytest.raises(Conflict, match="can't use getUpdates method while webhook is active"):
        await bot.get_updates()
    assert (await raw("setWebhook", url="http://example.com/hook"))[1]["description"] == (
        "Bad Request: bad webhook: An HTTPS URL must be provided for webhook"
    )
    assert await bot.delete_webhook()
    assert (await bot.get_webhook_info()).url == ""
    assert await bot.get_updates() == ()


async def test_commands(bot, api, raw):
    assert await bot.set_my_commands([BotCommand("start", "Bắt đầu"), BotCommand("status", "Tra cứu")], language_code="vi")
    assert [c.command for c in await bot.get_my_commands(language_code="vi")] == ["start", "status"]
    assert await bot.get_my_commands() == ()
    assert api.commands_for(language_code="vi")[1] == {"command": "status", "description": "Tra cứu"}
    assert (await raw("setMyCommands", commands=[{"command": "Start", "description": "x"}]))[1]["description"] == "Bad Request: BOT_COMMAND_INVALID"
    assert await bot.delete_my_commands(language_code="vi")
    assert await bot.get_my_commands(language_code="vi") == ()


# ------------------------------------------------------------------------ the full round trip


async def test_round_trip_message_keyboard_press_answer_edit(bot, api):
    user = api.user(user_id=1001, first_name="Lan", username="lan_vn")
    sent = await user.send("/status TL-AB")
    assert sent["entities"] == [{"type": "bot_command", "offset": 0, "length": 7}]

    [update] = await bot.get_updates(timeout=1)
    assert update.message.text == "/status TL-AB" and update.effective_user.username == "lan_vn"

    markup = InlineKeyboardMarkup([[InlineKeyboardButton("Xác nhận", callback_data="confirm:TL-AB"), InlineKeyboardButton("Huỷ", callback_data="cancel")]])
    reply = await update.message.reply_text("<b>TL-AB</b>: đang xử lý", parse_mode=ParseMode.HTML, reply_markup=markup)
    [seen] = await user.wait_for(1)
    assert seen["text"] == "TL-AB: đang xử lý" and seen["message_id"] == reply.message_id

    query_id = await user.press(seen, "Xác nhận")
    [update] = await bot.get_updates(offset=update.update_id + 1, timeout=1)
    query = update.callback_query
    assert (query.id, query.data, query.message.message_id) == (query_id, "confirm:TL-AB", reply.message_id)
    assert query.message.reply_markup == markup

    assert await query.answer("Đã xác nhận")
    edited = await query.edit_message_text("TL-AB: đã xác nhận")
    assert edited.text == "TL-AB: đã xác nhận" and edited.edit_date is not None

    assert user.callback_answers[0]["text"] == "Đã xác nhận"
    assert [m["text"] for m in user.inbox] == ["TL-AB: đã xác nhận"]
    assert "reply_markup" not in user.last  # editing without reply_markup removes the keyboard
    assert (await user.wait_for_edit())["text"] == "TL-AB: đã xác nhận"
    api.assert_no_refusals()


async def test_message_not_modified_and_not_found(bot, api):
    user = await started_user(api)
    markup = InlineKeyboardMarkup([[InlineKeyboardButton("A", callback_data="a")]])
    message = await bot.send_message(user.id, "same", reply_markup=markup)
    with pytest.raises(BadRequest) as err:
        await bot.edit_message_text("same", user.id, message.message_id, reply_markup=markup)
    assert err.value.message.lower().startswith("message is not modified: specified new message content and reply markup are exactly the same")
    with pytest.raises(BadRequest, match="(?i)^message is not modified"):
        await bot.edit_message_reply_markup(user.id, message.message_id, reply_markup=markup)
    assert await bot.edit_message_reply_markup(user.id, message.message_id, reply_markup=None)
    with pytest.raises(BadRequest, match="(?i)^message to edit not found$"):
        await bot.edit_message_text("new", user.id, 9999)
    with pytest.raises(BadRequest, match="(?i)^message to edit not found$"):
        await bot.edit_message_reply_markup(user.id, 9999, reply_markup=markup)
    mine = await user.send("user text")
    with pytest.raises(BadRequest, match="(?i)^message can't be edited$"):
        await bot.edit_message_text("hijack", user.id, mine["message_id"])


async def test_stale_or_unknown_callback_answers(bot, api, raw):
    user = await started_user(api)
    await bot.send_message(user.id, "pick", reply_markup=InlineKeyboardMarkup([[InlineKeyboardButton("A", callback_data="a")]]))
    too_old = "Bad Request: query is too old and response timeout expired or query ID is invalid"
    assert (await raw("answerCallbackQuery", callback_query_id="123"))[1]["description"] == too_old

    first = await user.press(user.last, "a")
    assert await bot.answer_callback_query(first)
    with pytest.raises(BadRequest, match="(?i)^query is too old"):
        await bot.answer_callback_query(first)  # answered already

    late = await user.press(user.last, "A")
    api.advance_time(api.callback_timeout + 1)
    with pytest.raises(BadRequest, match="(?i)^query is too old"):
        await bot.answer_callback_query(late)

    with pytest.raises(LookupError):
        await user.press(user.last, "B")
    forged = await user.press_raw(user.last["message_id"], "admin:delete_all")
    assert (await bot.get_updates())[-1].callback_query.id == forged


# -------------------------------------------------------------------------------------- files


async def test_unknown_file_id(bot, api, raw):
    user = await started_user(api)
    with pytest.raises(BadRequest, match="(?i)^wrong file identifier/http url specified$"):
        await bot.send_photo(user.id, "AgACAgIAAxkBAAIBogNotAFileId")
    assert (await raw("getFile", file_id="nope"))[1]["description"] == "Bad Request: invalid file_id"
    with pytest.raises(BadRequest, match="(?i)^failed to get http url content$"):
        await bot.send_document(user.id, "https://example.com/x.pdf")
    document = api.add_file("document", file_name="a.pdf")
    with pytest.raises(BadRequest, match="(?i)^can't use file of type document as photo$"):
        await bot.send_photo(user.id, document)


async def test_user_media_round_trip_get_file_and_download(bot, api, http):
    user = api.user()
    sent = await user.send_photo(data=b"\xff\xd8 fake jpeg", caption="evidence #hẻm5")
    biggest = sent["photo"][-1]
    [update] = await bot.get_updates()
    assert update.message.photo[-1].file_id == biggest["file_id"]
    assert update.message.caption == "evidence #hẻm5" and update.message.caption_entities[0].type == "hashtag"

    file = await bot.get_file(biggest["file_id"])
    assert file.file_path.startswith(api.base_file_url + api.token + "/photos/")
    assert bytes(await file.download_as_bytearray()) == b"\xff\xd8 fake jpeg"

    video = await user.send_video(size=30 * 1024 * 1024)
    with pytest.raises(BadRequest, match="(?i)^file is too big$"):
        await bot.get_file(video["video"]["file_id"])

    doc = await user.send_document(file_name="report.pdf", size=1234)
    echoed = await bot.send_document(user.id, doc["document"]["file_id"], caption="got it")
    assert echoed.document.file_unique_id == doc["document"]["file_unique_id"]
    assert echoed.document.file_name == "report.pdf"


async def test_multipart_uploads_and_media_group(bot, api):
    user = await started_user(api)
    markup = InlineKeyboardMarkup([[InlineKeyboardButton("OK", callback_data="ok")]])
    photo = await bot.send_photo(user.id, b"png-bytes", caption="<i>up</i>", parse_mode=ParseMode.HTML, reply_markup=markup)
    assert photo.caption == "up" and photo.reply_markup == markup
    assert api.calls("sendPhoto")[-1].files == ["photo"]
    assert api.calls("sendPhoto")[-1].params["reply_markup"] == json.dumps(markup.to_dict())  # JSON string in the form
    document = await bot.send_document(user.id, b"%PDF-1.4", filename="tip.pdf")
    assert (document.document.file_name, document.document.mime_type) == ("tip.pdf", "application/pdf")
    with pytest.raises(BadRequest, match="(?i)^file must be non-empty$"):
        await bot.send_document(user.id, b"", filename="empty.txt")

    album = await bot.send_media_group(user.id, [InputMediaPhoto(b"one", caption="1"), InputMediaPhoto(photo.photo[-1].file_id)])
    assert len(album) == 2 and album[0].media_group_id == album[1].media_group_id
    assert len(await user.wait_for(4)) == 4
    with pytest.raises(BadRequest, match="(?i)^wrong file identifier/http url specified$"):
        await bot.send_media_group(user.id, [InputMediaPhoto("bogus"), InputMediaPhoto(photo.photo[-1].file_id)])


async def test_copy_and_forward_to_a_group(bot, api):
    moderator = api.user(first_name="Mod")
    tipster = api.user(first_name="Tipster")
    staff = api.group(title="Staff", members=[moderator])
    tip = await tipster.send_photo(caption="ở đây")
    copied = await bot.copy_message(staff.chat_id, tipster.id, tip["message_id"], caption="Tip TL-AB")
    forwarded = await bot.forward_message(staff.chat_id, tipster.id, tip["message_id"])
    assert forwarded.forward_origin.sender_user.id == tipster.id
    first, second = staff.inbox
    assert first["message_id"] == copied.message_id and first["caption"] == "Tip TL-AB" and "forward_origin" not in first
    assert second["photo"] == tip["photo"]
    with pytest.raises(BadRequest, match="(?i)^message to copy not found$"):
        await bot.copy_message(staff.chat_id, tipster.id, 999)


async def test_delete_message(bot, api):
    user = await started_user(api)
    message = await bot.send_message(user.id, "oops")
    assert await bot.delete_message(user.id, message.message_id)
    assert user.inbox == [] and user.deleted[0]["text"] == "oops"
    with pytest.raises(BadRequest, match="(?i)^message to delete not found$"):
        await bot.delete_message(user.id, message.message_id)
    old = await bot.send_message(user.id, "old")
    api.advance_time(49 * 3600)
    with pytest.raises(BadRequest, match="(?i)^message can't be deleted for everyone$"):
        await bot.delete_message(user.id, old.message_id)


# ------------------------------------------------------------------------------ groups & topics


async def test_forum_topics(bot, api):
    mod = api.user(first_name="Mod")
    forum = api.group(title="Cases", forum=True, members=[mod])
    plain = api.group(title="Chat")
    with pytest.raises(BadRequest, match="(?i)^the chat is not a forum$"):
        await bot.create_forum_topic(plain.chat_id, "TL-AB")
    topic = await bot.create_forum_topic(forum.chat_id, "TL-AB")
    message = await bot.send_message(forum.chat_id, "new tip", message_thread_id=topic.message_thread_id)
    assert message.message_thread_id == topic.message_thread_id and message.is_topic_message
    assert await bot.edit_forum_topic(forum.chat_id, topic.message_thread_id, name="TL-AB (done)")
    assert await bot.close_forum_topic(forum.chat_id, topic.message_thread_id)
    assert forum.topics[topic.message_thread_id]["closed"] and forum.topics[topic.message_thread_id]["name"] == "TL-AB (done)"
    with pytest.raises(BadRequest, match="(?i)^message thread not found$"):
        await bot.send_message(forum.chat_id, "x", message_thread_id=4242)
    reply = await forum.send(mod, "noted", reply_to=message.message_id)
    assert reply["message_thread_id"] == topic.message_thread_id
    [text] = [u.message.text for u in await bot.get_updates()]
    assert text == "noted"
    assert [m["text"] for m in forum.topic_messages(topic.message_thread_id)] == ["new tip"]


async def test_privacy_mode_for_non_admin_bot(bot, api):
    member = api.user(first_name="Member")
    group = api.group(title="Public", members=[member], bot_admin=False)
    await group.send(member, "just chatting")
    await group.send(member, "/help@tipline_test_bot")
    await group.send(member, "/help@other_bot")
    assert [u.message.text for u in await bot.get_updates()] == ["/help@tipline_test_bot"]
    member_info = await bot.get_chat_member(group.chat_id, member.id)
    assert member_info.status == "member"
    group.remove_bot()
    with pytest.raises(Forbidden, match="bot was kicked from the supergroup chat"):
        await bot.send_message(group.chat_id, "hello?")


async def test_reply_keyboard_and_reply_parameters(bot, api):
    user = await started_user(api)
    markup = ReplyKeyboardMarkup([[KeyboardButton("Gửi vị trí", request_location=True)], ["Huỷ"]], one_time_keyboard=True)
    question = await bot.send_message(user.id, "Where?", reply_markup=markup)
    assert question.reply_markup is None  # Telegram only echoes inline keyboards
    assert user.keyboard == [["Gửi vị trí"], ["Huỷ"]]
    shared = await user.tap("Gửi vị trí", latitude=21.0285, longitude=105.8542)
    assert shared["location"] == {"latitude": 21.0285, "longitude": 105.8542} and user.keyboard is None
    reply = await bot.send_message(user.id, "thanks", reply_parameters=ReplyParameters(shared["message_id"]))
    assert reply.reply_to_message.location.latitude == 21.0285
    with pytest.raises(BadRequest, match="(?i)^message to be replied not found$"):
        await bot.send_message(user.id, "x", reply_parameters=ReplyParameters(999))


# ---------------------------------------------------------------------------- fault injection


async def test_fault_injection(bot, api, raw, monkeypatch):
    # Without PTB_TIMEDELTA=1, PTB 22 emits PTBDeprecationWarning when it *constructs* RetryAfter
    # (and pytest turns that into an error instead of the RetryAfter).
    monkeypatch.setenv("PTB_TIMEDELTA", "1")
    user = await started_user(api)
    api.fail_next("sendMessage", status=429, retry_after=3)
    with pytest.raises(RetryAfter) as err:
        await bot.send_message(user.id, "x")
    assert err.value.retry_after.total_seconds() == 3
    status, body = await raw("getMe")  # the fault was for sendMessage only, and is used up
    assert status == 200
    api.fail_next(status=502)
    with pytest.raises(NetworkError, match="Bad Gateway"):
        await bot.send_message(user.id, "x")
    async with api.outage():
        with pytest.raises(NetworkError):
            await bot.get_me()
    assert (await bot.send_message(user.id, "x")).text == "x"
    assert api.refusals == []  # injected faults are not refusals
    assert [r.status for r in api.calls("sendMessage")] == [429, 502, 200]


async def test_wait_for_reports_refusals(api, raw):
    user = await started_user(api)
    await raw("sendMessage", chat_id=user.id, text="<b>broken", parse_mode="HTML")
    with pytest.raises(AssertionError, match="Can't find end tag"):
        await user.wait_for(1, timeout=0.2)


# ---------------------------------------------------------------- a real Application, polling


async def test_application_polls_handles_and_shuts_down_cleanly(api):
    async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await update.message.reply_text(
            f"Xin chào {update.effective_user.first_name}",
            reply_markup=InlineKeyboardMarkup([[InlineKeyboardButton("Gửi tin", callback_data="tip")]]),
        )

    async def pressed(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await update.callback_query.answer()
        await update.callback_query.edit_message_text("Hãy mô tả sự việc.")

    async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await context.bot.send_chat_action(update.effective_chat.id, "typing")
        await update.message.reply_text(update.message.text)

    app = ApplicationBuilder().token(api.token).base_url(api.base_url).base_file_url(api.base_file_url).build()
    app.add_handler(CommandHandler("start", start))
    app.add_handler(CallbackQueryHandler(pressed))
    app.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, echo))

    user = api.user(first_name="Minh")
    await user.send("/start")  # queued before the bot starts, like a real backlog
    async with app:
        await app.start()
        await app.updater.start_polling(poll_interval=0, timeout=1)
        [welcome] = await user.wait_for(1)
        assert welcome["text"] == "Xin chào Minh"
        await user.press(welcome, "Gửi tin")
        assert (await user.wait_for_edit())["text"] == "Hãy mô tả sự việc."
        await user.wait_for_answer()
        await user.send("Có người bán ma tuý ở hẻm 5")
        [echoed] = await user.wait_for(1)
        assert echoed["text"] == "Có người bán ma tuý ở hẻm 5" and user.chat_actions == ["typing"]
        await api.wait_until_consumed()
        stopping = time.monotonic()
        await app.updater.stop()
        await app.stop()
    assert time.monotonic() - stopping < 2
    assert api.calls("deleteWebhook")  # PTB's polling bootstrap
    api.assert_no_refusals()


async def test_other_implemented_methods_work_with_ptb(bot, api):
    """A sweep over the rest of what the fake server implements, through PTB's de_json."""
    user = await started_user(api)
    admin = api.user(first_name="Admin")
    staff = api.group(title="Staff", admins=[admin])
    photo = await bot.send_photo(user.id, api.add_file("photo"), caption="a")
    with pytest.raises(BadRequest, match="(?i)^message is not modified"):
        await bot.edit_message_caption(user.id, photo.message_id, caption="a")
    assert (await bot.edit_message_caption(user.id, photo.message_id, caption="<b>b</b>", parse_mode="HTML")).caption == "b"
    text = await bot.send_message(user.id, "t")
    with pytest.raises(BadRequest, match="(?i)^there is no caption in the message to edit$"):
        await bot.edit_message_caption(user.id, text.message_id, caption="x")
    with pytest.raises(BadRequest, match="(?i)^there is no text in the message to edit$"):
        await bot.edit_message_text("x", user.id, photo.message_id)
    assert (await bot.send_location(user.id, 10.5, 106.7)).location.longitude == 106.7
    with pytest.raises(BadRequest):
        await bot.send_location(user.id, 91, 0)
    assert (await bot.send_contact(user.id, "+84901234567", "Hotline")).contact.first_name == "Hotline"
    voice = await user.send_voice(duration=4)
    assert (await bot.send_voice(user.id, voice["voice"]["file_id"])).voice.file_unique_id == voice["voice"]["file_unique_id"]
    sticker = await user.send_sticker()
    assert (await bot.send_sticker(user.id, sticker["sticker"]["file_id"])).sticker.type == "regular"
    assert (await bot.send_video(user.id, b"mp4", filename="clip.mp4")).video.mime_type == "video/mp4"
    assert (await bot.send_animation(user.id, b"gif", filename="a.gif")).animation is not None
    with pytest.raises(BadRequest, match="(?i)^wrong parameter action in request$"):
        await bot.send_chat_action(user.id, "dancing")
    assert await bot.pin_chat_message(user.id, text.message_id)
    assert (await bot.get_chat(user.id)).pinned_message.message_id == text.message_id
    assert await bot.unpin_chat_message(user.id, text.message_id)
    assert await bot.delete_messages(user.id, [text.message_id, photo.message_id, 9999])
    assert text.message_id not in [m["message_id"] for m in user.inbox]
    assert {m.status for m in await bot.get_chat_administrators(staff.chat_id)} == {"administrator"}
    assert await bot.get_chat_member_count(staff.chat_id) == 2
    assert (await bot.get_chat_member(staff.chat_id, api.bot.id)).status == "administrator"
    assert (await bot.get_chat(staff.chat_id)).title == "Staff"
    assert await bot.set_my_name("Đường dây nóng", language_code="vi")
    assert (await bot.get_my_name(language_code="vi")).name == "Đường dây nóng"
    assert (await bot.get_my_name()).name == "Tipline Test Bot"
    assert await bot.set_my_description("Báo tin ẩn danh")
    assert (await bot.get_my_description()).description == "Báo tin ẩn danh"
    edited = await user.send("typo")
    await user.edit(edited, "fixed")
    updates = await bot.get_updates()
    assert updates[-1].edited_message.text == "fixed"


async def test_global_limit_answers_429_with_retry_after_above_it() -> None:
    from telegram import Bot
    from telegram.error import RetryAfter

    async with FakeBotApi(global_limit=3, limit_retry_after=2) as server:
        alice = server.user(first_name="Alice", started=True)
        async with Bot(server.token, base_url=server.base_url) as bot:
            for n in range(3):
                await bot.send_message(alice.id, f"m{n}")
            with pytest.raises(RetryAfter) as refused:
                await bot.send_message(alice.id, "over")
            assert refused.value.retry_after in (2, timedelta(seconds=2))
            await bot.get_me()  # not a message: not limited
        assert server.limited == 1 and [m[1] for m in server.send_log] == ["sendMessage"] * 3
        assert [m["text"] for m in alice.inbox] == ["m0", "m1", "m2"]
        assert server.refusals == []  # the limit is the test's setting, not a request Telegram would refuse
