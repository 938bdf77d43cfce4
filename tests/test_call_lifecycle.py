import pytest

from queues.lifecycle import (
    TRANSITIONS,
    CallEvent,
    CallPhase,
    IllegalCallTransition,
    next_phase,
)

P, E = CallPhase, CallEvent

# The diagram of queues/lifecycle.py, edge by edge.
ROUTE = [
    (P.IVR, E.QUEUED, P.WAITING),
    (P.WAITING, E.OFFERED, P.OFFERED),
    (P.WAITING, E.MOVED, P.WAITING),
    (P.WAITING, E.TO_PARTNER, P.AT_PARTNER),
    (P.OFFERED, E.OFFER_ENDED, P.WAITING),
    (P.OFFERED, E.ANSWERED, P.CONNECTED),
    (P.AT_PARTNER, E.BACK, P.WAITING),
    (P.IVR, E.TRANSFER, P.TRANSFERRING),
    (P.WAITING, E.TRANSFER, P.TRANSFERRING),
    (P.CONNECTED, E.TRANSFER, P.TRANSFERRING),
    (P.CONNECTED, E.HOLD, P.HELD),
    (P.HELD, E.RESUMED, P.CONNECTED),
    (P.HELD, E.TRANSFER, P.TRANSFERRING),
    (P.HELD, E.RETURNED, P.IVR),
    (P.TRANSFERRING, E.RETURNED, P.IVR),
]
ENDS = [(p, e, t) for p in P if p is not P.ENDED
        for e, t in ((E.FINISH, P.FINISHING), (E.GONE, P.ENDED))]


def test_the_table_is_exactly_the_documented_transitions():
    assert {(p, e): t for p, e, t in ROUTE + ENDS} == TRANSITIONS


@pytest.mark.parametrize(("phase", "event"), [
    (p, e) for p in P for e in E if (p, e) not in TRANSITIONS])
def test_every_other_pair_is_refused_naming_the_call_phase_and_event(phase, event):
    with pytest.raises(IllegalCallTransition) as err:
        next_phase("vx-1", phase, event)
    assert (err.value.call_id, err.value.phase, err.value.event) == ("vx-1", phase, event)
    assert f"'{event.value}' is not allowed while '{phase.value}'" in str(err.value)


def test_which_phases_run_in_agi_and_which_wait_in_a_line():
    assert {p for p in P if p.in_agi} == {P.IVR, P.WAITING, P.OFFERED, P.HELD, P.FINISHING}
    assert {p for p in P if p.in_line} == {P.WAITING, P.OFFERED}
