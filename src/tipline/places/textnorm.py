"""Vietnamese text normalisation shared by search and duplicate detection.

Citizens write the same words in many ways: with or without diacritics
(old phones, no Vietnamese keyboard), in composed (NFC) or decomposed (NFD)
Unicode, in any case, with stray punctuation, or as raw Telex/VNI keystrokes
when the input method is off.  Everything that compares user text against
names, or tips against each other, goes through this module so that all
callers agree on what "the same text" means.

Two levels are offered:

* :func:`normalize` keeps diacritics (lowercase, NFC, punctuation -> space).
  Useful as a tie-breaker: "Vĩnh" and "Vinh" fold the same, but a user who
  typed the accent told us which one they meant.
* :func:`fold` strips every diacritic (including đ/Đ -> d) on top of that.
  This is the matching key.

All functions are pure and only use the standard library.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter

__all__ = [
    "fold",
    "has_marks",
    "marks",
    "marks_fit",
    "normalize",
    "segment",
    "strip_marks",
    "tokens",
    "untelex",
]

# Characters that are deleted outright instead of becoming a space.
# Apostrophes sit *inside* ethnic-minority names ("Cư M'gar", "Ea H'leo"),
# so "m'gar", "m’gar" and "mgar" must all give the same token.  Zero-width
# and soft-hyphen characters arrive from copy-paste and must not split words.
_DELETE = "'’‘ʼ`´\u00ad\u200b\u200c\u200d\u2060\ufeff"

# Unicode blocks of combining diacritical marks.  After NFD decomposition
# every Vietnamese tone and vowel mark (U+0300, 0301, 0303, 0309, 0323,
# 0302, 0306, 031B) is in the first block; the others cover stray input.
_MARK_RANGES = (
    (0x0300, 0x036F),
    (0x1AB0, 0x1AFF),
    (0x1DC0, 0x1DFF),
    (0x20D0, 0x20FF),
    (0xFE20, 0xFE2F),
)

# đ/Đ do not decompose under NFD, so they need an explicit mapping.  U+00D0
# (Icelandic eth) and U+0189 (African D) look identical to Đ and are used
# in its place by some keyboards and fonts.
_STRIP_TABLE: dict[int, int | None] = {
    ord("đ"): ord("d"),
    ord("Đ"): ord("D"),
    ord("Ð"): ord("D"),
    ord("ð"): ord("d"),
    ord("Ɖ"): ord("D"),
    ord("ɖ"): ord("d"),
}
for _lo, _hi in _MARK_RANGES:
    _STRIP_TABLE.update(dict.fromkeys(range(_lo, _hi + 1)))

_DELETE_TABLE = dict.fromkeys(map(ord, _DELETE))

# Anything that is not a letter or digit (underscore included) separates words.
_NON_WORD = re.compile(r"[\W_]+")


def normalize(text: str) -> str:
    """Lowercase, NFC, punctuation -> single spaces; diacritics are kept.

    >>> normalize("  P. Hoàn  Kiếm!! ")
    'p hoàn kiếm'
    """
    text = unicodedata.normalize("NFC", text).translate(_DELETE_TABLE).lower()
    return _NON_WORD.sub(" ", text).strip()


def strip_marks(text: str) -> str:
    """Remove diacritics (tones, vowel marks, đ -> d) without touching anything else.

    Works for both composed and decomposed input because it decomposes first.
    """
    return unicodedata.normalize("NFD", text).translate(_STRIP_TABLE)


def fold(text: str) -> str:
    """The matching key: no diacritics, lowercase, words separated by one space.

    >>> fold("Phường Hoàn Kiếm")
    'phuong hoan kiem'
    >>> fold("ĐẶC KHU Côn Đảo")
    'dac khu con dao'
    >>> fold("Cư M’gar, Đắk Lắk")
    'cu mgar dak lak'

    Uses compatibility decomposition (NFKD), so full-width letters and
    digits from some phone keyboards ("ＨＮ", "１") fold to plain ASCII.
    """
    text = unicodedata.normalize("NFKD", text.translate(_DELETE_TABLE)).translate(_STRIP_TABLE).lower()
    return _NON_WORD.sub(" ", text).strip()


def tokens(text: str) -> list[str]:
    """Folded words of *text*; ``[]`` for empty or punctuation-only input."""
    return fold(text).split()


def has_marks(text: str) -> bool:
    """True if *text* carries any Vietnamese diacritic (so the writer used them)."""
    return strip_marks(text) != unicodedata.normalize("NFD", text)


def marks(text: str) -> Counter[str]:
    """The diacritics in *text* as a multiset (combining marks after NFD, and "đ").

    Position is deliberately ignored so that old and new tone placement
    ("hoà"/"hòa", "thuỷ"/"thủy") compare equal.
    """
    decomposed = unicodedata.normalize("NFD", text.lower())
    found = Counter(c for c in decomposed if ord(c) in _STRIP_TABLE and _STRIP_TABLE[ord(c)] is None)
    found["đ"] += decomposed.count("đ") + decomposed.count("ð") + decomposed.count("ɖ")
    return +found


def marks_fit(typed: str, name: str) -> bool:
    """True unless *typed* carries a diacritic that *name* lacks.

    Users often type some marks but not all ("hoàn kiêm" for "Hoàn Kiếm"),
    so missing marks are fine; a wrong one ("Vĩnh" for "Vinh") is evidence
    against the name.
    """
    return not (marks(typed) - marks(name))


_VOWELS = frozenset("aeiouy")
_TELEX_TONES = frozenset("sfrxj")
_TELEX_DOUBLES = (("dd", "d"), ("aa", "a"), ("ee", "e"), ("oo", "o"))


def untelex(word: str) -> str | None:
    """Undo Telex/VNI keystrokes typed with the Vietnamese input method off.

    ``"hoanf"`` / ``"kieems"`` (Telex) and ``"hoa2n"`` / ``"d9a"`` (VNI) become
    ``"hoan"`` / ``"kiem"`` / ``"hoan"`` / ``"da"``.  Takes and returns a
    *folded* word; returns ``None`` when nothing looked like a keystroke.

    The rules rely on Vietnamese spelling: s/r/x only start a syllable and
    f/j/w never occur, so any of them after the first vowel is a tone or
    vowel-mark key.  This is a heuristic and can damage real words (loan
    words, minority-language names), so callers should only try it after
    the word itself failed to match.
    """
    if any(c.isdigit() for c in word):
        if not any(c.isalpha() for c in word):
            return None  # a plain number such as "1" in "Phường 1 Bảo Lộc"
        plain = word.replace("d9", "d")
        plain = "".join(c for c in plain if not c.isdigit())
        return plain if plain != word else None
    out: list[str] = []
    seen_vowel = False
    for c in word:
        if seen_vowel and c in _TELEX_TONES:
            continue
        if c == "w":
            # aw/ow/uw -> ă/ơ/ư, a lone w -> ư
            if not (out and out[-1] in "aou"):
                out.append("u")
            seen_vowel = True
            continue
        out.append(c)
        seen_vowel = seen_vowel or c in _VOWELS
    plain = "".join(out)
    for double, single in _TELEX_DOUBLES:
        plain = plain.replace(double, single)
    return plain if plain and plain != word else None


def segment(word: str, vocabulary: frozenset[str] | set[str], max_piece: int = 8, limit: int = 8) -> list[list[str]]:
    """Ways to split a run-together word into the fewest vocabulary words.

    Phone users often drop spaces ("hoankiem", "phuonghoankiem").  Returns
    every split with the minimal number of pieces (at most *limit*), because
    the spelling alone cannot choose between e.g. "long hiep" and
    "lo nghiep"; the caller knows which words go together.  Returns ``[]``
    when the word cannot be split into two or more vocabulary words.
    Dynamic programming over split points; cheap because words are short.
    """
    n = len(word)
    # best[i]: (piece count, splits of word[:i] with that count)
    best: list[tuple[int, list[list[str]]] | None] = [None] * (n + 1)
    best[0] = (0, [[]])
    for end in range(1, n + 1):
        for start in range(max(0, end - max_piece), end):
            prev = best[start]
            piece = word[start:end]
            if prev is None or piece not in vocabulary:
                continue
            count = prev[0] + 1
            cur = best[end]
            if cur is None or count < cur[0]:
                best[end] = (count, [p + [piece] for p in prev[1]][:limit])
            elif count == cur[0]:
                cur[1].extend(p + [piece] for p in prev[1][: limit - len(cur[1])])
    result = best[n]
    return result[1] if result and result[0] > 1 else []
