from __future__ import annotations

import re

import pytest

from tipline.citizen.receipts import (
    ALPHABET,
    hash_passphrase,
    new_code,
    new_passphrase,
    normalize_code,
    verify_passphrase,
)


def test_codes_avoid_confusable_characters_and_are_unique() -> None:
    codes = {new_code() for _ in range(2000)}
    assert len(codes) == 2000
    for code in codes:
        assert re.fullmatch(r"TL-[2-9A-Z]{4}-[2-9A-Z]{4}", code)
        assert not set(code[3:].replace("-", "")) & set("01OILU")
    assert not set(ALPHABET) & set("01OILU")


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("TL-7K3Q-9XMP", "TL-7K3Q-9XMP"),
        ("tl 7k3q 9xmp", "TL-7K3Q-9XMP"),
        ("7K3Q9XMP", "TL-7K3Q-9XMP"),
        ("  tl-7k3q-9xmp. ", "TL-7K3Q-9XMP"),
        ("TL-7K3Q-9XM", None),
        ("TL-7K3Q-9XMO", None),  # O is never issued
        ("hello", None),
        ("", None),
    ],
)
def test_typed_codes_are_normalised(typed: str, expected: str | None) -> None:
    assert normalize_code(typed) == expected


def test_passphrase_hash_is_salted_and_verifies_loosely_typed_input() -> None:
    passphrase = new_passphrase()
    assert re.fullmatch(r"[2-9A-Z]{4}-[2-9A-Z]{4}-[2-9A-Z]{4}", passphrase)
    first, second = hash_passphrase(passphrase), hash_passphrase(passphrase)
    assert first != second and passphrase not in first
    assert verify_passphrase(passphrase, first)
    assert verify_passphrase(passphrase.lower().replace("-", " "), second)
    assert not verify_passphrase(new_passphrase(), first)
    assert not verify_passphrase(passphrase, "md5$abc")
    assert not verify_passphrase(passphrase, "garbage")
