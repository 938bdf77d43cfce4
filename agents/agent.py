"""An agent: identity, group memberships with skill levels, and the counters routing needs."""

from __future__ import annotations

from dataclasses import dataclass, field

from agents.state import SERVING, AgentEvent, AgentState, next_state


@dataclass(frozen=True, slots=True)
class Membership:
    """An agent's place in one response group. Level 1 is the most skilled, 9 the least (the same
    sense as Asterisk's queue penalty): skill widening admits low numbers first."""

    group_id: str
    level: int = 1

    def __post_init__(self) -> None:
        if not 1 <= self.level <= 9:
            raise ValueError(
                f"skill level for group {self.group_id!r} must be 1-9, not {self.level}")


@dataclass(slots=True)
class Agent:
    agent_id: str
    memberships: dict[str, Membership]
    name: str = ""
    auto_pause_after: int | None = 3  # unanswered offers in a row; None disables auto-pause
    state: AgentState = AgentState.LOGGED_OUT
    pause_reason: str | None = None
    state_since: float = 0.0
    missed_in_row: int = 0
    answered: dict[str, int] = field(default_factory=dict)  # calls answered, per group
    call_id: str | None = None  # the call offered to or handled by the agent
    call_group: str | None = None
    device_available: bool = True  # its phone is registered (DeviceState not UNAVAILABLE)

    def apply(self, event: AgentEvent, now: float, *, reason: str | None = None) -> AgentState:
        """Move along the state table; raises IllegalTransition and changes nothing if refused."""
        new = next_state(self.agent_id, self.state, event)
        self.state = new
        self.state_since = now
        self.pause_reason = reason if new is AgentState.PAUSED else None
        return new

    @property
    def can_answer(self) -> bool:
        """Counts as serving its groups: logged in, not paused, and its phone reachable."""
        return self.state in SERVING and self.device_available

    def level_in(self, group_id: str) -> int:
        return self.memberships[group_id].level

    def record_miss(self) -> bool:
        """Counts an unanswered offer; True when this miss should pause the agent."""
        self.missed_in_row += 1
        return self.auto_pause_after is not None and self.missed_in_row >= self.auto_pause_after
