"""The translation catalogs (locales/*/LC_MESSAGES/tipline.po) are complete, current and well-formed.

Works from the .po sources (the compiled .mo files are not committed) and extracts the messages from the
code in memory, the way `make extract` does, so a new or changed string in the code without a translation
fails here. Fix: run `make extract`, then translate the new entries in every language's tipline.po.
"""

from __future__ import annotations

import re
import string
import unicodedata
from pathlib import Path

import pytest
from babel.messages.catalog import PYTHON_FORMAT, Catalog, Message
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[1]
LOCALES = ROOT / "src" / "tipline" / "locales"
DOMAIN = "tipline"
LANGUAGES = ("vi", "en")
SOURCE_DIRS = ("src", "bot")
# The same keywords as the Makefile's `pybabel extract -k N_ -k ngettext:1,2` (plus Babel's defaults).
KEYWORDS = {**DEFAULT_KEYWORDS, "_": None, "N_": None, "ngettext": (1, 2)}
PLURAL_FORMS = {"vi": (1, "nplurals=1; plural=0;"), "en": (2, "nplurals=2; plural=(n != 1);")}
HOW_TO_FIX = "run `make extract`, then translate the new entries in locales/*/LC_MESSAGES/tipline.po"

VIETNAMESE_LETTERS = frozenset(
    "àáảãạăằắẳẵặâầấẩẫậèéẻẽẹêềếểễệìíỉĩịòóỏõọôồốổỗộơờớởỡợùúủũụưừứửữựỳýỷỹỵđ"
    "ÀÁẢÃẠĂẰẮẲẴẶÂẦẤẨẪẬÈÉẺẼẸÊỀẾỂỄỆÌÍỈĨỊÒÓỎÕỌÔỒỐỔỖỘƠỜỚỞỠỢÙÚỦŨỤƯỪỨỬỮỰỲÝỶỸỴĐ"
)
# Key terms of the bot written without their diacritics: a sign of a translation typed on a bare keyboard.
UNACCENTED_TERMS = ("ma tuy", "tin bao", "mat khau", "cam on", "cong an", "xin loi", "bang chung")
_COMMAND = re.compile(r"(?<![\w/}])/[a-z_]+\b")
_TIP_CODE = re.compile(r"\bTL-[0-9A-Z]{4}-[0-9A-Z]{4}\b")


def _po_path(language: str) -> Path:
    return LOCALES / language / "LC_MESSAGES" / f"{DOMAIN}.po"


def _load(path: Path, language: str | None = None) -> Catalog:
    # abort_invalid: a plural entry with more forms than the header's nplurals is an error, not a warning.
    with path.open("rb") as handle:
        return read_po(handle, locale=language, domain=DOMAIN, abort_invalid=True)


@pytest.fixture(scope="module", params=LANGUAGES)
def language(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture(scope="module")
def catalog(language: str) -> Catalog:
    path = _po_path(language)
    assert path.is_file(), f"no catalog for {language!r} at {path.relative_to(ROOT)}: {HOW_TO_FIX}"
    return _load(path, language)


@pytest.fixture(scope="module")
def extracted() -> dict[object, tuple[str | tuple[str, ...], list[str]]]:
    """Every message in the code: catalog key → (msgid, the places it is used)."""
    with (ROOT / "babel.cfg").open() as handle:
        method_map, options_map = parse_mapping_cfg(handle)
    found: dict[object, tuple[str | tuple[str, ...], list[str]]] = {}
    for directory in SOURCE_DIRS:
        for filename, lineno, message, _comments, context in extract_from_dir(
            ROOT / directory, method_map, options_map, keywords=KEYWORDS, comment_tags=("TRANSLATORS:",)
        ):
            msgid = message if isinstance(message, str) else tuple(message)
            singular = msgid if isinstance(msgid, str) else msgid[0]
            key = singular if context is None else (singular, context)
            found.setdefault(key, (msgid, []))[1].append(f"{directory}/{filename}:{lineno}")
    assert found, "no messages extracted from the code: check babel.cfg and the keywords"
    return found


def _entries(catalog: Catalog) -> list[Message]:
    return [message for message in catalog if message.id]


def _forms(message: Message) -> tuple[str, ...]:
    string_ = message.string
    if isinstance(string_, (list, tuple)):
        return tuple(string_)
    return (string_ or "",)


def _key(message: Message) -> object:
    """The key of a message in ``extracted``: its singular msgid, with the context if it has one."""
    singular = message.id if isinstance(message.id, str) else message.id[0]
    return singular if message.context is None else (singular, message.context)


def _label(message: Message) -> str:
    msgid = message.id if isinstance(message.id, str) else message.id[0]
    return repr(msgid if len(msgid) <= 70 else msgid[:67] + "...")


def _fields(text: str) -> set[str]:
    """The replacement fields of a str.format() template, as written ({name}, {lat:.5f}, {x!r}).

    Raises ValueError for a broken template (a stray brace)."""
    fields = set()
    for _literal, name, spec, conversion in string.Formatter().parse(text):
        if name is not None:
            fields.add("{" + name + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "") + "}")
    return fields


def _brace_template(text: str) -> bool:
    try:
        return bool(_fields(text))
    except ValueError:
        return False


def _is_brace_format(message: Message) -> bool:
    ids = (message.id,) if isinstance(message.id, str) else message.id
    return "python-brace-format" in message.flags or any(_brace_template(msgid) for msgid in ids)


def _expected_fields(message: Message, index: int, nplurals: int) -> set[str]:
    """The fields plural form ``index`` must have: a form used for several numbers must show the number."""
    if isinstance(message.id, str):
        return _fields(message.id)
    singular, plural = message.id[0], message.id[1]
    if nplurals == 1 or index > 0:
        return _fields(plural)
    return _fields(singular)


class _Dummy:
    """Stands in for any value: formats like a number or a string, as the format spec asks."""

    def __format__(self, spec: str) -> str:
        kind = spec[-1] if spec and (spec[-1].isalpha() or spec[-1] == "%") else ""
        value: object = "x" if kind == "s" else 1.5 if kind in ("e", "E", "f", "F", "g", "G", "%") else 7
        return format(value, spec)

    def __getattr__(self, name: str) -> _Dummy:
        return self

    def __getitem__(self, key: object) -> _Dummy:
        return self


def _format_brace(template: str) -> str:
    names: dict[str, _Dummy] = {}
    automatic, numbered = 0, 0
    for _literal, name, _spec, _conversion in string.Formatter().parse(template):
        if name is None:
            continue
        base = re.split(r"[.\[]", name, maxsplit=1)[0]
        if base == "":
            automatic += 1
        elif base.isdigit():
            numbered = max(numbered, int(base) + 1)
        else:
            names[base] = _Dummy()
    return template.format(*[_Dummy()] * max(automatic, numbered), **names)


def _percent_values(template: str) -> dict[str, object] | tuple[object, ...]:
    values: dict[str, object] = {}
    positional: list[object] = []
    for match in PYTHON_FORMAT.finditer(template):
        name, kind = match.group(2), match.group(5)
        if kind == "%":
            continue
        value = 7 if kind in "diouxXc" else 1.5 if kind in "eEfFgG" else "x"
        if name:
            values[name] = value
        else:
            positional.append(value)
    return values if values else tuple(positional)


# --- (a) complete: every entry translated, none fuzzy; headers right ------------------------------


def test_catalog_header(language: str, catalog: Catalog) -> None:
    nplurals, rule = PLURAL_FORMS[language]
    assert str(catalog.locale) == language
    headers = dict(catalog.mime_headers)
    assert headers.get("Language") == language
    assert headers.get("Plural-Forms") == rule, f"{language}: Plural-Forms should be {rule!r}"
    assert catalog.num_plurals == nplurals
    assert "charset=utf-8" in headers.get("Content-Type", "").lower().replace(" ", "")


def test_no_missing_translations(language: str, catalog: Catalog) -> None:
    missing = [_label(m) for m in _entries(catalog) if not all(form.strip() for form in _forms(m))]
    assert not missing, f"{language}: {len(missing)} untranslated entries:\n" + "\n".join(missing)


def test_no_fuzzy_translations(language: str, catalog: Catalog) -> None:
    fuzzy = [_label(m) for m in _entries(catalog) if m.fuzzy]
    assert not fuzzy, f"{language}: fuzzy entries (check, then drop the fuzzy flag):\n" + "\n".join(fuzzy)


def test_plural_entries_have_one_form_per_plural(language: str, catalog: Catalog) -> None:
    nplurals = PLURAL_FORMS[language][0]
    wrong = [
        f"{_label(m)}: {len(_forms(m))} forms"
        for m in _entries(catalog)
        if m.pluralizable and len(_forms(m)) != nplurals
    ]
    assert not wrong, f"{language}: plural entries need exactly {nplurals} form(s):\n" + "\n".join(wrong)


# --- (b) up to date with the code -------------------------------------------------------------------


def test_every_message_in_the_code_is_in_the_catalog(language: str, catalog: Catalog, extracted: dict) -> None:
    missing = []
    for key, (msgid, places) in sorted(extracted.items(), key=lambda item: str(item[0])):
        singular, context = (key, None) if isinstance(key, str) else key
        message = catalog.get(singular, context)
        if message is None:
            missing.append(f"{singular!r} ({places[0]})")
        elif isinstance(msgid, tuple) != isinstance(message.id, (list, tuple)) or (
            isinstance(msgid, tuple) and tuple(message.id) != msgid
        ):
            missing.append(f"{singular!r} ({places[0]}): singular/plural forms changed")
    assert not missing, (
        f"{language}: {len(missing)} message(s) in the code are not in the catalog; {HOW_TO_FIX}:\n"
        + "\n".join(missing)
    )


def test_catalog_has_no_obsolete_entries(language: str, catalog: Catalog, extracted: dict) -> None:
    obsolete = [repr(key) for key in catalog.obsolete]
    stale = [_label(m) for m in _entries(catalog) if _key(m) not in extracted]
    assert not obsolete, f"{language}: obsolete (#~) entries; {HOW_TO_FIX}:\n" + "\n".join(obsolete)
    assert not stale, f"{language}: entries no longer used in the code; {HOW_TO_FIX}:\n" + "\n".join(stale)


def test_template_is_up_to_date(extracted: dict) -> None:
    template = _load(LOCALES / f"{DOMAIN}.pot")
    in_template = {m.id if isinstance(m.id, str) else m.id[0] for m in _entries(template)}
    in_code = {key if isinstance(key, str) else key[0] for key in extracted}
    assert in_template == in_code, (
        f"locales/{DOMAIN}.pot is out of date; {HOW_TO_FIX}.\n"
        f"missing: {sorted(in_code - in_template)}\nnot in the code: {sorted(in_template - in_code)}"
    )


# --- (c) placeholders kept; (e) every translation formats --------------------------------------------


def test_translations_keep_the_placeholders(language: str, catalog: Catalog) -> None:
    nplurals = PLURAL_FORMS[language][0]
    wrong = []
    for message in _entries(catalog):
        if not _is_brace_format(message):
            continue
        for index, form in enumerate(_forms(message)):
            if not form:
                continue
            expected = _expected_fields(message, index, nplurals)
            try:
                got = _fields(form)
            except ValueError as error:
                wrong.append(f"{_label(message)}: broken braces in {form!r} ({error})")
                continue
            if got != expected:
                wrong.append(
                    f"{_label(message)}[{index}]: missing {sorted(expected - got)}, unexpected {sorted(got - expected)}"
                )
    assert not wrong, f"{language}: placeholders differ from the msgid:\n" + "\n".join(wrong)


def test_translations_format_without_error(language: str, catalog: Catalog) -> None:
    failures = []
    for message in _entries(catalog):
        brace = _is_brace_format(message)
        percent = "python-format" in message.flags
        if not (brace or percent):
            continue
        ids = (message.id,) if isinstance(message.id, str) else tuple(message.id)
        for text in (*ids, *_forms(message)):
            if not text:
                continue
            try:
                if brace:
                    _format_brace(text)
                if percent:
                    values = _percent_values(ids[-1])
                    text % values  # noqa: B018 - the point is that it does not raise
            except (KeyError, IndexError, ValueError, TypeError) as error:
                failures.append(f"{_label(message)}: {text!r} -> {type(error).__name__}: {error}")
    assert not failures, f"{language}: translations that fail to format:\n" + "\n".join(failures)


def test_translations_keep_commands_codes_line_breaks_and_emoji(language: str, catalog: Catalog) -> None:
    def symbols(text: str) -> list[str]:
        return sorted(ch for ch in text if unicodedata.category(ch) == "So")

    wrong = []
    for message in _entries(catalog):
        source = message.id if isinstance(message.id, str) else message.id[-1]
        for form in _forms(message):
            if not form:
                continue
            checks = {
                "commands": (set(_COMMAND.findall(source)), set(_COMMAND.findall(form))),
                "tip codes": (set(_TIP_CODE.findall(source)), set(_TIP_CODE.findall(form))),
                "line breaks": (source.count("\n"), form.count("\n")),
                "emoji": (symbols(source), symbols(form)),
            }
            for what, (expected, got) in checks.items():
                if expected != got:
                    wrong.append(f"{_label(message)}: {what} {expected!r} became {got!r}")
    assert not wrong, f"{language}:\n" + "\n".join(wrong)


# --- (d) the Vietnamese catalog is Vietnamese -----------------------------------------------------------


def test_vietnamese_catalog_has_diacritics() -> None:
    catalog = _load(_po_path("vi"), "vi")
    long_entries = [m for m in _entries(catalog) if len(_forms(m)[0]) > 15]
    assert long_entries
    plain = [_label(m) for m in long_entries if not VIETNAMESE_LETTERS.intersection(_forms(m)[0])]
    share = 1 - len(plain) / len(long_entries)
    assert share >= 0.8, (
        f"only {share:.0%} of the Vietnamese entries longer than 15 characters have Vietnamese diacritics "
        f"(untranslated or typed without diacritics?):\n" + "\n".join(plain)
    )


def test_vietnamese_catalog_writes_key_terms_with_diacritics() -> None:
    catalog = _load(_po_path("vi"), "vi")
    pattern = re.compile(r"\b(" + "|".join(UNACCENTED_TERMS) + r")\b", re.IGNORECASE)
    found = [f"{_label(m)}: {hit!r}" for m in _entries(catalog) for form in _forms(m) for hit in pattern.findall(form)]
    assert not found, "Vietnamese written without diacritics:\n" + "\n".join(found)
