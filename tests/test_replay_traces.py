"""The fake PBX against real Asterisk 22: each trace's actions, replayed, must bring the same
events (names and the fields that matter, per channel, in order, on time) as they did on the
real server. See tests/replay.py."""

import asyncio

import pytest

from . import virtual_clock
from .replay import Replay

# Local-channel traces, and real SIP phones (the phones' own actions come from what the probe
# typed into pjsua, recorded in the trace; see Replay._phones and Replay._answers).
TRACES = ["p2_asyncagi", "p3_disconnect", "p4_bridge", "p5_noanswer", "p9_lease", "p10_ivr",
          "p11_partner", "s2_ivr", "s3_agent", "s4_partner"]


@pytest.fixture(scope="module")
def replays():
    """The traces replayed concurrently, each against its own fake PBX, on a virtual clock (see
    tests/virtual_clock.py): the times compared are the fake's own, which CPU load never moves."""
    runs = {name: Replay(name, time_scale=1.0) for name in TRACES}

    async def run_all():
        await asyncio.gather(*(replay.run() for replay in runs.values()))

    virtual_clock.run(run_all())
    return runs


@pytest.mark.parametrize("name", TRACES)
def test_the_fake_pbx_replays_the_trace_like_asterisk(replays, name):
    replay = replays[name]
    assert replay.streams, "no client connection was replayed"
    problems = [p for conn in replay.streams for p in replay.compare(conn)]
    assert not problems, "\n".join(problems)


def test_the_comparison_catches_a_wrong_event(replays):
    """The replay check is not vacuous: a fake that answers an AGI command differently fails."""
    replay = replays["p2_asyncagi"]
    stream = replay.streams["C1"].messages
    from telephony.ami_codec import Message

    for i, (t, msg) in enumerate(stream):
        if msg.event == "AsyncAGIExec":
            stream[i] = (t, Message.of([(k, "200%20result%3D9%0A" if k == "Result" else v)
                                        for k, v in msg.headers]))
            break
    try:
        assert any("AsyncAGIExec" in p for p in replay.compare("C1"))
    finally:
        stream[i] = (t, msg)
