"""The controller: the routing core, the IVR and the AMI link wired into a running contact centre.

Theory of operation. One task reads the link's events and routes them: a new caller in AsyncAGI
gets a CallSupervisor (lease, IVR, waiting); the Router's commands are carried out as AMI actions
(an agent leg is an Originate of the agent's own device, PJSIP/<agent>, with Application=Bridge to
the caller and a ChannelId chosen here, so it is never sent twice and can be looked up after a
reconnect; no Local pair, which Asterisk would optimize away under our feet: vaxel-on-asterisk/s1);
the facts that come back (the agent leg answered or failed, the bridge, hangups) go to the Router.
Timers (wrap-up ends, skill-widening steps) are asyncio timers that re-ask the Router when they
fire. The Router holds no clock: `now()` is read here and passed in.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import gc
import itertools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from agents.agent import Agent, Membership
from agents.state import AgentState
from config.versions import Version
from ivr import phrases
from ivr.hours import eves, public_holidays
from ivr.interpreter import Outcome, run_ivr, sound
from overflow.partner import PartnerCaps
from queues.announce import AnnounceRules, Told, decide
from queues.commands import (
    AgentAutoPaused,
    CallMoved,
    CancelOffer,
    OfferCall,
    Output,
    RefuseCall,
    SendToPartner,
    StartWrapUp,
)
from queues.router import Router
from telephony.ami_codec import Message
from telephony.ami_link import AmiLink, LinkDown, LinkUp
from telephony.callio import AgiCallIO, CallerGone, LinkFault
from telephony.dialplan import DialplanSettings
from telephony.errors import ActionTimeout, ConnectionLost, NotConnected, TelephonyError

log = logging.getLogger("vaxel.calls")

HOLD_SLICE = 20.0  # seconds of music between looks at the line
MUNICIPAL_GOAL_SECONDS = 120.0  # the goal: 70 % (aim 80 %) of calls answered within 2 minutes
# On the caller's channel (channel variables survive bridging), what a restarted controller
# needs to adopt the call again: VAXEL_CALLID (set by the dialplan, vx-<Uniqueid>) and, once in
# a line, VAXEL_PLACE = "<group> <arrival>" (one Setvar each time the caller joins a line).
STATE_VARIABLES = ("VAXEL_CALLID", "VAXEL_PLACE")
# Device states of a phone that cannot ring (not registered, or no such endpoint).
UNREACHABLE_DEVICE_STATES = frozenset({"UNAVAILABLE", "INVALID"})


@dataclass
class CallState:
    call_id: str
    channel: str
    caller: str
    version: Version
    started: float
    io: AgiCallIO
    outcome: Outcome | None = None
    group: str | None = None
    agent: str | None = None
    agent_leg: str | None = None  # the ChannelId of the agent leg rung for this caller
    bridged: bool = False
    task: asyncio.Task[None] | None = None
    hold: asyncio.Task[Any] | None = None
    told: Told = field(default_factory=Told)  # announcements so far
    events: list[str] = field(default_factory=list)
    number: str = ""  # the municipal number called
    cut_short: bool = False  # a link fault ended its task: taken up again after the resync
    leaving: bool = False  # hung up, or being hung up: its Hangup event will close it


class Controller:
    def __init__(self, version: Version, settings: DialplanSettings, link: AmiLink, *,
                 clock: Callable[[], float] | None = None,
                 wallclock: Callable[[], dt.datetime] | None = None,
                 time_scale: float = 1.0,
                 prompt_exists: Callable[[str], bool] | None = None) -> None:
        self.version = version
        self.settings = settings
        self.link = link
        self.time_scale = time_scale  # < 1 runs the controller's own timers faster (tests)
        # wall-clock based, so arrival times written on channels mean the same to a restarted
        # controller
        self._clock = clock or time.time
        # the contact centre's wall clock (its time zone, not the server's): hours, holidays
        self.wallclock = wallclock or (lambda: version.config.local_time(
            dt.datetime.now(dt.UTC)))
        self.prompt_exists = prompt_exists
        config = version.config
        agents = [Agent(aid, {g: Membership(g, lv) for g, lv in a.groups.items()}, a.name)
                  for aid, a in config.agents.items()]
        self.router = Router([g.core(gid) for gid, g in config.groups.items()], agents,
                             rules={gid: g.core_rules() for gid, g in config.groups.items()},
                             partner=PartnerCaps(config.partner.max_concurrent,
                                                 config.partner.max_per_hour))
        self.calls: dict[str, CallState] = {}  # by caller channel
        self.by_call_id: dict[str, CallState] = {}
        self.legs: dict[str, str] = {}  # agent leg ChannelId -> call id
        self.devices = {a.id: a.device for a in settings.agents}  # agent id -> PJSIP/anna
        self.agent_of_device = {device: agent for agent, device in self.devices.items()
                                if agent in self.router.agents}
        self._ids = itertools.count(1)
        # agent leg ChannelIds stay unique across restarts (a leg of the last run may still live)
        self._leg_prefix = f"vx-leg-{int(time.time() * 1000):x}-"
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._reader: asyncio.Task[None] | None = None
        self.counts = {"calls": 0, "answered": 0, "within_threshold": 0,
                       "within_2_minutes": 0, "abandoned": 0, "partner": 0,
                       "turned_away": 0, "orphans": 0, "auto_paused": 0}
        self.overloaded = False  # Asterisk falls behind: new callers get overload.prompt

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
        # What is loaded before the first call (configuration, holidays, prompts) lives as long
        # as the process: moved out of the collector's reach, a full collection no longer walks
        # it (about 30 ms for 130k objects: an event-loop stall).
        gc.freeze()
        self._reader = asyncio.get_running_loop().create_task(self._read())
        self._spawn(self._keep_leases())

    async def stop(self) -> None:
        for task in [self._reader, *self._tasks]:
            if task is not None:
                task.cancel()
        for timer in self._timers.values():
            timer.cancel()

    def _spawn(self, coro: Any) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def statistics(self) -> dict[str, int]:
        """Counts since start, for the terminal summary and /metrics later."""
        return {**self.counts, "waiting": sum(
            1 for c in self.router.calls.values() if c.phase.value == "waiting"),
            "in_menus": sum(1 for s in self.calls.values()
                            if s.outcome is None and s.call_id not in self.router.calls)}

    # ---- agents (the API the web panel and `vaxel agent` use) --------------------------------

    def agent_login(self, agent_id: str) -> None:
        self._apply(self.router.agent_logged_in(agent_id, self.now()))

    def agent_pause(self, agent_id: str, reason: str) -> None:
        self._apply(self.router.agent_paused(agent_id, reason, self.now()))

    def agent_ready(self, agent_id: str) -> None:
        self._apply(self.router.agent_unpaused(agent_id, self.now()))

    def agent_logout(self, agent_id: str) -> None:
        self._apply(self.router.agent_logged_out(agent_id, self.now()))

    def set_crisis(self, on: bool) -> None:
        """The crisis switch: groups' crisis overflow rules apply at once, and callers who
        arrive while it is on hear the crisis message (crisis.prompt) before the menu."""
        self._apply(self.router.set_crisis(on, self.now()))

    # ---- events from Asterisk ----------------------------------------------------------------

    async def _read(self) -> None:
        while True:
            item = await self.link.events.get()
            try:
                if isinstance(item, Message):
                    self._event(item)
                elif isinstance(item, LinkUp):
                    log.info("AMI link up (%d channels listed)", len(item.channels))
                    self._spawn(self._list_devices())
                    self._spawn(self._resync())
                elif isinstance(item, LinkDown):
                    log.warning("AMI link down: %s; no offers until it is back", item.reason)
                    self._apply(self.router.set_offering(False, self.now()))
            except Exception:  # one bad event must not stop the contact centre
                log.exception("handling %r failed", item)

    def _event(self, msg: Message) -> None:
        name = msg.event
        channel = msg.get("Channel", "")
        if name == "AsyncAGIStart":
            context = msg.get("Context")
            if context == "vaxel-inbound" and channel not in self.calls:
                self._new_call(msg)
            elif context == "vaxel-partner" and channel in self.calls:
                self._spawn(self._back_from_partner(self.calls[channel]))
        elif name == "OriginateResponse":
            leg = msg.get("Uniqueid", "")
            if leg in self.legs and msg.get("Response") != "Success":
                self._leg_failed(leg)
        elif name == "DeviceStateChange":
            self._device(msg.get("Device", ""), msg.get("State", ""))
        elif name == "BridgeEnter" and channel in self.calls:
            self._bridged(self.calls[channel])
        elif name == "Hangup":
            if channel in self.calls:
                self._caller_gone(self.calls[channel])
            elif msg.get("Uniqueid", "") in self.legs:
                self._leg_ended(msg["Uniqueid"])

    def _device(self, device: str, state: str) -> None:
        """An agent's phone registered or went away: a phone that cannot ring is offered
        nothing (FACTS.md: an Originate to it fails at once, and would count as a miss)."""
        agent = self.agent_of_device.get(device)
        if agent is None:
            return
        available = state not in UNREACHABLE_DEVICE_STATES
        if available != self.router.agents[agent].device_available:
            log.info("agent %s: phone %s %s", agent, device, state)
        self._apply(self.router.agent_device(agent, available, self.now()))

    async def _list_devices(self) -> None:
        try:
            items = await self.link.list_action("DeviceStateList")
        except TelephonyError as err:
            log.warning("listing the agents' phones failed: %s", err)
            return
        for item in items:
            self._device(item.get("Device", ""), item.get("State", ""))

    def _new_call(self, msg: Message, call_id: str | None = None) -> CallState:
        channel = msg["Channel"]
        adopted = call_id is not None  # from Status after a restart, still in the menus
        call_id = call_id or f"vx-{msg.get('Uniqueid', '')}"
        state = CallState(call_id, channel, msg.get("CallerIDNum", ""), self.version, self.now(),
                          AgiCallIO(self.link, channel, prompt_exists=self.prompt_exists))
        self.calls[channel] = state
        self.by_call_id[call_id] = state
        self.counts["calls"] += 1
        state.number = msg.get("Exten", "")
        log.debug("call %s: %s from %s on %s", call_id, channel, state.caller,
                  msg.get("Exten"))
        if adopted:  # its lease may be running out
            state.io.renew_lease_nowait(self.settings.lease)
        elif self._overload_check() and self.version.config.overload.prompt:
            state.outcome = Outcome("overload", None, "sv", ())
            state.task = self._spawn(self._turn_away(state))
            return state
        state.task = self._spawn(self._run_call(state, msg.get("Exten", "")))
        return state

    def _overload_check(self) -> bool:
        """Overloaded while actions are answered overload.lag late on average, or the link
        holds back actions for lack of room; released below half of both."""
        link = self.link
        limit = self.version.config.overload.lag
        late = link.lag / self.time_scale  # in the calls' seconds, as the limit is
        full = link.unanswered >= link.max_unanswered
        if not self.overloaded and (late > limit or full):
            self.overloaded = True
            log.warning("overload: Asterisk answers %.1f s late; new callers hear %s",
                        late, self.version.config.overload.prompt)
        elif self.overloaded and late < limit / 2 and \
                link.unanswered < link.max_unanswered // 2:
            self.overloaded = False
            log.warning("overload over: Asterisk answers in %.1f s", late)
        return self.overloaded

    async def _turn_away(self, state: CallState) -> None:
        """Overload: a short message instead of the menus, then goodbye."""
        self.counts["turned_away"] += 1
        self._note(state, "overload: told to call again")
        config = self.version.config
        entry = config.numbers.get(state.number)
        lang = entry.language if entry is not None else "sv"
        with contextlib.suppress(CallerGone, LinkFault):
            await state.io.play(sound(config.overload.prompt or "", lang), escape="")
        await self._end(state)

    async def _resync(self) -> None:
        """After (re)connecting: Status of every channel, with our variables. Known calls are
        checked against it (gone, or answered or failed while we could not see); callers of
        ours we do not know (a restart) are adopted again with their place in line."""
        try:
            items = await self.link.list_action("Status",
                                                [("Variables", ",".join(STATE_VARIABLES))])
        except TelephonyError as err:
            log.warning("resync failed: %s", err)
            return
        try:
            self._reconcile(items)
        finally:
            self._take_up_orphans()
            self._apply(self.router.set_offering(True, self.now()))

    def _reconcile(self, items: list[Message]) -> None:
        present = {m.get("Channel", ""): m for m in items}
        uniqueids = {m.get("Uniqueid", "") for m in items}
        for channel, state in list(self.calls.items()):
            status = present.get(channel)
            if status is None:
                # gone while we could not see: hung up, or a whole conversation happened (the
                # dialplan hangs up after the agent); both end the call here
                self._caller_gone(state)
            elif state.agent_leg is not None and not state.bridged:
                if status.get("BridgeID"):
                    self._bridged(state)  # answered while we could not see
                elif state.agent_leg not in uniqueids:
                    self._leg_failed(state.agent_leg)
        for leg, call_id in list(self.legs.items()):
            if leg not in uniqueids and call_id not in self.by_call_id:
                self._leg_ended(leg)  # its Hangup came while we could not see
        for channel, status in present.items():
            values = {k: v for k, v in status.variables().items() if v not in ("", "(null)")}
            if channel in self.calls or "VAXEL_CALLID" not in values:
                continue
            if status.get("Application") == "AGI" and not status.get("BridgeID"):
                self._adopt(status, values)

    def _adopt(self, status: Message, values: dict[str, str]) -> None:
        """A caller of ours from before a restart: back in line where they were, or (still in
        the menus) through the IVR again."""
        call_id = values["VAXEL_CALLID"]
        group, _, arrived = values.get("VAXEL_PLACE", "").partition(" ")
        log.info("call %s: adopted again (%s)", call_id, group or "in the menus")
        if group not in self.version.config.groups:
            self._new_call(status, call_id)
            return
        state = CallState(call_id, status["Channel"], status.get("CallerIDNum", ""),
                          self.version, self.now(),
                          AgiCallIO(self.link, status["Channel"],
                                    prompt_exists=self.prompt_exists))
        state.group = group
        self._note(state, f"adopted in {group}")
        self.calls[state.channel] = state
        self.by_call_id[call_id] = state
        state.io.renew_lease_nowait(self.settings.lease)  # it may be running out
        try:
            arrival = float(arrived)
        except ValueError:
            arrival = self.now()
        self._apply(self.router.call_arrived(call_id, group, self.now(), arrival=arrival))
        if call_id in self.router.calls and not state.bridged:
            state.hold = self._spawn(self._hold(state))

    def _note(self, state: CallState, event: str) -> None:
        """A call event: kept on the call (the API shows them), logged as it happens only at
        DEBUG (`vaxel run --verbose`); INFO has one line a call when it ends (_caller_gone).
        Five lines a call were a third of the controller's CPU (bench_controller --log)."""
        state.events.append(event)
        log.debug("call %s %s", state.call_id, event)

    def _remember_place(self, state: CallState, group: str, arrival: float) -> None:
        """Writes the caller's place on its channel, for a restarted controller (best effort:
        without it a restarted controller sends the caller through the menus again)."""
        self.link.send("Setvar", [("Channel", state.channel), ("Variable", "VAXEL_PLACE"),
                                  ("Value", f"{group} {arrival:.3f}")])

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
        for state in list(self.calls.values()):
            if not state.bridged:
                state.io.renew_lease_nowait(lease)

    async def _run_call(self, state: CallState, number: str) -> None:
        try:
            outcome = await run_ivr(state.version.config, number, state.io, self.wallclock(),
                                    self.now, crisis_switch=self.router.crisis)
            state.outcome = outcome
            self._note(state, f"ivr {outcome.kind} {outcome.target} keys={outcome.keys}")
            # no callback queue yet: a caller who asked for one waits in the group's line, which
            # serves them as well (hanging up would lose them)
            if outcome.kind in ("group", "callback") and outcome.target is not None:
                state.group = outcome.target
                arrival = self.now()
                self._remember_place(state, outcome.target, arrival)
                self._apply(self.router.call_arrived(state.call_id, outcome.target, arrival,
                                                     arrival=arrival))
                if state.call_id in self.router.calls and not state.bridged:
                    state.hold = self._spawn(self._hold(state))
            else:
                await self._end(state)  # a message, closed (both played), or a transfer
        except CallerGone:
            state.leaving = True
        except LinkFault as err:
            self._cut_short(state, err)

    def _cut_short(self, state: CallState, err: Exception) -> None:
        """A link fault ended the call's task: the caller is still in AGI, and is taken up
        again after the resync (_take_up_orphans), never left in silence."""
        log.warning("call %s: the AMI link failed under it (%s); taken up again after the "
                    "resync", state.call_id, err)
        state.cut_short = True

    def _take_up_orphans(self) -> None:
        """Every caller of ours in AGI is served: an IVR or hold task alive, or bridged (an
        agent, the partner). One that is not (a link fault cut its task short) is taken up
        again: the menus from the start if it had not chosen yet, else its line, else the
        goodbye it was given. Checked after every resync and by the lease keeper's sweep."""
        for state in list(self.calls.values()):
            if state.bridged or state.leaving or any(t is not None and not t.done()
                                                     for t in (state.task, state.hold)):
                continue
            if not state.cut_short:
                self.counts["orphans"] += 1
                log.error("call %s: nothing served it (%s); taken up again", state.call_id,
                          "; ".join(state.events) or "no event yet")
            state.cut_short = False
            if state.outcome is None:
                state.task = self._spawn(self._run_call(state, state.number))
            elif state.call_id in self.router.calls:
                state.hold = self._spawn(self._hold(state))
            else:
                state.task = self._spawn(self._end(state))

    async def _probe_lag(self) -> None:
        with contextlib.suppress(TelephonyError):
            await self.link.action("Ping")
        self._overload_check()

    async def _end(self, state: CallState) -> None:
        """Hangs the caller up; the call closes when its Hangup event comes."""
        state.leaving = True
        with contextlib.suppress(CallerGone, LinkFault):
            await state.io.hangup()

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
        lang = state.outcome.language if state.outcome is not None else "sv"
        try:
            await self._waiting(state, group, rules, leave, lang)
        except CallerGone:
            state.leaving = True
        except LinkFault as err:
            self._cut_short(state, err)

    async def _waiting(self, state: CallState, group: Any, rules: AnnounceRules, leave: str,
                       lang: str) -> None:
        """The hold loop (see _hold): until the call leaves the line or is bridged."""
        while state.call_id in self.router.calls:
            call = self.router.calls[state.call_id]
            if call.phase.value == "offered":
                await state.io.hold(HOLD_SLICE, escape="")
                continue
            if call.phase.value != "waiting":
                return
            position = self.router.position(state.call_id)
            serving = int(self.router.statistics()[call.group_id]["serving"])
            said, state.told = decide(rules, state.told, self.now(), position,
                                      self.router.ewt(state.call_id, self.now()), serving)
            key = None
            if not said.empty:
                parts = []
                if said.position is not None:
                    parts += phrases.position(said.position, lang)
                if said.ewt_minutes is not None:
                    parts += phrases.estimated_wait(said.ewt_minutes, lang)
                if group.leave is not None:
                    parts.append(group.leave.prompt)
                await state.io.stop_hold()
                for part in parts:
                    key = await state.io.play(sound(part, lang), escape=leave) if leave \
                        else await state.io.play(sound(part, lang), escape="")
                    if key:
                        break
            if not key:
                key = await state.io.hold(min(HOLD_SLICE, rules.every), escape=leave)
            if key and key == leave and group.leave is not None:
                await self._leave(state, group.leave.then, lang)
                return

    async def _leave(self, state: CallState, then: Any, lang: str) -> None:
        """The caller pressed the leave key: out of the line, then the configured action."""
        call = self.router.calls.get(state.call_id)
        if call is None or call.phase.value != "waiting":
            return
        self._note(state, "left the line")
        arrival = call.arrival
        self._apply(self.router.call_left(state.call_id, self.now()))
        await state.io.stop_hold()
        if then.group is not None:
            state.group = then.group
            self._remember_place(state, then.group, arrival)
            self._apply(self.router.call_arrived(state.call_id, then.group, self.now(),
                                                 arrival=arrival))
            if state.call_id in self.router.calls and not state.bridged:
                state.hold = self._spawn(self._hold(state))
            return
        if then.message is not None:
            await state.io.play(sound(then.message, lang), escape="")
        await self._end(state)

    # ---- the router's commands ---------------------------------------------------------------

    def _apply(self, outputs: list[Output]) -> None:
        for out in outputs:
            log.debug("router: %s", out)  # formatted only when DEBUG is on
            if isinstance(out, OfferCall):
                self._offer(out)
            elif isinstance(out, StartWrapUp):
                since = self.router.agents[out.agent_id].state_since
                self._timer(f"wrap:{out.agent_id}", out.seconds,
                            lambda a=out.agent_id, t=since: self._wrap_up_over(a, t))
            elif isinstance(out, CancelOffer):
                state = self.by_call_id.get(out.call_id)
                leg = next((k for k, v in self.legs.items() if v == out.call_id), None)
                if leg is not None:
                    self._spawn(self._hangup_leg(leg))
                if state is not None:
                    state.agent = None
            elif isinstance(out, SendToPartner):
                self._spawn(self._to_partner(self.by_call_id[out.call_id], out.reason))
            elif isinstance(out, RefuseCall):
                self._spawn(self._end(self.by_call_id[out.call_id]))
            elif isinstance(out, CallMoved):
                moved = self.by_call_id[out.call_id]
                moved.group = out.to_group
                if out.call_id in self.router.calls:
                    self._remember_place(moved, out.to_group,
                                         self.router.calls[out.call_id].arrival)
            elif isinstance(out, AgentAutoPaused):
                self.counts["auto_paused"] += 1
                log.warning("agent %s paused after %d missed calls", out.agent_id, out.missed)
        self._schedule_tick()

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

    def _timer(self, key: str, seconds: float, fn: Callable[[], None]) -> None:
        old = self._timers.pop(key, None)
        if old is not None:
            old.cancel()
        self._timers[key] = asyncio.get_running_loop().call_later(seconds * self.time_scale, fn)

    def _offer(self, out: OfferCall) -> None:
        state = self.by_call_id[out.call_id]
        leg = f"{self._leg_prefix}{next(self._ids)}"
        state.agent, state.agent_leg = out.agent_id, leg
        self.legs[leg] = out.call_id
        group = self.version.config.groups[out.group_id]
        caller_id = f"{group.name} <{state.caller}>"
        ring = group.ring if group.ring is not None else self.settings.agent_ring
        self._spawn(self._originate(leg, out.agent_id, state.channel, caller_id, ring))

    async def _originate(self, leg: str, agent_id: str, caller: str, caller_id: str,
                         ring: float) -> None:
        """Rings the agent's own device: the leg is the phone's channel, named by our
        ChannelId, so its Hangup is the agent's and transfers and hold act on it directly."""
        device = self.devices.get(agent_id)
        if device is None:
            log.error("agent %s has no device in telephony.yaml: cannot ring them", agent_id)
            self._leg_failed(leg)
            return
        try:
            await self.link.action("Originate", [
                ("Channel", device), ("Application", "Bridge"),
                ("Data", caller), ("Async", "true"), ("ChannelId", leg),
                ("Timeout", str(round(ring * 1000))), ("CallerID", caller_id)])
        except (NotConnected, ConnectionLost, ActionTimeout) as err:
            # the PBX was never asked, or its answer was lost: not the agent's miss
            log.warning("originate of %s not made: %s", leg, err)
            self._offer_withdrawn(leg)
            if isinstance(err, ActionTimeout):  # it may ring after all: stop it
                self._spawn(self._hangup_leg(leg))
        except TelephonyError as err:
            log.warning("originate of %s failed: %s", leg, err)
            self._leg_failed(leg)

    async def _hangup_leg(self, leg: str) -> None:
        """Stops a ringing agent leg by its ChannelId: Asterisk looks a channel up by name,
        then by Uniqueid (ast_channel_get_by_name), for Hangup as for every action."""
        with contextlib.suppress(TelephonyError):
            await self.link.action("Hangup", [("Channel", leg)])

    async def _to_partner(self, state: CallState, reason: str) -> None:
        """Overflow: clear the lease first (a caller bridged by Dial keeps it and would be cut
        when it runs out), then Redirect to the partner context, where only allowlisted numbers
        exist."""
        self._note(state, f"to partner: {reason}")
        _stop(state.hold)
        state.hold = None
        number = self.settings.partner.numbers[0]
        state.bridged = True  # out of AGI: the lease keeper must not re-arm it (nor the sweep)
        try:
            await state.io.clear_lease()
            await self.link.action("Redirect", [("Channel", state.channel),
                                                ("Context", "vaxel-partner"), ("Exten", number),
                                                ("Priority", "1")])
        except TelephonyError as err:
            log.warning("call %s: redirect to the partner failed: %s", state.call_id, err)
            state.bridged = False
            self._apply(self.router.partner_finished(state.call_id, self.now(), answered=False))

    async def _back_from_partner(self, state: CallState) -> None:
        """Back in AGI after the partner's Dial: answered and done, or back to the line."""
        state.bridged = state.leaving = False  # it left AGI for the partner, and is back
        try:
            status = await state.io.get_variable("DIALSTATUS")
        except CallerGone:
            state.leaving = True
            return
        except LinkFault as err:  # the partner's result is unknown: the line takes them back
            self._cut_short(state, err)
            status = "UNKNOWN"
        answered = status == "ANSWER"
        self._note(state, f"partner {status}")
        self.counts["partner"] += answered
        self._apply(self.router.partner_finished(state.call_id, self.now(), answered=answered))
        if answered:
            await self._end(state)
        elif state.call_id in self.router.calls:  # back in line, or already ringing an agent
            state.hold = self._spawn(self._hold(state))

    # ---- facts back from Asterisk ------------------------------------------------------------

    def _bridged(self, state: CallState) -> None:
        """The agent answered: the caller left AGI into the bridge (the lease is wiped). Said
        once: a second BridgeEnter of the same caller (a bridge swap) changes nothing."""
        if state.bridged:
            return
        state.bridged = True
        _stop(state.hold)  # its WAIT FOR DIGIT will never report: the bridge took the call
        state.hold = None
        if state.agent is not None and state.call_id in self.router.calls:
            self._note(state, f"connected to {state.agent}")
            call = self.router.calls[state.call_id]
            waited = self.now() - call.arrival
            self.counts["answered"] += 1
            group = self.version.config.groups[call.group_id]
            self.counts["within_threshold"] += waited <= group.threshold
            self.counts["within_2_minutes"] += waited <= MUNICIPAL_GOAL_SECONDS
            self._apply(self.router.offer_answered(state.agent, self.now()))

    def _leg_failed(self, leg: str) -> None:
        """The agent's phone did not answer (no answer, busy, declined): a miss of theirs."""
        if (taken := self._take_offer(leg)) is not None:
            state, agent = taken
            self._note(state, f"{agent} did not answer")
            self._apply(self.router.offer_failed(agent, self.now()))

    def _offer_withdrawn(self, leg: str) -> None:
        """The PBX could not be asked, or its answer was lost: no miss. With the link down,
        no offers until the resync; with it up (an answer too late), offers go on."""
        if (taken := self._take_offer(leg)) is not None:
            state, agent = taken
            self._note(state, f"offer to {agent} withdrawn: the PBX could not be reached")
            if not self.link.connected:
                self._apply(self.router.set_offering(False, self.now()))
            self._apply(self.router.offer_withdrawn(agent, self.now()))

    def _take_offer(self, leg: str) -> tuple[CallState, str] | None:
        """The call and agent of an offer that just ended unanswered (once: facts repeat)."""
        state = self.by_call_id.get(self.legs.pop(leg, None) or "")
        if state is None or state.agent is None:
            return None
        agent, state.agent = state.agent, None
        return state, agent

    def _leg_ended(self, leg: str) -> None:
        """The agent leg hung up: after a conversation the call ends; before one (rung out or
        cancelled; its Hangup may come before its OriginateResponse) it is a failed offer."""
        state = self.by_call_id.get(self.legs.get(leg, ""))
        if state is not None and not state.bridged:
            self._leg_failed(leg)
            return
        self.legs.pop(leg, None)
        if (state is not None and state.agent is not None
                and state.call_id in self.router.calls):
            self._note(state, "agent hung up")
            agent, state.agent = state.agent, None
            self._apply(self.router.call_ended(agent, self.now()))

    def _caller_gone(self, state: CallState) -> None:
        self._note(state, "caller hung up")
        log.info("call %s %s from %s on %s: %s", state.call_id, state.channel, state.caller,
                 state.number or "?", "; ".join(state.events))
        for task in (state.task, state.hold):
            _stop(task)
        state.task = state.hold = None
        self.calls.pop(state.channel, None)
        self.by_call_id.pop(state.call_id, None)  # its agent leg's end finds no call: fine
        state.agent = None  # whatever the agent's leg does next, this call is over
        if state.call_id in self.router.calls:
            if self.router.calls[state.call_id].phase.value in ("waiting", "offered"):
                self.counts["abandoned"] += 1
            self._apply(self.router.call_left(state.call_id, self.now()))


def _stop(task: asyncio.Task[Any] | None) -> None:
    """Cancels a call's task; the caller then forgets it. Kept, a cancelled task holds its
    CancelledError, whose traceback holds the frame that holds the call's state, which holds the
    task: a reference cycle only a full collection frees (40 ms of stall at 500 calls)."""
    if task is not None:
        task.cancel()
