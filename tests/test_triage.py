"""Triage assist (tipline.staff.triage): priority reasons, spam signals, duplicate candidates, storage."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime, timedelta

import pytest

from tipline.places.textnorm import fold
from tipline.staff.triage import (
    DUPLICATE_THRESHOLD,
    Assessment,
    Priority,
    Reason,
    TipFacts,
    assess,
    assess_priority,
    find_duplicates,
    from_json,
    similarity,
    spam_signals,
    to_json,
)
from tipline.tips import Category, Urgency

NOW = datetime(2026, 3, 14, 21, 30, tzinfo=UTC)
NINH_KIEU = 31117  # any commune code will do: triage only compares them


def facts(
    description: str,
    *,
    code: str = "TL-AAAA-AAAA",
    category: Category = Category.TRADING,
    urgency: Urgency = Urgency.ONGOING,
    evidence: int = 0,
    location: bool = False,
    commune: int | None = NINH_KIEU,
    created_at: datetime = NOW,
    recent: int = 0,
) -> TipFacts:
    return TipFacts(code, category, urgency, description, evidence, location, commune, created_at, recent)


def keys(reasons: tuple[Reason, ...]) -> set[str]:
    return {r.key for r in reasons}


def reason(priority: Priority, key: str) -> Reason:
    return next(r for r in priority.reasons if r.key == key)


# --------------------------------------------------------------------- duplicates

# The same event told twice: reordered, without diacritics, in Telex, with typos, with more detail, with
# other names for the same drug.
SAME_EVENT = [
    (
        "Bán ma túy đá ở quán karaoke Hoàng Gia trên đường Trần Hưng Đạo, tối nào cũng có người ra vào mua.",
        "quan karaoke hoang gia duong tran hung dao toi nao cung co nguoi den mua ma tuy da",
    ),
    (
        "Ông Tư chủ quán cà phê đầu hẻm 51 đường 30/4 bán thuốc lắc cho thanh niên, thường giao vào buổi tối.",
        "Hẻm 51 đường 30 tháng 4: quán cà phê của ông Tư bán kèm thuốc lắc, tối nào cũng có mấy đứa thanh niên "
        "tới lấy, có khi giao tận nhà.",
    ),
    (
        "Nhà số 12 tổ 5 thôn Đông có nhiều người tụ tập chích heroin, vứt bơm kim tiêm ra bãi đất trống sau nhà.",
        "to 5 thon Dong, nha so 12 hay tu tap chich hero, bom kim tiem vut day o bai dat trong phia sau",
    ),
    (
        "Thằng Hùng xăm trổ ở chợ Cái Khế bán ke và đá cho học sinh trường Nguyễn Việt Hồng.",
        "thang Hugn xam tro o cho Cai Khe ban ke, da cho hoc sinh truong Nguyen Viet Hong, hom nay van con ban",
    ),
    (
        "Tài khoản Facebook tên Kẹo Ngọt 247 rao bán cỏ Mỹ và nước vui, ship tận nơi trong phường.",
        "fb Keo Ngot 247 dang rao ban can sa, nuoc vui, ship tan noi",
    ),
    (
        "Xe tải biển số 65C-123.45 chở hàng trắng từ biên giới về, đậu ở bãi xe gần cầu Cái Răng mỗi đêm thứ bảy.",
        "Bãi xe cạnh cầu Cái Răng, tối thứ 7 nào cũng có xe tải 65C-123.45 đậu lại, nghi chở heroin từ biên giới.",
    ),
    (
        "Nhà ông Sáu ở ấp Thạnh Lợi trồng cần sa sau vườn, trồng xen với bắp, khoảng 30 cây.",
        "Ấp Thạnh Lợi: vườn sau nhà ông Sáu có khoảng 30 cây cần sa trồng lẫn trong ruộng bắp.",
    ),
    (
        "Nhà nghỉ Hoa Hồng trên đường Mậu Thân cho khách thuê phòng để bay lắc, có bán cả bóng cười.",
        "nha nghi hoa hong duong mau than cho thue phong bay lac, ban ca bong cuoi",
    ),
    (
        "Có người bán thuốc lá điện tử pha ma túy cho học sinh ở cổng trường THCS Lê Quý Đôn mỗi giờ tan học.",
        "cong truong thcs le quy don gio tan hoc co nguoi ban thuoc la dien tu co pha ma tuy cho hoc sinh",
    ),
    (
        "Căn nhà cuối hẻm 8 đường Nguyễn Văn Cừ đêm nào cũng bốc mùi hóa chất khét lẹt, nghi nấu đá, có người đi "
        "ô tô đen ra vào.",
        "hẻm 8 Nguyễn Văn Cừ, nhà cuối hẻm có mùi hoá chất rất nặng về đêm, nghi đang nấu ma túy đá. Có ô tô màu "
        "đen hay đến",
    ),
    (
        "Nhóm thanh niên ngồi hút cỏ ở công viên Lưu Hữu Phước mỗi tối, khoảng 5-6 người.",
        "cong vien Luu Huu Phuoc toi nao cung co 5 6 thanh nien ngoi hut can sa",
    ),
    (
        "Bà Năm bán ma túy lẻ ở sạp rau chợ Xuân Khánh, giấu hàng trong bó rau muống.",
        "ba Nam o cho XuanKhanh ban ma tuys le tai sap rau, giaaus hang trong bo rau muong",
    ),
    (
        "Tối nay có giao dịch ma túy ở bãi đất trống sau chùa Long Quang, 3 thanh niên đi xe Exciter màu đỏ.",
        "Bai dat trong phia sau chua Long Quang dang co 3 thang di xe exciter do giao dich ma tuy",
    ),
    (
        "Trang Zalo 'Shop Bánh Kẹo Vui' bán kẹo cần sa cho học sinh, giao hàng qua shipper.",
        "zalo Shop Banh Keo Vui dang ban keo can sa, nhieu hoc sinh dat mua, ship tan noi",
    ),
    (
        "Phòng trọ số 3 dãy trọ cô Mai ở hẻm 14 Mậu Thân có người chứa chấp cho con nghiện vào sử dụng ma túy.",
        "Hẻm 14 Mậu Thân, dãy nhà trọ của cô Mai, phòng số 3 thường xuyên có con nghiện tới chơi ma túy.",
    ),
    (
        "Ông Ba Đen buôn bán heroin ở ngã ba Cây Dương, hay giấu hàng trong hộp thuốc lá.",
        "nga ba cay duong co ong ba den chuyen ban hang trang, giau trong hop thuoc la",
    ),
]

# Different events in one commune that share a lot: the same template ("bán ma túy ở ..."), street,
# alley, market, venue type or drug, but another place, person, number or drug.
DIFFERENT_EVENTS = [
    (
        "Bán ma túy đá ở quán karaoke Hoàng Gia trên đường Trần Hưng Đạo, tối nào cũng có người ra vào mua.",
        "Bán ma túy đá ở quán karaoke Kingdom trên đường Nguyễn Trãi, tối nào cũng có người ra vào mua.",
    ),
    ("ban ma tuy o hem 51 moi toi", "ban ma tuy o hem 15 duong 3/2 moi toi"),
    (
        "Ông Tư chủ quán cà phê đầu hẻm 51 đường 30/4 bán thuốc lắc cho thanh niên.",
        "Bà Hai cuối hẻm 51 đường 30/4 cho con nghiện vào nhà chích heroin, kim tiêm vứt đầy hẻm.",
    ),
    (
        "Quán nhậu Bảy Tèo trên đường Lý Tự Trọng bán bóng cười cho khách, đêm nào cũng đông.",
        "Tiệm tạp hóa trên đường Lý Tự Trọng có người bán heroin lẻ cho con nghiện vào buổi sáng.",
    ),
    (
        "Nhà nghỉ Hoa Hồng trên đường Mậu Thân cho khách thuê phòng để bay lắc.",
        "Nhà nghỉ Phương Nam trên đường 3 tháng 2 cho khách thuê phòng để bay lắc, có cả bóng cười.",
    ),
    (
        "Nhà ông Sáu ở ấp Thạnh Lợi trồng cần sa sau vườn, khoảng 30 cây.",
        "Ông Bảy ở ấp Thạnh Lợi trồng cây thuốc phiện trên rẫy gần suối, chừng 100 cây.",
    ),
    (
        "Tài khoản Facebook tên Kẹo Ngọt 247 rao bán cỏ Mỹ và nước vui, ship tận nơi.",
        "Nhóm Zalo tên Hàng Xịn 365 rao bán nước vui và bóng cười, ship tận nơi trong phường.",
    ),
    (
        "Xe tải biển số 65C-123.45 chở hàng trắng từ biên giới về, đậu ở bãi xe gần cầu Cái Răng.",
        "Xe khách biển số 51B-678.90 giấu ma túy trong thùng hàng, hay dừng ở bến xe Cái Răng.",
    ),
    (
        "Nhóm thanh niên tụ tập hút cỏ ở công viên Lưu Hữu Phước mỗi tối.",
        "Nhóm thanh niên tụ tập hút ma túy đá ở bờ kè Ninh Kiều mỗi tối.",
    ),
    (
        "Người tên Tùng ở tổ 5 thôn Đông bán ma túy cho mấy thanh niên trong xóm.",
        "Người tên Tuấn ở tổ 7 thôn Đông bán ma túy cho mấy thanh niên trong xóm.",
    ),
    (
        "Có người bán thuốc lá điện tử pha ma túy cho học sinh ở cổng trường THCS Lê Quý Đôn.",
        "Có người bán thuốc lá điện tử pha ma túy cho học sinh ở cổng trường THPT Châu Văn Liêm.",
    ),
    ("Bà Năm bán ma túy lẻ ở sạp rau chợ Xuân Khánh.", "Bà Năm bán ma túy lẻ ở sạp cá chợ An Hòa."),
    (
        "Tối nay có giao dịch ma túy ở bãi đất trống sau chùa Long Quang.",
        "Tối nay có giao dịch ma túy ở bãi giữ xe chợ Tân An.",
    ),
    (
        "Phòng trọ số 3 dãy trọ cô Mai ở hẻm 14 Mậu Thân có người chứa chấp cho con nghiện vào sử dụng ma túy.",
        "Phòng trọ số 7 dãy trọ ông Lộc ở hẻm 22 Mậu Thân có người chứa chấp cho con nghiện vào sử dụng ma túy.",
    ),
    ("Ông Ba Đen buôn bán heroin ở ngã ba Cây Dương.", "Chị Thảo bán ma túy đá ở ngã tư Bến Xe cũ."),
    (
        "Quán bida Thành Công đường Trần Phú cho khách hút bóng cười và thuốc lá điện tử.",
        "Quán bida Ngọc Lan đường Lê Lợi có bán bóng cười cho học sinh.",
    ),
]


@pytest.mark.parametrize(("a", "b"), SAME_EVENT)
def test_the_same_event_told_differently_scores_above_the_threshold(a: str, b: str) -> None:
    assert similarity(a, b) >= DUPLICATE_THRESHOLD


@pytest.mark.parametrize(("a", "b"), DIFFERENT_EVENTS)
def test_different_events_told_alike_score_below_the_threshold(a: str, b: str) -> None:
    assert similarity(a, b) < DUPLICATE_THRESHOLD


def test_the_threshold_separates_the_pairs_with_a_margin() -> None:
    true_low = min(similarity(a, b) for a, b in SAME_EVENT)
    false_high = max(similarity(a, b) for a, b in DIFFERENT_EVENTS)
    # Measured when tuned: 0.553 against 0.359.  A change that narrows this should be looked at.
    assert true_low - false_high >= 0.15
    assert true_low - DUPLICATE_THRESHOLD >= 0.05
    assert DUPLICATE_THRESHOLD - false_high >= 0.05


@pytest.mark.parametrize(("a", "b"), SAME_EVENT[:4] + DIFFERENT_EVENTS[:4])
def test_similarity_is_symmetric(a: str, b: str) -> None:
    assert similarity(a, b) == similarity(b, a)


def test_similarity_ignores_diacritics_case_punctuation_and_telex() -> None:
    text = "Bán ma túy đá ở quán karaoke Hoàng Gia, phường Ninh Kiều!"
    assert similarity(text, text) == 1.0
    assert similarity(text, fold(text)) == 1.0
    assert similarity(text, text.upper()) == 1.0
    assert similarity("bán ma túy đá ở hẻm 5", "bans ma tuys ddas owr heemr 5") == 1.0


def test_similarity_of_empty_or_stop_word_only_text_is_zero() -> None:
    assert similarity("", "bán ma túy") == 0.0
    assert similarity("có ở là và của", "có ở là và của") == 0.0


def test_numbers_that_disagree_lower_the_score() -> None:
    same = similarity("bán ma túy ở hẻm 51 đường Trần Phú", "hẻm 51 Trần Phú có bán ma túy")
    other = similarity("bán ma túy ở hẻm 51 đường Trần Phú", "hẻm 17 Trần Phú có bán ma túy")
    assert same >= DUPLICATE_THRESHOLD > other


def test_find_duplicates_keeps_the_same_commune_within_the_window_best_first() -> None:
    tip = facts(SAME_EVENT[0][0], code="TL-NEW0-0000")
    near = facts(SAME_EVENT[0][1], code="TL-NEAR-0000", created_at=NOW - timedelta(days=3))
    retold = facts(SAME_EVENT[0][0].replace("tối", "đêm"), code="TL-LATE-0000", created_at=NOW + timedelta(days=2))
    unrelated = facts(DIFFERENT_EVENTS[0][1], code="TL-UNRE-0000")
    elsewhere = facts(SAME_EVENT[0][1], code="TL-ELSE-0000", commune=NINH_KIEU + 1)
    unknown = facts(SAME_EVENT[0][1], code="TL-UNKN-0000", commune=None)
    too_old = facts(SAME_EVENT[0][1], code="TL-OLD0-0000", created_at=NOW - timedelta(days=31))
    itself = facts(SAME_EVENT[0][0], code="TL-NEW0-0000")

    found = find_duplicates(tip, [near, retold, unrelated, elsewhere, unknown, too_old, itself])

    assert [code for code, _ in found] == ["TL-LATE-0000", "TL-NEAR-0000"]
    assert found[0][1] > found[1][1] >= DUPLICATE_THRESHOLD
    assert find_duplicates(tip, [too_old], window=timedelta(days=60)) == [("TL-OLD0-0000", found[1][1])]
    assert find_duplicates(tip, [near], threshold=0.99) == []


def test_a_tip_without_a_commune_has_no_duplicates() -> None:
    tip = facts(SAME_EVENT[0][0], commune=None)
    assert find_duplicates(tip, [facts(SAME_EVENT[0][0], code="TL-OTHR-0000", commune=None)]) == []


def test_find_duplicates_accepts_a_generator() -> None:
    tip = facts(SAME_EVENT[1][0], code="TL-NEW0-0000")
    candidates = (facts(b, code=f"TL-{i:04d}-0000") for i, (_, b) in enumerate(SAME_EVENT))
    assert [code for code, _ in find_duplicates(tip, candidates)] == ["TL-0001-0000"]


# --------------------------------------------------------------------- priority


def test_children_at_a_school_right_now_is_urgent_with_its_reasons() -> None:
    tip = facts(
        "Có mấy thằng đang bán ma túy cho học sinh ngay cổng trường tiểu học Kim Đồng",
        urgency=Urgency.NOW,
    )
    priority = assess_priority(tip)
    assert priority.level == "urgent"
    assert {"urgency_now", "category", "children", "school"} <= keys(priority.reasons)
    assert reason(priority, "children").detail == "học sinh"
    assert reason(priority, "school").detail == "cổng trường, tiểu học"
    assert priority.score == sum(r.points for r in priority.reasons)


def test_children_and_school_words_match_without_diacritics() -> None:
    priority = assess_priority(facts("co may dua ban ma tuy cho tre em gan truong mam non", urgency=Urgency.NOW))
    assert priority.level == "urgent"
    assert reason(priority, "children").detail == "tre em"
    assert reason(priority, "school").detail == "gan truong, mam non"


@pytest.mark.parametrize(
    ("text", "detail"),
    [
        ("Nó mang theo con dao dài", "con dao"),
        ("no hay mang dao di doi no", "mang dao"),
        ("thang do co con dao trong nguoi", "con dao"),
        ("Hắn cầm dao đứng trước nhà", "cầm dao"),
        ("Trong nhà có dao và mã tấu", "dao, mã tấu"),
        ("Hắn có súng, đã bắn chỉ thiên", "súng"),
        ("han co sung ngan giau trong xe", "sung"),
        ("han co sungs giaus trong xe", "sungs"),  # Telex with the input method off
        ("nhom nay co vu khi tu che", "vu khi"),
    ],
)
def test_weapons_are_found(text: str, detail: str) -> None:
    assert reason(assess_priority(facts(text)), "weapon").detail == detail


@pytest.mark.parametrize(
    "text",
    [
        "Tôi xin bổ sung thêm: nhà đó vẫn bán ma túy đá",
        "toi xin bo sung them: nha do van ban ma tuy da",
        "Shipper giao hàng ma túy tận nhà, gọi là có",
        "shipper giao hang ma tuy tan nha",
        "Dạo này quán đó đông con nghiện lắm",
        "dao nay quan do dong con nghien lam",
        "Ông ta sùng đạo nhưng vẫn bán ma túy",
        "Sùng A Páo trồng thuốc phiện trên nương",
        "Sungf A Paos bans thuoocs phieen",  # sùng, in Telex: not súng
        "Hàng được chở ra Côn Đảo bằng tàu cá",
        "hang duoc cho ra con dao bang tau ca",
        "Nhà nó giàu sung túc lắm, toàn tiền bán hàng đá",
        "Thằng đó đào hầm giấu hàng",
    ],
)
def test_false_friends_are_not_weapons(text: str) -> None:
    assert "weapon" not in keys(assess_priority(facts(text)).reasons)


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("Có đứa bị đánh vì không trả tiền hàng", True),
        ("co dua bi danh vi khong tra tien hang", True),
        ("Bọn chúng đánh người, dọa giết cả nhà tôi", True),
        ("Nó cầm mã tấu đi chém người", True),
        ("Tên này có bí danh là Tùng Sẹo, hay đánh bạc", False),
        ("ten nay bi danh la Tung Seo, hay danh bac", False),
        ("Tôi đánh giá là họ bán ma túy rất công khai", False),
    ],
)
def test_violence(text: str, found: bool) -> None:
    assert ("violence" in keys(assess_priority(facts(text)).reasons)) is found


@pytest.mark.parametrize(
    ("text", "key", "found"),
    [
        ("Vận chuyển 2kg heroin qua biên giới", "quantity", True),
        ("van chuyen 5 ky ma tuy da bang xe tai", "quantity", True),
        ("Trong nhà có 3 bánh heroin", "quantity", True),
        ("Thu được 500 viên thuốc lắc", "quantity", True),
        ("Bà ta bán 20 viên thuốc lắc", "quantity", False),
        ("giao hang tan nha cho khach", "quantity", False),
        ("Có đứa 15 tuổi bị ép dùng ma túy", "children", True),
        ("Có thằng 25 tuổi bán ma túy", "children", False),
        ("Trưởng thôn biết nhưng làm ngơ, trường hợp này phải xử lý", "school", False),
        ("Bán ma túy cho mấy đứa trong trường", "school", True),
        ("Nhà đó nấu đá, mùi hóa chất nồng nặc", "production", True),
        ("Nhóm Telegram bán cỏ, link t.me/cokhoe123", "online_sales", True),
        ("Bán ma túy đá ở quán karaoke Hoàng Gia", "online_sales", False),
    ],
)
def test_signal_words(text: str, key: str, found: bool) -> None:
    assert (key in keys(assess_priority(facts(text)).reasons)) is found


def test_urgency_orders_the_score() -> None:
    text = "Bán ma túy đá ở quán karaoke Hoàng Gia"
    order = (Urgency.NOW, Urgency.TODAY, Urgency.ONGOING, Urgency.PAST)
    scores = [assess_priority(facts(text, urgency=u)).score for u in order]
    assert scores == sorted(scores, reverse=True) and len(set(scores)) == 4


def test_supply_weighs_more_than_use() -> None:
    text = "Ở nhà số 9 hẻm 4 có chuyện liên quan ma túy"
    score = {c: assess_priority(facts(text, category=c)).score for c in Category}
    assert score[Category.PRODUCTION] > score[Category.TRANSPORT] > score[Category.TRADING] > score[Category.USE]


def test_evidence_and_location_add_reasons() -> None:
    bare = assess_priority(facts("Bán ma túy đá ở quán karaoke Hoàng Gia"))
    backed = assess_priority(facts("Bán ma túy đá ở quán karaoke Hoàng Gia", evidence=3, location=True))
    assert {"evidence", "location"} <= keys(backed.reasons)
    assert reason(backed, "evidence").detail == "3"
    assert backed.score > bare.score
    assert not {"evidence", "location"} & keys(bare.reasons)


def test_words_the_category_already_says_add_half() -> None:
    text = "Bán cỏ qua Facebook, ship tận nơi"
    as_trading = reason(assess_priority(facts(text, category=Category.TRADING)), "online_sales")
    as_online = reason(assess_priority(facts(text, category=Category.ONLINE)), "online_sales")
    assert as_online.points * 2 == as_trading.points


def test_a_quiet_old_report_is_low_and_a_loaded_one_caps_at_100() -> None:
    old_use = facts("Hồi năm ngoái thấy người ta hút ở bờ kè", category=Category.USE, urgency=Urgency.PAST)
    quiet = assess_priority(old_use)
    assert quiet.level == "low"
    loaded = assess_priority(
        facts(
            "Đang nấu đá, có súng và mã tấu, dọa giết người, bán cho học sinh trường THCS, hàng chục kg",
            category=Category.PRODUCTION,
            urgency=Urgency.NOW,
            evidence=5,
            location=True,
        )
    )
    assert (loaded.score, loaded.level) == (100, "urgent")


# --------------------------------------------------------------------- spam signals


@pytest.mark.parametrize(
    "text",
    ["asdfgh jkjkjk", "dfghjkl qwerty zxcvb", "aaaaaaaa", "hahaha hihihi", "sdfsdf sdf sdfsdf sdf ma tuy", "xyz xyz"],
)
def test_keyboard_mashing_is_gibberish(text: str) -> None:
    assert "gibberish" in keys(spam_signals(facts(text)))


@pytest.mark.parametrize("text", ["ma túy", "test", "có người bán", ""])
def test_too_short(text: str) -> None:
    assert "too_short" in keys(spam_signals(facts(text)))


def test_a_short_text_with_a_photo_is_not_too_short() -> None:
    assert spam_signals(facts("bán đá", evidence=1)) == ()


@pytest.mark.parametrize(
    "text",
    [
        "Bán ma túy đá ở quán karaoke Hoàng Gia, phường Ninh Kiều",
        "ban ma tuy o hem 51 moi toi",
        "BÁN MA TÚY Ở HẺM 5 ĐƯỜNG 3/2",
        "bans ma tuys ddas owr heemr 51",  # Telex with the input method off
        "banmatuy o hem51 moitoi",  # no spaces
        "Nhà số 12 Krông Búk, Ea H'leo, bán đá",  # minority place names
        "Facebook Kẹo Ngọt bán cỏ",
        "nhà nghỉ Kingdom Grand Hotel cho thuê phòng bay",
    ],
)
def test_short_but_real_reports_raise_no_spam_signal(text: str) -> None:
    assert spam_signals(facts(text)) == ()


def test_repeated_sender_from_three_tips_in_the_hour() -> None:
    text = "Bán ma túy đá ở quán karaoke Hoàng Gia"
    assert spam_signals(facts(text, recent=2)) == ()
    assert spam_signals(facts(text, recent=3)) == (Reason("repeated_sender", "3"),)


def test_a_bare_link_is_spam_unless_the_tip_is_about_online_dealing() -> None:
    assert keys(spam_signals(facts("https://t.me/abc123"))) == {"links_only"}
    assert spam_signals(facts("https://t.me/abc123", category=Category.ONLINE)) == ()


def test_gibberish_detail_shows_the_odd_words() -> None:
    (gibberish,) = (r for r in spam_signals(facts("asdfgh jkjkjk asdfgh")) if r.key == "gibberish")
    assert gibberish.detail == "asdfgh, jkjkjk"


# --------------------------------------------------------------------- assessment and storage


def test_assess_bundles_priority_spam_and_duplicates() -> None:
    tip = facts(SAME_EVENT[7][0], code="TL-NEW0-0000", urgency=Urgency.NOW, recent=4)
    earlier = facts(SAME_EVENT[7][1], code="TL-OLD0-0000", created_at=NOW - timedelta(hours=5))
    assessment = assess(tip, [earlier])
    assert assessment.priority == assess_priority(tip)
    assert keys(assessment.spam) == {"repeated_sender"}
    assert [code for code, _ in assessment.duplicates] == ["TL-OLD0-0000"]


def test_json_round_trip_with_stable_keys() -> None:
    tip = facts("Có người bán ma túy cho học sinh ở cổng trường, có súng", urgency=Urgency.NOW, recent=3)
    assessment = assess(tip, [facts("co nguoi co sung ban ma tuy cho hoc sinh o cong truong", code="TL-B")])
    text = to_json(assessment)

    assert from_json(text) == assessment
    assert Assessment.from_json(assessment.to_json()) == assessment
    data = json.loads(text)
    assert set(data) == {"version", "priority", "spam", "duplicates"}
    assert set(data["priority"]) == {"score", "level", "reasons"}
    assert set(data["priority"]["reasons"][0]) == {"key", "detail", "points"}
    assert set(data["duplicates"][0]) == {"code", "score"}
    assert "học sinh" in text  # readable in the database, not \u-escaped


def test_the_column_default_reads_as_not_assessed() -> None:
    assert from_json("{}") is None
    assert from_json("") is None


def test_from_json_ignores_new_keys_and_rejects_unknown_levels() -> None:
    data = json.loads(to_json(assess(facts("Bán ma túy đá ở quán karaoke Hoàng Gia"))))
    data["added_later"] = 1
    assert from_json(json.dumps(data)) is not None
    data["priority"]["level"] = "critical"
    with pytest.raises(ValueError):
        from_json(json.dumps(data))


def test_tip_facts_hold_no_identity() -> None:
    names = {f.name for f in dataclasses.fields(TipFacts)}
    assert not names & {"chat_id", "user_id", "sender", "pseudonym", "phone", "name"}


def test_facts_read_from_the_database_with_plain_strings_work() -> None:
    from_db = facts("Bán cỏ qua Facebook", category="online", urgency="now")  # type: ignore[arg-type]
    typed = facts("Bán cỏ qua Facebook", category=Category.ONLINE, urgency=Urgency.NOW)
    assert assess_priority(from_db) == assess_priority(typed)


def test_typo_alignment_picks_what_trying_every_word_in_order_would() -> None:
    import random

    from tipline.places.textnorm import segment
    from tipline.staff.triage import _align, _one_typo

    def reference(words: tuple[str, ...], other: frozenset[str]) -> list[str]:
        out: list[str] = []
        for word in words:
            if word in other or not word.isalpha():
                out.append(word)
            elif len(word) >= 5 and (split := segment(word, other, max_piece=8, limit=1)):
                out.extend(split[0])
            else:
                out.append(next((w for w in sorted(other) if _one_typo(word, w)), word))
        return out

    rng = random.Random(5)
    vocab = ("ban ma tuy da quan nuoc dau ngo moi toi gio xe may mau do nhom thanh nien tap su dung bong cuoi "
             "karaoke tuan hem nha thuong xuyen ngoc khanh xuankhanh hung hang hanh nguoi 51 12a").split()

    def typo(word: str) -> str:
        k = rng.randrange(len(word))
        return rng.choice([word[:k] + word[k + 1 :], word[:k] + "h" + word[k:], word[:k] + "n" + word[k + 1 :]])

    for _ in range(3000):
        a = tuple(typo(w) if rng.random() < 0.3 else w for w in rng.sample(vocab, rng.randint(1, 10)))
        b = frozenset(typo(w) if rng.random() < 0.3 else w for w in rng.sample(vocab, rng.randint(1, 10)))
        assert _align(a, b) == reference(a, b), (a, b)
