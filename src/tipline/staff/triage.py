"""Triage assist: a priority with its reasons, spam signals and duplicate candidates for a confirmed tip.

Everything here is a pure function of the tip's facts (no I/O, no clock), so a tip always gets the same
assessment and moderators can be shown why.  Reasons are machine-readable: ``key`` for the UI to
translate, ``detail`` with the words as the citizen typed them.  Nothing here decides: moderators do.

Words are matched on the folded text (:func:`tipline.places.textnorm.fold`, so "hoc sinh" finds "học sinh"),
whole words only (so "sung" never matches inside another word), and Telex typed with the input method
off counts too ("sungs" is "súng").  Folding merges different words, so three guards keep false friends
out:

* Diacritics the citizen typed are evidence.  "sùng", "đạo", "đào" (or Telex "sungf") never stand for
  "súng" or "dao" (a knife), and in a text written with diacritics a bare "sung" is the "sung" of
  "bổ sung", not "súng".
* Phrases that swallow a term veto it: "bổ sung", "sung sức", "cây sung", "Sùng A ..." (a H'Mông name)
  for "súng"; "ra Côn Đảo" for "con dao"; "đánh giá", "đánh bạc", "bí danh là" for "(bị) đánh".
* Terms whose bare folded form is mostly another word count alone only where diacritics say so: "dao"
  (dạo này, đạo, đảo), "đánh" (danh tính), "trường" (trưởng thôn), "cổng trường" (công trường: a building
  site), "nam sinh" (năm sinh).  Without diacritics they need context: "con dao", "mang dao", "đánh
  người", "trường học".  ("giao hàng" is safe anyway: "giao" is another word than "dao".)
"""

from __future__ import annotations

import functools
import json
import math
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from tipline.places.textnorm import fold, has_marks, marks, marks_fit, normalize, segment, untelex
from tipline.tips import Category, Urgency

__all__ = [
    "DUPLICATE_THRESHOLD",
    "Assessment",
    "Level",
    "Priority",
    "Reason",
    "TipFacts",
    "assess",
    "assess_priority",
    "find_duplicates",
    "from_json",
    "similarity",
    "spam_signals",
    "to_json",
]

Level = Literal["low", "normal", "high", "urgent"]


@dataclass(frozen=True)
class TipFacts:
    """What triage may know about a tip. There is no field for the sender: only a count of their tips."""

    code: str
    category: Category
    urgency: Urgency
    description: str
    evidence_count: int
    has_location: bool
    commune_code: int | None
    created_at: datetime
    sender_recent_tips: int  # tips the same anonymous sender confirmed in the hour before this one


@dataclass(frozen=True)
class Reason:
    key: str  # stable, for the UI to translate: "urgency_now", "children", "weapon", "too_short" ...
    detail: str = ""  # what triggered it, as typed ("con dao, súng"), or a count ("3")
    points: int = 0  # what it added to the priority score (0 for spam signals)


@dataclass(frozen=True)
class Priority:
    score: int  # 0-100
    level: Level
    reasons: tuple[Reason, ...]  # every reason that added to the score


@dataclass(frozen=True)
class Assessment:
    priority: Priority
    spam: tuple[Reason, ...]
    duplicates: tuple[tuple[str, float], ...]  # (tip code, similarity), best first

    def to_json(self) -> str:
        return to_json(self)

    @staticmethod
    def from_json(text: str) -> Assessment | None:
        return from_json(text)


# --- Reading the text -----------------------------------------------------------------------------------

# onset + vowels + coda, on folded text.  Loose on purpose (it accepts syllables Vietnamese lacks, such
# as "kyo"): it only has to tell words from keyboard mashing ("asdfgh", "qwerty") and from Telex keys.
_SYLLABLE = re.compile(r"(?:ngh|ng|nh|ch|gh|gi|kh|ph|qu|th|tr|[bcdghklmnprstvx])?[aeiouy]{1,3}(?:ch|ng|nh|[cmnpt])?")
# Loanwords and abbreviations that reports use: not syllables, and not Telex ("heroin" is not "heoin").
_KNOWN_WORDS = frozenset(
    "karaoke facebook fb zalo telegram tele tiktok messenger instagram heroin ketamin ketamine mdma "
    "thcs thpt ptth ktx tp tx sdt kg ok online link ship shipper cafe bar vape pod massage hotel game "
    "group taxi grab web website lab camera clip video bks ck atm km hcm bus box max".split()
)
_REAL_DOUBLE_O = re.compile(r"oo(?:ng|c)$")  # "xoong", "soóc": the one "oo" that is not Telex for "ô"
_TELEX_TONES = {"s": "\u0301", "f": "\u0300", "r": "\u0309", "x": "\u0303", "j": "\u0323"}
_DIGITS_OR_LETTERS = re.compile(r"\d+|[^\W\d_]+")


def _telex(word: str) -> tuple[str, str] | None:
    """For a folded word typed in Telex with the input method off ("sungf"), its plain spelling and a
    string carrying the diacritics its keys asked for ("sung" + grave): "sùng", not "súng".  ``None``
    for anything else: real syllables, loanwords."""
    if not word.isalpha() or word in _KNOWN_WORDS or _REAL_DOUBLE_O.search(word):
        return None
    plain = untelex(word)  # None when there was no key to undo
    if plain is None or not _SYLLABLE.fullmatch(plain):
        return None
    accents = ["đ"] if "dd" in word else []
    seen_vowel = False
    for before, c in zip(" " + word, word, strict=False):
        if c == "w":
            accents.append("\u0306" if before == "a" else "\u031b")  # ă, or ơ/ư
        elif seen_vowel and c in _TELEX_TONES:
            accents.append(_TELEX_TONES[c])
        seen_vowel = seen_vowel or c in "aeiouy"
    accents += ["\u0302"] * sum(word.count(double) for double in ("aa", "ee", "oo"))  # â, ê, ô
    return plain, plain + "".join(accents)


@dataclass(frozen=True)
class _Text:
    typed: tuple[str, ...]  # per word: as typed (lowercase), to show in a reason
    folded: tuple[str, ...]  # per word: folded
    words: tuple[str, ...]  # per word: folded, Telex undone ("sungs" -> "sung"): what terms match
    accents: tuple[str, ...]  # per word: something carrying the diacritics the writer meant
    marked: bool  # the writer uses diacritics, so a bare word means the bare word

    @functools.cached_property
    def starts(self) -> dict[str, tuple[int, ...]]:
        """Where each word is: a term is looked for only where its first word stands."""
        found: dict[str, list[int]] = {}
        for i, word in enumerate(self.words):
            found.setdefault(word, []).append(i)
        return {word: tuple(at) for word, at in found.items()}


@functools.lru_cache(maxsize=1024)
def _read(text: str) -> _Text:
    typed: list[str] = []
    folded: list[str] = []
    words: list[str] = []
    accents: list[str] = []
    lettered = marked = 0
    for word in normalize(text).split():
        # "2kg", "15tuoi", "65C": a number and a word typed together are still two words.
        for part in _DIGITS_OR_LETTERS.findall(fold(word)):
            telex = _telex(part)
            typed.append(word)
            folded.append(part)
            words.append(telex[0] if telex else part)
            accents.append(telex[1] if telex else word)
            if part.isalpha():
                lettered += 1
                marked += has_marks(accents[-1])
    # Vietnamese written with diacritics marks about three words in four; 40% leaves room for names and
    # loanwords, while someone adding a few accents to a bare text still counts as writing bare.
    return _Text(tuple(typed), tuple(folded), tuple(words), tuple(accents), marked > 0 and marked >= 0.4 * lettered)


def _same_word(accents: str, canonical: str, text: _Text) -> bool:
    """Whether a word whose folded form equals the canonical one's can be meant as it."""
    if has_marks(accents):
        return marks_fit(accents, canonical)  # a diacritic the term lacks: another word ("sùng", "đạo")
    # A bare word in a text written with diacritics is the bare word ("bổ sung" is not "bổ súng").
    return not (text.marked and has_marks(canonical))


# Function words, pronouns and reporting verbs ("tôi thấy", "xin báo"): every tip has them, so they
# neither make a text meaningful nor two texts alike.  Written with diacritics because folding merges
# some with content words: "chưa"/"chùa" (a pagoda), "đến"/"đen", "tôi"/"tối", "có"/"cỏ" (cannabis).  A
# bare word is taken for the function word; one typed with other diacritics is kept.
def _by_fold(words: str) -> dict[str, list[Counter[str]]]:
    out: dict[str, list[Counter[str]]] = {}
    for word in words.split():
        out.setdefault(fold(word), []).append(marks(word))
    return out


_STOP_WORDS = _by_fold(
    "có ở là và của người thì các những một này kia đó đây rất cũng được bị sẽ đang vào ra lên cho với "
    "tại khi nếu như hay hoặc nữa rồi vậy à ơi nhé ạ thấy biết báo muốn xin tôi anh chị em ông bà cô chú "
    "mình nó họ chúng đến trong ngoài lại không chưa ai gì sao thế nào lúc trên dưới để về kèm mấy đứa "
    "khoảng chừng giờ phía"
)


def _is_stop(text: _Text, i: int) -> bool:
    forms = _STOP_WORDS.get(text.words[i])
    if forms is None:
        return False
    return not has_marks(text.accents[i]) or marks(text.accents[i]) in forms


# --- Words that raise the priority ----------------------------------------------------------------------


@dataclass(frozen=True)
class _Term:
    canonical: tuple[str, ...]  # with diacritics: as typed on a Vietnamese keyboard
    folded: tuple[str, ...]
    marked_only: bool  # its folded form is mostly another word: count it only where diacritics say so


def _terms(*phrases: str) -> tuple[_Term, ...]:
    """Phrases written with diacritics; a leading "!" marks one that counts only where diacritics agree."""
    out = []
    for phrase in phrases:
        words = tuple(phrase.lstrip("!").split())
        out.append(_Term(words, tuple(fold(w) for w in words), phrase.startswith("!")))
    return tuple(out)


def _occurrences(text: _Text, term: _Term) -> Iterator[int]:
    n = len(term.folded)
    for i in text.starts.get(term.folded[0], ()):
        span = range(i, i + n)
        if text.words[i : i + n] != term.folded:
            continue
        if not all(_same_word(text.accents[j], term.canonical[j - i], text) for j in span):
            continue
        if term.marked_only and not (text.marked or any(has_marks(text.accents[j]) for j in span)):
            continue
        yield i


@dataclass(frozen=True)
class _Counted:
    """A number then a unit, the number in [low, high]: "2 ký", "500 viên", "15 tuổi"."""

    unit: _Term
    low: int
    high: int = 10**9


@dataclass(frozen=True)
class _Signal:
    key: str
    points: int
    terms: tuple[_Term, ...]
    false_friends: tuple[_Term, ...] = ()  # phrases that swallow a term and veto it
    counted: tuple[_Counted, ...] = ()
    category: Category | None = None  # a category that already says as much: the words add half
    links: bool = False  # a web address is a match too


def _spans(text: _Text, signal: _Signal) -> list[tuple[int, int]]:
    """Where the signal's terms are, as (start, end) word indexes, minus those a false friend swallows."""
    vetoes = [(j, j + len(f.folded)) for f in signal.false_friends for j in _occurrences(text, f)]
    spans = [
        (i, i + len(term.folded))
        for term in signal.terms
        for i in _occurrences(text, term)
        if not any(a <= i and i + len(term.folded) <= b for a, b in vetoes)
    ]
    for counted in signal.counted:
        for i in _occurrences(text, counted.unit):
            number = text.words[i - 1] if i > 0 else ""
            if number.isdigit() and len(number) < 10 and counted.low <= int(number) <= counted.high:
                spans.append((i - 1, i + 1))
    return spans


def _detail(text: _Text, spans: list[tuple[int, int]], extra: Iterable[str] = ()) -> str:
    shown: list[str] = []
    for start, end in sorted(set(spans)):
        if any(a <= start and end <= b and (a, b) != (start, end) for a, b in spans):
            continue  # "trường" inside "cổng trường": show the longer phrase only
        words = " ".join(dict.fromkeys(text.typed[start:end]))  # "2kg" is two words typed as one
        if words not in shown:
            shown.append(words)
    return ", ".join([*shown, *extra][:3])


URGENCY_POINTS = {Urgency.NOW: 35, Urgency.TODAY: 20, Urgency.ONGOING: 12, Urgency.PAST: 0}
# Supply (making, moving, selling) weighs more than use: it harms more people.
CATEGORY_POINTS = {
    Category.PRODUCTION: 20,
    Category.TRANSPORT: 18,
    Category.TRADING: 15,
    Category.ONLINE: 12,
    Category.VENUE: 12,
    Category.PLANTS: 12,
    Category.DISGUISED: 10,
    Category.USE: 5,
    Category.OTHER: 0,
}
EVIDENCE_POINTS = (5, 8)  # one item, three or more
LOCATION_POINTS = 5
LEVELS: tuple[tuple[int, Level], ...] = ((70, "urgent"), (45, "high"), (20, "normal"), (0, "low"))

_URL = re.compile(r"(?:https?://|www\.)\S+|\b[\w-]+\.(?:com|vn|net|me|org|info)\b\S*", re.IGNORECASE)
# "2 ký", "3 tạ": only after a number ("bà ta" is "she").
_WEIGHTS = tuple(_Counted(unit, 1) for unit in _terms("ký", "kí", "tạ", "tấn"))

_SIGNALS = (
    _Signal(
        "children",
        15,
        _terms(
            "trẻ em", "trẻ con", "trẻ nhỏ", "con nít", "đứa trẻ", "bọn trẻ", "tụi nhỏ", "tụi nhóc", "cháu bé",
            "bé trai", "bé gái", "học sinh", "học trò", "nữ sinh", "!nam sinh", "sinh viên", "thiếu niên",
            "vị thành niên", "chưa thành niên", "!em nhỏ", "!các em",
        ),
        counted=(_Counted(_terms("tuổi")[0], 1, 17),),
    ),
    _Signal(
        "school",
        15,
        _terms(
            "trường học", "!cổng trường", "!trường", "sân trường", "trước trường", "gần trường", "cạnh trường",
            "trường cấp", "mầm non", "nhà trẻ", "tiểu học", "trung học", "thcs", "thpt", "ptth", "đại học",
            "cao đẳng", "ký túc xá", "kí túc xá", "ktx", "lớp học", "tan học", "tan trường",
        ),
        # These share the diacritics of "trường"; "trưởng" (trưởng thôn) does not, so it needs no entry.
        _terms("trường hợp", "thị trường", "môi trường", "hiện trường", "quảng trường", "chiến trường", "lập trường"),
    ),
    _Signal(
        "weapon",
        20,
        _terms(
            "súng", "khẩu súng", "!dao", "con dao", "mang dao", "cầm dao", "rút dao", "vung dao", "dùng dao",
            "giắt dao", "kề dao", "dí dao", "lưỡi dao", "cây dao", "dao găm", "dao phay", "dao bầu", "dao nhọn",
            "dao rựa", "dao kiếm", "mã tấu", "vũ khí", "lựu đạn", "thanh kiếm", "cầm kiếm", "mang kiếm",
            "kiếm nhật", "tuýp sắt", "ống tuýp", "roi điện", "dùi cui", "chất nổ", "kíp nổ", "!bom", "!phóng lợn",
        ),
        _terms(
            "bổ sung", "sung sức", "sung túc", "sung sướng", "sung mãn", "sung huyết", "sung công", "sùng bái",
            "sùng kính", "sùng đạo", "cây sung", "quả sung", "trái sung", "sùng a", "sùng seo", "sùng mí",
            "đặc khu côn đảo", "ra côn đảo", "đi côn đảo", "ở côn đảo", "tại côn đảo", "dao động", "bơm kim",
        ),
    ),
    _Signal(
        "violence",
        15,
        _terms(
            "!đánh", "đánh người", "đánh nhau", "đánh đập", "bị đánh", "đánh chết", "đánh hội đồng", "đánh vợ",
            "đánh con", "chém", "chém nhau", "!đâm", "đâm người", "bị đâm", "đâm chém", "giết", "giết người",
            "hành hung", "xô xát", "ẩu đả", "hỗn chiến", "bạo lực", "đe dọa", "hăm dọa", "dọa", "dọa giết",
            "khủng bố", "truy sát", "bắt cóc", "cướp", "hiếp dâm", "hành hạ", "cưỡng ép", "ép dùng", "ép sử dụng",
        ),
        _terms(
            "đánh giá", "đánh bạc", "đánh bài", "đánh đề", "đánh lô", "đánh dấu", "đánh răng", "đánh thức",
            "đánh rơi", "đánh máy", "đánh cờ", "đánh bóng", "đánh thuế", "bí danh là", "có bí danh", "đâm chồi",
            "đóa hoa",
        ),
    ),
    _Signal(
        "quantity",
        15,
        _terms(
            "kg", "kilo", "kilôgam", "bánh heroin", "bánh hêrôin", "bánh hàng", "bánh ma túy", "số lượng lớn",
            "hàng trăm viên", "hàng nghìn viên", "hàng ngàn viên", "nghìn viên", "ngàn viên", "!hàng tấn", "bao tải",
        ),
        counted=(*_WEIGHTS, _Counted(_terms("viên")[0], 100)),
    ),
    _Signal(
        "production",
        10,
        _terms(
            "nấu đá", "nấu ma túy", "nấu hàng", "sản xuất ma túy", "sản xuất", "điều chế", "tiền chất",
            "hóa chất", "phòng thí nghiệm", "lab", "!xưởng", "xưởng nấu", "chế biến ma túy", "ép viên",
        ),
        category=Category.PRODUCTION,
    ),
    _Signal(
        "cultivation",
        8,
        _terms("trồng cần sa", "cây cần sa", "trồng cỏ", "thuốc phiện", "anh túc", "cây cô ca", "cây coca"),
        category=Category.PLANTS,
    ),
    _Signal(
        "online_sales",
        8,
        _terms(
            "facebook", "fb", "zalo", "telegram", "tiktok", "messenger", "instagram", "nhóm kín", "link",
            "online", "bán qua mạng", "trên mạng", "mạng xã hội", "livestream", "website", "shipper",
            "ship hàng", "ship tận nơi", "giao tận nơi",
        ),
        category=Category.ONLINE,
        links=True,
    ),
)


def assess_priority(facts: TipFacts) -> Priority:
    """Scores how soon a tip should be looked at, 0-100, with every reason that added to the score.

    Urgency and category give the base; words about children, schools, weapons, violence, large
    quantities, making, growing or online dealing add to it, as do evidence and a shared location.
    """
    urgency, category = Urgency(facts.urgency), Category(facts.category)  # also from a plain database string
    reasons = [
        Reason(f"urgency_{urgency.value}", "", URGENCY_POINTS[urgency]),
        Reason("category", category.value, CATEGORY_POINTS[category]),
    ]
    text = _read(facts.description)
    for signal in _SIGNALS:
        spans = _spans(text, signal)
        links = [m.group(0) for m in _URL.finditer(facts.description)] if signal.links else []
        if spans or links:
            points = signal.points // 2 if signal.category == category else signal.points
            reasons.append(Reason(signal.key, _detail(text, spans, links), points))
    if facts.evidence_count > 0:
        points = EVIDENCE_POINTS[1] if facts.evidence_count >= 3 else EVIDENCE_POINTS[0]
        reasons.append(Reason("evidence", str(facts.evidence_count), points))
    if facts.has_location:
        reasons.append(Reason("location", "", LOCATION_POINTS))
    kept = tuple(r for r in reasons if r.points > 0)
    score = min(100, sum(r.points for r in kept))
    return Priority(score, next(level for floor, level in LEVELS if score >= floor), kept)


# --- Spam signals ---------------------------------------------------------------------------------------

MIN_MEANINGFUL_WORDS = 4
REPEATED_SENDER = 3  # tips confirmed in the hour before this one
GIBBERISH_SHARE = 0.5  # below this share of word-like words a text is keyboard mashing

MAX_WORD = 24  # longer than any word, or than a few syllables typed without spaces
_REPEATED_UNIT = re.compile(r"(.{1,3}?)\1{2,}")  # "jkjkjk", "hahaha", "aaaa"


class _Syllables(frozenset[str]):
    """What :func:`segment` needs to split "banmatuy", without a list of every Vietnamese syllable."""

    def __contains__(self, piece: object) -> bool:
        return isinstance(piece, str) and _SYLLABLE.fullmatch(piece) is not None


def _looks_like_a_word(folded: str) -> bool:
    if folded in _KNOWN_WORDS or _telex(folded):
        return True
    if len(folded) > MAX_WORD or _REPEATED_UNIT.fullmatch(folded):
        return False
    # A syllable, or syllables typed without spaces ("banmatuy").
    return _SYLLABLE.fullmatch(folded) is not None or bool(segment(folded, _Syllables(), 7, 1))


def spam_signals(facts: TipFacts) -> tuple[Reason, ...]:
    """Signs that a tip is not a real report, for a moderator to weigh; none of them rejects a tip.

    Profanity is not a signal: angry citizens swear at dealers, and folded swear words collide with
    common words (lớn, các).  Capitals are not one either: older phones and older people type that way.
    """
    links = [m.group(0) for m in _URL.finditer(facts.description)]
    text = _read(_URL.sub(" ", facts.description))
    meaningful = [w for i, w in enumerate(text.words) if not _is_stop(text, i)]
    signals = []
    # A photo, a video or a link can carry a report on its own ("bán đá" + a photo).
    if len(meaningful) < MIN_MEANINGFUL_WORDS and not facts.evidence_count and not links:
        signals.append(Reason("too_short", str(len(meaningful))))
    lettered = [i for i, f in enumerate(text.folded) if f.isalpha()]
    odd = [text.typed[i] for i in lettered if not _looks_like_a_word(text.folded[i])]
    if lettered and len(odd) > (1 - GIBBERISH_SHARE) * len(lettered):
        signals.append(Reason("gibberish", ", ".join(list(dict.fromkeys(odd))[:3])))
    if facts.sender_recent_tips >= REPEATED_SENDER:
        signals.append(Reason("repeated_sender", str(facts.sender_recent_tips)))
    # A bare link is a fine report of a dealer's page, so only outside the "online" category.
    if links and len(meaningful) < MIN_MEANINGFUL_WORDS and facts.category != Category.ONLINE:
        signals.append(Reason("links_only", links[0]))
    return tuple(signals)


# --- Duplicates -----------------------------------------------------------------------------------------

# Tuned on the pairs in tests/test_triage.py: same events told differently scored 0.55 and up, different
# events told with the same words 0.36 and below.
DUPLICATE_THRESHOLD = 0.45
GENERIC_WEIGHT = 0.3  # a word nearly every tip uses
STREET_WEIGHT = 0.5  # a street name: many unrelated tips in one commune share it
NUMBER_WEIGHT = 0.7  # a number alone says little ("5-6 người"); numbers that differ say a lot (below)
NUMBER_MISMATCH = 0.5  # both texts give numbers and none agree: another house, alley, room or plate
BIGRAM_SHARE = 0.4  # how much adjacent word pairs count, against single words
# Words nearly every tip uses: drugs and dealing, people, kinds of places, times of day.  They count a
# little (so "hút cỏ" and "nấu đá" differ), but two tips alike only in these are not one event.
_GENERIC = frozenset(
    "ma tuy da heroin cansa ke mdma thuoc lac bong cuoi nuoc vui dien tu pha hang ban mua buon le si su "
    "dung hut chich tiem kim nghien giao dich ship lay rao chuyen khoan chua chap "
    "con thang dan khach nhom thanh nien tap ten hoc sinh vien tre "
    "nha so hem ngo kiet duong pho phuong xa thon ap to xom khu vuc quan cho sap cong truong tro day "
    "karaoke bar nghi phong thue bay tai facebook fb zalo xe bien "
    "gan canh truoc sau dau cuoi toi dem ngay sang chieu trua hom moi thuong xuyen luon nhieu lam".split()
)
_STREET = frozenset({"duong", "pho"})  # "đường Trần Hưng Đạo": up to three words after it name a street
# Names for the same drug, so "cỏ Mỹ" and "cần sa" agree.  Folded phrase -> one word.
_SYNONYMS: tuple[tuple[tuple[str, ...], str], ...] = tuple(
    (tuple(phrase.split()), canonical)
    for canonical, phrases in {
        "cansa": ("can sa", "co my"),
        "heroin": ("hang trang", "bach phien", "he ro in", "hero"),
        "mdma": ("thuoc lac", "ecstasy"),
        "ke": ("ketamin", "ketamine"),
    }.items()
    for phrase in phrases
)
_CANNABIS = marks("cỏ")  # "cỏ" (weed), not "có" (to have)


@dataclass(frozen=True)
class _Profile:
    words: tuple[str, ...]  # the words that can tell one event from another, in order
    street: frozenset[str]  # those seen only as part of a street name


@functools.lru_cache(maxsize=2048)
def _profile(description: str) -> _Profile:
    text = _read(description)
    words: list[str] = []
    street: set[str] = set()
    elsewhere: set[str] = set()
    in_street = 0  # how many of the next words may still be part of a street name
    i = 0
    while i < len(text.words):
        for phrase, canonical in _SYNONYMS:
            if text.words[i : i + len(phrase)] == phrase:
                word, i = canonical, i + len(phrase)
                break
        else:
            word = text.words[i]
            if word == "co" and marks(text.accents[i]) == _CANNABIS:
                word = "cansa"
            elif _is_stop(text, i):
                word = ""
            i += 1
        if not word:
            in_street = 0
            continue
        words.append(word)
        (street if in_street and word.isalpha() else elsewhere).add(word)
        in_street = 3 if word in _STREET else max(0, in_street - 1)
    return _Profile(tuple(words), frozenset(street - elsewhere))


@functools.lru_cache(maxsize=16384)  # the same pairs of words come back with every tip of a commune
def _one_typo(a: str, b: str) -> bool:
    """One slip of the finger: a letter dropped, added or swapped with its neighbour, or a wrong letter
    in a long word (in a short one it is usually another word: "hung", "hang")."""
    if a == b or min(len(a), len(b)) < 4 or not (a.isalpha() and b.isalpha()):
        return False
    if len(a) == len(b):
        diff = [k for k in range(len(a)) if a[k] != b[k]]
        swapped = len(diff) == 2 and diff[1] == diff[0] + 1 and a[diff[0]] == b[diff[1]] and a[diff[1]] == b[diff[0]]
        return swapped or (len(diff) == 1 and len(a) >= 6)
    short, long_ = sorted((a, b), key=len)
    return len(long_) == len(short) + 1 and any(long_[:k] + long_[k + 1 :] == short for k in range(len(long_)))


@functools.lru_cache(maxsize=2048)
def _typo_targets(other: frozenset[str]) -> dict[int, tuple[str, ...]]:
    """The other text's words that a typo could stand for (letters only, four or more), by length, sorted."""
    by_length: dict[int, list[str]] = {}
    for word in sorted(other):
        if len(word) >= 4 and word.isalpha():
            by_length.setdefault(len(word), []).append(word)
    return {length: tuple(found) for length, found in by_length.items()}


def _align(words: tuple[str, ...], other: frozenset[str]) -> list[str]:
    """Spells words as the other text does where they differ by one typo or by missing spaces."""
    out: list[str] = []
    targets = _typo_targets(other)
    for word in words:
        if word in other or not word.isalpha():
            out.append(word)
        elif len(word) >= 5 and (split := segment(word, other, max_piece=8, limit=1)):
            out.extend(split[0])  # "xuankhanh" -> "xuan khanh"
        else:
            # Only words one letter longer, shorter or as long can be one typo away: the first of them in
            # alphabetical order that is, as when every word of the other text was tried in that order.
            n = len(word)
            near = sorted(targets.get(n - 1, ()) + targets.get(n, ()) + targets.get(n + 1, ())) if n >= 4 else []
            out.append(next((w for w in near if _one_typo(word, w)), word))
    return out


def _cosine(a: dict[str, float], b: dict[str, float]) -> float:
    shared = sum(weight * b[key] for key, weight in a.items() if key in b)
    norm = math.sqrt(sum(w * w for w in a.values()) * sum(w * w for w in b.values()))
    return shared / norm if norm else 0.0


def similarity(a_description: str, b_description: str) -> float:
    """How alike two descriptions are, 0-1 (symmetric), after folding, dropping stop words, undoing
    Telex, merging drug names and fixing one-letter typos.

    Single words (order-free, so a story retold in another order still matches) and adjacent word pairs
    (names and addresses: "Hoàng Gia", "hẻm 51") are compared by weighted cosine.  Words every tip uses
    and street names weigh little; two texts that both give numbers but share none are taken to be about
    different places.
    """
    pa, pb = _profile(a_description), _profile(b_description)
    if not pa.words or not pb.words:
        return 0.0
    words_a, words_b = _align(pa.words, frozenset(pb.words)), _align(pb.words, frozenset(pa.words))
    street = pa.street | pb.street

    def weight(word: str) -> float:
        if word.isdigit():
            return NUMBER_WEIGHT
        return GENERIC_WEIGHT if word in _GENERIC else STREET_WEIGHT if word in street else 1.0

    def bags(words: list[str]) -> tuple[dict[str, float], dict[str, float]]:
        single = {w: weight(w) for w in words}
        pairs = {f"{a} {b}": math.sqrt(single[a] * single[b]) for a, b in zip(words, words[1:], strict=False)}
        return single, pairs

    (single_a, pairs_a), (single_b, pairs_b) = bags(words_a), bags(words_b)
    score = (1 - BIGRAM_SHARE) * _cosine(single_a, single_b) + BIGRAM_SHARE * _cosine(pairs_a, pairs_b)
    numbers_a = {w for w in words_a if w.isdigit()}
    numbers_b = {w for w in words_b if w.isdigit()}
    if numbers_a and numbers_b and not numbers_a & numbers_b:
        score *= NUMBER_MISMATCH
    return round(min(1.0, score), 3)


def find_duplicates(
    facts: TipFacts,
    candidates: Iterable[TipFacts],
    *,
    window: timedelta = timedelta(days=30),
    threshold: float = DUPLICATE_THRESHOLD,
) -> list[tuple[str, float]]:
    """(code, similarity) of tips that may tell the same event, best first.

    Only tips in the same known commune, created within ``window`` before or after this one, are
    compared: a tip without a commune cannot be placed, and the same words about another commune are
    another event.
    """
    if facts.commune_code is None:
        return []
    found = []
    for other in candidates:
        if other.code == facts.code or other.commune_code != facts.commune_code:
            continue
        if abs(other.created_at - facts.created_at) > window:
            continue
        score = similarity(facts.description, other.description)
        if score >= threshold:
            found.append((other.code, score))
    return sorted(found, key=lambda pair: (-pair[1], pair[0]))


# --- The bundle, and how it is stored -------------------------------------------------------------------

SCHEMA_VERSION = 1


def assess(
    facts: TipFacts,
    candidates: Iterable[TipFacts] = (),
    *,
    window: timedelta = timedelta(days=30),
    threshold: float = DUPLICATE_THRESHOLD,
) -> Assessment:
    """Everything triage says about a tip: its priority, spam signals and duplicate candidates."""
    duplicates = find_duplicates(facts, candidates, window=window, threshold=threshold)
    return Assessment(assess_priority(facts), spam_signals(facts), tuple(duplicates))


def _reason_json(reason: Reason) -> dict[str, Any]:
    return {"key": reason.key, "detail": reason.detail, "points": reason.points}


def _reason(data: dict[str, Any]) -> Reason:
    return Reason(str(data["key"]), str(data.get("detail", "")), int(data.get("points", 0)))


def to_json(assessment: Assessment) -> str:
    """The assessment as JSON for the ``tips.triage`` column.  Keys are stable; new ones may be added."""
    priority = assessment.priority
    return json.dumps(
        {
            "version": SCHEMA_VERSION,
            "priority": {
                "score": priority.score,
                "level": priority.level,
                "reasons": [_reason_json(r) for r in priority.reasons],
            },
            "spam": [_reason_json(r) for r in assessment.spam],
            "duplicates": [{"code": code, "score": score} for code, score in assessment.duplicates],
        },
        ensure_ascii=False,
        sort_keys=True,
        separators=(",", ":"),
    )


def from_json(text: str) -> Assessment | None:
    """Reads what :func:`to_json` wrote; ``None`` for the column's default ``'{}'`` (not assessed yet).

    Unknown keys are ignored, so an older reader survives a newer writer.
    """
    data = json.loads(text) if text.strip() else {}
    if not data:
        return None
    priority = data["priority"]
    level = priority["level"]
    if level not in {name for _, name in LEVELS}:
        raise ValueError(f"unknown priority level {level!r}")
    return Assessment(
        Priority(int(priority["score"]), level, tuple(_reason(r) for r in priority["reasons"])),
        tuple(_reason(r) for r in data.get("spam", ())),
        tuple((str(d["code"]), float(d["score"])) for d in data.get("duplicates", ())),
    )
