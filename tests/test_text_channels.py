"""The core on channels without buttons or replies (Zalo, the console): command words, numbers that pick a
choice only where the question takes no typed words, and the team's question answered by the next message.
Plus the storage the webhooks and a Zalo-only process rely on."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from backends import open_test_storage

from tipline.citizen.conversation import WORD_COMMANDS, handle, word_command
from tipline.citizen.effects import AnswerTip, Context, Result
from tipline.citizen.session import OpenQuestion, Screen, Session
from tipline.config import ConfigError, load_settings
from tipline.delivery.model import Audience, Kind, NewItem
from tipline.delivery.plain import plain_text
from tipline.delivery.port import ChannelTraits
from tipline.events import Command, Text
from tipline.storage.ports import Storage
from tipline.tips import Category, NewTip, Urgency

NOW = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)
ZALO = ChannelTraits(buttons=False, max_text=2000, reply_to=False, edits=False)
TELEGRAM = ChannelTraits(buttons=True, max_text=4096, reply_to=True, edits=True, campaigns=True)
TEXT = Context(now=NOW, traits=ZALO)
BUTTONS = Context(now=NOW, traits=TELEGRAM)


def say(session: Session, *texts: str, ctx: Context = TEXT) -> Result:
    result = Result(session)
    for text in texts:
        event = Command(text[1:]) if text.startswith("/") else Text(text)
        result = handle(result.session, event, ctx)
    return result


# --- command words --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "command"),
    [
        ("tra cứu", "status"), ("Tra Cuu", "status"), ("  tra cứu!  ", "status"), ("bổ sung", "followup"),
        ("bo sung", "followup"), ("hủy", "cancel"), ("huỷ", "cancel"), ("HUY", "cancel"), ("báo tin", "report"),
        ("tôi muốn tra cứu", None), ("tra cứu TL-7K3Q-9XMP", None), ("bổ sung thêm", None), ("2", None),
    ],
)
def test_only_a_message_that_is_exactly_the_word_is_a_command(typed: str, command: str | None) -> None:
    assert word_command(typed) == command


def test_command_words_work_on_channels_without_buttons_and_at_any_menu() -> None:
    lookup = say(Session(), "/start", "tra cứu")
    assert lookup.session.screen == Screen.LOOKUP_CODE and lookup.session.lookup_purpose == "status"
    followup = say(Session(), "/start", "bo sung")
    assert followup.session.screen == Screen.LOOKUP_CODE and followup.session.lookup_purpose == "followup"
    at_telegram_menu = say(Session(), "/start", "tra cứu", ctx=BUTTONS)
    assert at_telegram_menu.session.screen == Screen.LOOKUP_CODE  # nothing at the menu takes words as an answer
    describing = say(Session(), "/report", "1", "1", "can tho", "ninh kieu", "hẻm 51").session
    assert describing.screen == Screen.DESCRIPTION
    on_telegram = say(describing, "tra cứu", ctx=BUTTONS)
    assert on_telegram.session.draft is not None and on_telegram.session.draft.description == ["tra cứu"]  # words stay text


def test_a_greeting_at_the_menu_gets_the_menu_not_a_search() -> None:
    for ctx in (TEXT, BUTTONS):
        hello = say(Session(), "/start", "Xin chào!", ctx=ctx)
        assert hello.session.screen == Screen.MENU and hello.replies[-1].choices


def test_cancel_by_its_word_works_where_no_option_is_called_so() -> None:
    at_code = say(Session(), "/start", "tra cứu")
    assert not at_code.replies[-1].choices  # the code prompt offers nothing to pick
    cancelled = say(at_code.session, "huỷ")
    assert cancelled.session.screen == Screen.MENU and cancelled.session.lookup_purpose is None
    at_description = say(Session(), "/report", "1", "1", "can tho", "ninh kieu", "hẻm 51")
    assert at_description.session.screen == Screen.DESCRIPTION and at_description.session.draft is not None
    assert say(at_description.session, "hủy").session.draft is None  # the step's own Cancel, by its words


def test_slash_forms_of_the_words_are_aliases() -> None:
    assert say(Session(), "/tracuu").session.screen == Screen.LOOKUP_CODE
    draft = say(Session(), "/report", "1")
    assert say(draft.session, "/huỷ").session.draft is None


def test_every_command_word_names_a_command_the_core_knows() -> None:
    for word, command in WORD_COMMANDS.items():
        assert say(Session(), "/start", word).replies, word
        assert command in {"status", "followup", "cancel", "report", "help"}


def test_a_first_message_of_any_kind_is_greeted_as_start_would_be() -> None:
    first = Context(now=NOW, traits=ZALO, first_contact=True)
    hello = handle(Session(), Text("Xin chào"), first)
    assert "113" in hello.replies[0].text and hello.replies[-1].choices and hello.session.screen == Screen.MENU
    assert handle(Session(), Text("tra cứu"), first).session.screen == Screen.LOOKUP_CODE  # a command still acts
    assert "113" not in handle(Session(), Text("Xin chào"), TEXT).replies[0].text  # not the first: the menu


# --- numbers: a choice where the question takes only a choice, text where it takes words ---------------


def test_a_number_picks_a_numbered_choice_and_stays_text_in_a_description() -> None:
    menu = say(Session(), "/start")
    assert "1) " in plain_text(menu.replies[-1])
    category = say(menu.session, "1")
    assert category.session.screen == Screen.CATEGORY
    listed = plain_text(category.replies[-1])
    second = category.replies[-1].flat_choices[1]
    assert f"2) {second.label}" in listed
    urgency = say(category.session, "2")
    assert category.session.draft is not None and urgency.session.draft is not None
    assert urgency.session.draft.category == second.action.name.removeprefix("cat:")  # type: ignore[union-attr]
    description = say(urgency.session, "1", "can tho", "ninh kieu", "hẻm 51")
    assert description.session.screen == Screen.DESCRIPTION and description.replies[-1].free_text
    assert "1) " not in plain_text(description.replies[-1])  # options by name where words are typed
    typed = say(description.session, "Có người bán ma túy ở đầu ngõ, mỗi tối", "2")
    assert typed.session.screen == Screen.DESCRIPTION
    assert typed.session.draft is not None and typed.session.draft.description[-1] == "2"
    done = say(typed.session, "xong")  # the option by its words, without diacritics
    assert done.session.screen == Screen.EVIDENCE


# --- the team's question: answered by the next message where nobody can reply to one message --------


def asked(screen: Screen = Screen.MENU, until: datetime = NOW + timedelta(hours=1)) -> Session:
    session = say(Session(), "/start").session
    session.screen = screen
    session.private.question = OpenQuestion(code="TL-7K3Q-9XMP", message="abc123", until=until)
    return session


def test_the_next_text_at_the_menu_answers_the_open_question_once() -> None:
    result = handle(asked(), Text("  Đứng trước cổng chợ từ 21 giờ "), TEXT)
    assert result.effect == AnswerTip("TL-7K3Q-9XMP", "Đứng trước cổng chợ từ 21 giờ")
    assert result.session.private.question is None  # the next message is no answer any more
    again = handle(result.session, Text("và còn nữa"), TEXT)
    assert again.effect is None


def test_a_choice_a_command_another_step_or_an_expired_question_is_no_answer() -> None:
    number = handle(asked(), Text("1"), TEXT)  # the menu's first option
    assert number.effect is None and number.session.screen == Screen.CATEGORY
    assert number.session.private.question is not None
    command = handle(asked(), Command("help"), TEXT)
    assert command.effect is None and command.session.private.question is not None
    elsewhere = say(asked(), "/report", "1", "1", "can tho", "ninh kieu", "hẻm 51", "Người lạ bán hàng")
    assert elsewhere.effect is None and elsewhere.session.private.question is not None
    expired = handle(asked(until=NOW - timedelta(seconds=1)), Text("trả lời"), TEXT)
    assert expired.effect is None and expired.session.private.question is None


def test_where_replies_exist_only_a_reply_to_the_question_answers_it() -> None:
    plain = handle(asked(), Text("trả lời"), BUTTONS)
    assert plain.effect is None
    reply = handle(asked(), Text("trả lời", reply_to="abc123"), BUTTONS)
    assert reply.effect == AnswerTip("TL-7K3Q-9XMP", "trả lời")


def test_a_too_long_answer_is_refused_with_the_question_kept() -> None:
    result = handle(asked(), Text("x" * 5000), TEXT)
    assert result.effect is None and result.session.private.question is not None
    assert "5" in result.replies[0].text


# --- storage -----------------------------------------------------------------------------------------


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Storage]:
    database = await open_test_storage(tmp_path / "t.sqlite3")
    yield database
    await database.close()


async def test_webhook_update_keys_are_taken_once_and_purged(db: Storage) -> None:
    async with db.uow() as uow:
        assert await uow.webhook_updates.first_time("k1", NOW)
        assert not await uow.webhook_updates.first_time("k1", NOW + timedelta(seconds=5))
        assert await uow.webhook_updates.first_time("k2", NOW + timedelta(days=2))
    async with db.uow() as uow:
        assert await uow.webhook_updates.purge(NOW + timedelta(days=1)) == 1
        assert await uow.webhook_updates.first_time("k1", NOW + timedelta(days=3))  # forgotten after the purge
        assert not await uow.webhook_updates.first_time("k2", NOW + timedelta(days=3))


async def test_a_worker_without_the_staff_channel_leaves_staff_items_alone(db: Storage) -> None:
    tip = NewTip(
        category=Category.TRADING, urgency=Urgency.TODAY, province_code=92, commune_code=None, address=None,
        latitude=None, longitude=None, description="Bán ma túy ở hẻm 51", evidence=(), language="vi", channel="zalo",
    )
    async with db.uow() as uow:
        created = await uow.tips.create(tip, "TL-AAAA-BBBB", "h", NOW)
        card = await uow.outbox.add(NewItem(Kind.CARD, Audience.MODERATORS, created.id), NOW)
        news = await uow.outbox.add(NewItem(Kind.TIPSTER_NEWS, Audience.TIPSTER, created.id, channel="zalo"), NOW)
    lease = NOW + timedelta(minutes=2)
    async with db.uow() as uow:
        zalo_only = await uow.outbox.claim("zalo-worker", NOW, lease, 10, ["zalo"], unaddressed=False)
        assert [item.id for item in zalo_only] == [news]
        telegram = await uow.outbox.claim("telegram-worker", NOW, lease, 10, ["telegram"])
        assert [item.id for item in telegram] == [card]


# --- configuration -------------------------------------------------------------------------------------


def test_webhook_mode_needs_its_url_and_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("TELEGRAM_BOT_TOKEN", "ZALO_BOT_TOKEN", "TIPLINE_PUBLIC_URL", "TELEGRAM_WEBHOOK_SECRET", "ZALO_WEBHOOK_SECRET"):
        monkeypatch.delenv(name, raising=False)
    zalo = "2749610853317700123:" + "s" * 40
    assert load_settings().channels == [] and load_settings().tipline_mode == "polling"
    assert load_settings(zalo_bot_token=zalo).channels == ["zalo"]
    with pytest.raises(ConfigError, match="needs TELEGRAM_BOT_TOKEN or ZALO_BOT_TOKEN"):
        load_settings(tipline_mode="webhook")
    with pytest.raises(ConfigError, match="needs TIPLINE_PUBLIC_URL"):
        load_settings(tipline_mode="webhook", zalo_bot_token=zalo)
    with pytest.raises(ConfigError, match="needs ZALO_WEBHOOK_SECRET"):
        load_settings(tipline_mode="webhook", zalo_bot_token=zalo, tipline_public_url="https://tip.example.org")
    with pytest.raises(ConfigError, match="^ZALO_BOT_TOKEN: does not look like a Zalo bot token"):
        load_settings(zalo_bot_token="nonsense")
    with pytest.raises(ConfigError, match="^TELEGRAM_WEBHOOK_SECRET: must be 16-256 characters"):
        load_settings(telegram_webhook_secret="has spaces in it, sadly")
    with pytest.raises(ConfigError, match="^TIPLINE_LISTEN: must be host:port"):
        load_settings(tipline_listen="8080")
    with pytest.raises(ConfigError, match="TIPLINE_SECRET_KEY is required when ZALO_BOT_TOKEN is set"):
        load_settings(zalo_bot_token=zalo, tipline_secret_key=None).secret()
    settings = load_settings(
        tipline_mode="webhook", zalo_bot_token=zalo, tipline_public_url="https://tip.example.org/",
        zalo_webhook_secret="z" * 20, tipline_listen="127.0.0.1:9000",
    )
    assert settings.tipline_public_url == "https://tip.example.org" and settings.listen == ("127.0.0.1", 9000)
    assert settings.zalo_api_base_url == "https://bot-api.zaloplatforms.com/bot"


def test_picks_by_name_still_work_for_menu_entries_on_text_channels() -> None:
    menu = say(Session(), "/start")
    label = menu.replies[-1].flat_choices[0].label  # "📝 Báo tin" or the like, typed without its emoji
    picked = handle(menu.session, Text(label), TEXT)
    assert picked.session.screen == Screen.CATEGORY
