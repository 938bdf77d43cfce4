"""Random sequences of facts against the router; after each one the routing invariants must hold:
no call offered to two agents, no agent with two calls, equal-priority callers of a group leave in
arrival order, and no ready agent idles while a call they may take waits."""

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from agents import AgentState, IllegalTransition
from overflow.partner import PartnerCaps
from overflow.policy import Condition, Destination, Rule
from queues.commands import OfferCall
from queues.group import GroupConfig, Opening, Strategy, WideningStep
from queues.lifecycle import CallPhase

from .helpers import agent, router

GROUPS = ["a", "b", "c"]
AGENTS = [f"ag{i}" for i in range(5)]


class RouterMachine(RuleBasedStateMachine):
    @initialize(
        strategies=st.lists(st.sampled_from(list(Strategy)), min_size=3, max_size=3),
        memberships=st.lists(
            st.dictionaries(st.sampled_from(GROUPS), st.integers(1, 9), min_size=1),
            min_size=len(AGENTS), max_size=len(AGENTS)),
        with_rules=st.booleans(),
    )
    def setup(self, strategies, memberships, with_rules):
        configs = [
            GroupConfig(gid, threshold=60.0 * (i + 1), strategy=s, max_waiting=6,
                        widening=(WideningStep(0, 3), WideningStep(20, 6), WideningStep(45, 9)))
            for i, (gid, s) in enumerate(zip(GROUPS, strategies, strict=True))
        ]
        agents = [agent(aid, *m.items(), auto_pause_after=2)
                  for aid, m in zip(AGENTS, memberships, strict=True)]
        rules = {}
        if with_rules:
            rules = {"a": [Rule(Condition.WAITING_OVER, Destination("b"), limit=3)],
                     "b": [Rule(Condition.CRISIS, Destination(None)),
                           Rule(Condition.NO_AGENTS, Destination("c"))],
                     "c": [Rule(Condition.MANUAL, Destination(None))]}
        self.r = router(configs, agents, rules=rules, partner=PartnerCaps(max_concurrent=2),
                        login=False)
        self.now = 0.0
        self.n = 0
        self.offered: dict[str, str] = {}  # call -> agent, from the commands seen

    def _apply(self, outputs):
        for out in outputs:
            if isinstance(out, OfferCall):
                assert out.call_id not in self.offered, f"{out.call_id} offered twice"
                assert out.agent_id not in self.offered.values(), f"{out.agent_id} got two calls"
                call = self.r.calls[out.call_id]
                # it was first in its priority class: nobody of that class waits ahead of it
                for head in self.r._groups[out.group_id].waiting.heads():
                    if head.priority == call.priority:
                        assert (head.arrival, head.seq) > (call.arrival, call.seq)
                self.offered[out.call_id] = out.agent_id

    def _agents_in(self, state):
        return [a for a in AGENTS if self.r.agents[a].state is state]

    @rule(dt=st.floats(0, 30))
    def time_passes(self, dt):
        self.now += dt
        deadline = self.r.next_deadline()
        while deadline is not None and deadline <= self.now:
            self._apply(self.r.tick(deadline))
            deadline = self.r.next_deadline()

    @rule(group=st.sampled_from(GROUPS), priority=st.integers(0, 2))
    def call_arrives(self, group, priority):
        self.n += 1
        self._apply(self.r.call_arrived(f"c{self.n}", group, self.now, priority))

    @rule(data=st.data())
    def a_caller_hangs_up(self, data):
        if self.r.calls:
            call_id = data.draw(st.sampled_from(sorted(self.r.calls)))
            self.offered.pop(call_id, None)
            self._apply(self.r.call_left(call_id, self.now))

    @rule(a=st.sampled_from(AGENTS),
          action=st.sampled_from(["login", "logout", "pause", "unpause", "answer", "miss",
                                  "hangup", "wrapup_done"]))
    def an_agent_acts(self, a, action):
        r = self.r
        before = r.agents[a].state
        call = r.agents[a].call_id
        try:
            out = {
                "login": lambda: r.agent_logged_in(a, self.now),
                "logout": lambda: r.agent_logged_out(a, self.now),
                "pause": lambda: r.agent_paused(a, "coffee", self.now),
                "unpause": lambda: r.agent_unpaused(a, self.now),
                "answer": lambda: r.offer_answered(a, self.now),
                "miss": lambda: r.offer_failed(a, self.now),
                "hangup": lambda: r.call_ended(a, self.now),
                "wrapup_done": lambda: r.wrap_up_done(a, self.now),
            }[action]()
        except (IllegalTransition, ValueError):
            assert r.agents[a].state is before  # refused: nothing changed
            return
        if action in ("miss", "hangup"):
            self.offered.pop(call, None)
        self._apply(out)

    @precondition(lambda self: self.r.partner is not None and self.r.partner.active)
    @rule(data=st.data(), answered=st.booleans())
    def the_partner_finishes(self, data, answered):
        call_id = data.draw(st.sampled_from(sorted(self.r.partner.active)))
        self._apply(self.r.partner_finished(call_id, self.now, answered=answered))

    @rule(group=st.sampled_from(GROUPS), opening=st.sampled_from(list(Opening)))
    def the_group_opens_or_closes(self, group, opening):
        self._apply(self.r.set_opening(group, opening, self.now))

    @rule(on=st.booleans())
    def the_crisis_switch(self, on):
        self._apply(self.r.set_crisis(on, self.now))

    @rule(group=st.sampled_from(GROUPS), on=st.booleans())
    def the_manual_switch(self, group, on):
        self._apply(self.r.set_manual_overflow(group, on, self.now))

    @invariant()
    def routing_invariants_hold(self):
        if not hasattr(self, "r"):
            return
        self.r.check_invariants(self.now)
        for call_id, agent_id in self.offered.items():
            call = self.r.calls[call_id]
            assert call.agent_id == agent_id
            assert call.phase in (CallPhase.OFFERED, CallPhase.CONNECTED)
            assert self.r.agents[agent_id].state in (AgentState.RINGING, AgentState.BUSY)


RouterMachine.TestCase.settings = settings(max_examples=150, stateful_step_count=60,
                                           deadline=None)
test_router_state_machine = RouterMachine.TestCase
