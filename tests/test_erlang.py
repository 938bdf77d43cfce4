import math

import pytest

from queues.erlang import agents_needed, evaluate, service_level, wait_probability


def erlang_c_textbook(n: int, a: float) -> float:
    top = a**n / math.factorial(n) * n / (n - a)
    return top / (sum(a**k / math.factorial(k) for k in range(n)) + top)


def test_a_known_value_two_erlangs_on_three_agents_waits_four_ninths():
    assert wait_probability(3, 2.0) == pytest.approx(4 / 9)


@pytest.mark.parametrize(("n", "a"), [(1, 0.5), (5, 3.2), (12, 10.0), (40, 33.3)])
def test_the_recurrence_matches_the_textbook_formula(n, a):
    assert wait_probability(n, a) == pytest.approx(erlang_c_textbook(n, a), rel=1e-9)


def test_large_loads_do_not_overflow():
    assert 0 < wait_probability(2000, 1950.0) < 1


def test_an_overloaded_group_always_waits_and_never_meets_a_target():
    assert wait_probability(5, 5.0) == 1.0
    assert service_level(5, 6.0, 180, 120) == 0.0
    assert math.isinf(evaluate(5, 120, 180, 120).asa_seconds)


def test_staffing_returns_the_fewest_agents_that_reach_the_target():
    result = agents_needed(calls_per_hour=100, aht=240, target=0.8, threshold=120)
    assert result.service_level >= 0.8
    assert evaluate(result.agents - 1, 100, 240, 120).service_level < 0.8
    assert result.occupancy == pytest.approx(100 * 240 / 3600 / result.agents)


def test_staffing_refuses_a_target_that_is_not_a_share():
    with pytest.raises(ValueError, match="between 0 and 1"):
        agents_needed(100, 240, 80, 120)
