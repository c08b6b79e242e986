"""The prevention library: its content rules (facts, wording, numbers) and its search."""

from __future__ import annotations

import re

import pytest

from tipline.outreach import library as lib
from tipline.outreach.library import BODY_MAX_CHARS, LANGUAGES, TOPICS, Entry, load

ALLOWED_NUMBERS = {"111", "113", "115"}
C04 = "0769.04.04.04"


def texts(entry: Entry) -> list[str]:
    """Everything a citizen can read in an entry (keywords are search aids, but shown nowhere)."""
    return [entry.title, entry.body, entry.source]


def all_texts(lang: str) -> list[str]:
    library = load(lang)
    return [topic.title for topic in library.topics()] + [t for e in library.all_entries() for t in texts(e)]


def sentences(text: str) -> list[str]:
    return [s.strip() for s in re.split(r"(?<=[.!?])\s+|\n", text) if s.strip()]


# --- loading and shape -----------------------------------------------------------------------------


@pytest.mark.parametrize("lang", LANGUAGES)
def test_each_locale_loads_with_every_topic_filled(lang: str) -> None:
    library = load(lang)
    assert [topic.id for topic in library.topics()] == list(TOPICS)
    assert all(topic.title for topic in library.topics())
    for topic in TOPICS:
        assert len(library.entries(topic)) >= 3, topic
    assert len(library.all_entries()) >= 20


def test_vi_and_en_are_parallel() -> None:
    vi, en = load("vi"), load("en")
    assert [e.id for e in vi.all_entries()] == [e.id for e in en.all_entries()]
    for entry in vi.all_entries():
        other = en.get(entry.id)
        assert other is not None
        assert (other.topic, other.audience) == (entry.topic, entry.audience), entry.id


@pytest.mark.parametrize("lang", LANGUAGES)
def test_bodies_fit_a_phone_screen_and_every_fact_has_a_source(lang: str) -> None:
    for entry in load(lang).all_entries():
        assert 0 < len(entry.body) <= BODY_MAX_CHARS, entry.id
        assert entry.source.strip(), entry.id
        assert entry.keywords, entry.id
        assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)+", entry.id), entry.id


def test_unknown_language_falls_back_to_vietnamese_and_tags_are_understood() -> None:
    assert load("fr") is load("vi")
    assert load("") is load("vi")
    assert load("vi-VN") is load("vi")
    assert load("en_US") is load("en")


def test_browsing_by_topic_audience_and_id() -> None:
    library = load("vi")
    parents = library.entries("family", audience="parent")
    assert {e.id for e in parents} >= {"family-worried", "family-children"}
    pupils = library.entries("family", audience="pupil")
    assert "family-children" not in {e.id for e in pupils}  # tagged parent/teacher only
    assert all("pupil" in e.audience or "general" in e.audience for e in pupils)
    assert library.entries("no-such-topic") == []
    assert library.get("no-such-entry") is None
    entry = library.get("disguised-laughing-gas")
    assert entry is not None and entry.topic == "disguised"
    assert library.topic("hotlines") is not None and library.topic("nope") is None


def test_a_bad_edit_is_refused_at_load_time() -> None:
    good = {
        "id": "x-y",
        "topic": "harms",
        "title": "t",
        "body": "b",
        "audience": ["general"],
        "keywords": ["k"],
        "source": "s",
    }
    topics = {topic: topic for topic in TOPICS}
    assert lib._build("vi", {"topics": topics, "entry": [good]}).get("x-y") is not None
    for broken in (
        {**good, "body": "x" * (BODY_MAX_CHARS + 1)},
        {**good, "source": " "},
        {**good, "topic": "weather"},
        {**good, "audience": ["everyone"]},
    ):
        with pytest.raises(ValueError):
            lib._build("vi", {"topics": topics, "entry": [broken]})
    with pytest.raises(ValueError, match="duplicate"):
        lib._build("vi", {"topics": topics, "entry": [good, good]})


# --- wording rules ---------------------------------------------------------------------------------


FORBIDDEN_WORDS = {
    "vi": ("bấm", "nhấn", "nút", "bot", "bạn hãy"),
    "en": ("press", "button", "tap", "click", "bot"),
}


@pytest.mark.parametrize("lang", LANGUAGES)
def test_texts_never_say_press_or_button_or_bot(lang: str) -> None:
    for text in all_texts(lang):
        for word in FORBIDDEN_WORDS[lang]:
            assert not re.search(rf"(?<!\w){word}(?!\w)", text.lower()), (word, text)


def test_the_vietnamese_has_its_diacritics() -> None:
    for entry in load("vi").all_entries():
        letters = [c for c in entry.body if c.isalpha()]
        marked = [c for c in letters if c.lower() not in "abcdefghijklmnopqrstuvwxyz"]
        assert len(marked) > len(letters) // 5, entry.id


NEGATION = {"vi": re.compile(r"\bkhông\b"), "en": re.compile(r"\bnot\b|\bno\b")}
LAUGHING_GAS = {"vi": re.compile(r"bóng cười|khí cười|n2o"), "en": re.compile(r"laughing gas|bóng cười|n2o")}
DRUG = {"vi": re.compile(r"ma túy"), "en": re.compile(r"\bdrugs?\b|narcotic")}


def laughing_gas_called_a_drug(lang: str, text: str) -> list[str]:
    """Sentences naming laughing gas and drugs together without a negation (questions excepted)."""
    found = []
    for sentence in sentences(text.lower()):
        if LAUGHING_GAS[lang].search(sentence) and DRUG[lang].search(sentence):
            if not NEGATION[lang].search(sentence) and not sentence.endswith("?"):
                found.append(sentence)
    return found


@pytest.mark.parametrize("lang", LANGUAGES)
def test_laughing_gas_is_never_called_a_drug(lang: str) -> None:
    for text in all_texts(lang):
        assert laughing_gas_called_a_drug(lang, text) == [], text
        assert not re.search(r"bóng cười (cũng )?là (một loại )?(chất )?ma túy", text.lower())
        assert not re.search(r"thuốc lá điện tử (cũng )?là (một loại )?(chất )?ma túy", text.lower())
    # the check itself catches the mistake it exists for
    assert laughing_gas_called_a_drug("vi", "Bóng cười là ma túy nguy hiểm.")
    assert laughing_gas_called_a_drug("en", "Laughing gas is a dangerous drug.")
    assert not laughing_gas_called_a_drug("vi", "Khí N2O không có trong danh mục chất ma túy.")


def test_the_library_says_what_it_must() -> None:
    vi = load("vi")
    laughing = vi.get("disguised-laughing-gas")
    vape = vi.get("disguised-vape")
    assert laughing is not None and "gây nghiện" in laughing.body and "không có tên trong" in laughing.body
    assert vape is not None and "2025" in vape.body and "không được xếp vào loại ma túy" in vape.body
    for entry_id in ("hotlines-c04", "hotlines-what-to-report", "hotlines-numbers"):
        entry = vi.get(entry_id)
        assert entry is not None and "tội phạm và tệ nạn ma túy" in entry.body, entry_id
    for entry_id in ("treatment-voluntary", "treatment-methadone", "family-worried", "law-drug-use"):
        entry = vi.get(entry_id)
        assert entry is not None and "Trạm y tế hoặc Công an xã, phường nơi bạn ở" in entry.body, entry_id
    numbers = vi.get("hotlines-numbers")
    assert numbers is not None and all(n in numbers.body for n in ("113", "115", "111", C04))
    anonymity = vi.get("hotlines-how-reporting-works")
    assert anonymity is not None and "ứng dụng nhắn tin" in anonymity.body
    rewards = vi.get("hotlines-rewards-protection")
    assert rewards is not None and "XXXIV" in rewards.body and "trực tiếp" in rewards.body
    law = vi.get("law-penal-code")
    assert law is not None and "XX" in law.body and "86/2025/QH15" in law.body
    new_law = vi.get("law-drug-law-2025")
    assert new_law is not None and "120/2025/QH15" in new_law.body and "1/7/2026" in new_law.body


# --- phone numbers ---------------------------------------------------------------------------------

LONG_NUMBER = re.compile(r"(?<![\w/])\d(?:[.\s-]?\d){6,}(?![\w/])")
SHORT_NUMBER = re.compile(r"(?<![\w/.,-])1\d\d(?![\w/,%-]|[.,]\d)")
ARTICLE_BEFORE = re.compile(r"(điều|article|articles)\s+$", re.IGNORECASE)
PREMIUM = re.compile(r"(?<!\d)1[89]00(?!\d)")


def unexpected_numbers(text: str) -> list[str]:
    """Phone-like numbers in *text* other than 113, 115, 111 and 0769.04.04.04 (article numbers are not phones)."""
    found = [m.group() for m in LONG_NUMBER.finditer(text) if re.sub(r"\D", "", m.group()) != C04.replace(".", "")]
    for m in SHORT_NUMBER.finditer(text):
        if m.group() not in ALLOWED_NUMBERS and not ARTICLE_BEFORE.search(text[: m.start()]):
            found.append(m.group())
    found += PREMIUM.findall(text)
    return found


@pytest.mark.parametrize("lang", LANGUAGES)
def test_only_the_four_real_numbers_appear(lang: str) -> None:
    library = load(lang)
    for entry in library.all_entries():
        for text in [*texts(entry), *entry.keywords]:
            assert unexpected_numbers(text) == [], (entry.id, text)
    assert unexpected_numbers("Gọi 1900 1234 hoặc 0912 345 678, hay 114.") == [
        "1900 1234",
        "0912 345 678",
        "114",
        "1900",
    ]
    assert unexpected_numbers("điều 144, 26/6, 24/7, 51.000 người, 113, 0769.04.04.04, Kết luận 132-KL/TW") == []


# --- search ----------------------------------------------------------------------------------------

QUESTIONS = [
    # bóng cười, with and without diacritics, a typo, Telex keystrokes, no space
    ("vi", "bóng cười có phải ma túy không", "disguised-laughing-gas"),
    ("vi", "bong cuoi co phai ma tuy khong", "disguised-laughing-gas"),
    ("vi", "khí cười N2O có hại không", "disguised-laughing-gas"),
    ("vi", "bong cuoj", "disguised-laughing-gas"),
    ("vi", "bonsg cuwowif", "disguised-laughing-gas"),
    ("vi", "bongcuoi", "disguised-laughing-gas"),
    ("vi", "có người bị ngất sau khi hít bóng cười", "disguised-laughing-gas"),
    ("vi", "thuốc lá điện tử có phải ma túy không", "disguised-vape"),
    ("vi", "vape co bi cam khong", "disguised-vape"),
    ("vi", "tinh dau vape co ma tuy", "disguised-vape"),
    ("vi", "nuoc vui la gi", "disguised-happy-water"),
    ("vi", "kẹo cần sa", "disguised-gummies"),
    ("vi", "keo can xa", "disguised-gummies"),
    ("vi", "tem giay LSD", "disguised-paper-stamps"),
    ("vi", "hình dán hoạt hình", "disguised-paper-stamps"),
    ("vi", "mua ma tuy tren mang facebook", "disguised-online"),
    ("vi", "ma tuy tra hinh la gi", "disguised-overview"),
    ("vi", "bị rủ thử ma túy", "harms-say-no"),
    ("vi", "tac hai cua ma tuy", "harms-what-drugs-do"),
    ("vi", "ma túy ảnh hưởng gia đình", "harms-family-society"),
    ("vi", "co giat bat tinh", "harms-emergency"),
    ("vi", "cai nghiện tự nguyện ở đâu", "treatment-voluntary"),
    ("vi", "cai nghien tai nha", "treatment-voluntary"),
    ("vi", "cai nghiejn", "treatment-voluntary"),
    ("vi", "metadon", "treatment-methadone"),
    ("vi", "methadon dieu tri o dau", "treatment-methadone"),
    ("vi", "dang dieu tri thay kho giu", "treatment-keep-going"),
    ("vi", "sử dụng ma túy có bị đi tù không", "law-drug-use"),
    ("vi", "dieu 256a", "law-drug-use"),
    ("vi", "bộ luật hình sự tội mua bán ma túy", "law-penal-code"),
    ("vi", "tu hinh van chuyen ma tuy", "law-penal-code"),
    ("vi", "luật phòng chống ma túy 2025", "law-drug-law-2025"),
    ("vi", "chong toi nghien ma tuy", "family-worried"),
    ("vi", "nói chuyện với con về ma túy", "family-children"),
    ("vi", "tháng hành động phòng chống ma túy", "family-community"),
    ("vi", "goi so nao khi khan cap", "hotlines-numbers"),
    ("vi", "so dien thoai bao ve tre em", "hotlines-numbers"),
    ("vi", "0769.04.04.04", "hotlines-c04"),
    ("vi", "nhan tin zalo cho cong an", "hotlines-c04"),
    ("vi", "tu diem su dung ma tuy", "hotlines-what-to-report"),
    ("vi", "bao tin co bi lo danh tinh khong", "hotlines-how-reporting-works"),
    ("vi", "ai doc tin bao cua toi", "hotlines-how-reporting-works"),
    ("vi", "muốn được khen thưởng", "hotlines-rewards-protection"),
    ("vi", "bảo vệ người tố giác", "hotlines-rewards-protection"),
    ("en", "is laughing gas a drug", "disguised-laughing-gas"),
    ("en", "are vapes illegal", "disguised-vape"),
    ("en", "happy water", "disguised-happy-water"),
    ("en", "cannabis gummies", "disguised-gummies"),
    ("en", "where can I get methadone", "treatment-methadone"),
    ("en", "metadone", "treatment-methadone"),
    ("en", "is my report anonymous", "hotlines-how-reporting-works"),
    ("en", "anonimous", "hotlines-how-reporting-works"),
    ("en", "reward for reporting", "hotlines-rewards-protection"),
    ("en", "what should I report", "hotlines-what-to-report"),
    ("en", "penal code drug crimes", "law-penal-code"),
    ("en", "talk to my child about drugs", "family-children"),
]


@pytest.mark.parametrize(("lang", "query", "expected"), QUESTIONS)
def test_a_real_question_finds_its_entry_first(lang: str, query: str, expected: str) -> None:
    result = load(lang).search(query)
    assert result.entries, query
    assert result.entries[0].id == expected, [(h.entry.id, h.score) for h in result.hits]
    assert len(result.hits) <= 3


def test_the_question_table_covers_every_topic() -> None:
    assert len([q for q in QUESTIONS if q[0] == "vi"]) >= 25
    topics = {load(lang).get(expected).topic for lang, _q, expected in QUESTIONS}  # type: ignore[union-attr]
    assert topics == set(TOPICS)


def test_diacritics_do_not_change_the_answer() -> None:
    vi = load("vi")
    with_marks = vi.search("bóng cười có phải ma túy không")
    without = vi.search("bong cuoi co phai ma tuy khong")
    assert with_marks.entries == without.entries
    assert with_marks.confident and without.confident
    assert [h.score for h in with_marks.hits] == [h.score for h in without.hits]


@pytest.mark.parametrize(
    ("lang", "query"),
    [
        ("vi", "thời tiết hôm nay"),
        ("vi", "thoi tiet hom nay"),
        ("vi", "giá vàng hôm nay"),
        ("vi", "xin chào"),
        ("en", "weather today"),
        ("en", "hello"),
    ],
)
def test_an_unrelated_question_is_not_answered_with_confidence(lang: str, query: str) -> None:
    result = load(lang).search(query)
    assert result.confident is False
    assert len(result.hits) <= 3  # the closest entries, possibly none: the caller adds topics and the hotline


def test_empty_or_stopword_queries_and_limits() -> None:
    vi = load("vi")
    for query in ("", "   ", "?!", "là gì vậy"):
        result = vi.search(query)
        assert result.hits == () and result.confident is False
    assert len(vi.search("ma túy", limit=5).hits) == 5
    assert vi.search("bóng cười", limit=0).hits == ()
    only = vi.search("bóng cười", limit=1)
    assert only.entries[0].id == "disguised-laughing-gas" and only.topic_ids == ["disguised"]


def test_typo_tolerance_does_not_invent_matches() -> None:
    assert lib._near("tiet", frozenset({"viet", "tien"})) == {"tien": lib._Q_TYPO_SHORT}
    assert lib._near("cuoj", frozenset({"cuoi"})) == {"cuoi": lib._Q_TYPO_SHORT}
    assert lib._near("metadone", frozenset({"methadone"})) == {"methadone": lib._Q_TYPO_1}
    assert lib._near("abc", frozenset({"abd"})) == {}
    assert lib._distance("nghein", "nghien", 2) == 1  # swapped letters count once


def test_multi_word_keywords_count_as_phrases() -> None:
    vi = load("vi")
    in_order = vi.search("bong cuoi").hits[0]
    reversed_words = vi.search("cuoi bong").hits[0]
    assert in_order.entry.id == reversed_words.entry.id == "disguised-laughing-gas"
    assert in_order.score > reversed_words.score
    # "lá" folds to "la", a stop word ("là"); inside the phrase it still counts
    assert vi.search("thuoc la dien tu").hits[0].score > vi.search("thuoc dien tu").hits[0].score


def test_rare_words_outweigh_words_every_entry_shares() -> None:
    assert load("vi").search("ma túy methadone").entries[0].id == "treatment-methadone"
    assert load("en").search("drugs methadone").entries[0].id == "treatment-methadone"


def test_telex_keystrokes_left_in_are_undone() -> None:
    vi = load("vi")
    typed = vi.search("keoj caafn sa")  # "kẹo cần sa" with the input method off
    assert typed.entries[0].id == "disguised-gummies" and typed.confident
    assert vi.search("nuwowcs vui").entries[0].id == "disguised-happy-water"
