"""The prevention-content library: short, sourced entries citizens can browse by topic or search.

The texts live in packaged TOML files (``library/vi.toml``, ``library/en.toml``) so that the people who
write them never touch code, and so that every fact carries its ``source`` line next to it.  This module
only loads them (once per language) and answers two questions for the conversation: "what is in topic X"
(menu browsing) and "which entries answer this question" (free-text search).

Search has to cope with how citizens actually type: with or without diacritics, with typos, with Telex
keystrokes left in, with words run together.  Everything is compared on :func:`fold` keys.  Scoring is a
weighted token overlap (keywords and titles weigh more than bodies, rare words more than common ones),
plus a bonus for multi-word keywords found as a phrase ("bong cuoi", "nuoc vui").  A search never comes
back silent: it returns the closest entries it has and says, through ``confident``, whether they really
answer the question, so the caller can add the topics menu and the hotline when they do not.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib.resources import files

from tipline.places.textnorm import fold, segment, untelex

__all__ = [
    "AUDIENCES",
    "DEFAULT_LANG",
    "LANGUAGES",
    "TOPICS",
    "BODY_MAX_CHARS",
    "Entry",
    "Hit",
    "Library",
    "SearchResult",
    "Topic",
    "load",
]

LANGUAGES = ("vi", "en")
DEFAULT_LANG = "vi"
# Menu order: what people most often need first is how drugs harm and what to watch for.
TOPICS = ("harms", "disguised", "law", "treatment", "family", "hotlines")
AUDIENCES = frozenset({"general", "parent", "pupil", "teacher"})
# One phone screen without scrolling on an older handset.
BODY_MAX_CHARS = 500

# Where a query word was found in an entry, and how much that says about the entry.
_W_KEYWORD = 3.0
_W_TITLE = 2.5
_W_BODY = 1.0
# Bonus per word of a multi-word keyword found as a phrase in the query.
_W_PHRASE = 2.0
# How much a non-exact match is worth compared with an exact one.
_Q_REPAIRED = 0.9  # Telex keystrokes undone, or words run together split apart
# A typo in a short syllable often lands on another real word ("chao" -> "chap"), so on its own it is
# kept below the confidence share: it may rank an entry but cannot make the answer confident.
_Q_TYPO_SHORT = 0.45
_Q_TYPO_1 = 0.75
_Q_TYPO_2 = 0.55
# Confidence: the share of the query (weighted by rarity) found in the best entry's title or keywords.
_CONFIDENT_SHARE = 0.5


@dataclass(frozen=True)
class Entry:
    """One screenful of prevention content, with the source of its facts."""

    id: str
    topic: str
    title: str
    body: str
    audience: tuple[str, ...]
    keywords: tuple[str, ...]
    source: str


@dataclass(frozen=True)
class Topic:
    """A topic id (stable, for callback data) and its title in the library's language."""

    id: str
    title: str


@dataclass(frozen=True)
class Hit:
    """An entry found by a search, with its score (only comparable within one search)."""

    entry: Entry
    score: float


@dataclass(frozen=True)
class SearchResult:
    """The best entries for a query, best first.

    ``confident`` is False when nothing answers the question well; the hits are then only the closest
    entries (possibly none), and the caller should offer the topics and the hotline alongside them.
    """

    query: str
    hits: tuple[Hit, ...]
    confident: bool

    @property
    def entries(self) -> list[Entry]:
        return [hit.entry for hit in self.hits]

    @property
    def topic_ids(self) -> list[str]:
        """Topics of the hits, best first, without repeats: for a "closest topics" answer."""
        return list(dict.fromkeys(hit.entry.topic for hit in self.hits))


@dataclass(frozen=True)
class _Index:
    """Folded search keys of one entry, built once at load time."""

    title: frozenset[str]
    keywords: frozenset[str]
    body: frozenset[str]
    phrases: tuple[tuple[str, ...], ...]

    def weight(self, token: str) -> float:
        if token in self.keywords:
            return _W_KEYWORD
        if token in self.title:
            return _W_TITLE
        if token in self.body:
            return _W_BODY
        return 0.0


@dataclass(frozen=True)
class _Word:
    """One query word and the library words it stands for (itself, or its repaired forms)."""

    folded: str
    candidates: dict[str, float] = field(default_factory=dict)  # library word -> match quality


class Library:
    """All entries of one language. Build it with :func:`load`, which caches one per language."""

    def __init__(self, lang: str, topic_titles: dict[str, str], entries: Sequence[Entry], stopwords: Iterable[str]):
        self.lang = lang
        self._topics = [Topic(topic_id, topic_titles[topic_id]) for topic_id in TOPICS]
        self._entries = tuple(entries)
        self._by_id = {entry.id: entry for entry in self._entries}
        self._stopwords = frozenset(fold(word) for word in stopwords)
        self._index = {entry.id: _index(entry) for entry in self._entries}
        vocabulary: dict[str, int] = {}
        for index in self._index.values():
            for token in index.title | index.keywords | index.body:
                vocabulary[token] = vocabulary.get(token, 0) + 1
        total = len(self._entries)
        # Rare words tell entries apart; "ma tuy" is in almost every entry and says little (BM25's idf,
        # which stays above zero for words found everywhere, so "ma túy" alone still finds something).
        self._idf = {token: _idf(total, count) for token, count in vocabulary.items()}
        self._unknown_idf = _idf(total, 0)
        self._vocabulary = frozenset(vocabulary)

    def __repr__(self) -> str:
        return f"Library({self.lang!r}, {len(self._entries)} entries)"

    # --- browsing ----------------------------------------------------------------------------------

    def topics(self) -> list[Topic]:
        """Every topic, in menu order, with its localized title."""
        return list(self._topics)

    def topic(self, topic_id: str) -> Topic | None:
        """The topic with this id, or None (a button from an older release may carry a retired id)."""
        return next((topic for topic in self._topics if topic.id == topic_id), None)

    def entries(self, topic: str, audience: str | None = None) -> list[Entry]:
        """Entries of a topic in file order; with an audience, those tagged for it or for everyone.

        An unknown topic gives an empty list rather than an error: topic ids arrive in callback data.
        """
        found = [entry for entry in self._entries if entry.topic == topic]
        if audience is None:
            return found
        return [entry for entry in found if audience in entry.audience or "general" in entry.audience]

    def all_entries(self) -> list[Entry]:
        """Every entry, in file order."""
        return list(self._entries)

    def get(self, entry_id: str) -> Entry | None:
        """The entry with this id, or None (ids arrive in callback data and may be stale)."""
        return self._by_id.get(entry_id)

    # --- search ------------------------------------------------------------------------------------

    def search(self, query: str, limit: int = 3) -> SearchResult:
        """The entries that best answer *query*, best first, at most *limit* of them."""
        sequence = [self._resolve(token) for token in _expand(fold(query).split(), self._vocabulary)]
        content = {word.folded: word for word in sequence if word.folded not in self._stopwords}
        if not content or limit <= 0:
            return SearchResult(query, (), False)
        query_weight = sum(self._word_idf(word) for word in content.values())
        scored: list[tuple[float, float, int, Entry]] = []
        for position, entry in enumerate(self._entries):
            index = self._index[entry.id]
            score = 0.0
            strong = 0.0
            for word in content.values():
                best, best_strong = 0.0, 0.0
                for token, quality in word.candidates.items():
                    weight = index.weight(token)
                    value = weight * quality * self._idf[token]
                    if value > best:
                        best = value
                        best_strong = quality * self._idf[token] if weight > _W_BODY else 0.0
                score += best
                strong += best_strong
            for phrase in index.phrases:
                if _contains_phrase(sequence, phrase):
                    score += _W_PHRASE * sum(self._idf[token] for token in phrase)
            if score > 0:
                scored.append((score, strong, position, entry))
        scored.sort(key=lambda item: (-item[0], item[2]))
        hits = tuple(Hit(entry, round(score, 3)) for score, _strong, _position, entry in scored[:limit])
        confident = bool(scored) and scored[0][1] >= _CONFIDENT_SHARE * query_weight
        return SearchResult(query, hits, confident)

    def _word_idf(self, word: _Word) -> float:
        """How much a query word counts towards the whole query: its rarest candidate, or 'unknown'."""
        if not word.candidates:
            return self._unknown_idf
        return max(self._idf[token] for token in word.candidates)

    def _resolve(self, token: str) -> _Word:
        """The library words a folded query word may stand for: itself, Telex undone, or a close spelling."""
        if token in self._vocabulary:
            return _Word(token, {token: 1.0})
        repaired = untelex(token)
        if repaired and repaired in self._vocabulary:
            return _Word(repaired, {repaired: _Q_REPAIRED})
        return _Word(token, _near(token, self._vocabulary))


@cache
def load(lang: str) -> Library:
    """The library for *lang* ("vi", "en", or a tag like "vi-VN"); any other language gets Vietnamese."""
    code = lang.replace("_", "-").split("-")[0].lower() if lang else DEFAULT_LANG
    if code not in LANGUAGES:
        code = DEFAULT_LANG
    if code != lang:
        return load(code)
    resource = files("tipline.outreach") / "library" / f"{code}.toml"
    data = tomllib.loads(resource.read_text(encoding="utf-8"))
    return _build(code, data)


def _build(lang: str, data: dict[str, object]) -> Library:
    """Checks the file's shape so a bad edit fails at start-up with the entry id, not in a chat."""
    topics = data.get("topics")
    if not isinstance(topics, dict) or set(topics) != set(TOPICS):
        raise ValueError(f"{lang}.toml: [topics] must name exactly {', '.join(TOPICS)}")
    raw_entries = data.get("entry")
    if not isinstance(raw_entries, list) or not raw_entries:
        raise ValueError(f"{lang}.toml: no [[entry]] tables")
    entries: list[Entry] = []
    seen: set[str] = set()
    for raw in raw_entries:
        entry = _entry(lang, raw)
        if entry.id in seen:
            raise ValueError(f"{lang}.toml: duplicate entry id {entry.id!r}")
        seen.add(entry.id)
        entries.append(entry)
    search = data.get("search", {})
    stopwords = search.get("stopwords", []) if isinstance(search, dict) else []
    return Library(lang, {key: str(value) for key, value in topics.items()}, entries, [str(w) for w in stopwords])


def _entry(lang: str, raw: object) -> Entry:
    if not isinstance(raw, dict):
        raise ValueError(f"{lang}.toml: an [[entry]] is not a table")
    entry_id = str(raw.get("id", "")).strip()
    where = f"{lang}.toml entry {entry_id or '?'}"
    texts = {name: str(raw.get(name, "")).strip() for name in ("id", "topic", "title", "body", "source")}
    missing = [name for name, value in texts.items() if not value]
    if missing:
        raise ValueError(f"{where}: missing {', '.join(missing)}")
    if texts["topic"] not in TOPICS:
        raise ValueError(f"{where}: unknown topic {texts['topic']!r}")
    if len(texts["body"]) > BODY_MAX_CHARS:
        raise ValueError(f"{where}: body has {len(texts['body'])} characters, at most {BODY_MAX_CHARS}")
    audience = tuple(str(tag) for tag in raw.get("audience", []))
    if not audience or not set(audience) <= AUDIENCES:
        raise ValueError(f"{where}: audience must be a non-empty subset of {sorted(AUDIENCES)}")
    keywords = tuple(str(word) for word in raw.get("keywords", []))
    return Entry(
        id=texts["id"],
        topic=texts["topic"],
        title=texts["title"],
        body=texts["body"],
        audience=audience,
        keywords=keywords,
        source=texts["source"],
    )


def _index(entry: Entry) -> _Index:
    keyword_tokens = [fold(keyword).split() for keyword in entry.keywords]
    return _Index(
        title=frozenset(fold(entry.title).split()),
        keywords=frozenset(token for tokens in keyword_tokens for token in tokens),
        body=frozenset(fold(entry.body).split()),
        phrases=tuple(tuple(tokens) for tokens in keyword_tokens if len(tokens) > 1),
    )


def _idf(total: int, count: int) -> float:
    return math.log((total - count + 0.5) / (count + 0.5) + 1.0)


def _expand(tokens: list[str], vocabulary: frozenset[str]) -> list[str]:
    """Splits words typed without spaces ("bongcuoi") into library words; other words pass through."""
    out: list[str] = []
    for token in tokens:
        if token in vocabulary or len(token) < 5 or (untelex(token) or "") in vocabulary:
            out.append(token)
            continue
        splits = segment(token, vocabulary)
        out.extend(splits[0] if splits else [token])
    return out


def _contains_phrase(sequence: Sequence[_Word], phrase: tuple[str, ...]) -> bool:
    """True if the query has the phrase's words in a row (stop words included: "thuốc lá" folds to "thuoc la")."""
    size = len(phrase)
    for start in range(len(sequence) - size + 1):
        if all(phrase[i] in sequence[start + i].candidates for i in range(size)):
            return True
    return False


def _near(token: str, vocabulary: frozenset[str]) -> dict[str, float]:
    """Library words one typo away (two for long words), sharing the first letter.

    Vietnamese syllables are short, so a loose match would turn "tiet" into "viet"; keeping the first
    letter and the length limits stops most of that while still catching "cuoj" for "cuoi" and
    "metadone" for "methadone".
    """
    if len(token) < 4 or not token.isalpha():
        return {}
    allowed = 2 if len(token) >= 7 else 1
    found: dict[str, float] = {}
    best = allowed + 1
    for word in vocabulary:
        if word[0] != token[0] or abs(len(word) - len(token)) > allowed or len(word) < 3:
            continue
        distance = _distance(token, word, allowed)
        if distance > best:
            continue
        if distance < best:
            best, found = distance, {}
        if distance == 1:
            found[word] = _Q_TYPO_1 if len(token) >= 6 else _Q_TYPO_SHORT
        else:
            found[word] = _Q_TYPO_2
    return found if best <= allowed else {}


def _distance(a: str, b: str, limit: int) -> int:
    """Optimal-string-alignment distance (typos, including swapped letters); stops early past *limit*."""
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i, char_a in enumerate(a, 1):
        current = [i] + [0] * len(b)
        for j, char_b in enumerate(b, 1):
            cost = 0 if char_a == char_b else 1
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and char_a == b[j - 2] and a[i - 2] == char_b:
                current[j] = min(current[j], previous2[j - 2] + 1)
        if min(current) > limit:
            return limit + 1
        previous2, previous = previous, current
    return previous[-1]
