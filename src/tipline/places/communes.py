"""Vietnam's administrative directory (34 provinces, 3,321 communes since 1 July 2025).

Tips are routed by commune, and citizens name their commune by typing it,
often without diacritics, with typos, with or without the type word
("xã", "phường", "P.") and sometimes followed by the province.  This module
turns that text into a short ranked list of real communes.  It is
channel-agnostic: Telegram, Zalo or a web form all call the same API.

Data comes from the ``vietnam_provinces`` package; everything is indexed once
(:func:`directory` caches the instance) so a search costs well under a
millisecond.

Search strategy, in order of trust:

1. fold the query (:mod:`tipline.places.textnorm`), split run-together words,
   drop a leading type word and a trailing province name (used as a filter);
2. for every query word find the name words it can stand for: exact,
   prefix (the user is still typing or abbreviates), Telex/VNI keystrokes,
   and one edit (typo);
3. candidates are communes holding a match for every query word (or, failing
   that, for as many as possible);
4. each candidate is scored by how well the words matched, how much of the
   name was covered and whether the order agrees; diacritics the user did
   type and the type word break ties.
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

import vietnam_provinces as vnp

from tipline.places.textnorm import fold, marks, normalize, segment, untelex

__all__ = [
    "KINDS",
    "Commune",
    "CommuneMatch",
    "Directory",
    "Province",
    "ProvinceMatch",
    "directory",
]

KINDS = ("xã", "phường", "đặc khu")

# The longest real query is about 10 words ("Phường Văn Miếu - Quốc Tử Giám,
# Thành phố Hà Nội").  Anything much longer is a tip pasted at the wrong prompt.
MAX_QUERY_WORDS = 12

# Results scoring below this are noise (e.g. one typo-matched word out of three).
MIN_SCORE = 0.5

# Per-word match qualities.  Exact beats prefix beats typo so that a correctly
# typed name is never outranked by a fuzzy neighbour.
Q_EXACT = 1.0
Q_TELEX = 0.95  # "hoanf" -> "hoan": the user typed the word right, IME was off
Q_PREFIX_MIN, Q_PREFIX_SPAN = 0.6, 0.3  # 0.6 .. 0.9 depending on how much was typed
Q_TYPO = 0.75
Q_TYPO_SHORT = 0.7  # 3-letter words: one edit is a bigger share of the word
Q_TYPO_TINY = 0.6  # "yn" for "yen": only tried for non-words next to other words

# Leading words naming the unit type.  Folded; longest first.  Old district
# and town types (quận, huyện, thị trấn, thị xã) are accepted too because
# people still write them, but carry no kind preference.
_TYPE_PHRASES: tuple[tuple[tuple[str, ...], str | None], ...] = (
    (("dac", "khu"), "đặc khu"),
    (("thi", "tran"), None),
    (("thi", "xa"), None),
    (("thanh", "pho"), None),
    (("xa",), "xã"),
    (("x",), "xã"),
    (("phuong",), "phường"),
    (("p",), "phường"),
    (("ph",), "phường"),
    (("f",), "phường"),
    (("dk",), "đặc khu"),
    (("dackhu",), "đặc khu"),
    (("tt",), None),
    (("thitran",), None),
    (("quan",), None),
    (("q",), None),
    (("huyen",), None),
    (("h",), None),
    (("tx",), None),
    (("tp",), None),
)
_TYPE_WORDS = frozenset(w for phrase, _ in _TYPE_PHRASES for w in phrase)

# Words that may precede a province name ("tỉnh Nghệ An", "TP. Cần Thơ").
_PROVINCE_TYPE_PHRASES = (("thanh", "pho"), ("tinh",), ("tp",), ("t", "p"))

# Extra ways people name provinces.  Keys are folded.  Official names,
# short names and codenames are added automatically.
_PROVINCE_ALIASES: dict[str, int] = {
    "hn": 1,
    "thu do": 1,
    "hcm": 79,
    "tphcm": 79,
    "hcmc": 79,
    "sai gon": 79,
    "sg": 79,
    "hp": 31,
    "thua thien hue": 46,
    "tth": 46,
    "dac lac": 66,
    "daklak": 66,
}

# Provinces merged away on 1 July 2025 (Nghị quyết 202/2025/QH15), mapped to the
# province that absorbed them.  Citizens will keep using these names for years.
_FORMER_PROVINCES: dict[str, int] = {
    "Hà Giang": 8,
    "Yên Bái": 15,
    "Bắc Kạn": 19,
    "Vĩnh Phúc": 25,
    "Hòa Bình": 25,
    "Bắc Giang": 24,
    "Thái Bình": 33,
    "Hải Dương": 31,
    "Hà Nam": 37,
    "Nam Định": 37,
    "Quảng Bình": 44,
    "Quảng Nam": 48,
    "Kon Tum": 51,
    "Bình Định": 52,
    "Ninh Thuận": 56,
    "Phú Yên": 66,
    "Đắk Nông": 68,
    "Bình Thuận": 68,
    "Bình Dương": 79,
    "Bà Rịa - Vũng Tàu": 79,
    "Vũng Tàu": 79,
    "Bình Phước": 75,
    "Long An": 80,
    "Tiền Giang": 82,
    "Bến Tre": 86,
    "Trà Vinh": 86,
    "Kiên Giang": 91,
    "Sóc Trăng": 92,
    "Hậu Giang": 92,
    "Bạc Liêu": 96,
}


@dataclass(frozen=True, slots=True)
class Province:
    """A province-level unit; ``short_name`` drops "Thành phố"/"Tỉnh" for display."""

    code: int
    name: str
    short_name: str


@dataclass(frozen=True, slots=True)
class Commune:
    """A commune-level unit; ``kind`` is 'xã', 'phường' or 'đặc khu'."""

    code: int
    name: str
    short_name: str
    kind: str
    province_code: int


@dataclass(frozen=True, slots=True)
class CommuneMatch:
    """One search result.

    ``label`` is what to show the citizen: the commune name, followed by the
    province when the name alone would not identify it (several "Xã Tân Phú"
    exist, and "Vĩnh Hưng"/"Vinh Hưng" look the same without diacritics).
    """

    commune: Commune
    province: Province
    score: float
    label: str


@dataclass(frozen=True, slots=True)
class ProvinceMatch:
    """One province search result; ``former`` names the pre-2025 province that was typed, if any."""

    province: Province
    score: float
    former: str | None = None


def _osa(a: str, b: str) -> int:
    """Edit distance counting an adjacent swap as one edit (optimal string alignment)."""
    if a == b:
        return 0
    la, lb = len(a), len(b)
    prev2: list[int] = []
    prev = list(range(lb + 1))
    for i in range(1, la + 1):
        cur = [i] + [0] * lb
        ca = a[i - 1]
        for j in range(1, lb + 1):
            cb = b[j - 1]
            cost = 0 if ca == cb else 1
            v = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                v = min(v, prev2[j - 2] + 1)
            cur[j] = v
        prev2, prev = prev, cur
    return prev[lb]


def _osa_within(a: str, b: str, limit: int) -> int:
    """``_osa(a, b)`` when it is at most ``limit``, else ``limit + 1``: stops as soon as two rows in a row
    exceed the limit (no later row can come back under it), which for most pairs is after a few letters."""
    if a == b:
        return 0
    la, lb = len(a), len(b)
    if abs(la - lb) > limit:
        return limit + 1
    prev2: list[int] = []
    prev = list(range(lb + 1))
    over = False  # the previous row is entirely over the limit
    for i in range(1, la + 1):
        cur = [i] + [0] * lb
        ca = a[i - 1]
        for j in range(1, lb + 1):
            cb = b[j - 1]
            v = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb))
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                v = min(v, prev2[j - 2] + 1)
            cur[j] = v
        row_over = min(cur) > limit
        if row_over and over:
            return limit + 1
        over = row_over
        prev2, prev = prev, cur
    return min(prev[lb], limit + 1)


def _deletes(word: str) -> set[str]:
    """All strings obtained by deleting one character (symmetric-delete typo index)."""
    return {word[:i] + word[i + 1 :] for i in range(len(word))}


def _strip_prefix(name: str, prefixes: Iterable[str]) -> str:
    for prefix in prefixes:
        if name.startswith(prefix + " "):
            return name[len(prefix) + 1 :]
    return name


@dataclass(slots=True)
class _Variant:
    """One reading of the query: words to match plus hints taken from it."""

    words: list[str]  # folded
    raw: list[str]  # same words with the user's diacritics
    kind: str | None = None
    province_code: int | None = None


class Directory:
    """All provinces and communes with the indexes search needs.  Build via :func:`directory`."""

    def __init__(self) -> None:
        provinces = sorted(vnp.Province.iter_all(), key=lambda p: int(p.code))
        self._provinces: list[Province] = [
            Province(int(p.code), p.name, _strip_prefix(p.name, ("Thành phố", "Tỉnh"))) for p in provinces
        ]
        self._province_by_code = {p.code: p for p in self._provinces}

        self._communes: list[Commune] = []
        for w in sorted(vnp.Ward.iter_all(), key=lambda w: int(w.code)):
            kind = str(w.division_type.value)
            short = w.name[len(kind) + 1 :] if w.name.lower().startswith(kind + " ") else w.name
            self._communes.append(Commune(int(w.code), w.name, short, kind, int(w.province_code)))
        self._commune_by_code = {c.code: c for c in self._communes}
        self._index_by_code = {c.code: i for i, c in enumerate(self._communes)}

        by_province: dict[int, list[int]] = {}
        self._marks: list[tuple[Counter[str], ...]] = []  # diacritics of each name word
        self._words: list[tuple[str, ...]] = []  # folded name words, aligned with _marks
        postings: dict[str, set[int]] = {}
        for i, c in enumerate(self._communes):
            by_province.setdefault(c.province_code, []).append(i)
            raw = tuple(normalize(c.short_name).split())
            words = tuple(fold(r) for r in raw)
            self._marks.append(tuple(marks(r) for r in raw))
            self._words.append(words)
            for word in words:
                postings.setdefault(word, set()).add(i)
        self._postings = {w: frozenset(s) for w, s in postings.items()}
        self._in_province = {code: frozenset(ix) for code, ix in by_province.items()}
        self._vocab = frozenset(self._postings)

        # prefix -> longer vocabulary words starting with it
        prefixes: dict[str, list[str]] = {}
        for word in self._vocab:
            for k in range(1, len(word)):
                prefixes.setdefault(word[:k], []).append(word)
        self._prefixes = {p: tuple(ws) for p, ws in prefixes.items()}

        # word and its one-deletion variants -> vocabulary words (typo lookup)
        deletes: dict[str, set[str]] = {}
        for word in self._vocab:
            for d in _deletes(word) | {word}:
                deletes.setdefault(d, set()).add(word)
        self._deletes = {d: tuple(ws) for d, ws in deletes.items()}

        names = Counter(" ".join(w) for w in self._words)
        self._ambiguous = frozenset(n for n, count in names.items() if count > 1)

        self._province_keys = self._build_province_keys()
        # For search_provinces: each key without spaces, and its letters (a cheap bound before edit distance).
        self._province_search = [
            (key, key.replace(" ", ""), frozenset(key.replace(" ", "")), code, former)
            for key, (code, former) in self._province_keys.items()
        ]
        # Words a run-together query may be split into.  Compact province keys
        # ("binhthuan") are left out so that "binhthuan" is split, and single
        # letters other than name words so that "hoanf" (Telex) is not "hoan f".
        spaced = [key for key in self._province_keys if " " in key]
        compacts = {key.replace(" ", "") for key in spaced}
        extra = _TYPE_WORDS | {w for key in spaced for w in key.split()}
        extra |= {key for key in self._province_keys if " " not in key and key not in compacts}
        self._split_vocab = self._vocab | {w for w in extra if len(w) > 1}

    def _build_province_keys(self) -> dict[str, tuple[int, str | None]]:
        """Folded province name -> (code, former province name or None)."""
        keys: dict[str, tuple[int, str | None]] = {}

        def add(text: str, code: int, former: str | None = None) -> None:
            key = fold(text)
            keys.setdefault(key, (code, former))
            keys.setdefault(key.replace(" ", ""), (code, former))

        for p in self._provinces:
            add(p.short_name, p.code)
            add(p.name, p.code)
        for source in vnp.Province.iter_all():
            add(source.codename.replace("_", " "), int(source.code))
        for alias, code in _PROVINCE_ALIASES.items():
            add(alias, code)
        for name, code in _FORMER_PROVINCES.items():
            add(name, code, name)
        return keys

    # ----------------------------------------------------------------- lookup

    def provinces(self) -> list[Province]:
        """All 34 provinces in official code order (Hà Nội first, Cà Mau last)."""
        return list(self._provinces)

    def province(self, code: int) -> Province | None:
        """The province with this code, or None (callers validate input)."""
        return self._province_by_code.get(code)

    def commune(self, code: int) -> Commune | None:
        """The commune with this code, or None (callers validate input)."""
        return self._commune_by_code.get(code)

    def communes_in(self, province_code: int) -> list[Commune]:
        """Communes of a province in code order; [] for an unknown province."""
        return [self._communes[i] for i in sorted(self._in_province.get(province_code, ()))]

    def label(self, commune: Commune) -> str:
        """Display name, with the province when the name (without diacritics) is not unique in the country.

        Country-wide rather than per result list, so a commune is always shown
        the same way (search results, confirmation, moderator views), and any
        two results that look alike necessarily both carry their province.
        """
        return self._label(self._index_by_code[commune.code])

    def _label(self, i: int) -> str:
        c = self._communes[i]
        if " ".join(self._words[i]) in self._ambiguous:
            return f"{c.name}, {self._province_by_code[c.province_code].short_name}"
        return c.name

    # ----------------------------------------------------------------- search

    def search_provinces(self, query: str, limit: int = 5) -> list[ProvinceMatch]:
        """Rank provinces for a typed name: "can tho", "HCM", "sài gòn", "hue", "hn".

        Former provinces ("Bình Dương", "Quảng Nam") resolve to the province
        that absorbed them, with ``former`` set so the caller can explain.
        """
        words = fold(query[:200]).split()
        for phrase in _PROVINCE_TYPE_PHRASES:
            if tuple(words[: len(phrase)]) == phrase:
                if len(words) == len(phrase):
                    return []  # a bare "tỉnh" / "TP" names nothing
                words = words[len(phrase) :]
                break
        q = " ".join(words)
        compact = q.replace(" ", "")
        if len(compact) < 2:
            return []
        best: dict[int, tuple[float, str | None]] = {}
        letters = frozenset(compact)
        for key, key_compact, key_letters, code, former in self._province_search:
            if q == key or compact == key_compact:
                score = 1.0
            elif len(compact) >= 2 and (key.startswith(q) or key_compact.startswith(compact)):
                score = 0.7 + 0.2 * len(compact) / len(key_compact)
            elif len(compact) >= 4 and abs(len(compact) - len(key_compact)) <= 2:
                allowed = 2 if len(compact) >= 8 else 1
                # Each edit changes at most two letters of the set of letters used: a cheap way to skip.
                if len(letters ^ key_letters) > 2 * allowed:
                    continue
                dist = _osa_within(compact, key_compact, allowed)
                if dist > allowed:
                    continue
                score = 0.7 - 0.05 * dist
            else:
                continue
            if former is None:
                score += 0.001  # the current name wins ties against a former one
            if score > best.get(code, (0.0, None))[0]:
                best[code] = (score, former)
        ranked = sorted(best.items(), key=lambda kv: (-kv[1][0], kv[0]))
        return [
            ProvinceMatch(self._province_by_code[code], round(min(score, 1.0), 4), former)
            for code, (score, former) in ranked[:limit]
        ]

    def search(self, query: str, province_code: int | None = None, limit: int = 8) -> list[CommuneMatch]:
        """Rank communes for what a citizen typed; [] when nothing plausible matches.

        ``province_code`` restricts results (e.g. after the citizen picked a
        province; an unknown code gives []).  A province named at the end of
        the query ("ninh kieu can tho") is used as a restriction too.  Scores
        are in [MIN_SCORE, 1]; 1.0 means every word matched exactly.  Ties
        are broken by code so results are deterministic.
        """
        if province_code is not None and province_code not in self._in_province:
            return []
        variants = self._variants(query, province_code)
        scores: dict[int, float] = {}
        for variant in variants:
            allowed = None if variant.province_code is None else self._in_province[variant.province_code]
            for i, s in self._score(variant, allowed).items():
                if s > scores.get(i, 0.0):
                    scores[i] = s
        ranked = sorted(
            ((s, i) for i, s in scores.items() if s >= MIN_SCORE),
            key=lambda si: (-si[0], self._communes[si[1]].code),
        )[:limit]
        return [
            CommuneMatch(
                self._communes[i],
                self._province_by_code[self._communes[i].province_code],
                round(s, 4),
                self._label(i),
            )
            for s, i in ranked
        ]

    def _variants(self, query: str, province_code: int | None) -> list[_Variant]:
        """Readings of the query; each is scored and the best score per commune wins.

        A query may be read with or without splitting run-together words
        ("hoankiem", but "haon" is a typo, not "ha on"), with or without its
        leading type word ("phuong liet" is Phường Phương Liệt), and with or
        without a trailing province name, which then restricts the search.
        """
        raw = normalize(query[:500]).split()
        words = [fold(r) for r in raw]
        if len("".join(words)) < 2 or len(words) > MAX_QUERY_WORDS:
            return []
        readings = [(words, raw)]
        split_words: list[str] = []
        for w in words:
            pieces = None
            if w not in self._split_vocab and len(w) >= 4 and untelex(w) not in self._vocab:
                pieces = self._best_split(w)
            split_words.extend(pieces or [w])
        if split_words != words:
            readings.append((split_words, split_words))

        base: list[_Variant] = []
        for r_words, r_raw in readings:
            for phrase, kind in _TYPE_PHRASES:
                n = len(phrase)
                if tuple(r_words[:n]) == phrase:
                    # Keep the unstripped reading too: the "type word" may be part of the
                    # name ("Phương Liệt", "Xa Dung", "Quan Sơn") or an abbreviation ("ph xuan").
                    if len(r_words) > n:  # a bare "xã" / "phường" asks for nothing
                        base.append(_Variant(r_words, r_raw, province_code=province_code))
                        base.append(_Variant(r_words[n:], r_raw[n:], kind, province_code))
                    break
            else:
                base.append(_Variant(r_words, r_raw, province_code=province_code))

        variants = list(base)
        for v in base:
            for k in range(min(4, len(v.words) - 1), 0, -1):
                hit = self._province_keys.get(" ".join(v.words[-k:]))
                if hit is None:
                    continue
                code = hit[0]
                if province_code is not None and code != province_code:
                    continue
                rest, rest_raw = v.words[:-k], v.raw[:-k]
                for phrase in _PROVINCE_TYPE_PHRASES:
                    n = len(phrase)
                    if len(rest) > n and tuple(rest[-n:]) == phrase:
                        rest, rest_raw = rest[:-n], rest_raw[:-n]
                        break
                variants.append(_Variant(rest, rest_raw, v.kind, code))
                break
        return variants

    def _best_split(self, word: str) -> list[str] | None:
        """Split a run-together word, preferring pieces that occur together in one commune name."""
        splits = segment(word, self._split_vocab)
        for pieces in splits:
            names = [self._postings[p] for p in pieces if p in self._postings]
            if names and frozenset.intersection(*names):
                return pieces
        return splits[0] if splits else None

    def _word_matches(self, word: str, is_last: bool, several: bool) -> dict[str, float]:
        """Vocabulary words this query word may stand for, with a quality in (0, 1]."""
        found: dict[str, float] = {}
        if word in self._vocab:
            found[word] = Q_EXACT
        else:
            plain = untelex(word)
            if plain in self._vocab:
                found[plain] = Q_TELEX
        # prefixes: any word of 2+ letters, or a single letter being typed after other words
        if len(word) >= 2 or (is_last and several):
            for w in self._prefixes.get(word, ()):
                q = Q_PREFIX_MIN + Q_PREFIX_SPAN * len(word) / len(w)
                if q > found.get(w, 0.0):
                    found[w] = q
        if len(word) >= 3 or (len(word) == 2 and several and word not in self._vocab):
            q = Q_TYPO_TINY if len(word) == 2 else Q_TYPO_SHORT if len(word) == 3 else Q_TYPO
            seen: set[str] = set()
            for d in _deletes(word) | {word}:
                for w in self._deletes.get(d, ()):
                    if w in found or w in seen:
                        continue
                    seen.add(w)
                    if _osa_within(word, w, 1) == 1:
                        found[w] = q
        return found

    def _score(self, v: _Variant, allowed: frozenset[int] | None) -> dict[int, float]:
        """Score every commune that could be meant by this variant."""
        m = len(v.words)
        if m == 0:
            return {}
        matches = [self._word_matches(w, i == m - 1, m > 1) for i, w in enumerate(v.words)]
        sets = []
        for found in matches:
            s = frozenset().union(*(self._postings[w] for w in found)) if found else frozenset()
            if allowed is not None:
                s = s & allowed
            sets.append(s)
        nonempty = [s for s in sets if s]
        if not nonempty:
            return {}
        candidates = frozenset.intersection(*nonempty)
        if not candidates:
            # no commune has every word: keep those with the most (extra words cost score)
            counts = Counter(i for s in nonempty for i in s)
            top = max(counts.values())
            candidates = frozenset(i for i, c in counts.items() if c == top)

        typed_marks = [marks(r) for r in v.raw]
        out: dict[int, float] = {}
        for ci in candidates:
            words = self._words[ci]
            n = len(words)
            used: list[int] = []
            total = 0.0
            penalty = 0.0
            in_order = True
            last = -1
            for qi, found in enumerate(matches):
                best_q, best_j = 0.0, -1
                for j, w in enumerate(words):
                    q = found.get(w)
                    if q is None or j in used:
                        continue
                    if j < last:
                        q -= 0.001  # same quality: prefer keeping the typed order
                    if q > best_q:
                        best_q, best_j = q, j
                if best_j < 0:
                    continue
                if best_j < last:
                    in_order = False
                last = best_j
                used.append(best_j)
                total += best_q
                if typed_marks[qi] and typed_marks[qi] - self._marks[ci][best_j]:
                    penalty += 0.02 / m  # the user typed a diacritic this name lacks
            if not used:
                continue
            score = total / m * (0.7 + 0.2 * len(used) / n + 0.05 * (used[0] == 0) + 0.05 * in_order)
            if v.kind is not None and self._communes[ci].kind != v.kind:
                penalty += 0.02  # asked for a "phường", this is a "xã"
            out[ci] = max(score - penalty, 0.0)
        return out


@functools.cache
def directory() -> Directory:
    """The process-wide directory, built on first use (~0.1 s) and then shared."""
    return Directory()
