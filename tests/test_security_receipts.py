"""Threat: guessing a receipt's passphrase, and locking its tipster out.

Who attacks: someone who learnt a tip code (a shoulder, a screenshot, a unit that once saw it) and wants to
read the tip's news or add to it by guessing its passphrase, or simply to keep its tipster from checking it,
from as many throwaway chats as they like, timing their tries around any window edge.

What must hold: wrong tries pause the chat that made them, for that code, in a sliding window (five in 15
minutes; no burst across an edge); from anywhere, they slow the code down more and more (an announced wait,
at most 15 minutes), never a hard lock: the tipster with the right passphrase gets in, at the latest after
the wait they were told.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from botapi import FakeBotApi
from harness import Citizen, FakeClock, texts
from security_world import World, staff_world, submit, vi, vi_count

from tipline.citizen.guards import Slowdown

WRONG = "AAAA-BBBB-CCCC"
LOCKED = vi_count(
    "Too many wrong attempts. Please wait {n} minute and try again.",
    "Too many wrong attempts. Please wait {n} minutes and try again.",
)
SLOWED = vi_count(
    "Many wrong passphrases have been tried for this code, so tries are slowed down. Please wait {n} second "
    "and try again.",
    "Many wrong passphrases have been tried for this code, so tries are slowed down. Please wait {n} seconds "
    "and try again.",
)


@pytest.fixture
def start() -> datetime:
    return datetime(2026, 11, 26, 3, 17, 42, tzinfo=UTC)


@pytest.fixture
async def world(api: FakeBotApi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, start: datetime) -> AsyncIterator[World]:
    async with staff_world(api, tmp_path, monkeypatch, clock=FakeClock(start)) as w:
        yield w


async def check(person: Citizen, code: str, passphrase: str) -> str:
    await person.say(f"/status {code}")
    return texts(await person.say(passphrase))


def shows_the_tip(answer: str, code: str) -> bool:
    return vi("Tip {code}", code=code) in answer


async def test_throwaway_chats_cannot_lock_the_tipster_out(api: FakeBotApi, world: World) -> None:
    lan = world.citizen("Lan")
    code, passphrase = await submit(lan)
    for n in range(4):
        thief = world.citizen(f"Kẻ gian {n}")
        wrong = 0
        while wrong < 5:  # five wrong passphrases really checked: when told to wait, the thief waits
            answer = await check(thief, code, WRONG)
            assert not shows_the_tip(answer, code)
            slowed = SLOWED.search(answer)
            if slowed:
                world.clock.advance(seconds=int(slowed.group(1)))
            else:
                wrong += 1
        # The chat that guessed is paused for this code, even with the right passphrase.
        paused = await check(thief, code, passphrase)
        assert LOCKED.search(paused) and not shows_the_tip(paused, code), paused

    # The tipster: in at once, or after a wait that is said and is at most 15 minutes, never locked.
    answer = await check(lan, code, passphrase)
    if not shows_the_tip(answer, code):
        assert not LOCKED.search(answer), f"the tipster was locked out: {answer}"
        wait = SLOWED.search(answer)
        assert wait, answer
        seconds = int(wait.group(1))
        assert 0 < seconds <= Slowdown().longest.total_seconds()
        # Trying again before the wait is over is not held against anyone ...
        again = await check(lan, code, passphrase)
        assert SLOWED.search(again) and not LOCKED.search(again)
        world.clock.advance(seconds=seconds)
        answer = await check(lan, code, passphrase)
    assert shows_the_tip(answer, code), answer


@pytest.mark.parametrize("start", [datetime(2026, 11, 26, 2, 59, 50, tzinfo=UTC)])  # 10 s before a 15-minute edge
async def test_the_pause_slides_no_burst_across_a_window_edge(api: FakeBotApi, world: World, start: datetime) -> None:
    lan = world.citizen("Lan")
    code, passphrase = await submit(lan, photo=False)
    thief = world.citizen("Kẻ gian")
    world.clock.now = start  # the thief starts just before the edge (each action takes 2 s)
    for _ in range(2):
        assert not shows_the_tip(await check(thief, code, WRONG), code)
    assert world.clock().minute == 59
    for _ in range(3):  # just after the edge: a fixed window would have started counting again
        assert not shows_the_tip(await check(thief, code, WRONG), code)
    assert world.clock().minute == 0
    first_try = start.replace(second=54)
    # Five wrong in 20 seconds: no further check, however the tries straddle the edge.
    paused = await check(thief, code, passphrase)
    assert LOCKED.search(paused) and not shows_the_tip(paused, code), paused

    # The pause lasts until the first of the five is 15 minutes old.
    world.clock.now = first_try.replace(minute=14, hour=3, second=46)  # its check comes 4 s later
    still = await check(thief, code, passphrase)
    assert LOCKED.search(still) and not shows_the_tip(still, code), still
    world.clock.now = first_try.replace(minute=14, hour=3, second=56)
    assert shows_the_tip(await check(thief, code, passphrase), code)
