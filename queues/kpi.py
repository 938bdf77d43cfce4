"""The municipal KPIs, defined once (docs/kpi.md): the reports, the live counters and the
simulator all count with these.

Pure: a call is a `CallRecord` (what the call log keeps of it), an agent's time is a list of
`StateSpan`s, a wrap-up a `WrapUp`; `figures()` folds them into `Figures`, whose properties are
the ratios. Nothing here reads a clock or a time zone: the caller groups records by hour, day or
group (`by()`) with keys it computes.
"""

from __future__ import annotations

import enum
from collections import defaultdict
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, field
from typing import TypeVar

GOAL_SECONDS = 120.0  # the municipal goal: answered within 2 minutes
SHORT_ABANDON_SECONDS = 5.0  # hung up this soon in line: a wrong number, not a lost citizen


class Outcome(enum.StrEnum):
    """How a call ended, once: the one column the reports count by."""

    ANSWERED = "answered"  # an agent answered
    ABANDONED = "abandoned"  # the caller hung up (or left the line by key) unanswered
    OVERFLOWED = "overflowed"  # handed to the partner, who did not answer
    PARTNER_ANSWERED = "partner_answered"
    CALLBACK = "callback"  # ended with a callback request (the request has its own record)
    CLOSED = "closed"  # the number or the group was closed: the closing message
    REFUSED = "refused"  # a full line or overload: the message, then goodbye
    RESOLVED_IN_IVR = "resolved_in_ivr"  # the caller chose a message and heard it
    TRANSFERRED = "transferred"  # sent on to a number and reached it (a menu's transfer
    # option, a duty line out of hours)
    UNFINISHED = "unfinished"  # not answered yet when the log was written (still going)


@dataclass(frozen=True, slots=True)
class CallRecord:
    call_id: str
    arrived: float  # seconds since the epoch
    number: str  # the municipal number dialled
    outcome: Outcome
    group: str | None = None  # the last group it was in line for: where its outcome counts
    first_group: str | None = None
    offered: bool = False  # reached a line, or was refused by one
    queued: float | None = None  # first arrival in a line (kept through moves)
    waited: float | None = None  # seconds in line until answered, abandoned or sent on
    threshold: float = GOAL_SECONDS  # the group's service-level threshold
    agent: str | None = None
    talk: float | None = None
    ivr_choice: str = ""  # the keys that chose the way out of the menus
    abandoned_in: str | None = None  # ivr, waiting, offered, left_line


# The wrap-up's contact reasons: the ROSA groups 1-4 (docs/kpi.md) or a forward to the
# department (which one is the wrap-up's `department`).
WRAP_UP_REASONS = ("rosa1", "rosa2", "rosa3", "rosa4", "forwarded")


@dataclass(frozen=True, slots=True)
class WrapUp:
    call_id: str
    agent: str
    at: float
    reason: str  # rosa1 .. rosa4, or forwarded
    resolved: bool  # at the first contact
    department: str | None = None  # where a forwarded call went


@dataclass(frozen=True, slots=True)
class StateSpan:
    """An agent in one state from `start` to `end` (agents/state.py's names)."""

    agent: str
    state: str
    start: float
    end: float
    reason: str | None = None

    @property
    def seconds(self) -> float:
        return max(0.0, self.end - self.start)


WORKING = frozenset({"ringing", "busy", "wrap_up"})


def _share(a: float, b: float) -> float | None:
    return a / b if b else None


@dataclass(frozen=True, slots=True)
class Figures:
    """Counts over a set of calls; the ratios are None where their base is zero."""

    calls: int = 0  # every call that arrived
    offered: int = 0  # reached a line or was refused by one, short abandons included
    answered: int = 0
    answered_in_threshold: int = 0
    answered_in_goal: int = 0  # within GOAL_SECONDS
    abandoned: int = 0  # in line or while an agent's phone rang, short ones included
    short_abandoned: int = 0
    abandoned_in_threshold: int = 0  # not short, within the threshold (for SL2)
    abandoned_in_ivr: int = 0
    overflowed: int = 0  # sent to the partner, answered there or not
    partner_answered: int = 0
    refused: int = 0
    closed: int = 0
    resolved_in_ivr: int = 0
    callbacks: int = 0
    callbacks_from_line: int = 0  # of which asked for while waiting in a line
    transferred: int = 0
    unfinished: int = 0
    answered_wait: float = 0.0  # seconds, summed over answered calls
    talk: float = 0.0
    wrap_ups: int = 0
    resolved_first_contact: int = 0
    forwarded: int = 0
    logged_in: float = 0.0  # agents' seconds logged in
    working: float = 0.0  # of which ringing, talking or in wrap-up
    waits: tuple[float, ...] = field(default=(), repr=False)  # answered calls' waits
    abandon_waits: tuple[float, ...] = field(default=(), repr=False)

    @property
    def counted(self) -> int:
        """Offered, short abandons excluded: the base of the municipal goal. A caller who
        left a line for a callback is out of it too: the callback service level measures
        their wait (CallbackFigures)."""
        return self.offered - self.short_abandoned - self.callbacks_from_line

    @property
    def service_level(self) -> float | None:
        return _share(self.answered_in_threshold, self.answered)

    @property
    def goal(self) -> float | None:
        """The municipal goal: answered within 2 minutes / offered (short abandons out)."""
        return _share(self.answered_in_goal, self.counted)

    @property
    def sl2(self) -> float | None:
        real_abandons = self.abandoned - self.short_abandoned
        return _share(self.answered_in_threshold + self.abandoned_in_threshold,
                      self.answered + real_abandons)

    @property
    def asa(self) -> float | None:
        return _share(self.answered_wait, self.answered)

    @property
    def abandon_rate(self) -> float | None:
        return _share(self.abandoned - self.short_abandoned, self.counted)

    @property
    def overflow_rate(self) -> float | None:
        return _share(self.overflowed, self.counted)

    @property
    def partner_share(self) -> float | None:
        """Of the calls sent to the partner, the share the partner answered."""
        return _share(self.partner_answered, self.overflowed)

    @property
    def first_contact_resolution(self) -> float | None:
        return _share(self.resolved_first_contact, self.wrap_ups)

    @property
    def forwarded_rate(self) -> float | None:
        return _share(self.forwarded, self.wrap_ups)

    @property
    def availability(self) -> float | None:
        """Reached a person (an agent or the partner) or resolved in the IVR / every call
        (short abandons out)."""
        reached = self.answered + self.partner_answered + self.resolved_in_ivr
        return _share(reached, self.calls - self.short_abandoned)

    @property
    def occupancy(self) -> float | None:
        return _share(self.working, self.logged_in)

    def ratios(self) -> dict[str, float | None]:
        return {name: getattr(self, name) for name in RATIOS}


RATIOS = ("service_level", "goal", "sl2", "asa", "abandon_rate", "overflow_rate",
          "partner_share", "first_contact_resolution", "forwarded_rate", "availability",
          "occupancy")
COUNTS = ("calls", "offered", "answered", "answered_in_threshold", "answered_in_goal",
          "abandoned", "short_abandoned", "abandoned_in_ivr", "overflowed", "partner_answered",
          "refused", "closed", "resolved_in_ivr", "callbacks", "transferred", "unfinished",
          "wrap_ups", "resolved_first_contact", "forwarded")


class Tally:
    """Figures built one call, wrap-up and span at a time (the live counters); `figures()`
    does the same over whole lists (the reports)."""

    def __init__(self, *, short_abandon: float = SHORT_ABANDON_SECONDS,
                 goal_seconds: float = GOAL_SECONDS) -> None:
        self.short_abandon, self.goal_seconds = short_abandon, goal_seconds
        self.n: dict[str, int] = defaultdict(int)
        self.waits: list[float] = []
        self.abandon_waits: list[float] = []
        self.talk = self.logged_in = self.working = 0.0

    def add_call(self, c: CallRecord) -> None:
        n = self.n
        n["calls"] += 1
        n["offered"] += c.offered
        o = c.outcome
        if o is Outcome.ANSWERED:
            wait = c.waited or 0.0
            n["answered"] += 1
            n["answered_in_threshold"] += wait <= c.threshold
            n["answered_in_goal"] += wait <= self.goal_seconds
            self.waits.append(wait)
            self.talk += c.talk or 0.0
        elif o is Outcome.ABANDONED:
            if c.abandoned_in == "ivr":
                n["abandoned_in_ivr"] += 1
                return
            wait = c.waited or 0.0
            n["abandoned"] += 1
            self.abandon_waits.append(wait)
            if wait < self.short_abandon:
                n["short_abandoned"] += 1
            elif wait <= c.threshold:
                n["abandoned_in_threshold"] += 1
        elif o is Outcome.OVERFLOWED:
            n["overflowed"] += 1
        elif o is Outcome.PARTNER_ANSWERED:
            n["overflowed"] += 1
            n["partner_answered"] += 1
        elif o is Outcome.CALLBACK:
            n["callbacks"] += 1
            n["callbacks_from_line"] += c.offered
        else:
            n[_COUNTED[o]] += 1

    def add_wrap_up(self, w: WrapUp) -> None:
        self.n["wrap_ups"] += 1
        self.n["resolved_first_contact"] += w.resolved
        self.n["forwarded"] += w.reason == "forwarded"

    def add_span(self, s: StateSpan) -> None:
        if s.state != "logged_out":
            self.logged_in += s.seconds
        if s.state in WORKING:
            self.working += s.seconds

    def figures(self) -> Figures:
        return Figures(**self.n, answered_wait=sum(self.waits), talk=self.talk,
                       logged_in=self.logged_in, working=self.working,
                       waits=tuple(self.waits), abandon_waits=tuple(self.abandon_waits))


_COUNTED = {Outcome.CLOSED: "closed", Outcome.REFUSED: "refused",
            Outcome.RESOLVED_IN_IVR: "resolved_in_ivr", Outcome.TRANSFERRED: "transferred",
            Outcome.UNFINISHED: "unfinished"}


def figures(calls: Iterable[CallRecord], wrap_ups: Iterable[WrapUp] = (),
            spans: Iterable[StateSpan] = (), *, short_abandon: float = SHORT_ABANDON_SECONDS,
            goal_seconds: float = GOAL_SECONDS) -> Figures:
    tally = Tally(short_abandon=short_abandon, goal_seconds=goal_seconds)
    for c in calls:
        tally.add_call(c)
    for w in wrap_ups:
        tally.add_wrap_up(w)
    for s in spans:
        tally.add_span(s)
    return tally.figures()


@dataclass(frozen=True, slots=True)
class CallbackRecord:
    """A callback request as the call log keeps it (its `callbacks` row)."""

    call_id: str
    group: str
    requested: float  # seconds since the epoch
    outcome: str | None  # reached, failed, expired, cancelled; None while pending
    attempts: int  # calls made to the citizen
    reached: float | None = None  # when an agent reached the citizen
    target: float = 3600.0  # the group's callback target (seconds)


@dataclass(frozen=True, slots=True)
class CallbackFigures:
    """Counts over callback requests; the ratios are None where their base is zero. A
    request cancelled (the citizen called again and was answered, or a supervisor) or still
    pending is in no ratio's base."""

    requested: int = 0
    reached: int = 0
    reached_in_target: int = 0
    failed: int = 0  # no attempt reached the citizen
    expired: int = 0
    cancelled: int = 0
    pending: int = 0
    attempts: int = 0  # of the decided requests (reached, failed, expired)

    @property
    def decided(self) -> int:
        return self.reached + self.failed + self.expired

    @property
    def service_level(self) -> float | None:
        """The callback service level: reached by an agent within the group's target, of
        the requests decided."""
        return _share(self.reached_in_target, self.decided)

    @property
    def reached_share(self) -> float | None:
        return _share(self.reached, self.decided)

    @property
    def attempts_per_request(self) -> float | None:
        return _share(self.attempts, self.decided)


def callback_figures(records: Iterable[CallbackRecord]) -> CallbackFigures:
    n: dict[str, int] = defaultdict(int)
    for r in records:
        n["requested"] += 1
        if r.outcome is None:
            n["pending"] += 1
            continue
        n[r.outcome] += 1
        if r.outcome == "cancelled":
            continue
        n["attempts"] += r.attempts
        if r.outcome == "reached" and r.reached is not None:
            n["reached_in_target"] += r.reached - r.requested <= r.target
    return CallbackFigures(**n)


K = TypeVar("K", bound=Hashable)
T = TypeVar("T")


def by(items: Iterable[T], key: Callable[[T], K]) -> dict[K, list[T]]:
    """Items grouped by a key (an hour, a day, a group), in the order first seen."""
    out: dict[K, list[T]] = {}
    for item in items:
        out.setdefault(key(item), []).append(item)
    return out
