"""Configuration from the environment, validated once at start-up.

Invalid configuration stops start-up with one clear line (see ``load_settings``), never a traceback.
"""

from __future__ import annotations

import math
import os
import re
import secrets
from collections import Counter
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_API_BASE_URL = "https://api.telegram.org/bot"
MIN_SECRET_BITS = 128


def estimated_bits(secret: str) -> float:
    """A rough lower bound on a secret's entropy: its length times the entropy of its character mix."""
    counts = Counter(secret)
    per_char = -sum(n / len(secret) * math.log2(n / len(secret)) for n in counts.values())
    return per_char * len(secret)
# Zalo Bot Platform: a call goes to f"{base}{token}/{method}" (the same constant as bot.zalo.client's).
DEFAULT_ZALO_API_BASE_URL = "https://bot-api.zaloplatforms.com/bot"
_TELEGRAM_SECRET = re.compile(r"^[A-Za-z0-9_-]{16,256}$")  # Telegram allows 1-256 of these; 16 is our floor
_LISTEN = re.compile(r"^(?P<host>[^\s:]+|\[[0-9a-fA-F:]+\]):(?P<port>\d{1,5})$")


class ConfigError(Exception):
    """Raised with a one-line, human-readable reason when configuration is invalid."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", extra="ignore", case_sensitive=False)

    telegram_bot_token: str | None = Field(default=None)
    telegram_api_base_url: str = Field(default=DEFAULT_API_BASE_URL)
    telegram_api_file_url: str | None = Field(default=None)
    tipline_db: Path = Field(default=Path("data/tipline.sqlite3"))
    tipline_database_url: str | None = Field(default=None)
    # PostgreSQL connections each process may open (the server's max_connections bounds the sum over processes).
    tipline_database_pool: int = Field(default=10, ge=2, le=500)
    tipline_secret_key: str | None = Field(default=None)
    tipline_locales_dir: Path | None = Field(default=None)
    tipline_admin_ids: str = Field(default="")
    tipline_moderator_chat_id: int | None = Field(default=None)
    tipline_ack_hours: float = Field(default=24.0, gt=0)
    tipline_outcome_hours: float = Field(default=168.0, gt=0)
    tipline_retention_days: int = Field(default=180, gt=0)
    tipline_audit_anchor_file: Path | None = Field(default=None)
    # How updates arrive: long polling (the default), or webhooks served by one web application (bot/web).
    tipline_mode: Literal["polling", "webhook"] = Field(default="polling")
    # Whether this process runs the background loops (outbox, deadlines, purge, audit anchors). With several
    # web workers, turn it off there and run `tipline-worker` (the loops are safe to run twice: leases).
    tipline_background: bool = Field(default=True)
    # How long an outbox worker holds the items it took: a worker that died leaves them to another after this.
    tipline_outbox_lease_seconds: float = Field(default=120.0, ge=1.0, le=3600.0)
    tipline_public_url: str | None = Field(default=None)  # where the platforms reach the web application
    tipline_listen: str = Field(default="0.0.0.0:8080")  # host:port the web application listens on
    telegram_webhook_secret: str | None = Field(default=None)
    zalo_bot_token: str | None = Field(default=None)
    zalo_api_base_url: str = Field(default=DEFAULT_ZALO_API_BASE_URL)
    zalo_webhook_secret: str | None = Field(default=None)
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

    @field_validator("tipline_database_url")
    @classmethod
    def _database_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        if not value.startswith(("postgresql://", "postgres://")):
            raise ValueError("must be a postgresql:// URL (without it, SQLite at TIPLINE_DB is used)")
        return value.strip()

    @field_validator("telegram_api_base_url", "zalo_api_base_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value

    @field_validator("zalo_bot_token")
    @classmethod
    def _zalo_token_shape(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        value = value.strip()
        head, sep, tail = value.partition(":")
        if not sep or not head or len(tail) < 16 or any(c.isspace() or c == "/" for c in value):
            raise ValueError("does not look like a Zalo bot token (expected '{bot_id}:{secret}')")
        return value

    @field_validator("tipline_public_url")
    @classmethod
    def _public_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        value = value.strip().rstrip("/")
        if not value.startswith(("https://", "http://")):
            raise ValueError("must start with https:// (or http:// for a local test)")
        return value

    @field_validator("tipline_listen")
    @classmethod
    def _listen(cls, value: str) -> str:
        match = _LISTEN.match(value.strip())
        if match is None or not 0 < int(match.group("port")) < 65536:
            raise ValueError("must be host:port, for example 0.0.0.0:8080")
        return value.strip()

    @field_validator("telegram_webhook_secret")
    @classmethod
    def _telegram_secret(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        if not _TELEGRAM_SECRET.match(value.strip()):
            raise ValueError("must be 16-256 characters A-Z, a-z, 0-9, _ or - (what Telegram accepts)")
        return value.strip()

    @field_validator("zalo_webhook_secret")
    @classmethod
    def _zalo_secret(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        if not 16 <= len(value.strip()) <= 256:  # Zalo takes 8-256 characters; 16 is our floor
            raise ValueError("must be 16-256 characters")
        return value.strip()

    @model_validator(mode="after")
    def _webhook_mode(self) -> Settings:
        if self.tipline_mode != "webhook":
            return self
        if not (self.telegram_bot_token or self.zalo_bot_token):
            raise ValueError("TIPLINE_MODE=webhook needs TELEGRAM_BOT_TOKEN or ZALO_BOT_TOKEN")
        if not self.tipline_public_url:
            raise ValueError("TIPLINE_MODE=webhook needs TIPLINE_PUBLIC_URL (where Telegram and Zalo post updates)")
        if self.telegram_bot_token and not self.telegram_webhook_secret:
            raise ValueError("TIPLINE_MODE=webhook with TELEGRAM_BOT_TOKEN needs TELEGRAM_WEBHOOK_SECRET")
        if self.zalo_bot_token and not self.zalo_webhook_secret:
            raise ValueError("TIPLINE_MODE=webhook with ZALO_BOT_TOKEN needs ZALO_WEBHOOK_SECRET")
        return self

    @property
    def channels(self) -> list[str]:
        """The messaging channels this configuration runs (none: local console mode)."""
        return [name for name, token in (("telegram", self.telegram_bot_token), ("zalo", self.zalo_bot_token)) if token]

    @property
    def listen(self) -> tuple[str, int]:
        host, _sep, port = self.tipline_listen.rpartition(":")
        return host.strip("[]"), int(port)

    @field_validator("tipline_secret_key")
    @classmethod
    def _secret_strength(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        value = value.strip()
        if len(value) < 32:
            raise ValueError("must be at least 32 characters")
        if estimated_bits(value) < MIN_SECRET_BITS:
            raise ValueError(
                "is too predictable (repeated or few distinct characters); generate one with "
                "`python3 -c 'import secrets; print(secrets.token_urlsafe(48))'`"
            )
        return value

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

        In local mode (no token at all) a secret is generated once and kept beside the database, so that
        pseudonyms and sealed references stay readable across restarts. A deployed bot must set
        TIPLINE_SECRET_KEY explicitly.
        """
        if self.tipline_secret_key:
            return self.tipline_secret_key.encode()
        if self.telegram_bot_token:
            raise ConfigError("TIPLINE_SECRET_KEY is required when TELEGRAM_BOT_TOKEN is set")
        if self.zalo_bot_token:
            raise ConfigError("TIPLINE_SECRET_KEY is required when ZALO_BOT_TOKEN is set")
        if self.tipline_database_url:
            # A server database is never local mode: a secret made up here would not be the one it was written with.
            raise ConfigError("TIPLINE_SECRET_KEY is required when TIPLINE_DATABASE_URL is set")
        key_file = self.tipline_db.with_name(self.tipline_db.name + ".secret")
        if not key_file.exists() and self.tipline_db.exists():
            # A new secret beside an existing database would make everything sealed in it unreadable.
            raise ConfigError(
                f"TIPLINE_SECRET_KEY is not set and {key_file} is missing, but the database {self.tipline_db} "
                "exists: set the secret it was written with"
            )
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
