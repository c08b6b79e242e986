"""Compile the Bot API reference into the compact ``spec.json`` the fake server validates against.

Why this exists: the full machine-readable reference (``api.json``, ~650 KB of prose, scraped from
core.telegram.org by the MIT-licensed telegram-bot-api-spec project, see ``LICENSE`` here) lives in
``/work/shared`` which is not part of a clone of this repository. The fake server needs only the
*checkable* part of it: every method's parameters (name, accepted types, required or not) and the
limits the documentation states in prose ("1-4096 characters after entities parsing", "1-64 bytes",
"Values between 1-100", "2-10 items", "must be one of ..."), plus the same for every object type a
method can receive (InlineKeyboardMarkup, ReplyParameters, InputMedia*, BotCommandScope*, ...).

Run it again whenever the reference is updated::

    .venv/bin/python tests/botapi/make_spec.py [/path/to/api.json]

and commit the regenerated ``tests/botapi/spec.json``.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

DEFAULT_SOURCE = Path("/work/shared/telegram-bot-api/api.json")
TARGET = Path(__file__).with_name("spec.json")

SCALARS = {"Integer", "Float", "Boolean", "String", "InputFile", "True"}

# "1-4096 characters after entities parsing", "0-1024 characters", "1-64 bytes", "1-64 Bytes"
_TEXT_RANGE = re.compile(
    r"(\d+)\s*-\s*(\d+)\s+(characters|bytes)(?:\s+with at most \d+ line feeds)?(\s+after entit(?:y|ies) parsing)?",
    re.IGNORECASE,
)
# Integer/Float ranges: "Values between 1-100", "..., 1-100. Defaults", "; 1-25000", "; 0-1500"
_NUM_RANGE = re.compile(r"(?:Values between |[;,] )(\d+)-(\d+)(?:[ .]|$)")
# Array sizes: "1-100 identifiers", "must include 2-10 items", "up to 10 items", "At most 100 commands"
_ARRAY_RANGE = re.compile(r"(?:list of |include |array of )?(\d+)-(\d+) (?:[a-z]+ )?(?:items|identifiers|answer options|tasks|emoji|search keywords|country codes|users)")
_ARRAY_MAX = re.compile(r"(?:up to|At most) (\d+) (?:items|commands|identifiers|emoji|users)")
_MUST_BE_ONE_OF = re.compile(r"(?:[Mm]ust be one of|^One of|\. One of)\s+(.*?)(?:\.(?:\s|$)|$)")
_QUOTED = re.compile(r'"([^"]+)"')
_DISCRIMINATOR = re.compile(r'(?:must be|always) "?([A-Za-z0-9_]+)"?\s*$')
_OTHER_THAN = re.compile(r"(Exactly|At most) one of the fields other than (.+?) must be used", re.IGNORECASE)
_FIELDS_OR = re.compile(r"Exactly one of the fields (\w+) or (\w+) must be used", re.IGNORECASE)


def _element_types(types: list[str]) -> set[str]:
    """The object type names mentioned by a field, with any "Array of" prefixes removed."""
    names = set()
    for t in types:
        while t.startswith("Array of "):
            t = t[len("Array of ") :]
        names.add(t)
    return names


def _limits(field: dict) -> dict:
    """Limits stated in a field's description that a server can check mechanically."""
    desc = field["description"]
    types = field["types"]
    out: dict = {}
    is_array = any(t.startswith("Array of") for t in types)
    if "String" in types and not is_array:
        m = _TEXT_RANGE.search(desc)
        if m:
            out["min"], out["max"] = int(m.group(1)), int(m.group(2))
            out["unit"] = "bytes" if m.group(3).lower() == "bytes" else "characters"
            if m.group(4) or "after entit" in desc:
                out["after_parsing"] = True
        enum = _MUST_BE_ONE_OF.search(desc)
        if enum:
            values = _QUOTED.findall(enum.group(1))
            if values:
                out["one_of"] = values
    elif types in (["Integer"], ["Float"]):
        m = _NUM_RANGE.search(desc)
        if m:
            out["min"], out["max"] = int(m.group(1)), int(m.group(2))
        enum = _MUST_BE_ONE_OF.search(desc)
        if enum and types == ["Integer"]:
            # "must be one of 7322096 (0x6FB9F0), 16766590 (0xFFD67E), ..." / "3, 6, or 12"
            text = re.sub(r"\([^)]*\)", "", enum.group(1))
            values = []
            for product in re.findall(r"\d+(?:\s*\*\s*\d+)*", text):  # "6 * 3600"
                value = 1
                for factor in product.split("*"):
                    value *= int(factor)
                values.append(value)
            if values:
                out["one_of"] = values
    elif is_array:
        m = _ARRAY_RANGE.search(desc)
        if m:
            out["min_items"], out["max_items"] = int(m.group(1)), int(m.group(2))
        else:
            m = _ARRAY_MAX.search(desc)
            if m:
                out["max_items"] = int(m.group(1))
    return out


def _compact_field(field: dict) -> dict:
    out: dict = {"types": field["types"]}
    if field["required"]:
        out["required"] = True
    out.update(_limits(field))
    return out


def _type_rules(type_def: dict) -> dict:
    """Object-level rules stated in a type's description ("Exactly one of the fields ...")."""
    desc = " ".join(type_def.get("description", []))
    names = [f["name"] for f in type_def.get("fields", [])]
    rules: dict = {}
    m = _OTHER_THAN.search(desc)
    if m:
        excluded = set(re.findall(r"[a-z_]+", m.group(2))) - {"and", "or"}
        key = "exactly_one_of" if m.group(1).lower() == "exactly" else "at_most_one_of"
        rules[key] = [n for n in names if n not in excluded]
    m = _FIELDS_OR.search(desc)
    if m:
        rules["exactly_one_of"] = [m.group(1), m.group(2)]
    if "exactly one of the optional fields" in desc.lower():
        rules["exactly_one_of"] = [f["name"] for f in type_def.get("fields", []) if not f["required"]]
    if "String can be used instead of this object" in desc:
        rules["string_ok"] = True
    return rules


def build(source: dict) -> dict:
    methods = {}
    wanted: set[str] = set()
    for name, method in source["methods"].items():
        fields = {f["name"]: _compact_field(f) for f in method.get("fields", [])}
        methods[name] = {"returns": method.get("returns", []), "fields": fields}
        for f in method.get("fields", []):
            wanted |= _element_types(f["types"]) - SCALARS

    # Only types a bot can *send* are needed; walk from method parameters through nested fields
    # and union members ("subtypes").
    types = {}
    todo = sorted(wanted)
    while todo:
        name = todo.pop()
        if name in types or name not in source["types"]:
            continue
        td = source["types"][name]
        entry: dict = {}
        if "subtypes" in td:
            entry["subtypes"] = td["subtypes"]
            todo.extend(td["subtypes"])
        if "fields" in td:
            entry["fields"] = {f["name"]: _compact_field(f) for f in td["fields"]}
            for f in td["fields"]:
                todo.extend(_element_types(f["types"]) - SCALARS)
                if f["name"] in ("type", "source", "status") and f["required"] and f["types"] == ["String"]:
                    m = _DISCRIMINATOR.search(f["description"])
                    if m:
                        entry["discriminator"] = [f["name"], m.group(1)]
        entry.update(_type_rules(td))
        types[name] = entry

    return {
        "version": source.get("version"),
        "release_date": source.get("release_date"),
        "source": "telegram-bot-api-spec (MIT, see LICENSE); generated by tests/botapi/make_spec.py",
        "methods": dict(sorted(methods.items())),
        "types": dict(sorted(types.items())),
    }


def dump(spec: dict) -> str:
    """One method/type per line: small, and diffs stay readable when the reference changes."""
    lines = ["{"]
    for key in ("version", "release_date", "source"):
        lines.append(f"{json.dumps(key)}: {json.dumps(spec[key], ensure_ascii=False)},")
    for section in ("methods", "types"):
        lines.append(f"{json.dumps(section)}: {{")
        items = list(spec[section].items())
        for i, (name, body) in enumerate(items):
            comma = "," if i < len(items) - 1 else ""
            lines.append(f"  {json.dumps(name)}: {json.dumps(body, ensure_ascii=False, separators=(',', ':'))}{comma}")
        lines.append("}," if section == "methods" else "}")
    lines.append("}")
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> None:
    source_path = Path(argv[1]) if len(argv) > 1 else DEFAULT_SOURCE
    spec = build(json.loads(source_path.read_text(encoding="utf-8")))
    TARGET.write_text(dump(spec), encoding="utf-8")
    print(f"wrote {TARGET} ({TARGET.stat().st_size} bytes, {len(spec['methods'])} methods, {len(spec['types'])} types)")


if __name__ == "__main__":
    main(sys.argv)
