"""Tests of bot.zalo (the Zalo Bot API client and the reading of updates), over real HTTP against
the local fake Zalo server (tests/zaloapi)."""

from __future__ import annotations

import asyncio
import copy
import json
import logging
import random

import httpx
import pytest
from zaloapi import BOT_ID, FakeZaloApi, WebhookReceiver

from bot.logs import quiet_libraries
from bot.zalo import (
    SECRET_HEADER,
    ZaloBadRequest,
    ZaloBotClient,
    ZaloBotInfo,
    ZaloConflict,
    ZaloError,
    ZaloForbidden,
    ZaloRateLimited,
    ZaloUnauthorized,
    ZaloUnavailable,
    ZaloUpdate,
    parse_update,
    secret_matches,
)
from bot.zalo.client import DEFAULT_BASE_URL


@pytest.fixture
async def zapi():
    async with FakeZaloApi() as server:
        yield server


@pytest.fixture
async def client(zapi):
    async with ZaloBotClient(zapi.token, base_url=zapi.base_url) as bot:
        yield bot


async def next_update(client: ZaloBotClient) -> ZaloUpdate:
    update = await client.get_updates(timeout=5)
    assert update is not None
    return update


# ------------------------------------------------------------------------------------ calls


async def test_get_me(client, zapi):
    assert await client.get_me() == ZaloBotInfo(
        id=BOT_ID, account_name="bot.tipline_test", account_type="BASIC", can_join_groups=False
    )
    [record] = zapi.requests
    assert (record.http_method, record.content_type, record.params) == ("POST", "application/json", {})


def test_default_base_url_is_zalos():
    assert DEFAULT_BASE_URL == "https://bot-api.zaloplatforms.com/bot"


async def test_polling_round_trip(client, zapi):
    lan = zapi.user(display_name="Lan")
    await lan.send("Tôi muốn báo tin")
    update = await next_update(client)
    assert (update.kind, update.event_name, update.text, update.chat_type) == (
        "text",
        "message.text.received",
        "Tôi muốn báo tin",
        "PRIVATE",
    )
    assert update.chat_id == lan.id and update.sender_id == lan.id and not update.sender_is_bot and update.is_private
    sent = await client.send_message(update.chat_id, "Cảm ơn bạn. Chọn 1 để gửi tin, 2 để xem thông tin.")
    [reply] = await lan.wait_for(1)
    assert (
        reply["text"].startswith("Cảm ơn bạn")
        and sent.message_id == reply["message_id"]
        and sent.date_ms == reply["date"]
    )
    assert zapi.calls("getUpdates")[0].params == {"timeout": "5"}  # sent as a string, as the docs type it
    zapi.assert_no_refusals()


async def test_an_empty_poll_gives_none(client, zapi):
    assert await client.get_updates(timeout=1) is None
    assert zapi.calls("getUpdates")[0].error_code == 408


async def test_image_sticker_voice_and_unsupported_updates(client, zapi):
    lan = zapi.user(display_name="Lan")
    image = await lan.send_image(caption="ảnh hiện trường")
    await lan.send_sticker()
    await lan.send_voice()
    await lan.send_unsupported()
    got = [await next_update(client) for _ in range(4)]
    assert [u.kind for u in got] == ["image", "sticker", "voice", "unsupported"]
    assert (
        got[0].photo_url == image["message"]["photo_url"]
        and got[0].caption == "ảnh hiện trường"
        and got[0].text is None
    )
    assert got[1].sticker and got[2].voice_url.endswith(".aac")
    assert got[3].text is got[3].photo_url is got[3].voice_url is None


async def test_send_photo_and_chat_action(client, zapi):
    lan = zapi.user(display_name="Lan", started=True)
    await client.send_photo(lan.id, "https://example.org/poster.jpg", caption="Đường dây nóng 113")
    await client.send_photo(lan.id, "https://example.org/plain.jpg")
    assert await client.send_chat_action(lan.id) is None
    assert [(m["photo"], m.get("caption")) for m in lan.inbox] == [
        ("https://example.org/poster.jpg", "Đường dây nóng 113"),
        ("https://example.org/plain.jpg", None),
    ]
    assert "caption" not in zapi.calls("sendPhoto")[1].params and lan.chat_actions == ["typing"]
    zapi.assert_no_refusals()


# ----------------------------------------------------------------------------------- errors


async def test_refusals_map_to_what_the_caller_should_do(client, zapi):
    lan = zapi.user(display_name="Lan", started=True)
    with pytest.raises(ZaloBadRequest) as bad:
        await client.send_message("0" * 20, "x")
    assert (bad.value.code, bad.value.description, bad.value.method) == (
        400,
        "Bad Request: chat not found",
        "sendMessage",
    )
    with pytest.raises(ZaloBadRequest):
        await client.send_message(lan.id, "a" * 2001)
    lan.block()
    with pytest.raises(ZaloForbidden) as blocked:
        await client.send_message(lan.id, "x")
    assert blocked.value.code == 403 and not blocked.value.transient
    with pytest.raises(ZaloForbidden):
        await client.send_chat_action(lan.id)


@pytest.mark.parametrize("errors_as_http_200", [False, True])
async def test_classification_reads_the_body_not_the_http_status(errors_as_http_200):
    async with (
        FakeZaloApi(errors_as_http_200=errors_as_http_200) as zapi,
        ZaloBotClient(zapi.token, base_url=zapi.base_url) as client,
    ):
        lan = zapi.user(started=True)
        lan.block()
        with pytest.raises(ZaloForbidden):
            await client.send_message(lan.id, "x")
        zapi.fail_next("getMe", status=429, retry_after=7)
        with pytest.raises(ZaloRateLimited) as limited:
            await client.get_me()
        assert limited.value.retry_after == 7 and limited.value.transient
        zapi.fail_next("getMe", status=503)
        with pytest.raises(ZaloUnavailable) as unavailable:
            await client.get_me()
        assert unavailable.value.code == 503 and unavailable.value.transient
        assert await client.get_updates(timeout=0) is None


async def test_wrong_tokens_are_unauthorized(zapi):
    async with ZaloBotClient(BOT_ID + ":" + "x" * 40, base_url=zapi.base_url) as wrong:
        with pytest.raises(ZaloUnauthorized) as err:
            await wrong.get_me()
    assert err.value.code == 401
    async with ZaloBotClient("not-a-token", base_url=zapi.base_url) as malformed:
        with pytest.raises(ZaloUnauthorized) as err:  # a plain-text 404: the path does not exist
            await malformed.get_me()
    assert err.value.code == 404 and not err.value.transient
    with pytest.raises(ValueError):
        ZaloBotClient("")


async def test_get_updates_while_a_webhook_is_set_is_a_conflict(client, zapi):
    async with WebhookReceiver() as hook:
        await client.set_webhook(hook.url, "tipline-secret")
        with pytest.raises(ZaloConflict):
            await client.get_updates(timeout=1)


async def test_outage_network_failure_and_timeout_are_transient(client, zapi):
    async with zapi.outage():
        with pytest.raises(ZaloUnavailable) as outage:  # a gateway's HTML page, not JSON
            await client.get_updates(timeout=1)
    assert outage.value.code == 502 and outage.value.transient

    zapi.delay_next("getMe", seconds=1.0)
    async with ZaloBotClient(zapi.token, base_url=zapi.base_url, timeout=0.2) as impatient:
        with pytest.raises(ZaloUnavailable, match="timed out") as slow:
            await impatient.get_me()
    assert slow.value.code is None and slow.value.__suppress_context__

    async with WebhookReceiver() as gone:
        closed_port = gone.url.rsplit(":", 1)[1].split("/")[0]
    async with ZaloBotClient(zapi.token, base_url=f"http://127.0.0.1:{closed_port}/bot") as nowhere:
        with pytest.raises(ZaloUnavailable, match="network error") as down:
            await nowhere.get_me()
    assert zapi.token not in str(down.value) and down.value.__suppress_context__


async def test_a_long_poll_waits_longer_than_the_client_timeout(zapi):
    lan = zapi.user()

    async def write_later():
        await asyncio.sleep(0.6)
        await lan.send("muộn một chút")

    async with ZaloBotClient(zapi.token, base_url=zapi.base_url, timeout=0.3) as client:
        update, _ = await asyncio.gather(client.get_updates(timeout=5), write_later())
    assert update is not None and update.text == "muộn một chút"


async def test_the_client_closes_only_its_own_http_client(zapi):
    async with httpx.AsyncClient() as http:
        async with ZaloBotClient(zapi.token, base_url=zapi.base_url, http=http) as client:
            await client.get_me()
        assert not http.is_closed
    own = ZaloBotClient(zapi.token, base_url=zapi.base_url)
    await own.aclose()
    assert own._http.is_closed


# ---------------------------------------------------------------------------------- webhook


@pytest.mark.parametrize("shape", ["result", "bare"])
async def test_webhook_mode_end_to_end(shape):
    async with (
        FakeZaloApi(webhook_envelope=shape) as zapi,
        ZaloBotClient(zapi.token, base_url=zapi.base_url) as client,
        WebhookReceiver() as hook,
    ):
        assert not (await client.get_webhook_info()).is_set
        info = await client.set_webhook(hook.url, "tipline-webhook-secret")
        assert info.url == hook.url and info.updated_at_ms == zapi.webhook_updated_at
        assert (await client.get_webhook_info()).url == hook.url
        lan = zapi.user(display_name="Lan")
        await lan.send("qua webhook")
        await zapi.wait_for_deliveries(1)
        [post] = hook.posts
        assert secret_matches(post.headers.get(SECRET_HEADER), "tipline-webhook-secret")
        update = parse_update(post.json())
        assert update is not None and update.text == "qua webhook" and update.chat_id == lan.id
        # a redelivery reads as the same message: message_id is what an idempotent receiver keys on
        await zapi.redeliver(post.json()["result"] if shape == "result" else post.json())
        assert parse_update(hook.posts[1].json()) == update
        assert not (await client.delete_webhook()).is_set
        await lan.send("lại qua polling")
        assert (await next_update(client)).text == "lại qua polling"


def test_secret_matches():
    assert secret_matches("tipline-secret", "tipline-secret")
    assert not secret_matches("tipline-secreT", "tipline-secret")
    assert not secret_matches(None, "tipline-secret")
    assert not secret_matches("", "")  # an unconfigured secret matches nothing
    assert not secret_matches("tipline-secret-and-more", "tipline-secret")


# ------------------------------------------------------------------------------- parse_update

VALID = {
    "event_name": "message.text.received",
    "message": {
        "message_id": "16f6366b3f02645a3d15",
        "date": 1766619597466,
        "text": "Xin chào",
        "chat": {"id": "e4ea2cd5189df1c3a88c", "chat_type": "PRIVATE"},
        "from": {"id": "e4ea2cd5189df1c3a88c", "display_name": "Nguyen Van A", "is_bot": False},
    },
}


def test_parse_update_takes_both_envelopes():
    bare, wrapped = parse_update(VALID), parse_update({"ok": True, "result": VALID})
    assert bare == wrapped == ZaloUpdate(
        event_name="message.text.received", message_id="16f6366b3f02645a3d15", chat_type="PRIVATE",
        date_ms=1766619597466, chat_id="e4ea2cd5189df1c3a88c", sender_id="e4ea2cd5189df1c3a88c", text="Xin chào",
    )  # fmt: skip


def test_parse_update_image_field_names_and_unknown_events():
    image = copy.deepcopy(VALID)
    image["event_name"] = "message.image.received"
    del image["message"]["text"]
    image["message"].update(photo="https://cdn.example/p.jpg", caption="c")
    assert parse_update(image).photo_url == "https://cdn.example/p.jpg"
    image["message"]["photo_url"] = "https://cdn.example/q.jpg"
    assert parse_update(image).photo_url == "https://cdn.example/q.jpg"
    future = dict(VALID, event_name="message.location.received")
    assert parse_update(future).kind == "other"
    numeric = copy.deepcopy(VALID)
    numeric["message"]["chat"]["id"] = 123
    numeric["message"]["date"] = "1766619597466"
    assert (parse_update(numeric).chat_id, parse_update(numeric).date_ms) == ("123", 1766619597466)


@pytest.mark.parametrize(
    "payload",
    [
        None, [], "text", 42, {}, {"ok": True}, {"ok": False, "result": VALID}, {"ok": True, "result": [VALID]},
        {"ok": True, "result": None}, {"event_name": "message.text.received"}, dict(VALID, event_name=""),
        dict(VALID, event_name=5), dict(VALID, message="hi"),
        {**VALID, "message": {**VALID["message"], "message_id": None}},
        {**VALID, "message": {**VALID["message"], "message_id": ""}},
        {**VALID, "message": {**VALID["message"], "date": "yesterday"}},
        {**VALID, "message": {**VALID["message"], "date": True}},
        {**VALID, "message": {**VALID["message"], "chat": "e4ea"}},
        {**VALID, "message": {**VALID["message"], "chat": {"id": "e4ea", "chat_type": "CHANNEL"}}},
        {**VALID, "message": {**VALID["message"], "chat": {"id": "e4ea"}}},
        {**VALID, "message": {**VALID["message"], "from": None}},
        {**VALID, "message": {**VALID["message"], "from": {"id": 1.5}}},
    ],
)  # fmt: skip
def test_parse_update_refuses_malformed_input(payload):
    assert parse_update(payload) is None


def test_parse_update_never_raises_on_mangled_updates():
    """Thousands of random mutations of a valid update: each gives an update or None, never an error."""
    rng = random.Random(20250314)
    junk = [None, 0, -1, 1.5, True, "", "x", [], {}, [None], {"id": None}, "9" * 30, float("nan")]

    def mutate(value, depth=0):
        if isinstance(value, dict):
            out = {}
            for key, inner in value.items():
                roll = rng.random()
                if roll < 0.1:
                    continue
                out[key] = rng.choice(junk) if roll < 0.25 else mutate(inner, depth + 1)
            if rng.random() < 0.1:
                out[rng.choice(["ok", "result", "extra", "photo"])] = rng.choice(junk)
            return out
        return rng.choice(junk) if rng.random() < 0.1 else value

    results = [parse_update(mutate({"ok": True, "result": VALID})) for _ in range(3000)]
    assert any(r is None for r in results) and any(r is not None for r in results)


# ---------------------------------------------------------------------------------- privacy


async def test_no_token_text_id_or_name_in_logs_reprs_or_errors(zapi, caplog):
    quiet_libraries()  # what bot.logs does at start-up: httpx's INFO line carries the URL, token included
    caplog.set_level(logging.DEBUG)
    secret_text = "Số nhà 12 ngõ 34 có người bán hàng"
    lan = zapi.user(display_name="Trần Văn Bí Mật")
    async with ZaloBotClient(zapi.token, base_url=zapi.base_url) as client:
        await lan.send(secret_text)
        update = await next_update(client)
        await client.send_message(update.chat_id, f"Đã nhận: {secret_text}")
        lan.block()
        with pytest.raises(ZaloForbidden) as err:
            await client.send_message(update.chat_id, secret_text)
        zapi.fail_next("getMe", status=502)
        with pytest.raises(ZaloUnavailable) as unavailable:
            await client.get_me()
        assert await client.get_updates(timeout=0) is None
        shown = " ".join([repr(client), repr(update), str(update), str(err.value), str(unavailable.value), caplog.text])
    assert caplog.records, "the client logs its calls (method names and outcomes)"
    for private in (zapi.token, zapi.token.split(":")[1], secret_text, lan.id, "Trần Văn Bí Mật", "Bí Mật"):
        assert private not in shown
    assert "sendMessage" in caplog.text and "403" in caplog.text
    assert json.dumps(zapi.calls("sendMessage")[0].params, ensure_ascii=False).count(secret_text) == 1  # it did go out


def test_zalo_error_hierarchy():
    for kind in (ZaloForbidden, ZaloBadRequest, ZaloUnauthorized, ZaloConflict, ZaloRateLimited, ZaloUnavailable):
        assert issubclass(kind, ZaloError)
    assert [k.transient for k in (ZaloForbidden, ZaloBadRequest, ZaloUnauthorized, ZaloConflict)] == [False] * 4
    assert ZaloRateLimited.transient and ZaloUnavailable.transient
