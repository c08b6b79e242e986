"""The conversation as a pure function: (session, event) → (session, replies, effect)."""

from __future__ import annotations

from datetime import UTC, datetime

from tipline.citizen.conversation import handle
from tipline.citizen.effects import Context, Result, SubmitTip
from tipline.citizen.session import Screen, Session
from tipline.events import Command, Location, Media, Pick, Text, Unsupported
from tipline.replies import MenuEntry, Step

CTX = Context(now=datetime(2026, 11, 26, tzinfo=UTC))


def choose(result: Result, action: str) -> Pick:
    """The pick for the choice whose action is ``action`` in the result's last reply."""
    for choice in result.replies[-1].flat_choices:
        if getattr(choice.action, "name", None) == action:
            return Pick(choice.action)
    raise AssertionError(f"no choice {action!r} in {[c.action for c in result.replies[-1].flat_choices]}")


def run(session: Session, *events: object) -> Result:
    result = Result(session)
    for event in events:
        if isinstance(event, str):
            event = choose(result, event)
        result = handle(result.session, event, CTX)  # type: ignore[arg-type]
    return result


def at_review() -> Result:
    start = handle(Session(), Command("report"), CTX)
    return run(
        start.session, Pick(MenuEntry("menu:report")), "cat:venue", "urg:past", Text("can tho"), Text("ninh kieu"),
        "next", Text("Nhóm thanh niên sử dụng ma túy trong nhà trọ"), "next", "next",
    )


def test_the_session_given_is_never_modified() -> None:
    session = Session()
    result = handle(session, Command("report"), CTX)
    assert session == Session() and result.session.screen == Screen.CATEGORY


def test_a_whole_report_reaches_the_review_and_confirm_asks_the_service_to_submit() -> None:
    review = at_review()
    assert review.session.screen == Screen.REVIEW
    draft = review.session.draft
    assert draft is not None and draft.category == "venue" and draft.province_code == 92
    assert "Ninh Kiều" in review.replies[-1].text
    confirmed = handle(review.session, choose(review, "confirm"), CTX)
    assert isinstance(confirmed.effect, SubmitTip) and confirmed.replies == []


def test_happening_now_shows_the_emergency_numbers_and_continues() -> None:
    result = run(handle(Session(), Command("report"), CTX).session, Pick(MenuEntry("menu:report")))
    result = run(result.session, Command("report"))
    result = handle(result.session, choose(result, "cat:trading"), CTX)
    result = handle(result.session, choose(result, "urg:now"), CTX)
    assert "113" in result.replies[0].text and "0769.04.04.04" in result.replies[0].text
    assert result.session.screen == Screen.PROVINCE


def test_buttons_from_older_prompts_are_stale() -> None:
    first = handle(Session(), Command("report"), CTX)
    old = choose(first, "cat:trading")
    second = handle(first.session, old, CTX)
    replay = handle(second.session, old, CTX)
    assert replay.session.screen == Screen.URGENCY and replay.session.draft == second.session.draft
    assert replay.replies[-1].choices  # the current question again


def test_editing_one_part_returns_to_the_review() -> None:
    review = at_review()
    edit = handle(review.session, choose(review, "edit"), CTX)
    category = handle(edit.session, choose(edit, "edit:category"), CTX)
    back_to_review = handle(category.session, choose(category, "cat:online"), CTX)
    assert back_to_review.session.screen == Screen.REVIEW
    assert back_to_review.session.draft is not None and back_to_review.session.draft.category == "online"

    edit = handle(back_to_review.session, choose(back_to_review, "edit"), CTX)
    place = handle(edit.session, choose(edit, "edit:place"), CTX)
    assert place.session.screen == Screen.PROVINCE
    commune = handle(place.session, Text("ha noi"), CTX)
    done = handle(commune.session, Text("hoan kiem"), CTX)
    assert done.session.screen == Screen.REVIEW and "Hoàn Kiếm" in done.replies[-1].text


def test_back_walks_the_steps_and_cancel_discards_the_draft() -> None:
    review = at_review()
    back = handle(review.session, Pick(Step("back", review.session.turn)), CTX)
    assert back.session.screen == Screen.EVIDENCE
    cancelled = handle(back.session, Command("cancel"), CTX)
    assert cancelled.session.draft is None and cancelled.session.screen == Screen.MENU


def test_unexpected_input_repeats_the_step_with_a_reason() -> None:
    start = handle(Session(), Command("report"), CTX)
    for event in (Text("hello"), Unsupported("sticker"), Media("photo", "F", 10), Location(1.0, 2.0), Command("nope")):
        result = handle(start.session, event, CTX)
        assert result.session.screen == Screen.CATEGORY
        assert len(result.replies) == 2 and result.replies[-1].choices


def test_the_description_counts_characters_and_refuses_overflow() -> None:
    review = at_review()
    edit = handle(review.session, choose(review, "edit"), CTX)
    description = handle(edit.session, choose(edit, "edit:description"), CTX)
    cleared = handle(description.session, choose(description, "clear"), CTX)
    first = handle(cleared.session, Text("a" * 2990), CTX)
    assert "2.990" in first.replies[-1].text
    over = handle(first.session, Text("b" * 20), CTX)
    assert over.session.draft is not None and over.session.draft.description == ["a" * 2990]
    assert "3.000" in over.replies[0].text


def test_language_switch() -> None:
    menu = handle(Session(), Pick(MenuEntry("menu:language")), CTX)
    english = handle(menu.session, choose(menu, "lang:en"), CTX)
    assert english.session.lang == "en" and english.session.screen == Screen.MENU
    assert handle(english.session, Command("help"), CTX).replies[0].text.startswith("Commands")
