"""A response group (svarsgrupp): its routing settings and its opening state."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Strategy(enum.Enum):
    """Which ready agent gets a call."""

    LONGEST_IDLE = "longest_idle"  # the agent ready the longest (default)
    ROUND_ROBIN = "round_robin"  # the next member after the last one offered a call (memory)
    FEWEST_CALLS = "fewest_calls"  # the member who answered fewest calls in this group
    SKILL_WIDENING = "skill_widening"  # most skilled first; more levels as the wait grows


@dataclass(frozen=True, slots=True)
class WideningStep:
    """From `after` seconds of waiting, agents with skill level <= max_level may take the call."""

    after: float
    max_level: int


DEFAULT_WIDENING = (WideningStep(0.0, 2), WideningStep(30.0, 9))
NO_WIDENING = (WideningStep(0.0, 9),)


class Opening(enum.Enum):
    OPEN = "open"
    CLOSED = "closed"
    FORCED_OPEN = "forced_open"
    FORCED_CLOSED = "forced_closed"

    @property
    def is_open(self) -> bool:
        return self in (Opening.OPEN, Opening.FORCED_OPEN)


@dataclass(frozen=True, slots=True)
class GroupConfig:
    group_id: str
    name: str = ""
    threshold: float = 120.0  # service-level target: answered within this many seconds
    strategy: Strategy = Strategy.LONGEST_IDLE
    widening: tuple[WideningStep, ...] = NO_WIDENING
    max_waiting: int | None = None  # callers beyond this are refused (or overflow)
    wrap_up: float = 0.0  # seconds of after-call work before the agent is ready again
    weight: float = 1.0  # how much lateness against this group's target counts for shared agents
    expected_handle_time: float = 180.0  # starting estimate; the router learns from real calls

    def __post_init__(self) -> None:
        if self.threshold <= 0:
            raise ValueError(f"group {self.group_id!r}: threshold must be positive")
        if self.weight <= 0:
            raise ValueError(f"group {self.group_id!r}: weight must be positive")
        if not self.widening or self.widening[0].after != 0:
            raise ValueError(f"group {self.group_id!r}: widening must start with a step at 0 s")
        afters = [s.after for s in self.widening]
        if afters != sorted(afters) or len(set(afters)) != len(afters):
            raise ValueError(f"group {self.group_id!r}: widening steps must grow in time")
        if self.max_waiting is not None and self.max_waiting < 0:
            raise ValueError(f"group {self.group_id!r}: max_waiting must not be negative")

    def max_level(self, arrival: float, now: float) -> int:
        """The least skilled level admitted for a caller who arrived at `arrival`. Times are
        compared as `now >= arrival + after`, the very sum the router's timers fire at, so float
        rounding can never make a due step look not yet due."""
        level = self.widening[0].max_level
        for step in self.widening:
            if now >= arrival + step.after:
                level = step.max_level
            else:
                break
        return level

    def next_widening(self, arrival: float, now: float) -> float | None:
        """When the next step admits more agents for this caller, or None."""
        for step in self.widening:
            if arrival + step.after > now:
                return arrival + step.after
        return None
