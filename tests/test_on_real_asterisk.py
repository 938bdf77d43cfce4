"""What a real Asterisk 22 with real SIP phones did to vaxel (shared/asterisk/vaxel-on-asterisk,
findings 1-10 of its issue), each met once more through the fake PBX, which now behaves as the
real one did there: answer state, Local channels optimized away, unregistered phones."""

import asyncio
import datetime as dt
import logging
import time
import zoneinfo

import pytest

from agents import AgentState
from config.errors import ConfigError
from controller.configuration import load_configuration
from controller.engine import Controller
from telephony.ami_codec import Message
from telephony.dialplan import render_extensions
from telephony.fakepbx import Dialplan, FakePbx
from telephony.fakepbx.actors import Caller, Phone
from telephony.fakepbx.channel import UP
from telephony.fakepbx.pbx import OriginateRequest
from telephony.port import translate

from . import virtual_clock
from .world import EXAMPLE, ROOT, World, run


def sent(w, event, **match):
    """Collects what the fake PBX emits (all of it, before the AMI user's filters)."""
    seen = []
    w.pbx.listeners.append(lambda h: seen.append(dict(h)) if h[0][1] == event and all(
        dict(h).get(k) == v for k, v in match.items()) else None)
    return seen


# 1. The call is answered before the IVR speaks ---------------------------------------------------

def test_1_the_caller_is_answered_before_the_first_prompt_and_their_key_reaches_the_menu():
    async def main():
        async with World() as w:
            w.ctl.agent_login("anna")
            ch = Caller("2001", "0701112233", keys=((3.0, "1"),)).dial(w.pbx)
            await w.until(lambda: w.ctl.calls.on_channel(ch.name))
            assert ch.state == UP  # before AsyncAGI: Answer() in vaxel-inbound
            await w.until(lambda: ch.bridge is not None)
            assert ch.refused_keys == ""
    run(main())


def test_1_the_fake_pbx_gives_a_ringing_caller_no_media_and_takes_no_key_from_them():
    """As s1doc recorded: without Answer(), prompts go nowhere and the phone sends no key."""
    async def main():
        unanswered = "[in]\nexten => 1,1,Wait(5)\n same => n,Hangup()\n"
        pbx = FakePbx(Dialplan.parse(unanswered))
        ch = Caller("2001", "0701112233", dialled="1", context="in",
                    keys=((1.0, "1"),)).dial(pbx)
        await asyncio.sleep(6)
        assert ch.refused_keys == "1" and ch.state != UP
        assert pbx.longest_silence(ch.name) >= 5.0
        await pbx.close()
    virtual_clock.run(main())


def test_1_a_called_phone_s_silence_counts_from_its_answer_not_its_ringing():
    """A citizen called back rings 8 s, then hears 3 s of nothing: 3 s of silence, the ringing
    was their phone's own (World holds called-back citizens to the same silence limit)."""
    async def main():
        pbx = FakePbx(Dialplan.parse("[back]\nexten => s,1,Wait(3)\n same => n,Hangup()\n"))
        Phone("citizen", answer_after=8.0).register(pbx)
        names = []
        pbx.listeners.append(lambda h: names.append(dict(h)["Channel"])
                             if dict(h).get("Event") == "Newchannel" else None)
        await pbx.originate(OriginateRequest("PJSIP/citizen", context="back", exten="s",
                                             timeout=20), lambda h: None)
        await asyncio.sleep(15)
        silence = pbx.longest_silence(names[0])
        await pbx.close()
        return silence

    assert 2.9 <= virtual_clock.run(main()) <= 3.1


# 2, 3 and 9. The agent's leg is the agent's own phone; wrap-up starts when the talk ends ----------

def test_2_the_agent_stays_busy_for_the_whole_conversation_and_nobody_else_rings_her():
    """s1, s1b: the optimized-away Local leg looked like the agent hanging up 20 ms in."""
    async def main():
        async with World() as w:
            w.phones["anna"].talk = 45.0
            originates = sent(w, "Newchannel")
            w.ctl.agent_login("anna")
            first = Caller("2001", "0701112233", keys=((3.0, "1"),)).dial(w.pbx)
            await w.until(lambda: first.bridge is not None)
            second = Caller("2002", "0701112244", keys=((3.0, "1"),)).dial(w.pbx)
            anna = w.ctl.router.agents["anna"]
            await asyncio.sleep(30)
            assert anna.state is AgentState.BUSY and w.phones["anna"].calls == 1
            assert second.bridge is None and second.moh_class is not None  # waits, with music
            legs = [e["Channel"] for e in originates if e["Channel"].startswith(("PJSIP/anna",
                                                                                  "Local/"))]
            assert legs and all(n.startswith("PJSIP/anna-") for n in legs)  # no Local pair
            await w.until(lambda: second.bridge is not None, seconds=120)
    run(main())


def test_2_the_fake_pbx_optimizes_a_local_agent_leg_away_in_both_directions():
    """What Asterisk 22 did with Originate Local/anna@... Application=Bridge (s1: the agent's
    phone moved into the caller's bridge; s5: the caller into Dial's)."""
    async def one(direction):
        dialplan = ("[in]\nexten => 1,1,Answer()\n same => n,Wait(60)\n"
                    "[agents]\nexten => anna,1,Dial(PJSIP/anna,20)\n")
        pbx = FakePbx(Dialplan.parse(dialplan))
        pbx.local_swaps = iter([direction])
        events = []
        pbx.listeners.append(lambda h: events.append(dict(h)))
        Phone("anna", answer_after=0.5, talk=3.0, context="agents-phones").register(pbx)
        caller = Caller("2001", "0701112233", dialled="1", context="in").dial(pbx)
        await asyncio.sleep(0.5)
        await pbx.originate(OriginateRequest("Local/anna@agents", application="Bridge",
                                             data=caller.name, channel_id="leg-1",
                                             timeout=20), lambda h: None)
        await asyncio.sleep(5)
        await pbx.close()
        return events, caller

    for direction, swapped, swap_id in (("agent_in", "PJSIP/anna-", "leg-1"),
                                        ("caller_in", "PJSIP/2001-", "leg-1;2")):
        events, caller = virtual_clock.run(one(direction))
        names = [e["Event"] for e in events]
        assert "LocalOptimizationBegin" in names and "LocalOptimizationEnd" in names
        gone = {e["Channel"]: e["Cause"] for e in events if e["Event"] == "Hangup"}
        assert {c for c in gone if c.startswith("Local/")} == {
            "Local/anna@agents-00000001;1", "Local/anna@agents-00000001;2"}
        assert all(gone[c] == "16" for c in gone if c.startswith("Local/"))
        (swap,) = [e for e in events if e["Event"] == "BridgeEnter" and "SwapUniqueid" in e]
        assert swap["Channel"].startswith(swapped) and swap["SwapUniqueid"] == swap_id
        # the conversation goes on after the swap, until anna hangs up 3 s after answering
        enter = next(i for i, e in enumerate(events) if e is swap)
        assert any(e["Event"] == "Hangup" and e["Channel"].startswith("PJSIP/anna-")
                   for e in events[enter:])
        assert caller.hungup or caller.bridge is None


def test_3_a_second_bridge_enter_of_the_caller_changes_nothing(caplog):
    """s5: the swap brought a second BridgeEnter; it raised IllegalTransition and counted twice."""
    async def main():
        async with World() as w:
            w.ctl.agent_login("anna")
            ch = Caller("2001", "0701112233", keys=((3.0, "1"),)).dial(w.pbx)
            enters = sent(w, "BridgeEnter", Context="vaxel-inbound")
            await w.until(lambda: ch.bridge is not None)
            await asyncio.sleep(0.1)
            again = [(k, v) for k, v in enters[0].items()] + [("SwapUniqueid", "x;2")]
            w.ctl._fact(translate(Message.of(again)))  # exactly as Asterisk repeats it after a swap
            w.ctl._fact(translate(Message.of(again)))
            assert w.statistics()["answered"] == 1
            assert w.ctl.router.agents["anna"].state is AgentState.BUSY
            await w.until(lambda: ch.hungup)
    with caplog.at_level(logging.ERROR):
        run(main())
    assert "IllegalTransition" not in caplog.text and "failed" not in caplog.text


def test_9_wrap_up_is_counted_from_the_end_of_the_conversation():
    """s9d: the second caller was connected 5 s after the first call ended, not after the
    group's 30 s of wrap-up."""
    async def main():
        async with World() as w:
            w.phones["anna"].talk = 20.0
            w.ctl.agent_login("anna")
            first = Caller("2001", "0701112233", keys=((3.0, "1"),)).dial(w.pbx)
            second = Caller("2002", "0701112244", keys=((5.0, "1"),)).dial(w.pbx)
            await w.until(lambda: first.hungup)
            ended = w.pbx.now()
            await w.until(lambda: second.bridge is not None, seconds=120)
            wrap_up = w.ctl.version.config.groups["barn-och-utbildning"].wrap_up
            # rung when the wrap-up ends, answered 1 s later
            assert ended + wrap_up <= w.pbx.now() <= ended + wrap_up + 2.0
    run(main())


# 4. Never silence ------------------------------------------------------------------------------

def test_4_music_plays_while_the_agent_rings_and_after_the_offer_fails():
    """s3: 150 s of silence after three unanswered rings; the World checks every caller heard
    something all the time."""
    async def main():
        async with World() as w:
            w.phones["anna"].answer_after = None  # rings, never answers
            w.phones["cecilia"].answer_after = 4.0
            w.ctl.agent_login("anna")
            ch = Caller("2001", "0701112233", keys=((3.0, "0"),)).dial(w.pbx)  # växeln
            await w.until(lambda: w.phones["anna"].calls == 1)
            await asyncio.sleep(5)
            assert ch.moh_class is not None  # music while anna's phone rings
            await w.until(lambda: w.ctl.router.agents["anna"].state is AgentState.PAUSED,
                          seconds=200)
            assert not ch.hungup and w.silences()[ch.name] < 1.0  # music and announcements
            w.ctl.agent_login("cecilia")  # växeln too
            await w.until(lambda: ch.bridge is not None, seconds=60)
            assert w.silences()[ch.name] < 1.0
    run(main())


# 5. An agent whose phone is not registered ------------------------------------------------------

def test_5_an_agent_whose_phone_is_not_registered_is_offered_nothing():
    """s3b: three failed offers in 9 ms and an auto-pause, without ever ringing."""
    async def main():
        async with World() as w:
            w.phones["anna"].unregister(w.pbx)
            w.ctl.agent_login("anna")
            ch = Caller("2001", "0701112233", keys=((3.0, "0"),)).dial(w.pbx)
            await w.until(lambda: ch.moh_class is not None)
            await asyncio.sleep(30)
            anna = w.ctl.router.agents["anna"]
            assert anna.state is AgentState.READY and anna.missed_in_row == 0
            assert not anna.device_available and w.phones["anna"].calls == 0
            w.phones["anna"].register(w.pbx)  # her phone comes back: she is offered the call
            await w.until(lambda: ch.bridge is not None)
    run(main())


def test_5_a_phone_unregistered_before_the_controller_connects_is_known_from_the_listing():
    async def main():
        async with World() as w:
            await w.stop_controller()
            w.phones["bo"].registered = False  # gone while no controller listened
            await w.start_controller()
            await w.until(lambda: not w.ctl.router.agents["bo"].device_available)
            assert w.ctl.router.agents["anna"].device_available
    run(main())


# 6. The fallback prompt ------------------------------------------------------------------------

def test_6_the_fallback_prompt_exists_in_both_languages_and_is_checked(tmp_path):
    conf = load_configuration(EXAMPLE)
    assert conf.settings.fallback.message in conf.loaded.config.prompts
    for lang in ("sv", "en"):
        assert (ROOT / "sounds" / lang / f"{conf.settings.fallback.message}.wav").is_file()
    dialplan = render_extensions(conf.settings)
    assert "Playback(vaxel/${CHANNEL(language)}/fallback)" in dialplan
    for f in EXAMPLE.glob("*.yaml"):
        (tmp_path / f.name).write_text(f.read_text(encoding="utf-8"), encoding="utf-8")
    tel = tmp_path / "telephony.yaml"
    tel.write_text(tel.read_text(encoding="utf-8").replace("message: fallback",
                                                           "message: hej-da"), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"fallback\.message 'hej-da' is not a prompt"):
        load_configuration(tmp_path)


def test_6_an_english_caller_of_a_stopped_controller_hears_the_english_fallback():
    """s4b: a missing Swedish-only file, after 30 s of silence."""
    async def main():
        async with World() as w:
            w.silence_expected = "the controller is stopped: the lease is the way out"
            played = sent(w, "VarSet", Variable="PLAYBACKSTATUS")
            newexten = sent(w, "Newexten", Context="vaxel-fallback")
            await w.kill()  # the controller dies: the lease runs out into the fallback
            ch = Caller("2001", "0701112233", dialled="0812346").dial(w.pbx)  # the English line
            await w.until(lambda: ch.hungup, seconds=120)
            apps = [e["AppData"] for e in newexten if e.get("Application") == "Playback"]
            assert apps == ["vaxel/en/fallback"]
            assert [e["Value"] for e in played if e["Channel"] == ch.name][-1] == "SUCCESS"
    run(main())


# 7. The crisis switch ------------------------------------------------------------------------

def test_7_callers_arriving_while_the_crisis_switch_is_on_hear_the_crisis_message():
    """s6: the switch sent callers to the partner, but a new caller heard no crisis message."""
    async def main():
        async with World() as w:
            trunk = Phone("partner-trunk", answer_after=1.0, talk=3.0)
            trunk.register(w.pbx)
            commands = sent(w, "AGIExecStart")
            w.ctl.set_crisis(True)
            ch = Caller("2001", "0701112233", keys=((30.0, "0"),)).dial(w.pbx)
            await w.until(lambda: ch.hungup)
            mine = [e["Command"] for e in commands if e["Channel"] == ch.name]
            crisis = w.ctl.version.config.crisis.prompt
            assert mine[0].startswith(f"STREAM FILE vaxel/sv/{crisis} ")  # before the menu
            assert mine[1].startswith("GET DATA vaxel/sv/huvudmeny ")
    run(main())


# 8. A group whose only agent is paused ---------------------------------------------------------

def test_8_callers_of_a_group_whose_agents_are_all_paused_move_on():
    """s3: no_agents counted a paused agent as present, so the caller waited for ever."""
    async def main():
        async with World() as w:
            w.ctl.agent_login("anna")  # in barn-och-utbildning and vaxeln
            w.ctl.agent_login("cecilia")  # in vaxeln
            w.ctl.agent_pause("anna", "lunch")
            ch = Caller("2001", "0701112233", keys=((3.0, "1"),)).dial(w.pbx)
            await w.until(lambda: ch.bridge is not None)
            state = w.ctl.calls.on_channel(ch.name)
            assert state.group == "vaxeln"  # barn-och-utbildning's no_agents rule moved it
            await w.until(lambda: ch.hungup)
    run(main())


# 10. The centre's time zone ----------------------------------------------------------------------

def test_10_opening_hours_follow_the_centres_time_zone_not_the_servers(monkeypatch):
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    try:
        conf = load_configuration(EXAMPLE)
        ctl = Controller(_version(conf), conf.settings, link=None)
        stockholm = dt.datetime.now(zoneinfo.ZoneInfo("Europe/Stockholm")).replace(tzinfo=None)
        assert abs((ctl.wallclock() - stockholm).total_seconds()) < 5
        winter = dt.datetime(2026, 12, 2, 7, 30, tzinfo=dt.UTC)  # 08:30 in Stockholm
        assert conf.loaded.config.local_time(winter) == dt.datetime(2026, 12, 2, 8, 30)
        hours = conf.loaded.config.hours["kontaktcenter"].schedule()
        assert hours.is_open(conf.loaded.config.local_time(winter))
        assert not hours.is_open(winter.replace(tzinfo=None))  # 07:30: what a UTC clock says
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()


def _version(conf):
    from config.versions import ConfigHistory

    return ConfigHistory(conf.loaded, dt.datetime(2026, 12, 2)).active


def test_10_a_time_zone_that_does_not_exist_is_refused(tmp_path):
    for f in EXAMPLE.glob("*.yaml"):
        (tmp_path / f.name).write_text(f.read_text(encoding="utf-8"), encoding="utf-8")
    vaxel = tmp_path / "vaxel.yaml"
    vaxel.write_text(vaxel.read_text(encoding="utf-8").replace(
        "timezone: Europe/Stockholm", "timezone: Europe/Stokholm"), encoding="utf-8")
    with pytest.raises(ConfigError, match="'Europe/Stokholm' is not a time zone"):
        load_configuration(tmp_path)



def test_facts_are_idempotent_a_repeated_hangup_or_originate_response_counts_nothing_twice():
    async def main():
        async with World() as w:
            w.phones["anna"].answer_after = None  # never answers: the offer fails
            hangups = sent(w, "Hangup")
            w.ctl.agent_login("anna")
            caller = Caller("2001", "0701112233", keys=((3.0, "0"),))
            ch = caller.dial(w.pbx)
            await w.until(lambda: getattr(w.ctl.calls.on_channel(ch.name), "agent_leg", None))
            leg = w.ctl.calls.on_channel(ch.name).agent_leg
            anna = w.ctl.router.agents["anna"]
            await w.until(lambda: anna.missed_in_row == 1)
            failure = Message.of([("Event", "OriginateResponse"), ("Response", "Failure"),
                                  ("Channel", "PJSIP/anna"), ("Reason", "3"),
                                  ("Uniqueid", leg)])
            for _ in range(2):  # Asterisk says it again (a resync, a re-listed event)
                w.ctl._fact(translate(failure))
            assert anna.missed_in_row == 1
            caller.hang_up(w.pbx)
            await w.until(lambda: not w.ctl.calls)
            caller_gone = [h for h in hangups if h["Channel"] == ch.name]
            for _ in range(2):
                w.ctl._fact(translate(Message.of(list(caller_gone[0].items()))))
            assert w.statistics()["abandoned"] == 1 and w.statistics()["calls"] == 1
    run(main())


# Crisis volumes (the link lost under load) ---------------------------------------------------

def test_a_lost_link_pauses_no_agent_and_offers_resume_after_the_resync():
    """At 120 calls/s the link dropped for 0.65 s: offers that failed only because it was down
    counted as missed calls and paused 399 of 400 agents (vaxel-on-asterisk/load)."""
    async def main():
        async with World() as w:
            callers = [Caller(f"20{i:02d}", f"07011122{i:02d}", keys=((3.0, "0"),)).dial(w.pbx)
                       for i in range(4)]
            await w.until(lambda: all(c.moh_class is not None for c in callers))
            w.server.unreachable_for(5.0)
            await asyncio.sleep(0.1)
            w.ctl.agent_login("anna")  # offers now would fail at once, for the link's fault
            w.ctl.agent_login("cecilia")
            await asyncio.sleep(3)
            for agent in ("anna", "cecilia"):
                assert w.ctl.router.agents[agent].missed_in_row == 0
                assert w.ctl.router.agents[agent].state is AgentState.READY
            await w.until(lambda: w.ctl.link.connected, seconds=60)
            await w.until(lambda: sum(c.bridge is not None for c in callers) == 2)
            assert w.phones["anna"].calls == 1 and w.phones["cecilia"].calls == 1
            assert all(a.state is not AgentState.PAUSED for a in w.ctl.router.agents.values())
    run(main())


def test_callers_in_the_menus_and_in_line_when_the_link_drops_are_served_after_the_resync():
    """The other half of the load finding: callers whose menu command failed with the link
    were left in silence for ever, their lease renewed by a keeper that served nobody."""
    async def main():
        async with World() as w:
            in_menu = Caller("2001", "0701112233", keys=((15.0, "1"),)).dial(w.pbx)
            waiting = Caller("2002", "0701112244", keys=((3.0, "0"),)).dial(w.pbx)
            await w.until(lambda: waiting.moh_class is not None
                          and w.ctl.calls.on_channel(in_menu.name))
            w.server.unreachable_for(4.0)  # both have an AGI command pending: its answer is lost
            await w.until(lambda: w.ctl.link.connected, seconds=60)
            w.ctl.agent_login("anna")  # barn-och-utbildning and växeln
            await w.until(lambda: waiting.bridge is not None, seconds=60)
            await w.until(lambda: waiting.hungup, seconds=60)
            await w.until(lambda: in_menu.bridge is not None, seconds=120)  # the menu again
            states = list(w.ctl.calls)
            assert all(not s.phase.in_agi or (s.task and not s.task.done()) or (s.hold and not
                       s.hold.done()) for s in states)
            w.silence_expected = "an AGI command whose answer the dead link lost may end in " \
                                 "silence until the resync takes the call up again"
    run(main())


def test_an_asterisk_that_falls_behind_engages_the_overload_policy_and_releases_it():
    """At 120 calls/s Asterisk answered AGI commands seconds late while callers kept coming:
    new callers now hear overload.prompt instead of piling on; when it catches up, the
    menus again."""
    async def main():
        async with World() as w:
            commands = sent(w, "AGIExecStart")
            w.server.action_cost = 1.0  # every action waits its turn in a saturated Asterisk
            busy = [Caller(f"20{i:02d}", f"07011122{i:02d}", keys=((3.0, "0"),)).dial(w.pbx)
                    for i in range(12)]
            await w.until(lambda: w.ctl.overloaded, seconds=120)
            late = Caller("2099", "0701112299").dial(w.pbx)
            await w.until(lambda: late.hungup, seconds=120)
            said = [e["Command"] for e in commands if e["Channel"] == late.name]
            prompt = w.ctl.version.config.overload.prompt
            assert said[0].startswith(f"STREAM FILE vaxel/sv/{prompt} ")
            assert w.statistics()["turned_away"] >= 1
            w.server.action_cost = 0.0  # it catches up
            await w.until(lambda: not w.ctl.overloaded, seconds=120)
            after = Caller("2098", "0701112298", keys=((3.0, "0"),)).dial(w.pbx)
            await w.until(lambda: after.moh_class is not None, seconds=60)  # menus, then line
            assert all(not c.hungup for c in busy)  # callers already in were kept
            w.silence_expected = "a saturated Asterisk answers every command late"
    run(main())


def test_a_stalled_asterisk_engages_the_overload_policy_before_any_late_answer():
    """Stalled, Asterisk answers nothing, so no late answer moves the average yet; the oldest
    action waiting unanswered tells it at once, and the next caller hears overload.prompt."""
    async def main():
        async with World() as w:
            first = Caller("2001", "0701112201", keys=((3.0, "0"),)).dial(w.pbx)
            await w.until(lambda: w.ctl.calls.on_channel(first.name) is not None)
            w.server.action_cost = 30.0  # stalled: each action waits 30 s for its answer
            await asyncio.sleep(1.0)
            Caller("2002", "0701112202").dial(w.pbx)  # its first action stalls too
            await asyncio.sleep(3.0)
            assert w.link.lag == 0.0 and w.link.oldest_unanswered() > 2.0
            Caller("2003", "0701112203").dial(w.pbx)
            await w.until(lambda: w.ctl.overloaded, seconds=5)
            assert w.link.lag < w.ctl.version.config.overload.lag  # the average: not yet
            w.server.action_cost = 0.0
            await w.until(lambda: not w.ctl.overloaded, seconds=120)
            w.silence_expected = "a stalled Asterisk plays nothing while it is stalled"
    run(main())


def test_the_overload_routing_sends_new_callers_past_the_menus_to_the_partner(tmp_path):
    """overload.group: while Asterisk cannot keep up, new callers skip the menus (the fewest
    commands) into växeln's line, whose overload rule sends them to the partner, who answers
    in the municipality's name. Callers already in the menus go on as they were."""
    from controller import events as ev

    from .world import config_copy

    folder = config_copy(tmp_path, ("  prompt: hog-belastning\n",
                                    "  prompt: hog-belastning\n  group: vaxeln\n"),
                         ("      - {when: crisis, to: partner}\n",
                          "      - {when: crisis, to: partner}\n"
                          "      - {when: overload, to: partner}\n"))

    async def main():
        async with World(folder) as w:
            trunk = Phone("partner-trunk", answer_after=1.0, talk=3.0)
            trunk.register(w.pbx)
            in_menu = Caller("2001", "0701112201", keys=((8.0, "1"),)).dial(w.pbx)
            await w.until(lambda: w.ctl.calls.on_channel(in_menu.name) is not None)
            w.server.action_cost = 3.0  # Asterisk answers every action 3 s late
            w.silence_expected = "a slow Asterisk starts the music late too"
            await w.until(lambda: w.ctl.overloaded, seconds=30)
            new = Caller("2002", "0701112202").dial(w.pbx)  # presses nothing: no menus
            call = f"vx-{new.uniqueid}"
            await w.until(lambda: any(isinstance(e, ev.Overflowed) for e in w.story(call)),
                          seconds=60)
            w.server.action_cost = 0.0
            await w.until(lambda: new.hungup and in_menu.hungup, seconds=120)
            return w.story(call), w.story(f"vx-{in_menu.uniqueid}")
    story, earlier = run(main())
    kinds = [type(e).__name__ for e in story]
    assert kinds[:3] == ["CallArrived", "IvrDone", "Queued"]
    assert story[1].outcome == "overload" and story[1].target == "vaxeln"
    moved = next(e for e in story if isinstance(e, ev.Overflowed))
    assert moved.target == "partner" and moved.rule == "Asterisk overloaded"
    result = next(e for e in story if isinstance(e, ev.PartnerResult))
    assert result.answered
    went_on = next(e for e in earlier if isinstance(e, ev.IvrDone))
    assert went_on.outcome == "group" and went_on.keys == "1"


def test_back_pressure_holds_actions_back_while_too_many_are_unanswered():
    async def main():
        async with World() as w:
            w.link.max_unanswered = 2
            w.server.action_cost = 0.5
            results = await asyncio.gather(*(w.link.action("Ping") for _ in range(6)))
            assert all(r.response == "Success" for r in results)
            assert w.link.statistics().waited_for_room >= 4
            await w.until(lambda: w.link.unanswered == 0)
    run(main())


def test_an_originate_that_times_out_on_a_live_link_stops_no_other_offer():
    """A slow Asterisk answers one Originate too late: that offer is withdrawn (no miss), but
    the link is up, so offers go on without waiting for a reconnect."""
    async def main():
        async with World() as w:
            ch = Caller("2001", "0701112233", keys=((3.0, "0"),)).dial(w.pbx)
            await w.until(lambda: ch.moh_class is not None)
            w.link.action_timeout = 0.5
            w.server.action_cost = 1.0  # every action answered a second late
            w.ctl.agent_login("anna")
            await w.until(lambda: any(getattr(e, "why", "").startswith("withdrawn")
                                      for e in w.events))
            assert w.ctl.router.agents["anna"].missed_in_row == 0
            w.server.action_cost = 0.0
            w.link.action_timeout = 10.0
            await w.until(lambda: w.statistics()["answered"] == 1, seconds=120)
            assert w.ctl.router.agents["anna"].state is AgentState.BUSY
            assert w.ctl.link.statistics().disconnects == 0
            w.silence_expected = "a slow Asterisk answers the music commands late too"
    run(main())


# The PBX's own failures ----------------------------------------------------------------------

def test_an_offer_the_pbx_fails_itself_is_no_miss_and_offers_pause_a_moment():
    """An Asterisk at its limits fails Originates with congestion: not the agents' misses
    (at 120 calls/s such failures auto-paused 399 of 400 agents). Offers pause 2 s, then the
    caller is offered again; the failed leg's own end, later, says nothing of the new offer."""
    from controller import events as ev
    from telephony.port import LegFailed

    async def main():
        async with World() as w:
            w.phones["anna"].answer_after = None  # rings until the PBX's verdict below
            w.ctl.agent_login("anna")
            ch = Caller("2001", "0701112233", keys=((3.0, "1"),)).dial(w.pbx)
            await w.until(lambda: getattr(w.ctl.calls.on_channel(ch.name), "agent_leg", None))
            state = w.ctl.calls.on_channel(ch.name)
            first = state.agent_leg
            for _ in range(3):  # three in a row would auto-pause if they were misses
                w.ctl._fact(LegFailed(state.agent_leg, "congestion"))
                anna = w.ctl.router.agents["anna"]
                assert anna.missed_in_row == 0 and anna.state is AgentState.READY
                assert not w.ctl.router.offering  # a moment's pause
                await w.until(lambda: state.agent_leg is not None and
                              w.ctl.calls.of_leg(state.agent_leg) is state)
            assert state.agent_leg != first
            failed = [e for e in w.events if isinstance(e, ev.OfferFailed)]
            assert [(e.missed, e.why) for e in failed][:3] == [
                (False, "withdrawn: congestion (the PBX's, not the agent's)")] * 3
            w.phones["anna"].answer_after = 1.0
            await w.until(lambda: ch.bridge is not None, seconds=90)
            assert w.ctl.router.agents["anna"].state is AgentState.BUSY
    run(main())
