from __future__ import annotations

import asyncio
import base64
import hashlib
import re

import pytest

from tipline.citizen.receipts import (
    ALPHABET,
    Hasher,
    hash_passphrase,
    new_code,
    new_passphrase,
    normalize_code,
    normalize_passphrase,
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


def test_new_hashes_use_the_current_parameters_and_older_hashes_still_verify() -> None:
    passphrase = new_passphrase()
    assert hash_passphrase(passphrase).startswith("scrypt$2048$8$1$")
    # A hash written before issue 11 (N=2^14) names its parameters and keeps working.
    salt = b"0123456789abcdef"
    digest = hashlib.scrypt(normalize_passphrase(passphrase).encode(), salt=salt, n=2**14, r=8, p=1)
    older = f"scrypt$16384$8$1${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"
    assert verify_passphrase(passphrase, older)
    assert not verify_passphrase(new_passphrase(), older)


async def test_hashing_runs_in_its_own_threads() -> None:
    hasher = Hasher()
    try:
        passphrase = new_passphrase()
        stored = await hasher.hash(passphrase)
        assert await hasher.verify(passphrase, stored)
        assert not await hasher.verify(new_passphrase(), stored)
    finally:
        await hasher.close()


async def test_passphrases_made_ahead_are_each_handed_out_once() -> None:
    hasher = Hasher(stock=3)
    try:
        hasher.top_up()
        given = [await hasher.fresh() for _ in range(8)]  # more than the stock: the rest are made on demand
        assert len({passphrase for passphrase, _ in given}) == 8
        for passphrase, digest in given:
            assert re.fullmatch(r"[2-9A-Z]{4}-[2-9A-Z]{4}-[2-9A-Z]{4}", passphrase)
            assert await hasher.verify(passphrase, digest)
    finally:
        await hasher.close()


async def test_the_stock_is_topped_up_only_in_quiet_moments() -> None:
    hasher = Hasher(stock=2, quiet=0.3)
    try:
        hasher.top_up()  # at start-up nobody is busy yet: filled at once
        for _ in range(200):
            if hasher.stocked == 2:
                break
            await asyncio.sleep(0.01)
        assert hasher.stocked == 2
        await hasher.fresh()
        for _ in range(3):  # a burst: citizens keep the bot busy, the stock waits
            await asyncio.sleep(0.1)
            hasher.busy()
        assert hasher.stocked == 1
        await asyncio.sleep(0.6)  # quiet for longer than 0.3 s: one more hashed
        assert hasher.stocked == 2
    finally:
        await hasher.close()


def test_every_character_of_the_alphabet_is_equally_likely() -> None:
    from collections import Counter

    from tipline.citizen.receipts import random_groups

    drawn = Counter(ch for _ in range(10_000) for ch in random_groups((4, 4, 4)).replace("-", ""))
    expected = 120_000 / len(ALPHABET)
    assert set(drawn) == set(ALPHABET)
    assert all(0.85 * expected < count < 1.15 * expected for count in drawn.values()), drawn  # ~±8 sigma
