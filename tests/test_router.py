import pytest

from agents import AgentState, IllegalTransition
from overflow.partner import PartnerCaps
from overflow.policy import Condition, Destination, Rule
from queues.commands import (
    AgentAutoPaused,
    AgentChanged,
    CallMoved,
    CancelOffer,
    OfferCall,
    Refusal,
    RefuseCall,
    SendToPartner,
    StartWrapUp,
)
from queues.group import GroupConfig, Opening, Strategy, WideningStep
from queues.lifecycle import CallPhase
from queues.router import UnknownEntity

from .helpers import agent, router

PARTNER = Destination(None)


def offers(outputs):
    return [(o.call_id, o.agent_id) for o in outputs if isinstance(o, OfferCall)]


def acts(outputs):
    """The commands among the outputs, without the agent-state facts told for the events."""
    return [o for o in outputs if not isinstance(o, AgentChanged)]


def test_a_call_goes_to_the_ready_agent_at_once():
    r = router(["vx"], [agent("anna", "vx")])
    assert r.call_arrived("c1", "vx", 1.0) == [
        AgentChanged("anna", AgentState.RINGING, None, "offer", "c1"),
        OfferCall("c1", "anna", "vx")]
    assert r.agents["anna"].state is AgentState.RINGING


def test_a_call_waits_when_nobody_is_ready_and_goes_to_the_next_agent_who_is():
    r = router(["vx"], [agent("anna", "vx")], login=False)
    assert r.call_arrived("c1", "vx", 1.0) == []
    assert r.position("c1") == 1
    assert offers(r.agent_logged_in("anna", 5.0)) == [("c1", "anna")]


def test_the_whole_life_of_a_call_ends_with_wrap_up_then_ready():
    r = router([GroupConfig("vx", wrap_up=30)], [agent("anna", "vx")])
    r.call_arrived("c1", "vx", 0.0)
    assert r.offer_answered("anna", 3.0) == [AgentChanged("anna", AgentState.BUSY, None,
                                                          "answer", "c1")]
    assert r.calls["c1"].phase is CallPhase.CONNECTED
    assert acts(r.call_ended("anna", 200.0)) == [StartWrapUp("anna", 30)]
    assert r.agents["anna"].state is AgentState.WRAP_UP
    r.call_arrived("c2", "vx", 210.0)
    assert r.wrap_up_done("anna", 230.0) == [
        AgentChanged("anna", AgentState.READY, None, "wrapup_done", None),
        AgentChanged("anna", AgentState.RINGING, None, "offer", "c2"),
        OfferCall("c2", "anna", "vx")]
    assert "c1" not in r.calls


def test_equal_priority_callers_leave_in_arrival_order():
    r = router(["vx"], [agent("anna", "vx")], login=False)
    for i, t in enumerate([1.0, 1.0, 2.0]):  # the same instant too: order of arrival counts
        r.call_arrived(f"c{i}", "vx", t)
    assert [r.position(c) for c in ("c0", "c1", "c2")] == [1, 2, 3]
    assert offers(r.agent_logged_in("anna", 10.0)) == [("c0", "anna")]
    assert offers(r.offer_failed("anna", 20.0)) == [("c0", "anna")]


def test_higher_priority_goes_first_whatever_its_arrival():
    r = router(["vx"], [agent("anna", "vx")], login=False)
    r.call_arrived("early", "vx", 1.0)
    r.call_arrived("urgent", "vx", 2.0, priority=5)
    assert r.position("urgent") == 1 and r.position("early") == 2
    assert offers(r.agent_logged_in("anna", 3.0)) == [("urgent", "anna")]


def test_an_unanswered_offer_puts_the_caller_back_in_their_place():
    r = router(["vx"], [agent("anna", "vx"), agent("bo", "vx")], login=False)
    r.agent_logged_in("anna", 0.0)
    r.call_arrived("c1", "vx", 1.0)
    r.call_arrived("c2", "vx", 2.0)
    out = r.offer_failed("anna", 20.0)
    # c1 goes back ahead of c2 and is offered again (anna is the only ready agent)
    assert offers(out) == [("c1", "anna")]
    assert r.position("c2") == 1


def test_the_next_agent_gets_the_caller_when_the_first_does_not_answer():
    r = router(["vx"], [agent("anna", "vx"), agent("bo", "vx")], login=False)
    r.agent_logged_in("anna", 0.0)
    r.agent_logged_in("bo", 5.0)
    assert offers(r.call_arrived("c1", "vx", 10.0)) == [("c1", "anna")]
    assert offers(r.offer_failed("anna", 25.0)) == [("c1", "bo")]


def test_auto_pause_after_n_misses_in_a_row():
    r = router(["vx"], [agent("anna", "vx", auto_pause_after=2)])
    r.call_arrived("c1", "vx", 0.0)
    assert offers(r.offer_failed("anna", 15.0)) == [("c1", "anna")]
    out = r.offer_failed("anna", 30.0)
    assert AgentAutoPaused("anna", 2) in out
    assert r.agents["anna"].state is AgentState.PAUSED
    assert r.agents["anna"].pause_reason == "auto: missed calls"
    assert r.position("c1") == 1


def test_an_answered_call_resets_the_miss_count():
    r = router(["vx"], [agent("anna", "vx", auto_pause_after=2)])
    r.call_arrived("c1", "vx", 0.0)
    r.offer_failed("anna", 15.0)
    r.offer_answered("anna", 16.0)
    assert r.agents["anna"].missed_in_row == 0


def test_caller_hangs_up_while_the_agent_rings_cancels_the_offer():
    r = router(["vx"], [agent("anna", "vx")])
    r.call_arrived("c1", "vx", 0.0)
    r.call_arrived("c2", "vx", 1.0)
    out = r.call_left("c1", 5.0)
    assert out[0] == CancelOffer("c1", "anna")
    assert offers(out) == [("c2", "anna")]


def test_caller_hangs_up_while_waiting_leaves_the_line():
    r = router(["vx"], [agent("anna", "vx")], login=False)
    r.call_arrived("c1", "vx", 0.0)
    r.call_arrived("c2", "vx", 1.0)
    assert r.call_left("c1", 5.0) == []
    assert r.position("c2") == 1


def test_paused_agents_get_no_calls_until_unpaused():
    r = router(["vx"], [agent("anna", "vx")])
    r.agent_paused("anna", "lunch", 0.0)
    assert r.call_arrived("c1", "vx", 1.0) == []
    assert offers(r.agent_unpaused("anna", 60.0)) == [("c1", "anna")]


def test_illegal_agent_actions_are_refused_and_change_nothing():
    r = router(["vx"], [agent("anna", "vx")])
    with pytest.raises(IllegalTransition):
        r.offer_answered("anna", 1.0)
    r.call_arrived("c1", "vx", 0.0)
    with pytest.raises(IllegalTransition):
        r.agent_logged_out("anna", 1.0)  # ringing: not while a call is offered
    assert r.agents["anna"].state is AgentState.RINGING


def test_unknown_names_are_reported_clearly():
    r = router(["vx"], [agent("anna", "vx")])
    with pytest.raises(UnknownEntity, match="unknown group 'nope'"):
        r.call_arrived("c1", "nope", 0.0)
    with pytest.raises(UnknownEntity, match="unknown agent 'zed'"):
        r.agent_logged_in("zed", 0.0)
    with pytest.raises(ValueError, match="already known"):
        r.call_arrived("c2", "vx", 0.0)
        r.call_arrived("c2", "vx", 0.0)


def test_skill_widening_admits_less_skilled_agents_as_the_wait_grows():
    g = GroupConfig("bygg", strategy=Strategy.SKILL_WIDENING,
                    widening=(WideningStep(0, 2), WideningStep(30, 9)))
    r = router([g], [agent("junior", ("bygg", 5))])
    assert r.call_arrived("c1", "bygg", 100.0) == []
    assert r.next_deadline() == 130.0
    assert r.tick(129.0) == []
    assert offers(r.tick(130.0)) == [("c1", "junior")]
    assert r.next_deadline() is None


def test_skill_widening_offers_the_most_skilled_ready_agent_first():
    g = GroupConfig("bygg", strategy=Strategy.SKILL_WIDENING,
                    widening=(WideningStep(0, 9),))
    r = router([g], [agent("junior", ("bygg", 4)), agent("senior", ("bygg", 1))])
    assert offers(r.call_arrived("c1", "bygg", 10.0)) == [("c1", "senior")]


def test_a_shared_agent_takes_the_caller_most_behind_their_groups_target():
    groups = [GroupConfig("fast", threshold=60), GroupConfig("slow", threshold=600)]
    r = router(groups, [agent("anna", "fast", "slow")], login=False)
    r.call_arrived("slow1", "slow", 0.0)  # waits 100 s against 600 s: 0.17 behind
    r.call_arrived("fast1", "fast", 70.0)  # waits 30 s against 60 s: 0.5 behind
    assert offers(r.agent_logged_in("anna", 100.0)) == [("fast1", "anna")]


def test_group_weight_tilts_the_shared_agents_choice():
    groups = [GroupConfig("a", threshold=100), GroupConfig("b", threshold=100, weight=3.0)]
    r = router(groups, [agent("anna", "a", "b")], login=False)
    r.call_arrived("a1", "a", 0.0)  # 100/100 = 1.0
    r.call_arrived("b1", "b", 50.0)  # 3 * 50/100 = 1.5
    assert offers(r.agent_logged_in("anna", 100.0)) == [("b1", "anna")]


def test_a_closed_group_refuses_new_callers_without_an_overflow_rule():
    r = router(["vx"], [agent("anna", "vx")])
    r.set_opening("vx", Opening.CLOSED, 0.0)
    assert r.call_arrived("c1", "vx", 1.0) == [RefuseCall("c1", "vx", "group closed",
                                                                Refusal.CLOSED)]
    assert "c1" not in r.calls
    r.set_opening("vx", Opening.FORCED_OPEN, 2.0)
    assert offers(r.call_arrived("c2", "vx", 3.0)) == [("c2", "anna")]


def test_a_full_line_refuses_the_caller_beyond_its_length():
    r = router([GroupConfig("vx", max_waiting=2)], [agent("anna", "vx")], login=False)
    r.call_arrived("c1", "vx", 0.0)
    r.call_arrived("c2", "vx", 1.0)
    assert r.call_arrived("c3", "vx", 2.0) == [
        RefuseCall("c3", "vx", "line full (2 waiting)", Refusal.FULL)]


def test_overflow_to_another_group_keeps_the_callers_wait_and_place():
    rules = {"bygg": [Rule(Condition.WAITING_OVER, Destination("vx"), limit=1)]}
    r = router(["bygg", "vx"], [agent("anna", "bygg"), agent("vera", "vx")], rules=rules,
               login=False)
    r.call_arrived("v1", "vx", 5.0)
    r.call_arrived("b1", "bygg", 1.0)
    out = r.call_arrived("b2", "bygg", 2.0)
    assert out == [CallMoved("b2", "bygg", "vx", "2 waiting, over 1")]
    assert r.calls["b2"].arrival == 2.0
    assert r.position("b2") == 1  # arrived at 2.0, before v1 at 5.0
    assert r.position("v1") == 2


def test_overflow_to_the_partner_when_the_estimated_wait_is_too_long():
    rules = {"vx": [Rule(Condition.EWT_OVER, PARTNER, limit=300)]}
    g = GroupConfig("vx", expected_handle_time=240)
    r = router([g], [agent("anna", "vx")], rules=rules, partner=PartnerCaps(max_concurrent=5))
    r.call_arrived("c1", "vx", 0.0)
    r.offer_answered("anna", 0.0)
    assert r.call_arrived("c2", "vx", 10.0) == []  # EWT 230 s
    out = r.call_arrived("c3", "vx", 10.0)  # EWT 470 s
    assert out == [SendToPartner("c3", "vx", "estimated wait 470 s over 300 s")]
    assert r.calls["c3"].phase is CallPhase.AT_PARTNER


def test_a_full_partner_leaves_the_caller_queued_until_it_has_room():
    rules = {"vx": [Rule(Condition.NO_AGENTS, PARTNER)]}
    r = router(["vx"], [agent("anna", "vx")], rules=rules,
               partner=PartnerCaps(max_concurrent=1), login=False)
    assert isinstance(r.call_arrived("c1", "vx", 0.0)[0], SendToPartner)
    assert r.call_arrived("c2", "vx", 1.0) == []
    assert r.position("c2") == 1
    assert r.partner_finished("c1", 100.0, answered=True) == [
        SendToPartner("c2", "vx", "no agent can answer")]


def test_the_partner_cap_per_hour_counts_a_rolling_hour():
    rules = {"vx": [Rule(Condition.NO_AGENTS, PARTNER)]}
    r = router(["vx"], [agent("anna", "vx")], rules=rules,
               partner=PartnerCaps(max_per_hour=1), login=False)
    r.call_arrived("c1", "vx", 0.0)
    r.partner_finished("c1", 60.0, answered=True)
    assert r.call_arrived("c2", "vx", 120.0) == []
    assert r.partner is not None and r.partner.can_take(3600.0)


def test_a_failed_partner_call_returns_the_caller_to_their_place():
    rules = {"vx": [Rule(Condition.MANUAL, PARTNER)]}
    r = router(["vx"], [agent("anna", "vx")], rules=rules, partner=PartnerCaps(), login=False)
    r.call_arrived("c1", "vx", 0.0)
    r.call_arrived("c2", "vx", 5.0)
    out = r.set_manual_overflow("vx", True, 10.0)
    assert [o.call_id for o in out] == ["c2", "c1"]  # the last to come leaves first
    assert r.partner_finished("c1", 40.0, answered=False) == []
    assert r.position("c1") == 1
    assert r.calls["c1"].partner_failed  # not sent to the failing partner again
    assert offers(r.agent_logged_in("anna", 50.0)) == [("c1", "anna")]


def test_crisis_mode_sends_waiting_callers_by_the_crisis_rule():
    rules = {"vx": [Rule(Condition.CRISIS, PARTNER)]}
    r = router(["vx"], [agent("anna", "vx")], rules=rules, partner=PartnerCaps(), login=False)
    r.call_arrived("c1", "vx", 0.0)
    assert r.set_crisis(True, 1.0) == [SendToPartner("c1", "vx", "crisis mode")]


def test_last_agent_pausing_triggers_the_no_agents_rule():
    """A paused agent answers nobody: the line moves on (vaxel-on-asterisk/s3 waited for ever)."""
    rules = {"vx": [Rule(Condition.NO_AGENTS, Destination("backup"))]}
    r = router(["vx", "backup"], [agent("anna", "vx")], rules=rules)
    assert acts(r.call_arrived("c1", "vx", 0.0)) == [OfferCall("c1", "anna", "vx")]
    r.offer_answered("anna", 1.0)
    assert r.call_arrived("c2", "vx", 2.0) == []  # anna is busy, but serving: c2 waits
    r.call_ended("anna", 3.0)  # wrap-up still counts as serving
    assert r.agent_paused("anna", "lunch", 4.0) == [
        AgentChanged("anna", AgentState.PAUSED, "lunch", "pause", None),
        CallMoved("c2", "vx", "backup", "no agent can answer")]


def test_a_caller_arriving_while_every_agent_is_paused_moves_on_at_once():
    rules = {"vx": [Rule(Condition.NO_AGENTS, Destination("backup"))]}
    r = router(["vx", "backup"], [agent("anna", "vx")], rules=rules)
    r.agent_paused("anna", "meeting", 0.0)
    assert r.call_arrived("c1", "vx", 1.0) == [
        CallMoved("c1", "vx", "backup", "no agent can answer")]


def test_an_agent_whose_phone_is_gone_is_offered_nothing_and_does_not_serve():
    rules = {"vx": [Rule(Condition.NO_AGENTS, Destination("backup"))]}
    r = router(["vx", "backup"], [agent("anna", "vx")], rules=rules)
    assert r.agent_device("anna", False, 0.0) == []
    assert r.call_arrived("c1", "vx", 1.0) == [
        CallMoved("c1", "vx", "backup", "no agent can answer")]
    r.call_left("c1", 2.0)
    r.call_arrived("c2", "vx", 3.0)  # moved too
    r2 = router(["vx"], [agent("anna", "vx")])
    r2.agent_device("anna", False, 0.0)
    assert r2.call_arrived("c1", "vx", 1.0) == []  # waits: her phone cannot ring
    r2.check_invariants(1.0)
    assert acts(r2.agent_device("anna", True, 2.0)) == [OfferCall("c1", "anna", "vx")]


def test_overflow_chains_never_cycle():
    rules = {"a": [Rule(Condition.MANUAL, Destination("b"))],
             "b": [Rule(Condition.MANUAL, Destination("a"))]}
    r = router(["a", "b"], [], rules=rules)
    r.set_manual_overflow("a", True, 0.0)
    r.set_manual_overflow("b", True, 0.0)
    out = r.call_arrived("c1", "a", 1.0)
    assert out == [CallMoved("c1", "a", "b", "manual overflow switch on")]
    assert r.position("c1") == 1


def test_overflow_rules_pointing_at_unknown_places_are_refused_up_front():
    with pytest.raises(ValueError, match="unknown group 'nope'"):
        router(["a"], [], rules={"a": [Rule(Condition.MANUAL, Destination("nope"))]})
    with pytest.raises(ValueError, match="none is set up"):
        router(["a"], [], rules={"a": [Rule(Condition.MANUAL, PARTNER)]})


def test_ewt_comes_from_agents_serving_now_and_their_remaining_time():
    g = GroupConfig("vx", expected_handle_time=300, wrap_up=0)
    r = router([g], [agent("anna", "vx"), agent("bo", "vx")])
    r.call_arrived("c1", "vx", 0.0)
    r.offer_answered("anna", 0.0)
    r.call_arrived("c2", "vx", 100.0)
    r.offer_answered("bo", 100.0)
    r.call_arrived("c3", "vx", 150.0)
    r.call_arrived("c4", "vx", 150.0)
    r.call_arrived("c5", "vx", 150.0)
    # anna frees in 150 s, bo in 250 s, then each takes 300 s per caller
    assert r.ewt("c3", 150.0) == 150.0
    assert r.ewt("c4", 150.0) == 250.0
    assert r.ewt("c5", 150.0) == 450.0


def test_ewt_is_unknown_when_nobody_serves_the_group():
    r = router(["vx"], [agent("anna", "vx")], login=False)
    r.call_arrived("c1", "vx", 0.0)
    assert r.ewt("c1", 0.0) is None


def test_the_router_learns_the_groups_handle_time():
    r = router([GroupConfig("vx", expected_handle_time=100)], [agent("anna", "vx")])
    for i in range(200):
        r.call_arrived(f"c{i}", "vx", i * 1000.0)
        r.offer_answered("anna", i * 1000.0)
        r.call_ended("anna", i * 1000.0 + 400)
        r.wrap_up_done("anna", i * 1000.0 + 400)
    assert r.statistics()["vx"]["handle_time"] == pytest.approx(400, abs=1)


def test_a_new_configuration_keeps_callers_in_place_and_agents_logged_in():
    r = router([GroupConfig("vx", threshold=120)], [agent("anna", "vx"), agent("bo", "vx")],
               login=False)
    r.agent_logged_in("anna", 0.0)
    r.call_arrived("c1", "vx", 1.0)  # anna rings for c1
    r.call_arrived("c2", "vx", 2.0)
    r.call_arrived("c3", "vx", 3.0)
    out = r.reconfigure([GroupConfig("vx", threshold=60, strategy=Strategy.ROUND_ROBIN),
                         GroupConfig("bygg")],
                        [agent("anna", "vx"), agent("bo", "vx", "bygg"), agent("cia", "bygg")],
                        now=10.0)
    assert out == []
    assert [r.position("c2"), r.position("c3")] == [1, 2]
    assert r.agents["anna"].state is AgentState.RINGING and r.calls["c1"].agent_id == "anna"
    assert r.group_config("vx").threshold == 60
    assert r.agents["cia"].state is AgentState.LOGGED_OUT
    assert offers(r.agent_logged_in("bo", 11.0)) == [("c2", "bo")]


def test_a_wider_membership_lets_a_ready_agent_take_a_waiting_caller_at_once():
    r = router(["vx", "bygg"], [agent("anna", "vx")])
    r.call_arrived("b1", "bygg", 0.0)
    out = r.reconfigure([GroupConfig("vx"), GroupConfig("bygg")], [agent("anna", "vx", "bygg")],
                        now=5.0)
    assert offers(out) == [("b1", "anna")]


def test_a_removed_group_drains_its_line_and_takes_nobody_new():
    r = router(["vx", "old"], [agent("anna", "vx", "old")], login=False)
    r.call_arrived("o1", "old", 0.0)
    r.reconfigure([GroupConfig("vx")], [agent("anna", "vx")], now=1.0)
    assert r.position("o1") == 1
    assert r.call_arrived("o2", "old", 2.0) == [
        RefuseCall("o2", "old", "group no longer in the configuration", Refusal.RETIRED)]
    r.call_left("o1", 3.0)
    r.reconfigure([GroupConfig("vx")], [agent("anna", "vx")], now=4.0)
    assert "old" not in r.group_ids()


def test_a_caller_adopted_again_keeps_their_place_by_first_arrival():
    r = router(["vx"], [agent("anna", "vx")], login=False)
    r.call_arrived("late", "vx", 100.0)
    r.call_arrived("early", "vx", 101.0, arrival=50.0)  # adopted after a restart
    assert r.position("early") == 1 and r.position("late") == 2


def test_nothing_is_offered_while_offering_is_off_and_everything_waiting_is_when_it_is_on():
    r = router(["vx"], [agent("anna", "vx"), agent("bo", "vx")], login=False)
    r.set_offering(False, 0.0)
    r.agent_logged_in("anna", 1.0)
    assert r.call_arrived("c1", "vx", 2.0) == []
    assert r.call_arrived("c2", "vx", 3.0) == []
    r.agent_logged_in("bo", 4.0)
    r.check_invariants(5.0)
    assert sorted(offers(r.set_offering(True, 6.0))) == [("c1", "anna"), ("c2", "bo")]
    r.check_invariants(6.0)


def test_a_withdrawn_offer_counts_no_miss_and_keeps_the_callers_place():
    r = router(["vx"], [agent("anna", "vx")])
    r.call_arrived("c1", "vx", 0.0)
    r.call_arrived("c2", "vx", 1.0)
    r.set_offering(False, 2.0)
    assert acts(r.offer_withdrawn("anna", 2.0)) == []  # nothing offered while the PBX is away
    assert r.agents["anna"].missed_in_row == 0 and r.agents["anna"].state is AgentState.READY
    assert r.position("c1") == 1
    assert offers(r.set_offering(True, 3.0)) == [("c1", "anna")]
