"""What a validation error means to an administrator: pydantic's findings turned into one sentence
per mistake, in the administrator's terms, with an example of what would be right. No library
wording ("String should match pattern", "Input should be", "[key]") reaches them.

    explain(err.errors())  ->  [(path, message), ...]   path: where in the file, for the position
    describe(path)         ->  "groups.barn.overflow, item 1, to"   (list items counted from 1)
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Any, get_args

from pydantic import BaseModel

from config.yamlstrict import Path_

# The patterns of config/schema.py and telephony/dialplan.py, said in words.
_PATTERNS = {
    r"^[a-z0-9][a-z0-9-]{0,60}$": "a name is lower-case letters a-z, digits and hyphens, "
                                  "starting with a letter or digit (for example "
                                  "barn-och-utbildning)",
    r"^[0-9*#]$": 'a key is one of 0-9, * or #, in quotes ("1")',
    r"^[a-z]{2}$": "a language is two lower-case letters (sv or en)",
    r"^[A-Za-z0-9._-]+$": "a PJSIP endpoint name is letters, digits, dots, hyphens and "
                          "underscores (for example partner-trunk)",
    r"^[a-z0-9][a-z0-9._-]{0,40}$": "an agent id is lower-case letters, digits, dots, hyphens "
                                    "and underscores (for example anna)",
    r"^(PJSIP|SIP|IAX2|Local)/[A-Za-z0-9._@-]+$": "a device is a technology and a name, "
                                                  "such as PJSIP/anna",
    r"^[a-z][a-z0-9_-]{0,30}$": "a user name is lower-case letters, digits, _ and -, "
                                "starting with a letter (for example vaxel)",
}

# A bound that pydantic found broken: (too what, write what, the bound's key in the context).
_BOUNDS = {
    "greater_than_equal": ("small", "at least", "ge"),
    "greater_than": ("small", "more than", "gt"),
    "less_than_equal": ("large", "at most", "le"),
    "less_than": ("large", "less than", "lt"),
}

_TYPES = {
    "int_type": "write a whole number, such as 2",
    "int_parsing": "write a whole number, such as 2",
    "int_from_float": "write a whole number, such as 2",
    "float_type": "write a number, such as 1.5",
    "float_parsing": "write a number, such as 1.5",
    "bool_type": "write true or false",
    "bool_parsing": "write true or false",
    "string_type": "write text here, in quotes if it looks like a number",
    "dict_type": "write settings here (indented key: value lines)",
    "model_type": "write settings here (indented key: value lines)",
    "model_attributes_type": "write settings here (indented key: value lines)",
    "list_type": "write a list here, such as [a, b] or lines starting with -",
    "tuple_type": "write a list here, such as [a, b] or lines starting with -",
    "date_type": "write a date, such as 2026-12-24",
    "date_parsing": "write a date, such as 2026-12-24",
    "date_from_datetime_parsing": "write a real date, such as 2026-12-24",
    "date_from_datetime_inexact": "write a date without a time, such as 2026-12-24",
    "datetime_type": 'write a date and time in quotes, such as "2026-12-24 08:00"',
    "datetime_parsing": 'write a date and time in quotes, such as "2026-12-24 08:00"',
    "datetime_from_date_parsing": 'write a date and time in quotes, such as "2026-12-24 08:00"',
}


_ACTION = ("an action such as {group: barn-och-utbildning}, {menu: huvudmeny} or "
           "{message: hej-da}")


def describe(path: Path_) -> str:
    """A location in words: names joined by dots, list items counted from 1
    (`agents, item 2, device`)."""
    out, after_item = "", False
    for part in path:
        if isinstance(part, int):
            out += f", item {part + 1}"
        else:
            out += (", " if after_item else "." if out else "") + str(part)
        after_item = isinstance(part, int)
    return out or "(the file)"


def _shown(value: Any) -> str:
    if isinstance(value, dict):
        return "a group of settings"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "nothing"
    return repr(value) if isinstance(value, str) else str(value)


def field_names(model: type[BaseModel]) -> frozenset[str]:
    """Every setting name a model and the models inside it know: what a misspelt key is
    compared with."""
    names: set[str] = set()
    todo: list[Any] = [model]
    seen: set[Any] = set()
    while todo:
        t = todo.pop()
        if t in seen:
            continue
        seen.add(t)
        if isinstance(t, type) and issubclass(t, BaseModel):
            for name, f in t.model_fields.items():
                names.add(name)
                todo.append(f.annotation)
        else:
            todo.extend(get_args(t))
    return frozenset(names)


def explain(errors: Iterable[Any], vocabulary: Iterable[str] = ()) -> list[tuple[Path_, str]]:
    """One (path, message) per mistake, in the order pydantic found them; a misspelt setting
    is compared with the `vocabulary` of known names."""
    known = sorted(vocabulary)
    out: list[tuple[Path_, str]] = []
    seen: set[Path_] = set()
    pending = list(errors)
    for error in pending:
        raw = tuple(error["loc"])
        union_branch = next((x for x in raw if isinstance(x, str) and (
            x.startswith(("function-", "literal[")) or x in ("Action",))), None)
        loc: Path_ = tuple(x for x in raw if not (isinstance(x, str) and (
            x.startswith(("function-", "literal[")) or x in ("Action", "[key]"))))
        value = error.get("input")
        kind = error["type"]
        if union_branch is not None and loc in seen:
            continue  # the other branch of "an action, or repeat / back": one mistake, once
        if union_branch is not None and any(
                x.startswith("literal[") for x in raw if isinstance(x, str)) and isinstance(
                value, dict):
            continue  # settings were written: the action branch says what is wrong with them
        message = _message(error, kind, loc, value, union_branch, "[key]" in raw)
        if kind == "extra_forbidden" and loc and (
                close := difflib.get_close_matches(str(loc[-1]), known, n=1, cutoff=0.7)):
            message += f" (did you mean {close[0]!r}?)"
        if kind == "missing":
            loc = loc[:-1]
        seen.add(loc)
        out.append((loc, message))
    return out


def _message(error: Any, kind: str, loc: Path_, value: Any, union_branch: str | None,
             is_key: bool) -> str:
    here = describe(loc)
    if union_branch is not None and kind in ("model_type", "literal_error"):
        return f"{here}: {_shown(value)} is not an option; write repeat, back, or {_ACTION}"
    if kind == "model_type" and error.get("ctx", {}).get("class_name") == "Action":
        return f"{here}: {_shown(value)} will not do: write {_ACTION}"
    if kind == "missing":
        return f"{describe(loc[:-1])}: {loc[-1]!r} is missing here"
    if kind == "extra_forbidden":
        return f"{here}: {loc[-1]!r} is not a setting here; check its spelling"
    if kind == "value_error":
        return f"{here}: {error['msg'].removeprefix('Value error, ')}"
    if kind in ("literal_error", "enum"):
        expected = str(error.get("ctx", {}).get("expected", "")).replace("'", "")
        return f"{here}: {_shown(value)} is not allowed here; write {expected}"
    if kind == "string_pattern_mismatch":
        pattern = error.get("ctx", {}).get("pattern", "")
        rule = _PATTERNS.get(pattern, "it has characters that are not allowed here")
        return f"{here}: {_shown(value)} will not do: {rule}"
    ctx = error.get("ctx", {})
    if kind in _BOUNDS:
        size, words, key = _BOUNDS[kind]
        return f"{here}: {_shown(value)} is too {size}; write {words} {ctx[key]}"
    if kind == "too_short":
        return f"{here}: give at least {ctx.get('min_length', 1)} (this list has fewer)"
    if kind == "too_long":
        return f"{here}: give at most {ctx.get('max_length')}"
    if kind in _TYPES:
        what = "the key " if is_key else ""
        return f"{here}: {what}{_shown(value)} will not do: {_TYPES[kind]}"
    return f"{here}: {_shown(value)} will not do here"
