"""The IVR's own model: what the interpreter runs, compiled from the administrator's YAML by
config/ (IvrConfig.plan()). Frozen and plain, with opening hours as Schedules, so ivr/ needs
nothing from config/ and the interpreter reads no YAML concept it does not use."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from ivr.hours import Schedule


@dataclass(frozen=True, slots=True)
class Action:
    """Where a key leads: exactly one of group, menu, callback, message, transfer, language
    (config/ checks that)."""

    group: str | None = None
    menu: str | None = None
    callback: str | None = None
    message: str | None = None
    then: str = "hangup"  # after a message: hang up, or a menu
    transfer: str | None = None
    language: str | None = None
    on_failure: Action | None = None  # after a transfer that failed


Option = Action | Literal["repeat", "back"]


@dataclass(frozen=True, slots=True)
class Retry:
    retries: int
    prompt: str | None
    then: Action


@dataclass(frozen=True, slots=True)
class Menu:
    prompt: str
    options: Mapping[str, Option]
    timeout: float
    on_timeout: Retry
    on_invalid: Retry


@dataclass(frozen=True, slots=True)
class Entry:
    """A municipal number: its first menu, its hours (None: always open), its language."""

    menu: str
    hours: Schedule | None
    closed_prompt: str | None
    language: str
    duty: str | None = None  # out of hours: a transfer to this duty phone


@dataclass(frozen=True, slots=True)
class GroupDoor:
    """What the IVR needs of a group: whether it is open, and what a closed one says."""

    hours: Schedule | None
    closed_prompt: str | None
    duty: str | None = None  # closed: a transfer to this duty phone


@dataclass(frozen=True, slots=True)
class Crisis:
    active: bool
    prompt: str | None
    expires: dt.datetime | None

    def playing(self, now: dt.datetime) -> bool:
        return self.active and (self.expires is None or now < self.expires)


@dataclass(frozen=True, slots=True)
class Plan:
    numbers: Mapping[str, Entry]
    menus: Mapping[str, Menu]
    groups: Mapping[str, GroupDoor]
    crisis: Crisis
