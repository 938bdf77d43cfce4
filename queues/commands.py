"""What the routing core tells the shell: commands (imperative) to carry out, and facts (past
tense) to record. All are frozen, slotted dataclasses; the shell never has to read router state to
act on them."""

from __future__ import annotations

from dataclasses import dataclass


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


@dataclass(frozen=True, slots=True)
class RefuseCall:
    """The group cannot take the caller (closed, full) and no overflow rule placed them."""

    call_id: str
    group_id: str
    reason: str


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


Output = (
    OfferCall | CancelOffer | SendToPartner | CallMoved | RefuseCall | StartWrapUp | AgentAutoPaused
)
