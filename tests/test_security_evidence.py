"""Threat: evidence that gives its sender away.

Who attacks: nobody on purpose; the danger is what a tipster's own files and gestures carry. A photo sent
"as a file" keeps its EXIF (the GPS position where it was taken, the phone's make and model) and its file
name ("IMG_Nguyen_Van_Lan.jpg"); a voice note carries a voice, a round video note a face; "share location"
sends where the tipster stands, to the metre. Whoever reads the evidence (a moderator, a police unit, anyone
who later gets the files) learns who sent it.

What must hold: an image sent as a file is kept and forwarded only as a cleaned copy (no EXIF), and its
original name is stored nowhere; a voice note, a video note and a shared location are held until the
citizen chooses to keep them (withdrawing keeps nothing); a unit's card shows a location rounded to about
100 m, and a unit never receives voice or video notes.
"""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from botapi import FakeBotApi
from harness import Citizen, texts
from PIL import Image
from PIL.ExifTags import GPS, IFD, Base
from security_world import CODE, MODERATORS, POLICE, World, staff_world

from tipline.privacy.media import round_location

LAT, LON = 10.034512, 105.787654  # where the tipster stands, to the metre
FILE_NAME = "IMG_Nguyen_Van_Lan_0412.jpg"


@pytest.fixture
async def world(api: FakeBotApi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[World]:
    async with staff_world(api, tmp_path, monkeypatch) as w:
        yield w


def phone_photo() -> bytes:
    """A JPEG as a phone writes it: make, model, time and the GPS position in its EXIF."""
    exif = Image.Exif()
    exif[Base.Make] = "Samsung"
    exif[Base.Model] = "SM-A525F"
    exif[IFD.Exif] = {Base.DateTimeOriginal: "2026:11:25 21:07:55"}
    exif[IFD.GPSInfo] = {
        GPS.GPSLatitudeRef: "N", GPS.GPSLatitude: (10.0, 2.0, 4.24),
        GPS.GPSLongitudeRef: "E", GPS.GPSLongitude: (105.0, 47.0, 15.55),
    }
    image = Image.new("RGB", (64, 48), (30, 30, 200))
    image.paste((220, 40, 40), (0, 0, 32, 16))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", exif=exif, quality=90)
    return buffer.getvalue()


async def download(api: FakeBotApi, file_id: str) -> bytes:
    """A file as anyone holding its file id (and the token) gets it from the Bot API."""
    async with httpx.AsyncClient() as client:
        found = (await client.post(f"{api.base_url}{api.token}/getFile", json={"file_id": file_id})).json()
        assert found["ok"], found
        return (await client.get(f"{api.base_file_url}{api.token}/{found['result']['file_path']}")).content


async def everything_stored(world: World) -> str:
    records = await world.bot.records()
    return "\n".join(str(value) for rows in records.values() for row in rows for value in row.values())


async def video_note(c: Citizen) -> dict[str, Any]:
    """A round video note (the simulated app has no button for it: the message is posted as Telegram would)."""
    return c.user._post_own(c.user._file("video_note", size=300_000, meta={"length": 240, "duration": 6}))


async def start_report(c: Citizen) -> None:
    await c.say("/start")
    await c.press("menu:report")
    await c.press("cat:trading")
    await c.press("urg:ongoing")
    await c.say("can tho")
    await c.say("ninh kieu")


async def to_evidence(c: Citizen) -> None:
    await c.say("Có người bán ma túy đá ở quán nước đầu ngõ 12 mỗi tối từ 21 giờ.")
    await c.press("next")


async def confirm(c: Citizen) -> str:
    await c.press("next")
    receipt = texts(await c.press("confirm"))
    code = CODE.search(receipt)
    assert code, receipt
    await c.press("optin:no")
    return code.group(0)


async def test_an_image_sent_as_a_file_is_kept_only_as_a_clean_copy_without_its_name(api: FakeBotApi, world: World) -> None:
    original = phone_photo()
    assert Image.open(io.BytesIO(original)).getexif().get_ifd(IFD.GPSInfo), "the test photo does carry GPS"
    lan = world.citizen("Lan")
    await start_report(lan)
    await lan.say("Gần chợ đêm")
    await to_evidence(lan)
    sent = await lan.send(lan.user.send_document(file_name=FILE_NAME, mime_type="image/jpeg", data=original))
    posted = lan.user.chat.messages[max(m for m in lan.user.chat.messages if "document" in lan.user.chat.messages[m])]
    original_id = posted["document"]["file_id"]
    assert any(m.get("photo") for m in sent), "the clean copy is shown to the citizen"
    code = await confirm(lan)
    await world.card(code)

    [kept] = (await world.tip(code)).evidence
    assert kept.kind == "photo" and kept.name is None and kept.ref != original_id
    clean = await download(api, kept.ref)
    image = Image.open(io.BytesIO(clean))
    assert not image.getexif() and not image.getexif().get_ifd(IFD.GPSInfo)
    assert b"Samsung" not in clean and b"SM-A525F" not in clean and b"2026:11:25" not in clean
    stored = await everything_stored(world)
    assert original_id not in stored and "Nguyen_Van_Lan" not in stored and FILE_NAME not in stored
    # The moderators get the clean copy; the original goes nowhere.
    to_group = [r for r in api.requests if r.ok and r.arg("chat_id") == MODERATORS]
    assert any(r.method == "sendPhoto" and r.params.get("photo") == kept.ref for r in to_group)
    assert not [r for r in api.requests if original_id in str(r.params) and r.method != "getFile"]


async def test_voice_video_notes_and_locations_wait_for_the_citizens_choice(api: FakeBotApi, world: World) -> None:
    lan = world.citizen("Lan")
    await start_report(lan)
    warned = await lan.send(lan.user.send_location(LAT, LON))
    assert [b["callback_data"].split("|")[-1] for b in warned[-1]["reply_markup"]["inline_keyboard"][0]] == [
        "pending:keep", "pending:drop",
    ]
    await lan.press("pending:drop")
    await lan.say("Gần chợ đêm")
    await to_evidence(lan)
    warned = await lan.send(lan.user.send_voice(duration=7))
    assert "pending:drop" in str(warned[-1]["reply_markup"])
    await lan.press("pending:drop")
    await lan.send(video_note(lan))
    await lan.press("pending:drop")
    draft = await world.bot.session_state(lan.user.id)
    assert draft is not None
    assert "pending" not in draft and str(LAT) not in draft and "voice" not in draft and "video_note" not in draft
    code = await confirm(lan)
    tip = await world.tip(code)
    assert tip.latitude is None and tip.longitude is None
    assert tip.evidence == () and (await world.bot.records())["evidence"] == [], "withdrawn: nothing kept"


async def test_a_unit_sees_the_area_not_the_spot_and_never_a_voice_or_a_face(api: FakeBotApi, world: World) -> None:
    await world.link_unit("CA-NK", POLICE)
    lan = world.citizen("Lan")
    await start_report(lan)
    await lan.send(lan.user.send_location(LAT, LON))
    await lan.press("pending:keep")
    await lan.say("Gần chợ đêm")
    await to_evidence(lan)
    await lan.send(lan.user.send_voice(duration=7))
    await lan.press("pending:keep")
    await lan.send(video_note(lan))
    await lan.press("pending:keep")
    await lan.send(lan.user.send_photo(size=150_000))
    code = await confirm(lan)
    assert ((await world.tip(code)).latitude, (await world.tip(code)).longitude) == (LAT, LON)
    assert sorted(e.kind for e in (await world.tip(code)).evidence) == ["photo", "video_note", "voice"]

    card = await world.card(code)
    assert f"{LAT:.5f}, {LON:.5f}" in card["text"], "moderators see where it was"
    await world.press(world.group, world.mai, card, "claim")
    await world.press(world.group, world.mai, await world.card(code), "forward")
    unit_card = await world.card(code, world.police)
    lat, lon = round_location(LAT, LON, 100)
    assert f"{lat:.4f}, {lon:.4f}" in unit_card["text"]
    assert f"{LAT:.5f}" not in unit_card["text"] and f"{LON:.5f}" not in unit_card["text"]

    def sent_to(chat: int, method: str) -> int:
        return len([r for r in api.requests if r.ok and r.method == method and r.arg("chat_id") == chat])

    assert sent_to(MODERATORS, "sendVoice") == 1 and sent_to(MODERATORS, "sendVideoNote") == 1
    assert sent_to(POLICE, "sendPhoto") == 1, "the unit does get the photo"
    assert sent_to(POLICE, "sendVoice") == 0 and sent_to(POLICE, "sendVideoNote") == 0
