"""Configuration from the environment, validated once at start-up.

Invalid configuration stops start-up with one clear line (see ``load_settings``), never a traceback.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_API_BASE_URL = "https://api.telegram.org/bot"


class ConfigError(Exception):
    """Raised with a one-line, human-readable reason when configuration is invalid."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", extra="ignore", case_sensitive=False)

    telegram_bot_token: str | None = Field(default=None)
    telegram_api_base_url: str = Field(default=DEFAULT_API_BASE_URL)
    telegram_api_file_url: str | None = Field(default=None)
    tipline_db: Path = Field(default=Path("data/tipline.sqlite3"))
    tipline_secret_key: str | None = Field(default=None)
    tipline_locales_dir: Path | None = Field(default=None)
    tipline_admin_ids: str = Field(default="")
    tipline_moderator_chat_id: int | None = Field(default=None)
    tipline_ack_hours: float = Field(default=24.0, gt=0)
    tipline_outcome_hours: float = Field(default=168.0, gt=0)
    # Prevention campaigns: messages per second for all chats together (Telegram allows about 30 a second,
    # up to 1,000 with paid broadcasts), quiet hours in Vietnam time, campaign messages per subscriber a week,
    # and how long a send may stay unanswered before a restart counts it as unknown.
    tipline_broadcast_rate: float = Field(default=30.0, gt=0, le=1000)
    tipline_quiet_hours: str = Field(default="21:00-07:00")
    tipline_weekly_cap: int = Field(default=3, ge=0)
    tipline_broadcast_lease: float = Field(default=60.0, ge=10)

    @field_validator("tipline_quiet_hours")
    @classmethod
    def _quiet_hours(cls, value: str) -> str:
        start, sep, end = value.strip().partition("-")
        try:
            if not sep:
                raise ValueError
            for part in (start, end):
                hours, _colon, minutes = part.strip().partition(":")
                if not (0 <= int(hours) < 24 and 0 <= int(minutes or 0) < 60):
                    raise ValueError
        except ValueError:
            raise ValueError("must look like 21:00-07:00 (local time; equal times: no quiet hours)") from None
        return value.strip()

    @field_validator("tipline_admin_ids")
    @classmethod
    def _admin_ids(cls, value: str) -> str:
        for part in value.split(","):
            if part.strip() and not part.strip().lstrip("-").isdigit():
                raise ValueError("must be Telegram user ids separated by commas")
        return value

    @property
    def admin_ids(self) -> frozenset[int]:
        return frozenset(int(part) for part in self.tipline_admin_ids.split(",") if part.strip())

    @field_validator("telegram_bot_token")
    @classmethod
    def _token_shape(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        value = value.strip()
        head, sep, tail = value.partition(":")
        if not sep or not head.isdigit() or len(tail) < 20:
            raise ValueError("does not look like a bot token (expected '123456:ABC...')")
        return value

    @field_validator("telegram_api_base_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value

    @field_validator("tipline_secret_key")
    @classmethod
    def _secret_length(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        if len(value.strip()) < 32:
            raise ValueError("must be at least 32 characters")
        return value.strip()

    @property
    def file_base_url(self) -> str:
        if self.telegram_api_file_url:
            return self.telegram_api_file_url
        # The Bot API serves files under /file/bot<token>/ beside /bot<token>/: only the final path
        # segment changes (a host such as botapi.example.com must stay as it is).
        head, sep, tail = self.telegram_api_base_url.rpartition("/bot")
        return f"{head}/file/bot{tail}" if sep else self.telegram_api_base_url

    def secret(self) -> bytes:
        """The server secret for keyed hashes and sealing.

        In local mode (no token) a secret is generated once and kept beside the database, so that
        pseudonyms and sealed references stay readable across restarts. A deployed bot must set
        TIPLINE_SECRET_KEY explicitly.
        """
        if self.tipline_secret_key:
            return self.tipline_secret_key.encode()
        if self.telegram_bot_token:
            raise ConfigError("TIPLINE_SECRET_KEY is required when TELEGRAM_BOT_TOKEN is set")
        key_file = self.tipline_db.with_name(self.tipline_db.name + ".secret")
        if not key_file.exists():
            key_file.parent.mkdir(parents=True, exist_ok=True)
            # Created with mode 0600 from the start: never readable by others, not even for a moment.
            fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_urlsafe(48))
        return key_file.read_text().strip().encode()


def load_settings(**overrides: object) -> Settings:
    """Reads settings from the environment; raises ConfigError with one line on bad input."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first["loc"]).upper()
        message = str(first["msg"]).removeprefix("Value error, ")
        raise ConfigError(f"{field}: {message}" if field else message) from None
