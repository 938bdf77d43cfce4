"""The call's lifecycle: one table, as agents/state.py has for agents.

Theory of operation: a call is in exactly one phase. Every change is a named event applied to the
current phase through TRANSITIONS; a pair that is not in the table is refused with
IllegalCallTransition, naming the call, the phase and the event, and changes nothing. The router
moves its calls (waiting, offered, connected, at the partner) through this table, and the
controller moves the whole call (from the menus to its end) through it too, so the two can never
disagree about what a phase means.

    IVR --queued--> WAITING --offered--> OFFERED --answered--> CONNECTED
    OFFERED --offer_ended--> WAITING            (not answered, or withdrawn: back in place)
    WAITING --moved--> WAITING                  (an overflow rule or the leave key: another line)
    WAITING --to_partner--> AT_PARTNER --back--> WAITING   (the partner did not answer)
    CONNECTED --hold--> HELD --resumed--> CONNECTED   (the agent consults a number: an
                                                 attended transfer, taken back or not reached)
    HELD --transfer--> TRANSFERRING; HELD --returned--> IVR (completed; the agent gone)
    IVR, WAITING or CONNECTED --transfer--> TRANSFERRING --returned--> IVR
                                                (sent on to a number: the IVR's transfer option,
                                                 a duty line, the agent's transfer; back in AGI
                                                 after its Dial, to be hung up or, if it
                                                 failed, sent on again: back to the agent)
    any phase but ENDED --finish--> FINISHING   (being hung up: a message played, the agent or
                                                 the partner done, the caller hung up in AGI)
    any phase but ENDED --gone--> ENDED         (its channel hung up: Asterisk's Hangup)

A call on its way out (FINISHING) takes nothing but its end: an offer that ends or an answer in
the last moment is the agent's affair, and the caller's Hangup closes the call. A callback
request lives on after its caller's call ends (controller/callbacks.py).
"""

from __future__ import annotations

import enum


class CallPhase(enum.Enum):
    IVR = "ivr"  # in the menus
    WAITING = "waiting"  # in a group's line, music and announcements
    OFFERED = "offered"  # an agent's phone rings for it; music plays on
    CONNECTED = "connected"  # bridged with an agent: out of AGI, no lease
    AT_PARTNER = "at_partner"  # redirected to the overflow partner: out of AGI
    TRANSFERRING = "transferring"  # redirected to a transfer's Dial: out of AGI
    HELD = "held"  # in AGI with music while their agent consults a number (attended)
    FINISHING = "finishing"  # being hung up; its Hangup ends it
    ENDED = "ended"

    # members are singletons: identity's C hash, not Enum's hash of the name in Python (the
    # table is looked up on every change of every call)
    __hash__ = object.__hash__

    @property
    def in_agi(self) -> bool:
        """The caller's channel runs vaxel's AsyncAGI: it has a lease to renew, and something
        of vaxel's must be playing to it."""
        return self in _IN_AGI

    @property
    def in_line(self) -> bool:
        """Waiting in a group's line, or ringing an agent from it: the hold music's phases."""
        return self is CallPhase.WAITING or self is CallPhase.OFFERED


_IN_AGI = frozenset({CallPhase.IVR, CallPhase.WAITING, CallPhase.OFFERED, CallPhase.HELD,
                     CallPhase.FINISHING})


class CallEvent(enum.Enum):
    QUEUED = "queued"
    OFFERED = "offered"
    OFFER_ENDED = "offer_ended"
    ANSWERED = "answered"
    MOVED = "moved"
    TO_PARTNER = "to_partner"
    BACK = "back"
    TRANSFER = "transfer"
    RETURNED = "returned"
    HOLD = "hold"
    RESUMED = "resumed"
    FINISH = "finish"
    GONE = "gone"

    __hash__ = object.__hash__


P, E = CallPhase, CallEvent

TRANSITIONS: dict[tuple[CallPhase, CallEvent], CallPhase] = {
    (P.IVR, E.QUEUED): P.WAITING,
    (P.WAITING, E.OFFERED): P.OFFERED,
    (P.WAITING, E.MOVED): P.WAITING,
    (P.WAITING, E.TO_PARTNER): P.AT_PARTNER,
    (P.OFFERED, E.OFFER_ENDED): P.WAITING,
    (P.OFFERED, E.ANSWERED): P.CONNECTED,
    (P.AT_PARTNER, E.BACK): P.WAITING,
    (P.IVR, E.TRANSFER): P.TRANSFERRING,
    (P.WAITING, E.TRANSFER): P.TRANSFERRING,
    (P.CONNECTED, E.TRANSFER): P.TRANSFERRING,
    (P.CONNECTED, E.HOLD): P.HELD,
    (P.HELD, E.RESUMED): P.CONNECTED,
    (P.HELD, E.TRANSFER): P.TRANSFERRING,
    (P.HELD, E.RETURNED): P.IVR,
    (P.TRANSFERRING, E.RETURNED): P.IVR,
    **{(p, E.FINISH): P.FINISHING for p in P if p is not P.ENDED},
    **{(p, E.GONE): P.ENDED for p in P if p is not P.ENDED},
}


class IllegalCallTransition(Exception):
    """The shell or the router asked for a change the lifecycle does not allow (our fault,
    never the caller's): the call is left as it was."""

    def __init__(self, call_id: str, phase: CallPhase, event: CallEvent) -> None:
        super().__init__(f"call {call_id!r}: {event.value!r} is not allowed while {phase.value!r}")
        self.call_id = call_id
        self.phase = phase
        self.event = event


def next_phase(call_id: str, phase: CallPhase, event: CallEvent) -> CallPhase:
    try:
        return TRANSITIONS[phase, event]
    except KeyError:
        raise IllegalCallTransition(call_id, phase, event) from None
