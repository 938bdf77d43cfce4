"""The simulator: the routing core in virtual time, for capacity planning and for checking the core
against queueing theory.

Discrete-event: a heap keyed on (time, sequence), so events at the same instant run in the order
they were scheduled and a run is a pure function of its scenario and seed. The Router is the one
the controller uses; the simulator only plays the world around it (callers, agents' devices, the
partner) and measures. Given `publish`, it tells the same domain events the controller does
(controller/events.py: arrived, queued, offered, connected, abandoned, overflowed, partner
result, refused, ended, the agents' states), in virtual seconds and with version 0, so a
simulated day can feed what a real day feeds.
"""

from __future__ import annotations

import enum
import heapq
import random
import statistics
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

from agents.agent import Agent, Membership
from agents.state import AgentState
from controller import events as ev
from controller.scenario import Scenario
from queues.commands import (
    AgentAutoPaused,
    AgentChanged,
    CallMoved,
    CancelOffer,
    OfferCall,
    Output,
    RefuseCall,
    SendToPartner,
    StartWrapUp,
)
from queues.kpi import Figures
from queues.lifecycle import CallPhase
from queues.router import Router


class Kind(enum.IntEnum):
    SHIFT_START = 0
    SHIFT_END = 1
    ARRIVAL = 2
    ANSWER = 3
    HANGUP = 4
    WRAP_UP_END = 5
    PARTNER_END = 6
    ABANDON = 7
    TICK = 8
    CALLBACK_RESULT = 9  # the agent called the citizen back: reached or not
    CALLBACK_DUE = 10  # a request's next attempt: back in its place in line


@dataclass
class GroupResult:
    offered: int = 0
    answered: int = 0
    answered_in_threshold: int = 0
    abandoned: int = 0
    overflowed: int = 0  # sent to the partner
    moved_out: int = 0  # moved to another group by an overflow rule
    refused: int = 0
    waited: int = 0  # answered or abandoned after waiting at all
    wait_total: float = 0.0
    callbacks: int = 0  # callers who took a callback instead of waiting
    callbacks_reached: int = 0
    callbacks_in_target: int = 0  # reached within the callback target of the request
    callbacks_failed: int = 0  # every attempt failed


@dataclass
class SimulationResult:
    scenario: str
    seed: int
    offered: int
    answered: int
    abandoned: int
    overflowed: int
    refused: int
    unserved: int  # still waiting when the last agent went home
    service_level: float  # answered within threshold / answered
    service_level_offered: float  # answered within threshold / offered
    wait_probability: float  # had to wait at all / (answered + abandoned)
    asa_seconds: float
    occupancy: float
    ewt_median_abs_error_seconds: float | None
    ewt_samples: int
    threshold_seconds: float | None  # None when groups have different thresholds
    simulated_hours: float
    groups: dict[str, GroupResult] = field(default_factory=dict)
    abandon_rate: float = 0.0  # abandoned / offered
    callbacks: int = 0
    callbacks_reached: int = 0
    callbacks_failed: int = 0
    callback_service_level: float | None = None  # reached in target / reached or failed

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def _share(a: int, b: int) -> float:
    return a / b if b else 0.0


class Simulation:
    def __init__(self, scenario: Scenario, progress: Callable[[float], None] | None = None,
                 publish: Callable[[ev.Event], None] | None = None) -> None:
        self.s = scenario
        self._publish = publish
        # Each caller's arrival, group, patience and talk time come from one stream, drawn as
        # they arrive: the same seed gives the same callers whatever happens to them (a day
        # with and without callbacks compares the same day); the partner's and the callbacks'
        # chances have streams of their own.
        self.rng = random.Random(scenario.seed)
        self._partner_rng = random.Random(scenario.seed + 1)
        self._cb_rng = random.Random(scenario.seed + 2)
        self._progress = progress
        agents, self._shift_agents = [], []
        for i, shift in enumerate(scenario.shifts):
            ids = []
            for j in range(shift.count):
                aid = f"s{i}a{j}"
                members = {g: Membership(g, lv) for g, lv in shift.groups.items()}
                agents.append(Agent(aid, members, auto_pause_after=None))
                ids.append(aid)
            self._shift_agents.append(ids)
        self.router = Router(
            [g.config for g in scenario.groups], agents,
            rules={g.config.group_id: g.rules for g in scenario.groups},
            partner=scenario.partner,
        )
        self._handle = {g.config.group_id: g.handle_time.sampler(self.rng) for g in scenario.groups}
        self._partner_handle = scenario.partner_handle_time.sampler(self._partner_rng)
        self._group_ids = [g.config.group_id for g in scenario.groups]
        self._cum_shares = []
        acc = 0.0
        for g in scenario.groups:
            acc += g.share
            self._cum_shares.append(acc)
        self._heap: list[tuple[float, int, Kind, str]] = []
        self._seq = 0
        self._tick_at: float | None = None
        self._pending_logout: set[str] = set()
        self._login_at: dict[str, float] = {}
        self._logged_in_time = 0.0
        self._busy_time = 0.0
        self._answered_at: dict[str, float] = {}
        self._arrival: dict[str, float] = {}
        self._first_group: dict[str, str] = {}
        self._predicted: dict[str, float] = {}
        self._ewt_errors: list[float] = []
        self._talk: dict[str, float] = {}  # each caller's talk time, drawn on arrival
        self._callbacks: dict[str, int] = {}  # requests pending: attempts made
        self._requested: dict[str, float] = {}
        self.results = {gid: GroupResult() for gid in self._group_ids}

    def _tell(self, cls: type[ev.CallEvent], now: float, call_id: str, group: str | None,
              **fields: object) -> None:
        if self._publish is not None:
            self._publish(cls(at=now, version=0, call_id=call_id, group=group, **fields))

    def _tell_callback(self, cls: type[ev.CallbackEvent], now: float, call_id: str, group: str,
                       **fields: object) -> None:
        if self._publish is not None:
            self._publish(cls(at=now, version=0, call_id=call_id, group=group, **fields))

    def _push(self, when: float, kind: Kind, key: str) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (when, self._seq, kind, key))

    def _rate(self, t: float) -> float:
        rates = self.s.calls_per_hour
        return rates[min(int(t // 3600.0), len(rates) - 1)]

    def _schedule_arrival(self, t: float) -> None:
        """Poisson arrivals with a rate that may change each hour (memoryless: at each hour
        boundary the draw simply restarts with the new rate)."""
        end = self.s.hours * 3600.0
        while t < end:
            rate = self._rate(t) / 3600.0
            boundary = min((t // 3600.0 + 1) * 3600.0, end)
            if rate > 0:
                nxt = t + self.rng.expovariate(rate)
                if nxt < boundary:
                    self._push(nxt, Kind.ARRIVAL, "")
                    return
            t = boundary

    def run(self) -> SimulationResult:
        for i, shift in enumerate(self.s.shifts):
            for aid in self._shift_agents[i]:
                self._push(max(shift.start, 0.0), Kind.SHIFT_START, aid)
                if shift.end is not None:
                    self._push(shift.end, Kind.SHIFT_END, aid)
        self._schedule_arrival(0.0)
        router, heap, rng = self.router, self._heap, self.rng
        n_calls = 0
        now = 0.0
        report_every = 5000
        events = 0
        while heap:
            now, _, kind, key = heapq.heappop(heap)
            events += 1
            if self._progress is not None and events % report_every == 0:
                self._progress(now)
            if kind is Kind.ARRIVAL:
                n_calls += 1
                call_id = f"c{n_calls}"
                gid = self._pick_group()
                self._arrival[call_id] = now
                self._first_group[call_id] = gid
                self.results[gid].offered += 1
                self._tell(ev.CallArrived, now, call_id, None, number=self.s.name, caller="")
                self._tell(ev.Queued, now, call_id, gid, position=router.waiting_count(gid) + 1,
                           arrival=now)
                self._talk[call_id] = self._handle[gid]()
                patience = (None if self.s.patience is None
                            else rng.expovariate(1.0 / self.s.patience))
                self._apply(router.call_arrived(call_id, gid, now), now)
                call = router.calls.get(call_id)
                if call is not None and call.phase is CallPhase.WAITING:
                    ewt = router.ewt(call_id, now)
                    cb = self.s.callbacks
                    if (cb is not None and ewt is not None and ewt >= cb.offer_over
                            and self._cb_rng.random() < cb.accept):
                        self._book(call_id, gid, now)
                    else:
                        if ewt is not None:
                            self._predicted[call_id] = ewt
                        if patience is not None:
                            self._push(now + patience, Kind.ABANDON, call_id)
                self._schedule_arrival(now)
            elif kind is Kind.ANSWER:
                self._answer(key, now)
            elif kind is Kind.HANGUP:
                agent = router.agents[key]
                self._busy_time += now - agent.state_since
                if agent.call_id in self._callbacks:
                    self._tell_callback(ev.CallbackEnded, now, agent.call_id,
                                        agent.call_group or "", outcome="reached",
                                        attempts=self._callbacks.pop(agent.call_id), by="agent")
                elif agent.call_id is not None:
                    self._tell(ev.CallEnded, now, agent.call_id, agent.call_group,
                               hung_up_by="agent", phase="connected", agent=key)
                self._apply(router.call_ended(key, now), now)
            elif kind is Kind.WRAP_UP_END:
                agent = router.agents[key]
                self._busy_time += now - agent.state_since
                if key in self._pending_logout:
                    self._logout(key, now)
                else:
                    self._apply(router.wrap_up_done(key, now), now)
            elif kind is Kind.ABANDON:
                call = router.calls.get(key)
                if call is not None and not call.callback and call.phase in (
                        CallPhase.WAITING, CallPhase.OFFERED):
                    res = self.results[call.group_id]
                    res.abandoned += 1
                    res.waited += 1
                    self._predicted.pop(key, None)
                    self._tell(ev.Abandoned, now, key, call.group_id, phase=call.phase.value,
                               waited=now - self._arrival[key])
                    self._tell(ev.CallEnded, now, key, call.group_id, hung_up_by="caller",
                               phase=call.phase.value, agent=call.agent_id)
                    self._apply(router.call_left(key, now), now)
            elif kind is Kind.PARTNER_END:
                group = router.calls[key].group_id
                self._tell(ev.PartnerResult, now, key, group, status="ANSWER", answered=True)
                self._tell(ev.CallEnded, now, key, group, hung_up_by="partner",
                           phase="at_partner", agent=None)
                self._apply(router.partner_finished(key, now, answered=True), now)
            elif kind is Kind.SHIFT_START:
                self._login_at[key] = now
                self._apply(router.agent_logged_in(key, now), now)
            elif kind is Kind.SHIFT_END:
                if router.agents[key].state in (AgentState.READY, AgentState.PAUSED):
                    self._logout(key, now)
                else:
                    self._pending_logout.add(key)
            elif kind is Kind.TICK:
                self._tick_at = None
                self._apply(router.tick(now), now)
            elif kind is Kind.CALLBACK_RESULT:
                self._callback_result(key, now)
            elif kind is Kind.CALLBACK_DUE:
                self._apply(router.call_arrived(key, self._first_group[key], now,
                                                arrival=self._arrival[key], callback=True), now)
            deadline = router.next_deadline()
            if deadline is not None and (self._tick_at is None or deadline < self._tick_at):
                self._tick_at = deadline
                self._push(deadline, Kind.TICK, "")
        for since in self._login_at.values():
            self._logged_in_time += now - since
        return self._result()

    def _pick_group(self) -> str:
        if len(self._group_ids) == 1:
            return self._group_ids[0]
        x = self.rng.random()
        for gid, cum in zip(self._group_ids, self._cum_shares, strict=True):
            if x < cum:
                return gid
        return self._group_ids[-1]

    def _logout(self, agent_id: str, now: float) -> None:
        self._pending_logout.discard(agent_id)
        self._logged_in_time += now - self._login_at.pop(agent_id)
        self._apply(self.router.agent_logged_out(agent_id, now), now)

    def _book(self, call_id: str, group: str, now: float) -> None:
        """The caller takes a callback: the request keeps their place, they hang up."""
        cb = self.s.callbacks
        assert cb is not None
        self._callbacks[call_id] = 0
        self._requested[call_id] = now
        self.results[group].callbacks += 1
        self._tell_callback(ev.CallbackRequested, now, call_id, group, caller="",
                            language="sv", source="waiting", arrival=self._arrival[call_id],
                            target=cb.target)
        self._tell(ev.CallEnded, now, call_id, group, hung_up_by="vaxel", phase="waiting",
                   agent=None)
        self._apply(self.router.to_callback(call_id, now), now)

    def _callback_result(self, agent_id: str, now: float) -> None:
        """The agent, on the line first, called the citizen: talk, or the request leaves the
        line until its next attempt (or has failed)."""
        router, cb = self.router, self.s.callbacks
        agent = router.agents[agent_id]
        call_id = agent.call_id
        if cb is None or agent.state is not AgentState.RINGING or call_id not in self._callbacks:
            return
        self._busy_time += now - agent.state_since
        group = router.calls[call_id].group_id
        res = self.results[group]
        if self._cb_rng.random() < cb.reach:
            waited = now - self._requested[call_id]
            res.callbacks_reached += 1
            res.callbacks_in_target += waited <= cb.target
            self._apply(router.offer_answered(agent_id, now), now)
            self._tell_callback(ev.CallbackConnected, now, call_id, group, agent=agent_id,
                                attempt=self._callbacks[call_id], waited=waited,
                                target=cb.target)
            self._push(now + self._talk.pop(call_id), Kind.HANGUP, agent_id)
            return
        attempts = self._callbacks[call_id]
        retry = now + cb.spacing if attempts < cb.attempts else None
        self._tell_callback(ev.CallbackAttemptFailed, now, call_id, group, agent=agent_id,
                            attempt=attempts, why="no answer", retry_at=retry)
        self._apply(router.call_left(call_id, now), now)
        if retry is not None:
            self._push(retry, Kind.CALLBACK_DUE, call_id)
        else:
            res.callbacks_failed += 1
            del self._callbacks[call_id]
            self._tell_callback(ev.CallbackEnded, now, call_id, group, outcome="failed",
                                attempts=attempts, by="vaxel")

    def _answer(self, agent_id: str, now: float) -> None:
        router = self.router
        agent = router.agents[agent_id]
        if agent.state is not AgentState.RINGING:
            return  # the caller left while it rang
        call_id = agent.call_id
        assert call_id is not None
        group = router.calls[call_id].group_id
        if call_id in self._callbacks:  # agent first: they dial the citizen now
            cb = self.s.callbacks
            assert cb is not None
            self._callbacks[call_id] += 1
            self._tell_callback(ev.CallbackDialling, now, call_id, group, agent=agent_id,
                                attempt=self._callbacks[call_id], leg="")
            self._push(now + cb.dial, Kind.CALLBACK_RESULT, agent_id)
            return
        self._busy_time += now - agent.state_since
        self._apply(router.offer_answered(agent_id, now), now)
        wait = now - self._arrival[call_id]
        self._tell(ev.Connected, now, call_id, group, agent=agent_id, waited=wait,
                   threshold=router.group_config(group).threshold)
        res = self.results[group]
        res.answered += 1
        res.wait_total += wait
        if wait > 0:
            res.waited += 1
        if wait <= router.group_config(group).threshold:
            res.answered_in_threshold += 1
        predicted = self._predicted.pop(call_id, None)
        if predicted is not None:
            self._ewt_errors.append(abs(predicted - wait))
        self._push(now + self._talk.pop(call_id), Kind.HANGUP, agent_id)

    def _apply(self, outputs: list[Output], now: float) -> None:
        for out in outputs:
            if self._publish is not None:
                self._tell_output(out, now)
            if isinstance(out, OfferCall):
                if self.s.ring_time > 0:
                    self._push(now + self.s.ring_time, Kind.ANSWER, out.agent_id)
                else:
                    self._answer(out.agent_id, now)
            elif isinstance(out, StartWrapUp):
                self._push(now + out.seconds, Kind.WRAP_UP_END, out.agent_id)
            elif isinstance(out, SendToPartner):
                self.results[out.group_id].overflowed += 1
                self._predicted.pop(out.call_id, None)
                self._push(now + self._partner_handle(), Kind.PARTNER_END, out.call_id)
            elif isinstance(out, CallMoved):
                self.results[out.from_group].moved_out += 1
            elif isinstance(out, RefuseCall):
                self.results[out.group_id].refused += 1
                self._predicted.pop(out.call_id, None)
            elif isinstance(out, CancelOffer | AgentAutoPaused | AgentChanged):
                pass  # devices in the simulator always answer; nothing rings on

    def _tell_output(self, out: Output, now: float) -> None:
        """The events of the router's outputs, as the controller tells them."""
        publish = self._publish
        assert publish is not None
        if isinstance(out, AgentChanged):
            publish(ev.AgentChanged(at=now, version=0, agent=out.agent_id,
                                    state=out.state.value, reason=out.reason, cause=out.event,
                                    call_id=out.call_id))
        elif isinstance(out, StartWrapUp):
            publish(ev.WrapUpStarted(at=now, version=0, agent=out.agent_id,
                                     seconds=out.seconds))
        elif isinstance(out, OfferCall) and out.call_id in self._callbacks:
            self._tell_callback(ev.CallbackOffered, now, out.call_id, out.group_id,
                                agent=out.agent_id, leg="")
        elif isinstance(out, OfferCall):
            self._tell(ev.Offered, now, out.call_id, out.group_id, agent=out.agent_id)
        elif isinstance(out, SendToPartner):
            self._tell(ev.Overflowed, now, out.call_id, out.group_id, target="partner",
                       rule=out.reason)
        elif isinstance(out, CallMoved):
            self._tell(ev.Overflowed, now, out.call_id, out.from_group, target=out.to_group,
                       rule=out.reason)
        elif isinstance(out, RefuseCall):
            self._tell(ev.Refused, now, out.call_id, out.group_id, why=out.reason, prompt=None)
            self._tell(ev.CallEnded, now, out.call_id, out.group_id, hung_up_by="vaxel",
                       phase="waiting", agent=None)

    def _result(self) -> SimulationResult:
        r = self.results.values()
        offered = sum(g.offered for g in r)
        answered = sum(g.answered for g in r)
        within = sum(g.answered_in_threshold for g in r)
        abandoned = sum(g.abandoned for g in r)
        thresholds = {g.config.threshold for g in self.s.groups}
        errors = self._ewt_errors
        return SimulationResult(
            scenario=self.s.name, seed=self.s.seed,
            offered=offered, answered=answered, abandoned=abandoned,
            overflowed=sum(g.overflowed for g in r), refused=sum(g.refused for g in r),
            unserved=len(self.router.calls),
            # the ratio as queues/kpi.py defines it for the reports and the live counters
            service_level=Figures(answered=answered,
                                  answered_in_threshold=within).service_level or 0.0,
            service_level_offered=_share(within, offered),
            wait_probability=_share(sum(g.waited for g in r), answered + abandoned),
            asa_seconds=(sum(g.wait_total for g in r) / answered) if answered else 0.0,
            occupancy=self._busy_time / self._logged_in_time if self._logged_in_time else 0.0,
            ewt_median_abs_error_seconds=statistics.median(errors) if errors else None,
            ewt_samples=len(errors),
            threshold_seconds=thresholds.pop() if len(thresholds) == 1 else None,
            simulated_hours=self.s.hours,
            groups=dict(self.results),
            abandon_rate=_share(abandoned, offered),
            callbacks=sum(g.callbacks for g in r),
            callbacks_reached=(reached := sum(g.callbacks_reached for g in r)),
            callbacks_failed=(failed := sum(g.callbacks_failed for g in r)),
            callback_service_level=(sum(g.callbacks_in_target for g in r) / (reached + failed)
                                    if reached + failed else None),
        )


def simulate(scenario: Scenario, progress: Callable[[float], None] | None = None,
             publish: Callable[[ev.Event], None] | None = None) -> SimulationResult:
    return Simulation(scenario, progress, publish).run()
