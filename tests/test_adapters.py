"""Callback data, rendering and the config/CLI entry points."""

from __future__ import annotations

import asyncio
import html
from pathlib import Path

import pytest
from backends import BACKEND, database_url_for, ensure_database, open_test_storage, use_database

from bot.telegram.callbacks import CallbackTooLong, pack, unpack
from bot.telegram.render import chunks, keyboard
from tipline.cli import main as cli_main
from tipline.config import ConfigError, load_settings
from tipline.places.communes import directory
from tipline.replies import CardAction, Choice, MenuEntry, QueuePage, Step, UnitChoice
from tipline.storage.postgres.store import migrations as pg_migrations
from tipline.storage.sqlite.store import migrations


def test_each_kind_of_button_round_trips_and_foreign_payloads_are_refused() -> None:
    actions = [
        Step("cat:trading", 12), MenuEntry("menu:report"), CardAction("claim", "new"), QueuePage(3), UnitChoice(17),
    ]
    for action in actions:
        assert unpack(pack(action)) == action
    for raw in (None, "", "garbage", "v1:12|cat:trading", "2s|x|cat", "2c|claim", "2q|-1", "2u|abc", "2z|1", "2s|1|\x00"):
        assert unpack(raw) is None
    with pytest.raises(CallbackTooLong):
        pack(Step("x" * 70, 1))


def test_the_longest_real_choices_fit_in_64_bytes() -> None:
    biggest_commune = max(c.code for p in directory().provinces() for c in directory().communes_in(p.code))
    assert len(pack(Step(f"com:{biggest_commune}", 999999)).encode()) <= 64
    assert len(pack(CardAction("not_verified", "acknowledged")).encode()) <= 64


def test_long_text_is_split_at_lines_and_escaped() -> None:
    text = "\n".join(f"dòng {i} <b>&" for i in range(600))
    pieces = chunks(text)
    assert len(pieces) > 1 and all(len(p) <= 4096 for p in pieces)
    assert html.unescape("\n".join(pieces)) == text
    assert chunks("") == ["…"]
    assert keyboard(()) is None
    markup = keyboard(((Choice("A", Step("a", 1)), Choice("B", Step("b", 1))),))
    assert markup is not None and markup.inline_keyboard[0][1].callback_data == "2s|1|b"


def test_invalid_configuration_is_one_clear_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "nonsense")
    with pytest.raises(ConfigError, match="^TELEGRAM_BOT_TOKEN: does not look like a bot token"):
        load_settings()
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "123456:" + "A" * 35)
    monkeypatch.delenv("TIPLINE_SECRET_KEY", raising=False)
    with pytest.raises(ConfigError, match="TIPLINE_SECRET_KEY is required"):
        load_settings().secret()
    monkeypatch.setenv("TIPLINE_SECRET_KEY", "short")
    with pytest.raises(ConfigError, match="^TIPLINE_SECRET_KEY: must be at least 32"):
        load_settings()


def test_the_file_url_follows_the_base_url() -> None:
    settings = load_settings(telegram_api_base_url="https://botapi.example.com/bot")
    assert settings.file_base_url == "https://botapi.example.com/file/bot"
    assert load_settings().file_base_url == "https://api.telegram.org/file/bot"


def test_local_mode_generates_a_private_secret_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TELEGRAM_BOT_TOKEN", raising=False)
    monkeypatch.delenv("TIPLINE_SECRET_KEY", raising=False)
    monkeypatch.setenv("TIPLINE_DB", str(tmp_path / "db" / "t.sqlite3"))
    settings = load_settings()
    secret = settings.secret()
    key_file = tmp_path / "db" / "t.sqlite3.secret"
    assert key_file.exists() and oct(key_file.stat().st_mode & 0o777) == "0o600"
    assert settings.secret() == secret and len(secret) >= 32


def test_cli_migrates_and_purges(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("TELEGRAM_BOT_TOKEN", raising=False)
    use_database(monkeypatch, tmp_path / "t.sqlite3")
    asyncio.run(ensure_database(database_url_for(tmp_path / "t.sqlite3")))
    monkeypatch.setenv("TIPLINE_SECRET_KEY", "Tq8vN2xR5mL7pW3kZ9yB4cH6jD1fG0sA-eUiOoPtest")
    assert cli_main(["migrate"]) == 0
    latest = len(pg_migrations() if BACKEND == "postgresql" else migrations())
    assert f"schema version {latest}" in capsys.readouterr().out

    async def version() -> int:  # the database the environment names was created
        storage = await open_test_storage(tmp_path / "t.sqlite3")
        try:
            return await storage.schema_version()
        finally:
            await storage.close()

    assert asyncio.run(version()) == latest
    assert cli_main(["purge"]) == 0
    assert cli_main(["check-config"]) == 0
    monkeypatch.setenv("TELEGRAM_API_BASE_URL", "ftp://nowhere")
    assert cli_main(["check-config"]) == 2
    assert "TELEGRAM_API_BASE_URL" in capsys.readouterr().err


def test_a_whole_report_fits_telegram_limits() -> None:
    """Every reply of a walk to the review splits into messages Telegram takes, and every button packs."""
    from test_conversation import at_review

    review = at_review()
    for reply in review.replies:
        assert all(0 < len(piece) <= 4096 for piece in chunks(reply.text))
        assert keyboard(reply.choices) is not None or not reply.choices


async def test_a_failed_bot_api_request_never_names_the_token() -> None:
    from telegram.error import NetworkError

    from bot.telegram.request import AiohttpRequest

    token = "7000000001:AAHsecretSecretSecretSecretSecret12345"
    request = AiohttpRequest(connect_timeout=2.0)
    await request.initialize()
    try:
        for url in (f"http://127.0.0.1:1/bot{token}/getMe", f"http://[::1/bot{token}/getMe"):  # refused; malformed
            with pytest.raises(NetworkError) as caught:
                await request.do_request(url, "POST")
            assert token not in str(caught.value) and "secret" not in str(caught.value).lower(), caught.value
    finally:
        await request.shutdown()
