"""Zalo Bot Platform: the HTTP client (``client``) and the reading of updates (``updates``) that the
Zalo adapter is built on. Nothing here knows about tips or conversations."""

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
