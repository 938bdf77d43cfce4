"""The controller: the routing core, the IVR and the telephony port wired into a contact centre.

Theory of operation. One task reads the port's facts (telephony/port.py: typed, the only code that
knows AMI) and routes them: a caller who enters gets a CallState and a task (lease, IVR, waiting);
the Router's commands are carried out through the port (an agent leg is an Originate of the
agent's own device with a ChannelId chosen here, so it is never sent twice and can be looked up
after a reconnect); the facts that come back (a leg failed, a caller bridged, a channel gone) go
to the Router. Each call moves through the lifecycle table of queues/lifecycle.py; every thing
that happens is published as one domain event (controller/events.py) on the bus, which the log
line, the counters, the API and the rest read. Timers (wrap-up ends, skill-widening steps,
opening hours) are asyncio timers that re-check when they fire. The Router holds no clock:
`now()` is read here and passed in.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import functools
import gc
import itertools
import logging
import time
from collections.abc import Callable, Coroutine, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from agents.agent import Agent, Membership
from agents.state import AgentState
from config.versions import Version
from controller import events as ev
from controller.bus import Bus
from controller.callbacks import LEG_PREFIX, CallbackDesk
from controller.transfers import Consult, Consults
from ivr import phrases
from ivr.callback import ask_number
from ivr.hours import eves, public_holidays
from ivr.interpreter import Outcome, Step, run_ivr, sound
from ivr.model import Action as IvrAction
from overflow.partner import PartnerCaps
from queues.announce import AnnounceRules, Told, decide
from queues.commands import (
    AgentAutoPaused,
    AgentChanged,
    CallMoved,
    CancelOffer,
    OfferCall,
    Output,
    Refusal,
    RefuseCall,
    SendToPartner,
    StartWrapUp,
)
from queues.group import Opening
from queues.kpi import WRAP_UP_REASONS
from queues.lifecycle import CallEvent, CallPhase, next_phase
from queues.router import Router, UnknownEntity
from queues.transfer import HourlyCap, Listed, Target, TransferRefused, resolve
from telephony.ami_link import AmiLink
from telephony.callio import AgiCallIO, CallerGone, LinkFault
from telephony.dialplan import DialplanSettings
from telephony.errors import ActionTimeout, ConnectionLost, NotConnected, TelephonyError
from telephony.port import (
    PBX_FAULTS,
    AgentHeld,
    BackFromPartner,
    BackFromTransfer,
    CallerBridged,
    CallerEntered,
    CallerHeld,
    ChannelGone,
    ConsultHeld,
    Fact,
    LegFailed,
    LegInAgi,
    LinkLost,
    LinkRestored,
    ListedChannel,
    PhoneState,
    TelephonyPort,
)

log = logging.getLogger("vaxel.calls")

HOLD_SLICE = 20.0  # seconds of music between looks at the line
HOURS_RECHECK = 60.0  # seconds: the opening-hours timer at the latest when nothing changed
PBX_FAULT_PAUSE = 2.0  # seconds without offers after the PBX failed one itself (congestion)
CALLBACK_KEY_TIMEOUT = 6.0  # seconds to press 1 for a callback at closing time


@dataclass(frozen=True, slots=True)
class TransferPlan:
    """A caller sent on: the number (or group), how (ivr, duty, blind: the agent's), and
    where they go if it fails: `fallback` (a group, a callback, a message), or back to the
    agent who transferred them (`back_to`, in `group`)."""

    target: str
    kind: str
    fallback: IvrAction | None = None
    back_to: str | None = None
    group: str | None = None


@dataclass(eq=False)
class CallState:
    call_id: str
    channel: str
    caller: str
    version: Version  # the configuration it started on: it finishes on it
    io: AgiCallIO
    number: str = ""  # the municipal number called
    phase: CallPhase = CallPhase.IVR
    outcome: Outcome | None = None
    group: str | None = None
    arrival: float | None = None  # first joined a line (kept through moves, partner, restarts)
    agent: str | None = None  # offered to, or talking with
    agent_leg: str | None = None  # the ChannelId of the agent leg rung for this caller
    task: asyncio.Task[None] | None = None
    hold: asyncio.Task[None] | None = None
    told: Told = field(default_factory=Told)  # announcements so far
    ended_by: str | None = None  # who began its end: caller, agent, partner, vaxel
    ended_in: CallPhase | None = None  # the phase it was in then
    cut_short: bool = False  # a link fault ended its task: taken up again after the resync
    booked: bool = False  # the caller booked a callback: the request lives on without them
    transfer: TransferPlan | None = None  # sent on: where, and where to if it fails
    consult: Consult | None = None  # an attended transfer under way (controller/transfers.py)
    failures: int = 0  # unexpected errors in its tasks (a bug): sent on, never left in silence

    @property
    def language(self) -> str:
        return self.outcome.language if self.outcome is not None else "sv"


class Calls:
    """The calls vaxel serves, found by call id, by the caller's channel, and by agent leg."""

    def __init__(self) -> None:
        self._by_id: dict[str, CallState] = {}
        self._by_channel: dict[str, CallState] = {}
        self._by_leg: dict[str, CallState] = {}

    def __len__(self) -> int:
        return len(self._by_id)

    def __iter__(self) -> Iterator[CallState]:
        """A snapshot: the loop may end calls as it goes."""
        return iter(list(self._by_id.values()))

    def add(self, state: CallState) -> None:
        self._by_id[state.call_id] = state
        self._by_channel[state.channel] = state

    def remove(self, state: CallState) -> None:
        """The call is over; a leg of it still ringing or talking stays findable (its end is
        the agent's)."""
        self._by_id.pop(state.call_id, None)
        self._by_channel.pop(state.channel, None)

    def get(self, call_id: str) -> CallState | None:
        return self._by_id.get(call_id)

    def on_channel(self, channel: str) -> CallState | None:
        return self._by_channel.get(channel)

    def ring(self, state: CallState, leg: str) -> None:
        self._by_leg[leg] = state
        state.agent_leg = leg

    def of_leg(self, leg: str) -> CallState | None:
        return self._by_leg.get(leg)

    def leg_done(self, leg: str) -> None:
        self._by_leg.pop(leg, None)

    def legs(self) -> list[tuple[str, CallState]]:
        return list(self._by_leg.items())


class Controller:
    def __init__(self, version: Version, settings: DialplanSettings, link: AmiLink, *,
                 bus: Bus | None = None,
                 clock: Callable[[], float] | None = None,
                 wallclock: Callable[[], dt.datetime] | None = None,
                 time_scale: float = 1.0,
                 prompt_exists: Callable[[str], bool] | None = None) -> None:
        self.version = version
        self.settings = settings
        self.link = link
        self.port = TelephonyPort(link, prompt_exists)
        self.bus = bus or Bus()
        self.time_scale = time_scale  # < 1 runs the controller's own timers faster (tests)
        # wall-clock based, so arrival times written on channels mean the same to a restarted
        # controller
        self._clock = clock or time.time
        # the contact centre's wall clock (its time zone, not the server's): hours, holidays
        self.wallclock = wallclock or (lambda: self.version.config.local_time(
            dt.datetime.now(dt.UTC)))
        config = version.config
        self.router = Router([g.core(gid) for gid, g in config.groups.items()],
                             _agents(version, {}), rules=_rules(version),
                             partner=PartnerCaps(config.partner.max_concurrent,
                                                 config.partner.max_per_hour))
        self.calls = Calls()
        self.devices = {a.id: a.device for a in settings.agents}  # agent id -> PJSIP/anna
        self.agent_of_device = {device: agent for agent, device in self.devices.items()}
        self._ids = itertools.count(1)
        # agent leg ChannelIds stay unique across restarts (a leg of the last run may still live)
        self._leg_prefix = f"{LEG_PREFIX}{int(time.time() * 1000):x}-"
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self.orphans = 0  # callers found served by nothing (a bug), taken up again
        self._wrapping: dict[str, str | None] = {}  # agent -> the call of their wrap-up
        self.manual: dict[str, bool] = {}  # groups a supervisor opened (True) or closed
        self.chosen: dict[str, frozenset[str]] = {}  # the groups an agent chose to serve
        self.crisis_until: float | None = None  # the crisis switch's own expiry (its clock)
        self.overloaded = False  # Asterisk falls behind: new callers get overload.prompt
        self._overload_since = 0.0
        self.desk = CallbackDesk(self)  # callback requests: in line in the caller's place
        self._transfer_cap = HourlyCap(config.transfers.max_per_hour)
        self.consults = Consults(self)  # attended transfers
        self.forwarded: dict[str, tuple[str, str]] = {}  # agent -> (call, sent on to whom)

    # ---- lifecycle ---------------------------------------------------------------------------

    def now(self) -> float:
        return self._clock() / self.time_scale

    def start(self) -> None:
        # Swedish holidays take ~70 ms to compute: this year's and next year's now, not inside
        # the first call of the day
        year = self.wallclock().year
        for y in (year, year + 1):
            public_holidays(y)
            eves(y)
        self._follow_hours()
        # What is loaded before the first call (configuration, holidays, prompts) lives as long
        # as the process: moved out of the collector's reach, a full collection no longer walks
        # it (about 30 ms for 130k objects: an event-loop stall).
        gc.freeze()
        self.port.listen(self._on_fact)
        self._spawn(self._keep_leases())

    async def stop(self) -> None:
        self.port.listen(None)
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        for timer in self._timers.values():
            timer.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def in_menus(self) -> int:
        return sum(1 for s in self.calls if s.phase is CallPhase.IVR)

    def new_leg(self) -> str:
        """A ChannelId for a leg vaxel originates (an agent's, a citizen called back)."""
        return f"{self._leg_prefix}{next(self._ids)}"

    def _publish(self, event: ev.Event) -> None:
        self.bus.publish(event)

    def _call_event(self, cls: type[ev.CallEvent], state: CallState, **fields: Any) -> None:
        self.bus.publish(cls(at=self.now(), version=state.version.number,
                             call_id=state.call_id, group=state.group, **fields))

    # ---- agents and switches (the API the web panel and `vaxel agent` use) --------------------

    def agent_login(self, agent_id: str) -> None:
        self._apply(self.router.agent_logged_in(agent_id, self.now()))

    def agent_pause(self, agent_id: str, reason: str) -> None:
        self._apply(self.router.agent_paused(agent_id, reason, self.now()))

    def agent_ready(self, agent_id: str) -> None:
        self._apply(self.router.agent_unpaused(agent_id, self.now()))

    def agent_logout(self, agent_id: str) -> None:
        self._apply(self.router.agent_logged_out(agent_id, self.now()))

    def wrap_up(self, agent_id: str, call_id: str, reason: str, resolved: bool,
                department: str | None = None, note: str = "") -> bool:
        """The agent's wrap-up form for a call (published as WrappedUp, into the call log).
        Ends the wrap-up time early when it is this call's: True then. Raises UnknownEntity
        for an agent vaxel does not know, ValueError for a reason not in WRAP_UP_REASONS or a
        forward without its department."""
        agent = self.router.agents.get(agent_id)
        if agent is None:
            raise UnknownEntity(f"unknown agent {agent_id!r}")
        if reason not in WRAP_UP_REASONS:
            raise ValueError(f"reason {reason!r}: one of {', '.join(WRAP_UP_REASONS)}")
        if reason == "forwarded" and not department:
            raise ValueError("a call forwarded to the department: say which department")
        self._publish(ev.WrappedUp(at=self.now(), version=self.version.number,
                                   call_id=call_id, agent=agent_id, reason=reason,
                                   resolved=resolved, department=department, note=note))
        if agent.state is AgentState.WRAP_UP and self._wrapping.get(agent_id) == call_id:
            self._apply(self.router.wrap_up_done(agent_id, self.now()))
            return True
        return False

    def wrapping(self, agent_id: str) -> str | None:
        """The call whose wrap-up an agent is in (None when not in wrap-up)."""
        return self._wrapping.get(agent_id)

    def audit(self, who: str, action: str, detail: str, source: str) -> None:
        """Somebody changed something: a line of the audit log (the call log's `audit`)."""
        self._publish(ev.Audited(at=self.now(), version=self.version.number, who=who,
                                 action=action, detail=detail, source=source))

    def set_crisis(self, on: bool, for_seconds: float | None = None) -> None:
        """The crisis switch: groups' crisis overflow rules apply at once, and callers who
        arrive while it is on hear the crisis message (crisis.prompt) before the menu. With
        `for_seconds` it switches itself off again then (a supervisor's expiry)."""
        self._publish(ev.CrisisSwitched(at=self.now(), version=self.version.number, on=on,
                                        expires_in=for_seconds if on else None))
        self._apply(self.router.set_crisis(on, self.now()))
        old = self._timers.pop("crisis", None)
        if old is not None:
            old.cancel()
        self.crisis_until = self.now() + for_seconds if on and for_seconds else None
        if on and for_seconds is not None:
            self._timer("crisis", for_seconds, lambda: self.set_crisis(False))

    def set_opening(self, group: str, mode: str) -> None:
        """A supervisor's manual opening of one group: "open" or "closed" whatever its hours
        (its callers then as at closing time), or "auto" to follow its hours again. Raises
        UnknownEntity for a group the configuration does not have."""
        if group not in self.version.config.groups:
            raise UnknownEntity(f"unknown group {group!r}")
        if mode == "auto":
            self.manual.pop(group, None)
        elif mode in ("open", "closed"):
            self.manual[group] = mode == "open"
        else:
            raise ValueError(f"opening {mode!r}: open, closed or auto")
        self._follow_hours()

    def set_overflow(self, group: str, on: bool) -> None:
        """A supervisor's manual overflow switch for one group: its `when: manual` overflow
        rules apply while it is on. Raises UnknownEntity for an unknown group, ValueError for a
        group with no such rule (the switch would do nothing)."""
        config = self.version.config.groups.get(group)
        if config is None:
            raise UnknownEntity(f"unknown group {group!r}")
        if on and not any(rule.when == "manual" for rule in config.overflow):
            raise ValueError(f"group {group!r} has no manual overflow rule: add one to its "
                             "overflow: ({when: manual, to: partner})")
        self._apply(self.router.set_manual_overflow(group, on, self.now()))

    def overflowing(self, group: str) -> bool:
        """The group's manual overflow switch is on."""
        return self.router.manual_overflow(group)

    def activate(self, version: Version, settings: DialplanSettings,
                 changes: tuple[str, ...] = ()) -> None:
        """A new configuration, live: callers keep their place, agents stay logged in, calls
        in progress finish on the version they started on; new callers take this one."""
        self.version, self.settings = version, settings
        self._transfer_cap.limit = version.config.transfers.max_per_hour
        self.devices = {a.id: a.device for a in settings.agents}
        self.agent_of_device = {device: agent for agent, device in self.devices.items()}
        self._publish(ev.ConfigurationActivated(at=self.now(), version=version.number,
                                                checksum=version.checksum, changes=changes))
        self._reconfigure()
        self._follow_hours()

    def _reconfigure(self) -> None:
        config = self.version.config
        self._apply(self.router.reconfigure(
            [g.core(gid) for gid, g in config.groups.items()], _agents(self.version, self.chosen),
            rules=_rules(self.version),
            partner=PartnerCaps(config.partner.max_concurrent, config.partner.max_per_hour),
            now=self.now()))

    def choose_groups(self, agent_id: str, groups: Iterable[str]) -> None:
        """The groups an agent serves now, of those the configuration gives them (all by
        default): the agent panel's choice, kept across a reload. Raises UnknownEntity,
        ValueError (no group, or one that is not theirs)."""
        known = self.version.config.agents.get(agent_id)
        if known is None:
            raise UnknownEntity(f"unknown agent {agent_id!r}")
        wanted = frozenset(groups)
        if not wanted:
            raise ValueError("choose at least one group")
        if not wanted <= set(known.groups):
            raise ValueError(f"{agent_id} is not an agent of "
                             f"{', '.join(sorted(wanted - set(known.groups)))}; their groups: "
                             f"{', '.join(known.groups)}")
        if wanted == set(known.groups):
            self.chosen.pop(agent_id, None)
        else:
            self.chosen[agent_id] = wanted
        self._reconfigure()

    # ---- opening hours -----------------------------------------------------------------------

    def opening(self) -> dict[str, bool]:
        """Each group open or closed now by its hours (always open without hours), or as a
        supervisor set it (`manual`)."""
        config, moment = self.version.config, self.wallclock()
        return {gid: self.manual[gid] if gid in self.manual
                else g.hours is None or g.hours not in config.hours
                or config.hours[g.hours].schedule().is_open(moment)
                for gid, g in config.groups.items()}

    def _follow_hours(self) -> None:
        """Sets each group open or closed by its hours, and the timer for the next change: a
        `closed` overflow rule fires at closing time, and callers still in a closing line are
        served while its agents can answer, then hear the closing message."""
        now = self.now()
        for gid, is_open in self.opening().items():
            if gid not in self.router.group_ids():
                continue
            opening = Opening.OPEN if is_open else Opening.CLOSED
            if self.router.opening(gid) is not opening:
                self._publish(ev.OpeningChanged(at=now, version=self.version.number, group=gid,
                                                open=is_open))
                if not is_open:  # callback requests leave the line first: nobody is there
                    self.desk.closing(gid)
                self._apply(self.router.set_opening(gid, opening, now))
                if is_open:
                    self.desk.opening(gid)
        config, moment = self.version.config, self.wallclock()
        changes = [config.hours[g.hours].schedule().next_change(moment)
                   for g in config.groups.values() if g.hours in config.hours]
        upcoming = [c for c in changes if c is not None]
        wait = HOURS_RECHECK
        if upcoming:
            wait = min(max((min(upcoming) - moment).total_seconds(), 0.001), 24 * 3600)
        self._timer("hours", wait, self._follow_hours)

    # ---- facts from Asterisk -----------------------------------------------------------------

    def _on_fact(self, fact: Fact) -> None:
        try:
            self._fact(fact)
        except Exception:  # one bad fact must not stop the contact centre
            log.exception("handling %r failed", fact)

    def _fact(self, fact: Fact) -> None:
        match fact:
            case ChannelGone():  # the most frequent first
                if (state := self.calls.on_channel(fact.channel)) is not None:
                    self._caller_gone(state)
                elif self.calls.of_leg(fact.uniqueid) is not None:
                    self._leg_ended(fact.uniqueid, fact.cause)
                elif self.consults.owns(fact.uniqueid):
                    self.consults.leg_ended(fact.uniqueid, fact.cause or "hung up")
                else:
                    self.desk.leg_ended(fact.uniqueid, fact.cause or "hung up")
            case PhoneState():
                self._phone(fact)
            case CallerEntered():
                if self.calls.on_channel(fact.channel) is None:
                    self._new_call(fact.channel, fact.call_id, fact.caller, fact.number)
            case CallerBridged():
                if (state := self.calls.on_channel(fact.channel)) is not None:
                    self._bridged(state)
                elif (state := self.calls.of_leg(fact.uniqueid)) is not None:
                    self.consults.agent_bridged(state)  # the agent with whom they consult
                else:
                    self.desk.bridged(fact.uniqueid)
            case LegFailed():
                if self.calls.of_leg(fact.leg) is not None:
                    self._leg_failed(fact.leg, fact.reason)
                elif self.consults.owns(fact.leg):
                    self.consults.leg_ended(fact.leg, fact.reason)
                else:
                    self.desk.leg_ended(fact.leg, fact.reason)
            case LegInAgi():
                self.desk.agent_answered(fact.channel, fact.leg)
            case BackFromPartner():
                if (state := self.calls.on_channel(fact.channel)) is not None:
                    self._call_task(state, self._back_from_partner(state))
            case BackFromTransfer():
                if (state := self.calls.on_channel(fact.channel)) is not None:
                    self._call_task(state, self._back_from_transfer(state))
            case CallerHeld():
                if (state := self.calls.on_channel(fact.channel)) is None:
                    pass
                elif state.phase is CallPhase.HELD:
                    self.consults.caller_held(state)
                else:
                    self._held(state)
            case ConsultHeld():
                self.consults.consult_held(fact.leg, fact.channel)
            case AgentHeld():
                if (state := self.calls.of_leg(fact.leg)) is not None:
                    self.consults.agent_held(state, fact.channel)
                elif fact.leg.startswith(LEG_PREFIX):  # an agent's leg of nothing of ours now
                    self._spawn(self._cancel_leg(fact.leg))
            case LinkRestored():
                log.info("AMI link up (%d channels listed)", fact.channels)
                self._publish(ev.LinkUp(at=self.now(), version=self.version.number,
                                        channels=fact.channels))
                self._spawn(self._list_phones())
                self._spawn(self._resync())
            case LinkLost():
                log.warning("AMI link down: %s; no offers until it is back", fact.reason)
                self._publish(ev.LinkDown(at=self.now(), version=self.version.number,
                                          reason=fact.reason))
                self._apply(self.router.set_offering(False, self.now()))

    def _phone(self, fact: PhoneState) -> None:
        """An agent's phone registered or went away: a phone that cannot ring is offered
        nothing (FACTS.md: an Originate to it fails at once, and would count as a miss)."""
        agent = self.agent_of_device.get(fact.device)
        if agent is None or agent not in self.router.agents:
            return
        if fact.available != self.router.agents[agent].device_available:
            log.info("agent %s: phone %s %s", agent, fact.device, fact.state)
            self._publish(ev.AgentPhone(at=self.now(), version=self.version.number,
                                        agent=agent, available=fact.available,
                                        state=fact.state))
        self._apply(self.router.agent_device(agent, fact.available, self.now()))

    async def _list_phones(self) -> None:
        try:
            phones = await self.port.phones()
        except TelephonyError as err:
            log.warning("listing the agents' phones failed: %s", err)
            return
        for phone in phones:
            self._phone(phone)

    # ---- a call's tasks ----------------------------------------------------------------------

    def _call_task(self, state: CallState, coro: Coroutine[Any, Any, None], *,
                   hold: bool = False) -> None:
        """Runs one of a call's tasks. The caller hanging up and the link failing are handled
        here once for all of them; any other exception is a bug, logged with the call id, and
        the caller is sent on (back to their line once, else the fallback message), never left
        in silence."""
        task = self._spawn(self._guarded(state, coro))
        if hold:
            state.hold = task
        else:
            state.task = task

    async def _guarded(self, state: CallState, coro: Coroutine[Any, Any, None]) -> None:
        try:
            await coro
        except CallerGone:
            if state.phase.in_agi:  # else it left AGI on purpose (partner, bridge)
                self._finish(state, "caller")
        except LinkFault as err:
            self._cut_short(state, err)
        except Exception:
            state.failures += 1
            log.exception("call %s failed in phase %s; the caller is sent on", state.call_id,
                          state.phase.value)
            if state.phase.in_line and state.failures == 1:
                self._call_task(state, self._hold(state), hold=True)
            elif state.phase.in_agi:
                self._call_task(state, self._goodbye(state, self.settings.fallback.message))

    def _advance(self, state: CallState, event: CallEvent) -> None:
        state.phase = next_phase(state.call_id, state.phase, event)

    def _finish(self, state: CallState, by: str) -> None:
        """The call's end begins (its Hangup closes it): who began it, and from where."""
        if state.phase is CallPhase.FINISHING:
            return
        state.ended_by, state.ended_in = by, state.phase
        self._advance(state, CallEvent.FINISH)

    def _new_call(self, channel: str, call_id: str, caller: str, number: str, *,
                  adopted: bool = False) -> CallState:
        state = CallState(call_id, channel, caller, self.version, self.port.call_io(channel),
                          number=number)
        self.calls.add(state)
        self._call_event(ev.CallArrived, state, number=number, caller=caller, adopted=adopted)
        if adopted:  # its lease may be running out
            state.io.renew_lease_nowait(self.settings.lease)
        elif self._overload_check() and self.version.config.overload.group:
            self._call_task(state, self._straight_to_line(state))
            return state
        elif self.overloaded and self.version.config.overload.prompt:
            self._call_task(state, self._turn_away(state))
            return state
        self._call_task(state, self._run_call(state))
        return state

    def _overload_check(self) -> bool:
        """Overloaded while actions are answered overload.lag late on average or one has
        waited that long unanswered, or the link holds back actions for lack of room; released
        below half of both, and not before overload.hold (one late answer answered is not a
        recovered Asterisk: without it the state would flap with each)."""
        link = self.link
        limit = self.version.config.overload.lag
        # in the calls' seconds, as the limit is; the oldest unanswered action tells a stall
        # before its late answers move the average
        late = max(link.lag, link.oldest_unanswered()) / self.time_scale
        full = link.unanswered >= link.max_unanswered
        if not self.overloaded and (late > limit or full):
            self.overloaded = True
            self._overload_since = self.now()
            log.warning("overload: Asterisk answers %.1f s late; new callers hear %s",
                        late, self.version.config.overload.prompt)
            self._publish(ev.OverloadChanged(at=self.now(), version=self.version.number,
                                             on=True, lag=late))
            self._apply(self.router.set_overload(True, self.now()))
        elif self.overloaded and late < limit / 2 and \
                link.unanswered < link.max_unanswered // 2 and \
                self.now() - self._overload_since >= self.version.config.overload.hold:
            self.overloaded = False
            log.warning("overload over: Asterisk answers in %.1f s", late)
            self._publish(ev.OverloadChanged(at=self.now(), version=self.version.number,
                                             on=False, lag=late))
            self._apply(self.router.set_overload(False, self.now()))
        return self.overloaded

    def _past_the_menus(self, state: CallState, target: str | None) -> None:
        """Overload: the menus skipped, in the number's language; `target` the group or none."""
        entry = self.version.config.numbers.get(state.number)
        state.outcome = Outcome("overload", target, entry.language if entry else "sv", ())
        self._call_event(ev.IvrDone, state, outcome="overload", target=target,
                         language=state.language, keys="")

    async def _turn_away(self, state: CallState) -> None:
        """Overload: a short message instead of the menus, then goodbye."""
        config = self.version.config
        self._past_the_menus(state, None)
        self._call_event(ev.Refused, state, why="overload", prompt=config.overload.prompt)
        await self._goodbye(state, config.overload.prompt)

    async def _straight_to_line(self, state: CallState) -> None:
        """Overload with `overload.group`: no menus (the fewest commands for an Asterisk
        that cannot keep up); the short message if any, then that group's line, whose
        `overload` rules send the caller on (the partner)."""
        config = self.version.config
        group = config.overload.group
        assert group is not None
        self._past_the_menus(state, group)
        if config.overload.prompt:
            await state.io.play(sound(config.overload.prompt, state.language), escape="")
        self._queue(state, group, self.now())

    async def _run_call(self, state: CallState) -> None:
        def step(s: Step, path: tuple[str, ...]) -> None:
            self._call_event(ev.IvrStep, state, menu=s.menu, step=s.event, key=s.key, path=path)

        outcome = await run_ivr(state.version.plan, state.number, state.io, self.wallclock(),
                                self.now, crisis_switch=self.router.crisis, on_step=step,
                                manual=self.manual)
        state.outcome = outcome
        self._call_event(ev.IvrDone, state, outcome=outcome.kind, target=outcome.target,
                         language=outcome.language, keys=outcome.keys)
        if outcome.kind == "callback" and outcome.target is not None:
            if await self._book_callback(state, outcome.target, "ivr"):
                return
            # no number given: the caller waits in the line instead (never a dead end)
            self._queue(state, outcome.target, self.now())
        elif outcome.kind == "group" and outcome.target is not None:
            self._queue(state, outcome.target, self.now())
        elif outcome.kind in ("transfer", "duty") and outcome.target is not None:
            kind = "duty" if outcome.kind == "duty" else "ivr"  # the menu's option
            await self._transfer_out(state, outcome.target, kind, outcome.fallback)
        else:
            await self._goodbye(state, None)  # a message or closed (both played)

    def _transfer_target(self, call_id: str, agent_id: str, spec: str
                         ) -> tuple[CallState, Target]:
        """The agent's call and where they send it; raises TransferRefused."""
        state = self.calls.get(call_id)
        if state is None or state.phase is not CallPhase.CONNECTED:
            raise TransferRefused(f"call {call_id} is in no conversation now")
        if state.agent != agent_id:
            raise TransferRefused(f"call {call_id} is not {agent_id}'s")
        config = self.version.config
        target = resolve(spec, {k: Listed(e.name, e.number, e.department)
                                for k, e in config.directory.items()},
                         {k: g.name for k, g in config.groups.items()},
                         config.transfer_allowlist, tuple(config.transfers.numbers))
        if target.kind == "number" and self.settings.outbound is None:
            raise TransferRefused("telephony.yaml has no outbound trunk to dial out by")
        if target.external and not self._transfer_cap.allows(self.now()):
            raise TransferRefused(f"the cap of {config.transfers.max_per_hour} transfers "
                                  "an hour outside the directory is reached")
        return state, target

    async def transfer(self, call_id: str, agent_id: str, spec: str, how: str = "blind"
                       ) -> Target:
        """The agent sends their caller on. Blind: to a directory entry or a number
        (queues/transfer.py decides which may be dialled; music while it rings; not reached,
        the caller comes back to this agent, else first in the group's line), or to another
        group's line, the wait kept; the agent's conversation ends: their wrap-up, with the
        forward noted for its form. Attended: the agent talks with the person first
        (controller/transfers.py). Raises TransferRefused (in the agent's words)."""
        state, target = self._transfer_target(call_id, agent_id, spec)
        now = self.now()
        if how == "attended":
            await self.consults.start(state, target)
            if target.external:
                self._transfer_cap.count(now)
            return target
        if how != "blind":
            raise TransferRefused(f"how {how!r}: blind or attended")
        outbound = self.settings.outbound
        leg, group = state.agent_leg, state.group or ""
        if leg is not None:  # its hangup, which the Redirect brings, ends no conversation
            self.calls.leg_done(leg)
        try:
            if target.kind == "group":
                await self.port.hold(state.channel)
            else:
                assert outbound is not None
                await self.port.transfer(state.io, target.value, outbound.dial(target.value))
        except TelephonyError as err:
            if leg is not None and state.phase is CallPhase.CONNECTED:
                self.calls.ring(state, leg)  # still talking: the leg is the call's again
            raise TransferRefused(f"the PBX did not take the transfer: {err}") from err
        if target.external:
            self._transfer_cap.count(now)
        state.transfer = TransferPlan(target.value, "blind", None, agent_id, group)
        self._call_event(ev.TransferStarted, state, target=target.value, kind="blind",
                         agent=agent_id, department=target.department)
        self.forwarded[agent_id] = (call_id, target.department or target.name)
        self._advance(state, CallEvent.TRANSFER)
        state.agent = None
        if agent_id in self.router.agents and self.router.agents[agent_id].call_id == call_id:
            self._apply(self.router.call_ended(agent_id, now))
        return target

    async def complete_transfer(self, call_id: str, agent_id: str) -> None:
        """The attended transfer's handover; raises TransferRefused."""
        state = self.calls.get(call_id)
        if state is None or state.consult is None or state.consult.agent != agent_id:
            raise TransferRefused(f"{agent_id} has no transfer of call {call_id} under way")
        await self.consults.complete(state)

    def take_back(self, call_id: str, agent_id: str) -> None:
        """The attended transfer given up: the agent and the caller together again."""
        state = self.calls.get(call_id)
        if state is None or state.consult is None or state.consult.agent != agent_id:
            raise TransferRefused(f"{agent_id} has no transfer of call {call_id} under way")
        self.consults.take_back(state)

    def stop_hold(self, state: CallState) -> None:
        _stop(state.hold)
        state.hold = None

    def _held(self, state: CallState) -> None:
        """A caller the agent sent to another group's line is in AGI again: into that line,
        their first arrival kept."""
        plan = state.transfer
        if state.phase is not CallPhase.TRANSFERRING or plan is None:
            return
        self._advance(state, CallEvent.RETURNED)
        self._call_event(ev.Transferred, state, target=plan.target, kind=plan.kind,
                         status="LINE", answered=True)
        self._queue(state, plan.target, state.arrival or self.now())

    async def _transfer_out(self, state: CallState, number: str, kind: str,
                            fallback: IvrAction | None) -> None:
        """Sends the caller on to a number (a menu's transfer option, a duty line): music
        while it rings, then back into AGI (_back_from_transfer), never a dead end. Only a
        number the configuration allows gets here (config/checks.py: transfer_allowlist,
        duty_allowlist), dialled through telephony.yaml's outbound trunk."""
        outbound = self.settings.outbound
        state.transfer = TransferPlan(number, kind, fallback)
        self._call_event(ev.TransferStarted, state, target=number, kind=kind)
        if outbound is None:  # vaxel check refuses this; a reload of telephony.yaml could not
            log.error("call %s: no outbound trunk in telephony.yaml for a transfer to %s",
                      state.call_id, number)
            await self._transfer_result(state, "NO TRUNK")
            return
        _stop(state.hold)
        state.hold = None
        self._advance(state, CallEvent.TRANSFER)
        try:
            await self.port.transfer(state.io, number, outbound.dial(number))
        except TelephonyError as err:  # still in AGI: sent on as if it had failed
            log.warning("call %s: the transfer to %s failed: %s", state.call_id, number, err)
            self._advance(state, CallEvent.RETURNED)
            await self._transfer_result(state, "REDIRECT FAILED")

    async def _back_from_transfer(self, state: CallState) -> None:
        """Back in AGI after the transfer's Dial: answered and done, or sent on."""
        if state.phase is not CallPhase.TRANSFERRING:
            return
        self._advance(state, CallEvent.RETURNED)
        try:
            status = await self.port.dial_status(state.io) or "UNKNOWN"
        except LinkFault as err:
            self._cut_short(state, err)
            status = "UNKNOWN"
        await self._transfer_result(state, status)

    async def _transfer_result(self, state: CallState, status: str) -> None:
        """The transfer's Dial ended: answered (the call is done when the far end hung up), or
        the caller goes on: the option's on_failure (a group, a callback, a message), the
        closed message after a duty line, else the fallback message."""
        plan = state.transfer or TransferPlan("", "")
        fallback = plan.fallback
        answered = status == "ANSWER"
        self._call_event(ev.Transferred, state, target=plan.target, kind=plan.kind,
                         status=status, answered=answered)
        if answered:
            await self._goodbye(state, None)
        elif plan.back_to is not None and plan.group is not None:
            # back to the agent who transferred them, else first in the line
            self._queue(state, plan.group, state.arrival or self.now(), back_to=plan.back_to)
        elif fallback is not None and fallback.group is not None:
            self._queue(state, fallback.group, state.arrival or self.now())
        elif fallback is not None and fallback.callback is not None:
            if not await self._book_callback(state, fallback.callback, "ivr"):
                self._queue(state, fallback.callback, self.now())
        else:
            message = fallback.message if fallback is not None else None
            await self._goodbye(state, message or self.settings.fallback.message)

    async def _book_callback(self, state: CallState, group: str, source: str) -> bool:
        """Books a callback with the caller (ivr/callback.py: their number confirmed, or one
        keyed and read back); the request takes the caller's place (their first arrival in a
        line, else now), the caller hears that it is booked, and the call ends. False when no
        number was given: the caller is where they were."""
        config = state.version.config
        number = await ask_number(state.io, state.caller, config.callbacks.rules(),
                                  state.language)
        if number is None:
            return False
        now = self.now()
        arrival = state.arrival if state.arrival is not None else now
        in_line = state.call_id in self.router.calls
        state.booked = True
        self._finish(state, "vaxel")
        req = self.desk.request(state.call_id, group, number, state.language, arrival, source,
                                in_line=in_line)
        if in_line and req.call_id == state.call_id:  # the caller's entry is the request now
            self._apply(self.router.to_callback(state.call_id, now))
        elif in_line:  # merged into an earlier request of theirs: that one keeps its place
            self._apply(self.router.call_left(state.call_id, now))
        await self._goodbye(state, "phrase/cb-bokad")
        return True

    async def _offer_at_closing(self, state: CallState, group: str, prompt: str) -> None:
        """Closing time with callers still in line: the closing message, then a callback
        when the group opens again (key 1), else goodbye."""
        lang = state.language
        await state.io.stop_hold()
        await state.io.play(sound(prompt, lang), escape="")
        answer = await state.io.get_digits(sound("phrase/cb-erbjud-stangt", lang), 1,
                                           CALLBACK_KEY_TIMEOUT)
        if answer.keys == "1" and await self._book_callback(state, group, "closing"):
            return
        await self._goodbye(state, None)

    def _queue(self, state: CallState, group: str, arrival: float, *,
               event: CallEvent = CallEvent.QUEUED, back_to: str | None = None) -> None:
        """Into a group's line (from the menus, the leave key, or adopted after a restart);
        `arrival` keeps the place of one who was in a line before; `back_to`: a caller whose
        transfer failed, offered to that agent again, else first in line."""
        state.group, state.arrival = group, arrival
        self._advance(state, event)
        self.port.remember_place(state.channel, group, arrival)
        # told before the router acts on it (an offer, an overflow follow at once); every
        # caller has the same priority, so the place is behind those waiting now
        position = 1 if back_to is not None else self.router.waiting_count(group) + 1
        self._call_event(ev.Queued, state, position=position, arrival=arrival)
        if back_to is not None:
            self._apply(self.router.returned(state.call_id, group, back_to, self.now(),
                                             arrival))
        else:
            self._apply(self.router.call_arrived(state.call_id, group, self.now(),
                                                 arrival=arrival))
        if state.phase.in_line:
            self._call_task(state, self._hold(state), hold=True)

    async def _goodbye(self, state: CallState, prompt: str | None) -> None:
        """A last message (if any), then the caller is hung up; the call closes when its Hangup
        event comes."""
        self._finish(state, "vaxel")
        with contextlib.suppress(CallerGone, LinkFault):
            if prompt:
                if state.ended_in is not None and state.ended_in.in_line:
                    await state.io.stop_hold()
                await state.io.play(sound(prompt, state.language), escape="")
            await state.io.hangup()

    def _cut_short(self, state: CallState, err: Exception) -> None:
        """A link fault ended the call's task: the caller is still in AGI, and is taken up
        again after the resync (_take_up_orphans), never left in silence."""
        log.warning("call %s: the AMI link failed under it (%s); taken up again after the "
                    "resync", state.call_id, err)
        state.cut_short = True

    # ---- waiting -----------------------------------------------------------------------------

    async def _hold(self, state: CallState) -> None:
        """Waiting: music in slices that listen for the leave key, with announcements of the
        caller's place and the estimated wait under the guard rails of queues/announce.py, until
        an agent's leg bridges in (which cancels this task). While an agent's phone rings the
        music plays on (no announcement, no leave key), and after an offer that failed the
        caller is simply back in line: never silence (vaxel-on-asterisk/s3)."""
        group = state.version.config.groups[state.group or ""]
        rules = AnnounceRules(group.announce.every, group.announce.position,
                              group.announce.ewt, group.announce.min_agents)
        leave = group.leave.key if group.leave is not None else ""
        # a callback offered once the estimated wait passes the group's callback.offer_over,
        # after each announcement from then on; its key works from the first offer on
        callback = group.callback if group.callback is not None and \
            group.callback.offer_over is not None else None
        offer_key = callback.key if callback is not None else ""
        offered = False
        lang = state.language
        while state.phase.in_line:
            if state.phase is CallPhase.OFFERED:
                await state.io.hold(HOLD_SLICE, escape="")
                continue
            now = self.now()
            position = self.router.position(state.call_id)
            serving = int(self.router.statistics()[state.group or ""]["serving"])
            ewt = self.router.ewt(state.call_id, now)
            said, state.told = decide(rules, state.told, now, position, ewt, serving)
            key = None
            parts = []
            if not said.empty:
                self._call_event(ev.Announced, state, position=said.position,
                                 ewt_minutes=said.ewt_minutes)
                if said.position is not None:
                    parts += phrases.position(said.position, lang)
                if said.ewt_minutes is not None:
                    parts += phrases.estimated_wait(said.ewt_minutes, lang)
                if group.leave is not None:
                    parts.append(group.leave.prompt)
            if (callback is not None and callback.offer_over is not None and ewt is not None
                    and ewt >= callback.offer_over and (parts or not offered)):
                parts += phrases.callback_offer(offer_key)
                offered = True
            keys = leave + (offer_key if offered else "")
            if parts:
                await state.io.stop_hold()
                for part in parts:
                    key = await state.io.play(sound(part, lang), escape=keys)
                    if key:
                        break
            if not key:
                key = await state.io.hold(min(HOLD_SLICE, rules.every), escape=keys)
            if key and key == leave and group.leave is not None:
                await self._leave(state, group.leave.then, key)
                return
            if key and key == offer_key and offered and state.phase is CallPhase.WAITING:
                await state.io.stop_hold()
                if await self._book_callback(state, state.group or "", "waiting"):
                    return

    async def _leave(self, state: CallState, then: Any, key: str) -> None:
        """The caller pressed the leave key: out of the line, then the configured action."""
        if state.phase is not CallPhase.WAITING:
            return
        assert state.arrival is not None
        self._call_event(ev.LeftLine, state, then=then.group or then.message or "goodbye",
                         key=key)
        self._apply(self.router.call_left(state.call_id, self.now()))
        if then.group is not None:  # the music plays on into the next line
            self._queue(state, then.group, state.arrival, event=CallEvent.MOVED)
            return
        await self._goodbye(state, then.message)

    # ---- the router's commands ---------------------------------------------------------------

    def _apply(self, outputs: list[Output]) -> None:
        debug = log.isEnabledFor(logging.DEBUG)  # once, not for each of a call's ~10 outputs
        for out in outputs:
            if debug:
                log.debug("router: %s", out)
            if isinstance(out, AgentChanged):
                if out.state is AgentState.WRAP_UP:  # the wrap-up form names its call
                    self._wrapping[out.agent_id] = out.call_id
                self._publish(ev.AgentChanged(at=self.now(), version=self.version.number,
                                              agent=out.agent_id, state=out.state.value,
                                              reason=out.reason, cause=out.event,
                                              call_id=out.call_id))
            elif isinstance(out, OfferCall):
                if self.desk.owns(out.call_id):
                    self.desk.offer(out)
                else:
                    self._offer(out)
            elif isinstance(out, StartWrapUp):
                since = self.router.agents[out.agent_id].state_since
                self._publish(ev.WrapUpStarted(at=self.now(), version=self.version.number,
                                               agent=out.agent_id, seconds=out.seconds))
                self._timer(f"wrap:{out.agent_id}", out.seconds,
                            functools.partial(self._wrap_up_over, out.agent_id, since))
            elif isinstance(out, CancelOffer):
                # a request's legs; and a caller's who booked a callback while rung for
                self.desk.cancel_offer(out.call_id)
                state = self.calls.get(out.call_id)
                if state is not None and state.agent_leg is not None:
                    self._spawn(self._cancel_leg(state.agent_leg))
                if state is not None:
                    state.agent = None
            elif isinstance(out, SendToPartner):
                state = self.calls.get(out.call_id)
                if state is not None:
                    self._call_event(ev.Overflowed, state, target="partner", rule=out.reason)
                    self._advance(state, CallEvent.TO_PARTNER)
                    self._call_task(state, self._to_partner(state))
            elif isinstance(out, RefuseCall):
                state = self.calls.get(out.call_id)
                if state is not None:
                    self._refuse(state, out)
            elif isinstance(out, CallMoved):
                state = self.calls.get(out.call_id)
                if state is not None:
                    self._call_event(ev.Overflowed, state, target=out.to_group, rule=out.reason)
                    state.group = out.to_group
                    self._advance(state, CallEvent.MOVED)
                    if state.arrival is not None:
                        self.port.remember_place(state.channel, out.to_group, state.arrival)
            elif isinstance(out, AgentAutoPaused):
                log.warning("agent %s paused after %d missed calls", out.agent_id, out.missed)
        self._schedule_tick()

    def _refuse(self, state: CallState, out: RefuseCall) -> None:
        """No silent hang-up: the group's message for why (closed, full), else the
        fallback message, then goodbye."""
        group = state.version.config.groups.get(out.group_id)
        prompt = None
        if group is not None:
            prompt = group.closed_prompt if out.refusal is Refusal.CLOSED else group.full_prompt
        prompt = prompt or self.settings.fallback.message
        self._call_event(ev.Refused, state, why=out.reason, prompt=prompt)
        _stop(state.hold)  # the goodbye follows the music slice already asked of Asterisk
        state.hold = None
        callback = group.callback if group is not None else None
        if out.refusal is Refusal.CLOSED and group is not None and group.duty is not None \
                and state.phase is CallPhase.WAITING:  # the duty line, else the message
            self._call_task(state, self._transfer_out(state, group.duty, "duty",
                                                      IvrAction(message=prompt)))
            return
        if (out.refusal is Refusal.CLOSED and state.phase.in_line and callback is not None
                and callback.offer_at_closing):
            self._call_task(state, self._offer_at_closing(state, out.group_id, prompt))
            return
        self._call_task(state, self._goodbye(state, prompt))

    def _wrap_up_over(self, agent_id: str, since: float) -> None:
        """A wrap-up timer re-checks when it fires: the wrap-up it was set for may be over
        already (a logout, a pause, a login since)."""
        agent = self.router.agents.get(agent_id)
        if agent is None or agent.state is not AgentState.WRAP_UP or agent.state_since != since:
            return
        self._apply(self.router.wrap_up_done(agent_id, self.now()))

    def _schedule_tick(self) -> None:
        deadline = self.router.next_deadline()
        if deadline is not None:
            self._timer("tick", max(deadline - self.now(), 0),
                        lambda: self._apply(self.router.tick(self.now())))

    def _cancel_timer(self, key: str) -> None:
        timer = self._timers.pop(key, None)
        if timer is not None:
            timer.cancel()

    def _timer(self, key: str, seconds: float, fn: Callable[[], None]) -> None:
        old = self._timers.pop(key, None)
        if old is not None:
            old.cancel()
        self._timers[key] = asyncio.get_running_loop().call_later(seconds * self.time_scale, fn)

    def _offer(self, out: OfferCall) -> None:
        state = self.calls.get(out.call_id)
        assert state is not None, f"the router offered {out.call_id}, which vaxel does not know"
        leg = self.new_leg()
        state.agent = out.agent_id
        self.calls.ring(state, leg)
        self._advance(state, CallEvent.OFFERED)
        self._call_event(ev.Offered, state, agent=out.agent_id, leg=leg)
        group = state.version.config.groups.get(out.group_id) or \
            self.version.config.groups[out.group_id]
        caller_id = f"{group.name} <{state.caller}>"
        ring = group.ring if group.ring is not None else self.settings.agent_ring
        self._spawn(self._ring(leg, out.agent_id, state.channel, caller_id, ring))

    async def _ring(self, leg: str, agent_id: str, caller: str, caller_id: str,
                    ring: float) -> None:
        device = self.devices.get(agent_id)
        if device is None:
            log.error("agent %s has no device in telephony.yaml: cannot ring them", agent_id)
            self._leg_failed(leg, "no device in telephony.yaml")
            return
        try:
            await self.port.ring_agent(leg, device, caller, caller_id, ring)
        except (NotConnected, ConnectionLost, ActionTimeout) as err:
            # the PBX was never asked, or its answer was lost: not the agent's miss
            log.warning("originate of %s not made: %s", leg, err)
            self._offer_withdrawn(leg)
            if isinstance(err, ActionTimeout):  # it may ring after all: stop it
                self._spawn(self._cancel_leg(leg))
        except TelephonyError as err:
            log.warning("originate of %s failed: %s", leg, err)
            self._leg_failed(leg, str(err))

    async def _cancel_leg(self, leg: str) -> None:
        with contextlib.suppress(TelephonyError):
            await self.port.cancel_leg(leg)

    async def _to_partner(self, state: CallState) -> None:
        """Overflow: out of AGI to the partner's Dial (the lease keeper leaves it alone)."""
        _stop(state.hold)
        state.hold = None
        number = self.settings.partner.numbers[0]
        try:
            await self.port.to_partner(state.io, number)
        except TelephonyError as err:
            log.warning("call %s: redirect to the partner failed: %s", state.call_id, err)
            self._partner_result(state, "REDIRECT FAILED")

    async def _back_from_partner(self, state: CallState) -> None:
        """Back in AGI after the partner's Dial: answered and done, or back to the line."""
        if state.phase is not CallPhase.AT_PARTNER:
            return
        try:
            status = await self.port.dial_status(state.io) or "UNKNOWN"
        except LinkFault as err:  # the partner's result is unknown: the line takes them back
            self._cut_short(state, err)
            status = "UNKNOWN"
        if self._partner_result(state, status):
            await self._goodbye(state, None)

    def _partner_result(self, state: CallState, status: str) -> bool:
        """The partner's Dial ended: answered (the call is done), or back to the line."""
        answered = status == "ANSWER"
        self._call_event(ev.PartnerResult, state, status=status, answered=answered)
        if answered:
            self._finish(state, "partner")
        else:
            self._advance(state, CallEvent.BACK)
        self._apply(self.router.partner_finished(state.call_id, self.now(), answered=answered))
        if state.phase.in_line and (state.hold is None or state.hold.done()):
            self._call_task(state, self._hold(state), hold=True)
        return answered

    # ---- facts about the call ----------------------------------------------------------------

    def _bridged(self, state: CallState) -> None:
        """The agent answered: the caller left AGI into the bridge (the lease is wiped). Said
        once: a second BridgeEnter of the same caller (a bridge swap) changes nothing."""
        if state.phase is not CallPhase.OFFERED or state.agent is None:
            if state.phase is CallPhase.WAITING:  # a withdrawn offer's leg that rang on
                log.warning("call %s: bridged while not offered (a late agent leg); the "
                            "router still has it waiting", state.call_id)
            return
        self._advance(state, CallEvent.ANSWERED)
        _stop(state.hold)  # its WAIT FOR DIGIT will never report: the bridge took the call
        state.hold = None
        group = state.version.config.groups.get(state.group or "")
        self._call_event(ev.Connected, state, agent=state.agent,
                         waited=self.now() - (state.arrival or self.now()),
                         threshold=group.threshold if group is not None else 0.0)
        self._apply(self.router.offer_answered(state.agent, self.now()))
        self.desk.caller_answered(state.caller)  # their pending callbacks are answered now

    def _leg_failed(self, leg: str, reason: str) -> None:
        """The agent's phone did not answer (no answer, busy, declined): a miss of theirs.
        A failure the PBX says is its own (congestion: an Asterisk at its limits) is not: the
        offer is withdrawn and offers pause a moment, rather than auto-pausing every agent."""
        if reason in PBX_FAULTS:
            self._offer_withdrawn(leg, why=f"withdrawn: {reason} (the PBX's, not the agent's)",
                                  pause=PBX_FAULT_PAUSE)
            return
        if (taken := self._take_offer(leg)) is not None:
            state, agent = taken
            self._call_event(ev.OfferFailed, state, agent=agent, why=reason, missed=True)
            self._apply(self.router.offer_failed(agent, self.now()))

    def _offer_withdrawn(self, leg: str, why: str = "withdrawn: the PBX could not be reached",
                         pause: float = 0.0) -> None:
        """The PBX could not be asked, or its answer was lost, or it failed the call itself: no
        miss. With the link down, no offers until the resync; after a fault of the PBX's, none
        for `pause` seconds; else (an answer too late) offers go on."""
        if (taken := self._take_offer(leg)) is not None:
            state, agent = taken
            self._call_event(ev.OfferFailed, state, agent=agent, why=why, missed=False)
            if not self.link.connected or pause:
                self._apply(self.router.set_offering(False, self.now()))
            if pause:
                self._timer("offers", pause, self._resume_offers)
            self._apply(self.router.offer_withdrawn(agent, self.now()))

    def _resume_offers(self) -> None:
        if self.link.connected:  # else the resync resumes them
            self._apply(self.router.set_offering(True, self.now()))

    def _take_offer(self, leg: str) -> tuple[CallState, str] | None:
        """The call and agent of an offer that just ended unanswered (once: facts repeat)."""
        state = self.calls.of_leg(leg)
        self.calls.leg_done(leg)
        if (state is None or state.agent is None or state.phase is not CallPhase.OFFERED
                or state.agent_leg != leg):  # a leg of an earlier offer: it says nothing now
            return None
        agent, state.agent = state.agent, None
        self._advance(state, CallEvent.OFFER_ENDED)
        return state, agent

    def _leg_ended(self, leg: str, cause: str) -> None:
        """The agent leg hung up: after a conversation the call ends; before one (rung out or
        cancelled; its Hangup may come before its OriginateResponse) it is a failed offer."""
        state = self.calls.of_leg(leg)
        if state is None:
            return
        if state.phase is CallPhase.OFFERED:
            self._leg_failed(leg, cause or "hung up")
            return
        self.calls.leg_done(leg)
        if (state.phase is CallPhase.CONNECTED and state.agent is not None
                and state.agent_leg == leg):  # not the end of an earlier offer's leg
            self._finish(state, "agent")
            self._apply(self.router.call_ended(state.agent, self.now()))
        elif state.phase is CallPhase.HELD and state.agent_leg == leg:
            self.consults.agent_gone(state)  # hung up while consulting

    def _caller_gone(self, state: CallState) -> None:
        """The caller's channel hung up: the call is over, in whatever phase."""
        for task in (state.task, state.hold):
            _stop(task)
        state.task = state.hold = None
        phase = state.ended_in or state.phase  # where it was when its end began
        # a booked caller's place is their callback request's now: it lives on
        routed = None if state.booked else self.router.calls.get(state.call_id)
        if phase.in_line and routed is not None:
            self._call_event(ev.Abandoned, state, phase=phase.value,
                             waited=self.now() - (state.arrival or self.now()))
        self._call_event(ev.CallEnded, state, hung_up_by=state.ended_by or "caller",
                         phase=phase.value, agent=state.agent)
        self._advance(state, CallEvent.GONE)
        if routed is not None:  # while still known: a ringing leg of it is cancelled
            self._apply(self.router.call_left(state.call_id, self.now()))
        self.calls.remove(state)  # its agent leg's end still finds the leg: the agent's
        state.agent = None

    # ---- after a (re)connect: what Asterisk has ----------------------------------------------

    def resync(self) -> None:
        """Lists Asterisk's channels again and reconciles (as after a reconnect)."""
        self._spawn(self._resync())

    async def _resync(self) -> None:
        """After (re)connecting: every channel, with our variables. Known calls are checked
        against it (gone, or answered or failed while we could not see); callers of ours we do
        not know (a restart) are adopted again with their place in line."""
        try:
            listing = await self.port.listing()
        except TelephonyError as err:
            log.warning("resync failed: %s", err)
            return
        try:
            self._reconcile(listing)
        finally:
            self._take_up_orphans()
            self._apply(self.router.set_offering(True, self.now()))

    def _reconcile(self, listing: list[ListedChannel]) -> None:
        present = {c.channel: c for c in listing}
        uniqueids = {c.uniqueid for c in listing}
        for state in self.calls:
            listed = present.get(state.channel)
            if listed is None:
                # gone while we could not see: hung up, or a whole conversation happened (the
                # dialplan hangs up after the agent); both end the call here
                self._caller_gone(state)
            elif state.phase is CallPhase.OFFERED and state.agent_leg is not None:
                if listed.bridged:
                    self._bridged(state)  # answered while we could not see
                elif state.agent_leg not in uniqueids:
                    self._leg_failed(state.agent_leg, "gone while the link was down")
        for leg, state in self.calls.legs():
            if leg not in uniqueids and self.calls.get(state.call_id) is None:
                self._leg_ended(leg, "")  # its Hangup came while we could not see
        for listed in listing:
            if (listed.call_id is not None and listed.in_agi
                    and self.calls.on_channel(listed.channel) is None):
                self._adopt(listed)
        self.desk.reconcile(listing)
        self.consults.reconcile(listing)

    def _adopt(self, listed: ListedChannel) -> None:
        """A caller of ours from before a restart: back in line where they were, or (still in
        the menus) through the IVR again."""
        assert listed.call_id is not None
        group, arrival = listed.place or ("", None)
        log.info("call %s: adopted again (%s)", listed.call_id, group or "in the menus")
        if group not in self.version.config.groups:
            self._new_call(listed.channel, listed.call_id, listed.caller, listed.number,
                           adopted=True)
            return
        state = CallState(listed.call_id, listed.channel, listed.caller, self.version,
                          self.port.call_io(listed.channel), number=listed.number)
        self.calls.add(state)
        self._call_event(ev.CallArrived, state, number=listed.number, caller=listed.caller,
                         adopted=True)
        state.io.renew_lease_nowait(self.settings.lease)  # it may be running out
        self._queue(state, group, self.now() if arrival is None else arrival)

    def _take_up_orphans(self) -> None:
        """Every caller of ours in AGI is served: a task alive, or bridged (an agent, the
        partner). One that is not (a link fault cut its task short) is taken up again: the
        menus from the start if it had not chosen yet, else its line, else its goodbye. Checked
        after every resync and by the lease keeper's sweep."""
        for state in self.calls:
            if not state.phase.in_agi or any(t is not None and not t.done()
                                             for t in (state.task, state.hold)):
                continue
            if state.phase is CallPhase.FINISHING and not state.cut_short:
                continue  # hung up, or being hung up: its Hangup event will close it
            if state.phase is CallPhase.HELD and state.consult is not None:
                continue  # on hold for a consultation: controller/transfers.py serves it
            if not state.cut_short:
                self.orphans += 1
                log.error("call %s: nothing served it in phase %s; taken up again",
                          state.call_id, state.phase.value)
            state.cut_short = False
            if state.phase is CallPhase.IVR:
                self._call_task(state, self._run_call(state))
            elif state.phase.in_line:
                self._call_task(state, self._hold(state), hold=True)
            else:
                self._call_task(state, self._goodbye(state, None))

    # ---- the lease ---------------------------------------------------------------------------

    async def _keep_leases(self) -> None:
        """Renews the dead-man lease of every caller in AGI, never a bridged one's, every third
        of a lease: one timer for all calls. A caller's lease is fresh on arrival (the dialplan
        armed it), so it never falls below two thirds."""
        lease = self.settings.lease
        while True:
            await asyncio.sleep(lease / 3 * self.time_scale)
            self._renew_leases(lease)

    def _renew_leases(self, lease: float) -> None:
        # Its own frame, so the sleeping keeper holds no reference to the last call it renewed.
        if self.link.connected:
            self._take_up_orphans()  # the sweep: nobody is renewed without being served
            self._overload_check()
            if self.overloaded:  # an answer tells whether Asterisk has caught up
                self._spawn(self._probe_lag())
        for state in self.calls:
            if state.phase.in_agi:
                state.io.renew_lease_nowait(lease)
        # agents waiting for a citizen called back, or for the number they consult
        for channel in self.desk.agents_in_agi() + self.consults.agent_channels():
            self.port.call_io(channel).renew_lease_nowait(lease)

    async def _probe_lag(self) -> None:
        with contextlib.suppress(TelephonyError):
            await self.port.probe()
        self._overload_check()


def _agents(version: Version, chosen: Mapping[str, frozenset[str]]) -> list[Agent]:
    """The configuration's agents, each in the groups they chose (all of theirs by default)."""
    return [Agent(aid, {g: Membership(g, lv) for g, lv in a.groups.items()
                        if aid not in chosen or g in chosen[aid]}, a.name)
            for aid, a in version.config.agents.items()]


def _rules(version: Version) -> dict[str, Any]:
    return {gid: g.core_rules() for gid, g in version.config.groups.items()}


def _stop(task: asyncio.Task[Any] | None) -> None:
    """Cancels a call's task; the caller then forgets it. Kept, a cancelled task holds its
    CancelledError, whose traceback holds the frame that holds the call's state, which holds the
    task: a reference cycle only a full collection frees (40 ms of stall at 500 calls)."""
    if task is not None:
        task.cancel()
