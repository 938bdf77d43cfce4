"""The agent state machine.

Theory of operation: an agent is in exactly one state. Every change is an event applied to the
current state through the TRANSITIONS table below; a pair that is not in the table is refused with
IllegalTransition, naming both, and leaves the agent unchanged. Nothing else changes an agent's
state, so the table is the whole truth about what an agent may do.

    LOGGED_OUT --login--> READY <--pause/unpause--> PAUSED
    READY --offer--> RINGING --answer--> BUSY --hangup--> WRAP_UP --wrapup_done--> READY
    RINGING --miss / cancel--> READY          (an offer not answered, or withdrawn)
    RINGING --auto_pause--> PAUSED            (too many misses in a row)
    READY, PAUSED, WRAP_UP --logout--> LOGGED_OUT
"""

from __future__ import annotations

import enum


class AgentState(enum.Enum):
    LOGGED_OUT = "logged_out"
    READY = "ready"
    PAUSED = "paused"
    RINGING = "ringing"
    BUSY = "busy"
    WRAP_UP = "wrap_up"

    # members are singletons: identity's C hash, not Enum's hash of the name in Python (the
    # table is looked up on every change of every agent)
    __hash__ = object.__hash__


class AgentEvent(enum.Enum):
    LOGIN = "login"
    PAUSE = "pause"
    UNPAUSE = "unpause"
    OFFER = "offer"
    ANSWER = "answer"
    MISS = "miss"
    CANCEL = "cancel"
    AUTO_PAUSE = "auto_pause"
    HANGUP = "hangup"
    WRAPUP_DONE = "wrapup_done"
    LOGOUT = "logout"

    __hash__ = object.__hash__


S, E = AgentState, AgentEvent

TRANSITIONS: dict[tuple[AgentState, AgentEvent], AgentState] = {
    (S.LOGGED_OUT, E.LOGIN): S.READY,
    (S.READY, E.PAUSE): S.PAUSED,
    (S.PAUSED, E.PAUSE): S.PAUSED,  # a new reason replaces the old one
    (S.PAUSED, E.UNPAUSE): S.READY,
    (S.READY, E.OFFER): S.RINGING,
    (S.RINGING, E.ANSWER): S.BUSY,
    (S.RINGING, E.MISS): S.READY,
    (S.RINGING, E.CANCEL): S.READY,
    (S.RINGING, E.AUTO_PAUSE): S.PAUSED,
    (S.BUSY, E.HANGUP): S.WRAP_UP,
    (S.WRAP_UP, E.WRAPUP_DONE): S.READY,
    (S.WRAP_UP, E.PAUSE): S.PAUSED,
    (S.READY, E.LOGOUT): S.LOGGED_OUT,
    (S.PAUSED, E.LOGOUT): S.LOGGED_OUT,
    (S.WRAP_UP, E.LOGOUT): S.LOGGED_OUT,
}

# States in which an agent counts as serving its groups (logged in and not paused).
SERVING = frozenset({S.READY, S.RINGING, S.BUSY, S.WRAP_UP})


class IllegalTransition(Exception):
    """A caller of the core asked for a change the state machine does not allow (our fault or the
    user's, never the PBX's): the agent is left as it was."""

    def __init__(self, agent_id: str, state: AgentState, event: AgentEvent) -> None:
        super().__init__(
            f"agent {agent_id!r}: {event.value!r} is not allowed while {state.value!r}")
        self.agent_id = agent_id
        self.state = state
        self.event = event


def next_state(agent_id: str, state: AgentState, event: AgentEvent) -> AgentState:
    try:
        return TRANSITIONS[state, event]
    except KeyError:
        raise IllegalTransition(agent_id, state, event) from None
