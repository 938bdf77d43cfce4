"""A strict YAML reader for administrators' files: plain Python values plus the position of every
value, and refusals where YAML 1.1 would silently surprise.

- a key given twice in a mapping is an error naming both lines;
- an unquoted clock time (8:30) is refused: YAML 1.1 reads it as the number 510;
- unquoted yes/no/on/off/y/n are refused: YAML 1.1 reads them as booleans (write true/false,
  or quote the word you meant);
- an unquoted number with a leading zero (0701234567, 02) is refused: YAML 1.1 reads it as an
  octal number, and a phone number or a key would lose its zero;
- dates and times stay strings for the schema to read.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import yaml

from config.errors import ConfigError, Problem

Path_ = tuple[str | int, ...]
_SEXAGESIMAL = re.compile(r"^[-+]?[0-9][0-9_]*(:[0-5]?[0-9])+(\.[0-9_]*)?$")
_YAML11_BOOLS = {"yes", "no", "on", "off", "y", "n"}
_LEADING_ZERO = re.compile(r"^[-+]?0[0-9_]+$")


class Document:
    """One file's data and where each value came from."""

    def __init__(self, file: str, data: Any, positions: dict[Path_, tuple[int, int]]) -> None:
        self.file = file
        self.data = data
        self.positions = positions

    def where(self, path: Path_) -> tuple[int, int]:
        """Line and column of the value at `path`, or of its nearest enclosing value."""
        path = tuple(path)
        while path:
            if path in self.positions:
                return self.positions[path]
            path = path[:-1]
        return self.positions.get((), (1, 1))

    def problem(self, path: Path_, message: str, severity: str = "error") -> Problem:
        line, col = self.where(path)
        return Problem(self.file, line, col, message, severity)


def load(path: Path, display: str | None = None) -> Document:
    name = display or str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise ConfigError([Problem(name, 0, 0, f"cannot read: {err.strerror}")]) from err
    except UnicodeDecodeError as err:
        raise ConfigError([Problem(name, 0, 0, "not UTF-8 text")]) from err
    return parse(text, name)


def parse(text: str, file: str) -> Document:
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as err:
        raise ConfigError([_syntax(err, file)]) from err
    positions: dict[Path_, tuple[int, int]] = {}
    problems: list[Problem] = []
    data = {} if node is None else _convert(node, (), positions, problems, file)
    if problems:
        raise ConfigError(problems)
    return Document(file, data, positions)


def _syntax(err: yaml.MarkedYAMLError, file: str) -> Problem:
    """A YAML syntax error where the mistake begins (a quote or bracket left open names the
    line where it opens), in words."""
    begin, end = err.context_mark, err.problem_mark
    context, problem = err.context or "", err.problem or ""

    def at(mark: yaml.Mark | None, message: str) -> Problem:
        line, col = (mark.line + 1, mark.column + 1) if mark else (0, 0)
        return Problem(file, line, col, message)

    until = f" (the file goes on to line {end.line + 1} without it)" if end else ""
    opened = _unclosed_quote(end.buffer, end.line) if end and end.buffer else None
    if opened is not None and "quoted scalar" not in context:
        line = opened + 1
        return Problem(file, line, 1, (
            f"a quote opened on this line is not closed on it: YAML reads on to the next quote "
            f"and fails at line {end.line + 1}" if end else
            "a quote opened on this line is not closed on it"))
    if "quoted scalar" in context:
        return at(begin, f"a quote opened here is never closed{until}; close it on the same "
                         "line")
    if "flow sequence" in context:
        return at(begin, f"a list opened with [ here is not closed with ]{until}")
    if "flow mapping" in context:
        return at(begin, f"settings opened with {{ here are not closed with }}{until}")
    if "cannot start any token" in problem and "'\\t'" in problem:
        return at(end, "a tab cannot indent YAML: indent with spaces")
    if "cannot start any token" in problem:
        return at(end, "a value cannot begin with this character: put the value in quotes")
    line_text = end.buffer.splitlines()[end.line] if end and end.buffer else ""
    if "mapping values are not allowed" in problem and line_text[:end.column].count(":") == 0:
        return at(end, "this line is indented under a line that already has a value: line it "
                       "up with the keys above, or move the value of the line above here")
    if "mapping values are not allowed" in problem:
        return at(end, "a second ': ' on this line: put a value that holds ': ' in quotes, or "
                       "start the inner settings on a new, indented line")
    if "undefined alias" in problem:
        return at(end, "a value that begins with * must be in quotes")
    if "expected <block end>" in problem or "block collection" in context \
            or "block mapping" in context:
        return at(end, "this line's indentation does not match the lines above it"
                       + (f" (from line {begin.line + 1})" if begin else "")
                       + ": line up keys of the same level, and list items (- ...) apart "
                         "from keys")
    return at(end or begin, f"this is not valid YAML here: {problem or context}")


def _unclosed_quote(text: str, before: int) -> int | None:
    """The first line (0-based, up to `before`) whose double quotes do not pair up: where a
    quote was most likely left open, though the parser only fails further down."""
    for number, line in enumerate(text.splitlines()[:before + 1]):
        quotes, escaped = 0, False
        for ch in line:
            if ch == "#" and quotes % 2 == 0:
                break
            if ch == '"' and not escaped:
                quotes += 1
            escaped = ch == "\\" and not escaped
        if quotes % 2:
            return number
    return None


def _convert(node: yaml.Node, path: Path_, positions: dict[Path_, tuple[int, int]],
             problems: list[Problem], file: str, at: yaml.Mark | None = None) -> Any:
    """Plain Python for a node; a mapping's values are placed at their keys (`at`), where an
    administrator looks for them."""
    mark = at or node.start_mark
    positions[path] = (mark.line + 1, mark.column + 1)
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        seen: dict[Any, int] = {}
        for key_node, value_node in node.value:
            key = _convert(key_node, (*path, "<key>"), {}, problems, file)
            if isinstance(key, list | dict):
                problems.append(Problem(file, key_node.start_mark.line + 1,
                                        key_node.start_mark.column + 1,
                                        "a key must be a plain value"))
                continue
            key = str(key) if not isinstance(key, str) else key
            line = key_node.start_mark.line + 1
            if key in seen:
                problems.append(Problem(
                    file, line, key_node.start_mark.column + 1,
                    f"{key!r} is given twice, on lines {seen[key]} and {line}: keep one"))
                continue
            seen[key] = line
            out[key] = _convert(value_node, (*path, key), positions, problems, file,
                                key_node.start_mark)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_convert(item, (*path, i), positions, problems, file)
                for i, item in enumerate(node.value)]
    assert isinstance(node, yaml.ScalarNode)
    value = node.value
    line, col = node.start_mark.line + 1, node.start_mark.column + 1
    if node.style is not None:  # quoted or block scalar: a string, as written
        return value
    tag = node.tag.rsplit(":", 1)[-1]
    if tag in ("int", "float") and _SEXAGESIMAL.match(value):
        problems.append(Problem(file, line, col,
                                f"{value} unquoted reads as a number in YAML 1.1; write a clock "
                                f'time in quotes, "{value.zfill(5)}"'))
        return value
    if tag == "bool":
        if value.lower() in _YAML11_BOOLS:
            problems.append(Problem(file, line, col,
                                    f"{value} unquoted reads as a boolean in YAML 1.1; write "
                                    f'true or false, or "{value}" if you meant the word'))
            return value
        return value.lower() == "true"
    if tag == "null":
        return None
    if tag == "int" and _LEADING_ZERO.match(value):
        problems.append(Problem(file, line, col,
                                f"{value} unquoted reads as a number and loses its leading "
                                f'zero; quote phone numbers and keys: "{value}"'
                                + (f" (or write {int(value.replace('_', ''), 10)} if you meant "
                                   "a number)" if len(value) <= 4 else "")))
        return value
    try:
        if tag == "int":
            return int(value.replace("_", ""), 0)
        if tag == "float":
            number = float(value.replace("_", ""))
            if not math.isfinite(number):
                raise ValueError(value)
            return number
    except ValueError:
        problems.append(Problem(file, line, col, f"{value} is not a number vaxel can use: write "
                                                 f'a plain number such as 2.5, or "{value}" '
                                                 "in quotes if it is text"))
        return value
    return value  # str, timestamp (kept as text for the schema)
