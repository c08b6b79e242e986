"""Choices for channels without buttons (the console, Zalo): written out, to be typed back.

Where a question takes only a choice, options are numbered and a number picks one. Where it also takes
typed words (a description, a place name), a number stays text, so options are listed by name and picked
by typing their words (the core matches them, with or without diacritics: ``citizen.choices``).
"""

from __future__ import annotations

from tipline.i18n import translator
from tipline.replies import Reply


def plain_text(reply: Reply) -> str:
    """The reply as one text, its choices written out with how to pick them."""
    choices = reply.flat_choices
    if not choices:
        return reply.text
    t = translator(reply.lang)
    lines = [reply.text]
    if reply.free_text:
        lines += [f"  • {choice.label}" for choice in choices]
        lines += ["", t.gettext("(To choose one of these, type its words.)")]
    else:
        lines += [f"  {number}) {choice.label}" for number, choice in enumerate(choices, start=1)]
        numbers = ", ".join(str(n) for n in range(1, len(choices)))
        hint = (
            t.gettext("(Type {number} to choose it.)").format(number=1) if len(choices) == 1
            else t.gettext("(Type {numbers} or {last} to choose.)").format(numbers=numbers, last=len(choices))
        )
        lines += ["", hint]
    return "\n".join(lines)
