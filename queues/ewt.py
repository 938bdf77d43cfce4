"""Estimated wait time (EWT) from the agents serving a group now, not from past waits.

Every serving agent frees up after their expected remaining time (0 for a ready agent, the rest of
the expected handle time plus wrap-up for a busy one) and then takes one caller after another, each
taking a full cycle (handle time plus wrap-up). With `ahead` callers in front, a caller is served at
the (ahead + 1)-th moment an agent frees up. As every remaining time is at most one cycle, the k-th
of those moments is slots[k mod n] + (k div n) * cycle, with `slots` the sorted remaining times: the
estimate costs O(n log n) in the number of agents once, then O(1) per caller, whatever the line.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence


def free_slots(remaining: Iterable[float], cycle: float) -> list[float]:
    """The serving agents' remaining times, clamped to [0, cycle] and sorted."""
    return sorted(min(max(r, 0.0), cycle) for r in remaining)


def estimated_wait(ahead: int, slots: Sequence[float], cycle: float) -> float | None:
    """Seconds until a caller with `ahead` callers in front reaches an agent; None when no agent
    serves the group (there is no honest estimate to give)."""
    if not slots:
        return None
    rounds, index = divmod(ahead, len(slots))
    return slots[index] + rounds * cycle
