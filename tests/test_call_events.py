"""The domain events of whole calls, as a subscriber of the bus sees them: one sequence per kind
of call, through the fake PBX on the virtual clock. These sequences are what the call log, the
KPIs, MQTT and the web pages will be built on (docs/events.md)."""

import datetime as dt

import pytest

from agents import AgentState
from config.errors import ConfigError
from controller import events as ev
from queues.lifecycle import CallPhase
from telephony.fakepbx.actors import Caller, Phone

from .world import World, config_copy, run, vaxeln_threshold_line


async def in_line(w, caller_number="0701112233"):
    """A caller who chose växeln (0) and hears its music."""
    ch = Caller("2001", caller_number, keys=((3.0, "0"),)).dial(w.pbx)
    await w.until(lambda: ch.moh_class is not None)
    return ch


def ended(w, call_id):
    return [e for e in w.story(call_id) if isinstance(e, ev.CallEnded)]


def test_answered():
    async def main():
        async with World() as w:
            w.ctl.agent_login("anna")
            ch = Caller("2001", "0701112233", keys=((3.0, "1"),)).dial(w.pbx)
            await w.until(lambda: ch.hungup and not w.ctl.calls)
            call_id = f"vx-{ch.uniqueid}"
            assert w.kinds(call_id) == ["CallArrived", "IvrDone", "Queued", "Offered",
                                        "Connected", "CallEnded"]
            arrived, _, queued, offered, connected, end = w.story(call_id)
            await w.until(lambda: w.ctl.router.agents["anna"].state is AgentState.READY)
            assert (arrived.number, arrived.caller, arrived.adopted) == ("0812345",
                                                                         "0701112233", False)
            assert queued.group == "barn-och-utbildning" and queued.position == 1
            assert offered.agent == "anna" and connected.agent == "anna"
            assert 0 < connected.waited < 5 and connected.threshold == 120
            assert (end.hung_up_by, end.phase) == ("agent", "connected")
            steps = [e for e in w.events_of(call_id) if isinstance(e, ev.IvrStep)]
            assert [(s.menu, s.step, s.key, s.path) for s in steps] == [
                ("huvudmeny", "key", "1", ("huvudmeny",))]
            # every event carries the call, its time in order, and the configuration's version
            times = [e.at for e in w.events_of(call_id)]
            assert times == sorted(times) and {e.version for e in w.story(call_id)} == {1}
            # and anna's day: rung, talking, wrap-up, ready
            anna = [e.state for e in w.events if isinstance(e, ev.AgentChanged)
                    and e.agent == "anna"]
            assert anna == ["ready", "ringing", "busy", "wrap_up", "ready"]
    run(main())


def test_abandoned_while_waiting():
    async def main():
        async with World() as w:
            ch = Caller("2001", "0701112233", keys=((3.0, "0"),), hangup_after=40.0).dial(w.pbx)
            await w.until(lambda: ch.hungup and not w.ctl.calls)
            call_id = f"vx-{ch.uniqueid}"
            assert w.kinds(call_id) == ["CallArrived", "IvrDone", "Queued", "Abandoned",
                                        "CallEnded"]
            abandoned, end = w.story(call_id)[-2:]
            assert abandoned.phase == "waiting" and 30 < abandoned.waited < 40
            assert (end.hung_up_by, end.phase) == ("caller", "waiting")
    run(main())


def test_abandoned_while_the_agents_phone_rang():
    async def main():
        async with World() as w:
            w.phones["anna"].answer_after = None
            w.ctl.agent_login("anna")
            ch = Caller("2001", "0701112233", keys=((3.0, "1"),), hangup_after=12.0).dial(w.pbx)
            await w.until(lambda: ch.hungup and not w.ctl.calls)
            call_id = f"vx-{ch.uniqueid}"
            assert w.kinds(call_id) == ["CallArrived", "IvrDone", "Queued", "Offered",
                                        "Abandoned", "CallEnded"]
            assert w.story(call_id)[-2].phase == "offered"
            await w.until(lambda: w.ctl.router.agents["anna"].state is AgentState.READY)
            anna = [(e.state, e.cause) for e in w.events if isinstance(e, ev.AgentChanged)]
            assert anna[-1] == ("ready", "cancel")  # no miss: the caller left
    run(main())


def test_no_answer_then_the_next_agent():
    async def main():
        async with World() as w:
            w.phones["anna"].answer_after = None  # rings out (30 s)
            w.ctl.agent_login("anna")
            ch = Caller("2001", "0701112233", keys=((3.0, "0"),)).dial(w.pbx)  # växeln
            await w.until(lambda: w.phones["anna"].calls == 1)
            w.ctl.agent_login("cecilia")  # växeln too, at level 3
            await w.until(lambda: ch.hungup and not w.ctl.calls, seconds=90)
            call_id = f"vx-{ch.uniqueid}"
            assert w.kinds(call_id) == ["CallArrived", "IvrDone", "Queued", "Offered",
                                        "OfferFailed", "Offered", "Connected", "CallEnded"]
            _, _, _, first, failed, second, connected, _ = w.story(call_id)
            assert (first.agent, failed.agent, failed.why, failed.missed) == (
                "anna", "anna", "no answer", True)
            assert second.agent == connected.agent == "cecilia"
    run(main())


def test_overflow_to_the_partner_who_is_busy_and_back_in_place():
    async def main():
        async with World() as w:
            Phone("partner-trunk", busy=True).register(w.pbx)
            ch = await in_line(w)
            call_id = f"vx-{ch.uniqueid}"
            w.ctl.set_crisis(True)
            await w.until(lambda: "PartnerResult" in w.kinds(call_id))
            await w.until(lambda: ch.moh_class is not None)  # waiting again
            w.ctl.agent_login("anna")
            await w.until(lambda: ch.hungup and not w.ctl.calls)
            assert w.kinds(call_id) == ["CallArrived", "IvrDone", "Queued", "Overflowed",
                                        "PartnerResult", "Offered", "Connected", "CallEnded"]
            over, result = w.story(call_id)[3:5]
            assert (over.target, over.rule, result.status, result.answered) == (
                "partner", "crisis mode", "BUSY", False)
            assert [type(e).__name__ for e in w.events
                    if isinstance(e, ev.CrisisSwitched)] == ["CrisisSwitched"]
    run(main())


def test_refused_when_the_line_is_full_hears_the_groups_message(tmp_path):
    folder = config_copy(tmp_path, (
        """    overflow:
      - {when: waiting_over, limit: 12, to: partner}
      - {when: crisis, to: partner}
""", """    max_waiting: 1
    full_prompt: hog-belastning
"""))

    async def main():
        async with World(folder) as w:
            played = []
            w.pbx.listeners.append(lambda h: played.append((dict(h)["Channel"], dict(h).get(
                "Command", ""))) if h[0][1] == "AGIExecStart" else None)
            first = Caller("2001", "0701112233", keys=((3.0, "0"),)).dial(w.pbx)
            await w.until(lambda: first.moh_class is not None)
            second = Caller("2002", "0701112244", keys=((3.0, "0"),)).dial(w.pbx)
            await w.until(lambda: second.hungup)
            call_id = f"vx-{second.uniqueid}"
            await w.until(lambda: w.ctl.calls.on_channel(second.name) is None)
            assert w.kinds(call_id) == ["CallArrived", "IvrDone", "Queued", "Refused",
                                        "CallEnded"]
            refused = w.story(call_id)[3]
            assert (refused.why, refused.prompt) == ("line full (1 waiting)", "hog-belastning")
            assert ended(w, call_id)[0].hung_up_by == "vaxel"
            heard = [c for chan, c in played if chan == second.name]
            assert heard[-2:] == ["STREAM FILE vaxel/sv/hog-belastning \"\"", "HANGUP"]
            assert not first.hungup  # the first waits on
    run(main())


# Opening hours: felanmälan closes at 16:00 in these tests, the centre's number at 16:30.
EARLY_CLOSE = ("""      mon-fri: ["07:00-18:00"]""", """      mon-fri: ["07:00-16:00"]""")
NO_RULES = ("""    overflow:
      - {when: no_agents, to: vaxeln}
      - {when: ewt_over, limit: 5m, to: partner}
""", "")
# without the example's duty line: callers would be sent to the duty phone at closing time
NO_DUTY = ('    duty: "0709112233"                 # jour: out of hours, fault reports go to '
           'the duty phone\n', "")
FELANMALAN = ((3.0, "4"), (6.0, "1"))  # gator och parker, then felanmälan
BEFORE_CLOSING = dt.datetime(2026, 11, 24, 15, 59)


def test_closing_time_with_callers_waiting_and_nobody_to_answer(tmp_path):
    """No overflow rule: at closing time the caller hears the group's closing message instead
    of waiting for ever (bo, its agent, is paused)."""
    folder = config_copy(tmp_path, EARLY_CLOSE, NO_RULES, NO_DUTY)

    async def main():
        async with World(folder, start=BEFORE_CLOSING) as w:
            w.ctl.agent_login("bo")
            w.ctl.agent_pause("bo", "lunch")
            ch = Caller("2001", "0701112233", keys=FELANMALAN).dial(w.pbx)
            await w.until(lambda: ch.moh_class is not None)
            assert w.ctl.opening()["felanmalan"]
            await w.until(lambda: ch.hungup, seconds=90)
            call_id = f"vx-{ch.uniqueid}"
            await w.until(lambda: not w.ctl.calls)
            assert w.kinds(call_id) == ["CallArrived", "IvrDone", "Queued", "Refused",
                                        "CallEnded"]
            refused = w.story(call_id)[3]
            assert (refused.why, refused.prompt) == ("group closed", "felanmalan-stangt")
            at = w.start + dt.timedelta(seconds=refused.at - w._t0)
            assert abs((at - BEFORE_CLOSING.replace(hour=16, minute=0)).total_seconds()) < 1
            assert [(e.group, e.open) for e in w.events
                    if isinstance(e, ev.OpeningChanged)] == [("felanmalan", False)]
            assert not w.ctl.opening()["felanmalan"]
    run(main())


def test_closing_time_fires_the_closed_rule_and_a_served_line_drains(tmp_path):
    """With a `closed` rule the waiting caller is moved at closing time; without, callers
    already in line are served while the group's agents can answer."""
    folder = config_copy(tmp_path, EARLY_CLOSE, (
        """      - {when: no_agents, to: vaxeln}
      - {when: ewt_over, limit: 5m, to: partner}""", """      - {when: closed, to: vaxeln}"""))

    async def main():
        async with World(folder, start=BEFORE_CLOSING) as w:
            w.ctl.agent_login("bo")
            w.ctl.agent_pause("bo", "lunch")
            ch = Caller("2001", "0701112233", keys=FELANMALAN).dial(w.pbx)
            await w.until(lambda: ch.moh_class is not None)
            call_id = f"vx-{ch.uniqueid}"
            await w.until(lambda: "Overflowed" in w.kinds(call_id), seconds=90)
            over = w.story(call_id)[3]
            assert (over.group, over.target, over.rule) == ("felanmalan", "vaxeln",
                                                            "group closed")
            assert not ch.hungup and ch.moh_class is not None  # waiting in växeln now
    run(main())


def test_a_line_being_served_drains_after_closing(tmp_path):
    folder = config_copy(tmp_path, EARLY_CLOSE, NO_RULES, NO_DUTY)

    async def main():
        async with World(folder, start=BEFORE_CLOSING) as w:
            w.phones["bo"].talk = 120.0
            w.ctl.agent_login("bo")
            talking = Caller("2001", "0701112233", keys=FELANMALAN).dial(w.pbx)
            await w.until(lambda: talking.bridge is not None)
            waiting = Caller("2002", "0701112244", keys=FELANMALAN).dial(w.pbx)
            await w.until(lambda: waiting.moh_class is not None)
            await w.until(lambda: not w.ctl.opening()["felanmalan"], seconds=90)
            await w.until(lambda: waiting.bridge is not None, seconds=240)  # bo takes them
            assert "Refused" not in w.kinds(f"vx-{waiting.uniqueid}")
    run(main())


def test_adopted_after_a_restart_keeps_the_place():
    async def main():
        async with World() as w:
            ch = await in_line(w)
            call_id = f"vx-{ch.uniqueid}"
            arrival = w.story(call_id)[2].arrival
            await w.kill()
            await w.start_controller()
            await w.until(lambda: w.kinds(call_id).count("Queued") == 2)
            w.ctl.agent_login("anna")
            await w.until(lambda: ch.hungup and not w.ctl.calls)
            assert w.kinds(call_id) == ["CallArrived", "IvrDone", "Queued", "CallArrived",
                                        "Queued", "Offered", "Connected", "CallEnded"]
            again, queued = w.story(call_id)[3:5]
            assert again.adopted and queued.arrival == pytest.approx(arrival, abs=0.001)
    run(main())


def test_a_reload_while_callers_wait_keeps_their_place(tmp_path):
    folder = config_copy(tmp_path)

    async def main():
        async with World(folder) as w:
            first = await in_line(w)
            second = await in_line(w, "0701112244")
            path = folder / "vaxel.yaml"
            path.write_text(path.read_text().replace("name: Växeln", "name: Växeln (kväll)"))
            version, changes = await w.centre.reload()
            assert version.number == 2 and changes == [
                "group vaxeln: name: Växeln -> Växeln (kväll)"]
            activated = [e for e in w.events if isinstance(e, ev.ConfigurationActivated)]
            assert [(e.version, e.changes) for e in activated] == [(2, tuple(changes))]
            assert w.ctl.router.position(f"vx-{first.uniqueid}") == 1
            assert w.ctl.router.position(f"vx-{second.uniqueid}") == 2
            assert w.ctl.router.group_config("vaxeln").name == "Växeln (kväll)"
            w.ctl.agent_login("anna")
            await w.until(lambda: first.bridge is not None)
            assert second.bridge is None and not second.hungup
            # the callers finish on the version they started on; new ones take the new one
            assert {e.version for e in w.story(f"vx-{first.uniqueid}")} == {1}
            third = await in_line(w, "0701112255")
            assert {e.version for e in w.story(f"vx-{third.uniqueid}")} == {2}
    run(main())


def test_a_broken_reload_changes_nothing_and_says_where(tmp_path):
    folder = config_copy(tmp_path)

    async def main():
        async with World(folder) as w:
            ch = await in_line(w)
            path = folder / "vaxel.yaml"
            path.write_text(path.read_text().replace("threshold: 2m\n    wrap_up: 10s",
                                                     "threshold: soon\n    wrap_up: 10s"))
            with pytest.raises(ConfigError) as err:
                await w.centre.reload()
            where = f"vaxel.yaml:{vaxeln_threshold_line()}:"
            assert where in str(err.value) and "threshold" in str(err.value)
            assert w.ctl.version.number == 1 and w.centre.history.active.number == 1
            assert not any(isinstance(e, ev.ConfigurationActivated) for e in w.events)
            assert w.ctl.calls.on_channel(ch.name).phase is CallPhase.WAITING
            w.ctl.agent_login("anna")
            await w.until(lambda: ch.bridge is not None)
    run(main())


def test_a_stale_wrap_up_timer_does_nothing():
    """An agent who logs out in wrap-up and back in is ready: the old wrap-up timer, firing
    later, finds another state and leaves it (it raised IllegalTransition in a callback)."""
    async def main():
        async with World() as w:
            w.ctl.agent_login("anna")
            ch = Caller("2001", "0701112233", keys=((3.0, "1"),)).dial(w.pbx)
            await w.until(lambda: ch.hungup and not w.ctl.calls)
            anna = w.ctl.router.agents["anna"]
            assert anna.state is AgentState.WRAP_UP  # 30 s
            w.ctl.agent_logout("anna")
            w.ctl.agent_login("anna")
            w.ctl.agent_pause("anna", "coffee")
            await w.until(lambda: w.ctl.now() > anna.state_since + 40)
            assert anna.state is AgentState.PAUSED and anna.pause_reason == "coffee"
    run(main())


def test_call_events_are_frozen_and_say_their_version():
    e = ev.Connected(at=1.0, version=3, call_id="vx-1", group="g", agent="anna", waited=2.0,
                     threshold=120.0)
    with pytest.raises(AttributeError):
        e.agent = "bo"
    assert e.version == 3


def test_a_bug_in_a_callers_task_is_logged_with_the_call_and_the_caller_sent_on(
        monkeypatch, caplog):
    """Never swallowed, never silence: in a line the caller is taken back into it (once);
    elsewhere they hear the fallback message and the call ends."""
    import controller.engine as engine

    real_decide = engine.decide
    failures = []

    def decide_failing_once(*args):
        if not failures:
            failures.append(1)
            raise RuntimeError("a bug in the announcements")
        return real_decide(*args)

    async def ivr_failing(*args, **kwargs):
        raise ValueError("a bug in the menus")

    monkeypatch.setattr(engine, "decide", decide_failing_once)

    async def main():
        async with World() as w:
            waiting = await in_line(w)
            await w.until(lambda: failures)
            w.ctl.agent_login("anna")
            await w.until(lambda: waiting.bridge is not None)  # still served from the line
            monkeypatch.setattr(engine, "run_ivr", ivr_failing)
            played = []
            w.pbx.listeners.append(lambda h: played.append(dict(h).get("Command", ""))
                                   if h[0][1] == "AGIExecStart" else None)
            menus = Caller("2002", "0701112244").dial(w.pbx)
            await w.until(lambda: menus.hungup)
            assert played[-2:] == ['STREAM FILE vaxel/sv/fallback ""', "HANGUP"]
            call_id = f"vx-{menus.uniqueid}"
            await w.until(lambda: w.ctl.calls.on_channel(menus.name) is None)
            assert w.kinds(call_id) == ["CallArrived", "CallEnded"]
            assert w.story(call_id)[-1].hung_up_by == "vaxel"
            return f"vx-{waiting.uniqueid}", call_id

    with caplog.at_level("ERROR", logger="vaxel.calls"):
        waited, chose = run(main())
    failed = [r for r in caplog.records if "failed in phase" in r.getMessage()]
    assert [r.getMessage().split()[1] for r in failed] == [waited, chose]
    assert all(r.exc_info for r in failed)  # with the traceback
