"""The router: who gets which call.

Theory of operation. The shell reports facts (a call arrived, an agent became ready, an offer was
not answered, a timer fired), each with the current time; the router updates its state and returns
the commands that follow (offer this call to this agent, send that caller to the partner, start a
wrap-up). It never reads a clock and does no I/O, so the controller and the simulator drive the very
same code.

After every fact the router restores one invariant: no ready agent idles while a waiting call they
may take waits. It does that locally, never by scanning everything:
- a call that joins a line is offered to the best ready agent admitted for it (the group's strategy
  among agents whose skill level the caller's wait admits);
- an agent who becomes ready takes the most urgent caller they may take: per group the first
  admitted caller in line order, across groups the highest priority, then the caller furthest behind
  their group's target (wait / threshold x weight);
- when a caller's wait reaches a skill-widening step, tick() offers them again with the wider set.
Within one priority class, line order is arrival order and so also wait order; the head of a class
is the caller admitted to the most agents, which is why looking at heads is enough.

Overflow rules are evaluated when a call joins a line and when a group loses capacity or changes
state (agent paused or logged out, closed, crisis, manual switch, partner capacity freed).
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from agents.agent import Agent
from agents.state import SERVING, AgentEvent, AgentState
from overflow.partner import PartnerCaps, PartnerLedger
from overflow.policy import Destination, OverflowDecision, Rule, Situation, decide
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
from queues.ewt import estimated_wait, free_slots
from queues.group import GroupConfig, Opening
from queues.lifecycle import CallEvent, CallPhase, next_phase
from queues.ready import ReadyAgents
from queues.waiting import WaitingCall, WaitingList


@dataclass(slots=True)
class Call:
    call_id: str
    group_id: str
    priority: int
    arrival: float
    seq: int
    phase: CallPhase = CallPhase.IVR  # the router's part: waiting to connected, at the partner
    agent_id: str | None = None
    answered_at: float | None = None
    visited: set[str] = field(default_factory=set)  # groups tried, so overflow never cycles
    partner_failed: bool = False
    # a callback request (queues/callback.py): it keeps the caller's place, counts in the line's
    # position and wait, and is offered like a caller; no overflow rule moves it (nobody is on
    # the line to send to the partner) and the shell takes it out while its group is closed
    callback: bool = False

    def waiting_entry(self) -> WaitingCall:
        return WaitingCall(self.call_id, self.priority, self.arrival, self.seq)


@dataclass(slots=True)
class _Group:
    config: GroupConfig
    rules: tuple[Rule, ...]
    members: list[str]
    waiting: WaitingList
    ready: ReadyAgents
    opening: Opening = Opening.OPEN
    manual_overflow: bool = False
    logged_in: int = 0
    handle_time: float = 0.0  # learned mean handle time
    retired: bool = False  # removed from the configuration, draining its line

    @property
    def widens(self) -> bool:
        return len(self.config.widening) > 1


class UnknownEntity(KeyError):
    """The shell named a call, agent or group the router does not know (our fault)."""

    def __str__(self) -> str:
        return str(self.args[0])


def _check_rules(rules: Mapping[str, Sequence[Rule]], groups: set[str], partner: bool) -> None:
    for gid, group_rules in rules.items():
        if gid not in groups:
            raise ValueError(f"overflow rules for unknown group {gid!r}")
        for rule in group_rules:
            target = rule.destination.group_id
            if target is not None and target not in groups:
                raise ValueError(f"group {gid!r}: overflow to unknown group {target!r}")
            if target is None and not partner:
                raise ValueError(f"group {gid!r}: overflow to the partner, but none is set up")


class Router:
    def __init__(
        self,
        groups: Iterable[GroupConfig],
        agents: Iterable[Agent],
        rules: Mapping[str, Sequence[Rule]] | None = None,
        partner: PartnerCaps | None = None,
        learning_rate: float = 0.05,
    ) -> None:
        self.agents: dict[str, Agent] = {a.agent_id: a for a in agents}
        members: dict[str, list[str]] = {}
        for agent in self.agents.values():
            for gid in agent.memberships:
                members.setdefault(gid, []).append(agent.agent_id)
        self._groups: dict[str, _Group] = {}
        for cfg in groups:
            ids = members.pop(cfg.group_id, [])
            ring = {aid: i for i, aid in enumerate(ids)}
            self._groups[cfg.group_id] = _Group(
                cfg, tuple((rules or {}).get(cfg.group_id, ())), ids, WaitingList(),
                ReadyAgents(cfg.strategy, ring), handle_time=cfg.expected_handle_time,
            )
        if members:
            raise ValueError(f"agents are members of unknown groups: {sorted(members)}")
        _check_rules(rules or {}, set(self._groups), partner is not None)
        self.partner = PartnerLedger(partner) if partner is not None else None
        self.crisis = False
        self.overload = False  # Asterisk falls behind (set by the controller)
        # False while the PBX cannot be reached: nothing is offered (an offer would fail for the
        # link's fault and count against the agent); set_offering(True) offers what waits
        self.offering = True
        self.calls: dict[str, Call] = {}
        self._learning_rate = learning_rate
        self._seq = 0
        self._widenings: list[tuple[float, int, str]] = []  # (when, seq, call_id), lazily stale

    # ---- facts about calls -------------------------------------------------------------------

    def call_arrived(
        self, call_id: str, group_id: str, now: float, priority: int = 0,
        arrival: float | None = None, *, callback: bool = False,
    ) -> list[Output]:
        """A caller joins a group's line. `arrival` (default: now) is for a caller adopted
        again after a restart, or a callback request between attempts: they keep their place
        by their first arrival."""
        if call_id in self.calls:
            raise ValueError(f"call {call_id!r} is already known")
        self._group(group_id)
        self._seq += 1
        call = Call(call_id, group_id, priority, now if arrival is None else arrival, self._seq,
                    callback=callback)
        self.calls[call_id] = call
        out: list[Output] = []
        self._join(call, group_id, now, out, CallEvent.QUEUED)
        return out

    def call_left(self, call_id: str, now: float) -> list[Output]:
        """The caller hung up, in whatever phase."""
        call = self._call(call_id)
        out: list[Output] = []
        if call.phase is CallPhase.WAITING:
            self._group(call.group_id).waiting.remove(call_id)
        elif call.phase is CallPhase.OFFERED:
            self._agent_ready(self._cancel_offer(call, now, out), now, out)
        elif call.phase is CallPhase.CONNECTED:
            assert call.agent_id is not None
            return self.call_ended(call.agent_id, now)
        elif self.partner is not None:
            self.partner.release(call_id)
            self._after_partner_freed(now, out)
        del self.calls[call_id]
        return out

    def returned(self, call_id: str, group_id: str, agent_id: str, now: float,
                 arrival: float) -> list[Output]:
        """A caller whose transfer failed comes back: offered at once to the agent who
        transferred them when that agent can take a call (ready, or in wrap-up, which ends),
        else first in the group's line (priority 1), keeping their first arrival."""
        if call_id in self.calls:
            raise ValueError(f"call {call_id!r} is already known")
        group = self._group(group_id)
        self._seq += 1
        call = Call(call_id, group_id, 1, arrival, self._seq)
        self.calls[call_id] = call
        out: list[Output] = []
        agent = self.agents.get(agent_id)
        if (agent is not None and self.offering and agent.device_available
                and group_id in agent.memberships
                and agent.state in (AgentState.READY, AgentState.WRAP_UP)):
            if agent.state is AgentState.WRAP_UP:
                self._move(agent, AgentEvent.WRAPUP_DONE, now, out)
            call.phase = next_phase(call_id, call.phase, CallEvent.QUEUED)
            call.visited.add(group_id)
            group.waiting.add(call.waiting_entry())
            self._offer(call, agent, now, out)
            return out
        self._join(call, group_id, now, out, CallEvent.QUEUED)
        return out

    def to_callback(self, call_id: str, now: float) -> list[Output]:
        """A caller in line asked to be called back: their entry becomes the request, in the
        very same place (an offer ringing for them is withdrawn, with no miss: the request is
        offered afresh, agent first)."""
        call = self._call(call_id)
        out: list[Output] = []
        if call.phase is CallPhase.WAITING:
            call.callback = True
        elif call.phase is CallPhase.OFFERED:
            agent = self._cancel_offer(call, now, out)
            call.callback = True
            self._join(call, call.group_id, now, out, CallEvent.OFFER_ENDED)
            self._agent_ready(agent, now, out)
        else:
            raise ValueError(f"call {call_id!r} is {call.phase.value}, not in line")
        return out

    def partner_finished(self, call_id: str, now: float, *, answered: bool) -> list[Output]:
        """The partner leg ended; if unanswered, the caller goes back to their place in line."""
        call = self._call(call_id)
        if call.phase is not CallPhase.AT_PARTNER or self.partner is None:
            raise ValueError(f"call {call_id!r} is not at the partner")
        self.partner.release(call_id)
        out: list[Output] = []
        if answered:
            del self.calls[call_id]
        else:
            call.partner_failed = True
            self._join(call, call.group_id, now, out, CallEvent.BACK)
        self._after_partner_freed(now, out)
        return out

    # ---- facts about agents ------------------------------------------------------------------

    def agent_logged_in(self, agent_id: str, now: float) -> list[Output]:
        agent = self._agent(agent_id)
        out: list[Output] = []
        self._move(agent, AgentEvent.LOGIN, now, out)
        agent.missed_in_row = 0
        for gid in agent.memberships:
            self._groups[gid].logged_in += 1
        self._agent_ready(agent, now, out)
        return out

    def agent_paused(self, agent_id: str, reason: str, now: float) -> list[Output]:
        agent = self._agent(agent_id)
        out: list[Output] = []
        self._move(agent, AgentEvent.PAUSE, now, out, reason=reason)
        self._agent_unready(agent)
        self._reevaluate_groups(agent.memberships, now, out)
        return out

    def agent_unpaused(self, agent_id: str, now: float) -> list[Output]:
        agent = self._agent(agent_id)
        out: list[Output] = []
        self._move(agent, AgentEvent.UNPAUSE, now, out)
        agent.missed_in_row = 0
        self._agent_ready(agent, now, out)
        return out

    def agent_logged_out(self, agent_id: str, now: float) -> list[Output]:
        agent = self._agent(agent_id)
        out: list[Output] = []
        self._move(agent, AgentEvent.LOGOUT, now, out)
        self._agent_unready(agent)
        for gid in agent.memberships:
            self._groups[gid].logged_in -= 1
        self._reevaluate_groups(agent.memberships, now, out)
        return out

    def agent_device(self, agent_id: str, available: bool, now: float) -> list[Output]:
        """The agent's phone registered or went away. A ready agent with no phone is offered
        nothing (an Originate would fail at once, FACTS.md) and does not count as serving."""
        agent = self._agent(agent_id)
        if agent.device_available == available:
            return []
        agent.device_available = available
        out: list[Output] = []
        if not available:
            self._agent_unready(agent)
            self._reevaluate_groups(agent.memberships, now, out)
        elif agent.state is AgentState.READY:
            self._agent_ready(agent, now, out)
        return out

    def offer_withdrawn(self, agent_id: str, now: float) -> list[Output]:
        """The offer never reached the agent's phone (the PBX could not be asked): the agent is
        ready again with no miss counted, the caller back in their place in line."""
        agent = self._agent(agent_id)
        call = self.calls[self._agent_call(agent)]
        out: list[Output] = []
        self._move(agent, AgentEvent.CANCEL, now, out)
        agent.call_id = agent.call_group = None
        self._join(call, call.group_id, now, out, CallEvent.OFFER_ENDED)
        self._agent_ready(agent, now, out)
        return out

    def set_offering(self, on: bool, now: float) -> list[Output]:
        """Stops offering calls (the PBX is unreachable), or starts again and offers every
        ready agent the caller the router would have given them."""
        self.offering = on
        out: list[Output] = []
        if on:
            for agent in sorted(self.agents.values(), key=lambda a: a.state_since):
                if agent.state is AgentState.READY:
                    self._agent_ready(agent, now, out)
        return out

    def offer_answered(self, agent_id: str, now: float) -> list[Output]:
        agent = self._agent(agent_id)
        out: list[Output] = []
        self._move(agent, AgentEvent.ANSWER, now, out)
        agent.missed_in_row = 0
        call = self.calls[self._agent_call(agent)]
        call.phase = next_phase(call.call_id, call.phase, CallEvent.ANSWERED)
        call.answered_at = now
        agent.answered[call.group_id] = agent.answered.get(call.group_id, 0) + 1
        return out

    def offer_failed(self, agent_id: str, now: float) -> list[Output]:
        """No answer, busy or a failed dial: the caller goes back to their place in line."""
        agent = self._agent(agent_id)
        if agent.state is not AgentState.RINGING:
            agent.apply(AgentEvent.MISS, now)  # raises IllegalTransition, naming the state
        call = self.calls[self._agent_call(agent)]
        out: list[Output] = []
        pause = agent.record_miss()
        self._move(agent, AgentEvent.AUTO_PAUSE if pause else AgentEvent.MISS, now, out,
                   reason="auto: missed calls" if pause else None)
        agent.call_id = agent.call_group = None
        self._join(call, call.group_id, now, out, CallEvent.OFFER_ENDED)
        if pause:
            out.append(AgentAutoPaused(agent_id, agent.missed_in_row))
            self._reevaluate_groups(agent.memberships, now, out)
        else:
            self._agent_ready(agent, now, out)
        return out

    def call_ended(self, agent_id: str, now: float) -> list[Output]:
        """The connected call hung up (either side): the agent goes to wrap-up."""
        agent = self._agent(agent_id)
        call = self.calls[self._agent_call(agent)]
        answered_at = agent.state_since
        out: list[Output] = []
        self._move(agent, AgentEvent.HANGUP, now, out)
        group = self._groups[call.group_id]
        group.handle_time += self._learning_rate * ((now - answered_at) - group.handle_time)
        agent.call_id = agent.call_group = None
        del self.calls[call.call_id]
        # Always through wrap-up, even of 0 s: the shell decides what follows it (ready, or the
        # logout the agent asked for during the call).
        out.append(StartWrapUp(agent_id, group.config.wrap_up))
        return out

    def wrap_up_done(self, agent_id: str, now: float) -> list[Output]:
        agent = self._agent(agent_id)
        out: list[Output] = []
        self._move(agent, AgentEvent.WRAPUP_DONE, now, out)
        self._agent_ready(agent, now, out)
        return out

    # ---- facts about groups and switches ------------------------------------------------------

    def set_opening(self, group_id: str, opening: Opening, now: float) -> list[Output]:
        self._group(group_id).opening = opening
        out: list[Output] = []
        self._reevaluate_groups([group_id], now, out)
        return out

    def set_overload(self, on: bool, now: float) -> list[Output]:
        """The controller's overload policy: groups' `overload` rules apply while it is on."""
        self.overload = on
        out: list[Output] = []
        self._reevaluate_groups(list(self._groups), now, out)
        return out

    def set_crisis(self, on: bool, now: float) -> list[Output]:
        self.crisis = on
        out: list[Output] = []
        self._reevaluate_groups(list(self._groups), now, out)
        return out

    def manual_overflow(self, group_id: str) -> bool:
        return self._group(group_id).manual_overflow

    def set_manual_overflow(self, group_id: str, on: bool, now: float) -> list[Output]:
        self._group(group_id).manual_overflow = on
        out: list[Output] = []
        self._reevaluate_groups([group_id], now, out)
        return out

    # ---- a new configuration -------------------------------------------------------------------

    def reconfigure(self, groups: Iterable[GroupConfig], agents: Iterable[Agent],
                    rules: Mapping[str, Sequence[Rule]] | None = None,
                    partner: PartnerCaps | None = None, *, now: float) -> list[Output]:
        """Takes a new configuration without touching a call or a login: waiting callers keep
        their place, logged-in agents stay in their state, calls offered or connected go on.
        Changed groups take their new settings; a removed group takes no new callers and
        goes when its line is empty; agents take their new memberships (a new agent starts
        logged out; a removed one keeps working until it logs out)."""
        configs = {cfg.group_id: cfg for cfg in groups}
        if partner is not None:
            self.partner = self._partner_with(partner)
        _check_rules(rules or {}, set(configs), self.partner is not None)
        for agent in agents:
            current = self.agents.get(agent.agent_id)
            if current is None:
                self.agents[agent.agent_id] = agent
            else:
                current.memberships = dict(agent.memberships)
                current.name = agent.name
                current.auto_pause_after = agent.auto_pause_after
        members: dict[str, list[str]] = {gid: [] for gid in configs}
        for agent in self.agents.values():
            for gid in agent.memberships:
                if gid not in configs:
                    raise ValueError(f"agent {agent.agent_id!r} is a member of unknown group "
                                     f"{gid!r}")
                members[gid].append(agent.agent_id)
        for gid, cfg in configs.items():
            group_rules = tuple((rules or {}).get(gid, ()))
            old = self._groups.get(gid)
            ring = {aid: i for i, aid in enumerate(members[gid])}
            ready = ReadyAgents(cfg.strategy, ring)
            if old is None:
                self._groups[gid] = _Group(cfg, group_rules, members[gid], WaitingList(), ready,
                                           handle_time=cfg.expected_handle_time)
            else:
                old.config, old.rules, old.ready = cfg, group_rules, ready
                old.members, old.retired = members[gid], False
            group = self._groups[gid]
            group.logged_in = 0
            for aid in members[gid]:
                agent = self.agents[aid]
                if agent.state is not AgentState.LOGGED_OUT:
                    group.logged_in += 1
                if agent.state is AgentState.READY:
                    ready.add(aid, agent.level_in(gid), agent.state_since,
                              agent.answered.get(gid, 0))
        for gid in [g for g in self._groups if g not in configs]:
            group = self._groups[gid]
            if group.waiting:
                group.retired = True  # drains; takes no new callers
                group.members = []
                group.ready = ReadyAgents(group.config.strategy, {})
            else:
                del self._groups[gid]
        out: list[Output] = []
        for agent in list(self.agents.values()):
            if agent.state is AgentState.READY:
                self._agent_ready(agent, now, out)
        self._reevaluate_groups(list(configs), now, out)
        return out

    def _partner_with(self, caps: PartnerCaps) -> PartnerLedger:
        ledger = PartnerLedger(caps)
        if self.partner is not None:  # calls at the partner now still count
            ledger.active = self.partner.active
            ledger._admitted = self.partner._admitted
        return ledger

    # ---- timers ------------------------------------------------------------------------------

    def next_deadline(self) -> float | None:
        """When tick() has work next (a skill-widening step), or None."""
        heap = self._widenings
        while heap and self._stale_widening(heap[0][2]):
            heapq.heappop(heap)
        return heap[0][0] if heap else None

    def tick(self, now: float) -> list[Output]:
        out: list[Output] = []
        heap = self._widenings
        while heap and heap[0][0] <= now:
            _, _, call_id = heapq.heappop(heap)
            if self._stale_widening(call_id):
                continue
            call = self.calls[call_id]
            self._schedule_widening(call, self._groups[call.group_id], now)
            self._match_call(call, now, out)
        return out

    # ---- questions ---------------------------------------------------------------------------

    def position(self, call_id: str) -> int:
        call = self._call(call_id)
        return self._groups[call.group_id].waiting.position(call_id)

    def ewt(self, call_id: str, now: float) -> float | None:
        call = self._call(call_id)
        group = self._groups[call.group_id]
        slots, cycle = self._slots(group, now)
        return estimated_wait(group.waiting.position(call_id) - 1, slots, cycle)

    def opening(self, group_id: str) -> Opening:
        return self._group(group_id).opening

    def waiting_count(self, group_id: str) -> int:
        return len(self._group(group_id).waiting)

    def group_ids(self) -> list[str]:
        return list(self._groups)

    def group_config(self, group_id: str) -> GroupConfig:
        return self._group(group_id).config

    def statistics(self) -> dict[str, dict[str, int | str | float]]:
        stats: dict[str, dict[str, int | str | float]] = {}
        for gid, g in self._groups.items():
            states = [self.agents[a].state for a in g.members]
            stats[gid] = {
                "waiting": len(g.waiting),
                "logged_in": g.logged_in,
                "ready": len(g.ready),
                "serving": sum(s in SERVING for s in states),
                "opening": g.opening.value,
                "handle_time": round(g.handle_time, 1),
            }
        return stats

    def check_invariants(self, now: float) -> None:
        """Raises AssertionError if the routing invariants do not hold (used by tests)."""
        offered: dict[str, str] = {}
        for agent in self.agents.values():
            if agent.state in (AgentState.RINGING, AgentState.BUSY):
                assert agent.call_id is not None, f"{agent.agent_id} {agent.state} without a call"
                assert agent.call_id not in offered, f"{agent.call_id} offered twice"
                offered[agent.call_id] = agent.agent_id
                assert self.calls[agent.call_id].agent_id == agent.agent_id
            else:
                assert agent.call_id is None
        for g in self._groups.values():
            for gid_agent in g.members:
                in_index = gid_agent in g.ready
                agent = self.agents[gid_agent]
                assert in_index == (agent.state is AgentState.READY and agent.device_available)
            for head in g.waiting.heads() if self.offering else ():
                admitted = g.config.max_level(head.arrival, now)
                best = g.ready.best(admitted)
                assert best is None, f"{best} is ready while {head.call_id} waits in a line"

    # ---- internals ---------------------------------------------------------------------------

    def _call(self, call_id: str) -> Call:
        try:
            return self.calls[call_id]
        except KeyError:
            raise UnknownEntity(f"unknown call {call_id!r}") from None

    def _agent(self, agent_id: str) -> Agent:
        try:
            return self.agents[agent_id]
        except KeyError:
            raise UnknownEntity(f"unknown agent {agent_id!r}") from None

    def _group(self, group_id: str) -> _Group:
        try:
            return self._groups[group_id]
        except KeyError:
            raise UnknownEntity(f"unknown group {group_id!r}") from None

    @staticmethod
    def _agent_call(agent: Agent) -> str:
        if agent.call_id is None:
            raise ValueError(f"agent {agent.agent_id!r} has no call")
        return agent.call_id

    def _join(self, call: Call, group_id: str, now: float, out: list[Output],
              event: CallEvent) -> None:
        """The call enters a group's line: overflow rules, then opening and length, then match."""
        group = self._groups[group_id]
        call.group_id = group_id
        call.phase = next_phase(call.call_id, call.phase, event)
        call.agent_id = None
        # back from an offer or the partner: their place is kept whatever the line's state;
        # so is a callback request's (the shell adds one only while its group is open)
        returning = (event is CallEvent.OFFER_ENDED or event is CallEvent.BACK
                     or call.callback)
        call.visited.add(group_id)
        group.waiting.add(call.waiting_entry())
        decision = self._overflow(call, group, now, ahead=None)
        refusal: tuple[Refusal, str] | None = None
        if decision is None and not returning:
            if group.retired:
                refusal = Refusal.RETIRED, "group no longer in the configuration"
            elif not group.opening.is_open:
                refusal = Refusal.CLOSED, "group closed"
            elif (limit := group.config.max_waiting) is not None and len(group.waiting) > limit:
                refusal = Refusal.FULL, f"line full ({limit} waiting)"
        if decision is not None or refusal is not None:
            group.waiting.remove(call.call_id)
            if decision is not None:
                self._apply_overflow(call, decision, now, out)
            else:
                assert refusal is not None
                del self.calls[call.call_id]
                out.append(RefuseCall(call.call_id, group_id, refusal[1], refusal[0]))
            return
        if group.widens:
            self._schedule_widening(call, group, now)
        self._match_call(call, now, out)

    def _overflow(self, call: Call, group: _Group, now: float, ahead: int | None
                  ) -> OverflowDecision | None:
        if not group.rules or call.callback:
            return None

        def ewt() -> float | None:
            slots, cycle = self._slots(group, now)
            n = group.waiting.position(call.call_id) - 1 if ahead is None else ahead
            return estimated_wait(n, slots, cycle)

        situation = Situation(
            waiting=len(group.waiting),
            serving=sum(1 for aid in group.members if self.agents[aid].can_answer),
            is_open=group.opening.is_open, crisis=self.crisis, overload=self.overload,
            manual=group.manual_overflow, ewt=ewt,
        )

        def can_take(dest: Destination) -> bool:
            if dest.is_partner:
                return (self.partner is not None and not call.partner_failed
                        and self.partner.can_take(now))
            return dest.group_id not in call.visited

        return decide(group.rules, situation, can_take)

    def _apply_overflow(self, call: Call, decision: OverflowDecision, now: float,
                        out: list[Output]) -> None:
        target = decision.destination.group_id
        if target is None:
            assert self.partner is not None
            self.partner.admit(call.call_id, now)
            call.phase = next_phase(call.call_id, call.phase, CallEvent.TO_PARTNER)
            out.append(SendToPartner(call.call_id, call.group_id, decision.reason))
        else:
            out.append(CallMoved(call.call_id, call.group_id, target, decision.reason))
            self._join(call, target, now, out, CallEvent.MOVED)

    def _reevaluate_groups(self, group_ids: Iterable[str], now: float, out: list[Output]) -> None:
        """Re-run overflow rules over the callers in line, last first: when a line must shrink,
        those who came last leave, and nobody ahead of a caller changes as we go."""
        for gid in group_ids:
            group = self._groups[gid]
            if group.rules and group.waiting:
                line = list(group.waiting)
                for ahead in range(len(line) - 1, -1, -1):
                    call = self.calls[line[ahead].call_id]
                    decision = self._overflow(call, group, now, ahead=ahead)
                    if decision is not None:
                        group.waiting.remove(call.call_id)
                        self._apply_overflow(call, decision, now, out)
            if group.waiting and not group.opening.is_open and not any(
                    self.agents[aid].can_answer for aid in group.members):
                # closed, and nobody left to serve those still in line: they hear the
                # group's closing message instead of waiting for ever (a callback request
                # waits: nobody is on the line, and the shell decides what closing means)
                for entry in list(group.waiting):
                    if self.calls[entry.call_id].callback:
                        continue
                    group.waiting.remove(entry.call_id)
                    del self.calls[entry.call_id]
                    out.append(RefuseCall(entry.call_id, gid, "group closed", Refusal.CLOSED))

    def _after_partner_freed(self, now: float, out: list[Output]) -> None:
        partner_groups = [gid for gid, g in self._groups.items()
                          if any(r.destination.is_partner for r in g.rules)]
        self._reevaluate_groups(partner_groups, now, out)

    def _slots(self, group: _Group, now: float) -> tuple[list[float], float]:
        handle, wrap = group.handle_time, group.config.wrap_up
        cycle = handle + wrap
        remaining = []
        for aid in group.members:
            agent = self.agents[aid]
            match agent.state:
                case AgentState.READY:
                    remaining.append(0.0)
                case AgentState.RINGING:
                    remaining.append(cycle)
                case AgentState.BUSY:
                    remaining.append(handle - (now - agent.state_since) + wrap)
                case AgentState.WRAP_UP:
                    remaining.append(wrap - (now - agent.state_since))
        return free_slots(remaining, cycle), cycle

    def _match_call(self, call: Call, now: float, out: list[Output]) -> None:
        if not self.offering:
            return
        group = self._groups[call.group_id]
        agent_id = group.ready.best(group.config.max_level(call.arrival, now))
        if agent_id is not None:
            self._offer(call, self.agents[agent_id], now, out)

    def _agent_ready(self, agent: Agent, now: float, out: list[Output]) -> None:
        if not agent.device_available:
            return  # ready, but its phone cannot ring: offered nothing until it registers
        for gid, membership in agent.memberships.items():
            ready = self._groups[gid].ready
            if agent.agent_id not in ready:
                ready.add(agent.agent_id, membership.level, now, agent.answered.get(gid, 0))
        if not self.offering:
            return
        best: tuple[int, float] | None = None
        best_call: WaitingCall | None = None
        for gid, membership in agent.memberships.items():
            group = self._groups[gid]
            cfg = group.config
            for head in group.waiting.heads():
                if membership.level <= cfg.max_level(head.arrival, now):
                    score = (head.priority, cfg.weight * (now - head.arrival) / cfg.threshold)
                    if best is None or score > best:
                        best, best_call = score, head
                    break
        if best_call is not None:
            self._offer(self.calls[best_call.call_id], agent, now, out)

    @staticmethod
    def _move(agent: Agent, event: AgentEvent, now: float, out: list[Output],
              reason: str | None = None) -> None:
        """Every change of an agent's state: through its table, and told to the shell."""
        state = agent.apply(event, now, reason=reason)
        out.append(AgentChanged(agent.agent_id, state, agent.pause_reason, event.value,
                                agent.call_id))

    def _agent_unready(self, agent: Agent) -> None:
        for gid in agent.memberships:
            self._groups[gid].ready.discard(agent.agent_id)

    def _offer(self, call: Call, agent: Agent, now: float, out: list[Output]) -> None:
        group = self._groups[call.group_id]
        group.waiting.remove(call.call_id)
        agent.call_id, agent.call_group = call.call_id, call.group_id
        self._move(agent, AgentEvent.OFFER, now, out)
        self._agent_unready(agent)
        group.ready.offered(agent.agent_id)
        call.phase = next_phase(call.call_id, call.phase, CallEvent.OFFERED)
        call.agent_id = agent.agent_id
        out.append(OfferCall(call.call_id, agent.agent_id, call.group_id))

    def _cancel_offer(self, call: Call, now: float, out: list[Output]) -> Agent:
        """The agent's phone stops ringing for the call (no miss of theirs)."""
        assert call.agent_id is not None
        agent = self.agents[call.agent_id]
        out.append(CancelOffer(call.call_id, agent.agent_id))
        self._move(agent, AgentEvent.CANCEL, now, out)
        agent.call_id = agent.call_group = None
        return agent

    def _schedule_widening(self, call: Call, group: _Group, now: float) -> None:
        when = group.config.next_widening(call.arrival, now)
        if when is not None:
            heapq.heappush(self._widenings, (when, call.seq, call.call_id))

    def _stale_widening(self, call_id: str) -> bool:
        call = self.calls.get(call_id)
        return call is None or call.phase is not CallPhase.WAITING
