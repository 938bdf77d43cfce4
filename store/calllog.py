"""Events in, rows out: what the call log keeps of each domain event. No I/O, so the writer can
spool the rows while the database is away and tests can read them without one.

Each event is a row of `events`. A call's events fold into its `calls` row, written when it ends
(and, at a stop, for the calls still going: `answered` with no end yet, else `unfinished`; the
controller after a restart adopts them and writes their end over it). An agent's state changes
become spans (`agent_states`) from one change to the next. Every row has a `uid` (this writer's
run and a sequence number), so a batch written twice (a replay after a crash) is written once.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from controller import events as ev
from queues.kpi import CallRecord, Outcome

Row = dict[str, Any]


@dataclass
class Rows:
    """One batch for the database, by table, in the order the events came."""

    tables: dict[str, list[Row]] = field(default_factory=dict)

    def add(self, table: str, row: Row) -> None:
        self.tables.setdefault(table, []).append(row)

    def __len__(self) -> int:
        return sum(len(rows) for rows in self.tables.values())

    def extend(self, other: Rows) -> None:
        for table, rows in other.tables.items():
            self.tables.setdefault(table, []).extend(rows)


def event_data(event: ev.Event) -> dict[str, Any]:
    """An event's own fields (those with a column of their own left out), JSON-ready."""
    names = _DATA_FIELDS.get(type(event))
    if names is None:  # dataclasses.fields() for each event was half of the call log's fold
        names = _DATA_FIELDS[type(event)] = tuple(
            f.name for f in dataclasses.fields(event)
            if f.name not in ("at", "version", "call_id", "group"))
    return {name: _json(getattr(event, name)) for name in names}


_DATA_FIELDS: dict[type[ev.Event], tuple[str, ...]] = {}


def _json(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


@dataclass
class CallFold:
    """One call's `calls` row, built from its events in order."""

    call_id: str
    arrived: float | None = None
    number: str = ""
    caller: str = ""
    adopted: bool = False
    version: int = 0
    language: str | None = None
    path: tuple[str, ...] = ()
    keys: str | None = None
    ivr_outcome: str | None = None
    first_group: str | None = None
    group: str | None = None
    queued: float | None = None
    offers: int = 0
    answered: float | None = None
    agent: str | None = None
    waited: float | None = None
    threshold: float | None = None
    abandoned_in: str | None = None
    refused: str | None = None  # why
    overflow_rule: str | None = None
    at_partner: bool = False
    partner_status: str | None = None
    partner_answered: bool = False
    left_line: bool = False
    ended: float | None = None
    hung_up_by: str | None = None
    ended_phase: str | None = None
    callback: bool = False  # the caller asked to be called back (the request has its own row)
    transfer_answered: bool | None = None  # sent on to a number: reached it, or not (None:
    # no transfer, or its end unknown: the caller hung up while it rang or talked)

    def add(self, e: ev.CallEvent, at: float) -> None:
        self.version = e.version
        if e.group is not None:
            self.group = e.group
            self.first_group = self.first_group or e.group
        match e:
            case ev.CallArrived():
                self.arrived = at if self.arrived is None else self.arrived
                self.number, self.caller, self.adopted = e.number, e.caller, e.adopted
            case ev.IvrStep():
                self.path = e.path
            case ev.IvrDone():
                self.ivr_outcome, self.language, self.keys = e.outcome, e.language, e.keys
            case ev.Queued():
                self.queued = self.queued if self.queued is not None else e.arrival
                self.left_line = False
            case ev.Offered():
                self.offers += 1
            case ev.Connected():
                self.answered, self.agent = at, e.agent
                self.waited, self.threshold = e.waited, e.threshold
            case ev.Abandoned():
                self.abandoned_in, self.waited = e.phase, e.waited
            case ev.Overflowed():
                self.overflow_rule = e.rule
                if e.target == "partner":
                    self.at_partner = True
                    self.waited = at - self.queued if self.queued is not None else None
            case ev.PartnerResult():
                self.partner_status, self.partner_answered = e.status, e.answered
                self.at_partner = e.answered  # one the partner did not answer comes back
            case ev.Transferred():
                self.transfer_answered = e.answered
            case ev.LeftLine():
                self.left_line = True
                if self.queued is not None:
                    self.waited = at - self.queued
            case ev.Refused():
                self.refused = e.why
            case ev.CallEnded():
                self.ended, self.hung_up_by, self.ended_phase = at, e.hung_up_by, e.phase
                self.agent = self.agent or e.agent

    def outcome(self) -> tuple[Outcome, str | None]:
        """How it ended, and where it was abandoned."""
        if self.answered is not None:  # answered is answered, talking still or not
            return Outcome.ANSWERED, None
        if self.ended is None:
            return Outcome.UNFINISHED, None
        if self.partner_answered:
            return Outcome.PARTNER_ANSWERED, None
        if self.callback:
            return Outcome.CALLBACK, None
        if self.transfer_answered:
            return Outcome.TRANSFERRED, None
        if self.refused is not None:
            return (Outcome.CLOSED if "closed" in self.refused else Outcome.REFUSED), None
        if self.at_partner:
            return Outcome.OVERFLOWED, None
        if self.abandoned_in is not None:
            return Outcome.ABANDONED, self.abandoned_in
        if self.left_line:
            return Outcome.ABANDONED, "left_line"
        if self.queued is None:  # it never reached a line
            if self.transfer_answered is False:  # not reached: the message, or closed
                return (Outcome.CLOSED if self.ivr_outcome == "duty" else Outcome.REFUSED), None
            done = {"message": Outcome.RESOLVED_IN_IVR, "closed": Outcome.CLOSED,
                    "transfer": Outcome.TRANSFERRED,
                    "duty": Outcome.TRANSFERRED}.get(self.ivr_outcome or "")
            if done is not None:
                return done, None
            return Outcome.ABANDONED, "ivr"
        return Outcome.ABANDONED, self.ended_phase  # ended in line by vaxel (the fallback)

    def row(self) -> Row:
        outcome, abandoned_in = self.outcome()
        arrived = self.arrived if self.arrived is not None else (self.ended or 0.0)
        answered, ended = self.answered, self.ended
        return {
            "call_id": self.call_id, "arrived_at": arrived, "ended_at": ended,
            "number": self.number, "caller": self.caller, "pseudonymised": False,
            "language": self.language, "ivr_path": " > ".join(self.path) or None,
            "ivr_keys": self.keys, "ivr_outcome": self.ivr_outcome,
            "first_group": self.first_group, "group_id": self.group,
            "offered": self.queued is not None or (self.refused is not None and bool(self.group)),
            "queued_at": self.queued, "answered_at": answered, "agent": self.agent,
            "waited": self.waited,
            "talk": ended - answered if answered is not None and ended is not None else None,
            "threshold": self.threshold, "outcome": outcome.value, "abandoned_in": abandoned_in,
            "hung_up_by": self.hung_up_by, "ended_phase": self.ended_phase,
            "overflow_rule": self.overflow_rule, "partner_status": self.partner_status,
            "offers": self.offers, "version": self.version, "adopted": self.adopted,
        }


def record(row: Row, threshold: float) -> CallRecord:
    """A `calls` row as the KPIs count it; `threshold` where the row has none (a call never
    answered: the group's threshold now)."""
    return CallRecord(
        call_id=row["call_id"], arrived=row["arrived_at"], number=row["number"],
        outcome=Outcome(row["outcome"]), group=row["group_id"], first_group=row["first_group"],
        offered=bool(row["offered"]), queued=row["queued_at"], waited=row["waited"],
        threshold=row["threshold"] if row["threshold"] is not None else threshold,
        agent=row["agent"], talk=row["talk"], ivr_choice=row["ivr_keys"] or "",
        abandoned_in=row["abandoned_in"])


@dataclass
class CallbackFold:
    """A callback request's events folded into its `callbacks` row (its whole state now)."""

    call_id: str
    group: str = ""
    caller: str = ""
    language: str = "sv"
    source: str = ""
    requested_at: float = 0.0
    arrival: float = 0.0
    priority: int = 0
    phase: str = "pending"
    attempts: int = 0
    due: float | None = None
    agent: str | None = None
    citizen_leg: str | None = None
    reached_at: float | None = None
    ended_at: float | None = None
    outcome: str | None = None
    ended_by: str | None = None
    target: float = 0.0
    results: list[str] = field(default_factory=list)
    version: int = 0

    def add(self, e: ev.CallbackEvent, at: float, epoch: Callable[[float], float]) -> None:
        self.version, self.group = e.version, e.group
        match e:
            case ev.CallbackRequested():
                self.caller, self.language, self.source = e.caller, e.language, e.source
                self.requested_at = (epoch(e.requested_at) if e.requested_at is not None
                                     else at)
                self.arrival, self.priority = epoch(e.arrival), e.priority
                self.attempts, self.target = e.attempts, e.target
                self.phase = "pending"
            case ev.CallbackPrioritised():
                self.priority = e.priority
            case ev.CallbackOffered():
                self.phase, self.agent = "offered", e.agent
            case ev.CallbackOfferFailed():
                self.phase = "pending"
            case ev.CallbackDialling():
                self.phase, self.agent, self.citizen_leg = "dialling", e.agent, e.leg
                self.attempts = e.attempt
            case ev.CallbackAttemptFailed():
                self.phase, self.citizen_leg = "pending", None
                self.due = epoch(e.retry_at) if e.retry_at is not None else None
                self.results.append(e.why)
            case ev.CallbackConnected():
                self.phase, self.reached_at = "connected", at
                self.results.append("reached")
            case ev.CallbackEnded():
                self.phase, self.outcome, self.ended_at = "ended", e.outcome, at
                self.ended_by, self.attempts = e.by, e.attempts

    def row(self) -> Row:
        return {c: getattr(self, c) for c in (
            "call_id", "caller", "language", "source", "requested_at", "arrival", "priority",
            "phase", "attempts", "due", "agent", "citizen_leg", "reached_at", "ended_at",
            "outcome", "ended_by", "target", "version")} | {
            "group_id": self.group, "pseudonymised": False, "results": list(self.results)}


class CallLog:
    """The rows of each event, for one writer's run. `epoch` turns the controller's clock into
    seconds since the epoch (the demo's and the simulator's clocks are not the wall's)."""

    def __init__(self, run: str, epoch: Callable[[float], float] = float) -> None:
        self.run = run
        self._epoch = epoch
        self._seq = 0
        self._calls: dict[str, CallFold] = {}
        self._callbacks: dict[str, CallbackFold] = {}
        self._spans: dict[str, Row] = {}  # each agent's open span

    def _uid(self) -> str:
        self._seq += 1
        return f"{self.run}:{self._seq}"

    def add(self, event: ev.Event, out: Rows) -> None:
        at = self._epoch(event.at)
        call_id = getattr(event, "call_id", None)
        agent = getattr(event, "agent", None)
        out.add("events", {"uid": self._uid(), "at": at, "kind": type(event).__name__,
                           "version": event.version, "call_id": call_id,
                           "group_id": getattr(event, "group", None),
                           "agent": agent if isinstance(agent, str) else None,
                           "data": event_data(event)})
        if isinstance(event, ev.WrappedUp):
            out.add("wrap_ups", {"uid": self._uid(), "call_id": event.call_id,
                                 "agent": event.agent, "at": at, "reason": event.reason,
                                 "department": event.department, "resolved": event.resolved,
                                 "note": event.note})
        if isinstance(event, ev.CallEvent) and not isinstance(event, ev.WrappedUp):
            fold = self._calls.get(event.call_id)
            if fold is None:
                fold = self._calls[event.call_id] = CallFold(event.call_id)
            fold.add(event, at)
            if isinstance(event, ev.CallEnded):
                out.add("calls", fold.row())
                del self._calls[event.call_id]
        elif isinstance(event, ev.CallbackEvent):
            self._callback(event, at, out)
        elif isinstance(event, ev.AgentChanged):
            self._agent_changed(event, at, out)
        elif isinstance(event, ev.ConfigurationActivated):
            out.add("config_versions", {"uid": self._uid(), "number": event.version,
                                        "checksum": event.checksum, "activated_at": at,
                                        "changes": list(event.changes)})
        elif isinstance(event, ev.Audited):
            out.add("audit", {"uid": self._uid(), "at": at, "who": event.who,
                              "action": event.action, "detail": event.detail,
                              "source": event.source})

    def _callback(self, e: ev.CallbackEvent, at: float, out: Rows) -> None:
        if isinstance(e, ev.CallbackRequested):
            if (call := self._calls.get(e.call_id)) is not None:
                call.callback = True  # the caller's call ends with the request
            if e.merged_into is not None:
                return  # the earlier request of the same number and group stands
        fold = self._callbacks.get(e.call_id)
        if fold is None:
            if not isinstance(e, ev.CallbackRequested):
                return  # a request this run never saw begin: it is told again on restore
            fold = self._callbacks[e.call_id] = CallbackFold(e.call_id)
        fold.add(e, at, self._epoch)
        out.add("callbacks", fold.row())
        if isinstance(e, ev.CallbackEnded):
            del self._callbacks[e.call_id]

    def _agent_changed(self, e: ev.AgentChanged, at: float, out: Rows) -> None:
        span = self._spans.pop(e.agent, None)
        if span is not None:
            out.add("agent_states", {**span, "end_at": at})
        if e.state != "logged_out":
            self._spans[e.agent] = {"uid": self._uid(), "agent": e.agent, "state": e.state,
                                    "reason": e.reason, "cause": e.cause,
                                    "call_id": e.call_id, "start_at": at, "end_at": None}

    def open_rows(self) -> Rows:
        """The calls still going (no end yet) and the agents' open spans: written at a stop,
        overwritten by their end later."""
        out = Rows()
        for fold in self._calls.values():
            out.add("calls", fold.row())
        for span in self._spans.values():
            out.add("agent_states", dict(span))
        return out

    @property
    def open_calls(self) -> int:
        return len(self._calls)
