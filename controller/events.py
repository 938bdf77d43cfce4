"""Domain events: one frozen dataclass per thing that happened to a call, an agent or the centre.

The controller publishes them on the bus (controller/bus.py) as they happen, in order; the log
line, the counters, `/api/status`, the demo's summary (and the call log, MQTT, the webhook and the
web pages as they come) subscribe. The simulator publishes the same call and agent events in
virtual time. docs/events.md describes every event and its fields: keep the two in step.

Every event has `at` (the controller's clock: seconds since the epoch in production, virtual
seconds in the simulator) and `version` (the configuration version that decided it). A call's
events also carry its `call_id` and, once it is in a line, its `group`.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    at: float
    version: int


@dataclass(frozen=True, slots=True, kw_only=True)
class CallEvent(Event):
    call_id: str
    group: str | None = None


# ---- calls ---------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True, kw_only=True)
class CallArrived(CallEvent):
    number: str  # the municipal number dialled
    caller: str  # the caller's number as the network gave it ("" when withheld)
    adopted: bool = False  # taken over from a controller before this one (a restart)


@dataclass(frozen=True, slots=True, kw_only=True)
class IvrStep(CallEvent):
    menu: str
    step: str  # key, timeout, invalid, language, message, crisis, closed
    key: str | None
    path: tuple[str, ...]  # the menus from the entry's down to `menu`


@dataclass(frozen=True, slots=True, kw_only=True)
class IvrDone(CallEvent):
    outcome: str  # group, callback, transfer, duty, message, closed, overload
    target: str | None  # the group, number or prompt
    language: str
    keys: str  # the keys that chose it


@dataclass(frozen=True, slots=True, kw_only=True)
class Queued(CallEvent):
    position: int  # 1 = next in line
    arrival: float  # when the caller first joined a line (kept through moves and adoption)


@dataclass(frozen=True, slots=True, kw_only=True)
class Announced(CallEvent):
    position: int | None
    ewt_minutes: int | None


@dataclass(frozen=True, slots=True, kw_only=True)
class Offered(CallEvent):
    agent: str
    leg: str | None = None  # the agent leg's channel id (vaxel chose it: Asterisk's Uniqueid)


@dataclass(frozen=True, slots=True, kw_only=True)
class OfferFailed(CallEvent):
    agent: str
    why: str  # no answer, busy, ... (Asterisk's reason), or withdrawn (the PBX was away)
    missed: bool  # counted against the agent (withdrawn offers are not)


@dataclass(frozen=True, slots=True, kw_only=True)
class Connected(CallEvent):
    agent: str
    waited: float  # seconds in line, from the first arrival in a line
    threshold: float  # the group's service-level threshold then (seconds)


@dataclass(frozen=True, slots=True, kw_only=True)
class Abandoned(CallEvent):
    phase: str  # waiting, or offered (an agent's phone was ringing)
    waited: float


@dataclass(frozen=True, slots=True, kw_only=True)
class Overflowed(CallEvent):
    target: str  # the group moved to, or "partner"
    rule: str  # the overflow rule's reason, in words


@dataclass(frozen=True, slots=True, kw_only=True)
class PartnerResult(CallEvent):
    status: str  # Asterisk's DIALSTATUS: ANSWER, BUSY, NOANSWER, ..., or UNKNOWN
    answered: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class TransferStarted(CallEvent):
    target: str  # the number dialled, or the group's line
    kind: str  # ivr (a menu's transfer option), duty (a duty line), blind (the agent's)
    agent: str | None = None  # who sent the caller on
    department: str | None = None  # a directory entry's


@dataclass(frozen=True, slots=True, kw_only=True)
class Transferred(CallEvent):
    target: str
    kind: str
    status: str  # Asterisk's DIALSTATUS: ANSWER, BUSY, NOANSWER, CHANUNAVAIL, ...
    answered: bool  # else the caller went on (the option's on_failure, the closed message)


@dataclass(frozen=True, slots=True, kw_only=True)
class LeftLine(CallEvent):
    then: str  # the group they went on to, or the message they heard
    key: str = ""  # the key they pressed


@dataclass(frozen=True, slots=True, kw_only=True)
class Refused(CallEvent):
    why: str  # group closed, line full (N waiting), overload, ...
    prompt: str | None  # what they heard before the call ended


@dataclass(frozen=True, slots=True, kw_only=True)
class CallEnded(CallEvent):
    hung_up_by: str  # caller, agent, partner, vaxel
    phase: str  # the phase it ended in (queues/lifecycle.py)
    agent: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class WrappedUp(CallEvent):
    """The agent's account of a call they answered (the wrap-up form)."""

    agent: str
    reason: str  # rosa1 .. rosa4 (the ROSA contact groups), or forwarded
    resolved: bool  # at the first contact
    department: str | None = None  # where a forwarded call went
    note: str = ""  # short, free text: may name the citizen (docs/privacy.md)


# ---- callbacks -----------------------------------------------------------------------------
# A callback is a phase of the call it came from (same call_id), told by events of its own: the
# call's own events end with its CallEnded (its outcome: callback), and the request lives on.

@dataclass(frozen=True, slots=True, kw_only=True)
class CallbackEvent(Event):
    call_id: str
    group: str


@dataclass(frozen=True, slots=True, kw_only=True)
class CallbackRequested(CallbackEvent):
    caller: str  # the number to call back (checked, national form): personal data
    language: str  # the caller's: the citizen is greeted in it
    source: str  # ivr, waiting (the offer at an estimated wait), closing
    arrival: float  # the caller's place in line: kept while the request waits
    target: float  # the group's callback target (seconds): the callback service level
    merged_into: str | None = None  # an earlier request of the same number and group
    # read back from the call log after a restart: when it was made, the attempts so far
    restored: bool = False
    requested_at: float | None = None
    attempts: int = 0
    priority: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class CallbackPrioritised(CallbackEvent):
    """A supervisor put a request first in its group's line."""

    priority: int
    by: str


@dataclass(frozen=True, slots=True, kw_only=True)
class CallbackOffered(CallbackEvent):
    agent: str
    leg: str  # the agent's leg (our ChannelId): the agent is called first


@dataclass(frozen=True, slots=True, kw_only=True)
class CallbackOfferFailed(CallbackEvent):
    agent: str
    why: str
    missed: bool  # counted against the agent, as for a caller's offer


@dataclass(frozen=True, slots=True, kw_only=True)
class CallbackDialling(CallbackEvent):
    agent: str
    attempt: int  # 1 for the first call to the citizen
    leg: str  # the citizen's leg (our ChannelId)


@dataclass(frozen=True, slots=True, kw_only=True)
class CallbackAttemptFailed(CallbackEvent):
    agent: str | None
    attempt: int
    why: str  # busy, no answer, unreachable, ... (Asterisk's reason)
    retry_at: float | None  # the next attempt not before this; None: no more attempts


@dataclass(frozen=True, slots=True, kw_only=True)
class CallbackConnected(CallbackEvent):
    agent: str
    attempt: int
    waited: float  # seconds from the request to the citizen reached
    target: float  # the group's callback target then (seconds)


@dataclass(frozen=True, slots=True, kw_only=True)
class CallbackEnded(CallbackEvent):
    outcome: str  # reached, failed, expired, cancelled (queues/callback.py)
    attempts: int
    by: str  # who or what ended it: citizen, agent, vaxel, a supervisor's name, answered call


# ---- agents --------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True, kw_only=True)
class AgentChanged(Event):
    agent: str
    state: str  # agents/state.py: logged_out, ready, paused, ringing, busy, wrap_up
    reason: str | None  # the pause reason
    cause: str  # the agent event that changed it: login, offer, answer, miss, auto_pause, ...
    call_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class WrapUpStarted(Event):
    agent: str
    seconds: float


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentPhone(Event):
    agent: str
    available: bool  # its phone can ring (registered)
    state: str  # Asterisk's device state


# ---- the centre ----------------------------------------------------------------------------

@dataclass(frozen=True, slots=True, kw_only=True)
class ConfigurationActivated(Event):
    checksum: str
    changes: tuple[str, ...]  # in words, as `vaxel check` shows them


@dataclass(frozen=True, slots=True, kw_only=True)
class Audited(Event):
    """Somebody changed something (the audit log): who, what, from where."""

    who: str
    action: str  # reload, agent_login, agent_pause, wrap_up, ...
    detail: str
    source: str  # an address, cli, sighup


@dataclass(frozen=True, slots=True, kw_only=True)
class CrisisSwitched(Event):
    on: bool
    expires_in: float | None = None  # seconds: switched off by itself then


@dataclass(frozen=True, slots=True, kw_only=True)
class Alarm(Event):
    """The wallboard's alarm went on or off for a group (web/live.py)."""

    group: str
    kind: str  # goal (the day's share in 2 minutes below the target), wait, no_agents
    on: bool
    detail: str  # in words, as the wallboard shows it


@dataclass(frozen=True, slots=True, kw_only=True)
class OpeningChanged(Event):
    group: str
    open: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class OverloadChanged(Event):
    on: bool
    lag: float  # seconds Asterisk answers late


@dataclass(frozen=True, slots=True, kw_only=True)
class LinkUp(Event):
    channels: int  # channels Asterisk listed on connecting


@dataclass(frozen=True, slots=True, kw_only=True)
class LinkDown(Event):
    reason: str
