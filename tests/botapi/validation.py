"""Generic, spec-driven checking of every Bot API call: the part of Telegram that says "no".

Why generic: a bot may call any of the ~180 methods, and the fake server implements only the
dozens a tip-line bot uses. Every call - implemented or not - is first checked against
``spec.json`` (compiled from the official reference by ``make_spec.py``): required parameters,
scalar types, JSON-serialized objects against their type's fields (recursively, including union
types such as ``reply_markup`` and ``InputMedia``), and limits stated in the documentation.

Descriptions follow the real Bot API where we know them (``chat_id is empty``, ``message text is
empty``, ``BUTTON_DATA_INVALID``, ``can't parse reply keyboard markup JSON object`` ...). Where
Telegram is more lenient than its documentation (it ignores all but the first action of an inline
button, accepts ``"yes"`` as a false boolean) we follow the documentation and say so in the
description, because such a request is a bug in the bot even if Telegram would swallow it.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .formatting import check_link, u16len

SPEC_PATH = Path(__file__).with_name("spec.json")


class ApiError(Exception):
    """A Telegram-shaped refusal: ``{"ok": false, "error_code": code, "description": ...}``."""

    def __init__(self, code: int, description: str, parameters: dict | None = None):
        super().__init__(description)
        self.code = code
        self.description = description
        self.parameters = parameters

    def payload(self) -> dict:
        body: dict[str, Any] = {"ok": False, "error_code": self.code, "description": self.description}
        if self.parameters:
            body["parameters"] = self.parameters
        return body


def bad_request(reason: str) -> ApiError:
    return ApiError(400, f"Bad Request: {reason}")


def forbidden(reason: str) -> ApiError:
    return ApiError(403, f"Forbidden: {reason}")


@dataclass
class UploadedFile:
    """A file part of a multipart/form-data request."""

    name: str
    filename: str | None
    content_type: str | None
    data: bytes


@dataclass
class Call:
    """One validated request: canonical method name, decoded arguments and uploaded files."""

    method: str
    args: dict[str, Any]
    files: dict[str, UploadedFile] = field(default_factory=dict)
    ignored: list[str] = field(default_factory=list)  # parameters the method doesn't have

    def get(self, name: str, default: Any = None) -> Any:
        return self.args.get(name, default)


class _Invalid(Exception):
    """Raised inside nested validation; turned into a Telegram description at the top level."""

    def __init__(self, detail: str, *, type_name: str | None = None, field_name: str | None = None, exact: str | None = None):
        super().__init__(detail)
        self.detail = detail
        self.type_name = type_name
        self.field_name = field_name
        self.exact = exact  # a complete Telegram description that replaces the generic one


# Descriptions of a missing required parameter, by parameter name (others: 'parameter "x" is required').
_MISSING = {
    "chat_id": "chat_id is empty",
    "from_chat_id": "from_chat_id is empty",
    "text": "message text is empty",
    "message_id": "message identifier is not specified",
    "user_id": "invalid user_id specified",
    # tdlib reads a missing id as 0, which then fails like an unknown one
    "callback_query_id": "query is too old and response timeout expired or query ID is invalid",
    "file_id": "invalid file_id",
}
_MEDIA_PARAMS = {"photo", "video", "document", "audio", "voice", "animation", "sticker", "video_note"}

# "can't parse X JSON object" labels for JSON-serialized parameters.
_JSON_LABELS = {
    "reply_markup": "reply keyboard markup",
    "entities": "entities",
    "caption_entities": "entities",
    "reply_parameters": "reply parameters",
    "link_preview_options": "link preview options",
    "media": "media",
    "commands": "commands",
    "scope": "bot command scope",
}

_COMMAND = re.compile(r"^[a-z0-9_]{1,32}$")


def _is_int_string(value: str) -> bool:
    return bool(re.fullmatch(r"[+-]?\d+", value.strip()))


class Spec:
    """The compiled reference plus the checks that apply to every method."""

    def __init__(self, path: Path = SPEC_PATH):
        data = json.loads(path.read_text(encoding="utf-8"))
        self.version: str = data.get("version", "")
        self.methods: dict[str, dict] = data["methods"]
        self.types: dict[str, dict] = data["types"]
        self._by_lower = {name.lower(): name for name in self.methods}

    @classmethod
    @functools.cache
    def load(cls) -> Spec:
        """The checked-in spec, parsed once per test session (it is never mutated)."""
        return cls(SPEC_PATH)

    def canonical(self, method: str) -> str | None:
        """Method names are case-insensitive in the Bot API."""
        return self._by_lower.get(method.lower())

    # ------------------------------------------------------------------------------ top level

    def check_call(self, method: str, params: dict[str, Any], files: dict[str, UploadedFile]) -> Call:
        """Decode and check ``params`` (strings from a form, or JSON values) for ``method``."""
        fields: dict[str, dict] = self.methods[method]["fields"]
        call = Call(method=method, args={}, files=files)
        call.ignored = sorted(set(params) - set(fields))
        for name, spec in fields.items():
            types = spec["types"]
            raw = params.get(name)
            upload = files.get(name) if "InputFile" in types else None
            if upload is not None and raw is None:
                call.args[name] = upload
                continue
            if raw is None or (raw == "" and not self._empty_is_value(method, name, spec)):
                if spec.get("required"):
                    raise self._missing(method, name)
                continue
            try:
                value = self._decode(raw, types, files)
                self._check_limits(value, spec, name)
            except _Invalid as err:
                raise self._describe(method, name, err) from None
            call.args[name] = value
        return call

    @staticmethod
    def _empty_is_value(method: str, name: str, spec: dict) -> bool:
        """The Bot API reads an empty parameter as "not given", except optional strings (an empty
        ``language_code`` or ``caption`` means something) and ``setWebhook(url="")`` (= remove)."""
        if spec["types"] != ["String"]:
            return False
        return not spec.get("required") or (method, name) == ("setWebhook", "url")

    @staticmethod
    def _missing(method: str, name: str) -> ApiError:
        if name in _MEDIA_PARAMS:
            return bad_request(f"there is no {name} in the request")
        if name in _MISSING:
            return bad_request(_MISSING[name])
        return bad_request(f'parameter "{name}" is required')

    @staticmethod
    def _describe(method: str, name: str, err: _Invalid) -> ApiError:
        if err.exact:
            return bad_request(err.exact)
        if (method, name) == ("answerCallbackQuery", "text"):
            return bad_request("MESSAGE_TOO_LONG")
        label = _JSON_LABELS.get(name)
        if name == "reply_markup" and err.type_name == "InlineKeyboardButton":
            return bad_request(f"can't parse inline keyboard button: {err.detail}")
        if label is not None:
            return bad_request(f"can't parse {label} JSON object: {err.detail}")
        return bad_request(f'parameter "{name}" is invalid: {err.detail}')

    # ------------------------------------------------------------------------------ decoding

    def _decode(self, raw: Any, types: list[str], files: dict[str, UploadedFile]) -> Any:
        """Turn a transported value into a Python value of one of ``types``."""
        scalar = [t for t in types if t in ("Integer", "Float", "Boolean", "String", "InputFile", "True")]
        objects = [t for t in types if t not in scalar]
        if isinstance(raw, str):
            text = raw
            if "InputFile" in types and text.startswith("attach://"):
                upload = files.get(text[len("attach://") :])
                if upload is None:
                    raise _Invalid(f"file {text} is not in the request", exact="wrong file identifier/HTTP URL specified")
                return upload
            if objects and not scalar:
                try:
                    parsed = json.loads(text)
                except ValueError:
                    raise _Invalid("value is not valid JSON") from None
                return self._check_json(parsed, objects, files)
            if "Integer" in scalar and _is_int_string(text):
                return int(text)
            if scalar == ["Integer"]:
                raise _Invalid(f"expected an Integer, got {text!r}")
            if scalar == ["Float"]:
                try:
                    return float(text)
                except ValueError:
                    raise _Invalid(f"expected a Float, got {text!r}") from None
            if scalar == ["Boolean"] or scalar == ["True"]:
                lowered = text.strip().lower()
                if lowered in ("true", "1"):
                    return True
                if lowered in ("false", "0"):
                    if scalar == ["True"]:
                        raise _Invalid("must be True")
                    return False
                raise _Invalid(f"expected a Boolean (true/false), got {text!r}; Telegram would silently read it as false")
            if objects:
                # e.g. "String or InlineKeyboardMarkup": try JSON, fall back to the string
                try:
                    return self._check_json(json.loads(text), objects, files)
                except ValueError:
                    return text
            return text
        # a native JSON value (application/json request bodies)
        if isinstance(raw, bool):
            if "Boolean" in scalar or "True" in scalar:
                return raw
            return self._decode(str(raw).lower(), types, files)
        if isinstance(raw, int | float):
            if "Float" in scalar:
                return float(raw)
            if "Integer" in scalar and float(raw).is_integer():
                return int(raw)
            return self._decode(json.dumps(raw), types, files)
        if isinstance(raw, dict | list):
            if not objects:
                raise _Invalid(f"expected {' or '.join(types)}, got a JSON {'object' if isinstance(raw, dict) else 'array'}")
            return self._check_json(raw, objects, files)
        raise _Invalid(f"unsupported value {raw!r}")

    def _check_json(self, value: Any, types: list[str], files: dict[str, UploadedFile]) -> Any:
        """Check a parsed JSON value against one of ``types`` ("Array of X", "X", ...)."""
        arrays = [t[len("Array of ") :] for t in types if t.startswith("Array of ")]
        plain = [t for t in types if not t.startswith("Array of ")]
        if arrays and isinstance(value, list):
            return [self._check_json(item, arrays, files) for item in value]
        if arrays and not plain:
            raise _Invalid("expected an Array")
        return self._check_object(value, plain, files)

    def _check_object(self, value: Any, types: list[str], files: dict[str, UploadedFile]) -> Any:
        scalar = [t for t in types if t in ("Integer", "Float", "Boolean", "String", "True", "InputFile")]
        if scalar:
            return self._check_nested_scalar(value, scalar, files)
        candidates = self._expand_union(types)
        if isinstance(value, str) and any(self.types.get(t, {}).get("string_ok") for t in candidates):
            return value  # "For simple text buttons, String can be used instead of this object"
        if not isinstance(value, dict):
            raise _Invalid(f"{candidates[0]} must be an Object", type_name=candidates[0])
        type_name = self._pick(value, candidates)
        return self._check_fields(value, type_name, files)

    def _expand_union(self, types: list[str]) -> list[str]:
        out: list[str] = []
        for t in types:
            subtypes = self.types.get(t, {}).get("subtypes")
            out.extend(self._expand_union(subtypes) if subtypes else [t])
        return out

    def _pick(self, value: dict, candidates: list[str]) -> str:
        """Which member of a union ``value`` is: by discriminator ("type": "photo"), else by required fields."""
        if len(candidates) == 1:
            return candidates[0]
        with_disc = [c for c in candidates if "discriminator" in self.types.get(c, {})]
        if with_disc:
            key = self.types[with_disc[0]]["discriminator"][0]
            for c in with_disc:
                if self.types[c]["discriminator"][1] == value.get(key):
                    return c
            allowed = sorted({self.types[c]["discriminator"][1] for c in with_disc})
            raise _Invalid(f'unsupported {key} "{value.get(key)}"; expected one of {", ".join(allowed)}', type_name=candidates[0])
        for c in candidates:
            fields = self.types.get(c, {}).get("fields", {})
            if all(name in value for name, spec in fields.items() if spec.get("required")):
                return c
        raise _Invalid(f"object matches none of {', '.join(candidates)}", type_name=candidates[0])

    def _check_fields(self, value: dict, type_name: str, files: dict[str, UploadedFile]) -> dict:
        type_def = self.types.get(type_name, {})
        fields: dict[str, dict] = type_def.get("fields", {})
        out = dict(value)  # unknown fields are ignored by Telegram; keep them
        for name, spec in fields.items():
            if name not in value or value[name] is None:
                if spec.get("required"):
                    kind = " or ".join(spec["types"])
                    raise _Invalid(f'Field "{name}" must be of type {kind}', type_name=type_name, field_name=name)
                out.pop(name, None)
                continue
            try:
                checked = self._check_json(value[name], spec["types"], files)
                self._check_limits(checked, spec, name, type_name)
            except _Invalid as err:
                if err.type_name is None:
                    err.type_name, err.field_name = type_name, name
                    if not err.detail.startswith("Field"):
                        err.detail = f'Field "{name}": {err.detail}'
                raise
            out[name] = checked
        self._check_type_rules(out, type_name)
        return out

    def _check_nested_scalar(self, value: Any, scalar: list[str], files: dict[str, UploadedFile]) -> Any:
        if "Integer" in scalar and isinstance(value, int) and not isinstance(value, bool):
            return value
        if "Float" in scalar and isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        if ("Boolean" in scalar or "True" in scalar) and isinstance(value, bool):
            if "True" in scalar and "Boolean" not in scalar and value is not True:
                raise _Invalid("must be True")
            return value
        if isinstance(value, str):
            if "String" in scalar or "InputFile" in scalar:
                if "InputFile" in scalar and value.startswith("attach://") and value[len("attach://") :] not in files:
                    raise _Invalid(f"file {value} is not in the request", exact="wrong file identifier/HTTP URL specified")
                return value
            if "Integer" in scalar and _is_int_string(value):
                return int(value)
        raise _Invalid(f"must be of type {' or '.join(scalar)}")

    # ------------------------------------------------------------------------------ limits

    def _check_limits(self, value: Any, spec: dict, name: str, type_name: str | None = None) -> None:
        if "one_of" in spec and value not in spec["one_of"]:
            choices = ", ".join(json.dumps(v, ensure_ascii=False) for v in spec["one_of"])
            raise _Invalid(f"must be one of {choices}")
        if isinstance(value, str) and "max" in spec and not spec.get("after_parsing"):
            size = len(value.encode("utf-8")) if spec.get("unit") == "bytes" else u16len(value)
            if not spec["min"] <= size <= spec["max"]:
                exact = _EXACT_LIMIT_ERRORS.get((type_name, name))
                raise _Invalid(f"must be {spec['min']}-{spec['max']} {spec['unit']}, got {size}", exact=exact)
        if isinstance(value, int | float) and not isinstance(value, bool) and "max" in spec and name != "limit":
            if not spec["min"] <= value <= spec["max"]:
                raise _Invalid(f"must be between {spec['min']} and {spec['max']}")
        if isinstance(value, list):
            if "max_items" in spec and len(value) > spec["max_items"]:
                raise _Invalid(f"at most {spec['max_items']} items are allowed, got {len(value)}")
            if "min_items" in spec and len(value) < spec["min_items"]:
                raise _Invalid(f"at least {spec['min_items']} items are required, got {len(value)}")

    def _check_type_rules(self, obj: dict, type_name: str) -> None:
        type_def = self.types.get(type_name, {})
        if type_name == "InlineKeyboardButton":
            _check_inline_button(obj, type_def)
            return
        if type_name == "BotCommand":
            if not _COMMAND.match(str(obj.get("command", ""))):
                raise _Invalid("command must be 1-32 lowercase letters, digits or underscores", exact="BOT_COMMAND_INVALID")
            if not 1 <= u16len(obj.get("description", "")) <= 256:
                raise _Invalid("description must be 1-256 characters", exact="BOT_COMMAND_DESCRIPTION_INVALID")
        for rule in ("exactly_one_of", "at_most_one_of"):
            names = type_def.get(rule)
            if names:
                used = [n for n in names if n in obj]
                if len(used) > 1 or (rule == "exactly_one_of" and not used):
                    raise _Invalid(f"{'exactly' if rule == 'exactly_one_of' else 'at most'} one of {', '.join(names)} must be used, got {used or 'none'}", type_name=type_name)


_EXACT_LIMIT_ERRORS = {
    ("InlineKeyboardButton", "callback_data"): "BUTTON_DATA_INVALID",
    ("BotCommand", "command"): "BOT_COMMAND_INVALID",
    ("BotCommand", "description"): "BOT_COMMAND_DESCRIPTION_INVALID",
}


def _check_inline_button(button: dict, type_def: dict) -> None:
    actions = [n for n in type_def.get("exactly_one_of", []) if n in button]
    if not actions:
        raise _Invalid("Text buttons are unallowed in the inline keyboard", type_name="InlineKeyboardButton")
    if len(actions) > 1:
        raise _Invalid(
            f"exactly one of the optional fields must be used, got {', '.join(actions)} "
            "(Telegram documents this; in practice it silently ignores all but one)",
            type_name="InlineKeyboardButton",
        )
    if not button.get("text"):
        raise _Invalid("Text must be non-empty", type_name="InlineKeyboardButton", exact="BUTTON_TEXT_INVALID")
    if "url" in button and check_link(button["url"]) is None:
        raise _Invalid("invalid URL", exact="BUTTON_URL_INVALID")
