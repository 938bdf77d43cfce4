"""The fake PBX against real Asterisk 22 with real SIP phones while vaxel drove it
(shared/asterisk/vaxel-on-asterisk: the Local agent leg optimized away in both directions, a
second caller, rings nobody answers, an unregistered phone, a controller killed and restarted,
two callers for one agent). vaxel's actions are rebuilt from what Asterisk reported of them
(tests/scenario_replay.py); the fake must send the same events per channel, on time."""

import asyncio

import pytest

from . import virtual_clock
from .scenario_replay import is_race, scenario

SCENARIOS = ["s1", "s1b", "s3", "s3b", "s5", "s9d"]


@pytest.fixture(scope="module")
def replays():
    runs = {name: scenario(name) for name in SCENARIOS}

    async def run_all():
        await asyncio.gather(*(replay.run() for replay in runs.values()))

    virtual_clock.run(run_all())
    return runs


@pytest.mark.parametrize("name", SCENARIOS)
def test_the_fake_pbx_does_what_asterisk_did_with_vaxel(replays, name):
    replay = replays[name]
    assert replay.streams and replay.records
    problems = [p for conn in replay.streams for p in replay.compare(conn, ignore=is_race)]
    assert not problems, "\n".join(problems)


def test_the_swap_direction_is_what_the_comparison_sees():
    """Not vacuous: the other way of optimizing the Local pair away fails the comparison."""
    replay = scenario("s1")
    replay.local_swaps = ["caller_in" if s == "agent_in" else "agent_in"
                          for s in replay.local_swaps]
    virtual_clock.run(replay.run())
    problems = [p for conn in replay.streams for p in replay.compare(conn, ignore=is_race)]
    assert any("SwapUniqueid" in p or "BridgeEnter" in p or "BridgeLeave" in p
               for p in problems), problems
