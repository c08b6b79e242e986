"""The wording rules that can be pinned ("Words people can trust").

Citizens: the conversation is walked through every screen in Vietnamese and English (every choice offered,
typed text, files, locations, commands, stale choices, and every answer the service can give to an effect),
and every message a citizen can read is checked: no press-words (the console and Zalo have no buttons), no
"Bạn hãy", no "bot" jargon, no internal key in the Vietnamese, and each fits a phone screen, except the
review that quotes the citizen's own description. Staff: the Vietnamese they read (cards for moderators and units, /queue, /find, /stats, the CSV,
deadline alerts) carries no internal key and no English. Outcomes: the words the tipster reads for each.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections import deque
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from backends import open_test_storage

from tipline.citizen import conversation, subscribe
from tipline.citizen.effects import (
    AddFollowup,
    AnswerTip,
    CheckReceipt,
    Context,
    Forget,
    JoinOutreach,
    LeaveOutreach,
    Result,
    SubmitTip,
    Subscribe,
)
from tipline.citizen.receipts import ALPHABET
from tipline.citizen.service import CitizenService
from tipline.citizen.session import OpenQuestion, Screen, Session
from tipline.delivery.model import Kind
from tipline.events import Command, Inbound, Location, Media, Pick, Text, Unsupported
from tipline.i18n import translator
from tipline.records import reports
from tipline.records.audit import AuditLog
from tipline.replies import MenuEntry, Reply, Step
from tipline.staff import commands
from tipline.staff.actors import Actor, Role
from tipline.staff.cards import ACTION_LABELS, REASON_LABELS, UNIT_STATUS_LABELS, CardView, moderator_card, unit_card
from tipline.staff.deadlines import check_deadlines
from tipline.staff.model import StaffRole
from tipline.staff.moderation import QUESTION, TIPSTER_NEWS, Deadlines, Moderation
from tipline.staff.units import import_units
from tipline.staff.views import card_view
from tipline.storage.ports import Storage
from tipline.tips import (
    CLOSED,
    EVIDENCE_LABELS,
    LEVEL_LABELS,
    OUTCOME_LABELS,
    PRIORITY_LEVELS,
    STATUS_LABELS,
    Category,
    Evidence,
    NewTip,
    Status,
    Tip,
    Urgency,
)

NOW = datetime(2026, 12, 2, 3, 54, tzinfo=UTC)
CTX = Context(now=NOW)
LANGUAGES = ("vi", "en")
# A phone screen: about 500 characters of text read without scrolling on a small phone.
PHONE_SCREEN = 500
CODE, PASSPHRASE = "TL-7K3Q-9XMP", "H4KP-Z9RM-T2WC"
DESCRIPTION = "Có người bán ma túy đá ở quán nước đầu hẻm 51 mỗi tối từ 21 giờ, đi xe máy màu đỏ."

# Words that assume buttons, or the app's own terms, on channels that have none (the console, Zalo).
PRESS_WORDS = {
    "vi": re.compile(r"\b(bấm|nhấn|nút|reply)\b", re.IGNORECASE),
    "en": re.compile(r"\b(press(es|ed|ing)?|buttons?|taps?|tapp(ed|ing)|click(s|ed|ing)?)\b", re.IGNORECASE),
}
BOT_JARGON = re.compile(r"\bbot\b", re.IGNORECASE)


# --- the citizen walk ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Said:
    """One message a citizen can read, and where it was said."""

    lang: str
    screen: str
    text: str
    labels: tuple[str, ...]

    @property
    def quotes_the_description(self) -> bool:
        """The review repeats the citizen's own description (up to 1,500 characters): not ours to shorten."""
        header = translator(self.lang).gettext("Please check your report:")
        return self.text.startswith(header)


TYPED: tuple[Inbound, ...] = (
    Command("privacy"),
    Text("hello there"),
    Text("9"),
    Text("can tho"),
    Text("ninh kieu"),
    Text("sai gon"),
    Text("xyzzy qwerty"),
    Text("x" * 120),
    Text(DESCRIPTION),
    Text("ồ" * 3001),
    Text("   "),
    Text("xem https://t.me/someone_selling"),
    Text("tl 2222 3333"),
    Text("không đúng"),
    Media("photo", "file-1", size=1000),
    Media("document", "file-2", size=30 * 1024 * 1024),
    Location(10.0345, 105.7876),
    Unsupported("sticker"),
    Unsupported("contact"),
    Unsupported("edited"),
    Unsupported("story"),
    Unsupported("something new"),
    Command("start"),
    Command("help"),
    Command("info"),
    Command("cancel"),
    Command("forget"),
    Command("frobnicate"),
    Command("status", "tl 2222 3333"),
    Command("followup", "nonsense"),
    Command("report"),
    Command("language"),
    Pick(Step("cat:trading", -1)),  # a choice from an older message
    Pick(MenuEntry("menu:gone")),
    Pick(None),
)


def _key(session: Session) -> str:
    """What makes a state different for the wording: the screen, and what its messages and the next ones
    depend on (not the turn counter, not the details typed, not what is kept for another screen)."""
    draft, screen = session.draft, session.screen
    parts: list[object] = [session.lang, screen, draft is not None]
    if draft is not None and screen in _DRAFT_PARTS:
        parts += [draft.editing, *(bool(getattr(draft, name)) for name in _DRAFT_PARTS[screen])]
    if screen in (Screen.LOOKUP_CODE, Screen.LOOKUP_PASSPHRASE, Screen.FOLLOWUP):
        parts.append(session.lookup_purpose)
    return json.dumps(parts, default=str)


_DRAFT_PARTS: dict[Screen, tuple[str, ...]] = {
    Screen.CATEGORY: (),
    Screen.URGENCY: (),
    Screen.PROVINCE: ("candidates", "province_page"),
    Screen.COMMUNE: ("candidates", "commune_unknown"),
    Screen.ADDRESS: ("address", "latitude"),
    Screen.DESCRIPTION: ("description",),
    Screen.EVIDENCE: ("evidence",),
    Screen.REVIEW: ("commune_code", "address", "latitude", "evidence"),
    Screen.EDIT: (),
}


def _status_view(lang: str, status: Status = Status.NEEDS_INFO, outcome: str | None = None) -> conversation.StatusView:
    tip = _tip(1, CODE, Category.TRADING, status, outcome)
    question = translator(lang).gettext("Is there a number plate?")
    return conversation.StatusView(tip, [(question, NOW)], "Thành phố Cần Thơ", "Phường Ninh Kiều")


def _performed(result: Result) -> list[Result]:
    """What the service answers to the step's effect (every answer it can give), or the step itself."""
    effect, session = result.effect, result.session
    if effect is None:
        return [result]
    copy = session.model_copy
    if isinstance(effect, SubmitTip):
        return [
            conversation.after_submit(copy(deep=True), CODE, PASSPHRASE, CTX),
            conversation.after_submit_failed(copy(deep=True), CTX),
        ]
    if isinstance(effect, CheckReceipt):
        return [
            conversation.after_receipt_ok(copy(deep=True), _status_view(session.lang), CTX),
            conversation.after_receipt_failed(copy(deep=True), CTX, 4, 15),
            conversation.after_receipt_failed(copy(deep=True), CTX, 1, 15),
            conversation.after_receipt_locked(copy(deep=True), 15),
        ]
    if isinstance(effect, AddFollowup):
        what = translator(session.lang).gettext("your message" if effect.media is None else "your file")
        return [conversation.after_followup(copy(deep=True), CTX, what)]
    if isinstance(effect, AnswerTip):
        return [conversation.after_answer(copy(deep=True), CTX, effect.code)]
    if isinstance(effect, Subscribe):
        return [conversation.after_subscribe(copy(deep=True))]
    if isinstance(effect, JoinOutreach):
        return [subscribe.after_join(copy(deep=True), event) for event in ("consent", "change", "same")]
    if isinstance(effect, LeaveOutreach):
        return [subscribe.after_leave(copy(deep=True), stopped) for stopped in (True, False)]
    assert isinstance(effect, Forget)
    return [conversation.after_forget(copy(deep=True), n) for n in (0, 1, 2)]


def _choices(replies: list[Reply]) -> list[Inbound]:
    for reply in reversed(replies):
        if reply.choices:
            return [Pick(choice.action) for choice in reply.flat_choices]
    return []


def walk(lang: str, limit: int = 2000) -> Iterator[Said]:
    """Every message of the conversation in one language, breadth first from a new chat: in each state,
    everything in ``TYPED`` once, and every choice offered there (each kind of choice once)."""
    tried: dict[str, set[str]] = {}
    queue: deque[tuple[Session, list[Inbound]]] = deque([(Session(lang=lang), [])])
    while queue:
        session, offered = queue.popleft()
        key = _key(session)
        first = key not in tried
        done = tried.setdefault(key, set())
        assert len(tried) < limit, "the walk does not end: the state key lets states multiply"
        events = [pick for pick in offered if _name(pick) not in done]
        done.update(_name(pick) for pick in events)
        for event in (*(TYPED if first else ()), *events):
            for result in _performed(conversation.handle(session, event, CTX)):
                yield from _said(result)
                if result.session.lang == lang:  # the other language has its own walk
                    queue.append((result.session, _choices(result.replies)))


def _said(result: Result) -> Iterator[Said]:
    for reply in result.replies:
        yield Said(result.session.lang, str(result.session.screen), reply.text, tuple(c.label for c in reply.flat_choices))


def _name(event: Inbound) -> str:
    return getattr(getattr(event, "action", None), "name", "")


def said_outside_the_walk(lang: str) -> Iterator[Said]:
    """What the service and the staff side send to a citizen without a conversation step."""
    session = Session(lang=lang)
    session.private.receipt = (CODE, PASSPHRASE)
    service = CitizenService.__new__(CitizenService)  # _receipt_again reads only the session
    for reply in (
        conversation.flood_notice(session),
        conversation.draft_expired_notice(session),
        conversation.error_reply(session),
        service._receipt_again(session),
    ):
        yield Said(lang, "service", reply.text, ())
    asked = Session(lang=lang)  # the answer to the team's question, by replying to the message that asked it
    asked.private.question = OpenQuestion(code=CODE, message="77", until=NOW + timedelta(hours=1))
    for result in _performed(conversation.handle(asked, Text("Đứng trước cổng chợ", reply_to="77"), CTX)):
        yield from _said(result)
    t = translator(lang)
    yield Said(lang, "news", t.gettext(QUESTION).format(code=CODE, question="Có biển số xe không?"), ())
    for msgid in TIPSTER_NEWS.values():
        yield Said(lang, "news", t.gettext(msgid).format(code=CODE), ())
    for status in Status:
        for outcome in (None, *OUTCOME_LABELS):
            yield from _said(conversation.after_receipt_ok(Session(lang=lang), _status_view(lang, status, outcome), CTX))


@pytest.fixture(scope="module")
def citizen_messages() -> dict[str, list[Said]]:
    said = [message for lang in LANGUAGES for message in (*walk(lang), *said_outside_the_walk(lang))]
    return {lang: [message for message in said if message.lang == lang] for lang in LANGUAGES}


def test_the_walk_reaches_every_screen(citizen_messages: dict[str, list[Said]]) -> None:
    for lang, messages in citizen_messages.items():
        assert {said.screen for said in messages} >= {screen.value for screen in Screen}, lang
        texts = "\n".join(said.text for said in messages)
        # Some messages that only a deep walk reaches: the receipt, the typed place, the answer, /forget.
        for needle in (PASSPHRASE, "Phường Ninh Kiều, Thành phố Cần Thơ", "0769.04.04.04", "115"):
            assert needle in texts, (lang, needle)
        assert len(messages) > 2000, (lang, len(messages))


@pytest.mark.parametrize("lang", LANGUAGES)
def test_citizens_never_read_press_words(citizen_messages: dict[str, list[Said]], lang: str) -> None:
    pattern = PRESS_WORDS[lang]
    found = {
        f"[{said.screen}] {piece!r}: {said.text[:120]!r}"
        for said in citizen_messages[lang]
        for piece in (said.text, *said.labels)
        if pattern.search(piece)
    }
    assert not found, f"{lang}: words that assume buttons:\n" + "\n".join(sorted(found))


@pytest.mark.parametrize("lang", LANGUAGES)
def test_citizens_read_no_bot_jargon(citizen_messages: dict[str, list[Said]], lang: str) -> None:
    found = {said.text[:160] for said in citizen_messages[lang] if BOT_JARGON.search(said.text)}
    assert not found, f"{lang}: 'bot' in citizen texts:\n" + "\n".join(sorted(found))


def test_vietnamese_does_not_open_with_ban_hay(citizen_messages: dict[str, list[Said]]) -> None:
    found = {said.text[:120] for said in citizen_messages["vi"] if re.search(r"(^|[.!?:]\s+)Bạn hãy\b", said.text)}
    assert not found, "mix the public-service forms (Vui lòng…, Mời bạn…):\n" + "\n".join(sorted(found))


def test_vietnamese_citizens_read_no_internal_keys(citizen_messages: dict[str, list[Said]]) -> None:
    found = {
        f"{match.group(0)!r} in {piece[:120]!r}"
        for said in citizen_messages["vi"]
        for piece in (said.text, *said.labels)
        for match in INTERNAL.finditer(piece)
    }
    assert not found, "internal keys or English in Vietnamese citizen texts:\n" + "\n".join(sorted(found))


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_citizen_message_fits_a_phone_screen(citizen_messages: dict[str, list[Said]], lang: str) -> None:
    messages = citizen_messages[lang]
    assert any(said.quotes_the_description for said in messages), "the review was not reached"
    too_long = {
        f"[{said.screen}] {len(said.text)} characters: {said.text[:100]!r}"
        for said in messages
        if len(said.text) > PHONE_SCREEN and not said.quotes_the_description
    }
    assert not too_long, f"{lang}: longer than {PHONE_SCREEN} characters:\n" + "\n".join(sorted(too_long))


def test_the_anonymity_statements_say_the_same_thing() -> None:
    """The welcome, /privacy and the README say exactly what holds, in the same words."""
    for lang, holds in {
        "vi": (
            "Tên, số điện thoại hay tài khoản của bạn không đi kèm tin báo",
            "đọc những gì bạn gửi, không biết bạn là ai",
            "ứng dụng nhắn tin vẫn biết tài khoản nào đã nhắn",
        ),
        "en": (
            "no name, phone number or account travels with your tip",
            "read what you send, not who you are",
            "The messaging app itself knows which account wrote to us",
        ),
    }.items():
        session = Session(lang=lang)
        welcome = conversation.welcome(session).text
        info = conversation.privacy_reply(session).text
        for words in holds:
            assert words.lower() in welcome.lower() and words.lower() in info.lower(), (lang, words)
        # The old, false, promise: staff read the description and see the photos.
        assert "chỉ thấy mã tin báo" not in welcome and "only ever see a tip code" not in welcome
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    section = " ".join(readme[readme.index("## Anonymity, by construction") :].split())
    for words in ("no name, phone number or account", "not who they are", "knows which account wrote"):
        assert words in section, words


# --- staff: no internal keys, no English -------------------------------------------------------------------


# Every stored value a Vietnamese reader must never see raw (plus 'story', a Telegram kind).
INTERNAL_KEYS = sorted(
    {c.value for c in Category}
    | {s.value for s in Status}
    | {u.value for u in Urgency}
    | set(OUTCOME_LABELS)
    | set(PRIORITY_LEVELS)
    | set(REASON_LABELS)
    | (set(EVIDENCE_LABELS) - {"video", "link"})  # "video" and "link" are Vietnamese words too
    | {"story", "duplicate", "transferred", "resolved"}
)
INTERNAL = re.compile(r"(?<![\w-])(" + "|".join(map(re.escape, INTERNAL_KEYS)) + r")(?![\w-])", re.IGNORECASE)
ENGLISH = re.compile(r"\b(the|and|of|is|by|with|from|tip|status|priority|outcome|hours?|unit)\b", re.IGNORECASE)
UNIT_CSV = "code,name,province,communes\nCA-NK,Công an phường Ninh Kiều,92,31135\n"
TRIAGE = {
    "priority": {
        "score": 80,
        "level": "urgent",
        "reasons": [{"key": key, "detail": "trading" if key == "category" else "", "points": 1} for key in REASON_LABELS],
    },
    "spam": [{"key": "too_short", "detail": "3", "points": 0}],
    "duplicates": [{"code": "TL-2222-3333", "score": 0.8}],
}


def _tip(tip_id: int, code: str, category: Category, status: Status, outcome: str | None) -> Tip:
    return Tip(
        tip_id, code, status, category, Urgency.NOW, 92, 31135, None, None, None, DESCRIPTION, "vi", "telegram", 0,
        NOW, NOW, outcome=outcome, closed_at=NOW if status in CLOSED else None,
    )


@pytest.fixture
async def storage(tmp_path: Path) -> AsyncIterator[Storage]:
    db = await open_test_storage(tmp_path / "wording.sqlite3")
    yield db
    await db.close()


async def _every_kind_of_tip(db: Storage) -> list[Tip]:
    """A tip of every category, in every status, and closed with every outcome, forwarded to a unit."""
    report = await import_units(db, UNIT_CSV)
    assert report.ok
    async with db.read() as uow:
        unit = await uow.units.by_code("CA-NK")
    assert unit is not None
    shapes = [(status, None) for status in Status] + [
        (Status.RESOLVED, "verified"), (Status.RESOLVED, "transferred"),
        (Status.UNFOUNDED, "not_verified"), (Status.UNFOUNDED, "unfounded"),
    ]  # fmt: skip
    categories = list(Category)
    tips = []
    async with db.uow() as uow:
        for index, (status, outcome) in enumerate(shapes + [(Status.NEW, None)] * len(categories)):
            category = categories[index % len(categories)]
            urgency = list(Urgency)[index % len(Urgency)]
            evidence = tuple(Evidence(kind, f"ref-{kind}") for kind in EVIDENCE_LABELS)
            new = NewTip(category, urgency, 92, 31135, "Gần chợ", 10.03, 105.78, DESCRIPTION, evidence, "vi", "telegram")
            tip = await uow.tips.create(new, f"TL-WQ{ALPHABET[index // 30]}{ALPHABET[index % 30]}-XMPQ", "h", NOW)
            await uow.tips.update(tip.id, status=status, outcome=outcome, priority=index % 4, triage=json.dumps(TRIAGE))
            if status in CLOSED:
                await uow.tips.update(tip.id, closed_at=NOW)
            if status not in (Status.NEW, Status.IN_REVIEW, Status.NEEDS_INFO):
                forwarded, acknowledged = NOW - timedelta(days=3), NOW - timedelta(days=2)
                await uow.tips.update(tip.id, unit_id=unit.id, forwarded_at=forwarded, acknowledged_at=acknowledged)
            found = await uow.tips.by_id(tip.id)
            assert found is not None
            tips.append(found)
    return tips


async def _staff_texts(db: Storage) -> list[str]:
    tips = await _every_kind_of_tip(db)
    texts: list[str] = []
    async with db.read() as uow:
        for tip in tips:
            view = await card_view(uow, tip)
            for reply in (moderator_card(view), unit_card(view, Deadlines())):
                texts += [reply.text, *(choice.label for choice in reply.flat_choices)]
            texts.append(commands.tip_line(tip))
    for page in range(3):
        reply = await commands.queue_page(db, page)
        texts += [reply.text, *(choice.label for choice in reply.flat_choices)]
    texts.append((await commands.find_tips(db, "ma tuy")).text)
    texts.append((await commands.month_stats(db, NOW)).text)
    rows = await reports.report_rows(db, NOW.date() - timedelta(days=1), NOW.date() + timedelta(days=1))
    texts.append(reports.to_csv(rows).removeprefix("\ufeff"))
    # Deadline alerts: a reminder and an overdue line for both deadlines.
    moderation = Moderation(db, AuditLog(b"s" * 32), lambda: NOW)
    async with db.uow() as uow:
        for tip in tips:
            if tip.status in (Status.FORWARDED, Status.ACKNOWLEDGED):
                await uow.deadlines.set(tip.id, "acknowledge", NOW - timedelta(hours=1))
                await uow.deadlines.set(tip.id, "outcome", NOW + timedelta(hours=1))
    await check_deadlines(db, moderation.audit, lambda: NOW, Deadlines())
    async with db.uow() as uow:
        items = await uow.outbox.claim("test", NOW, NOW + timedelta(minutes=1), 1000, ["telegram"])
    alerts = [str(item.payload["text"]) for item in items if item.kind == Kind.STAFF_TEXT]
    assert any("⏰" in text for text in alerts) and any("🔔" in text for text in alerts), alerts
    assert all("Công an phường Ninh Kiều" in text for text in alerts if "⏰" in text), alerts
    # Every label a card, a list or a line can show, including the last action on a card.
    t = translator("vi")
    labels = (ACTION_LABELS, REASON_LABELS, OUTCOME_LABELS, LEVEL_LABELS, STATUS_LABELS, UNIT_STATUS_LABELS)
    return texts + alerts + [t.gettext(label) for table in labels for label in table.values()]


async def test_staff_read_no_internal_keys_and_no_english(storage: Storage) -> None:
    texts = await _staff_texts(storage)
    joined = "\n".join(texts)
    assert "Phiếu tin báo" in joined and "Trạng thái" in joined and "(trung vị)" in joined
    assert "Mã tin báo,Thời điểm báo tin" in joined  # the CSV header
    keys = sorted({f"{match.group(0)!r} in {line[:120]!r}" for text in texts for line in text.splitlines() for match in INTERNAL.finditer(line)})
    assert not keys, "internal keys in what staff read:\n" + "\n".join(keys)
    english = sorted({f"{match.group(0)!r} in {line[:120]!r}" for text in texts for line in text.splitlines() for match in ENGLISH.finditer(line)})
    assert not english, "English in what staff read in Vietnamese:\n" + "\n".join(english)


async def test_the_csv_speaks_vietnamese_column_for_column(storage: Storage) -> None:
    await _every_kind_of_tip(storage)
    rows = await reports.report_rows(storage, NOW.date(), NOW.date())
    table = list(csv.reader(io.StringIO(reports.to_csv(rows).removeprefix("\ufeff"))))
    assert len(table[0]) == len(reports.EXPORT_COLUMNS) and len(table) == len(rows) + 1
    statuses = {line[2] for line in table[1:]}
    assert "đã đóng, có kết quả" in statuses and "chờ người báo tin trả lời" in statuses
    assert {line[11] for line in table[1:]} >= {"đã chuyển cơ quan có thẩm quyền", "không xác minh được", ""}
    # The JSON is for programs: its keys and values stay the stored ones.
    document = json.loads(reports.to_json(rows, NOW.date(), NOW.date()))
    assert {tip["status"] for tip in document["tips"]} >= {"resolved", "needs_info"}


def test_the_unit_card_states_the_configured_deadlines() -> None:
    tip = _tip(1, CODE, Category.TRADING, Status.FORWARDED, None)
    view = CardView(tip, None, "Thành phố Cần Thơ", "Phường Ninh Kiều", None, "Công an phường Ninh Kiều", None, 0, None)
    card = unit_card(view, Deadlines(acknowledge=timedelta(hours=24), outcome=timedelta(hours=168))).text
    assert "Đề nghị xác nhận tiếp nhận trong 24 giờ, xác minh và báo cáo kết quả trong 7 ngày" in card
    assert "Trạng thái: chờ đơn vị tiếp nhận" in card
    other = unit_card(view, Deadlines(acknowledge=timedelta(hours=12), outcome=timedelta(hours=36))).text
    assert "trong 12 giờ" in other and "trong 36 giờ" in other


# --- outcomes: the words the tipster reads --------------------------------------------------------------

THANKS = {"vi": "Cảm ơn bạn đã cung cấp thông tin.", "en": "Thank you for the information."}
OUTCOME_WORDS = {
    "verified": {"vi": "đã xác minh, xử lý", "en": "verified and handled"},
    "not_verified": {"vi": "không xác minh được", "en": "could not be verified"},
    "transferred": {"vi": "đã chuyển cơ quan có thẩm quyền", "en": "passed to the competent authority"},
    "unfounded": {"vi": "đã kiểm tra và đóng tin báo", "en": "checked and closed"},
    "duplicate": {"vi": "đã có người báo trước đó", "en": "the same matter"},
}
# What a transferred tip must never be called: handled here.
NOT_FOR_TRANSFERRED = {"vi": "đã xử lý", "en": "handled"}


async def _close(db: Storage, outcome: str, language: str) -> tuple[str, str]:
    """Closes a tip with ``outcome`` through the real actions; returns (the news, the /status line)."""
    report = await import_units(db, UNIT_CSV)
    assert report.ok
    clock = lambda: NOW  # noqa: E731
    moderation = Moderation(db, AuditLog(b"s" * 32), clock)
    async with db.uow() as uow:
        new = NewTip(Category.TRADING, Urgency.NOW, 92, 31135, None, None, None, DESCRIPTION, (), language, "telegram")
        tip = await uow.tips.create(new, CODE, "h", NOW)
        other = await uow.tips.create(new, "TL-2222-3333", "h", NOW)
        unit = await uow.units.by_code("CA-NK")
        mai_id = await uow.staff.set_role("telegram", "1", StaffRole.MODERATOR, True, NOW)
    assert unit is not None
    mai, police = Actor(Role.MODERATOR, mai_id, "Mai"), Actor(Role.UNIT, unit.id, unit.name)
    await moderation.act(mai, tip.id, "claim")
    if outcome == "duplicate":
        await moderation.act(mai, tip.id, "duplicate", None, other.code)
    elif outcome == "unfounded":
        await moderation.act(mai, tip.id, "unfounded")
    else:
        await moderation.act(mai, tip.id, "forward")
        await moderation.act(police, tip.id, "acknowledge")
        await moderation.act(police, tip.id, outcome)
    async with db.read() as uow:
        closed = await uow.tips.by_id(tip.id)
        news = await uow.messages.to_tipster(tip.id)
    assert closed is not None and closed.is_closed
    session = Session(lang=language)
    session.lookup_purpose = "status"
    view = conversation.StatusView(closed, [], "Thành phố Cần Thơ", "Phường Ninh Kiều")
    status = conversation.after_receipt_ok(session, view, CTX).replies[0].text
    return news[-1].text, status


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("outcome", list(OUTCOME_WORDS))
async def test_the_tipster_reads_the_outcome_word(storage: Storage, outcome: str, language: str) -> None:
    news, status = await _close(storage, outcome, language)
    words, thanks = OUTCOME_WORDS[outcome][language], THANKS[language]
    status_line = next(line for line in status.splitlines() if line.startswith(("Trạng thái:", "Status:")))
    for text in (news, status_line):
        assert words in text.lower(), (outcome, text)
        assert thanks in text, (outcome, text)
        for other, other_words in OUTCOME_WORDS.items():
            if other != outcome and not (outcome == "not_verified" and other == "unfounded"):
                assert other_words[language] not in text.lower(), (outcome, other, text)
    if outcome == "transferred":
        assert NOT_FOR_TRANSFERRED[language] not in news.lower() and NOT_FOR_TRANSFERRED[language] not in status_line.lower()
