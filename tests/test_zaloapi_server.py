"""Tests of the fake Zalo Bot API server (tests/zaloapi) itself, with raw httpx requests so that the
wire format (URLs, JSON bodies, envelopes, headers, status codes) is pinned down exactly."""

from __future__ import annotations

import asyncio
import io
import json
import re
import time

import httpx
import pytest
from PIL import Image
from zaloapi import BOT_ID, HANOI, SECRET_HEADER, TOKEN, FakeZaloApi, WebhookReceiver, camera_jpeg, gps_of

HEX20 = re.compile(r"^[0-9a-f]{20}$")


@pytest.fixture
async def zapi():
    async with FakeZaloApi() as server:
        yield server


@pytest.fixture
async def http():
    async with httpx.AsyncClient(timeout=10) as client:
        yield client


@pytest.fixture
async def raw(zapi, http):
    """``await raw("sendMessage", chat_id=..., text=...)`` -> (HTTP status, JSON body), POSTed as
    JSON the way Zalo's clients call the API."""

    async def call(method: str, *, token: str | None = None, **params):
        response = await http.post(f"{zapi.base_url}{token or zapi.token}/{method}", json=params)
        return response.status_code, response.json()

    return call


@pytest.fixture
async def hook():
    async with WebhookReceiver() as receiver:
        yield receiver


async def written(zapi, name: str = "Lan"):
    """A person who wrote to the bot, with that message already taken out of the queue."""
    user = zapi.user(display_name=name)
    await user.send("Xin chào")
    zapi.updates.clear()
    return user


# ------------------------------------------------------------------------------ URLs & tokens


async def test_base_url_composes_like_zalos(zapi, raw):
    assert zapi.token == TOKEN and zapi.token.split(":")[0] == BOT_ID
    assert zapi.base_url == f"{zapi.url}/bot"  # like https://bot-api.zaloplatforms.com/bot
    status, body = await raw("getMe")
    assert status == 200
    assert body == {
        "ok": True,
        "result": {"id": BOT_ID, "account_name": "bot.tipline_test", "account_type": "BASIC", "can_join_groups": False},
    }
    [record] = zapi.calls("getMe")
    assert (record.http_method, record.content_type, record.ok) == ("POST", "application/json", True)


async def test_wrong_token_unknown_method_and_case(zapi, raw, http):
    other = BOT_ID + ":" + "x" * 40
    assert await raw("getMe", token=other) == (401, {"ok": False, "error_code": 401, "description": "Unauthorized"})
    response = await http.post(f"{zapi.base_url}not-a-token/getMe", json={})
    assert response.status_code == 404 and response.text == "404 page not found"  # not the API's JSON
    assert await raw("sendMessages") == (
        404,
        {"ok": False, "error_code": 404, "description": "Not Found: no such method"},
    )
    assert (await raw("getme"))[0] == 404  # method names are case-sensitive
    assert [r.status for r in zapi.refusals] == [401, 404, 404, 404]


async def test_query_and_form_parameters_are_read_too(zapi, http):
    lan = await written(zapi)
    url = f"{zapi.base_url}{zapi.token}/sendMessage"
    assert (await http.get(url, params={"chat_id": lan.id, "text": "qua GET"})).json()["ok"] is True
    assert (await http.post(url, data={"chat_id": lan.id, "text": "qua form"})).json()["ok"] is True
    assert [m["text"] for m in lan.inbox] == ["qua GET", "qua form"]
    assert [r.http_method for r in zapi.calls("sendMessage")] == ["GET", "POST"]


async def test_unknown_parameters_are_recorded_not_refused(zapi, raw):
    lan = await written(zapi)
    status, _ = await raw("sendMessage", chat_id=lan.id, text="x", parse_mode="html", reply_markup={})
    assert status == 200 and zapi.calls("sendMessage")[0].ignored_params == ["parse_mode", "reply_markup"]


# --------------------------------------------------------------------------------- sending


async def test_send_message_result_and_inbox(zapi, raw):
    lan = await written(zapi)
    before = int(time.time() * 1000)
    status, body = await raw("sendMessage", chat_id=lan.id, text="Chào bạn, cảm ơn đã liên hệ.")
    assert status == 200 and set(body["result"]) == {"message_id", "date"}
    assert HEX20.match(body["result"]["message_id"]) and before <= body["result"]["date"] <= int(time.time() * 1000)
    [message] = await lan.wait_for(1)
    assert message["text"] == "Chào bạn, cảm ơn đã liên hệ." and message["message_id"] == body["result"]["message_id"]
    assert lan.last == message and lan.history[-1]["from_bot"] is True
    zapi.assert_no_refusals()


async def test_text_limits(zapi, raw):
    lan = await written(zapi)
    assert (await raw("sendMessage", chat_id=lan.id, text="a" * 2000))[0] == 200
    assert (await raw("sendMessage", chat_id=lan.id, text="ệ" * 2000))[0] == 200  # precomposed: one each
    status, body = await raw("sendMessage", chat_id=lan.id, text="a" * 2001)
    assert status == 400 and body["description"].startswith("Bad Request: text is too long (2001")
    # an emoji is two UTF-16 units: 1000 fit, 1001 do not
    assert (await raw("sendMessage", chat_id=lan.id, text="🚨" * 1000))[0] == 200
    assert (await raw("sendMessage", chat_id=lan.id, text="🚨" * 1001))[0] == 400
    assert await raw("sendMessage", chat_id=lan.id, text="") == (
        400,
        {"ok": False, "error_code": 400, "description": "Bad Request: text is required"},
    )
    assert (await raw("sendMessage", chat_id=lan.id, text=" \n "))[1]["description"] == "Bad Request: text is empty"
    assert (await raw("sendMessage", chat_id=lan.id))[1]["description"] == "Bad Request: text is required"
    assert (await raw("sendMessage", chat_id=lan.id, text=5))[1]["description"] == "Bad Request: text must be a string"
    assert len(lan.inbox) == 3 and len(zapi.refusals) == 6


async def test_chat_id_must_be_a_known_chat(zapi, raw):
    lan = zapi.user(display_name="Lan")  # never wrote: the bot has no chat with her yet
    chat_not_found = (400, {"ok": False, "error_code": 400, "description": "Bad Request: chat not found"})
    assert await raw("sendMessage", chat_id=lan.id, text="x") == chat_not_found
    assert await raw("sendMessage", chat_id="0" * 20, text="x") == chat_not_found
    assert (await raw("sendMessage", text="x"))[1]["description"] == "Bad Request: chat_id is required"
    assert (await raw("sendMessage", chat_id=12345, text="x"))[1][
        "description"
    ] == "Bad Request: chat_id must be a string"
    await lan.send("chào")
    assert (await raw("sendMessage", chat_id=lan.id, text="x"))[0] == 200
    mai = zapi.user(display_name="Mai", started=True)  # as if she had written before the test began
    assert (await raw("sendMessage", chat_id=mai.id, text="x"))[0] == 200


async def test_a_person_who_blocked_the_bot_is_unreachable(zapi, raw):
    lan = await written(zapi)
    lan.block()
    forbidden = (403, {"ok": False, "error_code": 403, "description": "Forbidden: the user has blocked the bot"})
    assert await raw("sendMessage", chat_id=lan.id, text="x") == forbidden
    assert await raw("sendPhoto", chat_id=lan.id, photo="https://example.org/a.jpg") == forbidden
    assert await raw("sendChatAction", chat_id=lan.id, action="typing") == forbidden
    with pytest.raises(RuntimeError, match="blocked the bot"):
        await lan.send("still here?")
    lan.unblock()
    assert (await raw("sendMessage", chat_id=lan.id, text="x"))[0] == 200
    assert lan.blocked is False and [m["text"] for m in lan.inbox] == ["x"]


async def test_send_photo(zapi, raw):
    lan = await written(zapi)
    assert (
        await raw("sendPhoto", chat_id=lan.id, photo="https://cdn.example.org/poster.jpg", caption="Đường dây nóng")
    )[0] == 200
    assert (await raw("sendPhoto", chat_id=lan.id, photo="https://cdn.example.org/b.jpg", caption=None))[0] == 200
    assert [(m["kind"], m["photo"], m.get("caption")) for m in lan.inbox] == [
        ("photo", "https://cdn.example.org/poster.jpg", "Đường dây nóng"),
        ("photo", "https://cdn.example.org/b.jpg", None),
    ]
    assert (await raw("sendPhoto", chat_id=lan.id, photo="poster.jpg"))[1][
        "description"
    ] == "Bad Request: photo must be an http or https URL"
    assert (await raw("sendPhoto", chat_id=lan.id))[1]["description"] == "Bad Request: photo is required"
    assert (await raw("sendPhoto", chat_id=lan.id, photo="https://e.org/a.jpg", caption=""))[1][
        "description"
    ] == "Bad Request: caption is required"
    assert (await raw("sendPhoto", chat_id=lan.id, photo="https://e.org/a.jpg", caption="c" * 2001))[0] == 400


async def test_send_sticker_and_chat_action(zapi, raw):
    lan = await written(zapi)
    assert (await raw("sendSticker", chat_id=lan.id, sticker="d063f44dc80821567819"))[0] == 200
    assert lan.inbox[-1]["kind"] == "sticker" and lan.inbox[-1]["sticker"] == "d063f44dc80821567819"
    assert (await raw("sendSticker", chat_id=lan.id))[0] == 400
    assert await raw("sendChatAction", chat_id=lan.id, action="typing") == (200, {"ok": True})  # no result
    assert await raw("sendChatAction", chat_id=lan.id, action="upload_photo") == (
        400,
        {"ok": False, "error_code": 400, "description": "Bad Request: action must be typing"},
    )
    assert lan.chat_actions == ["typing"]


# ---------------------------------------------------------------------------------- updates


async def test_text_update_shape(zapi):
    lan = zapi.user(display_name="Nguyễn Thị Lan")
    before = int(time.time() * 1000)
    update = await lan.send("Xin chào")
    assert update == zapi.updates[0]
    message = update["message"]
    assert update["event_name"] == "message.text.received" and message["text"] == "Xin chào"
    assert message["chat"] == {"id": lan.id, "chat_type": "PRIVATE"}
    assert message["from"] == {"id": lan.id, "display_name": "Nguyễn Thị Lan", "is_bot": False}
    assert HEX20.match(lan.id) and HEX20.match(message["message_id"])
    assert before <= message["date"] <= int(time.time() * 1000)  # milliseconds
    zapi.advance_time(3600)
    later = await lan.send("còn đó không?")
    assert later["message"]["date"] - message["date"] >= 3_600_000


async def test_image_update_serves_a_real_jpeg_with_gps(zapi, http):
    lan = zapi.user(display_name="Lan")
    update = await lan.send_image(caption="Chỗ này hay có người lạ")
    message = update["message"]
    assert update["event_name"] == "message.image.received" and message["caption"] == "Chỗ này hay có người lạ"
    assert message["photo_url"].startswith(f"{zapi.url}/files/") and message["photo_url"].endswith(".jpg")
    response = await http.get(message["photo_url"])
    assert response.status_code == 200 and response.headers["content-type"] == "image/jpeg"
    assert Image.open(io.BytesIO(response.content)).format == "JPEG"
    latitude, longitude = gps_of(response.content)
    assert abs(latitude - HANOI[0]) < 1e-4 and abs(longitude - HANOI[1]) < 1e-4
    assert zapi.file(message["photo_url"]).downloads == 1
    no_gps = await lan.send_image(gps=None)
    assert "caption" not in no_gps["message"]
    assert gps_of((await http.get(no_gps["message"]["photo_url"])).content) is None
    saigon = await lan.send_image(gps=(10.7769, 106.7009))
    assert gps_of((await http.get(saigon["message"]["photo_url"])).content)[0] == pytest.approx(10.7769, abs=1e-4)
    given = await lan.send_image("https://example.org/x.jpg")
    assert given["message"]["photo_url"] == "https://example.org/x.jpg"
    assert (await http.get(f"{zapi.url}/files/nothing.jpg")).status_code == 404


async def test_image_field_can_be_photo(http):
    async with FakeZaloApi(image_field="photo") as zapi:
        update = await zapi.user().send_image(data=camera_jpeg(32, 32, gps=None))
        assert "photo_url" not in update["message"]
        assert (await http.get(update["message"]["photo"])).status_code == 200


async def test_sticker_voice_and_unsupported_updates(zapi, http):
    lan = zapi.user(display_name="Lan")
    sticker = (await lan.send_sticker())["message"]
    assert (await lan.send_sticker("abc"))["message"]["sticker"] == "abc"
    assert HEX20.match(sticker["sticker"]) and (await http.get(sticker["url"])).headers["content-type"] == "image/png"
    voice = await lan.send_voice()
    assert voice["event_name"] == "message.voice.received" and voice["message"]["voice_url"].endswith(".aac")
    assert (await http.get(voice["message"]["voice_url"])).headers["content-type"] == "audio/aac"
    unsupported = await lan.send_unsupported()
    assert unsupported["event_name"] == "message.unsupported.received"
    assert set(unsupported["message"]) == {"message_id", "date", "chat", "from"}
    assert [u["event_name"] for u in zapi.updates] == [
        "message.sticker.received", "message.sticker.received", "message.voice.received", "message.unsupported.received",
    ]  # fmt: skip


async def test_group_chat(zapi, raw):
    lan, mai = zapi.user(display_name="Lan"), zapi.user(display_name="Mai")
    group = zapi.group("Tổ dân phố", members=[lan])
    update = await group.send(lan, "chào cả nhóm")
    assert update["message"]["chat"] == {"id": group.chat_id, "chat_type": "GROUP"}
    assert update["message"]["from"]["id"] == lan.id
    with pytest.raises(LookupError):
        await group.send(mai, "tôi chưa vào nhóm")
    assert (await raw("sendMessage", chat_id=group.chat_id, text="Chào nhóm"))[0] == 200
    assert [m["text"] for m in await group.wait_for(1)] == ["Chào nhóm"]


# ---------------------------------------------------------------------------- long polling


async def test_get_updates_hands_out_one_update_per_call_in_order(zapi, raw):
    lan = zapi.user(display_name="Lan")
    first, second = await lan.send("một"), await lan.send("hai")
    assert await raw("getUpdates", timeout=30) == (200, {"ok": True, "result": first})
    assert await raw("getUpdates", timeout="30") == (200, {"ok": True, "result": second})  # the docs' string form
    assert zapi.pending_updates == 0


async def test_an_empty_long_poll_ends_with_408_after_its_timeout(zapi, raw):
    started = time.monotonic()
    assert await raw("getUpdates", timeout=1) == (
        408,
        {"ok": False, "error_code": 408, "description": "Request timeout"},
    )
    assert 0.9 <= time.monotonic() - started < 3
    assert (await raw("getUpdates", timeout=0))[0] == 408
    assert zapi.refusals == []  # the normal end of a poll, not a refusal
    assert (await raw("getUpdates", timeout="soon"))[1][
        "description"
    ] == "Bad Request: timeout must be a number of seconds"
    assert (await raw("getUpdates", timeout=-1))[0] == 400


async def test_a_long_poll_returns_as_soon_as_someone_writes(zapi, raw):
    lan = zapi.user(display_name="Lan")

    async def write_later():
        await asyncio.sleep(0.2)
        await lan.send("đây")

    started = time.monotonic()
    (status, body), _ = await asyncio.gather(raw("getUpdates", timeout=20), write_later())
    assert status == 200 and body["result"]["message"]["text"] == "đây"
    assert time.monotonic() - started < 2


async def test_a_second_poller_cuts_the_first_off(zapi, raw):
    first = asyncio.create_task(raw("getUpdates", timeout=20))
    await asyncio.sleep(0.1)
    second = asyncio.create_task(raw("getUpdates", timeout=1))
    assert (await first)[0] == 409 and "another getUpdates" in (await first)[1]["description"]
    assert (await second)[0] == 408


async def test_wait_until_consumed(zapi, raw):
    lan = zapi.user()
    await lan.send("x")
    with pytest.raises(AssertionError, match="not fetched"):
        await zapi.wait_until_consumed(timeout=0.1)
    await raw("getUpdates")
    await zapi.wait_until_consumed(timeout=1)


# --------------------------------------------------------------------------------- webhook


async def test_set_get_and_delete_webhook(zapi, raw, hook):
    assert await raw("getWebhookInfo") == (
        200,
        {"ok": True, "result": {"url": "", "updated_at": zapi.webhook_updated_at}},
    )
    status, body = await raw("setWebhook", url=hook.url, secret_token="s" * 8)
    assert status == 200 and body["result"]["url"] == hook.url and isinstance(body["result"]["updated_at"], int)
    assert (await raw("getWebhookInfo"))[1]["result"]["url"] == hook.url  # the secret is never shown
    assert await raw("getUpdates", timeout=1) == (
        409,
        {
            "ok": False,
            "error_code": 409,
            "description": "Conflict: getUpdates is not available while a webhook is set; call deleteWebhook first",
        },
    )
    assert (await raw("deleteWebhook"))[1]["result"]["url"] == ""
    assert (await raw("getUpdates", timeout=0))[0] == 408


async def test_set_webhook_limits(zapi, raw, hook):
    def description(reply):
        return reply[1].get("description")

    assert (
        description(await raw("setWebhook", url=hook.url, secret_token="s" * 7))
        == "Bad Request: secret_token must be 8 to 256 characters"
    )
    assert (
        description(await raw("setWebhook", url=hook.url, secret_token="s" * 257))
        == "Bad Request: secret_token must be 8 to 256 characters"
    )
    assert description(await raw("setWebhook", url=hook.url)) == "Bad Request: secret_token is required"
    assert description(await raw("setWebhook", secret_token="s" * 8)) == "Bad Request: url is required"
    assert (
        description(await raw("setWebhook", url="ftp://example.org/x", secret_token="s" * 8))
        == "Bad Request: url must be an http or https URL"
    )
    assert (await raw("setWebhook", url=hook.url, secret_token="s" * 256))[0] == 200
    zapi.require_https = True
    assert (
        description(await raw("setWebhook", url=hook.url, secret_token="s" * 8))
        == "Bad Request: url must be an https URL"
    )


@pytest.mark.parametrize("shape", ["result", "bare"])
async def test_updates_are_posted_with_the_secret_in_either_envelope(http, hook, shape):
    async with FakeZaloApi(webhook_envelope=shape) as zapi:
        await http.post(
            f"{zapi.base_url}{zapi.token}/setWebhook", json={"url": hook.url, "secret_token": "tipline-webhook-secret"}
        )
        lan = zapi.user(display_name="Lan")
        update = await lan.send("qua webhook")
        [delivery] = await zapi.wait_for_deliveries(1)
        [post] = hook.posts
        assert (
            post.headers[SECRET_HEADER] == "tipline-webhook-secret"
            and post.headers["Content-Type"] == "application/json"
        )
        expected = {"ok": True, "result": update} if shape == "result" else update
        assert post.json() == expected == delivery.body
        assert delivery.status == 200 and delivery.ok and delivery.secret == "tipline-webhook-secret"
        assert zapi.pending_updates == 0  # nothing left for getUpdates


async def test_deliveries_keep_their_order_and_record_the_receivers_answer(zapi, raw, hook):
    await raw("setWebhook", url=hook.url, secret_token="tipline-secret")
    lan = zapi.user(display_name="Lan")
    sent = [await lan.send(str(i)) for i in range(5)]
    deliveries = await zapi.wait_for_deliveries(5)
    assert [d.update for d in deliveries] == sent and [p.json()["result"] for p in hook.posts] == sent
    hook.status = 500
    failed = await lan.send("lỗi")
    [delivery] = await zapi.wait_for_deliveries(1)
    assert delivery.status == 500 and not delivery.ok and delivery.update == failed
    await zapi.webhook_idle()
    assert len(hook.posts) == 6  # refused deliveries are not retried by themselves


async def test_redeliver_for_idempotency_and_negative_secrets(zapi, raw, hook):
    await raw("setWebhook", url=hook.url, secret_token="tipline-secret")
    update = await zapi.user().send("một lần thôi")
    await zapi.wait_for_deliveries(1)
    again = await zapi.redeliver(update)
    assert again.redelivery and again.status == 200 and hook.posts[1].body == hook.posts[0].body
    missing = await zapi.redeliver(update, secret=None)
    assert missing.secret is None and hook.posts[2].secret is None
    wrong = await zapi.redeliver(update, secret="guessed-secret")
    assert hook.posts[3].secret == "guessed-secret" and wrong.secret == "guessed-secret"
    bare = await zapi.redeliver(update, envelope="bare")
    assert hook.posts[4].json() == update and bare.body == update
    raw_post = await zapi.post_webhook(b"[1, 2", secret="tipline-secret")
    assert hook.posts[5].body == b"[1, 2" and raw_post.status == 200 and raw_post.update is None
    assert len(zapi.deliveries) == 6


async def test_updates_waiting_when_the_webhook_is_set_are_posted_and_undelivered_ones_come_back(zapi, raw, hook):
    lan = zapi.user()
    waiting = await lan.send("trước webhook")
    await raw("setWebhook", url=hook.url, secret_token="tipline-secret")
    [delivery] = await zapi.wait_for_deliveries(1)
    assert delivery.update == waiting
    await raw("deleteWebhook")
    after = await lan.send("sau webhook")
    assert await raw("getUpdates", timeout=1) == (200, {"ok": True, "result": after})
    assert len(hook.posts) == 1


async def test_a_setwebhook_ends_a_poll_in_progress(zapi, raw, hook):
    poll = asyncio.create_task(raw("getUpdates", timeout=20))
    await asyncio.sleep(0.1)
    await raw("setWebhook", url=hook.url, secret_token="tipline-secret")
    assert (await poll)[0] == 409


async def test_an_unreachable_receiver_is_recorded(zapi, raw):
    async with WebhookReceiver() as gone:
        url = gone.url
    await raw("setWebhook", url=url, secret_token="tipline-secret")
    await zapi.user().send("có ai không")
    [delivery] = await zapi.wait_for_deliveries(1)
    assert delivery.status is None and delivery.error and not delivery.ok


async def test_redeliver_needs_a_webhook(zapi):
    with pytest.raises(RuntimeError, match="setWebhook"):
        await zapi.redeliver({"event_name": "message.text.received", "message": {}})


# ---------------------------------------------------------------------------- faults & logs


async def test_fail_next(zapi, raw, http):
    lan = await written(zapi)
    zapi.fail_next("sendMessage", status=502)
    assert await raw("sendMessage", chat_id=lan.id, text="x") == (
        502,
        {"ok": False, "error_code": 502, "description": "Bad Gateway"},
    )
    assert (await raw("sendMessage", chat_id=lan.id, text="x"))[0] == 200
    zapi.fail_next(status=429, retry_after=7)
    response = await http.post(f"{zapi.base_url}{zapi.token}/sendMessage", json={"chat_id": lan.id, "text": "x"})
    assert response.status_code == 429 and response.headers["Retry-After"] == "7"
    assert response.json() == {
        "ok": False,
        "error_code": 429,
        "description": "Too Many Requests: retry after 7",
        "parameters": {"retry_after": 7},
    }
    zapi.fail_next()  # any method but getUpdates
    assert (await raw("getUpdates", timeout=0))[0] == 408
    assert (await raw("getMe"))[0] == 502
    assert zapi.refusals == [] and [r.injected for r in zapi.requests if not r.ok and r.error_code != 408] == [
        True,
        True,
        True,
    ]


async def test_delay_next(zapi, raw):
    zapi.delay_next("getMe", seconds=0.5)
    started = time.monotonic()
    assert (await raw("getMe"))[0] == 200
    assert time.monotonic() - started >= 0.5


async def test_outage_answers_a_gateway_page_and_cuts_a_poll(zapi, raw, http):
    poll = asyncio.create_task(http.post(f"{zapi.base_url}{zapi.token}/getUpdates", json={"timeout": 20}))
    await asyncio.sleep(0.1)
    async with zapi.outage():
        cut = await poll
        assert (
            cut.status_code == 502
            and "502 Bad Gateway" in cut.text
            and cut.headers["content-type"].startswith("text/html")
        )
        response = await http.post(f"{zapi.base_url}{zapi.token}/getMe", json={})
        assert response.status_code == 502
        with pytest.raises(json.JSONDecodeError):
            response.json()
    assert (await raw("getMe"))[0] == 200
    assert zapi.refusals == []


async def test_errors_can_come_with_http_200(http):
    async with FakeZaloApi(errors_as_http_200=True) as zapi:
        response = await http.post(f"{zapi.base_url}{zapi.token}/sendMessage", json={"chat_id": "x", "text": "y"})
        assert response.status_code == 200 and response.json() == {
            "ok": False,
            "error_code": 400,
            "description": "Bad Request: chat not found",
        }
        assert zapi.refusals[0].status == 200 and zapi.refusals[0].error_code == 400


async def test_assert_no_refusals_lists_them(zapi, raw):
    await raw("sendMessage", chat_id="nobody", text="x")
    with pytest.raises(AssertionError, match=r"1 request\(s\) Zalo would refuse:\n  sendMessage\(.*chat not found"):
        zapi.assert_no_refusals()


async def test_wait_for_explains_what_happened_instead(zapi, raw):
    lan = zapi.user(display_name="Lan")
    await lan.send("alo")
    await raw("sendMessage", chat_id="nobody", text="x")
    with pytest.raises(AssertionError, match=r"(?s)expected 1 new bot message.*chat not found"):
        await lan.wait_for(1, timeout=0.2)
    assert await lan.wait_quiet(0.1) == []
    with pytest.raises(AssertionError, match="expected 1 webhook deliveries"):
        await zapi.wait_for_deliveries(1, timeout=0.1)


async def test_a_crash_of_the_fake_is_raised_at_stop(monkeypatch):
    from zaloapi import methods

    async def broken(api, params):
        raise KeyError("oops")

    monkeypatch.setitem(methods.HANDLERS, "getMe", (broken, frozenset()))
    zapi = FakeZaloApi()
    await zapi.start()
    async with httpx.AsyncClient() as http:
        response = await http.post(f"{zapi.base_url}{zapi.token}/getMe", json={})
    assert response.status_code == 500
    with pytest.raises(RuntimeError, match="crashed 1 time"):
        await zapi.stop()
