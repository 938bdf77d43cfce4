"""What a waiting caller is told, and when: the guard rails around position and wait announcements.

- never more often than `every` seconds;
- the position whenever it is due;
- the estimated wait only when at least `min_agents` agents serve the group (with fewer, one
  long call makes any estimate a guess), rounded up to whole minutes, and only the first time or
  when it improved (a caller told "about 4 minutes" is never then told "about 6").
Pure: the caller's history comes in, the decision and the new history go out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class AnnounceRules:
    every: float = 60.0
    position: bool = True
    ewt: bool = True
    min_agents: int = 2
    max_position: int = 100  # beyond this the number is not said


@dataclass(frozen=True, slots=True)
class Told:
    """What a caller has been told so far."""

    at: float | None = None
    ewt_minutes: int | None = None


@dataclass(frozen=True, slots=True)
class Announcement:
    position: int | None
    ewt_minutes: int | None

    @property
    def empty(self) -> bool:
        return self.position is None and self.ewt_minutes is None


def decide(rules: AnnounceRules, told: Told, now: float, position: int, ewt: float | None,
           serving: int) -> tuple[Announcement, Told]:
    if told.at is not None and now - told.at < rules.every:
        return Announcement(None, None), told
    say_position = position if rules.position and 1 <= position <= rules.max_position else None
    say_ewt = None
    if rules.ewt and ewt is not None and serving >= rules.min_agents:
        minutes = math.ceil(ewt / 60) if ewt >= 60 else 0
        if told.ewt_minutes is None or minutes < told.ewt_minutes:
            say_ewt = minutes
    announcement = Announcement(say_position, say_ewt)
    if announcement.empty:
        return announcement, Told(now, told.ewt_minutes)
    return announcement, Told(now, say_ewt if say_ewt is not None else told.ewt_minutes)
