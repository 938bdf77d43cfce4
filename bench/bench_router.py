"""Routing decision time against the length of the line.

1,000 agents in 50 groups (each agent in a home group at level 1 and a second group at level 3;
strategies and skill widening mixed), all busy, with 1k, 10k or 100k callers waiting. Two
decisions are timed, each the full call into the router:
- enqueue: a caller arrives (overflow rules, insertion, the search for a ready agent);
- match:   an agent finishes wrap-up and takes the most urgent caller of their groups.
Every match is followed by an arrival in the same group, so every line keeps
its length. Prints median and p99 per
decision and how each grows from 1k to 100k waiting (aim: p99 < 1 ms at 10k; growth far below the
100x of a linear scan).

    python bench/bench_router.py [--decisions N]
"""

from __future__ import annotations

import argparse
import gc
import random
import statistics
import time

from agents import Agent, Membership
from overflow.policy import Condition, Destination, Rule
from queues.group import DEFAULT_WIDENING, GroupConfig, Strategy
from queues.router import Router

GROUPS, AGENTS = 50, 1000
STRATEGIES = list(Strategy)


def build(waiting: int, rng: random.Random) -> tuple[Router, list[str], float]:
    groups = [GroupConfig(f"g{i}", strategy=STRATEGIES[i % 4],
                          widening=DEFAULT_WIDENING if i % 4 == 3 else GroupConfig("x").widening)
              for i in range(GROUPS)]
    agents = []
    for a in range(AGENTS):
        home, other = a % GROUPS, (a * 7 + 3) % GROUPS
        members = {f"g{home}": Membership(f"g{home}", 1)}
        if other != home:
            members[f"g{other}"] = Membership(f"g{other}", 3)
        agents.append(Agent(f"a{a}", members))
    # one overflow rule per group, so every arrival evaluates a rule
    rules = {f"g{i}": [Rule(Condition.MANUAL, Destination(f"g{(i + 1) % GROUPS}"))]
             for i in range(GROUPS)}
    r = Router(groups, agents, rules=rules)
    now = 0.0
    n = 0
    # every agent busy with a call, then `waiting` callers in line
    for a in agents:
        r.agent_logged_in(a.agent_id, now)
    for _ in range(AGENTS):
        n += 1
        r.call_arrived(f"c{n}", f"g{rng.randrange(GROUPS)}", now)
    for a in agents:
        if a.call_id is not None:
            r.offer_answered(a.agent_id, now)
    busy = [a.agent_id for a in agents if a.call_id is not None]
    for _ in range(waiting):
        now += 0.001
        n += 1
        r.call_arrived(f"c{n}", f"g{rng.randrange(GROUPS)}", now, priority=rng.choice((0, 0, 0, 1)))
    return r, busy, now


def measure(waiting: int, decisions: int) -> dict[str, list[float]]:
    rng = random.Random(waiting)
    r, busy, now = build(waiting, rng)
    times: dict[str, list[float]] = {"enqueue": [], "match": []}
    n = 10**9
    gc.collect()
    gc.disable()
    perf = time.perf_counter_ns
    try:
        for i in range(decisions):
            agent_id = busy[i % len(busy)]
            agent = r.agents[agent_id]
            now += 0.5
            if agent.call_id is None:
                continue  # this agent's call was not answered yet; skip to keep it simple
            r.call_ended(agent_id, now)
            t0 = perf()
            out = r.wrap_up_done(agent_id, now)
            times["match"].append((perf() - t0) / 1000)
            assert out, "a waiting caller should have been offered"
            r.offer_answered(agent_id, now)
            n += 1
            group = out[0].group_id  # type: ignore[union-attr]
            t0 = perf()
            r.call_arrived(f"c{n}", group, now)
            times["enqueue"].append((perf() - t0) / 1000)
    finally:
        gc.enable()
    return times


def p99(xs: list[float]) -> float:
    return statistics.quantiles(xs, n=100)[98]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--decisions", type=int, default=20_000)
    args = parser.parse_args()
    print(f"router decisions, {AGENTS} agents in {GROUPS} groups, {args.decisions} of each "
          f"(microseconds)")
    print(f"{'waiting':>8} {'decision':>9} {'median':>8} {'p99':>8}")
    rows = {}
    for waiting in (1_000, 10_000, 100_000):
        times = measure(waiting, args.decisions)
        for kind, xs in times.items():
            rows[waiting, kind] = (statistics.median(xs), p99(xs))
            print(f"{waiting:>8} {kind:>9} {rows[waiting, kind][0]:>8.1f} "
                  f"{rows[waiting, kind][1]:>8.1f}")
    print("growth from 1k to 100k waiting (a linear scan would grow 100x):")
    for kind in ("enqueue", "match"):
        med = rows[100_000, kind][0] / rows[1_000, kind][0]
        tail = rows[100_000, kind][1] / rows[1_000, kind][1]
        print(f"  {kind:>9}: median x{med:.2f}, p99 x{tail:.2f}")
    verdict = "met" if max(rows[10_000, k][1] for k in ("enqueue", "match")) < 1000 else "MISSED"
    print(f"aim p99 < 1 ms at 10k waiting: {verdict}")


if __name__ == "__main__":
    main()
