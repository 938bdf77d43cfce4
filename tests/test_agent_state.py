import itertools

import pytest

from agents import Agent, AgentEvent, AgentState, IllegalTransition, Membership
from agents.state import TRANSITIONS

S, E = AgentState, AgentEvent

LEGAL = [
    (S.LOGGED_OUT, E.LOGIN, S.READY),
    (S.READY, E.PAUSE, S.PAUSED),
    (S.PAUSED, E.PAUSE, S.PAUSED),
    (S.PAUSED, E.UNPAUSE, S.READY),
    (S.READY, E.OFFER, S.RINGING),
    (S.RINGING, E.ANSWER, S.BUSY),
    (S.RINGING, E.MISS, S.READY),
    (S.RINGING, E.CANCEL, S.READY),
    (S.RINGING, E.AUTO_PAUSE, S.PAUSED),
    (S.BUSY, E.HANGUP, S.WRAP_UP),
    (S.WRAP_UP, E.WRAPUP_DONE, S.READY),
    (S.WRAP_UP, E.PAUSE, S.PAUSED),
    (S.READY, E.LOGOUT, S.LOGGED_OUT),
    (S.PAUSED, E.LOGOUT, S.LOGGED_OUT),
    (S.WRAP_UP, E.LOGOUT, S.LOGGED_OUT),
]


def agent_in(state: AgentState) -> Agent:
    return Agent("anna", {"vx": Membership("vx")}, state=state)


def test_the_table_is_exactly_the_documented_transitions():
    assert {(s, e): t for s, e, t in LEGAL} == TRANSITIONS


@pytest.mark.parametrize(("state", "event", "target"), LEGAL)
def test_a_legal_transition_moves_the_agent_and_stamps_the_time(state, event, target):
    agent = agent_in(state)
    assert agent.apply(event, 42.0, reason="lunch") is target
    assert agent.state is target
    assert agent.state_since == 42.0
    assert agent.pause_reason == ("lunch" if target is S.PAUSED else None)


REFUSED = [(s, e) for s, e in itertools.product(S, E) if (s, e) not in TRANSITIONS]


@pytest.mark.parametrize(("state", "event"), REFUSED)
def test_an_illegal_transition_is_refused_naming_both_and_changes_nothing(state, event):
    agent = agent_in(state)
    agent.state_since = 7.0
    with pytest.raises(IllegalTransition) as info:
        agent.apply(event, 99.0)
    assert info.value.state is state and info.value.event is event
    assert state.value in str(info.value) and event.value in str(info.value)
    assert agent.state is state and agent.state_since == 7.0


def test_auto_pause_fires_after_the_configured_misses_in_a_row():
    agent = Agent("bo", {}, auto_pause_after=2)
    assert agent.record_miss() is False
    assert agent.record_miss() is True


def test_auto_pause_can_be_switched_off():
    agent = Agent("bo", {}, auto_pause_after=None)
    assert not any(agent.record_miss() for _ in range(10))


@pytest.mark.parametrize("level", [0, 10])
def test_skill_levels_outside_1_to_9_are_refused(level):
    with pytest.raises(ValueError, match="1-9"):
        Membership("vx", level)
