"""Keyed pseudonyms and sealed chat references: how the bot remembers a chat without knowing it.

- ``pseudonym()``: per-chat state (drafts, language, counters) is keyed by an HMAC of the chat, never the id.
- ``seal()``/``unseal()``: the one place a chat reference is kept, for tipsters who opt in to updates,
  encrypted with a key derived from the server secret (AES-GCM), in a table apart from tips.

Each use gets its own key derived from the server secret, so one value cannot be matched against another.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os

from cryptography.hazmat.primitives.ciphers.aead import AESGCM


class Keyring:
    def __init__(self, secret: bytes) -> None:
        if len(secret) < 32:
            raise ValueError("the server secret must be at least 32 bytes")
        self._secret = secret
        self._pseudonym_key = self._derive(secret, b"tipline/pseudonym/v1")
        self._outreach_key = self._derive(secret, b"tipline/outreach-index/v1")
        self._aead = AESGCM(self._derive(secret, b"tipline/seal/v1"))

    @staticmethod
    def _derive(secret: bytes, label: bytes) -> bytes:
        return hmac.new(secret, label, hashlib.sha256).digest()

    def pseudonym(self, channel: str, chat_id: int | str) -> str:
        """A stable, unlinkable key for one chat on one channel."""
        message = f"{channel}:{chat_id}".encode()
        return hmac.new(self._pseudonym_key, message, hashlib.sha256).hexdigest()[:32]

    def index(self, purpose: str, value: str) -> str:
        """A keyed hash of ``value`` for one purpose (e.g. a tip code's throttle): findable, not readable."""
        key = self._derive(self._secret, f"tipline/index/{purpose}/v1".encode())
        return hmac.new(key, value.encode(), hashlib.sha256).hexdigest()[:32]

    def fingerprint(self) -> str:
        """Names the secret without revealing it: stored with the database, so a changed secret is noticed."""
        return self._derive(self._secret, b"tipline/fingerprint/v1").hex()[:16]

    def outreach_key(self, channel: str, chat_id: int | str) -> str:
        """The index of a chat's outreach subscription: keyed apart from tip subscriptions, so the two
        tables cannot be joined on it."""
        message = f"{channel}:{chat_id}".encode()
        return hmac.new(self._outreach_key, message, hashlib.sha256).hexdigest()[:32]

    def seal(self, channel: str, chat_id: int | str) -> bytes:
        nonce = os.urandom(12)
        plain = json.dumps({"c": channel, "id": chat_id}).encode()
        return nonce + self._aead.encrypt(nonce, plain, b"chat-ref")

    def seal_text(self, text: str) -> str:
        nonce = os.urandom(12)
        return base64.urlsafe_b64encode(nonce + self._aead.encrypt(nonce, text.encode(), b"text")).decode()

    def unseal_text(self, sealed: str) -> str:
        raw = base64.urlsafe_b64decode(sealed)
        return self._aead.decrypt(raw[:12], raw[12:], b"text").decode()

    def unseal(self, sealed: bytes) -> tuple[str, int | str]:
        plain = self._aead.decrypt(sealed[:12], sealed[12:], b"chat-ref")
        data = json.loads(plain)
        return data["c"], data["id"]
