"""bot.zalo.channel and bot.zalo.app.to_event: the delivery port on Zalo over real HTTP against the local Zalo
server (splitting, written-out choices, errors as the port's kinds), and updates read as the core's events."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from zaloapi import FakeZaloApi, camera_jpeg, gps_of

import bot.zalo.channel as zalo_channel
from bot.remote_files import FetchFailed, cleaned_image, fetch
from bot.zalo.app import to_event
from bot.zalo.channel import MAX_TEXT, ZaloChannel, render, split_text, units
from bot.zalo.client import ZaloBotClient
from bot.zalo.updates import ZaloUpdate, parse_update
from tipline.delivery.model import Address
from tipline.delivery.port import FileRef, Outgoing, Rejected, RetryLater, Unreachable
from tipline.events import Command, Media, Text, Unsupported
from tipline.replies import Choice, Step


@pytest.fixture
async def zapi() -> AsyncIterator[FakeZaloApi]:
    async with FakeZaloApi() as server:
        yield server


@pytest.fixture
async def channel(zapi: FakeZaloApi, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[ZaloChannel]:
    monkeypatch.setattr(zalo_channel, "RETRY_BASE_DELAY", 0.01)
    async with ZaloBotClient(zapi.token, base_url=zapi.base_url) as client:
        yield ZaloChannel(client)


CHOICES = ((Choice("✅ Xác nhận và gửi", Step("confirm", 3)),), (Choice("✖️ Hủy", Step("cancel", 3)),))


# --- splitting ---------------------------------------------------------------------------------------


def test_splitting_prefers_sentence_ends_then_lines_then_words() -> None:
    sentences = "Câu thứ nhất khá dài về chợ đêm. " * 80  # about 2,600 characters
    pieces = split_text(sentences)
    assert len(pieces) == 2 and all(units(p) <= MAX_TEXT for p in pieces)
    assert pieces[0].endswith(".") and " ".join(pieces) == sentences.strip()
    lines = "\n".join(["dòng không có dấu chấm câu"] * 120)
    pieces = split_text(lines)
    assert all(units(p) <= MAX_TEXT for p in pieces) and all(not p.startswith("\n") for p in pieces)
    assert pieces[0].endswith("dấu chấm câu")  # a whole line
    words = " ".join(["từ"] * 1500)
    pieces = split_text(words)
    assert all(units(p) <= MAX_TEXT and p.startswith("từ") and p.endswith("từ") for p in pieces)
    endless = "x" * 4500
    assert [len(p) for p in split_text(endless)] == [2000, 2000, 500]


def test_emoji_count_twice_as_zalo_counts_them() -> None:
    pieces = split_text("🚨" * 1500)
    assert [units(p) for p in pieces] == [2000, 1000]
    assert split_text("") == ["…"]


def test_choices_are_written_out_numbered_and_kept_whole_on_the_last_part() -> None:
    long = "Bạn hãy kiểm tra lại tin báo. " * 90
    parts = render(Outgoing(long, CHOICES))
    assert len(parts) == 2 and all(units(p) <= MAX_TEXT for p in parts)
    assert "1) ✅ Xác nhận và gửi" in parts[-1] and "2) ✖️ Hủy" in parts[-1] and "1)" not in parts[0]
    assert "Gõ 1 hoặc 2" in parts[-1]
    english = render(Outgoing("Check it.", CHOICES, lang="en"))
    assert english == ["Check it.\n  1) ✅ Xác nhận và gửi\n  2) ✖️ Hủy\n\n(Type 1 or 2 to choose.)"]
    by_name = render(Outgoing("Mô tả?", CHOICES, free_text=True))
    assert "• ✅ Xác nhận và gửi" in by_name[0] and "1)" not in by_name[0]


# --- sending over HTTP -------------------------------------------------------------------------------


async def test_send_splits_and_returns_the_last_part(zapi: FakeZaloApi, channel: ZaloChannel) -> None:
    lan = zapi.user(display_name="Lan", started=True)
    sent = await channel.send(Address("zalo", lan.id), Outgoing("Câu này dài. " * 400, CHOICES))
    messages = await lan.wait_for(3)
    assert [m["kind"] for m in messages] == ["text"] * 3 and sent.message == messages[-1]["message_id"]
    assert "1) ✅" in messages[-1]["text"]
    zapi.assert_no_refusals()


async def test_errors_come_back_as_the_ports_kinds(zapi: FakeZaloApi, channel: ZaloChannel) -> None:
    lan = zapi.user(display_name="Lan", started=True)
    to = Address("zalo", lan.id)
    lan.block()
    with pytest.raises(Unreachable):
        await channel.send(to, Outgoing("Tin mới"))
    lan.unblock()
    with pytest.raises(Unreachable):  # a person who never wrote: Zalo has no chat for the bot
        await channel.send(Address("zalo", zapi.user(display_name="Mai").id), Outgoing("Tin mới"))
    zapi.fail_next("sendMessage", count=2, status=429, retry_after=0)
    assert (await channel.send(to, Outgoing("qua giới hạn"))).message  # waited and retried
    zapi.fail_next("sendMessage", status=429, retry_after=120)
    with pytest.raises(RetryLater) as later:
        await channel.send(to, Outgoing("đợi lâu"))
    assert later.value.after == 120
    async with zapi.outage():
        with pytest.raises(RetryLater):
            await channel.send(to, Outgoing("mất kết nối"))
    zapi.fail_next("sendMessage", status=401)
    with pytest.raises(RetryLater):  # a configuration problem: kept for later, never dropped
        await channel.send(to, Outgoing("sai token"))
    with pytest.raises(Rejected):
        await channel.edit((await channel.send(to, Outgoing("a"))), Outgoing("b"))
    with pytest.raises(Rejected):
        await channel.open_topic(to, "x")
    assert not await channel.has_topics(to)
    assert [m["text"] for m in lan.inbox] == ["qua giới hạn", "a"]


async def test_photos_go_by_url_and_other_files_are_refused(zapi: FakeZaloApi, channel: ZaloChannel) -> None:
    lan = zapi.user(display_name="Lan", started=True)
    to = Address("zalo", lan.id)
    url = zapi.add_file(b"\xff\xd8jpeg")
    await channel.send_file(to, FileRef("photo", url, "zalo"))
    assert lan.last is not None and lan.last["kind"] == "photo" and lan.last["photo"] == url
    with pytest.raises(Rejected):
        await channel.send_file(to, FileRef("photo", "AgACAgIAAxkBAAIB", "telegram"))  # a Telegram file id
    with pytest.raises(Rejected):
        await channel.send_file(to, FileRef("document", url, "zalo"))


# --- updates as events --------------------------------------------------------------------------------


def update(event_name: str, **content: object) -> ZaloUpdate:
    message = {
        "message_id": "16f6366b3f02645a3d15", "date": 1766619597466,
        "chat": {"id": "e4ea2cd5189df1c3a88c", "chat_type": "PRIVATE"},
        "from": {"id": "e4ea2cd5189df1c3a88c", "display_name": "Nguyen Van A", "is_bot": False}, **content,
    }
    parsed = parse_update({"ok": True, "result": {"event_name": event_name, "message": message}})
    assert parsed is not None
    return parsed


def test_updates_become_the_cores_events() -> None:
    assert to_event(update("message.text.received", text="Xin chào")) == Text("Xin chào")
    assert to_event(update("message.text.received", text="/status TL-7K3Q-9XMP")) == Command("status", "TL-7K3Q-9XMP")
    assert to_event(update("message.text.received", text="tra cứu")) == Text("tra cứu")  # the core's word
    assert to_event(update("message.text.received", text="/ hello")) == Text("/ hello")
    image = to_event(update("message.image.received", photo_url="https://photo.example/a.jpg", caption="c"))
    assert image == Media("photo", "https://photo.example/a.jpg")
    assert to_event(update("message.sticker.received", sticker="abc")) == Unsupported("sticker")
    assert to_event(update("message.voice.received", voice_url="https://v.example/a.aac")) == Unsupported("voice")
    assert to_event(update("message.unsupported.received")) == Unsupported("other")
    assert to_event(update("message.location.received")) == Unsupported("other")


# --- Zalo photos fetched for moderators (bot.remote_files) ------------------------------------------------


async def test_fetching_a_photo_is_bounded_and_cleans_it(zapi: FakeZaloApi) -> None:
    url = zapi.add_file(camera_jpeg())
    clean = await cleaned_image(url)
    assert clean.mime == "image/jpeg" and gps_of(clean.data) is None and b"FakePhone" not in clean.data
    assert await fetch(url, max_bytes=len(zapi.file(url).data)) == zapi.file(url).data
    with pytest.raises(FetchFailed, match="too large"):
        await fetch(url, max_bytes=1000)
    with pytest.raises(FetchFailed, match="HTTP 404"):
        await fetch(f"{zapi.url}/files/none.jpg")
    with pytest.raises(FetchFailed, match="not an http"):
        await fetch("file:///etc/passwd")
