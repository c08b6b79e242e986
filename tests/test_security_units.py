"""Threat: police units' chats as a way in.

Who attacks: a member of a linked police unit's chat (an officer, or anyone else in that group) who forges
button presses (any action name, any status, on any message of the chat: cards of tips the unit no longer
has, its own card, the bot's other messages, people's messages) to learn other tips' codes and statuses or
to act as a moderator; and whoever gets hold of a unit invite (a member of the moderators' group, a removed
moderator still in it) to take over a unit's chat.

What must hold: the unit of the tip is checked before anything else; units cannot reach moderator actions;
every refusal is one and the same text, naming no code and no status, and nothing else is sent or changed;
callback data carries no tip id. Invites go privately to the admin who asked (never to a group), only admins
get them (a moderator's try is refused and audited, an admin's is audited), they expire after 24 hours, and
redeeming one for a unit that is already linked moves nothing until an admin confirms with /relink, with the
old chat and the moderators told.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from botapi import FakeBotApi, SimGroup
from security_world import NOT_ALLOWED_VI, OTHER_POLICE, POLICE, World, buttons_data, staff_world, submit, vi

from tipline.staff.moderation import STAFF_ACTIONS, UNIT_ACTIONS

INVITE = re.compile(r"UNIT-[2-9A-Z]{4}-[2-9A-Z]{4}")
# Every action name a button ever carried, today's and the old ones, and some that never existed.
EVERY_ACTION = sorted(
    STAFF_ACTIONS | UNIT_ACTIONS
    | {"choose_unit", "info", "units", "unclaim", "up", "down", "dup", "fwd", "fwdto", "close", "ack", "ok", "no", "tr"}
    | {"refused", "admin", "outcome", "xyz"}
)
STATUSES = ("new", "in_review", "needs_info", "forwarded", "acknowledged", "resolved", "unfounded")


@pytest.fixture
async def world(api: FakeBotApi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[World]:
    async with staff_world(api, tmp_path, monkeypatch) as w:
        yield w


async def forward(world: World, code: str) -> None:
    await world.press(world.group, world.mai, await world.card(code), "claim")
    answer = await world.press(world.group, world.mai, await world.card(code), "forward")
    assert code in answer, answer


async def test_forged_presses_from_a_unit_chat_get_one_refusal_that_names_nothing(api: FakeBotApi, world: World) -> None:
    await world.link_unit("CA-NK", POLICE)
    await world.link_unit("CA-CR", OTHER_POLICE)
    # A tip the unit had and lost (the moderators reopened it), a tip it has now, another unit's tip, a new tip.
    lost, _ = await submit(world.citizen("Lan"), optin=True)
    await forward(world, lost)
    await world.press(world.police, world.officer, await world.card(lost, world.police), "acknowledge")
    await world.press(world.group, world.mai, await world.card(lost), "reopen")
    await world.answer_prompt(world.group, world.mai, "Cần xác minh thêm")
    assert (await world.tip(lost)).unit_id is None
    current, _ = await submit(world.citizen("Minh"), "Một người đàn ông bán thuốc lắc cho học sinh ở cổng trường", optin=True)
    await forward(world, current)
    others, _ = await submit(world.citizen("Hoa"), "Có nhóm người lạ hút bóng cười ở bãi đất trống gần bờ sông", commune="cai rang")
    await forward(world, others)
    fresh, _ = await submit(world.citizen("Tuan"), "Có người bán ma túy qua mạng, giao hàng tận nhà ở hẻm 7")
    await world.card(fresh)
    await world.say(world.police, world.officer, "Đã nhận, đang cử người xác minh.")
    live = await world.card(current, world.police)
    assert live["reply_markup"], "the unit's card of its current tip has buttons"

    codes = {lost, current, others, fresh}
    async with world.read() as uow:
        unit_ids = [unit.id for unit in await uow.units.all()]
    before = await world.snapshot()
    sent = {chat.chat_id: len(chat.chat.sent_log) for chat in (world.group, world.police, world.other_police)}
    citizens = {c.user.id: len(c.user.chat.sent_log) for c in world.people}

    forged: list[tuple[int, str]] = []
    for message_id in sorted(world.police.chat.messages):
        if message_id == live["message_id"]:
            # Its own card: anything but the unit's own actions (which it may take, or be told the card is old).
            forged += [(message_id, f"2c|{a}|{s}") for a in EVERY_ACTION if a not in UNIT_ACTIONS for s in STATUSES[2:5]]
        else:
            forged += [(message_id, f"2c|{a}|{s}") for a in EVERY_ACTION for s in STATUSES[:1]]
            forged += [(message_id, f"2c|{a}|{s}") for a in ("verified", "ask_more", "reopen") for s in STATUSES[1:]]
        forged += [(message_id, f"2u|{unit}") for unit in unit_ids] + [(message_id, "2q|0")]
    answers = set()
    for number, (message_id, data) in enumerate(forged):
        world.clock.advance(seconds=2.5)  # under the per-person pace: every press reaches the checks
        who = world.officer if number % 2 else world.stranger
        answers.add(await world.forge(world.police, message_id, data, who))

    assert answers == {NOT_ALLOWED_VI}, answers
    assert not any(code in NOT_ALLOWED_VI for code in codes) and "TL-" not in NOT_ALLOWED_VI
    assert await world.snapshot() == before, "nothing changed: no tip, prompt, message, card or outbox item"
    for chat in (world.group, world.police, world.other_police):
        assert len(chat.chat.sent_log) == sent[chat.chat_id], f"nothing was sent to {chat!r}"
    assert all(len(c.user.chat.sent_log) == citizens[c.user.id] for c in world.people)
    assert {r.action for r in (await world.audit())[-len(forged):]} <= {"refused", "claim", "forward", "acknowledge", "reopen"}


async def test_callback_data_carries_no_tip_id(api: FakeBotApi, world: World) -> None:
    await world.link_unit("CA-NK", POLICE)
    codes = [
        (await submit(world.citizen(name), f"Tin thứ {i}: có người bán ma túy đá ở hẻm {i} mỗi tối", optin=False))[0]
        for i, name in enumerate(("Lan", "Minh", "Hoa"))
    ]
    await forward(world, codes[0])
    await world.press(world.group, world.mai, await world.card(codes[1]), "claim")
    await world.press(world.group, world.mai, await world.card(codes[1]), "choose_unit")
    await world.say(world.group, world.mai, "/queue")
    tip_ids = {str((await world.tip(code)).id) for code in codes}
    async with world.read() as uow:
        assert await uow.tips.count() == len(codes)
        unit_ids = {str(unit.id) for unit in await uow.units.all()}
    every = [data for chat in (world.group, world.police) for m in chat.inbox for data in buttons_data(m)]
    assert any(d.startswith("2c|") for d in every) and any(d.startswith("2u|") for d in every)
    for data in every:
        kind, *fields = data.split("|")
        if kind == "2c":  # a card's button: an action and the status shown, nothing that names the tip
            assert len(fields) == 2 and all(re.fullmatch(r"[a-z_]+", f) for f in fields), data
        elif kind == "2u":  # a unit picked from the list the server sent for one tip: the unit's id
            assert fields[0] in unit_ids, data
        else:
            assert kind == "2q" and fields[0].isdigit(), data
        assert not any(code in data for code in codes)
    assert tip_ids  # and no 2c button carries any number at all, so no tip id either


async def test_invites_go_privately_to_an_admin_are_audited_and_last_a_day(api: FakeBotApi, world: World) -> None:
    await world.admin.send("/start")  # a bot can only write to people who wrote to it
    await world.mai.send("/start")
    await world.settle()
    group_before = len(world.group.chat.sent_log)

    # A moderator asks, in the group and privately: refused, audited, nothing created.
    await world.say(world.group, world.mai, "/invite CA-NK")
    assert world.group.last is not None and world.group.last["text"] == vi("Only admins can do that.")
    await world.mai.send("/invite CA-NK")
    await world.settle()
    assert world.mai.last is not None and world.mai.last["text"] == vi("Only admins can do that.")
    refused = await world.audit("refused")
    assert refused and all(r.actor_role == "moderator" and "invite" in r.detail for r in refused)
    assert (await world.bot.records())["unit_invites"] == []

    # The admin asks in the group: the code comes privately, the group only hears that it did.
    await world.say(world.group, world.admin, "/invite CA-NK")
    in_group = world.group.chat.sent_log[group_before:]
    assert all(not INVITE.search(m.get("text") or "") and "/link" not in (m.get("text") or "") for m in world.group.history)
    assert in_group[-1]["text"] == vi("The invite was sent to you in a private chat.")
    private = next(m["text"] for m in reversed(world.admin.inbox) if INVITE.search(m.get("text") or ""))
    code = INVITE.search(private).group(0)  # type: ignore[union-attr]
    assert not any(INVITE.search(m.get("text") or "") for m in world.mai.inbox)
    [created] = await world.audit("invite_created")
    assert created.actor_role == "admin" and created.actor_id == await world.staff_id(world.admin)

    # A day later it is worth nothing.
    linked = vi("This chat is now linked to {unit}. Forwarded tips will arrive here.", unit="Công an phường Ninh Kiều")
    world.clock.advance(hours=24, minutes=1)
    await world.say(world.police, world.officer, f"/link {code}")
    assert world.police.last is not None and world.police.last["text"] != linked
    assert await world.unit_chat("CA-NK") is None

    # A fresh one, used within the day, links the unit's chat.
    await world.say(world.group, world.admin, "/invite CA-NK")
    code = INVITE.search(world.admin.last["text"]).group(0)  # type: ignore[index, union-attr]
    world.clock.advance(hours=23)
    await world.say(world.police, world.officer, f"/link {code}")
    assert world.police.last is not None and world.police.last["text"] == linked
    assert await world.unit_chat("CA-NK") == str(POLICE)


async def test_an_invite_for_a_linked_unit_moves_nothing_until_an_admin_relinks(api: FakeBotApi, world: World) -> None:
    await world.link_unit("CA-NK", POLICE)
    hijacker = api.user(first_name="Giả danh")
    fake: SimGroup = api.group(chat_id=-1001000000009, title="CA Ninh Kiều (mới)", members=[hijacker])
    await world.admin.send("/start")
    await world.settle()
    await world.say(world.group, world.admin, "/invite CA-NK")
    code = INVITE.search(world.admin.last["text"]).group(0)  # type: ignore[index, union-attr]
    police_heard = len(world.police.chat.sent_log)

    # Whoever got hold of the invite redeems it from another chat: nothing moves yet, and both sides hear.
    await world.say(fake, hijacker, f"/link {code}")
    linked = vi("This chat is now linked to {unit}. Forwarded tips will arrive here.", unit="Công an phường Ninh Kiều")
    assert fake.last is not None and fake.last["text"] != linked
    assert await world.unit_chat("CA-NK") == str(POLICE)
    told = [m["text"] for m in world.police.chat.sent_log[police_heard:]]
    assert len(told) == 1 and "Công an phường Ninh Kiều" in told[0], told
    assert world.group.last is not None and "/relink CA-NK" in world.group.last["text"]
    assert await world.audit("unit_relink_requested")

    # Tips still go to the unit's real chat.
    lan = world.citizen("Lan")
    code_tip, _ = await submit(lan)
    await forward(world, code_tip)
    assert await world.card(code_tip, world.police)
    assert not any(code_tip in (m.get("text") or "") for m in fake.inbox)

    # A moderator cannot confirm the move; an admin can, and the old chat is told.
    await world.say(world.group, world.mai, "/relink CA-NK")
    assert world.group.last is not None and world.group.last["text"] == vi("Only admins can do that.")
    assert await world.unit_chat("CA-NK") == str(POLICE)
    before_move = len(world.police.chat.sent_log)
    await world.say(world.group, world.admin, "/relink CA-NK")
    assert await world.unit_chat("CA-NK") == str(fake.chat_id)
    assert len(world.police.chat.sent_log) == before_move + 1, "the old chat is told of the move too"
    assert fake.last is not None and fake.last["text"] == linked
    [relinked] = await world.audit("unit_relinked")
    assert relinked.actor_role == "admin"
