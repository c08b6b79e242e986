"""Prevention content for citizens: browse the library by topic, read an entry with its source, or type a
question in your own words and get the best entry (or the closest topics and the hotlines: never silence).

Reading lives beside reporting: every content screen offers "Report a tip", and a draft report stays where
it was. Nothing about what someone reads or asks is stored or logged: the only trace is the session's
current screen and the choices it offers (so they can be typed back on channels without buttons).

Content buttons are menu entries (``lib:...``), valid on any message however old: they only show content.
"""

from __future__ import annotations

from tipline.citizen.choices import global_option, menu_reply, texts, with_notice
from tipline.citizen.effects import Context, Result
from tipline.citizen.session import Screen, Session
from tipline.events import Inbound, Text
from tipline.facts import AMBULANCE_NUMBER, C04_HOTLINE, CHILD_PROTECTION_NUMBER, EMERGENCY_NUMBER
from tipline.outreach.library import Entry, Library, load
from tipline.places.textnorm import fold
from tipline.replies import Choice, Reply

PREFIX = "lib:"
TOPICS = "lib:topics"
MENU = "lib:menu"
QUESTION_MAX_CHARS = 300
RELATED = 2  # other entries offered under a search answer
RELATED_SHARE = 0.6  # ... if they score at least this share of the best one


def owns(action: str) -> bool:
    """Whether a menu entry is one of the library's."""
    return action.startswith(PREFIX)


def library(session: Session) -> Library:
    return load(session.lang)


def _nav(session: Session, *extra: Choice) -> tuple[tuple[Choice, ...], ...]:
    _ = texts(session).gettext
    return (
        *((choice,) for choice in extra),
        (global_option(_("📝 Report a tip"), "menu:report"),),
        (global_option(_("📚 All topics"), TOPICS), global_option(_("🏠 Menu"), MENU)),
    )


def hotlines(session: Session) -> str:
    _ = texts(session).gettext
    return _(
        "• Emergency, police: {emergency}\n"
        "• Ambulance (poisoning, seizures, unconsciousness): {ambulance}\n"
        "• Drug-crime line of the Ministry of Public Security: {c04} (call, SMS or Zalo, 24/7)\n"
        "• Child protection: {child} (free, 24/7)"
    ).format(emergency=EMERGENCY_NUMBER, ambulance=AMBULANCE_NUMBER, c04=C04_HOTLINE, child=CHILD_PROTECTION_NUMBER)


# --- screens ------------------------------------------------------------------------------------------


def open_library(session: Session) -> Result:
    """The topics, with the hotlines at hand and an invitation to type a question."""
    _ = texts(session).gettext
    session.screen = Screen.LIBRARY
    text = _(
        "About drugs and getting help. Choose a topic, or type a question in your own words, for example: "
        "“is laughing gas a drug?”"
    ) + "\n\n" + hotlines(session)
    topics = tuple((global_option(topic.title, f"lib:t:{topic.id}"),) for topic in library(session).topics())
    subscribe = global_option(_("📬 Get prevention messages"), "sub:start")
    return Result(session, [Reply(text, (*topics, (subscribe,), (global_option(_("🏠 Menu"), MENU),)))])


def _topic(session: Session, topic_id: str) -> Result:
    _ = texts(session).gettext
    book = library(session)
    topic = book.topic(topic_id)
    if topic is None:
        return with_notice(Reply(_("That topic is no longer available.")), open_library(session))
    session.screen = Screen.LIBRARY
    entries = tuple((global_option(entry.title, f"lib:e:{entry.id}"),) for entry in book.entries(topic.id))
    text = _("{topic}\nChoose what you would like to read:").format(topic=topic.title)
    return Result(session, [Reply(text, (*entries, *_nav(session)))])


def entry_replies(session: Session, entry: Entry, choices: tuple[tuple[Choice, ...], ...]) -> list[Reply]:
    """An entry as two screenfuls: what it says, then where its facts come from with what to read next."""
    _ = texts(session).gettext
    source = _("Source: {source}").format(source=entry.source)
    return [Reply(f"{entry.title}\n\n{entry.body}"), Reply(source, choices)]


def _entry(session: Session, entry_id: str, related: list[Entry] | None = None) -> Result:
    _ = texts(session).gettext
    book = library(session)
    entry = book.get(entry_id)
    if entry is None:
        return with_notice(Reply(_("That page is no longer available.")), open_library(session))
    session.screen = Screen.LIBRARY
    topic = book.topic(entry.topic)
    extra = [global_option(_("🔎 Also: {title}").format(title=other.title), f"lib:e:{other.id}") for other in related or []]
    if topic is not None:
        extra.append(global_option(_("⬅️ More on: {topic}").format(topic=topic.title), f"lib:t:{topic.id}"))
    return Result(session, entry_replies(session, entry, _nav(session, *extra)))


def global_action(session: Session, action: str, ctx: Context) -> Result:
    """A library button (valid on any message)."""
    if action == TOPICS:
        return open_library(session)
    if action == MENU:
        session.screen = Screen.MENU
        return Result(session, [menu_reply(session)])
    if action.startswith("lib:t:"):
        return _topic(session, action.removeprefix("lib:t:"))
    if action.startswith("lib:e:"):
        return _entry(session, action.removeprefix("lib:e:"))
    _ = texts(session).gettext
    return with_notice(Reply(_("That button is no longer valid.")), open_library(session))


# --- questions ----------------------------------------------------------------------------------------


def is_question(text: str) -> bool:
    """Typed words, not a bare number or punctuation (those are answered as a choice that was not there)."""
    return any(ch.isalpha() for ch in fold(text))


# Hellos people open a chat with: answered with the menu, not searched as a question.
_GREETINGS = frozenset(
    {"xin chao", "chao", "chao ban", "chao anh", "chao chi", "chao em", "alo", "a lo", "hello", "hi", "hey", "helo"}
)


def is_greeting(text: str) -> bool:
    """A hello, alone or with one more word ("chào bạn ạ", "hi there")."""
    words = "".join(ch if ch.isalnum() else " " for ch in fold(text)).split()
    return " ".join(words) in _GREETINGS or (len(words) <= 3 and " ".join(words[:-1]) in _GREETINGS)


def answer(session: Session, text: str, ctx: Context) -> Result:
    """The best entry for a typed question, or the closest topics and the hotlines when none answers it."""
    _ = texts(session).gettext
    question = text.strip()
    if len(question) > QUESTION_MAX_CHARS:
        question = question[:QUESTION_MAX_CHARS]
    book = library(session)
    found = book.search(question, limit=1 + RELATED)
    if found.confident and found.hits:
        best, *others = found.hits
        # Other entries are offered only when they answer nearly as well as the best one.
        related = [hit.entry for hit in others if hit.score >= RELATED_SHARE * best.score][:RELATED]
        return _entry(session, best.entry.id, related=related)
    session.screen = Screen.LIBRARY
    closest = [topic for topic in (book.topic(topic_id) for topic_id in found.topic_ids) if topic is not None][:3]
    reply_text = _(
        "I could not find a clear answer to that. Here are the closest topics; you can also ask for help directly:"
    ) + "\n" + hotlines(session)
    choices = [global_option(topic.title, f"lib:t:{topic.id}") for topic in closest]
    return Result(session, [Reply(reply_text, _nav(session, *choices))])


def step(session: Session, event: Inbound, ctx: Context, action: str | None) -> Result:
    """Something typed or sent while content is on screen: a question searches the library."""
    _ = texts(session).gettext
    if isinstance(event, Text) and is_question(event.text):
        return answer(session, event.text, ctx)
    notice = Reply(_("Please choose one of the options, or type your question in words."))
    return with_notice(notice, open_library(session))


def reprompt(session: Session, ctx: Context) -> Result:
    return open_library(session)
