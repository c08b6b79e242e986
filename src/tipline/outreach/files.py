"""A campaign written as a TOML file, for ``tipline campaign create FILE``::

    title = "Tháng hành động phòng, chống ma túy"
    kind = "message"                 # or "poll"
    image = "banner.png"             # optional, next to this file (PNG or JPEG, at most 5 MB)

    [text]
    vi = "Tháng 6 là Tháng hành động phòng, chống ma túy ..."
    en = "June is the action month against drugs ..."   # optional: English subscribers get vi without it

    [[buttons]]                      # optional, in this order under the message
    kind = "read_more"               # read_more (with entry = a library entry id), report or stop
    entry = "disguised-laughing-gas"

    [[options]]                      # a poll's answers: 2 to 6
    vi = "Có"
    en = "Yes"

    [audience]                       # all optional: nothing named means everyone
    provinces = ["Cần Thơ"]          # names or codes
    communes = ["Ninh Kiều, Cần Thơ", "31117"]
    audiences = ["parent", "pupil"]  # general, parent, pupil, teacher
    langs = ["vi"]

    [schedule]
    kind = "monthly"                 # now, at, monthly, june (1 June 08:00), june26 (26 June 08:00)
    day = 1                          # monthly: 1 to 28
    time = "08:00"                   # monthly: local time (Asia/Ho_Chi_Minh)
    at = "2026-12-05 09:00"          # at: local time
    until = "2027-06-30"             # monthly: optional last day
"""

from __future__ import annotations

import tomllib
from datetime import date, datetime
from pathlib import Path
from typing import Any

from tipline.i18n import TIMEZONE
from tipline.outreach.campaigns import problems
from tipline.outreach.model import (
    AUDIENCES,
    AudienceFilter,
    ButtonKind,
    CampaignButton,
    CampaignKind,
    Content,
    NewCampaign,
    Schedule,
)
from tipline.outreach.places import resolve_places
from tipline.outreach.policy import local_time, preset

IMAGE_MAX_BYTES = 5 * 1024 * 1024
_IMAGE_MAGIC = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff")


class CampaignFileError(ValueError):
    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("; ".join(problems))


def _strings(value: Any, where: str, found: list[str]) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str | int) for v in value):
        found.append(f"{where} must be a list of names or codes")
        return []
    return [str(v) for v in value]


def parse(text: str, base: Path, now: datetime) -> NewCampaign:
    """The campaign a file describes; raises CampaignFileError naming every problem at once."""
    found: list[str] = []
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CampaignFileError([f"not valid TOML: {exc}"]) from None
    known = {"title", "kind", "image", "text", "buttons", "options", "audience", "schedule"}
    found += [f"unknown key {key!r}" for key in sorted(set(data) - known)]
    kind_name = str(data.get("kind", "message"))
    if kind_name not in ("message", "poll"):
        found.append(f"kind must be 'message' or 'poll', not {kind_name!r}")
    kind = CampaignKind.POLL if kind_name == "poll" else CampaignKind.MESSAGE
    texts = data.get("text", {})
    if not isinstance(texts, dict):
        found.append("[text] must be a table with vi (and optionally en)")
        texts = {}
    content_text = {str(lang): str(value).strip() for lang, value in texts.items() if str(value).strip()}

    buttons: list[CampaignButton] = []
    for raw in data.get("buttons", []):
        try:
            buttons.append(CampaignButton(ButtonKind(raw.get("kind")), raw.get("entry")))
        except (ValueError, AttributeError):
            found.append(f"unknown button {raw!r} (read_more with an entry, report, stop)")
    options = [
        {str(k): str(v).strip() for k, v in raw.items()} if isinstance(raw, dict) else {"vi": str(raw)}
        for raw in data.get("options", [])
    ]

    image: bytes | None = None
    if data.get("image"):
        path = (base / str(data["image"])).resolve()
        if not path.is_file():
            found.append(f"no image file {path}")
        else:
            image = path.read_bytes()
            if len(image) > IMAGE_MAX_BYTES:
                found.append(f"the image has {len(image)} bytes; at most {IMAGE_MAX_BYTES}")
            if not image.startswith(_IMAGE_MAGIC):
                found.append("the image must be a PNG or JPEG file")

    audience_data = data.get("audience", {})
    provinces, communes, unclear = resolve_places(
        _strings(audience_data.get("provinces"), "audience.provinces", found)
        + _strings(audience_data.get("communes"), "audience.communes", found)
    )
    found += unclear
    tags = _strings(audience_data.get("audiences"), "audience.audiences", found)
    found += [f"unknown audience {tag!r} ({', '.join(AUDIENCES)})" for tag in tags if tag not in AUDIENCES]
    langs = _strings(audience_data.get("langs"), "audience.langs", found)
    found += [f"unknown language {lang!r} (vi, en)" for lang in langs if lang not in ("vi", "en")]

    schedule = _schedule(data.get("schedule", {}), now, found)
    new = NewCampaign(
        kind=kind,
        title=str(data.get("title", "")).strip() or content_text.get("vi", "").split("\n")[0][:60],
        content=Content(text=content_text, buttons=tuple(buttons), options=tuple(options)),
        audience=AudienceFilter(tuple(provinces), tuple(communes), tuple(tags), tuple(langs)),
        schedule=schedule,
        image=image,
    )
    found += problems(new)
    if found:
        raise CampaignFileError(found)
    return new


def _schedule(raw: Any, now: datetime, found: list[str]) -> Schedule:
    if not isinstance(raw, dict):
        found.append("[schedule] must be a table")
        return Schedule()
    kind = str(raw.get("kind", "now"))
    try:
        if kind == "now":
            return Schedule()
        if kind in ("june", "june26"):
            return preset(kind, now)
        if kind == "at":
            at = datetime.strptime(str(raw["at"]), "%Y-%m-%d %H:%M").replace(tzinfo=TIMEZONE)
            if at <= now:
                found.append("schedule.at is in the past")
            return Schedule(kind="at", at=at)
        if kind == "monthly":
            day = int(raw["day"])
            if not 1 <= day <= 28:
                found.append("schedule.day must be 1 to 28")
            at_time = local_time(str(raw.get("time", "08:00")))
            until = date.fromisoformat(str(raw["until"])) if raw.get("until") else None
            return Schedule(kind="monthly", day=day, time=f"{at_time.hour:02d}:{at_time.minute:02d}", until=until)
    except (KeyError, ValueError) as exc:
        found.append(f"schedule: {exc}")
        return Schedule()
    found.append(f"schedule.kind must be now, at, monthly, june or june26, not {kind!r}")
    return Schedule()
