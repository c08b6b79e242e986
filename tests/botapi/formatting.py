"""Telegram's text formatting: parse_mode parsers, automatic entities and UTF-16 arithmetic.

Why a real parser: the most common way a bot breaks in production is text Telegram refuses to
parse (an unescaped ``<`` from user input inside an HTML message, a ``.`` in MarkdownV2) or text
that is too long once the markup is stripped. The parsers below follow the algorithm of tdlib's
``parse_html`` / ``parse_markdown_v2`` / ``parse_markdown`` (what the Bot API server runs), including
its error messages, which the Bot API prefixes with ``"Bad Request: can't parse entities: "``.

Entity offsets and lengths are in UTF-16 code units, as in the Bot API.

One deliberate deviation (``strict_ampersand``): tdlib keeps a ``&`` that does not start a known
entity as a literal ``&``; Telegram's documentation says every ``&`` outside an entity *must* be
written ``&amp;``. By default we refuse a bare ``&`` so a missing ``html.escape`` on user input is
caught by the tests (with a real ``<`` it would break in production anyway).
"""

from __future__ import annotations

import re
from collections.abc import Callable

__all__ = [
    "EntityParseError",
    "auto_entities",
    "check_link",
    "finalize_text",
    "parse_html",
    "parse_markdown",
    "parse_markdown_v2",
    "parse_text",
    "sort_entities",
    "u16len",
    "utf16_slice",
]


class EntityParseError(ValueError):
    """The text can't be parsed; ``str(err)`` is tdlib's message (without the Bot API prefix)."""


def u16len(text: str) -> int:
    """Length of ``text`` in UTF-16 code units (what Telegram's offsets and lengths count)."""
    return len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF)


def _byte_offset(text: str, index: int) -> int:
    return len(text[:index].encode("utf-8"))


# --------------------------------------------------------------------------------------- links

_LINK_SCHEMES = ("http://", "https://", "tg://", "ton://", "mailto:", "tonsite://")
_DOMAINISH = re.compile(r"^[\w-]+(\.[\w-]+)+(:\d+)?([/?#].*)?$", re.UNICODE)
_TG_USER = re.compile(r"^tg://user\?id=(\d+)$", re.IGNORECASE)


def check_link(url: str) -> str | None:
    """A loose version of tdlib's ``LinkManager::check_link``: the normalised URL or ``None``.

    tdlib silently drops a text link whose URL it can't parse (the text stays, unformatted).
    """
    url = url.strip()
    if not url or any(ch.isspace() for ch in url):
        return None
    lower = url.lower()
    if lower.startswith(_LINK_SCHEMES):
        return url
    if "://" in url:
        return None
    if _DOMAINISH.match(url):
        return "http://" + url + ("/" if "/" not in url else "")
    return None


UserResolver = Callable[[int], dict | None]


def _link_entity(url: str, offset: int, length: int, resolve_user: UserResolver | None) -> dict | None:
    m = _TG_USER.match(url.strip())
    if m:
        user = resolve_user(int(m.group(1))) if resolve_user else None
        if user is None:
            return None
        return {"type": "text_mention", "offset": offset, "length": length, "user": user}
    checked = check_link(url)
    if checked is None:
        return None
    return {"type": "text_link", "offset": offset, "length": length, "url": checked}


# ---------------------------------------------------------------------------------------- HTML

_HTML_TAGS = {
    "a", "b", "strong", "i", "em", "s", "strike", "del", "u", "ins",
    "tg-spoiler", "tg-emoji", "span", "pre", "code", "blockquote",
}  # fmt: skip
_SIMPLE_HTML = {
    "b": "bold", "strong": "bold", "i": "italic", "em": "italic", "u": "underline",
    "ins": "underline", "s": "strikethrough", "strike": "strikethrough", "del": "strikethrough",
    "tg-spoiler": "spoiler", "span": "spoiler",
}  # fmt: skip
_HTML_NAMED = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}


def _is_space(ch: str) -> bool:
    return ch in " \t\r\n\v\f\0"


def _decode_html_entity(text: str, pos: int) -> tuple[str, int] | None:
    """tdlib's ``decode_html_entity``: (character, position after it) or None if not an entity."""
    n = len(text)
    end = pos + 1
    if end < n and text[end] == "#":
        end += 1
        value = 0
        if end < n and text[end] == "x":
            end += 1
            while end < n and text[end] in "0123456789abcdefABCDEF":
                value = value * 16 + int(text[end], 16)
                end += 1
        else:
            while end < n and text[end].isascii() and text[end].isdigit():
                value = value * 10 + int(text[end])
                end += 1
        if value == 0 or value >= 0x10FFFF or end - pos >= 10:
            return None
        char = chr(value)
    else:
        while end < n and text[end].isascii() and text[end].isalpha():
            end += 1
        char = _HTML_NAMED.get(text[pos + 1 : end])
        if char is None:
            return None
    if end < n and text[end] == ";":
        end += 1
    return char, end


def parse_html(text: str, *, strict_ampersand: bool = True, resolve_user: UserResolver | None = None) -> tuple[str, list[dict]]:
    """Parse Telegram's HTML subset into (plain text, entities). Raises :class:`EntityParseError`."""
    out: list[str] = []
    u16 = 0
    entities: list[dict] = []
    # each open tag: [tag name, argument, utf16 offset, index into `out` joined length, expandable]
    nested: list[list] = []
    plain_len = 0  # number of characters appended so far (to slice link text)
    n = len(text)
    i = 0

    def append(s: str) -> None:
        nonlocal u16, plain_len
        out.append(s)
        u16 += u16len(s)
        plain_len += len(s)

    while i < n:
        c = text[i]
        if c == "&":
            decoded = _decode_html_entity(text, i)
            if decoded is not None:
                append(decoded[0])
                i = decoded[1]
                continue
            if strict_ampersand:
                raise EntityParseError(
                    f'Unescaped "&" at byte offset {_byte_offset(text, i)}: '
                    "write it as &amp; (Telegram's HTML rules; the fake server enforces them)"
                )
        if c != "<":
            # Plain text up to the next tag or entity, in one piece (character by character is slow).
            stops = [p for p in (text.find("<", i), text.find("&", i + 1)) if p != -1]
            stop = min(stops) if stops else n
            append(text[i:stop])
            i = stop
            continue

        begin = i
        i += 1
        if i >= n or text[i] != "/":
            # ---- start tag
            while i < n and not _is_space(text[i]) and text[i] != ">":
                i += 1
            if i >= n:
                raise EntityParseError(f"Unclosed start tag at byte offset {_byte_offset(text, begin)}")
            tag = text[begin + 1 : i].lower()
            if tag not in _HTML_TAGS:
                raise EntityParseError(f'Unsupported start tag "{tag}" at byte offset {_byte_offset(text, begin)}')
            argument = ""
            expandable = False
            while i < n and text[i] != ">":
                while i < n and _is_space(text[i]):
                    i += 1
                if i < n and text[i] == ">":
                    break
                attr_begin = i
                while i < n and not _is_space(text[i]) and text[i] not in "=>":
                    i += 1
                attr_name = text[attr_begin:i]
                if not attr_name:
                    raise EntityParseError(
                        f'Empty attribute name in the tag "{tag}" at byte offset {_byte_offset(text, begin)}'
                    )
                while i < n and _is_space(text[i]):
                    i += 1
                if i >= n or text[i] != "=":
                    if tag == "blockquote" and attr_name == "expandable":
                        expandable = True
                        continue
                    if i >= n:
                        raise EntityParseError(f'Unclosed start tag "{tag}" at byte offset {_byte_offset(text, begin)}')
                    raise EntityParseError(
                        f'Expected equal sign in declaration of an attribute of the tag "{tag}" '
                        f"at byte offset {_byte_offset(text, begin)}"
                    )
                i += 1
                while i < n and _is_space(text[i]):
                    i += 1
                if i >= n:
                    raise EntityParseError(f'Unclosed start tag "{tag}" at byte offset {_byte_offset(text, begin)}')
                if text[i] not in "'\"":
                    # unquoted: a name token (letters, digits, '.', '-'), case-insensitive
                    token_begin = i
                    while i < n and (text[i].isascii() and text[i].isalnum() or text[i] in ".-"):
                        i += 1
                    value = text[token_begin:i].lower()
                    if i < n and not _is_space(text[i]) and text[i] != ">":
                        raise EntityParseError(f"Unexpected end of name token at byte offset {_byte_offset(text, token_begin)}")
                else:
                    quote = text[i]
                    i += 1
                    chars: list[str] = []
                    while i < n and text[i] != quote:
                        if text[i] == "&":
                            decoded = _decode_html_entity(text, i)
                            if decoded is not None:
                                chars.append(decoded[0])
                                i = decoded[1]
                                continue
                        chars.append(text[i])
                        i += 1
                    if i < n:
                        i += 1
                    value = "".join(chars)
                if i >= n:
                    raise EntityParseError(f"Unclosed start tag at byte offset {_byte_offset(text, begin)}")
                if tag == "a" and attr_name == "href":
                    argument = value
                elif tag == "code" and attr_name == "class" and value.startswith("language-"):
                    argument = value[len("language-") :]
                elif tag == "span" and attr_name == "class" and value.startswith("tg-"):
                    argument = value[len("tg-") :]
                elif tag == "tg-emoji" and attr_name == "emoji-id":
                    argument = value
                elif tag == "blockquote" and attr_name == "expandable":
                    expandable = True
            if tag == "span" and argument != "spoiler":
                raise EntityParseError(f'Tag "span" must have class "tg-spoiler" at byte offset {_byte_offset(text, begin)}')
            nested.append([tag, argument, u16, plain_len, expandable])
            i += 1  # skip '>'
            continue

        # ---- end tag
        if not nested:
            raise EntityParseError(f"Unexpected end tag at byte offset {_byte_offset(text, begin)}")
        i += 1  # skip '/'
        name_begin = i
        while i < n and not _is_space(text[i]) and text[i] != ">":
            i += 1
        end_name = text[name_begin:i].lower()
        while i < n and _is_space(text[i]):
            i += 1
        if i >= n or text[i] != ">":
            raise EntityParseError(f"Unclosed end tag at byte offset {_byte_offset(text, begin)}")
        i += 1
        tag, argument, offset, begin_plain, expandable = nested.pop()
        if end_name and end_name != tag:
            raise EntityParseError(
                f'Unmatched end tag at byte offset {_byte_offset(text, begin)}, expected "</{tag}>", found "</{end_name}>"'
            )
        length = u16 - offset
        if length <= 0:
            continue
        if tag in _SIMPLE_HTML:
            entities.append({"type": _SIMPLE_HTML[tag], "offset": offset, "length": length})
        elif tag == "a":
            url = argument or "".join(out)[begin_plain:]
            entity = _link_entity(url, offset, length, resolve_user)
            if entity:
                entities.append(entity)
        elif tag == "tg-emoji":
            if not argument.isdigit():
                raise EntityParseError("Invalid custom emoji identifier specified")
            entities.append({"type": "custom_emoji", "offset": offset, "length": length, "custom_emoji_id": argument})
        elif tag == "blockquote":
            kind = "expandable_blockquote" if expandable else "blockquote"
            entities.append({"type": kind, "offset": offset, "length": length})
        elif tag == "pre":
            last = entities[-1] if entities else None
            if last and last["type"] == "code" and last["offset"] == offset and last["length"] == length and last.get("_language"):
                last["type"] = "pre"
                last["language"] = last.pop("_language")
            else:
                entities.append({"type": "pre", "offset": offset, "length": length})
        elif tag == "code":
            last = entities[-1] if entities else None
            if last and last["type"] == "pre" and last["offset"] == offset and last["length"] == length and argument:
                last["language"] = argument
            else:
                entity = {"type": "code", "offset": offset, "length": length}
                if argument:
                    entity["_language"] = argument
                entities.append(entity)

    if nested:
        raise EntityParseError(f'Can\'t find end tag corresponding to start tag "{nested[-1][0]}"')
    for entity in entities:
        entity.pop("_language", None)
    return "".join(out), entities


# ---------------------------------------------------------------------------------- MarkdownV2

_MDV2_RESERVED = "_*[]()~`>#+-=|{}.!"
_MDV2_TYPE_NAMES = {
    "bold": "Bold", "italic": "Italic", "underline": "Underline", "strikethrough": "Strikethrough",
    "spoiler": "Spoiler", "code": "Code", "pre": "Pre", "text_link": "TextUrl", "custom_emoji": "CustomEmoji",
}  # fmt: skip


def parse_markdown_v2(text: str, *, resolve_user: UserResolver | None = None) -> tuple[str, list[dict]]:
    """MarkdownV2 as in tdlib's ``parse_markdown_v2`` (block quotes: simple ``>`` lines only)."""
    out: list[str] = []
    u16 = 0
    plain_len = 0
    entities: list[dict] = []
    nested: list[dict] = []  # {type, argument, offset, byte_offset, begin_plain}
    quote: dict | None = None  # open block quote
    n = len(text)
    i = 0

    def append(s: str) -> None:
        nonlocal u16, plain_len
        out.append(s)
        u16 += u16len(s)
        plain_len += len(s)

    def peek(k: int) -> str:
        return text[k] if k < n else ""

    def in_code() -> bool:
        return bool(nested) and nested[-1]["type"] in ("code", "pre")

    while i < n:
        c = text[i]
        at_line_start = i == 0 or text[i - 1] == "\n"
        if at_line_start and not in_code():
            if c == ">":
                if quote is None:
                    quote = {"offset": u16}
                i += 1
                continue
            if quote is not None:
                _close_quote(entities, quote, u16, out)
                quote = None
        if c == "\\" and i + 1 < n and 0 < ord(text[i + 1]) <= 126:
            append(text[i + 1])
            i += 2
            continue
        reserved = "`" if in_code() else _MDV2_RESERVED
        if c not in reserved:
            append(c)
            i += 1
            continue

        top = nested[-1]["type"] if nested else None
        is_end = (
            (top == "bold" and c == "*")
            or (top == "italic" and c == "_" and peek(i + 1) != "_")
            or (top == "code" and c == "`")
            or (top == "pre" and c == "`" and peek(i + 1) == "`" and peek(i + 2) == "`")
            or (top in ("text_link", "custom_emoji") and c == "]")
            or (top == "underline" and c == "_" and peek(i + 1) == "_")
            or (top == "strikethrough" and c == "~")
            or (top == "spoiler" and c == "|" and peek(i + 1) == "|")
        )
        if not is_end:
            byte_offset = _byte_offset(text, i)
            argument = ""
            if c == "_":
                if peek(i + 1) == "_":
                    kind = "underline"
                    i += 1
                else:
                    kind = "italic"
            elif c == "*":
                kind = "bold"
            elif c == "~":
                kind = "strikethrough"
            elif c == "|" and peek(i + 1) == "|":
                kind = "spoiler"
                i += 1
            elif c == "[":
                kind = "text_link"
            elif c == "`":
                if peek(i + 1) == "`" and peek(i + 2) == "`":
                    i += 3
                    kind = "pre"
                    lang_end = i
                    while lang_end < n and not _is_space(text[lang_end]) and text[lang_end] != "`":
                        lang_end += 1
                    if i != lang_end and lang_end < n and text[lang_end] != "`":
                        argument = text[i:lang_end]
                        i = lang_end
                    if peek(i) in ("\n", "\r"):
                        i += 2 if peek(i + 1) in ("\n", "\r") and peek(i) != peek(i + 1) else 1
                    i -= 1
                else:
                    kind = "code"
            elif c == "!" and peek(i + 1) == "[":
                kind = "custom_emoji"
                i += 1
            else:
                raise EntityParseError(f"Character '{c}' is reserved and must be escaped with the preceding '\\'")
            nested.append({"type": kind, "argument": argument, "offset": u16, "byte_offset": byte_offset, "begin_plain": plain_len})
            i += 1
            continue

        # end of an entity
        entry = nested.pop()
        kind = entry["type"]
        skip = u16 == entry["offset"]
        entity: dict | None = {"type": kind, "offset": entry["offset"], "length": u16 - entry["offset"]}
        if kind in ("underline", "spoiler"):
            i += 1
        elif kind == "pre":
            i += 2
            if entry["argument"]:
                entity["language"] = entry["argument"]
        elif kind in ("text_link", "custom_emoji"):
            url = ""
            if peek(i + 1) != "(":
                url = "".join(out)[entry["begin_plain"] :]
            else:
                i += 2
                url_begin = i
                chars = []
                while i < n and text[i] != ")":
                    if text[i] == "\\" and i + 1 < n and 0 < ord(text[i + 1]) <= 126:
                        chars.append(text[i + 1])
                        i += 2
                        continue
                    chars.append(text[i])
                    i += 1
                if i >= n:
                    raise EntityParseError(f"Can't find end of a URL at byte offset {_byte_offset(text, url_begin)}")
                url = "".join(chars)
            if kind == "custom_emoji":
                m = re.match(r"^tg://emoji\?id=(\d+)$", url)
                if not m:
                    raise EntityParseError("Custom emoji URL must have an emoji identifier")
                entity["custom_emoji_id"] = m.group(1)
            else:
                entity = None if skip else _link_entity(url, entry["offset"], u16 - entry["offset"], resolve_user)
        if entity is not None and not skip:
            entities.append(entity)
        i += 1

    if nested:
        entry = nested[-1]
        raise EntityParseError(f"Can't find end of {_MDV2_TYPE_NAMES[entry['type']]} entity at byte offset {entry['byte_offset']}")
    if quote is not None:
        _close_quote(entities, quote, u16, out)
    return "".join(out), entities


def _close_quote(entities: list[dict], quote: dict, u16: int, out: list[str]) -> None:
    end = u16
    if "".join(out).endswith("\n"):
        end -= 1
    if end > quote["offset"]:
        entities.append({"type": "blockquote", "offset": quote["offset"], "length": end - quote["offset"]})


# ------------------------------------------------------------------------------ legacy Markdown


def parse_markdown(text: str, *, resolve_user: UserResolver | None = None) -> tuple[str, list[dict]]:
    """Legacy ``Markdown`` mode (tdlib's ``parse_markdown``): *bold* _italic_ `code` ```pre``` [t](url)."""
    out: list[str] = []
    u16 = 0
    entities: list[dict] = []
    n = len(text)
    i = 0
    while i < n:
        c = text[i]
        if c == "\\" and i + 1 < n and text[i + 1] in "_*`[":
            out.append(text[i + 1])
            u16 += 1
            i += 2
            continue
        if c not in "_*`[":
            out.append(c)
            u16 += u16len(c)
            i += 1
            continue
        begin = i
        end_char = "]" if c == "[" else c
        is_pre = False
        language = ""
        if c == "`" and text[i + 1 : i + 3] == "``":
            i += 3
            is_pre = True
            lang_end = i
            while lang_end < n and not _is_space(text[lang_end]) and text[lang_end] != "`":
                lang_end += 1
            if i != lang_end and lang_end < n and text[lang_end] != "`":
                language = text[i:lang_end]
                i = lang_end
            if i < n and text[i] in "\r\n":
                i += 1
        else:
            i += 1
        offset = u16
        begin_plain = len("".join(out))
        while i < n and (text[i] != end_char or (is_pre and text[i : i + 3] != "```")):
            out.append(text[i])
            u16 += u16len(text[i])
            i += 1
        if i >= n:
            raise EntityParseError(f"Can't find end of the entity starting at byte offset {_byte_offset(text, begin)}")
        length = u16 - offset
        if is_pre:
            i += 3
            if length:
                entity = {"type": "pre", "offset": offset, "length": length}
                if language:
                    entity["language"] = language
                entities.append(entity)
            continue
        i += 1
        if c == "[":
            url = "".join(out)[begin_plain:]
            if i < n and text[i] == "(":
                close = text.find(")", i)
                if close == -1:
                    raise EntityParseError(f"Can't find end of a URL at byte offset {_byte_offset(text, i)}")
                url = text[i + 1 : close]
                i = close + 1
            if length:
                entity = _link_entity(url, offset, length, resolve_user)
                if entity:
                    entities.append(entity)
            continue
        if length:
            kind = {"*": "bold", "_": "italic", "`": "code"}[c]
            entities.append({"type": kind, "offset": offset, "length": length})
    return "".join(out), entities


# ------------------------------------------------------------------------------------ dispatch

PARSE_MODES = {"html": "HTML", "markdownv2": "MarkdownV2", "markdown": "Markdown"}


def parse_text(
    text: str,
    parse_mode: str | None,
    *,
    strict_ampersand: bool = True,
    resolve_user: UserResolver | None = None,
) -> tuple[str, list[dict]]:
    """Apply ``parse_mode`` (case-insensitive, like the Bot API). Unknown modes raise KeyError."""
    mode = (parse_mode or "").lower()
    if not mode:
        return text, []
    if mode not in PARSE_MODES:
        raise KeyError(parse_mode)
    if mode == "html":
        return parse_html(text, strict_ampersand=strict_ampersand, resolve_user=resolve_user)
    if mode == "markdownv2":
        return parse_markdown_v2(text, resolve_user=resolve_user)
    return parse_markdown(text, resolve_user=resolve_user)


# -------------------------------------------------------------------- automatic entities / trim

_AUTO_PATTERNS = [
    ("bot_command", re.compile(r"(?<![\w/])/[A-Za-z0-9_]{1,64}(?:@[A-Za-z0-9_]{3,32})?(?![\w/])")),
    ("email", re.compile(r"(?<![\w.+-])[\w.+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b")),
    ("mention", re.compile(r"(?<![\w@])@[A-Za-z][A-Za-z0-9_]{3,31}\b")),
    ("hashtag", re.compile(r"(?<![\w#])#\w*[^\W\d]\w*")),
    ("cashtag", re.compile(r"(?<![\w$])\$[A-Z]{3,8}\b")),
    ("url", re.compile(r"\b(?:https?://|www\.)[^\s<>\"]+[^\s<>\".,;:!?)\]'»]")),
]
_NO_AUTO_INSIDE = {"code", "pre", "text_link", "url", "email", "text_mention"}


def auto_entities(text: str, existing: list[dict] | None = None) -> list[dict]:
    """Entities Telegram adds by itself (commands, mentions, hashtags, links, e-mails).

    Like tdlib, nothing is detected inside code, pre or existing links.
    """
    taken = [(e["offset"], e["offset"] + e["length"]) for e in (existing or []) if e["type"] in _NO_AUTO_INSIDE]
    found: list[dict] = []
    for kind, pattern in _AUTO_PATTERNS:
        for m in pattern.finditer(text):
            offset = u16len(text[: m.start()])
            length = u16len(m.group(0))
            span = (offset, offset + length)
            if any(span[0] < end and start < span[1] for start, end in taken):
                continue
            taken.append(span)
            found.append({"type": kind, "offset": offset, "length": length})
    return found


def sort_entities(entities: list[dict]) -> list[dict]:
    return sorted(entities, key=lambda e: (e["offset"], -e["length"]))


_TRIM = " \t\n\r\v\f"


def finalize_text(text: str, entities: list[dict]) -> tuple[str, list[dict]]:
    """tdlib's ``fix_formatted_text`` essentials: trim surrounding whitespace, clip entities.

    This is why ``"  hi\\n"`` is stored as ``"hi"`` and why ``"<b> </b>"`` is an *empty* message.
    """
    lead = len(text) - len(text.lstrip(_TRIM))
    stripped = text.strip(_TRIM)
    shift = u16len(text[:lead])
    total = u16len(stripped)
    fixed = []
    for entity in entities:
        start = max(0, entity["offset"] - shift)
        end = min(total, entity["offset"] + entity["length"] - shift)
        if end > start:
            fixed.append({**entity, "offset": start, "length": end - start})
    return stripped, sort_entities(fixed)


def utf16_slice(text: str, offset: int, length: int) -> str:
    """The substring an entity covers (offset/length in UTF-16 code units)."""
    data = text.encode("utf-16-le")
    return data[offset * 2 : (offset + length) * 2].decode("utf-16-le")
