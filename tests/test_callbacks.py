"""Callbacks through the fake PBX (sip-traces/t3 (a): the agent's leg first, in AsyncAGI, then the
citizen), on the virtual clock: booked in the menus, while waiting and at closing time; the
caller's place kept; busy, no answer, the agent who does not answer; expiry, merge, cancel;
a restart with requests pending."""

import asyncio

import pytest

from agents import AgentState
from controller import events as ev
from telephony.fakepbx.actors import Answer, Caller, Phone

from .world import World, config_copy, run

GROUP = "socialtjanst-och-aldreomsorg"
# Exempelkommun's socialtjänst with a callback policy the tests can wait for
POLICY = ("""      attempts: 3
      spacing: 10m
      expires: 1d
""", """      attempts: 2
      spacing: 1m
      expires: 30m
      ring: 10s
""")
BOOK_IN_MENU = ((3.0, "3"), (6.0, "2"), (9.0, "1"), (13.0, "1"))  # socialtjänst, callback, yes


OFFER = ("offer_over: 5m ", "offer_over: 1m ")


def folder(tmp_path, *more, append=""):
    return config_copy(tmp_path, POLICY, OFFER, *more, append=append)


def trunk(w, *script, after=1.0, talk=20.0):
    """The citizens called back answer through the operator's trunk, talking 20 s."""
    return w.operator_trunk(*script, after=after, talk=talk)


def of(w, cls, call_id=None):
    return [e for e in w.events if isinstance(e, cls)
            and (call_id is None or e.call_id == call_id)]


def story(w, call_id):
    return [type(e).__name__ for e in w.events
            if isinstance(e, ev.CallbackEvent) and e.call_id == call_id]


async def book(w, number="0701112233", keys=BOOK_IN_MENU, endpoint="2001"):
    """A caller books a callback in the menus (socialtjänst, 2) and confirms their number."""
    ch = Caller(endpoint, number, keys=keys).dial(w.pbx)
    await w.until(lambda: w.ctl.calls.on_channel(ch.name))
    call_id = w.ctl.calls.on_channel(ch.name).call_id
    await w.until(lambda: ch.hungup)
    return call_id, ch


def test_booked_in_the_menu_the_agent_is_called_first_then_the_citizen(tmp_path):
    async def main():
        async with World(folder(tmp_path)) as w:
            w.phones["cecilia"].talk = None  # the citizen ends the conversation
            operator = trunk(w)
            played, citizen_steps = [], []
            w.pbx.listeners.append(lambda h: played.append(
                (dict(h)["Channel"], dict(h).get("Command", "")))
                if h[0][1] == "AGIExecStart" else None)
            w.pbx.listeners.append(lambda h: citizen_steps.append(
                (h[0][1], dict(h).get("Application", ""), dict(h).get("AppData", "")))
                if dict(h).get("Channel", "").startswith("PJSIP/operator-trunk")
                and h[0][1] in ("Newexten", "BridgeEnter") else None)
            call_id, ch = await book(w)
            # the caller's call ended with the request; the request waits in their place
            assert w.kinds(call_id) == ["CallArrived", "IvrDone", "CallEnded"]
            requested, = of(w, ev.CallbackRequested, call_id)
            assert (requested.caller, requested.source, requested.group) == (
                "0701112233", "ivr", GROUP)
            assert w.ctl.router.position(call_id) == 1
            assert (ch.name, 'STREAM FILE vaxel/sv/phrase/cb-bokad ""') in played
            w.ctl.agent_login("cecilia")
            await w.until(lambda: "CallbackEnded" in story(w, call_id), seconds=60)
            assert story(w, call_id) == ["CallbackRequested", "CallbackOffered",
                                         "CallbackDialling", "CallbackConnected",
                                         "CallbackEnded"]
            ended, = of(w, ev.CallbackEnded, call_id)
            assert (ended.outcome, ended.attempts, ended.by) == ("reached", 1, "citizen")
            connected, = of(w, ev.CallbackConnected, call_id)
            assert connected.agent == "cecilia" and connected.waited < connected.target
            # the agent heard who and why before the citizen's phone rang
            intro = [c.split()[2] for channel, c in played
                     if channel.startswith("PJSIP/cecilia") and c.startswith("STREAM FILE")]
            assert intro == ["vaxel/sv/phrase/cb-aterupringning-till",
                             *[f"vaxel/sv/num/{d}" for d in "0701112233"],
                             "vaxel/sv/socialtjanst-namn",  # the group's name_prompt
                             "vaxel/sv/phrase/cb-har-vantat", "vaxel/sv/num/0",
                             "vaxel/sv/phrase/minuter"]  # "väntat noll minuter"
            assert operator.calls == 1 and w.phones["cecilia"].calls == 1
            # the citizen heard who calls before they were bridged with the agent
            steps = [s[:2] for s in citizen_steps if s[1] in ("Playback", "Bridge")
                     or s[0] == "BridgeEnter"]
            assert steps == [("Newexten", "Playback"), ("Newexten", "Bridge"),
                             ("BridgeEnter", "")]
            assert citizen_steps[[s[1] for s in citizen_steps].index("Playback")][2] == \
                "vaxel/sv/phrase/cb-halsning"
            cecilia = w.ctl.router.agents["cecilia"]
            assert cecilia.state is AgentState.WRAP_UP and w.ctl.wrapping("cecilia") == call_id
            assert not w.ctl.desk.requests and not w.ctl.router.calls
    run(main())


def press_one_meanwhile(start, until=90.0):
    """A caller who presses 1 every few seconds (to confirm whenever they are asked)."""
    return tuple((t, "1") for t in range(int(start), int(until), 3))


def test_a_waiting_caller_offered_a_callback_keeps_their_place_for_those_behind(tmp_path):
    async def main():
        async with World(folder(tmp_path)) as w:
            w.phones["cecilia"].talk = None
            operator = trunk(w)
            w.ctl.agent_login("cecilia")
            talking = Caller("2001", "0701110001", keys=((3.0, "3"), (6.0, "1"))).dial(w.pbx)
            await w.until(lambda: talking.bridge is not None)
            # the next caller waits (about 6 minutes estimated: offered a callback, key 2)
            b = Caller("2002", "0701110002", keys=((3.0, "3"), (6.0, "1"), (20.0, "2"),
                                                   *press_one_meanwhile(24, 45))).dial(w.pbx)
            c = Caller("2003", "0701110003", keys=((3.0, "3"), (6.0, "1"))).dial(w.pbx)
            await w.until(lambda: c.moh_class is not None and b.moh_class is not None)
            b_id, c_id = (w.ctl.calls.on_channel(x.name).call_id for x in (b, c))
            assert w.ctl.router.position(c_id) == 2
            before = w.ctl.now()
            ewt_before = w.ctl.router.ewt(c_id, before)
            await w.until(lambda: b.hungup)
            requested, = of(w, ev.CallbackRequested, b_id)
            assert (requested.source, requested.caller) == ("waiting", "0701110002")
            assert w.kinds(b_id)[-1] == "CallEnded" and "Abandoned" not in w.kinds(b_id)
            queued = next(e for e in w.events_of(b_id) if isinstance(e, ev.Queued))
            assert requested.arrival == queued.arrival  # the place kept: the first arrival
            # those behind keep their place and their estimated wait
            assert w.ctl.router.position(b_id) == 1 and w.ctl.router.position(c_id) == 2
            # (the agent's call ahead has run on meanwhile: the wait is shorter by as much)
            now = w.ctl.now()
            assert w.ctl.router.ewt(c_id, now) == pytest.approx(ewt_before - (now - before))
            # the conversation ends: the request comes before the caller behind it
            w.pbx.endpoints["cecilia"].hang_up(w.pbx)
            await w.until(lambda: of(w, ev.CallbackOffered, b_id))
            assert not [e for e in w.events_of(c_id) if isinstance(e, ev.Offered)]
            await w.until(lambda: of(w, ev.CallbackEnded, b_id), seconds=120)
            assert of(w, ev.CallbackEnded, b_id)[0].outcome == "reached"
            assert operator.calls == 1
    run(main())


def test_a_busy_citizen_is_tried_again_after_the_spacing(tmp_path):

    async def main():
        async with World(folder(tmp_path)) as w:
            w.phones["cecilia"].talk = None
            operator = trunk(w, Answer("busy"))
            w.ctl.agent_login("cecilia")
            call_id, _ = await book(w)
            await w.until(lambda: of(w, ev.CallbackEnded, call_id), seconds=300)
            assert story(w, call_id) == [
                "CallbackRequested", "CallbackOffered", "CallbackDialling",
                "CallbackAttemptFailed", "CallbackOffered", "CallbackDialling",
                "CallbackConnected", "CallbackEnded"]
            failed, = of(w, ev.CallbackAttemptFailed, call_id)
            assert (failed.why, failed.attempt) == ("busy", 1)
            assert failed.retry_at == failed.at + 60  # spacing 1m
            second = of(w, ev.CallbackOffered, call_id)[1]
            assert second.at >= failed.retry_at
            ended, = of(w, ev.CallbackEnded, call_id)
            assert (ended.outcome, ended.attempts) == ("reached", 2)
            assert operator.calls == 2
            cecilia = w.ctl.router.agents["cecilia"]
            assert cecilia.missed_in_row == 0  # the citizen's busy is not the agent's miss
            # between the attempts the agent was free, and her phone hung up
            assert [e.state for e in of(w, ev.AgentChanged) if e.agent == "cecilia"][:4] == [
                "ready", "ringing", "ready", "ringing"]
    run(main())


def test_a_citizen_who_never_answers_fails_after_the_last_attempt(tmp_path):
    async def main():
        async with World(folder(tmp_path)) as w:
            w.phones["cecilia"].talk = None
            operator = trunk(w, after=None)  # rings out every time
            w.ctl.agent_login("cecilia")
            call_id, _ = await book(w)
            await w.until(lambda: of(w, ev.CallbackEnded, call_id), seconds=300)
            ended, = of(w, ev.CallbackEnded, call_id)
            assert (ended.outcome, ended.attempts) == ("failed", 2)
            assert [e.why for e in of(w, ev.CallbackAttemptFailed, call_id)] == [
                "no answer", "no answer"]
            assert [e.retry_at is None for e in of(w, ev.CallbackAttemptFailed, call_id)] == [
                False, True]
            assert operator.calls == 2 and not w.ctl.desk.requests
            assert w.ctl.router.agents["cecilia"].state is AgentState.READY
            assert not w.ctl.router.calls
    run(main())


def test_an_agent_who_does_not_answer_passes_the_request_to_the_next(tmp_path):

    anna = ("anna: {name: Anna Andersson, groups: {vaxeln: 1, barn-och-utbildning: 2}}",
            "anna: {name: Anna Andersson, groups: {vaxeln: 1, " + GROUP + ": 2}}")

    async def main():
        async with World(folder(tmp_path, anna)) as w:
            w.phones["anna"].script = [Answer("never")]
            w.phones["cecilia"].talk = None
            trunk(w)
            call_id, _ = await book(w)
            w.ctl.agent_login("anna")  # ready longest: offered first
            w.ctl.agent_login("cecilia")
            await w.until(lambda: of(w, ev.CallbackEnded, call_id), seconds=120)
            offers = of(w, ev.CallbackOffered, call_id)
            assert [o.agent for o in offers] == ["anna", "cecilia"]
            missed, = of(w, ev.CallbackOfferFailed, call_id)
            assert (missed.agent, missed.why, missed.missed) == ("anna", "no answer", True)
            assert w.ctl.router.agents["anna"].missed_in_row == 1
            assert of(w, ev.CallbackConnected, call_id)[0].agent == "cecilia"
            assert of(w, ev.CallbackDialling, call_id)[0].attempt == 1  # no citizen attempt lost
    run(main())


def test_a_request_waits_out_a_closing_and_one_left_in_line_is_offered_a_callback(tmp_path):
    no_rule = ("      - {when: no_agents, to: vaxeln}\n    callback:", "      []\n    callback:")

    async def main():
        async with World(folder(tmp_path, no_rule)) as w:
            w.phones["cecilia"].talk = None
            trunk(w)
            booked, _ = await book(w)
            # closed by hand: the request leaves the line, the caller still in it is offered
            # a callback when the group opens again
            waiting = Caller("2002", "0701110002",
                             keys=((3.0, "3"), (6.0, "1"), *press_one_meanwhile(20, 80))
                             ).dial(w.pbx)
            await w.until(lambda: waiting.moh_class is not None)
            waiting_id = w.ctl.calls.on_channel(waiting.name).call_id
            w.ctl.set_opening(GROUP, "closed")
            assert booked not in w.ctl.router.calls
            await w.until(lambda: waiting.hungup, seconds=120)
            requested, = of(w, ev.CallbackRequested, waiting_id)
            assert requested.source == "closing"
            refused, = [e for e in w.events_of(waiting_id) if isinstance(e, ev.Refused)]
            assert refused.why == "group closed"
            w.ctl.agent_login("cecilia")
            for _ in range(20):
                await asyncio.sleep(1)
            assert not of(w, ev.CallbackOffered)  # closed: nobody is called
            w.ctl.set_opening(GROUP, "auto")
            await w.until(lambda: len(of(w, ev.CallbackEnded)) == 2, seconds=300)
            # in the order of their places: the one booked in the menus came first
            assert [e.call_id for e in of(w, ev.CallbackOffered)] == [booked, waiting_id]
            assert {e.outcome for e in of(w, ev.CallbackEnded)} == {"reached"}
    run(main())


def test_requests_expire_and_close_with_their_group_when_it_says_so(tmp_path):
    async def main():
        async with World(folder(tmp_path, ("      ring: 10s\n",
                                           "      ring: 10s\n      at_closing: expire\n"))
                         ) as w:
            first, _ = await book(w)
            second, _ = await book(w, number="0701110002")
            w.ctl.desk.requests[second].requested_at -= 29 * 60  # booked half an hour ago
            w.ctl._timer(f"cb-expires:{second}", 60, lambda: w.ctl.desk._expire(second))
            await w.until(lambda: of(w, ev.CallbackEnded, second), seconds=120)
            assert of(w, ev.CallbackEnded, second)[0].outcome == "expired"
            w.ctl.set_opening(GROUP, "closed")
            ended, = of(w, ev.CallbackEnded, first)
            assert (ended.outcome, ended.by) == ("expired", "vaxel: closing time")
            assert not w.ctl.desk.requests and not w.ctl.router.calls
    run(main())


def test_a_second_request_is_merged_and_an_answered_call_cancels_it(tmp_path):
    async def main():
        async with World(folder(tmp_path)) as w:
            first, _ = await book(w)
            second, _ = await book(w)
            merged, = of(w, ev.CallbackRequested, second)
            assert merged.merged_into == first
            assert list(w.ctl.desk.requests) == [first]
            assert w.ctl.router.waiting_count(GROUP) == 1
            # the citizen calls again and anna answers (barn och utbildning): done
            w.ctl.agent_login("anna")
            again = Caller("2003", "+46701112233", keys=((3.0, "1"),)).dial(w.pbx)
            await w.until(lambda: again.bridge is not None)
            ended, = of(w, ev.CallbackEnded, first)
            assert (ended.outcome, ended.by) == ("cancelled", "answered call")
            assert not w.ctl.desk.requests and GROUP not in {
                c.group_id for c in w.ctl.router.calls.values()}
    run(main())


def test_requests_pending_at_a_restart_are_taken_up_once(tmp_path):
    async def main():
        url = f"sqlite:///{tmp_path / 'vaxel.sqlite'}"
        async with World(folder(tmp_path), store=url) as w:
            w.phones["cecilia"].talk = None
            operator = trunk(w)
            first, _ = await book(w)
            second, _ = await book(w, number="0701110002")
            place = {c: w.ctl.router.position(c) for c in (first, second)}
            await w.kill()  # the controller dies with two requests in line
            await w.start_controller()
            await w.until(lambda: len(w.ctl.desk.requests) == 2)
            restored = [e for e in of(w, ev.CallbackRequested) if e.restored]
            assert sorted(e.call_id for e in restored) == sorted([first, second])
            assert {c: w.ctl.router.position(c) for c in (first, second)} == place
            w.ctl.agent_login("cecilia")
            await w.until(lambda: len(of(w, ev.CallbackEnded)) == 2, seconds=300)
            assert [e.call_id for e in of(w, ev.CallbackConnected)] == [first, second]
            assert operator.calls == 2  # each citizen called once
            await w.stop_controller()
            await w.start_controller()  # nothing pending any more
            for _ in range(8):
                await asyncio.sleep(1)
            assert not w.ctl.desk.requests
    run(main())


def test_requests_in_the_spool_and_behind_a_database_away_at_start_are_taken_up(tmp_path):
    """The database is away while two requests are booked (they wait in the writer's spool)
    and still at the restart; once it is back the spool goes in, the requests are read and
    taken up, except the one whose citizen called again and was answered meanwhile."""
    away = tmp_path / "db"  # a file where the database's folder should be: it cannot open
    away.write_text("")
    url = f"sqlite:///{away / 'vaxel.sqlite'}"

    async def main():
        async with World(folder(tmp_path), store=url) as w:
            w.phones["cecilia"].talk = None
            operator = trunk(w)
            first, _ = await book(w)
            second, _ = await book(w, number="0701110002")
            await w.kill()
            assert w.centre.store.statistics()["in_spool"] > 0
            await w.start_controller()
            await asyncio.sleep(120)  # tried and tried again: nothing to take up
            assert not w.ctl.desk.requests
            w.ctl.agent_login("cecilia")
            again = Caller("2003", "0701112233", keys=((3.0, "3"), (6.0, "1"))).dial(w.pbx)
            await w.until(lambda: again.bridge is not None)
            w.pbx.endpoints["cecilia"].hang_up(w.pbx)
            away.unlink()  # the database is back
            await w.until(lambda: len(of(w, ev.CallbackEnded)) == 2, seconds=300)
            ended = {e.call_id: (e.outcome, e.by) for e in of(w, ev.CallbackEnded)}
            assert ended[first] == ("cancelled", "answered call")
            assert ended[second][0] == "reached"
            assert {e.call_id for e in of(w, ev.CallbackRequested) if e.restored} == {
                first, second}
            assert operator.calls == 1  # the second citizen, once
            assert w.centre.store.statistics()["in_spool"] == 0
    run(main())


def test_numbers_answered_while_the_call_log_is_away_are_kept_only_while_they_matter():
    """A call log away for days: the desk keeps each answered number (a pending request of
    theirs is done when it is read), but not past any group's expiry, so it does not grow."""
    from types import SimpleNamespace

    from controller.callbacks import FORGET_AT, CallbackDesk
    from queues.callback import CallbackPolicy

    clock = [0.0]
    day = CallbackPolicy().expires  # the longest expiry here: the default's
    groups = {"g": SimpleNamespace(callback=SimpleNamespace(core=lambda: CallbackPolicy(
        expires=3600.0)))}
    ctl = SimpleNamespace(now=lambda: clock[0], version=SimpleNamespace(
        config=SimpleNamespace(groups=groups)))
    desk = CallbackDesk(ctl)  # type: ignore[arg-type]
    desk.awaiting_restore()
    sizes = []
    for n in range(10 * FORGET_AT):  # 1,000 citizens a day for ten days
        clock[0] = n * day / 1000
        desk.caller_answered(f"0701{n:06d}")
        sizes.append(len(desk._answered_before_restore or {}))
    kept = desk._answered_before_restore
    assert kept is not None and max(sizes) <= 2 * FORGET_AT
    assert "0701000000" not in kept  # ten days ago: any request of theirs has expired
    assert all(f"0701{n:06d}" in kept for n in range(10 * FORGET_AT - 1000, 10 * FORGET_AT))


def test_the_fake_pbx_calls_a_citizen_back_as_asterisk_22_did():
    """sip-traces/t3 (a), the flow vaxel uses, replayed: an agent leg answered into AsyncAGI,
    then the citizen's phone originated with Application=Bridge to it. The OriginateResponse
    reason and the citizen's hangup cause of each attempt are the recording's, and the agent's
    leg stays in AGI through every failure."""
    from telephony.fakepbx import Dialplan, FakePbx
    from telephony.fakepbx.pbx import OriginateRequest

    from . import virtual_clock
    from .recordings import RECORDINGS
    from .replay import load, trace_path

    recorded = [r.msg for r in load(trace_path("t3_callback")) if r.received]
    reason = {m.get("ActionID"): m.get("Reason") for m in recorded
              if m.event == "OriginateResponse"}
    cause = {m.get("Uniqueid"): m.get("Cause") for m in recorded if m.event == "Hangup"}
    cases = [("busy", Answer("busy")), ("noanswer", Answer("never")),
             ("answer", Answer("answer", 1.0, 2.0))]

    async def main():
        pbx = FakePbx(Dialplan.load(RECORDINGS / "sip-config" / "extensions.conf"))
        Phone("1001", answer_after=0.0, context="kc-sip-agent").register(pbx)
        citizen = Phone("2001", context="kc-sip-inbound", script=[a for _, a in cases])
        citizen.register(pbx)
        got: dict[str, str] = {}
        await pbx.originate(OriginateRequest(
            "Local/1001@kc-agents", application="AGI", data="agi:async", timeout=20,
            channel_id="t3-a1-agent", other_channel_id="t3-a1-agent-2"),
            lambda h: got.update({"agent": dict(h)["Reason"]}))
        agent = pbx.by_id["t3-a1-agent"]
        await asyncio.sleep(0.1)
        out = {}
        for name, _ in cases:
            gone = []
            pbx.listeners.append(lambda h, g=gone: g.append(dict(h)) if h[0][1] == "Hangup"
                                 else None)
            await pbx.originate(OriginateRequest(
                "PJSIP/2001", application="Bridge", data=agent.name, timeout=15,
                channel_id=f"t3-a1-{name}-cit"),
                lambda h, n=name: got.update({n: dict(h)["Reason"]}))
            if name != "answer":
                await asyncio.sleep(0.5)
                out[name] = agent.in_agi  # still there for the next attempt
            else:
                await asyncio.sleep(4)
            cit = [g["Cause"] for g in gone if g["Uniqueid"] == f"t3-a1-{name}-cit"]
            out[f"{name} cause"] = cit[0] if cit else None
        await pbx.close()
        return got, out

    got, out = virtual_clock.run(main())
    assert got == {"agent": reason["orig-a1-agent"], "busy": reason["orig-a1-busy"],
                   "noanswer": reason["orig-a1-noanswer"], "answer": reason["orig-a1-answer"]}
    assert (got["busy"], got["noanswer"], got["answer"]) == ("0", "3", "4")
    assert out["busy"] and out["noanswer"]
    for name in ("busy", "noanswer"):
        assert out[f"{name} cause"] == cause[f"t3-a1-{name}-cit"]  # 17, 19
    assert out["answer cause"] == cause["t3-a1-answer-cit"]  # 16


def test_every_request_is_in_the_call_log_and_the_report(tmp_path, store_url):
    """The calls row of a booked call says callback; the request's own row its fate; the
    report counts the callback service level (SQLite and PostgreSQL)."""
    import zoneinfo

    from store import report, schema
    from store.database import Database
    from telephony.fakepbx.actors import Answer

    async def main():
        async with World(folder(tmp_path), store=store_url) as w:
            w.phones["cecilia"].talk = None
            trunk(w, Answer("busy"), Answer("busy"))  # the second request fails
            w.ctl.agent_login("cecilia")
            failing, _ = await book(w, number="0701110002")
            await w.until(lambda: of(w, ev.CallbackEnded, failing), seconds=300)
            reached, _ = await book(w)
            await w.until(lambda: of(w, ev.CallbackEnded, reached), seconds=300)
            return failing, reached, w.start

    async def read(start):
        # on the loop's real clock: the virtual one would time a real database's connect out
        db = await Database.open(store_url)
        try:
            calls = {r["call_id"]: r for r in await db.rows(schema.calls)}
            callbacks = {r["call_id"]: r for r in await db.rows(schema.callbacks)}
            period = report.Period(start.date(), start.date(),
                                   zoneinfo.ZoneInfo("Europe/Stockholm"))
            loaded = await report.load(db, period)
        finally:
            await db.close()
        return calls, callbacks, report.build(loaded, period)

    failing, reached, start = run(main())
    calls, callbacks, built = asyncio.run(read(start))
    assert calls[reached]["outcome"] == calls[failing]["outcome"] == "callback"
    row = callbacks[reached]
    assert (row["outcome"], row["attempts"], row["phase"], row["ended_by"]) == (
        "reached", 1, "ended", "citizen")
    assert row["caller"] == "0701112233" and row["results"] == ["reached"]
    assert row["group_id"] == GROUP and row["reached_at"] > row["requested_at"]
    assert abs(row["requested_at"] - start.timestamp()) < 600  # the wall's seconds
    failed = callbacks[failing]
    assert (failed["outcome"], failed["attempts"], failed["results"]) == (
        "failed", 2, ["busy", "busy"])
    cf = built.callbacks
    assert (cf.requested, cf.reached, cf.failed, cf.attempts) == (2, 1, 1, 3)
    assert cf.service_level == 0.5 and built.callback_groups[GROUP].reached == 1
    assert "Återuppringningar" in report.text(built)
    assert 'data-callbacks="Totalt"' in report.html(built)


def test_a_callback_through_an_ami_blackout_is_followed_up_at_the_resync(tmp_path):
    """The link drops while the citizen's phone rings: they answer and talk while vaxel cannot
    see; after the resync the request is connected, and ends reached when they hang up. A
    second conversation ends entirely inside a blackout: reached too, never retried."""
    async def main():
        async with World(folder(tmp_path)) as w:
            w.phones["cecilia"].talk = None
            operator = trunk(w, after=6.0, talk=30.0)
            w.ctl.agent_login("cecilia")
            first, _ = await book(w)
            await w.until(lambda: of(w, ev.CallbackDialling, first), seconds=120)
            w.server.unreachable_for(10.0)  # the citizen answers meanwhile (after 6 s)
            await w.until(lambda: of(w, ev.CallbackConnected, first), seconds=60)
            assert w.ctl.link.connected
            down, up = of(w, ev.LinkDown)[0], of(w, ev.LinkUp)[-1]
            # seen at the resync: the citizen's bridge came while the link was down
            assert down.at < up.at <= of(w, ev.CallbackConnected, first)[0].at
            await w.until(lambda: of(w, ev.CallbackEnded, first), seconds=120)
            assert of(w, ev.CallbackEnded, first)[0].outcome == "reached"
            second, _ = await book(w, number="0701110002")
            await w.until(lambda: of(w, ev.CallbackConnected, second), seconds=120)
            w.server.unreachable_for(40.0)  # the whole conversation (30 s) inside it
            await w.until(lambda: of(w, ev.CallbackEnded, second), seconds=120)
            ended, = of(w, ev.CallbackEnded, second)
            assert ended.outcome == "reached" and ended.attempts == 1
            assert operator.calls == 2 and not of(w, ev.CallbackAttemptFailed)
            await w.until(lambda: w.ctl.router.agents["cecilia"].state is AgentState.READY,
                          seconds=120)
            assert not w.ctl.desk.requests and not w.ctl.router.calls
    run(main())


def test_a_hidden_number_keys_the_number_to_call_which_is_read_back(tmp_path):
    async def main():
        async with World(folder(tmp_path)) as w:
            w.phones["cecilia"].talk = None
            operator = trunk(w)
            played = []
            w.pbx.listeners.append(lambda h: played.append(dict(h).get("Command", ""))
                                   if h[0][1] == "AGIExecStart" else None)
            keys = ((3.0, "3"), (6.0, "2"), (9.0, "0812345678#"), *press_one_meanwhile(20, 50))
            call_id, _ = await book(w, number="", keys=keys)
            requested, = of(w, ev.CallbackRequested, call_id)
            assert requested.caller == "0812345678"
            asked = [c for c in played if "cb-" in c]
            assert asked[0].startswith("GET DATA vaxel/sv/phrase/cb-ange-nummer")
            assert asked[1].startswith("STREAM FILE vaxel/sv/phrase/cb-vi-ringer-upp")
            w.ctl.agent_login("cecilia")
            await w.until(lambda: of(w, ev.CallbackEnded, call_id), seconds=120)
            assert of(w, ev.CallbackEnded, call_id)[0].outcome == "reached"
            assert operator.current is not None
            assert operator.current.dial_string == "0812345678@operator-trunk"
    run(main())


def test_an_agent_who_hangs_up_before_the_citizen_answers_passes_it_on(tmp_path):
    """Cecilia hangs up on the callback while the citizen's phone rings: the citizen's leg is
    stopped, the attempt is not counted against the citizen, it is a miss of hers, and the
    request goes to the next agent in its place."""
    anna = ("anna: {name: Anna Andersson, groups: {vaxeln: 1, barn-och-utbildning: 2}}",
            "anna: {name: Anna Andersson, groups: {vaxeln: 1, " + GROUP + ": 2}}")

    async def main():
        async with World(folder(tmp_path, anna)) as w:
            w.phones["anna"].talk = None
            w.phones["cecilia"].talk = None
            operator = trunk(w, after=8.0)
            call_id, _ = await book(w)
            w.ctl.agent_login("cecilia")
            await w.until(lambda: of(w, ev.CallbackDialling, call_id), seconds=120)
            w.ctl.agent_login("anna")
            w.pbx.endpoints["cecilia"].hang_up(w.pbx)  # while the citizen's phone rings
            await w.until(lambda: of(w, ev.CallbackEnded, call_id), seconds=120)
            failed, = of(w, ev.CallbackOfferFailed, call_id)
            assert (failed.agent, failed.missed) == ("cecilia", True)
            assert [e.agent for e in of(w, ev.CallbackOffered, call_id)] == ["cecilia", "anna"]
            assert [e.attempt for e in of(w, ev.CallbackDialling, call_id)] == [1, 1]
            ended, = of(w, ev.CallbackEnded, call_id)
            assert (ended.outcome, ended.attempts) == ("reached", 1)
            assert not of(w, ev.CallbackAttemptFailed, call_id)
            assert operator.calls == 2  # the first ring was stopped
            assert w.ctl.router.agents["cecilia"].missed_in_row == 1
    run(main())
