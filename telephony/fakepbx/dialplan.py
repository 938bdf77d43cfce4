"""An Asterisk dialplan (extensions.conf) as data: the fake PBX runs the very files a real Asterisk
would, vaxel's rendered dialplan and the lab dialplan the traces were recorded against alike.

Supported: `[context]`, `exten => pattern,priority[(label)],App(args)`, `same => n,...`,
`include => context`, patterns (`_X.`, `_NXX`, `_[1-5]!`), `${VAR}` and `${FUNC(args)}`
substitution. Pure: no I/O but `load` reading a file.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path


class DialplanError(ValueError):
    """A line of extensions.conf the fake PBX cannot read (file:line says where)."""


@dataclass(frozen=True, slots=True)
class Step:
    app: str
    data: str
    label: str | None = None


@dataclass
class Extension:
    pattern: str
    steps: dict[int, Step] = field(default_factory=dict)

    def matches(self, exten: str) -> bool:
        return match_pattern(self.pattern, exten)


@dataclass
class Context:
    name: str
    extensions: list[Extension] = field(default_factory=list)
    includes: list[str] = field(default_factory=list)


class Dialplan:
    def __init__(self, contexts: dict[str, Context]) -> None:
        self.contexts = contexts

    @classmethod
    def parse(cls, text: str, source: str = "extensions.conf") -> Dialplan:
        contexts: dict[str, Context] = {}
        ctx: Context | None = None
        last: Extension | None = None
        last_prio = 0
        for lineno, raw in enumerate(text.splitlines(), 1):
            line = _strip_comment(raw).strip()
            if not line:
                continue
            where = f"{source}:{lineno}"
            if line.startswith("[") and line.endswith("]"):
                name = line[1:-1].strip()
                ctx = contexts.setdefault(name, Context(name))
                last, last_prio = None, 0
                continue
            key, sep, value = line.partition("=>")
            if not sep:
                key, sep, value = line.partition("=")
            key, value = key.strip().lower(), value.strip()
            if ctx is None or ctx.name in ("general", "globals"):
                continue
            if key == "include":
                ctx.includes.append(value)
                continue
            if key not in ("exten", "same"):
                raise DialplanError(f"{where}: unknown statement {key!r}")
            if key == "exten":
                pattern, _, rest = value.partition(",")
                pattern = pattern.strip()
                found = next((e for e in ctx.extensions if e.pattern == pattern), None)
                last = found or Extension(pattern)
                if found is None:
                    ctx.extensions.append(last)
            elif last is None:
                raise DialplanError(f"{where}: 'same =>' with no extension before it")
            else:
                rest = value
            assert last is not None
            prio_text, _, app_text = rest.partition(",")
            prio_text = prio_text.strip()
            label = None
            if "(" in prio_text:
                prio_text, _, label = prio_text.partition("(")
                label = label.rstrip(")")
            if prio_text == "n":
                prio = last_prio + 1
            elif prio_text.isdigit():
                prio = int(prio_text)
            elif prio_text == "hint":
                continue
            else:
                raise DialplanError(f"{where}: priority {prio_text!r} is not a number or 'n'")
            app, _, data = app_text.strip().partition("(")
            if data.endswith(")"):
                data = data[:-1]
            last.steps[prio] = Step(app.strip(), data, label)
            last_prio = prio
        return cls(contexts)

    @classmethod
    def load(cls, path: Path) -> Dialplan:
        return cls.parse(path.read_text(encoding="utf-8"), str(path))

    def find(self, context: str, exten: str, seen: frozenset[str] = frozenset()
             ) -> Extension | None:
        """The extension `exten` runs in `context` (literal matches before patterns)."""
        ctx = self.contexts.get(context)
        if ctx is None or context in seen:
            return None
        literal = next((e for e in ctx.extensions if e.pattern == exten), None)
        if literal is not None:
            return literal
        for e in ctx.extensions:
            if e.pattern.startswith("_") and e.matches(exten):
                return e
        for inc in ctx.includes:
            found = self.find(inc, exten, seen | {context})
            if found is not None:
                return found
        return None

    def step(self, context: str, exten: str, priority: int) -> Step | None:
        ext = self.find(context, exten)
        return None if ext is None else ext.steps.get(priority)

    def label(self, context: str, exten: str, label: str) -> int | None:
        ext = self.find(context, exten)
        if ext is None:
            return None
        return next((p for p, s in ext.steps.items() if s.label == label), None)


def _strip_comment(line: str) -> str:
    out = []
    escaped = False
    for ch in line:
        if ch == ";" and not escaped:
            break
        escaped = ch == "\\" and not escaped
        out.append(ch)
    return "".join(out)


_CLASSES = {"X": "[0-9]", "Z": "[1-9]", "N": "[2-9]"}


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    out, i, body = [], 0, pattern[1:]
    while i < len(body):
        ch = body[i]
        if ch.upper() in _CLASSES:
            out.append(_CLASSES[ch.upper()])
        elif ch == "[":
            j = body.index("]", i)
            out.append("[" + body[i + 1:j] + "]")
            i = j
        elif ch == ".":
            out.append(".+")
        elif ch == "!":
            out.append(".*")
        else:
            out.append(re.escape(ch))
        i += 1
    return re.compile("".join(out) + r"\Z")


def match_pattern(pattern: str, exten: str) -> bool:
    if not pattern.startswith("_"):
        return pattern == exten
    return _pattern_regex(pattern).match(exten) is not None


_VAR = re.compile(r"\$\{([^${}]+)\}")


_SUBSTRING = re.compile(r"^(\w+):(-?\d+)(?::(-?\d+))?$")


def _value(name: str, lookup: Callable[[str], str]) -> str:
    """${NAME}, or ${NAME:offset[:length]} (a substring, as pbx.c's substring())."""
    m = _SUBSTRING.match(name)
    if m is None:
        return lookup(name)
    value = lookup(m.group(1))
    start = int(m.group(2))
    end = None if m.group(3) is None else (
        start + int(m.group(3)) if int(m.group(3)) >= 0 else int(m.group(3)))
    return value[start:end]


def substitute(text: str, lookup: Callable[[str], str]) -> str:
    """Replaces ${NAME} and ${FUNC(args)}, innermost first, with lookup(name)."""
    for _ in range(20):
        new = _VAR.sub(lambda m: _value(m.group(1), lookup), text)
        if new == text:
            return new
        text = new
    return text


def split_args(data: str) -> list[str]:
    """Application arguments: comma-separated, parentheses and quotes respected."""
    args: list[str] = []
    cur: list[str] = []
    depth, quoted = 0, False
    for ch in data:
        if ch == '"':
            quoted = not quoted
        elif ch == "(" and not quoted:
            depth += 1
        elif ch == ")" and not quoted:
            depth -= 1
        elif ch == "," and depth == 0 and not quoted:
            args.append("".join(cur))
            cur = []
            continue
        cur.append(ch)
    args.append("".join(cur))
    return args
