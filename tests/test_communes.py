"""Administrative directory and commune search (tipline.places.communes, tipline.places.textnorm)."""

from __future__ import annotations

import dataclasses
import time
import unicodedata

import pytest

from tipline.places.communes import KINDS, Commune, CommuneMatch, Province, directory
from tipline.places.textnorm import fold, has_marks, marks_fit, normalize, segment, tokens, untelex

HA_NOI, NGHE_AN, HUE, QUANG_NGAI, DAK_LAK, LAM_DONG = 1, 40, 46, 51, 66, 68
HCM, DONG_NAI, AN_GIANG, CAN_THO, TUYEN_QUANG = 79, 75, 91, 92, 8
THANH_HOA, LANG_SON, DIEN_BIEN, KHANH_HOA, VINH_LONG = 38, 20, 11, 56, 86


@pytest.fixture(scope="module")
def d():
    return directory()


# --------------------------------------------------------------------- fold


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Phường Hoàn Kiếm", "phuong hoan kiem"),
        ("đường Đồng Khởi", "duong dong khoi"),
        ("ĐẶC KHU CÔN ĐẢO", "dac khu con dao"),
        ("Ðà Nẵng", "da nang"),  # U+00D0 eth, a common stand-in for Đ
        (unicodedata.normalize("NFD", "Hoàn Kiếm"), "hoan kiem"),
        ("Hoa\u0300n Kie\u0302\u0301m", "hoan kiem"),  # hand-decomposed, marks in another order
        ("P. Hoàn Kiếm, TP.HCM!!", "p hoan kiem tp hcm"),
        ("Văn Miếu - Quốc Tử Giám", "van mieu quoc tu giam"),
        ("Chân Mây – Lăng Cô", "chan may lang co"),  # en dash
        ("  nhiều \t  khoảng\n trắng ", "nhieu khoang trang"),
        ("Cư M’gar", "cu mgar"),  # apostrophes join, they sit inside names
        ("Ea H'leo", "ea hleo"),
        ("Hoàn\u200bKiếm", "hoankiem"),  # zero-width space from copy-paste
        ("snake_case/slash", "snake case slash"),
        ("Phường 1 Bảo Lộc", "phuong 1 bao loc"),
        ("ＨＯＡＮ　ＫＩＥＭ １", "hoan kiem 1"),  # full-width input
        ("", ""),
        ("?!...", ""),
    ],
)
def test_fold(text, expected):
    assert fold(text) == expected


def test_fold_nfc_and_nfd_agree_on_every_name(d):
    for c in d.communes_in(HA_NOI) + d.communes_in(DAK_LAK):
        assert fold(unicodedata.normalize("NFD", c.name)) == fold(c.name)
        assert fold(c.name).isascii()


def test_tokens_normalize_and_marks():
    assert tokens("Xã  Tân-Phú") == ["xa", "tan", "phu"]
    assert tokens("...") == []
    assert normalize(" P. Hoàn  KIẾM ") == "p hoàn kiếm"
    assert normalize(unicodedata.normalize("NFD", "Kiếm")) == "kiếm"
    assert has_marks("đi") and has_marks("Hoàn") and not has_marks("hoan kiem")
    assert marks_fit("kiêm", "kiếm")  # some marks missing is fine
    assert marks_fit("hoà", "hòa")  # old vs new tone placement
    assert not marks_fit("vĩnh", "vinh")  # a mark the name lacks
    assert not marks_fit("đình", "dinh")


@pytest.mark.parametrize(
    ("typed", "plain"),
    [("hoanf", "hoan"), ("kieems", "kiem"), ("truwowngf", "truong"), ("ddaf", "da"), ("hoa2n", "hoan"), ("d9a", "da")],
)
def test_untelex(typed, plain):
    assert untelex(typed) == plain


def test_untelex_leaves_plain_words_and_numbers():
    assert untelex("hoan") is None
    assert untelex("1") is None


def test_segment_returns_every_minimal_split():
    vocab = {"hoan", "kiem", "long", "hiep", "lo", "nghiep"}
    assert segment("hoankiem", vocab) == [["hoan", "kiem"]]
    assert sorted(segment("longhiep", vocab)) == [["lo", "nghiep"], ["long", "hiep"]]
    assert segment("hoan", vocab) == []
    assert segment("xyz", vocab) == []


# ---------------------------------------------------------------- directory


def test_counts(d):
    assert len(d.provinces()) == 34
    assert sum(len(d.communes_in(p.code)) for p in d.provinces()) == 3321
    assert len(d.communes_in(CAN_THO)) == 103
    assert len(d.communes_in(TUYEN_QUANG)) == 124
    assert len(d.communes_in(NGHE_AN)) == 130


def test_codes_unique_and_every_commune_has_a_province(d):
    communes = [c for p in d.provinces() for c in d.communes_in(p.code)]
    assert len({c.code for c in communes}) == len(communes) == 3321
    assert len({p.code for p in d.provinces()}) == 34
    for c in communes:
        assert d.province(c.province_code) is not None
        assert d.commune(c.code) is c
        assert c.kind in KINDS
        assert c.name == f"{c.kind[0].upper()}{c.kind[1:]} {c.short_name}"


def test_kind_counts(d):
    kinds = [c.kind for p in d.provinces() for c in d.communes_in(p.code)]
    assert (kinds.count("xã"), kinds.count("phường"), kinds.count("đặc khu")) == (2621, 687, 13)


def test_provinces_in_code_order_with_short_names(d):
    provinces = d.provinces()
    assert [p.code for p in provinces] == sorted(p.code for p in provinces)
    assert provinces[0] == Province(1, "Thành phố Hà Nội", "Hà Nội")
    assert provinces[-1].short_name == "Cà Mau"
    assert d.province(HUE).short_name == "Huế"
    assert d.province(HCM).short_name == "Hồ Chí Minh"
    assert d.province(NGHE_AN).short_name == d.province(NGHE_AN).name == "Nghệ An"


def test_lookups_of_unknown_codes_return_none(d):
    assert d.province(0) is None
    assert d.province(999) is None
    assert d.commune(-1) is None
    assert d.commune(99999999) is None
    assert d.communes_in(999) == []


def test_known_commune(d):
    c = d.commune(70)
    assert c == Commune(70, "Phường Hoàn Kiếm", "Hoàn Kiếm", "phường", HA_NOI)


def test_directory_is_cached_and_values_frozen(d):
    assert directory() is d
    with pytest.raises(dataclasses.FrozenInstanceError):
        d.commune(70).name = "x"  # type: ignore[misc]
    # callers may mutate the lists they get without corrupting the directory
    d.provinces().clear()
    assert len(d.provinces()) == 34


# ------------------------------------------------------------------- search

NFD_HOAN_KIEM = unicodedata.normalize("NFD", "Hoàn Kiếm")

# (query, province restriction, expected top result name, its province)
SEARCH_TABLE = [
    # Hoàn Kiếm in every way a citizen might type it
    ("phuong hoan kiem", None, "Phường Hoàn Kiếm", HA_NOI),
    ("hoan kiem", None, "Phường Hoàn Kiếm", HA_NOI),
    ("Hoàn Kiếm", None, "Phường Hoàn Kiếm", HA_NOI),
    ("P. Hoàn Kiếm", None, "Phường Hoàn Kiếm", HA_NOI),
    ("hoàn kiêm", None, "Phường Hoàn Kiếm", HA_NOI),  # partial diacritics
    ("hoan kim", None, "Phường Hoàn Kiếm", HA_NOI),  # typo
    ("HOAN KIEM", None, "Phường Hoàn Kiếm", HA_NOI),
    (NFD_HOAN_KIEM, None, "Phường Hoàn Kiếm", HA_NOI),
    ("hoankiem", None, "Phường Hoàn Kiếm", HA_NOI),  # no space
    ("phuonghoankiem", None, "Phường Hoàn Kiếm", HA_NOI),
    ("hoanf kieems", None, "Phường Hoàn Kiếm", HA_NOI),  # Telex with the IME off
    ("hoa2n kie61m", None, "Phường Hoàn Kiếm", HA_NOI),  # VNI with the IME off
    ("haon kiem", None, "Phường Hoàn Kiếm", HA_NOI),  # swapped letters
    ("hoan kiem ha noi", None, "Phường Hoàn Kiếm", HA_NOI),
    ("hoan kiem", HA_NOI, "Phường Hoàn Kiếm", HA_NOI),
    # Ba Đình: a phường in Hà Nội, a xã in Thanh Hóa; type word or province decides
    ("Phường Ba Đình", None, "Phường Ba Đình", HA_NOI),
    ("xã ba đình", None, "Xã Ba Đình", THANH_HOA),
    ("ba dinh", HA_NOI, "Phường Ba Đình", HA_NOI),
    ("ba dinh", THANH_HOA, "Xã Ba Đình", THANH_HOA),
    ("ba dinh thanh hoa", None, "Xã Ba Đình", THANH_HOA),
    # Cần Thơ
    ("ninh kieu", None, "Phường Ninh Kiều", CAN_THO),
    ("Ninh Kiều", CAN_THO, "Phường Ninh Kiều", CAN_THO),
    ("ninh kiu", None, "Phường Ninh Kiều", CAN_THO),
    ("ninh kieu can tho", None, "Phường Ninh Kiều", CAN_THO),
    ("cai rang", None, "Phường Cái Răng", CAN_THO),
    ("p cai rang", None, "Phường Cái Răng", CAN_THO),
    ("cái răng, tp. cần thơ", None, "Phường Cái Răng", CAN_THO),
    ("cai ran", CAN_THO, "Phường Cái Răng", CAN_THO),  # still typing
    # Hồ Chí Minh
    ("ben thanh", None, "Phường Bến Thành", HCM),
    ("bến thành", None, "Phường Bến Thành", HCM),
    ("ben thanh hcm", None, "Phường Bến Thành", HCM),
    ("bến thành, tp hcm", None, "Phường Bến Thành", HCM),
    ("benthanh", None, "Phường Bến Thành", HCM),
    ("ben tanh", None, "Phường Bến Thành", HCM),
    ("sai gon", None, "Phường Sài Gòn", HCM),
    # đặc khu
    ("con dao", None, "Đặc khu Côn Đảo", HCM),
    ("dac khu con dao", None, "Đặc khu Côn Đảo", HCM),
    ("Đặc khu Côn Đảo", None, "Đặc khu Côn Đảo", HCM),
    ("phu quoc", None, "Đặc khu Phú Quốc", AN_GIANG),
    ("dk phu quoc", None, "Đặc khu Phú Quốc", AN_GIANG),
    ("Phú Quốc", AN_GIANG, "Đặc khu Phú Quốc", AN_GIANG),
    ("phu quoc kien giang", None, "Đặc khu Phú Quốc", AN_GIANG),  # former province name
    ("truong sa", None, "Đặc khu Trường Sa", KHANH_HOA),
    # ambiguous names with a province
    ("tan phu", DONG_NAI, "Xã Tân Phú", DONG_NAI),
    ("tan phu dong nai", None, "Xã Tân Phú", DONG_NAI),
    ("an phu", HCM, "Phường An Phú", HCM),
    ("phuong an phu hcm", None, "Phường An Phú", HCM),
    ("quan son thanh hoa", None, "Xã Quan Sơn", THANH_HOA),
    ("quan son", LANG_SON, "Xã Quan Sơn", LANG_SON),
    # names that start like a type word
    ("phuong liet", None, "Phường Phương Liệt", HA_NOI),
    ("phường phương liệt", None, "Phường Phương Liệt", HA_NOI),
    ("xa dung", None, "Xã Xa Dung", DIEN_BIEN),
    # punctuation, numbers and minority-language names
    ("van mieu quoc tu giam", None, "Phường Văn Miếu - Quốc Tử Giám", HA_NOI),
    ("phuong 1 bao loc", None, "Phường 1 Bảo Lộc", LAM_DONG),
    ("cu mgar", None, "Xã Cư M’gar", DAK_LAK),
    ("Cư M'gar", None, "Xã Cư M’gar", DAK_LAK),
    ("longhiep", None, "Xã Long Hiệp", VINH_LONG),  # "lo nghiep" is also a valid split
]


@pytest.mark.parametrize(("query", "province", "name", "province_code"), SEARCH_TABLE)
def test_search_top_result(d, query, province, name, province_code):
    results = d.search(query, province_code=province)
    assert results, query
    top = results[0]
    assert (top.commune.name, top.commune.province_code) == (name, province_code), [m.label for m in results]
    assert top.province.code == province_code
    assert 0.5 <= top.score <= 1.0


def test_vinh_in_nghe_an(d):
    # Vinh city was split into five phường; all should come up, nothing outside Nghệ An
    results = d.search("vinh", province_code=NGHE_AN, limit=10)
    assert {m.commune.province_code for m in results} == {NGHE_AN}
    assert "vinh" in tokens(results[0].commune.short_name)
    names = {m.commune.name for m in results}
    for ward in ("Trường Vinh", "Thành Vinh", "Vinh Hưng", "Vinh Phú", "Vinh Lộc"):
        assert f"Phường {ward}" in names


def test_province_restriction_is_strict(d):
    for query in ("tan phu", "an", "phu", "hoan kiem"):
        for m in d.search(query, province_code=CAN_THO):
            assert m.commune.province_code == CAN_THO
    assert all(m.score < 0.9 for m in d.search("hoan kiem", province_code=CAN_THO))
    assert d.search("hoan kiem", province_code=12345) == []


def test_exact_full_name_scores_one(d):
    assert d.search("Hoàn Kiếm")[0].score == 1.0
    assert d.search("hoan kiem")[0].score == 1.0


def test_exact_before_longer_names_before_typos(d):
    results = d.search("tan phu", limit=10)
    folded = [fold(m.commune.short_name) for m in results]
    assert folded[:6] == ["tan phu"] * 6  # all six Tân Phú first
    assert all(m.score == 1.0 for m in results[:6])
    assert results[6].score < 1.0
    # a typo never outranks the exact name
    top = d.search("ben thanh")
    assert top[0].score > top[1].score


def test_results_sorted_and_limited(d):
    results = d.search("tan", limit=5)
    assert len(results) == 5
    scores = [m.score for m in results]
    assert scores == sorted(scores, reverse=True)
    assert len(d.search("tan")) == 8


def test_typed_diacritics_break_ties(d):
    # "Vĩnh Hưng" (3 of them) and "Vinh Hưng" (Nghệ An) are equal without marks
    results = d.search("Vĩnh Hưng", limit=8)
    first = [m.commune.short_name for m in results[:3]]
    assert first == ["Vĩnh Hưng"] * 3
    assert results[3].commune.short_name == "Vinh Hưng"
    assert results[3].score < results[0].score


def test_ambiguous_names_show_the_province(d):
    tan_phu = [m for m in d.search("tan phu", limit=8) if m.commune.short_name == "Tân Phú"]
    assert len(tan_phu) == 6
    labels = {m.label for m in tan_phu}
    assert "Xã Tân Phú, Đồng Nai" in labels
    assert "Phường Tân Phú, Hồ Chí Minh" in labels
    assert len(labels) == 6  # every one distinguishable
    an_phu = d.search("an phu")[0]
    assert an_phu.label == f"{an_phu.commune.name}, {an_phu.province.short_name}"
    # still shown when the search was restricted to one province: the label is shown
    # elsewhere later (confirmation, moderator view) where the province matters
    assert d.search("an phu", province_code=HCM)[0].label == "Phường An Phú, Hồ Chí Minh"


def test_unique_names_have_plain_labels(d):
    m = d.search("hoan kiem")[0]
    assert isinstance(m, CommuneMatch)
    assert m.label == "Phường Hoàn Kiếm"
    assert d.search("con dao")[0].label == "Đặc khu Côn Đảo"
    assert d.label(d.commune(70)) == "Phường Hoàn Kiếm"
    assert d.label(d.search("quan son")[0].commune).startswith("Xã Quan Sơn, ")


@pytest.mark.parametrize(
    "query",
    [
        "",
        "   ",
        "!!!",
        "x",
        "a",
        "1",
        "xã",
        "Phường",
        "dac khu",
        "asdfgh",
        "qwerty uiop",
        "zzzz",
        "12345",
        "lorem ipsum",
        "hello world",
        "toi muon to giac ma tuy",  # a tip typed into the commune prompt
        "co nguoi ban ma tuy o day",
        "Tôi thấy có người bán ma túy ở đầu ngõ phường Hoàn Kiếm mỗi tối " * 3,  # a whole tip
    ],
)
def test_garbage_finds_nothing(d, query):
    assert d.search(query) == []


@pytest.mark.parametrize("query", ["hoan kiem xyz", "qqq ben thanh", "ha noi", "tp", "kxsd ua"])
def test_noise_never_scores_high(d, query):
    # partial nonsense may still suggest something, but never with confidence
    assert all(m.score < 0.95 for m in d.search(query))


def test_search_is_fast(d):
    queries = ["hoan kiem", "phuong ben thanh", "ninh kiu", "tan", "th", "vinh", "asdf", "tan phu dong nai"] * 40
    t = time.perf_counter()
    for q in queries:
        d.search(q)
    per_query_ms = (time.perf_counter() - t) * 1000 / len(queries)
    assert per_query_ms < 5, per_query_ms


# -------------------------------------------------------------- provinces


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("can tho", CAN_THO),
        ("Cần Thơ", CAN_THO),
        ("tp. can tho", CAN_THO),
        ("cantho", CAN_THO),
        ("HCM", HCM),
        ("hcm", HCM),
        ("tp hcm", HCM),
        ("TP.HCM", HCM),
        ("sai gon", HCM),
        ("Sài Gòn", HCM),
        ("ho chi minh", HCM),
        ("hue", HUE),
        ("Thừa Thiên Huế", HUE),
        ("ha noi", HA_NOI),
        ("hanoi", HA_NOI),
        ("hn", HA_NOI),
        ("Thành phố Hà Nội", HA_NOI),
        ("tinh nghe an", NGHE_AN),
        ("nghe a", NGHE_AN),  # still typing
        ("dak lak", DAK_LAK),
        ("dac lac", DAK_LAK),
        ("quang ngai", QUANG_NGAI),
        ("quang ngia", QUANG_NGAI),  # typo
        ("tuyen quang", TUYEN_QUANG),
    ],
)
def test_search_provinces(d, query, code):
    results = d.search_provinces(query)
    assert results and results[0].province.code == code, [m.province.name for m in results]
    assert results[0].former is None


@pytest.mark.parametrize(
    ("query", "code", "former"),
    [
        ("binh duong", HCM, "Bình Dương"),
        ("Bà Rịa - Vũng Tàu", HCM, "Bà Rịa - Vũng Tàu"),
        ("ha giang", TUYEN_QUANG, "Hà Giang"),
        ("kien giang", AN_GIANG, "Kiên Giang"),
        ("soc trang", CAN_THO, "Sóc Trăng"),
    ],
)
def test_search_provinces_former_names(d, query, code, former):
    top = d.search_provinces(query)[0]
    assert (top.province.code, top.former) == (code, former)


@pytest.mark.parametrize("query", ["", "x", "asdfgh", "12", "tinh", "TP.", "thanh pho"])
def test_search_provinces_garbage(d, query):
    assert d.search_provinces(query) == []


def test_the_bounded_edit_distance_agrees_with_the_full_one() -> None:
    import random

    from tipline.places.communes import _osa, _osa_within

    rng = random.Random(11)
    letters = "aceghiknotu"
    for _ in range(20_000):
        a = "".join(rng.choice(letters) for _ in range(rng.randint(0, 9)))
        b = list(a)
        for _ in range(rng.randint(0, 3)):  # a few typos: dropped, added, changed or swapped letters
            k = rng.randint(0, max(0, len(b) - 1))
            edit = rng.randint(0, 3)
            if edit == 0 and b:
                del b[k]
            elif edit == 1:
                b.insert(k, rng.choice(letters))
            elif edit == 2 and b:
                b[k] = rng.choice(letters)
            elif edit == 3 and k + 1 < len(b):
                b[k], b[k + 1] = b[k + 1], b[k]
        other = "".join(b) if rng.random() < 0.7 else "".join(rng.choice(letters) for _ in range(rng.randint(0, 9)))
        for limit in (0, 1, 2):
            assert _osa_within(a, other, limit) == min(_osa(a, other), limit + 1), (a, other, limit)
