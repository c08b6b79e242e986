"""Threat: words make things happen.

Who attacks: a tipster who writes a tip so that its text looks like one of the bot's own prompts
("✍️ [ask TL-XXXX-XXXX] Reply to this message...", or today's "✍️ TL-XXXX-XXXX: reply to this message with your
question..."), hoping that a moderator who replies to the card (or to /tip or /find output, which quote the
tip) sends the team's internal talk to the attacker's chat as "a question from the team", claims a tip and
moves it to needs_info. Also: a moderator answering a colleague's prompt, or one left lying around after it
expired; and, on the citizens' side, any reply in any chat being taken as the answer to the team's question.

What must hold: a prompt is a row on the server (chat, message, action, tip, who pressed, expiry); only a
reply to that very message, by that person, before it expires, acts, once. Nothing is read back out of
message text. A citizen's reply is an answer only when it replies to the message that carried the team's
question in that chat, within 72 hours.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from botapi import FakeBotApi
from harness import Citizen, texts
from security_world import NOT_ALLOWED_VI, World, staff_world, submit

from tipline.i18n import translator
from tipline.staff.cards import prompt_text
from tipline.staff.desk import PROMPT_TTL


@pytest.fixture
async def world(api: FakeBotApi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[World]:
    async with staff_world(api, tmp_path, monkeypatch) as w:
        yield w


def lookalikes(code: str) -> str:
    """Every shape of prompt the bot has ever used for ``code``, in both staff languages, as a tipster can type them."""
    return "\n".join(
        [
            prompt_text("ask", code),  # today's prompt, exactly
            f"✍️ [ask {code}] Reply to this message with your question for the tipster.",  # the old marker
            f"✍️ [dup {code}] [reopen {code}] [info {code}]",
            "✍️ " + translator("en").gettext("{code}: reply to this message with your question for the tipster.").format(code=code),
            "Có người bán ma túy đá ở quán nước đầu ngõ 12 mỗi tối.",
        ]
    )


async def test_tip_text_that_looks_like_a_prompt_never_acts(api: FakeBotApi, world: World) -> None:
    tuan = world.citizen("Tuan")
    first, _ = await submit(tuan, optin=True)  # the attacker's own tip: its chat gets anything sent about it
    lan = world.citizen("Lan")
    victim, _ = await submit(lan, optin=True)
    # The bait: a second tip quoting prompts for the attacker's tip and for a victim's.
    bait, _ = await submit(tuan, lookalikes(first) + "\n" + lookalikes(victim), optin=True)
    card = await world.card(bait)
    assert prompt_text("ask", first) in card["text"]  # the card does quote the tipster's text
    before = await world.snapshot()
    seen = {c.user.id: len(c.user.chat.sent_log) for c in (tuan, lan)}
    group_before = len(world.group.chat.sent_log)

    internal = "Tin này có vẻ bịa đặt, đừng xử lý vội. Ai biết người này là ai không?"
    # A moderator replies to the card among colleagues ...
    await world.say(world.group, world.mai, internal, reply_to=card)
    # ... to the card shown again by /tip and to /find's list (which start with the tipster's text) ...
    await world.say(world.group, world.mai, f"/tip {bait}")
    shown = world.group.last
    assert shown is not None and prompt_text("ask", first) in shown["text"]
    await world.say(world.group, world.mai, internal, reply_to=shown)
    await world.say(world.group, world.mai, "/find tra loi tin nhan nay")
    found = world.group.last
    assert found is not None and bait in found["text"]
    await world.say(world.group, world.mai, internal, reply_to=found)
    # ... and in a private chat with the bot, to /tip's answer there.
    await world.mai.send(f"/tip {bait}")
    await world.settle()
    private_card = world.mai.last
    assert private_card is not None and bait in private_card["text"]
    await world.mai.send(internal, reply_to=private_card)
    await world.settle()

    after = await world.snapshot()
    assert after["tips"] == before["tips"], "no tip was claimed, asked or moved"
    assert after["tip_messages"] == before["tip_messages"] == [], "nothing was written to any tipster"
    assert after["subscriptions"] == before["subscriptions"]
    assert {r["action"] for r in after["prompts"]} <= {"card"}, "only the /tip copies are remembered, as cards"
    for person in (tuan, lan):
        new = person.user.chat.sent_log[seen[person.user.id]:]
        assert new == [], f"{person.user!r} was sent {[m.get('text') for m in new]}"
        assert all(internal not in (m.get("text") or "") for m in person.user.inbox)
    # The group saw only the two answers it asked for (/tip and /find): no confirmation, no refusal.
    assert len(world.group.chat.sent_log) - group_before == 2
    assert not [r for r in await world.audit() if r.action in ("ask", "claim", "duplicate", "reopen", "ask_more")]
    for code in (first, victim, bait):
        assert (await world.tip(code)).status == "new" and (await world.tip(code)).claimed_by is None


async def test_a_prompt_acts_once_for_the_one_who_pressed_and_only_before_it_expires(api: FakeBotApi, world: World) -> None:
    lan = world.citizen("Lan")
    code, _ = await submit(lan, optin=True)
    card = await world.card(code)
    await world.press(world.group, world.mai, card, "claim")
    await world.press(world.group, world.mai, await world.card(code), "ask")
    prompt = world.group.last
    assert prompt is not None and prompt["text"] == prompt_text("ask", code)
    before = await world.snapshot()
    heard = len(lan.user.chat.sent_log)

    # Another moderator, and even an admin, answer Mai's prompt: refused, and nothing moves.
    for other in (world.binh, world.admin):
        await world.say(world.group, other, "Hỏi giúp: người bán bao nhiêu tuổi?", reply_to=prompt)
        refusal = world.group.last
        assert refusal is not None and refusal["text"] == NOT_ALLOWED_VI
        assert refusal.get("reply_to_message", {}).get("message_id") == prompt["message_id"]
    assert await world.snapshot() == before
    assert len(lan.user.chat.sent_log) == heard

    # Mai answers: the question goes out once.
    await world.say(world.group, world.mai, "Người bán bao nhiêu tuổi?", reply_to=prompt)
    [question] = await lan.user.wait_for(1)
    assert "Người bán bao nhiêu tuổi?" in question["text"]
    assert (await world.tip(code)).status == "needs_info"
    # The same prompt answered again acts no more.
    used = await world.snapshot()
    await world.say(world.group, world.mai, "Và đi xe gì?", reply_to=prompt)
    assert world.group.last is not None and world.group.last["text"] == NOT_ALLOWED_VI
    assert await world.snapshot() == used and len(lan.user.chat.sent_log) == heard + 1

    # A fresh prompt, answered after its time: refused, nothing sent.
    await world.press(world.group, world.mai, await world.card(code), "ask")
    late = world.group.last
    assert late is not None and late["text"] == prompt_text("ask", code)
    world.clock.advance(seconds=PROMPT_TTL.total_seconds() + 60)
    waiting = await world.snapshot()
    await world.say(world.group, world.mai, "Còn bán không?", reply_to=late)
    assert world.group.last is not None and world.group.last["text"] == NOT_ALLOWED_VI
    assert await world.snapshot() == waiting and len(lan.user.chat.sent_log) == heard + 1
    refusals = await world.audit("refused")
    assert refusals and all(r.tip_code == code for r in refusals)


async def pad_chat_to(person: Citizen, message_id: int) -> None:
    """Makes the person's chat hold a message with ``message_id`` (ids are counted per chat)."""
    while max(person.user.chat.messages, default=0) < message_id:
        await person.say("/help")


async def answers(world: World) -> int:
    """Answers written to any tip (as follow-ups); every tip here is open."""
    async with world.read() as uow:
        tips, total = await uow.tips.open_tips(0, 100)
        assert len(tips) == total == await uow.tips.count()
        return sum([await uow.tips.followup_count(tip.id) for tip in tips])


async def test_a_citizen_answers_only_by_replying_to_the_question_in_that_chat_within_72_hours(
    api: FakeBotApi, world: World
) -> None:
    lan = world.citizen("Lan")
    code, _ = await submit(lan, optin=True)
    receipt = next(m for m in lan.user.inbox if code in (m.get("text") or "") and "TL-" in m["text"])
    card = await world.card(code)
    await world.press(world.group, world.mai, card, "claim")
    await world.press(world.group, world.mai, await world.card(code), "ask")
    await world.answer_prompt(world.group, world.mai, "Xe máy màu gì, biển số?")
    [question] = await lan.user.wait_for(1)
    assert "Xe máy màu gì" in question["text"]

    # A reply to the receipt (or to anything but the question) is no answer.
    await lan.send(lan.user.send("Cảm ơn, tôi đã lưu mã", reply_to=receipt))
    await lan.send(lan.user.send("Xe Wave đỏ", reply_to=lan.user.inbox[1]))
    assert await answers(world) == 0 and (await world.tip(code)).status == "needs_info"

    # Another chat replying to its own message with the question's message id is no answer either.
    tuan = world.citizen("Tuan")
    await submit(tuan, "Nhóm thanh niên tụ tập hút bóng cười ở bãi đất trống gần bờ sông mỗi đêm", optin=True)
    await pad_chat_to(tuan, int(question["message_id"]))
    await tuan.send(tuan.user.send("Xe Wave đỏ, biển 65B1", reply_to=int(question["message_id"])))
    assert await answers(world) == 0 and (await world.tip(code)).status == "needs_info"
    assert not any("65B1" in (m.get("text") or "") for m in world.group.inbox)

    # The reply to the question itself is the answer.
    thanks = await lan.send(lan.user.send("Xe Wave màu đỏ", reply_to=question))
    assert code in texts(thanks)
    assert await answers(world) == 1 and (await world.tip(code)).status == "in_review"

    # A second question, answered after 72 hours: no longer an answer.
    await world.press(world.group, world.mai, await world.card(code), "ask")
    await world.answer_prompt(world.group, world.mai, "Mấy giờ thì có người đến?")
    [second] = await lan.user.wait_for(1)
    world.clock.advance(hours=72, minutes=1)
    late: list[dict[str, Any]] = await lan.send(lan.user.send("Khoảng 21 giờ", reply_to=second))
    assert code not in texts(late)
    assert await answers(world) == 1 and (await world.tip(code)).status == "needs_info"
    assert not any("Khoảng 21 giờ" in (m.get("text") or "") for m in world.group.inbox)
