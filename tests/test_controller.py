"""Whole calls through the controller, the link and the fake PBX running the rendered dialplan,
on a virtual clock (tests/virtual_clock.py): Exempelkommun with its real prompts. Minutes of
ringing and music pass in milliseconds, and CPU load never moves the clock."""

import asyncio
import datetime as dt
import gc

from agents import AgentState
from telephony.fakepbx.actors import Caller, Phone

from .world import EXAMPLE, SCALE, TUESDAY, World, run


def test_the_happy_path_ivr_queue_agent_wrap_up():
    async def main():
        async with World() as w:
            w.ctl.agent_login("anna")
            caller = Caller("2001", "0701112233", keys=((3.0, "1"),))
            ch = caller.dial(w.pbx)
            await w.until(lambda: w.ctl.calls.on_channel(ch.name))
            state = w.ctl.calls.on_channel(ch.name)
            await w.until(lambda: ch.hungup)
            await w.until(lambda: not w.ctl.calls)
            assert w.kinds(state.call_id) == ["CallArrived", "IvrDone", "Queued", "Offered",
                                              "Connected", "CallEnded"]
            done, *_, ended = [e for e in w.events_of(state.call_id)
                               if type(e).__name__ in ("IvrDone", "CallEnded")]
            assert (done.outcome, done.target, done.keys) == ("group", "barn-och-utbildning",
                                                              "1")
            assert (ended.hung_up_by, ended.phase, ended.agent) == ("agent", "connected",
                                                                    "anna")
            assert w.phones["anna"].calls == 1
            anna = w.ctl.router.agents["anna"]
            assert anna.state is AgentState.WRAP_UP  # 30 s of after-call work
            await w.until(lambda: anna.state is AgentState.READY, seconds=40)
            assert not w.ctl.router.calls
            # nothing of the call stays behind in the controller
            assert not (w.ctl.calls or w.ctl.calls.legs())
    run(main())


def test_a_caller_waits_with_music_until_an_agent_logs_in():
    async def main():
        async with World() as w:
            caller = Caller("2001", "0701112233", keys=((3.0, "0"),))  # växeln
            ch = caller.dial(w.pbx)
            await w.until(lambda: ch.moh_class is not None)
            call_id = w.ctl.calls.on_channel(ch.name).call_id
            assert w.ctl.router.position(call_id) == 1
            w.ctl.agent_login("anna")
            await w.until(lambda: ch.bridge is not None)
            assert ch.moh_class is None  # the bridge stopped the music
    run(main())


def test_crisis_overflow_to_the_partner_who_answers():
    async def main():
        async with World() as w:
            trunk = Phone("partner-trunk", answer_after=1.0, talk=3.0)
            trunk.register(w.pbx)
            ch = Caller("2001", "0701112233", keys=((3.0, "0"),)).dial(w.pbx)
            await w.until(lambda: ch.moh_class is not None)
            state = w.ctl.calls.on_channel(ch.name)
            w.ctl.set_crisis(True)
            await w.until(lambda: not w.ctl.calls)  # the controller saw it end
            assert w.kinds(state.call_id) == ["CallArrived", "IvrDone", "Queued", "Overflowed",
                                              "PartnerResult", "CallEnded"]
            _, _, _, over, result, ended = w.story(state.call_id)
            assert (over.target, over.rule) == ("partner", "crisis mode")
            assert (result.status, result.answered) == ("ANSWER", True)
            assert ended.hung_up_by == "partner"
            assert trunk.calls == 1 and not w.ctl.router.calls
            assert w.ctl.router.partner.active == set()
    run(main())


def test_a_busy_partner_sends_the_caller_back_to_their_place():
    async def main():
        async with World() as w:
            trunk = Phone("partner-trunk", busy=True)
            trunk.register(w.pbx)
            first = Caller("2001", "0701112233", keys=((3.0, "0"),)).dial(w.pbx)
            await w.until(lambda: first.moh_class is not None)
            second = Caller("2002", "0701112244", keys=((3.0, "0"),)).dial(w.pbx)
            await w.until(lambda: second.moh_class is not None)
            state = w.ctl.calls.on_channel(first.name)
            w.ctl.set_crisis(True)
            await w.until(lambda: "PartnerResult" in w.kinds(state.call_id))
            assert [e.status for e in w.events_of(state.call_id)
                    if type(e).__name__ == "PartnerResult"] == ["BUSY"]
            w.ctl.set_crisis(False)
            await w.until(lambda: first.moh_class is not None)  # waiting again
            assert w.ctl.router.position(state.call_id) == 1  # ahead of the second caller
            w.ctl.agent_login("anna")
            await w.until(lambda: first.bridge is not None)
    run(main())


def test_a_caller_who_hangs_up_mid_conversation_ends_it_once():
    async def main():
        async with World() as w:
            w.phones["anna"].talk = None  # anna would talk for ever
            w.ctl.agent_login("anna")
            caller = Caller("2001", "0701112233", keys=((3.0, "1"),), hangup_after=20.0)
            ch = caller.dial(w.pbx)
            await w.until(lambda: ch.hungup and not w.ctl.calls)
            anna = w.ctl.router.agents["anna"]
            await w.until(lambda: anna.state is AgentState.WRAP_UP)
            await asyncio.sleep(2 * SCALE)
            assert w.pbx.errors == [] and not w.ctl.router.calls
            assert w.statistics()["answered"] == 1
            assert not (w.ctl.calls or w.ctl.calls.legs())
    run(main())


def test_an_agent_who_hangs_up_as_they_answer_ends_the_call():
    """The phone hangs up before Dial has bridged it (Dial first answers its own side, which
    waits up to 500 ms for media): the bridge ends at once instead of holding the caller."""
    async def main():
        async with World() as w:
            w.phones["anna"].talk = 0.0
            w.ctl.agent_login("anna")
            ch = Caller("2001", "0701112233", keys=((3.0, "1"),)).dial(w.pbx)
            await w.until(lambda: ch.hungup and not w.ctl.calls)
            assert not w.pbx.channels and w.pbx.errors == []
            assert w.statistics()["answered"] == 1
    run(main())


def test_finished_calls_are_freed_at_once_not_left_to_the_garbage_collector():
    """No reference cycle holds a call (a full collection over hundreds of dead calls stalls
    the event loop for tens of milliseconds)."""
    from controller.engine import CallState

    async def main():
        async with World() as w:
            w.ctl.agent_login("anna")
            talked = Caller("2001", "0701112233", keys=((3.0, "1"),)).dial(w.pbx)
            gave_up = Caller("2002", "0701112244", keys=((3.0, "1"),),
                             hangup_after=8.0).dial(w.pbx)
            await w.until(lambda: talked.hungup and gave_up.hungup and not w.ctl.calls)
            await asyncio.sleep(1 * SCALE)  # the cancelled tasks finish
            left = [o for o in gc.get_objects() if isinstance(o, CallState)]
            assert left == []
    gc.collect()
    gc.disable()
    try:
        run(main())
    finally:
        gc.enable()


def test_a_caller_who_gives_up_while_waiting_counts_as_abandoned():
    async def main():
        async with World() as w:
            ch = Caller("2001", "0701112233", keys=((3.0, "0"),), hangup_after=40.0).dial(w.pbx)
            await w.until(lambda: ch.hungup and not w.ctl.calls)
            assert w.statistics()["abandoned"] == 1 and not w.ctl.router.calls
    run(main())


async def kill(w):
    await w.kill()


async def restart(w):
    await w.start_controller()


def entered(w, context):
    seen = []
    w.pbx.listeners.append(lambda h: seen.append(dict(h)) if h[0][1] == "Newexten"
                           and dict(h).get("Context") == context else None)
    return seen


def test_when_the_controller_dies_waiting_callers_reach_the_fallback():
    async def main():
        async with World() as w:
            trunk = Phone("partner-trunk", answer_after=1.0, talk=2.0)
            trunk.register(w.pbx)
            fallback = entered(w, "vaxel-fallback")
            in_ivr = Caller("2001", "0701112233").dial(w.pbx)  # silent: still in the menus
            waiting = Caller("2002", "0701112244", keys=((3.0, "0"),)).dial(w.pbx)
            await w.until(lambda: waiting.moh_class is not None)
            await kill(w)
            await w.until(lambda: in_ivr.hungup and waiting.hungup, seconds=120)
            assert {e["Channel"] for e in fallback} == {in_ivr.name, waiting.name}
            assert trunk.calls == 2
    run(main())


def test_a_caller_talking_when_the_controller_dies_finishes_the_conversation():
    async def main():
        async with World() as w:
            fallback = entered(w, "vaxel-fallback")
            w.ctl.agent_login("anna")
            ch = Caller("2001", "0701112233", keys=((3.0, "1"),)).dial(w.pbx)
            await w.until(lambda: ch.bridge is not None)
            answered = w.pbx.now()
            await kill(w)
            await w.until(lambda: ch.hungup)  # anna finished; the dialplan ended the call
            # anna's 5 s of talk (from her answer, a little before the test saw the bridge)
            assert w.pbx.now() - answered >= 4.0  # the call was not cut
            assert fallback == []  # served callers are never sent on to the fallback
    run(main())


def test_a_restarted_controller_adopts_waiting_callers_in_their_places():
    async def main():
        async with World() as w:
            first = Caller("2001", "0701112233", keys=((3.0, "0"),)).dial(w.pbx)
            await w.until(lambda: first.moh_class is not None)
            second = Caller("2002", "0701112244", keys=((3.0, "0"),)).dial(w.pbx)
            await w.until(lambda: second.moh_class is not None)
            await kill(w)
            await asyncio.sleep(5 * SCALE)  # well within the 30 s lease
            await restart(w)
            await w.until(lambda: len(w.ctl.router.calls) == 2)
            ids = {s.channel: s.call_id for s in list(w.ctl.calls)}
            assert w.ctl.router.position(ids[first.name]) == 1
            assert w.ctl.router.position(ids[second.name]) == 2
            w.phones["anna"].talk = None  # anna stays on the first call
            w.ctl.agent_login("anna")
            await w.until(lambda: first.bridge is not None)
            assert second.bridge is None and not second.hungup
            # the lease is kept fresh by the new controller: nobody fell to the fallback
            await asyncio.sleep(40 * SCALE)
            assert not second.hungup and second.lease_deadline is not None
    run(main())


def test_a_restarted_controller_takes_a_caller_in_the_menus_through_them_again():
    async def main():
        async with World() as w:
            # the first key reaches the dead controller's menu, still playing; the caller
            # hears the menu again and presses again
            ch = Caller("2001", "0701112233", keys=((12.0, "1"), (16.0, "1"))).dial(w.pbx)
            await w.until(lambda: w.ctl.calls.on_channel(ch.name))
            call_id = w.ctl.calls.on_channel(ch.name).call_id
            assert call_id == f"vx-{ch.uniqueid}" == ch.variables["VAXEL_CALLID"]
            await asyncio.sleep(2 * SCALE)
            await kill(w)
            await asyncio.sleep(3 * SCALE)
            await restart(w)
            await w.until(lambda: w.ctl.calls.on_channel(ch.name))
            state = w.ctl.calls.on_channel(ch.name)
            assert state.call_id == call_id
            await w.until(lambda: w.kinds(call_id).count("IvrDone") == 1)
            # the first controller's arrival, then the second's adoption: the menus again
            assert w.kinds(call_id)[:4] == ["CallArrived", "CallArrived", "IvrDone", "Queued"]
            assert [e.adopted for e in w.story(call_id)[:2]] == [False, True]
            assert w.ctl.router.position(call_id) == 1
            # nobody staffs the group, so its rule moves the caller on: the place follows
            await w.until(lambda: ch.variables.get("VAXEL_PLACE", "").startswith(state.group))
            group, arrival = ch.variables["VAXEL_PLACE"].split()
            assert group == w.ctl.router.calls[call_id].group_id
            assert float(arrival) == round(w.ctl.router.calls[call_id].arrival, 3)
    run(main())


def test_after_an_ami_drop_the_answered_agent_is_noticed_and_nothing_is_sent_twice():
    async def main():
        async with World() as w:
            w.phones["anna"].answer_after = 3.0
            w.phones["anna"].talk = None
            w.ctl.agent_login("anna")
            ch = Caller("2001", "0701112233", keys=((3.0, "1"),)).dial(w.pbx)
            await w.until(lambda: w.phones["anna"].calls == 1)  # anna's phone rings
            w.server.drop_all()  # the network blinks; anna answers meanwhile
            await w.until(lambda: ch.bridge is not None)
            await w.until(lambda: w.ctl.router.agents["anna"].state is AgentState.BUSY)
            assert w.server.stats.actions["originate"] == 1
    run(main())


def test_a_whole_agent_call_inside_an_ami_blackout_is_understood_afterwards():
    async def main():
        async with World() as w:
            w.phones["anna"].answer_after, w.phones["anna"].talk = 1.0, 2.0
            w.ctl.agent_login("anna")
            ch = Caller("2001", "0701112233", keys=((3.0, "1"),)).dial(w.pbx)
            await w.until(lambda: w.phones["anna"].calls == 1)
            w.server.drop_all()  # the reconnect takes longer than the whole conversation
            await w.until(lambda: ch.hungup and not w.ctl.calls)  # the controller let it go
            assert not (w.ctl.calls.legs() or w.ctl.calls)
            anna = w.ctl.router.agents["anna"]
            assert anna.state in (AgentState.WRAP_UP, AgentState.READY)
            assert w.server.stats.actions["originate"] == 1 and not w.ctl.router.calls
    run(main())


def test_no_answer_goes_to_the_next_agent_and_misses_in_a_row_pause_the_agent():
    async def main():
        async with World() as w:
            w.phones["anna"].answer_after = None  # anna never answers (rings 20 s each time)
            w.ctl.router.agents["anna"].auto_pause_after = 2
            w.ctl.agent_login("anna")
            ch = Caller("2001", "0701112233", keys=((3.0, "0"),)).dial(w.pbx)
            await w.until(lambda: w.ctl.router.agents["anna"].state is AgentState.PAUSED,
                          seconds=90)
            assert w.ctl.router.agents["anna"].pause_reason == "auto: missed calls"
            assert w.phones["anna"].calls == 2 and not ch.hungup
            w.ctl.agent_login("cecilia")  # växeln, level 3
            await w.until(lambda: ch.bridge is not None)
            assert w.phones["cecilia"].calls == 1
    run(main())


def test_a_caller_who_hangs_up_while_the_agent_rings_cancels_the_agent_leg():
    async def main():
        async with World() as w:
            w.phones["anna"].answer_after = None
            w.ctl.agent_login("anna")
            ch = Caller("2001", "0701112233", keys=((3.0, "0"),), hangup_after=12.0).dial(w.pbx)
            await w.until(lambda: w.phones["anna"].calls == 1)
            await w.until(lambda: ch.hungup and not w.ctl.calls)
            await w.until(lambda: not any(c.name.startswith("PJSIP/anna")
                                          for c in w.pbx.channels.values()), seconds=10)
            assert w.ctl.router.agents["anna"].state is AgentState.READY
            assert w.statistics()["abandoned"] == 1
    run(main())


def test_a_closed_group_plays_its_closed_prompt():
    async def main():
        async with World() as w:
            w.ctl.wallclock = lambda: dt.datetime(2026, 11, 28, 16, 0)  # a Saturday, 16:00
            saturday = w.ctl.version.config.numbers["0812345"].model_copy(update={"hours": None})
            config = w.ctl.version.config.model_copy(
                update={"numbers": {"0812345": saturday}})
            w.ctl.version = type(w.ctl.version)(9, w.ctl.version.loaded.__class__(
                config, EXAMPLE, "test"), TUESDAY)
            played = []
            w.pbx.listeners.append(lambda h: played.append(dict(h).get("Command", ""))
                                   if h[0][1] == "AGIExecStart" else None)
            ch = Caller("2001", "0701112233", keys=((3.0, "4"), (6.0, "1"))).dial(w.pbx)
            await w.until(lambda: ch.hungup and not w.ctl.calls)
            assert any("felanmalan-stangt" in c for c in played)
            assert not w.ctl.calls and not w.ctl.router.calls
    run(main())


def test_the_crisis_message_plays_before_the_menu():
    async def main():
        async with World() as w:
            from config.schema import Crisis
            config = w.ctl.version.config.model_copy(update={"crisis": Crisis(
                active=True, prompt="kris-vattenlacka")})
            w.ctl.version = type(w.ctl.version)(9, w.ctl.version.loaded.__class__(
                config, EXAMPLE, "test"), TUESDAY)
            played = []
            w.pbx.listeners.append(lambda h: played.append(dict(h).get("Command", ""))
                                   if h[0][1] == "AGIExecStart" else None)
            w.ctl.agent_login("anna")
            ch = Caller("2001", "0701112233", keys=((20.0, "0"),)).dial(w.pbx)
            await w.until(lambda: ch.bridge is not None)
            prompts = [c for c in played if "vaxel/sv/" in c]
            assert "kris-vattenlacka" in prompts[0] and "huvudmeny" in prompts[1]
    run(main())


def test_waiting_callers_hear_their_place_and_the_wait_and_may_leave():
    async def main():
        async with World() as w:
            for agent_id in ("anna", "cecilia"):  # two serving växeln, both busy for long
                w.phones[agent_id].talk = None
                w.ctl.agent_login(agent_id)
            played = []
            w.pbx.listeners.append(lambda h: played.append((dict(h)["Channel"], dict(h).get(
                "Command", ""))) if h[0][1] == "AGIExecStart" else None)
            busy = [Caller(f"20{i}", f"07011122{i}", keys=((3.0, "0"),)).dial(w.pbx)
                    for i in (10, 11)]
            await w.until(lambda: all(c.bridge is not None for c in busy))
            ch = Caller("2001", "0701112233", keys=((3.0, "0"), (60.0, "1"))).dial(w.pbx)
            await w.until(lambda: w.ctl.calls.on_channel(ch.name))
            state = w.ctl.calls.on_channel(ch.name)
            await w.until(lambda: ch.hungup, seconds=120)
            mine = [c for chan, c in played if chan == ch.name]
            said = [c.split()[2] for c in mine if c.startswith("STREAM FILE vaxel/sv/")]
            assert said[:6] == ["vaxel/sv/phrase/du-ar-nummer", "vaxel/sv/num/1",
                                "vaxel/sv/phrase/i-kon", "vaxel/sv/phrase/vantetid-ungefar",
                                said[4], said[5]]
            assert said[4].startswith("vaxel/sv/num/") and said[5] == "vaxel/sv/phrase/minuter"
            assert said[6] == "vaxel/sv/lamna-kon" and said[-1] == "vaxel/sv/har-lamnat-kon"
            await w.until(lambda: w.ctl.calls.on_channel(ch.name) is None)
            assert w.kinds(state.call_id) == ["CallArrived", "IvrDone", "Queued", "LeftLine",
                                              "CallEnded"]
            assert w.events_of(state.call_id)[-1].hung_up_by == "vaxel"
            assert not w.ctl.router.calls.get(state.call_id)
    run(main())


def test_when_the_controller_dies_while_an_agent_rings_the_call_still_completes():
    """The agent leg was already originated with Application=Bridge: Asterisk connects it."""
    async def main():
        async with World() as w:
            w.phones["anna"].answer_after = 3.0
            w.ctl.agent_login("anna")
            ch = Caller("2001", "0701112233", keys=((3.0, "1"),)).dial(w.pbx)
            await w.until(lambda: w.phones["anna"].calls == 1)
            await kill(w)
            await w.until(lambda: ch.bridge is not None)  # anna answers: still connected
            await w.until(lambda: ch.hungup, seconds=120)  # then the lease ends it in time
    run(main())


def test_when_the_controller_dies_with_a_caller_at_the_partner_nobody_is_stranded():
    async def main():
        async with World() as w:
            trunk = Phone("partner-trunk", answer_after=1.0, talk=4.0)
            trunk.register(w.pbx)
            partner = entered(w, "vaxel-partner")
            ch = Caller("2001", "0701112233", keys=((3.0, "0"),)).dial(w.pbx)
            await w.until(lambda: ch.moh_class is not None)
            w.ctl.set_crisis(True)
            await w.until(lambda: ch.bridge is not None)  # talking with the partner
            await kill(w)
            w.silence_expected = "back from the partner into a dead controller's AGI: the " \
                                 "lease's T extension is its way out"
            await w.until(lambda: ch.hungup, seconds=120)
            # after the partner, the re-armed lease ran out in the partner context's T
            assert any(e["Exten"] == "T" for e in partner)
    run(main())


def test_a_conversation_that_ends_during_an_ami_blackout_is_closed_afterwards():
    async def main():
        async with World() as w:
            w.phones["anna"].answer_after, w.phones["anna"].talk = 0.5, 3.0
            fallback = entered(w, "vaxel-fallback")
            w.ctl.agent_login("anna")
            ch = Caller("2001", "0701112233", keys=((3.0, "1"),)).dial(w.pbx)
            await w.until(lambda: w.ctl.router.agents["anna"].state is AgentState.BUSY)
            w.server.drop_all()  # the conversation ends while the link is down
            await w.until(lambda: ch.hungup and not w.ctl.calls)
            assert fallback == []  # the dialplan ended the call, not the lease
            assert w.ctl.router.agents["anna"].state in (AgentState.WRAP_UP, AgentState.READY)
            assert not w.ctl.calls and not w.ctl.router.calls
    run(main())


def test_a_citizen_who_would_give_up_does_not_once_an_agent_talks_to_them():
    """The demo's citizens give up while they wait, never in the middle of a conversation."""
    async def main():
        async with World() as w:
            w.ctl.agent_login("anna")  # answers after 1 s, talks 5 s
            ch = Caller("2001", "0701112233", keys=((3.0, "1"),), gives_up_after=6.0).dial(
                w.pbx)
            await w.until(lambda: ch.hungup)
            assert w.pbx.now() > 6.0 + 1.0  # the conversation went on past the give-up time
            assert w.statistics()["answered"] == 1
            assert w.statistics()["abandoned"] == 0
    run(main())


def test_a_citizen_gives_up_while_waiting():
    async def main():
        async with World() as w:
            ch = Caller("2001", "0701112233", keys=((3.0, "1"),), gives_up_after=20.0).dial(
                w.pbx)
            await w.until(lambda: ch.hungup)
            assert 19.9 <= w.pbx.now() <= 21.0 and w.statistics()["answered"] == 0
    run(main())


def test_a_wrap_up_timer_that_fires_after_a_logout_and_login_changes_nothing(caplog):
    """An agent logs out during wrap-up and in again: the old timer must not end a wrap-up
    that is no longer there (it raised IllegalTransition inside an asyncio callback)."""
    async def main():
        async with World() as w:
            w.ctl.agent_login("anna")
            ch = Caller("2001", "0701112233", keys=((3.0, "1"),)).dial(w.pbx)
            await w.until(lambda: ch.hungup)
            anna = w.ctl.router.agents["anna"]
            assert anna.state is AgentState.WRAP_UP
            w.ctl.agent_logout("anna")
            w.ctl.agent_login("anna")
            await asyncio.sleep(40)  # past the old wrap-up's end
            assert anna.state is AgentState.READY
    with caplog.at_level("ERROR"):
        run(main())
    assert "IllegalTransition" not in caplog.text and "Exception in callback" not in caplog.text


def test_the_log_has_one_line_a_call_with_all_its_events_and_every_event_at_debug(caplog):
    async def main():
        async with World() as w:
            w.ctl.agent_login("anna")
            ch = Caller("2001", "0701112233", keys=((3.0, "1"),)).dial(w.pbx)
            await w.until(lambda: ch.hungup and not w.ctl.calls)
    with caplog.at_level("INFO", logger="vaxel.calls"):
        run(main())
    lines = [r.getMessage() for r in caplog.records if r.name == "vaxel.calls"
             and r.levelname == "INFO" and r.getMessage().startswith("call ")]
    assert len(lines) == 1
    assert "0701112233" not in lines[0]  # the caller's number is the call log's, not the log's
    assert lines[0].endswith(": arrived on 0812345; ivr group "
                             "barn-och-utbildning keys=1; queued in barn-och-utbildning at 1; "
                             "offered to anna; connected to anna after 1 s; ended by the agent "
                             "while connected")
    caplog.clear()
    with caplog.at_level("DEBUG", logger="vaxel.calls"):
        run(main())
    assert any(r.getMessage().endswith(" connected to anna after 1 s") for r in caplog.records
               if r.levelname == "DEBUG")
