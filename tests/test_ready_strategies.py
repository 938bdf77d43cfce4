from queues.group import Strategy
from queues.ready import ReadyAgents

RING = {"a": 0, "b": 1, "c": 2, "d": 3}


def ready(strategy: Strategy, **entries: tuple[int, float, int]) -> ReadyAgents:
    index = ReadyAgents(strategy, RING)
    for agent_id, (level, since, answered) in entries.items():
        index.add(agent_id, level, since, answered)
    return index


def test_longest_idle_picks_the_agent_ready_the_longest():
    idx = ready(Strategy.LONGEST_IDLE, a=(1, 30.0, 0), b=(1, 10.0, 5), c=(1, 20.0, 0))
    assert idx.best(9) == "b"


def test_longest_idle_breaks_ties_by_member_order():
    idx = ready(Strategy.LONGEST_IDLE, c=(1, 10.0, 0), b=(1, 10.0, 0))
    assert idx.best(9) == "b"


def test_fewest_calls_picks_the_agent_with_fewest_answered_then_longest_idle():
    idx = ready(Strategy.FEWEST_CALLS, a=(1, 5.0, 3), b=(1, 30.0, 1), c=(1, 20.0, 1))
    assert idx.best(9) == "c"


def test_round_robin_resumes_after_the_last_agent_offered_and_wraps():
    idx = ready(Strategy.ROUND_ROBIN, a=(1, 0.0, 0), b=(1, 0.0, 0), d=(1, 0.0, 0))
    order = []
    for _ in range(4):
        pick = idx.best(9)
        order.append(pick)
        idx.offered(pick)
    assert order == ["a", "b", "d", "a"]


def test_round_robin_memory_survives_the_agent_leaving_the_ready_set():
    idx = ready(Strategy.ROUND_ROBIN, a=(1, 0.0, 0), b=(1, 0.0, 0), c=(1, 0.0, 0))
    idx.offered("b")
    idx.discard("b")
    assert idx.best(9) == "c"


def test_skill_widening_prefers_the_most_skilled_level_then_longest_idle():
    idx = ready(Strategy.SKILL_WIDENING, a=(3, 0.0, 0), b=(1, 50.0, 0), c=(1, 40.0, 0))
    assert idx.best(9) == "c"


def test_an_agent_above_the_admitted_level_is_not_chosen():
    idx = ready(Strategy.LONGEST_IDLE, a=(5, 0.0, 0), b=(2, 50.0, 0))
    assert idx.best(2) == "b"
    idx.discard("b")
    assert idx.best(2) is None
    assert idx.best(5) == "a"


def test_round_robin_respects_the_admitted_level():
    idx = ready(Strategy.ROUND_ROBIN, a=(1, 0.0, 0), b=(5, 0.0, 0), c=(1, 0.0, 0))
    idx.offered("a")
    assert idx.best(2) == "c"


def test_discard_of_an_agent_not_ready_is_harmless():
    idx = ready(Strategy.LONGEST_IDLE, a=(1, 0.0, 0))
    idx.discard("zz")
    assert len(idx) == 1 and "a" in idx
