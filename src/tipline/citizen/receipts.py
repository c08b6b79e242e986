"""Receipt codes and passphrases: how a tipster follows up without revealing who they are.

The code identifies the tip; the passphrase proves the holder is the one who sent it. Only a slow salted
hash of the passphrase is stored, so a stolen database does not reveal passphrases.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import math
import os
import re
import secrets
from concurrent.futures import ThreadPoolExecutor

# No 0/O, 1/I/L, and no U (avoids accidental words): easy to read aloud and copy from an old screen.
ALPHABET = "23456789ABCDEFGHJKMNPQRSTVWXYZ"
CODE_PREFIX = "TL"
_CODE_GROUPS = (4, 4)
_PASS_GROUPS = (4, 4, 4)

# scrypt parameters for new hashes (a stored hash names its own, so older ones keep verifying).
# N=2^11, r=8, p=1: 2 MiB of memory per hash, about 4 ms on a small server (2^14 took 16 MiB and 40-85 ms,
# a core's worth of work for every 15-25 tips in a burst). Why that is still strong: the passphrase is not
# chosen by a person but drawn at random, 12 characters of 30, about 59 bits. Someone holding the
# database must try 2^58 passphrases on average for one tip, each a 2 MiB memory-hard scrypt: about 10^15
# core-seconds, tens of millions of core-years, or tens of thousands of years on a GPU doing 10^5 tries
# a second. The usual N=2^14 advice is for passwords people choose (20-40 bits): 2^40 tries x 2^14 is
# 2^54 units of work; ours is 2^58 x 2^11 = 2^69, about 30,000 times more. Guessing online is slowed down
# per code and locked per chat (citizen/guards.py), whatever the hash costs.
_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**11, 8, 1



def random_groups(sizes: tuple[int, ...]) -> str:
    """Groups of random characters from ``ALPHABET``, e.g. '7K3Q-9XMP' for (4, 4).

    Each character is a random byte below the largest multiple of the alphabet's size (rejection
    sampling: every character equally likely), drawn from the system's generator in one call per group
    of characters rather than one per character."""
    wanted = sum(sizes)
    limit = 256 - 256 % len(ALPHABET)
    chars: list[str] = []
    while len(chars) < wanted:
        chars += [ALPHABET[byte % len(ALPHABET)] for byte in secrets.token_bytes(wanted) if byte < limit]
    chars = chars[:wanted]
    groups, start = [], 0
    for size in sizes:
        groups.append("".join(chars[start : start + size]))
        start += size
    return "-".join(groups)


def new_code() -> str:
    """A short tip code such as TL-7K3Q-9XMP (30^8 ≈ 6.6·10^11 possibilities)."""
    return f"{CODE_PREFIX}-{random_groups(_CODE_GROUPS)}"


def new_passphrase() -> str:
    """A secret such as H4KP-Z9RM-T2WC (about 59 bits), shown to the tipster once."""
    return random_groups(_PASS_GROUPS)


def _clean(text: str) -> str:
    return re.sub(r"[^0-9A-Z]", "", text.upper())


def normalize_code(text: str) -> str | None:
    """Turns what a person typed ('tl 7k3q 9xmp', 'TL-7K3Q-9XMP') into the canonical code, or None."""
    raw = _clean(text)
    if raw.startswith(CODE_PREFIX):
        raw = raw[len(CODE_PREFIX):]
    if len(raw) != sum(_CODE_GROUPS) or any(ch not in ALPHABET for ch in raw):
        return None
    return f"{CODE_PREFIX}-{raw[:4]}-{raw[4:]}"


def normalize_passphrase(text: str) -> str:
    return _clean(text)


def hash_passphrase(passphrase: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(normalize_passphrase(passphrase).encode(), salt=salt, n=_SCRYPT_N, r=_SCRYPT_R, p=_SCRYPT_P)
    return f"scrypt${_SCRYPT_N}${_SCRYPT_R}${_SCRYPT_P}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def verify_passphrase(passphrase: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt_b64, digest_b64 = stored.split("$")
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    digest = hashlib.scrypt(
        normalize_passphrase(passphrase).encode(), salt=base64.b64decode(salt_b64), n=int(n), r=int(r), p=int(p)
    )
    return hmac.compare_digest(digest, base64.b64decode(digest_b64))


def _fresh_pair() -> tuple[str, str]:
    passphrase = new_passphrase()
    return passphrase, hash_passphrase(passphrase)


class Hasher:
    """Hashes and checks passphrases in a small pool of threads of its own, off the event loop: never
    queued behind other work in the default thread pool, and on at most half the cores, so a burst of
    tips cannot starve the event loop (scrypt releases the GIL).

    It also keeps a few new passphrases hashed ahead of time (``stock``), made in quiet moments: when many
    people confirm at once, the first ``stock`` of them get their receipt without waiting for a hash, and
    without the hashing competing with the burst for the machine's cores. The stock is topped up only once
    no citizen has done anything for ``quiet`` seconds (``busy()`` says someone did), one passphrase at a
    time; when it runs out in a long burst, each new one is made on demand. The stock is only in memory,
    tied to nobody until handed out, and each passphrase is handed out once.
    """

    def __init__(self, workers: int | None = None, stock: int = 128, quiet: float = 1.0) -> None:
        workers = workers or max(1, (os.cpu_count() or 2) // 2)
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="tipline-scrypt")
        self.stock = stock
        self.quiet = quiet
        self._ready: list[tuple[str, str]] = []
        self._filling: asyncio.Task[None] | None = None
        self._busy_at = -math.inf  # when a citizen last did something (the event loop's clock)

    async def hash(self, passphrase: str) -> str:
        return await asyncio.get_running_loop().run_in_executor(self._pool, hash_passphrase, passphrase)

    async def verify(self, passphrase: str, stored: str) -> bool:
        return await asyncio.get_running_loop().run_in_executor(self._pool, verify_passphrase, passphrase, stored)

    async def fresh(self) -> tuple[str, str]:
        """A new passphrase and its hash: one made ahead of time if there is one, else made now."""
        self.busy()
        pair = self._ready.pop() if self._ready else None
        if pair is None:
            pair = await asyncio.get_running_loop().run_in_executor(self._pool, _fresh_pair)
        self.top_up()
        return pair

    @property
    def stocked(self) -> int:
        """How many passphrases are hashed ahead and waiting."""
        return len(self._ready)

    def busy(self) -> None:
        """A citizen did something: the stock waits for the next quiet moment (call from the loop)."""
        self._busy_at = asyncio.get_running_loop().time()

    def top_up(self) -> None:
        """Makes passphrases ahead of time in the background, in quiet moments, until the stock is full
        (call from the loop)."""
        if len(self._ready) < self.stock and (self._filling is None or self._filling.done()):
            self._filling = asyncio.get_running_loop().create_task(self._fill())

    async def _fill(self) -> None:
        loop = asyncio.get_running_loop()
        while len(self._ready) < self.stock:
            wait = self._busy_at + self.quiet - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
                continue
            self._ready.append(await loop.run_in_executor(self._pool, _fresh_pair))

    async def close(self) -> None:
        if self._filling is not None and not self._filling.done():
            self._filling.cancel()
            await asyncio.wait([self._filling])
        self._ready.clear()
        self._pool.shutdown(wait=True)
