"""Translations (gettext catalogs in the package's ``locales/``) and locale-aware formatting with Babel.

Vietnamese is the default. Strings are whole sentences inside ``_()``, formatted after translating;
``N_()`` marks import-time constants that are translated when shown.
"""

from __future__ import annotations

import gettext
import io
from datetime import date, datetime
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_datetime
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal

DOMAIN = "tipline"
LANGUAGES = ("vi", "en")
DEFAULT_LANGUAGE = "vi"
TIMEZONE = ZoneInfo("Asia/Ho_Chi_Minh")
# How a moment is written where the locale's own short form is not what people read: "10:54 ngày 02/12/2026".
_DATETIME_PATTERNS = {"vi": "HH:mm 'ngày' dd/MM/yyyy"}

# Shipped inside the package, so an installed wheel finds them; TIPLINE_LOCALES_DIR can override.
PACKAGED_LOCALES = Path(__file__).resolve().parent / "locales"
_locales_dir = PACKAGED_LOCALES


def N_(message: str) -> str:
    """Marks a string for extraction without translating it (translated later, where shown)."""
    return message


def set_locales_dir(path: Path) -> None:
    global _locales_dir
    _locales_dir = Path(path)
    translator.cache_clear()


class Translator:
    """One language's gettext functions plus Babel formatting."""

    def __init__(self, language: str, catalog: gettext.NullTranslations) -> None:
        self.language = language
        self._catalog = catalog

    def gettext(self, message: str) -> str:
        return self._catalog.gettext(message)

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        return self._catalog.ngettext(singular, plural, n)

    def datetime(self, moment: datetime) -> str:
        """A date and time in Vietnam's time zone: '14:05 ngày 26/11/2026' in Vietnamese."""
        pattern = _DATETIME_PATTERNS.get(self.language, "short")
        return format_datetime(moment.astimezone(TIMEZONE), pattern, tzinfo=TIMEZONE, locale=self.language)

    def date(self, day: date) -> str:
        """A calendar date: '26/11/2026' in Vietnamese, 'Nov 26, 2026' in English (never ambiguous)."""
        return format_date(day, "dd/MM/yyyy" if self.language == "vi" else "medium", locale=self.language)

    def number(self, value: float) -> str:
        """A number as people write it in this language: 3.000 and 25,3 in Vietnamese."""
        return format_decimal(value, format="#,##0.#", locale=self.language)


@cache
def translator(language: str) -> Translator:
    """The translator for a language; unknown languages fall back to Vietnamese."""
    if language not in LANGUAGES:
        language = DEFAULT_LANGUAGE
    return Translator(language, _load_catalog(language))


def _load_catalog(language: str) -> gettext.NullTranslations:
    """Loads the compiled catalog; compiles the .po in memory when the install step has not run."""
    base = _locales_dir / language / "LC_MESSAGES"
    mo_path, po_path = base / f"{DOMAIN}.mo", base / f"{DOMAIN}.po"
    if mo_path.exists() and (not po_path.exists() or mo_path.stat().st_mtime >= po_path.stat().st_mtime):
        with mo_path.open("rb") as handle:
            return gettext.GNUTranslations(handle)
    if po_path.exists():
        with po_path.open("rb") as handle:
            catalog = read_po(handle, locale=language)
        buffer = io.BytesIO()
        write_mo(buffer, catalog)
        buffer.seek(0)
        return gettext.GNUTranslations(buffer)
    raise FileNotFoundError(f"no translation catalog for {language!r} under {_locales_dir}")
