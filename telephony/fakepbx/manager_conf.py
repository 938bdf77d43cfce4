"""AMI users as manager.conf defines them: secret, read and write classes, event filters.

The fake PBX reads the same manager_vaxel.conf that `vaxel dialplan` renders for Asterisk, so the
tests meet the rights and the filters a real Asterisk would apply.

Event filters follow manager.c (Asterisk 22): `eventfilter = <regex>` (legacy: the regex runs on
the whole event text; a leading `!` excludes) or `eventfilter(<criteria>) = <expression>` with
criteria action(include|exclude), name(<Event>) (exact, case-sensitive), header(<Header>) (the
expression runs on that header's value only; an event without it does not match) and
method(none|exact|starts_with|ends_with|contains|regex) (none: the expression is ignored).
No filters: every event. Only includes: an event matching any of them. Only excludes: every
event matching none of them. Both: an event matching an include and no exclude. Filters apply
to events only, never to the responses of actions nor the items of a listing (Status).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from telephony.dialplan import ACTION_AUTHORITY

Headers = Sequence[tuple[str, str]]
METHODS = ("none", "exact", "starts_with", "ends_with", "contains", "regex")
_CRITERION = re.compile(r"(action|name|header|method)\(([^()]*)\)")


class ManagerConfError(ValueError):
    """A manager.conf line Asterisk would refuse."""


@dataclass(frozen=True, slots=True)
class EventFilter:
    include: bool
    name: str | None = None
    header: str | None = None
    method: str = "none"
    expression: str = ""
    legacy: bool = False

    def matches(self, headers: Headers) -> bool:
        if self.name is not None and (len(headers) == 0 or headers[0][1] != self.name):
            return False
        if self.legacy:
            text = "".join(f"{k}: {v}\r\n" for k, v in headers)
            return re.search(self.expression, text) is not None
        if self.header is not None:
            want = self.header.lower()
            values = [v for k, v in headers if k.lower() == want]
            if not values:
                return False
            data = values[0]
        else:
            data = "".join(f"{k}: {v}\r\n" for k, v in headers)
        if self.method == "none":
            return True
        if self.method == "exact":
            return data == self.expression
        if self.method == "starts_with":
            return data.startswith(self.expression)
        if self.method == "ends_with":
            return data.endswith(self.expression)
        if self.method == "contains":
            return self.expression in data
        return re.search(self.expression, data) is not None


def parse_filter(key: str, value: str) -> EventFilter:
    """One `eventfilter...` line of manager.conf, split at its `=`."""
    key, value = key.strip(), value.strip()
    if key == "eventfilter":
        exclude = value.startswith("!")
        pattern = value[1:] if exclude else value
        _compile(pattern, key)
        return EventFilter(not exclude, expression=pattern, legacy=True)
    inner = key.removeprefix("eventfilter(").removesuffix(")")
    if not key.startswith("eventfilter(") or not key.endswith(")"):
        raise ManagerConfError(f"not an event filter: {key!r}")
    found: dict[str, str] = {}
    rest = inner
    for match in _CRITERION.finditer(inner):
        if match.group(1) in found:
            raise ManagerConfError(f"{key}: {match.group(1)}() given twice")
        found[match.group(1)] = match.group(2)
        rest = rest.replace(match.group(0), "", 1)
    if rest.replace(",", "").strip():
        raise ManagerConfError(f"{key}: unknown criteria {rest!r}")
    action = found.get("action", "include")
    method = found.get("method", "none")
    if action not in ("include", "exclude") or method not in METHODS:
        raise ManagerConfError(f"{key}: action(include|exclude), method({'|'.join(METHODS)})")
    if method == "regex":
        _compile(value, key)
    return EventFilter(action == "include", found.get("name"), found.get("header"), method,
                       value)


def _compile(pattern: str, where: str) -> None:
    try:
        re.compile(pattern)
    except re.error as err:
        raise ManagerConfError(f"{where}: bad regular expression {pattern!r}: {err}") from None


def should_send(filters: Sequence[EventFilter], headers: Headers) -> bool:
    includes = [f for f in filters if f.include]
    excludes = [f for f in filters if not f.include]
    if includes and not any(f.matches(headers) for f in includes):
        return False
    return not any(f.matches(headers) for f in excludes)


@dataclass
class AmiUser:
    secret: str
    read: str = "all"
    write: str = "all"
    filters: tuple[EventFilter, ...] = field(default=())

    def may(self, action: str) -> bool:
        """Asterisk allows an action to a user holding any one of the action's classes."""
        if self.write == "all":
            return True
        need = ACTION_AUTHORITY.get(action, {"system"})
        return not need or bool(need & set(self.write.split(",")))

    def reads(self, headers: Headers) -> bool:
        """Whether an event reaches this user: its class, then the filters."""
        # Asterisk sends a user only the event classes its `read` names
        if (self.read != "all" and len(headers) > 1 and headers[1][0] == "Privilege"
                and not set(headers[1][1].split(",")) & set(self.read.split(","))):
            return False
        return not self.filters or should_send(self.filters, headers)

    @classmethod
    def from_conf(cls, text: str, username: str) -> AmiUser:
        """The user `[username]` of a manager.conf text."""
        section: str | None = None
        values: dict[str, str] = {}
        filters: list[EventFilter] = []
        for number, raw in enumerate(text.splitlines(), 1):
            line = raw.split(";", 1)[0].strip()
            if not line:
                continue
            if line.startswith("[") and line.endswith("]"):
                section = line[1:-1]
                continue
            if section != username:
                continue
            key, sep, value = line.partition("=")
            if not sep:
                raise ManagerConfError(f"manager.conf line {number}: no '=' in {raw!r}")
            key = key.strip()
            if key.startswith("eventfilter"):
                try:
                    filters.append(parse_filter(key, value))
                except ManagerConfError as err:
                    raise ManagerConfError(f"manager.conf line {number}: {err}") from None
            else:
                values[key] = value.strip()
        if "secret" not in values:
            raise ManagerConfError(f"manager.conf has no user [{username}] with a secret")
        return cls(values["secret"], values.get("read", "all"), values.get("write", "all"),
                   tuple(filters))
