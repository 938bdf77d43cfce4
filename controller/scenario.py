"""A simulation scenario: who works when, how many call, how long calls take, how patient
callers are.

Scenarios are read from YAML (see config/scenarios/) or built from command-line flags.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from config.durations import parse_duration
from config.errors import ConfigError, Problem
from config.messages import explain, field_names
from config.schema import Group
from config.yamlstrict import load
from overflow.partner import PartnerCaps
from overflow.policy import Rule
from queues.group import GroupConfig


@dataclass(frozen=True, slots=True)
class HandleTime:
    mean: float
    distribution: Literal["exponential", "lognormal"] = "exponential"
    cv: float = 1.0  # coefficient of variation, for lognormal

    def sampler(self, rng: random.Random) -> Callable[[], float]:
        if self.distribution == "exponential":
            rate = 1.0 / self.mean
            return lambda: rng.expovariate(rate)
        sigma = math.sqrt(math.log(1.0 + self.cv**2))
        mu = math.log(self.mean) - sigma**2 / 2.0
        return lambda: rng.lognormvariate(mu, sigma)


@dataclass(frozen=True, slots=True)
class Shift:
    count: int
    groups: dict[str, int]  # group -> skill level
    start: float = 0.0  # seconds from the start of the run
    end: float | None = None  # None: until every call is served


@dataclass(frozen=True, slots=True)
class SimGroup:
    config: GroupConfig
    share: float  # of all arrivals
    handle_time: HandleTime
    rules: tuple[Rule, ...] = ()


@dataclass(frozen=True, slots=True)
class SimCallbacks:
    """Callbacks offered to callers whose estimated wait on arrival passes `offer_over`: a
    share accept (the request keeps their place), and an agent calls them back, agent first,
    reaching a share of them each attempt."""

    offer_over: float  # seconds of estimated wait
    accept: float = 0.5  # share of the callers offered one who take it
    reach: float = 0.85  # share of attempts that reach the citizen
    attempts: int = 3
    spacing: float = 600.0
    dial: float = 25.0  # seconds of the agent's time an attempt takes before talk or failure
    target: float = 3600.0  # the callback service level's target


@dataclass(frozen=True, slots=True)
class Scenario:
    groups: tuple[SimGroup, ...]
    shifts: tuple[Shift, ...]
    calls_per_hour: tuple[float, ...]  # one rate per hour; the last one repeats
    hours: float
    patience: float | None = None  # mean seconds before a waiting caller hangs up
    seed: int = 1
    partner: PartnerCaps | None = None
    partner_handle_time: HandleTime = field(default_factory=lambda: HandleTime(180.0))
    ring_time: float = 0.0
    name: str = "scenario"
    opens: float = 8 * 3600.0  # the clock time of the run's second 0 (seconds after midnight)
    callbacks: SimCallbacks | None = None

    @classmethod
    def single_group(cls, *, agents: int, calls_per_hour: float, aht: float, hours: float,
                     threshold: float = 120.0, patience: float | None = None, seed: int = 1,
                     distribution: Literal["exponential", "lognormal"] = "exponential",
                     ) -> Scenario:
        group = GroupConfig("main", threshold=threshold, expected_handle_time=aht)
        return cls(
            groups=(SimGroup(group, 1.0, HandleTime(aht, distribution)),),
            shifts=(Shift(agents, {"main": 1}),),
            calls_per_hour=(calls_per_hour,),
            hours=hours, patience=patience, seed=seed, name="single group",
        )

    def with_overrides(self, *, agents: int | None = None, calls_per_hour: float | None = None,
                       aht: float | None = None, patience: float | Literal["keep"] | None = "keep",
                       hours: float | None = None, threshold: float | None = None,
                       seed: int | None = None) -> Scenario:
        """The same scenario with command-line flags applied over it."""
        s = self
        if agents is not None:
            levels = {g.config.group_id: 1 for g in s.groups}
            s = replace(s, shifts=(Shift(agents, levels),))
        if calls_per_hour is not None:
            s = replace(s, calls_per_hour=(calls_per_hour,))
        if aht is not None or threshold is not None:
            s = replace(s, groups=tuple(
                replace(g,
                        handle_time=replace(g.handle_time, mean=aht) if aht else g.handle_time,
                        config=replace(g.config, threshold=threshold or g.config.threshold,
                                       expected_handle_time=aht or g.config.expected_handle_time))
                for g in s.groups))
        if patience != "keep":
            s = replace(s, patience=patience)
        if hours is not None:
            s = replace(s, hours=hours)
        if seed is not None:
            s = replace(s, seed=seed)
        return s


def expected_calls(calls_per_hour: Sequence[float], hours: float) -> float:
    """Arrivals a run expects: one rate per hour, the last one repeating."""
    whole = int(hours)
    rates = [calls_per_hour[min(h, len(calls_per_hour) - 1)] for h in range(whole)]
    rest = hours - whole
    return sum(rates) + rest * calls_per_hour[min(whole, len(calls_per_hour) - 1)]


# ---- YAML ----------------------------------------------------------------------------------------

# What a simulation can finish in reasonable time (the simulator runs ~20,000 calls a second).
MAX_HOURS = 24 * 366.0
MAX_CALLS_PER_HOUR = 100_000.0
MAX_CALLS = 20_000_000  # expected arrivals of a whole run: about a quarter of an hour
MAX_AGENTS = 10_000


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


def _seconds(v: object) -> float:
    seconds = parse_duration(v)
    if not 0 < seconds <= 86400:
        raise ValueError(f"{v}: a time longer than zero and at most a day (for example \"4m\")")
    return seconds


def _clock(v: object) -> float:
    """ "08:30" -> seconds after midnight. Quoted, because YAML 1.1 reads 8:30 as 510."""
    if not isinstance(v, str) or len(v.split(":")) != 2:
        raise ValueError(f"a clock time must be quoted like \"08:30\", not {v!r}")
    h, m = v.split(":")
    if not (h.isdigit() and m.isdigit() and int(h) <= 24 and int(m) < 60):
        raise ValueError(f"{v!r} is not a clock time HH:MM")
    return int(h) * 3600.0 + int(m) * 60.0


class _HandleTime(_Model):
    mean: float
    distribution: Literal["exponential", "lognormal"] = "lognormal"
    cv: float = Field(0.8, gt=0, le=10)

    _mean = field_validator("mean", mode="before")(_seconds)


class _Group(Group):
    """A response group as in the configuration, plus what only a simulation needs."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)
    id: str
    name: str = ""
    share: float = Field(gt=0, le=1_000_000)
    handle_time: _HandleTime


class _Shift(_Model):
    count: int = Field(ge=0, le=MAX_AGENTS)
    groups: dict[str, Annotated[int, Field(ge=1, le=9)]]
    start: float | None = Field(None, alias="from")
    end: float | None = Field(None, alias="to")

    _times = field_validator("start", "end", mode="before")(_clock)


class _Partner(_Model):
    max_concurrent: int | None = Field(None, ge=0)
    max_per_hour: int | None = Field(None, ge=0)
    handle_time: _HandleTime = _HandleTime(mean="3m")


class _Scenario(_Model):
    name: str
    opens: float = 8 * 3600.0
    hours: float = Field(gt=0, le=MAX_HOURS)
    seed: int = 1
    patience: float | None = None
    ring_time: float = 0.0
    calls_per_hour: list[Annotated[float, Field(ge=0, le=MAX_CALLS_PER_HOUR)]] = Field(
        min_length=1)
    groups: list[_Group] = Field(min_length=1)
    shifts: list[_Shift]
    partner: _Partner | None = None
    callbacks: _Callbacks | None = None

    _opens = field_validator("opens", mode="before")(_clock)

    @field_validator("patience", mode="before")
    @classmethod
    def _patience(cls, v: object) -> object:
        return None if v in (None, "none") else _seconds(v)

    @field_validator("ring_time", mode="before")
    @classmethod
    def _ring_time(cls, v: object) -> object:
        seconds = parse_duration(v)
        if not 0 <= seconds <= 300:
            raise ValueError(f"{v}: a ring time from 0s to 5m")
        return seconds


class _Callbacks(_Model):
    offer_over: float
    accept: float = Field(0.5, ge=0, le=1)
    reach: float = Field(0.85, ge=0, le=1)
    attempts: int = Field(3, ge=1, le=10)
    spacing: float = 600.0
    dial: float = 25.0
    target: float = 3600.0

    _times = field_validator("offer_over", "spacing", "dial", "target", mode="before")(_seconds)


class ScenarioError(ConfigError):
    """The scenario file is wrong (the administrator's fault); says where."""


def load_scenario(path: Path) -> Scenario:
    """The scenario file through the strict reader; ScenarioError names file:line:column."""
    try:
        doc = load(path, display=str(path))
    except ConfigError as err:
        raise ScenarioError(err.problems) from err
    if not isinstance(doc.data, dict) or not doc.data:
        raise ScenarioError([Problem(str(path), 0, 0, "a scenario is a mapping of settings "
                                     "(name:, hours:, calls_per_hour:, groups:, shifts:); "
                                     "see config/scenarios/")])
    try:
        m = _Scenario.model_validate(doc.data)
    except ValidationError as err:
        raise ScenarioError([doc.problem(loc, message) for loc, message in explain(
            err.errors(), field_names(_Scenario))]) from err
    problems = []
    ids = {g.id for g in m.groups}
    for i, shift in enumerate(m.shifts):
        for gid in shift.groups:
            if gid not in ids:
                problems.append(doc.problem(("shifts", i, "groups", gid), (
                    f"shifts, item {i + 1}: no group {gid!r} under groups:")))
    for i, g in enumerate(m.groups):
        for j, r in enumerate(g.overflow):
            if r.to != "partner" and r.to not in ids:
                problems.append(doc.problem(("groups", i, "overflow", j, "to"), (
                    f"groups, item {i + 1}, overflow, item {j + 1}: no group {r.to!r}, "
                    "and not 'partner'")))
    if sum(m.calls_per_hour) == 0:
        problems.append(doc.problem(("calls_per_hour",), "no calls at all: give at least one "
                                                         "hour a rate above zero"))
    expected = expected_calls(m.calls_per_hour, m.hours)
    if expected > MAX_CALLS:
        problems.append(doc.problem(("hours",), (
            f"about {expected:,.0f} calls: more than a simulation finishes in reasonable time "
            f"(at most {MAX_CALLS:,}); simulate fewer hours")))
    if problems:
        raise ScenarioError(problems)
    groups = []
    for g in m.groups:
        cfg = replace(g.core(g.id), expected_handle_time=g.handle_time.mean)
        ht = HandleTime(g.handle_time.mean, g.handle_time.distribution, g.handle_time.cv)
        groups.append(SimGroup(cfg, g.share, ht, g.core_rules()))
    total = sum(g.share for g in groups)
    groups = [replace(g, share=g.share / total) for g in groups]
    shifts = tuple(
        Shift(s.count, dict(s.groups),
              start=0.0 if s.start is None else s.start - m.opens,
              end=None if s.end is None else s.end - m.opens)
        for s in m.shifts)
    partner = None
    partner_ht = HandleTime(180.0)
    if m.partner is not None:
        partner = PartnerCaps(m.partner.max_concurrent, m.partner.max_per_hour)
        p = m.partner.handle_time
        partner_ht = HandleTime(p.mean, p.distribution, p.cv)
    callbacks = None if m.callbacks is None else SimCallbacks(**m.callbacks.model_dump())
    return Scenario(tuple(groups), shifts, tuple(m.calls_per_hour), m.hours, m.patience, m.seed,
                    partner, partner_ht, m.ring_time, m.name, m.opens, callbacks)
