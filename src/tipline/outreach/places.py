"""Places named by broadcasters (provinces and communes, by name or code), and how a campaign's audience reads."""

from __future__ import annotations

from tipline.i18n import N_, translator
from tipline.outreach.model import AudienceFilter
from tipline.places.communes import directory

EXACT = 0.999
LANGUAGE_NAMES = {"vi": "Tiếng Việt", "en": "English"}


def _clear(scores: list[float]) -> bool:
    return bool(scores) and scores[0] >= EXACT and (len(scores) == 1 or scores[1] < EXACT)


def resolve_places(items: list[str]) -> tuple[list[int], list[int], list[str]]:
    """Provinces and communes from what a broadcaster typed: codes, names with or without diacritics, or
    'commune, province' for a commune whose name is not unique. Returns (provinces, communes, problems)."""
    d = directory()
    provinces: list[int] = []
    communes: list[int] = []
    problems: list[str] = []
    for raw in items:
        item = raw.strip()
        if not item:
            continue
        if item.isdigit():
            code = int(item)
            if d.province(code) is not None and len(item) <= 3:
                provinces.append(code)
            elif d.commune(code) is not None:
                communes.append(code)
            else:
                problems.append(f"no province or commune with code {item}")
            continue
        name, _sep, within = item.partition(",")
        if within.strip():
            found = d.search_provinces(within.strip())
            if not _clear([m.score for m in found]):
                problems.append(f"{within.strip()!r}: not one province")
                continue
            matches = d.search(name.strip(), province_code=found[0].province.code, limit=3)
            if _clear([m.score for m in matches]):
                communes.append(matches[0].commune.code)
            else:
                problems.append(f"{item!r}: no single commune of that name there")
            continue
        found_provinces = d.search_provinces(item)
        if _clear([m.score for m in found_provinces]):
            provinces.append(found_provinces[0].province.code)
            continue
        matches = d.search(item, limit=3)
        if _clear([m.score for m in matches]):
            communes.append(matches[0].commune.code)
        elif matches and matches[0].score >= EXACT:
            problems.append(f"{item!r} names several communes: add the province ('{item}, Cần Thơ') or use its code")
        else:
            problems.append(f"{item!r}: no province or commune of that name")
    return sorted(set(provinces)), sorted(set(communes)), problems


AUDIENCE_NAMES = {
    "general": N_("Member of the public"),
    "parent": N_("Parent or family member"),
    "pupil": N_("Pupil or student"),
    "teacher": N_("Teacher"),
}


def audience_text(audience: AudienceFilter, lang: str) -> str:
    """Who a campaign reaches, in words."""
    t = translator(lang)
    _ = t.gettext
    d = directory()
    parts: list[str] = []
    names = [p.name for p in (d.province(code) for code in audience.provinces) if p is not None]
    names += [d.label(c) for c in (d.commune(code) for code in audience.communes) if c is not None]
    if names:
        parts.append(", ".join(names))
    if audience.audiences:
        parts.append(", ".join(_(AUDIENCE_NAMES[a]) for a in audience.audiences if a in AUDIENCE_NAMES))
    if audience.langs:
        parts.append(", ".join(LANGUAGE_NAMES.get(lang, lang) for lang in audience.langs))
    return "; ".join(parts) or _("all subscribers")
