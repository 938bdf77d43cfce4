"""A group's overflow rules: ordered conditions, each with a destination.

The first rule whose condition holds and whose destination can take the caller now decides; a rule
pointing at a partner that is full is passed over, so with no usable rule the caller stays queued.
Every decision carries its reason in words, for the call log.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from dataclasses import dataclass

PARTNER = "partner"


class Condition(enum.Enum):
    EWT_OVER = "ewt_over"  # the caller's estimated wait exceeds `limit` seconds
    WAITING_OVER = "waiting_over"  # more than `limit` callers wait in the group
    NO_AGENTS = "no_agents"  # no agent of the group can answer (logged in, not paused, reachable)
    CLOSED = "closed"  # the group is closed
    CRISIS = "crisis"  # the crisis switch is on
    MANUAL = "manual"  # the group's manual overflow switch is on
    OVERLOAD = "overload"  # Asterisk falls behind (the controller's overload policy is on)


@dataclass(frozen=True, slots=True)
class Destination:
    """Another response group (the caller keeps their wait), or the partner."""

    group_id: str | None = None

    @property
    def is_partner(self) -> bool:
        return self.group_id is None

    def __str__(self) -> str:
        return PARTNER if self.group_id is None else f"group {self.group_id}"


@dataclass(frozen=True, slots=True)
class Rule:
    condition: Condition
    destination: Destination
    limit: float | None = None

    def __post_init__(self) -> None:
        needs_limit = self.condition in (Condition.EWT_OVER, Condition.WAITING_OVER)
        if needs_limit and (self.limit is None or self.limit < 0):
            raise ValueError(f"overflow rule {self.condition.value} needs a limit >= 0")
        if not needs_limit and self.limit is not None:
            raise ValueError(f"overflow rule {self.condition.value} takes no limit")


@dataclass(frozen=True, slots=True)
class Situation:
    """What the rules look at, for one caller in one group. `ewt` is a callable so the estimate is
    only computed when a rule asks for it."""

    waiting: int
    serving: int  # agents who can answer: logged in, not paused, their phone reachable
    is_open: bool
    crisis: bool
    manual: bool
    ewt: Callable[[], float | None]
    overload: bool = False


@dataclass(frozen=True, slots=True)
class OverflowDecision:
    destination: Destination
    rule_index: int
    reason: str


def _holds(rule: Rule, s: Situation) -> str | None:
    """The reason in words if the rule's condition holds, else None."""
    match rule.condition:
        case Condition.EWT_OVER:
            ewt = s.ewt()
            assert rule.limit is not None
            if ewt is None:
                return None  # nobody serves the group: that is NO_AGENTS's business
            if ewt <= rule.limit:
                return None
            return f"estimated wait {ewt:.0f} s over {rule.limit:.0f} s"
        case Condition.WAITING_OVER:
            assert rule.limit is not None
            return f"{s.waiting} waiting, over {rule.limit:.0f}" if s.waiting > rule.limit else None
        case Condition.NO_AGENTS:
            return "no agent can answer" if s.serving == 0 else None
        case Condition.CLOSED:
            return "group closed" if not s.is_open else None
        case Condition.CRISIS:
            return "crisis mode" if s.crisis else None
        case Condition.MANUAL:
            return "manual overflow switch on" if s.manual else None
        case Condition.OVERLOAD:
            return "Asterisk overloaded" if s.overload else None


def decide(
    rules: Sequence[Rule], situation: Situation, can_take: Callable[[Destination], bool]
) -> OverflowDecision | None:
    for index, rule in enumerate(rules):
        reason = _holds(rule, situation)
        if reason is not None and can_take(rule.destination):
            return OverflowDecision(rule.destination, index, reason)
    return None
