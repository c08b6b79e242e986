from __future__ import annotations

import pytest
from cryptography.exceptions import InvalidTag

from tipline.privacy.keys import Keyring

SECRET = b"s" * 40


def test_pseudonyms_are_stable_and_unlinkable() -> None:
    keys = Keyring(SECRET)
    assert keys.pseudonym("telegram", 12345) == keys.pseudonym("telegram", 12345)
    assert keys.pseudonym("telegram", 12345) != keys.pseudonym("zalo", 12345)
    assert keys.pseudonym("telegram", 12345) != Keyring(b"t" * 40).pseudonym("telegram", 12345)
    assert "12345" not in keys.pseudonym("telegram", 12345)
    # Indexes are derived with keys of their own: one cannot be matched to a pseudonym or to another purpose.
    assert keys.index("throttle", "telegram:12345") not in (keys.pseudonym("telegram", 12345), keys.index("x", "telegram:12345"))
    assert keys.fingerprint() == Keyring(SECRET).fingerprint() != Keyring(b"t" * 40).fingerprint()


def test_sealed_references_need_the_secret() -> None:
    keys = Keyring(SECRET)
    sealed = keys.seal("telegram", 987654321)
    assert b"987654321" not in sealed
    assert keys.seal("telegram", 987654321) != sealed  # fresh nonce each time
    assert keys.unseal(sealed) == ("telegram", 987654321)
    with pytest.raises(InvalidTag):
        Keyring(b"x" * 40).unseal(sealed)
    tampered = sealed[:-1] + bytes([sealed[-1] ^ 1])
    with pytest.raises(InvalidTag):
        keys.unseal(tampered)
    assert keys.unseal_text(keys.seal_text("TL-AAAA-BBBB")) == "TL-AAAA-BBBB"


def test_short_secrets_are_refused() -> None:
    with pytest.raises(ValueError):
        Keyring(b"short")
