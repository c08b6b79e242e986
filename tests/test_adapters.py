"""Callback data, rendering and the config/CLI entry points."""

from __future__ import annotations

import html
import os
from pathlib import Path

import pytest

from bot.telegram.callbacks import CallbackTooLong, pack, unpack
from bot.telegram.render import chunks, keyboard
from tipline.cli import main as cli_main
from tipline.config import ConfigError, load_settings
from tipline.places.communes import directory
from tipline.replies import Choice, Reply
from tipline.storage.sqlite.database import migrations


def test_callback_data_round_trips_and_rejects_foreign_payloads() -> None:
    assert unpack(pack("12|cat:trading")) == "12|cat:trading"
    for raw in (None, "", "garbage", "v0:1|x", "v1:", "v1:\x00bad"):
        assert unpack(raw) == ""
    with pytest.raises(CallbackTooLong):
        pack("1|" + "x" * 70)


def test_the_longest_real_choices_fit_in_64_bytes() -> None:
    biggest_commune = max(c.code for p in directory().provinces() for c in directory().communes_in(p.code))
    assert len(pack(f"999999|com:{biggest_commune}").encode()) <= 64


def test_long_text_is_split_at_lines_and_escaped() -> None:
    text = "\n".join(f"dòng {i} <b>&" for i in range(600))
    pieces = chunks(text)
    assert len(pieces) > 1 and all(len(p) <= 4096 for p in pieces)
    assert html.unescape("\n".join(pieces)) == text
    assert chunks("") == ["…"]
    assert keyboard(Reply("x")) is None
    markup = keyboard(Reply("x", ((Choice("A", "1|a"), Choice("B", "1|b")),)))
    assert markup is not None and markup.inline_keyboard[0][1].callback_data == "v1:1|b"


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
    monkeypatch.setenv("TIPLINE_DB", str(tmp_path / "t.sqlite3"))
    monkeypatch.setenv("TIPLINE_SECRET_KEY", "k" * 40)
    assert cli_main(["migrate"]) == 0
    assert f"schema version {len(migrations())}" in capsys.readouterr().out
    assert cli_main(["purge"]) == 0
    assert cli_main(["check-config"]) == 0
    monkeypatch.setenv("TELEGRAM_API_BASE_URL", "ftp://nowhere")
    assert cli_main(["check-config"]) == 2
    assert "TELEGRAM_API_BASE_URL" in capsys.readouterr().err
    assert os.environ["TIPLINE_DB"].endswith("t.sqlite3")
