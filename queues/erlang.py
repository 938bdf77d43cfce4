"""Erlang C: the M/M/n queue with infinite patience, for staffing and for checking the simulator.

Erlang B is computed by its stable recurrence B(0) = 1, B(k) = A B(k-1) / (k + A B(k-1)) and turned
into Erlang C; no factorials or powers, so large loads do not overflow.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Staffing:
    agents: int
    service_level: float  # answered within the threshold / answered
    wait_probability: float
    occupancy: float
    asa_seconds: float  # average speed of answer


def offered_load(calls_per_hour: float, aht: float) -> float:
    """Traffic in erlangs."""
    return calls_per_hour * aht / 3600.0


def wait_probability(agents: int, load: float) -> float:
    """Erlang C: the chance a caller has to wait at all (1.0 when the line grows without end)."""
    if agents <= load:
        return 1.0
    b = 1.0
    for k in range(1, agents + 1):
        b = load * b / (k + load * b)
    return agents * b / (agents - load * (1.0 - b))


def service_level(agents: int, load: float, aht: float, threshold: float) -> float:
    """The share of callers answered within `threshold` seconds."""
    if agents <= load:
        return 0.0
    pw = wait_probability(agents, load)
    return 1.0 - pw * math.exp(-(agents - load) * threshold / aht)


def evaluate(agents: int, calls_per_hour: float, aht: float, threshold: float) -> Staffing:
    load = offered_load(calls_per_hour, aht)
    pw = wait_probability(agents, load)
    stable = agents > load
    return Staffing(
        agents=agents,
        service_level=service_level(agents, load, aht, threshold),
        wait_probability=pw,
        occupancy=min(load / agents, 1.0) if agents else 1.0,
        asa_seconds=pw * aht / (agents - load) if stable else math.inf,
    )


def agents_needed(calls_per_hour: float, aht: float, target: float, threshold: float) -> Staffing:
    """The fewest agents whose service level reaches `target` (a share, 0 < target < 1)."""
    if not 0 < target < 1:
        raise ValueError(f"target must be a share between 0 and 1, not {target}")
    if calls_per_hour < 0 or aht <= 0 or threshold < 0:
        raise ValueError("calls per hour must be >= 0, aht > 0 and threshold >= 0")
    agents = max(1, math.floor(offered_load(calls_per_hour, aht)) + 1)
    while (result := evaluate(agents, calls_per_hour, aht, threshold)).service_level < target:
        agents += 1
    return result
