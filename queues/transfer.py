"""Where an agent may send a caller on: the rules of a transfer from the agent's panel.

Pure. A transfer names its target as `directory:<id>` (a person or function of the directory),
`group:<id>` (another response group's line, the wait kept) or `number:<digits>` (typed in the
panel). Toll fraud starts where someone chooses what is dialled: only numbers of the directory,
of the transfer allowlist, or matching the configured patterns are ever dialled, a typed number
normalised first (queues/callback.py's `normalise`, the same Swedish national form), and the
numbers outside the directory ("external") at most `max_per_hour` in any rolling hour.
"""

from __future__ import annotations

import collections
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from queues.callback import NumberRefused, NumberRules, check_number

HOUR = 3600.0


class TransferRefused(ValueError):
    """The transfer may not be made; the message says why, in the agent's terms."""


@dataclass(frozen=True, slots=True)
class Target:
    kind: str  # group, or number
    value: str  # the group's id, or the number to dial
    name: str  # as the panel and the events say it: a person, a group, the number
    department: str | None = None  # a directory entry's (the wrap-up's forwarded-to)
    external: bool = False  # not a number of the directory: counted against the hour's cap


@dataclass(frozen=True, slots=True)
class Listed:
    """What a transfer needs of a directory entry."""

    name: str
    number: str
    department: str


def resolve(spec: str, directory: Mapping[str, Listed], groups: Mapping[str, str],
            allowlist: Iterable[str], patterns: tuple[str, ...]) -> Target:
    """The target a panel's `spec` names; raises TransferRefused."""
    kind, _, value = spec.partition(":")
    if kind == "directory":
        entry = directory.get(value)
        if entry is None:
            raise TransferRefused(f"{value!r} is not in the directory")
        return Target("number", entry.number, entry.name, entry.department or None)
    if kind == "group":
        if value not in groups:
            raise TransferRefused(f"no group {value!r}")
        return Target("group", value, groups[value])
    if kind == "number":
        if not re.fullmatch(r"[0-9+\- ()]{2,30}", value):
            raise TransferRefused(f"{value!r} is not a phone number")
        number = re.sub(r"[\s\-()]", "", value)
        listed = {e.number: e for e in directory.values()}
        if number in listed:  # a directory number typed by hand
            entry = listed[number]
            return Target("number", number, entry.name, entry.department or None)
        if number not in set(allowlist):
            why = "not in the directory nor in transfer_allowlist"
            if not patterns:
                raise TransferRefused(f"{value}: {why}")
            try:
                number = check_number(value, NumberRules(patterns))
            except NumberRefused as err:
                raise TransferRefused(f"{value}: {why}, and {err}") from None
        return Target("number", number, number, None, external=True)
    raise TransferRefused(f"{spec!r}: name a target as directory:<id>, group:<id> or "
                          "number:<digits>")


class HourlyCap:
    """At most `limit` external transfers in any rolling hour (None: no cap)."""

    def __init__(self, limit: int | None) -> None:
        self.limit = limit
        self._made: collections.deque[float] = collections.deque()

    def _expire(self, now: float) -> None:
        while self._made and self._made[0] <= now - HOUR:
            self._made.popleft()

    def allows(self, now: float) -> bool:
        self._expire(now)
        return self.limit is None or len(self._made) < self.limit

    def count(self, now: float) -> None:
        self._expire(now)
        self._made.append(now)
