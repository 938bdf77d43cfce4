"""The external overflow partner's caps: calls at once and calls per rolling hour."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

HOUR = 3600.0


@dataclass(frozen=True, slots=True)
class PartnerCaps:
    max_concurrent: int | None = None
    max_per_hour: int | None = None


@dataclass(slots=True)
class PartnerLedger:
    caps: PartnerCaps
    active: set[str] = field(default_factory=set)
    _admitted: deque[float] = field(default_factory=deque)

    def _forget_before(self, now: float) -> None:
        while self._admitted and self._admitted[0] <= now - HOUR:
            self._admitted.popleft()

    def can_take(self, now: float) -> bool:
        self._forget_before(now)
        c = self.caps
        if c.max_concurrent is not None and len(self.active) >= c.max_concurrent:
            return False
        return c.max_per_hour is None or len(self._admitted) < c.max_per_hour

    def admit(self, call_id: str, now: float) -> None:
        if not self.can_take(now):
            raise ValueError(f"partner is full; call {call_id!r} cannot be admitted")
        self.active.add(call_id)
        self._admitted.append(now)

    def release(self, call_id: str) -> bool:
        """The partner call ended (any outcome); True if it was ours."""
        if call_id in self.active:
            self.active.remove(call_id)
            return True
        return False

    def in_last_hour(self, now: float) -> int:
        self._forget_before(now)
        return len(self._admitted)
