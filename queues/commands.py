"""What the routing core tells the shell: commands (imperative) to carry out, and facts (past
tense) to record. All are frozen, slotted dataclasses; the shell never has to read router state to
act on them."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from agents.state import AgentState


@dataclass(frozen=True, slots=True)
class OfferCall:
    """Ring this agent for this caller."""

    call_id: str
    agent_id: str
    group_id: str


@dataclass(frozen=True, slots=True)
class CancelOffer:
    """The caller left while the agent's device rang: stop ringing it."""

    call_id: str
    agent_id: str


@dataclass(frozen=True, slots=True)
class SendToPartner:
    """Hand the caller to the external overflow partner."""

    call_id: str
    group_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class CallMoved:
    """The caller was moved to another group by an overflow rule, keeping their wait."""

    call_id: str
    from_group: str
    to_group: str
    reason: str


class Refusal(enum.Enum):
    CLOSED = "closed"  # the group is closed (and, for a caller in line, nobody can answer)
    FULL = "full"  # max_waiting callers wait already
    RETIRED = "retired"  # the group left the configuration


@dataclass(frozen=True, slots=True)
class RefuseCall:
    """The group cannot take the caller (closed, full) and no overflow rule placed them."""

    call_id: str
    group_id: str
    reason: str
    refusal: Refusal


@dataclass(frozen=True, slots=True)
class StartWrapUp:
    """The agent's after-call work: call the router's wrap_up_done after this many seconds."""

    agent_id: str
    seconds: float


@dataclass(frozen=True, slots=True)
class AgentAutoPaused:
    """The agent missed too many offers in a row and was paused."""

    agent_id: str
    missed: int


@dataclass(frozen=True, slots=True)
class AgentChanged:
    """An agent's state changed (a fact, for the events): by `event`, to `state`."""

    agent_id: str
    state: AgentState
    reason: str | None  # the pause reason, when paused
    event: str  # the agent event of agents/state.py that made the change
    call_id: str | None  # the call it concerns (offered, answered, missed, ended)


Output = (
    OfferCall | CancelOffer | SendToPartner | CallMoved | RefuseCall | StartWrapUp
    | AgentAutoPaused | AgentChanged
)
