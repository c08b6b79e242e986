"""Zalo Bot Platform: the HTTP client (``client``) and the reading of updates (``updates``), which know
nothing about tips or conversations, and on them the adapter: ``channel`` (the core's delivery port on Zalo)
and ``app`` (updates as the core's events, long polling). Webhook mode lives in ``bot.web``."""

from .client import (
    DEFAULT_BASE_URL,
    ZaloBadRequest,
    ZaloBotClient,
    ZaloBotInfo,
    ZaloConflict,
    ZaloError,
    ZaloForbidden,
    ZaloRateLimited,
    ZaloSentMessage,
    ZaloUnauthorized,
    ZaloUnavailable,
    ZaloWebhookInfo,
)
from .updates import SECRET_HEADER, ZaloUpdate, parse_update, secret_matches

__all__ = [
    "DEFAULT_BASE_URL",
    "SECRET_HEADER",
    "ZaloBadRequest",
    "ZaloBotClient",
    "ZaloBotInfo",
    "ZaloConflict",
    "ZaloError",
    "ZaloForbidden",
    "ZaloRateLimited",
    "ZaloSentMessage",
    "ZaloUnauthorized",
    "ZaloUnavailable",
    "ZaloUpdate",
    "ZaloWebhookInfo",
    "parse_update",
    "secret_matches",
]
