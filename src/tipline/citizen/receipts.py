"""Receipt codes and passphrases: how a tipster follows up without revealing who they are.

The code identifies the tip; the passphrase proves the holder is the one who sent it. Only a slow salted
hash of the passphrase is stored, so a stolen database does not reveal passphrases.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets

# No 0/O, 1/I/L, and no U (avoids accidental words): easy to read aloud and copy from an old screen.
ALPHABET = "23456789ABCDEFGHJKMNPQRSTVWXYZ"
CODE_PREFIX = "TL"
_CODE_GROUPS = (4, 4)
_PASS_GROUPS = (4, 4, 4)

# scrypt parameters: about 30-60 ms per check on a small server, memory-hard.
_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**14, 8, 1



def random_groups(sizes: tuple[int, ...]) -> str:
    """Groups of random characters from ``ALPHABET``, e.g. '7K3Q-9XMP' for (4, 4)."""
    return "-".join("".join(secrets.choice(ALPHABET) for _ in range(size)) for size in sizes)


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
