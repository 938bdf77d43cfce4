import statistics
from dataclasses import replace
from pathlib import Path

import pytest

from controller.scenario import Scenario, ScenarioError, Shift, load_scenario
from controller.simulator import simulate
from overflow.partner import PartnerCaps
from overflow.policy import Condition, Destination, Rule
from queues.erlang import evaluate

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(("agents", "calls_per_hour", "aht"), [
    (5, 60, 180),  # 3 erlangs, 60 % occupancy
    (12, 135, 240),  # 9 erlangs, 75 %
    (10, 120, 240),  # 8 erlangs, 80 %
])
def test_the_simulator_agrees_with_erlang_c(agents, calls_per_hour, aht):
    """Infinite patience, no overflow, exponential handle times: the M/M/n queue. Over 12 seeds,
    runs of 25,000 calls at 80 % occupancy scattered with a standard deviation of 1.2 points
    around the formula; these runs are 40,000 calls (about 1 point), so 3 points is three
    standard deviations. bench/bench_simulator.py shows long runs within 1.5 points, up to 89 %."""
    hours = 40_000 / calls_per_hour
    results = simulate(Scenario.single_group(agents=agents, calls_per_hour=calls_per_hour,
                                             aht=aht, hours=hours, seed=11))
    theory = evaluate(agents, calls_per_hour, aht, 120)
    assert results.service_level == pytest.approx(theory.service_level, abs=0.03)
    assert results.wait_probability == pytest.approx(theory.wait_probability, abs=0.03)
    assert results.occupancy == pytest.approx(theory.occupancy, abs=0.02)
    assert results.abandoned == results.overflowed == results.unserved == 0
    assert results.answered == results.offered


def test_a_run_is_a_pure_function_of_its_scenario_and_seed():
    s = Scenario.single_group(agents=4, calls_per_hour=60, aht=200, hours=10, patience=120)
    assert simulate(s) == simulate(s)
    assert simulate(s).as_dict() != simulate(s.with_overrides(seed=2)).as_dict()


def test_impatient_callers_abandon_and_count_against_the_offered_service_level():
    s = Scenario.single_group(agents=3, calls_per_hour=80, aht=180, hours=50, patience=60)
    r = simulate(s)
    assert r.abandoned > 0
    assert r.answered + r.abandoned == r.offered
    assert r.service_level_offered < r.service_level


def test_the_ewt_estimate_beats_saying_nothing():
    """Median error of the EWT told to waiting callers, against the error of announcing 0."""
    s = Scenario.single_group(agents=6, calls_per_hour=100, aht=200, hours=200, seed=3)
    r = simulate(s)
    assert r.ewt_samples > 1000
    waits_of_those_who_waited = r.asa_seconds / r.wait_probability
    assert r.ewt_median_abs_error_seconds < 0.8 * waits_of_those_who_waited


def test_agents_work_their_shifts_and_callers_after_the_last_shift_go_unserved():
    s = Scenario.single_group(agents=2, calls_per_hour=60, aht=60, hours=2)
    s = replace(s, shifts=(Shift(2, {"main": 1}, start=0.0, end=3600.0),))
    r = simulate(s)
    assert r.unserved > 0
    assert r.answered + r.unserved == r.offered
    assert r.occupancy < 1


def test_the_example_scenario_loads_and_runs():
    scenario = load_scenario(ROOT / "config/scenarios/exempelkommun-monday.yaml")
    assert len(scenario.groups) == 5
    assert sum(g.share for g in scenario.groups) == pytest.approx(1.0)
    r = simulate(scenario)
    assert r.offered > 1000 and r.threshold_seconds == 120
    assert sum(g.offered for g in r.groups.values()) == r.offered
    shares = [g.offered / r.offered for g in r.groups.values()]
    assert statistics.fmean(shares) == pytest.approx(0.2)


def test_the_partner_takes_overflow_within_its_caps():
    s = Scenario.single_group(agents=1, calls_per_hour=120, aht=300, hours=5)
    group = replace(s.groups[0], rules=(Rule(Condition.WAITING_OVER, Destination(None), 2),))
    r = simulate(replace(s, groups=(group,), partner=PartnerCaps(max_per_hour=10)))
    assert 0 < r.overflowed <= 10 * 5


def write(tmp_path, text):
    p = tmp_path / "s.yaml"
    p.write_text(text)
    return p


BASE = """
name: t
hours: 1
calls_per_hour: [10]
groups: [{id: g, share: 1, handle_time: {mean: 2m}}]
shifts: [{count: 1, groups: {g: 1}, from: "08:00", to: "09:00"}]
"""


def test_an_unquoted_clock_time_is_refused_saying_how_to_write_it(tmp_path):
    p = write(tmp_path, BASE.replace('from: "08:00"', "from: 8:00"))
    with pytest.raises(ScenarioError, match=r's\.yaml:6:43: 8:00 unquoted .* "08:00"'):
        load_scenario(p)


def test_a_bare_number_as_duration_is_refused(tmp_path):
    p = write(tmp_path, BASE.replace("mean: 2m", "mean: 120"))
    with pytest.raises(ScenarioError, match=r"groups, item 1, handle_time\.mean: .*unit"):
        load_scenario(p)


def test_a_shift_in_an_unknown_group_is_refused(tmp_path):
    p = write(tmp_path, BASE.replace("groups: {g: 1}", "groups: {nope: 1}"))
    with pytest.raises(ScenarioError, match="no group 'nope' under groups:"):
        load_scenario(p)


def test_a_simulated_day_tells_the_events_a_real_day_does_and_the_counters_agree():
    """The same events as the controller's, so the counters (and the call log and reports
    that read events) give a simulated day the figures the simulator computes itself."""
    from controller import events as ev
    from controller.subscribers import Counters

    scenario = load_scenario(ROOT / "config" / "scenarios" / "exempelkommun-monday.yaml")
    events = []
    result = simulate(scenario, publish=events.append)
    counters = Counters()
    for event in events:
        counters(event)
    counts = counters.counts
    assert counts["calls"] == result.offered
    assert counts["answered"] == result.answered
    assert counts["abandoned"] == result.abandoned
    assert counts["within_threshold"] == sum(g.answered_in_threshold
                                             for g in result.groups.values())
    assert counts["partner"] == result.overflowed and counts["refused"] == result.refused
    assert result.answered and result.abandoned  # the day has both, or this shows nothing
    # each call's events in the order of its life, ending once
    by_call = {}
    for e in events:
        if isinstance(e, ev.CallEvent):
            by_call.setdefault(e.call_id, []).append(type(e).__name__)
    ended = [k for k in by_call.values() if k[-1] == "CallEnded"]
    assert all(k.count("CallEnded") == 1 and k[:2] == ["CallArrived", "Queued"]
               for k in by_call.values())
    assert len(ended) == result.offered - result.unserved
    assert {e.version for e in events} == {0}


def test_callbacks_at_an_estimated_wait_on_the_same_day_lower_the_abandons():
    """The same callers (seed) with and without callbacks: those offered one past 2 minutes
    of estimated wait and taking it no longer give up; every request is reached or failed."""
    from controller.scenario import SimCallbacks

    day = Scenario.single_group(agents=8, calls_per_hour=140, aht=240, hours=8,
                                patience=180, seed=5)
    with_cb = replace(day, callbacks=SimCallbacks(offer_over=120, accept=0.6, reach=0.8,
                                                  attempts=3, spacing=600, dial=25,
                                                  target=3600))
    before, after = simulate(day), simulate(with_cb)
    assert after.offered == before.offered  # the same day
    assert before.callbacks == 0 and after.callbacks > 20
    assert after.abandoned < before.abandoned
    assert after.abandon_rate < before.abandon_rate
    decided = after.callbacks_reached + after.callbacks_failed
    assert decided <= after.callbacks and after.callbacks_reached > after.callbacks_failed
    assert after.callback_service_level is not None and 0 < after.callback_service_level <= 1
    # a caller either answered, gave up, took a callback or was still waiting at the end
    assert after.answered + after.abandoned + after.callbacks + after.unserved >= after.offered


def test_vaxel_simulate_prints_the_same_day_without_callbacks_beside_it(capsys):
    from controller.cli import main

    assert main(["simulate", str(ROOT / "config/scenarios/exempelkommun-monday.yaml")]) == 0
    out = capsys.readouterr().out
    assert "callbacks offered past an estimated wait of 4m" in out
    lines = {line.split("  ")[1].strip(): line for line in out.splitlines()
             if line.startswith("  abandon") or line.startswith("  service level (")}
    assert set(lines) == {"abandoned", "abandon rate", "service level (of answered)"}
    assert all(line.count("%") == 2 or "abandoned" in line for line in lines.values())
