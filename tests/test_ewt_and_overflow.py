import pytest

from overflow.partner import PartnerCaps, PartnerLedger
from overflow.policy import Condition, Destination, Rule, Situation, decide
from queues.ewt import estimated_wait, free_slots


def test_ewt_is_the_next_free_slot_for_the_first_in_line():
    slots = free_slots([120.0, 30.0, 0.0], cycle=200.0)
    assert [estimated_wait(i, slots, 200.0) for i in range(5)] == [0, 30, 120, 200, 230]


def test_ewt_clamps_overdue_and_impossible_remaining_times():
    assert free_slots([-50.0, 900.0], cycle=300.0) == [0.0, 300.0]


def test_ewt_is_none_with_nobody_serving():
    assert estimated_wait(3, [], 100.0) is None


def situation(**kw):
    base = dict(waiting=0, serving=3, is_open=True, crisis=False, manual=False,
                ewt=lambda: 10.0)
    base.update(kw)
    return Situation(**base)


VX, PARTNER = Destination("vx"), Destination(None)


@pytest.mark.parametrize(("rule", "kw", "reason"), [
    (Rule(Condition.EWT_OVER, VX, 5), {}, "estimated wait 10 s over 5 s"),
    (Rule(Condition.WAITING_OVER, VX, 4), {"waiting": 5}, "5 waiting, over 4"),
    (Rule(Condition.NO_AGENTS, VX), {"serving": 0}, "no agent can answer"),
    (Rule(Condition.CLOSED, VX), {"is_open": False}, "group closed"),
    (Rule(Condition.CRISIS, VX), {"crisis": True}, "crisis mode"),
    (Rule(Condition.MANUAL, VX), {"manual": True}, "manual overflow switch on"),
    (Rule(Condition.OVERLOAD, VX), {"overload": True}, "Asterisk overloaded"),
])
def test_each_condition_holds_with_its_reason_and_not_otherwise(rule, kw, reason):
    decision = decide([rule], situation(**kw), lambda d: True)
    assert decision is not None and decision.reason == reason and decision.destination == VX
    assert decide([rule], situation(ewt=lambda: 1.0), lambda d: True) is None


def test_ewt_is_only_computed_when_a_rule_asks():
    calls = []
    s = situation(manual=True, ewt=lambda: calls.append(1) or 0.0)
    decide([Rule(Condition.MANUAL, VX)], s, lambda d: True)
    assert calls == []


def test_a_destination_that_cannot_take_the_caller_is_passed_over_for_the_next_rule():
    rules = [Rule(Condition.CRISIS, PARTNER), Rule(Condition.CRISIS, VX)]
    decision = decide(rules, situation(crisis=True), lambda d: not d.is_partner)
    assert decision is not None and decision.destination == VX and decision.rule_index == 1


def test_rules_check_their_limits():
    with pytest.raises(ValueError, match="needs a limit"):
        Rule(Condition.EWT_OVER, VX)
    with pytest.raises(ValueError, match="takes no limit"):
        Rule(Condition.CRISIS, VX, 3)


def test_the_partner_ledger_caps_concurrent_calls():
    ledger = PartnerLedger(PartnerCaps(max_concurrent=1))
    ledger.admit("c1", 0.0)
    assert not ledger.can_take(1.0)
    with pytest.raises(ValueError, match="partner is full"):
        ledger.admit("c2", 1.0)
    assert ledger.release("c1") and not ledger.release("c1")
    assert ledger.can_take(2.0)


def test_the_partner_ledger_caps_calls_per_rolling_hour():
    ledger = PartnerLedger(PartnerCaps(max_per_hour=2))
    ledger.admit("c1", 0.0)
    ledger.release("c1")
    ledger.admit("c2", 1800.0)
    ledger.release("c2")
    assert not ledger.can_take(3599.0)
    assert ledger.can_take(3600.0)
    assert ledger.in_last_hour(3600.0) == 1
