"""The bus's in-process subscribers: the counters (the demo's summary, `vaxel status`) and the
call journal (each live call's events for the API, and one log line a call when it ends).

Each is a plain handler of one event at a time, attached to the bus (controller/bus.py), which
feeds them in batches after the call path's step: the call path never waits for them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from controller import events as ev
from queues.kpi import GOAL_SECONDS, SHORT_ABANDON_SECONDS, Figures, Tally, WrapUp
from store.calllog import CallFold, record

log = logging.getLogger("vaxel.calls")


class Counters:
    """Counts since start, from the events alone (a simulated day counts the same way), and
    the KPIs of the calls ended since start, folded as the call log folds them and counted by
    queues/kpi.py as the reports count them."""

    def __init__(self, goal_seconds: float = GOAL_SECONDS,
                 short_abandon: float = SHORT_ABANDON_SECONDS) -> None:
        self.counts = {"calls": 0, "answered": 0, "within_threshold": 0, "within_2_minutes": 0,
                       "abandoned": 0, "partner": 0, "refused": 0, "turned_away": 0,
                       "auto_paused": 0, "callbacks_requested": 0, "callbacks_reached": 0,
                       "callbacks_failed": 0}
        self.tally = Tally(short_abandon=short_abandon, goal_seconds=goal_seconds)
        self.today: dict[str, Tally] = {}  # per group, the calls ended since midnight
        self._folds: dict[str, CallFold] = {}
        self._handlers: dict[type[ev.Event], Callable[[Any], None]] = {
            ev.CallArrived: self._arrived, ev.Connected: self._connected,
            ev.Abandoned: self._abandoned, ev.PartnerResult: self._partner,
            ev.Refused: self._refused, ev.AgentChanged: self._agent,
            ev.WrappedUp: self._wrapped_up, ev.CallbackRequested: self._callback_requested,
            ev.CallbackEnded: self._callback_ended,
        }

    def __call__(self, event: ev.Event) -> None:
        if isinstance(event, ev.CallEvent) and not isinstance(event, ev.WrappedUp):
            self._fold(event)
        handler = self._handlers.get(type(event))
        if handler is not None:
            handler(event)

    def figures(self) -> Figures:
        """The KPIs of the calls ended since start (docs/kpi.md)."""
        return self.tally.figures()

    def _fold(self, e: ev.CallEvent) -> None:
        fold = self._folds.get(e.call_id)
        if fold is None:
            fold = self._folds[e.call_id] = CallFold(e.call_id)
        fold.add(e, e.at)
        if isinstance(e, ev.CallEnded):
            del self._folds[e.call_id]
            call = record(fold.row(), GOAL_SECONDS)
            self.tally.add_call(call)
            if call.group is not None:
                if call.group not in self.today:
                    self.today[call.group] = Tally(short_abandon=self.tally.short_abandon,
                                                   goal_seconds=self.tally.goal_seconds)
                self.today[call.group].add_call(call)

    def new_day(self) -> None:
        """Midnight on the centre's clock: the wallboard's "today" starts again."""
        self.today = {}

    def _wrapped_up(self, e: ev.WrappedUp) -> None:
        self.tally.add_wrap_up(WrapUp(e.call_id, e.agent, e.at, e.reason, e.resolved,
                                      e.department))

    def _callback_requested(self, e: ev.CallbackRequested) -> None:
        if (fold := self._folds.get(e.call_id)) is not None:
            fold.callback = True  # the caller's call ends with the request (as the call log)
        self.counts["callbacks_requested"] += not (e.restored or e.merged_into)

    def _callback_ended(self, e: ev.CallbackEnded) -> None:
        if e.outcome in ("reached", "failed"):
            self.counts[f"callbacks_{e.outcome}"] += 1

    def _arrived(self, e: ev.CallArrived) -> None:
        self.counts["calls"] += not e.adopted

    def _connected(self, e: ev.Connected) -> None:
        self.counts["answered"] += 1
        self.counts["within_threshold"] += e.waited <= e.threshold
        self.counts["within_2_minutes"] += e.waited <= GOAL_SECONDS

    def _abandoned(self, e: ev.Abandoned) -> None:
        self.counts["abandoned"] += 1

    def _partner(self, e: ev.PartnerResult) -> None:
        self.counts["partner"] += e.answered

    def _refused(self, e: ev.Refused) -> None:
        self.counts["turned_away" if e.why == "overload" else "refused"] += 1

    def _agent(self, e: ev.AgentChanged) -> None:
        self.counts["auto_paused"] += e.cause == "auto_pause"


def describe(e: ev.Event) -> str:
    """An event in a few words, for the log line and the API."""
    match e:
        case ev.CallArrived():
            return "adopted" if e.adopted else f"arrived on {e.number or '?'}"
        case ev.IvrStep():
            return f"{e.menu}: {e.step}{' ' + e.key if e.key else ''}"
        case ev.IvrDone():
            return f"ivr {e.outcome} {e.target} keys={e.keys}"
        case ev.Queued():
            return f"queued in {e.group} at {e.position}"
        case ev.Announced():
            return f"told position {e.position} wait {e.ewt_minutes} min"
        case ev.Offered():
            return f"offered to {e.agent}"
        case ev.OfferFailed():
            return f"{e.agent} did not answer ({e.why})"
        case ev.Connected():
            return f"connected to {e.agent} after {e.waited:.0f} s"
        case ev.Abandoned():
            return f"abandoned while {e.phase} after {e.waited:.0f} s"
        case ev.Overflowed():
            return f"to {e.target}: {e.rule}"
        case ev.PartnerResult():
            return f"partner {e.status}"
        case ev.LeftLine():
            return f"left the line for {e.then}"
        case ev.Refused():
            return f"refused: {e.why}"
        case ev.CallEnded():
            return f"ended by the {e.hung_up_by} while {e.phase}"
        case ev.CallbackRequested():  # no number: the log has no retention
            merged = f", merged into {e.merged_into}" if e.merged_into else ""
            return f"callback booked ({e.source}){merged}"
        case ev.CallbackEnded():
            return f"callback {e.outcome}"
    return type(e).__name__


class CallJournal:
    """Each live call's events, in order; when a call ends, one INFO line says its story (the
    only line a call writes at INFO: five a call were a third of the controller's CPU)."""

    def __init__(self, keep: int = 200) -> None:
        self.calls: dict[str, list[ev.CallEvent | ev.CallbackEvent]] = {}
        # the events of calls whose callback request is pending: the agent called back sees
        # the caller's way through the menus
        self.callbacks: dict[str, list[ev.CallEvent | ev.CallbackEvent]] = {}
        self._keep = keep  # events kept a call: a caller on hold for hours stays bounded

    def events_of(self, call_id: str) -> list[ev.CallEvent | ev.CallbackEvent]:
        return self.calls.get(call_id) or self.callbacks.get(call_id, [])

    def __call__(self, event: ev.Event) -> None:
        if isinstance(event, ev.CallbackRequested) and event.call_id in self.calls:
            self.calls[event.call_id].append(event)  # the call's end says it (the request
            return  # lives on: its own events are not the call's journal)
        if isinstance(event, ev.CallbackEnded):
            self.callbacks.pop(event.call_id, None)
            if event.call_id in self.calls:  # done before its call's goodbye was
                self.calls[event.call_id].append(event)
            return
        if not isinstance(event, ev.CallEvent):
            return
        if log.isEnabledFor(logging.DEBUG):  # `vaxel run --verbose`: every event as it comes
            log.debug("call %s %s", event.call_id, describe(event))
        journal = self.calls.setdefault(event.call_id, [])
        if len(journal) < self._keep:
            journal.append(event)
        if isinstance(event, ev.CallEnded):
            del self.calls[event.call_id]
            kinds = {type(e) for e in journal if not isinstance(e, ev.CallbackRequested)
                     or e.merged_into is None}
            if ev.CallbackRequested in kinds and ev.CallbackEnded not in kinds:
                self.callbacks[event.call_id] = journal
            if log.isEnabledFor(logging.INFO):  # no caller's number: the log has no retention
                log.info("call %s: %s", event.call_id, "; ".join(
                    describe(e) for e in journal if not isinstance(e, ev.IvrStep | ev.Announced)))

    def story(self, call_id: str) -> list[str]:
        return [describe(e) for e in self.calls.get(call_id, ())]


class Changes:
    """Something happened: the live pages wake (web/live.py) and look again. A counter and an
    asyncio.Event a batch, nothing kept: a page reads the state itself, so it is right after
    any reconnect."""

    def __init__(self) -> None:
        self.serial = 0
        self._changed = asyncio.Event()

    def __call__(self, event: ev.Event) -> None:
        self.serial += 1
        self._changed.set()

    async def wait(self, serial: int, timeout: float) -> int:
        """The serial once it differs from `serial`, or after `timeout` seconds."""
        if self.serial == serial:
            if self._changed.is_set():
                self._changed = asyncio.Event()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), timeout)
        return self.serial
