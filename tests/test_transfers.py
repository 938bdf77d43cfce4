"""Callers sent on to a number through the fake PBX (sip-traces/t1 (b): a Redirect of the caller
into a context that Dials with `g`, then back into AsyncAGI, which held in every outcome): a
menu's transfer option, answered, busy, not answered and unreachable; the duty line out of
hours. The caller hears music while it rings, and never a dead end."""

from agents import AgentState
from controller import events as ev
from telephony.fakepbx.actors import Answer, Caller, Phone

from .world import World, config_copy, run

# gata-park's menu gets a key 3 to the transfer number, with a way on if it fails
TRANSFER = ('''      "2": {message: avfall-info}
      "*": back''', '''      "2": {message: avfall-info}
      "3": {transfer: "0701234567", on_failure: {group: vaxeln}}
      "*": back''')
KEYS = ((3.0, "4"), (6.0, "3"))  # gata, park och avfall; 3


def story(w, call_id):
    return [type(e).__name__ for e in w.events_of(call_id)
            if not isinstance(e, ev.IvrStep | ev.Announced)]


def test_a_menu_s_transfer_reaches_the_number_with_music_while_it_rings(tmp_path):
    async def main():
        async with World(config_copy(tmp_path, TRANSFER)) as w:
            phone = w.operator_trunk(after=3.0)
            music = []
            w.pbx.listeners.append(lambda h: music.append(dict(h)["Channel"])
                                   if h[0][1] == "MusicOnHoldStart" else None)
            ch = Caller("2001", "0701112233", keys=KEYS).dial(w.pbx)
            await w.until(lambda: w.ctl.calls.on_channel(ch.name))
            call_id = w.ctl.calls.on_channel(ch.name).call_id
            await w.until(lambda: ch.hungup and not w.ctl.calls, seconds=60)
            assert story(w, call_id) == ["CallArrived", "IvrDone", "TransferStarted",
                                         "Transferred", "CallEnded"]
            done = next(e for e in w.events_of(call_id) if isinstance(e, ev.IvrDone))
            assert (done.outcome, done.target) == ("transfer", "0701234567")
            result, = [e for e in w.events_of(call_id) if isinstance(e, ev.Transferred)]
            assert (result.status, result.answered, result.kind) == ("ANSWER", True, "ivr")
            assert phone.calls == 1 and ch.name in music  # music, not silence, while it rang
            assert phone.current.dial_string == "0701234567@operator-trunk"
    run(main())


def test_busy_no_answer_and_unreachable_each_go_on_never_a_dead_end(tmp_path):
    """Busy: the option's on_failure (växeln's line), where an agent answers. No answer and
    unreachable: the same; every caller ends talking to someone or hearing why not."""
    async def main():
        async with World(config_copy(tmp_path, TRANSFER)) as w:
            phone = w.operator_trunk(Answer("busy"), Answer("never"))
            w.phones["anna"].talk = 2.0
            w.ctl.agent_login("anna")
            results = []
            for n in range(3):
                if n == 2:
                    phone.unregister(w.pbx)  # unreachable
                ch = Caller(f"200{n}", f"070111000{n}", keys=KEYS).dial(w.pbx)
                await w.until(lambda c=ch: w.ctl.calls.on_channel(c.name))
                call_id = w.ctl.calls.on_channel(ch.name).call_id
                await w.until(lambda c=ch: c.hungup, seconds=120)
                await w.until(lambda: w.ctl.router.agents["anna"].state is AgentState.READY,
                              seconds=60)
                result, = [e for e in w.events_of(call_id) if isinstance(e, ev.Transferred)]
                results.append((result.status, result.answered, story(w, call_id)[-4:]))
            assert [r[:2] for r in results] == [("BUSY", False), ("NOANSWER", False),
                                                ("CHANUNAVAIL", False)]
            for _, _, tail in results:
                assert tail == ["Queued", "Offered", "Connected", "CallEnded"]
            queued = [e for e in w.events if isinstance(e, ev.Queued)]
            assert {e.group for e in queued} == {"vaxeln"}
    run(main())


def test_the_duty_line_out_of_hours_instead_of_the_closed_message(tmp_path):
    """Fault reports closed: the caller goes to the duty phone (jour); when it does not
    answer, they hear the closed message, and the call log says closed."""
    async def main():
        async with World(config_copy(tmp_path)) as w:
            phone = w.operator_trunk(Answer("answer", 1.0, 3.0), Answer("never"))
            w.ctl.set_opening("felanmalan", "closed")
            played = []
            w.pbx.listeners.append(lambda h: played.append(dict(h).get("Command", ""))
                                   if h[0][1] == "AGIExecStart" else None)
            ids = []
            for n in range(2):
                ch = Caller(f"200{n}", f"070111000{n}", keys=((3.0, "4"), (6.0, "1"))
                            ).dial(w.pbx)
                await w.until(lambda c=ch: w.ctl.calls.on_channel(c.name))
                ids.append(w.ctl.calls.on_channel(ch.name).call_id)
                await w.until(lambda c=ch: c.hungup and not w.ctl.calls, seconds=120)
            results = [next(e for e in w.events_of(i) if isinstance(e, ev.Transferred))
                       for i in ids]
            assert [(r.kind, r.target, r.status) for r in results] == [
                ("duty", "0709112233", "ANSWER"), ("duty", "0709112233", "NOANSWER")]
            closed_heard = [c for c in played if "felanmalan-stangt" in c]
            assert len(closed_heard) == 1  # only when the duty phone did not answer
            assert phone.calls == 2
            done = next(e for e in w.events_of(ids[0]) if isinstance(e, ev.IvrDone))
            assert (done.outcome, done.target) == ("duty", "0709112233")
    run(main())


def test_callers_still_waiting_at_closing_time_go_to_the_duty_line(tmp_path):
    """Fault reports close at 16:00 with a caller in line and nobody to answer: instead of the
    closing message, the duty phone; the call log counts the call as transferred."""
    import datetime as dt

    from store import schema
    from store.database import Database

    from .test_call_events import EARLY_CLOSE, FELANMALAN, NO_RULES

    url = f"sqlite:///{tmp_path / 'log.sqlite'}"

    async def main():
        async with World(config_copy(tmp_path, EARLY_CLOSE, NO_RULES),
                         start=dt.datetime(2026, 11, 24, 15, 59), store=url) as w:
            phone = w.operator_trunk(talk=5.0)
            w.ctl.agent_login("bo")
            w.ctl.agent_pause("bo", "lunch")
            ch = Caller("2001", "0701112233", keys=FELANMALAN).dial(w.pbx)
            await w.until(lambda: ch.moh_class is not None)
            call_id = w.ctl.calls.on_channel(ch.name).call_id
            await w.until(lambda: ch.hungup and not w.ctl.calls, seconds=120)
            assert story(w, call_id) == ["CallArrived", "IvrDone", "Queued", "Refused",
                                         "TransferStarted", "Transferred", "CallEnded"]
            result = next(e for e in w.events_of(call_id) if isinstance(e, ev.Transferred))
            assert (result.kind, result.answered) == ("duty", True) and phone.calls == 1
            return call_id

    call_id = run(main())

    async def read():
        db = await Database.open(url)
        try:
            return {r["call_id"]: r for r in await db.rows(schema.calls)}
        finally:
            await db.close()

    import asyncio

    assert asyncio.run(read())[call_id]["outcome"] == "transferred"


# ---- the agent's transfers (blind) --------------------------------------------------------

async def talking(w, endpoint="2001", number="0701112233"):
    """A caller of växeln (key 0) in conversation with anna."""
    ch = Caller(endpoint, number, keys=((3.0, "0"),)).dial(w.pbx)
    await w.until(lambda: ch.bridge is not None, seconds=60)
    call_id = w.ctl.calls.on_channel(ch.name).call_id
    return ch, call_id


def test_an_agent_sends_the_caller_to_a_directory_entry_who_answers(tmp_path):
    async def main():
        async with World(config_copy(tmp_path)) as w:
            w.phones["anna"].talk = None
            phone = w.operator_trunk(after=2.0, talk=3.0)
            music = []
            w.pbx.listeners.append(lambda h: music.append(dict(h)["Channel"])
                                   if h[0][1] == "MusicOnHoldStart" else None)
            w.ctl.agent_login("anna")
            ch, call_id = await talking(w)
            target = await w.ctl.transfer(call_id, "anna", "directory:anna-andersson")
            assert (target.value, target.department) == ("0812345101",
                                                         "Bygg- och miljöförvaltningen")
            anna = w.ctl.router.agents["anna"]
            await w.until(lambda: anna.state is AgentState.WRAP_UP)  # free of the call
            await w.until(lambda: ch.hungup and not w.ctl.calls, seconds=60)
            assert story(w, call_id)[-4:] == ["Connected", "TransferStarted", "Transferred",
                                              "CallEnded"]
            started = next(e for e in w.events_of(call_id)
                           if isinstance(e, ev.TransferStarted))
            assert (started.kind, started.agent, started.department) == (
                "blind", "anna", "Bygg- och miljöförvaltningen")
            result = next(e for e in w.events_of(call_id) if isinstance(e, ev.Transferred))
            assert (result.status, result.answered) == ("ANSWER", True)
            assert phone.current.dial_string == "0812345101@operator-trunk"
            assert ch.name in music  # music while it rang
            assert w.ctl.forwarded["anna"] == (call_id, "Bygg- och miljöförvaltningen")
    run(main())


def test_a_transfer_not_answered_comes_back_to_the_agent_who_made_it(tmp_path):
    """Busy and unreachable: the caller is offered to anna again at once (her wrap-up
    ends); the agent leg she had was hung up by the Redirect, a new one rings."""
    async def main():
        async with World(config_copy(tmp_path)) as w:
            w.phones["anna"].talk = None
            phone = w.operator_trunk(Answer("busy"))
            w.ctl.agent_login("anna")
            ch, call_id = await talking(w)
            await w.ctl.transfer(call_id, "anna", "directory:sandra-lind")
            await w.until(lambda: [e for e in w.events_of(call_id)
                                   if isinstance(e, ev.Connected)][1:], seconds=60)
            assert story(w, call_id)[3:] == ["Offered", "Connected", "TransferStarted",
                                             "Transferred", "Queued", "Offered", "Connected"]
            result = next(e for e in w.events_of(call_id) if isinstance(e, ev.Transferred))
            assert (result.status, result.answered) == ("BUSY", False)
            again = [e for e in w.events_of(call_id) if isinstance(e, ev.Offered)][1]
            assert again.agent == "anna" and w.phones["anna"].calls == 2
            # unreachable: the same way back
            phone.unregister(w.pbx)
            await w.ctl.transfer(call_id, "anna", "directory:sandra-lind")
            await w.until(lambda: len([e for e in w.events_of(call_id)
                                       if isinstance(e, ev.Connected)]) == 3, seconds=60)
            results = [e.status for e in w.events_of(call_id) if isinstance(e, ev.Transferred)]
            assert results == ["BUSY", "CHANUNAVAIL"]
            assert not ch.hungup and w.ctl.router.agents["anna"].state is AgentState.BUSY
    run(main())


def test_an_agent_gone_meanwhile_the_caller_is_first_in_the_line(tmp_path):
    async def main():
        async with World(config_copy(tmp_path)) as w:
            w.phones["anna"].talk = None
            w.operator_trunk(after=None)  # never answers (30 s)
            w.ctl.agent_login("anna")
            _, call_id = await talking(w)
            await w.ctl.transfer(call_id, "anna", "directory:sandra-lind")
            w.ctl.agent_logout("anna")  # her wrap-up, then gone
            other = Caller("2002", "0701110002", keys=((3.0, "0"),)).dial(w.pbx)
            await w.until(lambda: other.moh_class is not None)
            other_id = w.ctl.calls.on_channel(other.name).call_id
            await w.until(lambda: call_id in w.ctl.router.calls, seconds=60)
            assert w.ctl.router.position(call_id) == 1
            assert w.ctl.router.position(other_id) == 2
            w.ctl.agent_login("cecilia")
            await w.until(lambda: any(isinstance(e, ev.Connected) and e.agent == "cecilia"
                                      for e in w.events_of(call_id)), seconds=60)
            result = next(e for e in w.events_of(call_id) if isinstance(e, ev.Transferred))
            assert result.status == "NOANSWER"
            last = [e for e in w.events_of(call_id) if isinstance(e, ev.Connected)][-1]
            assert last.agent == "cecilia"
    run(main())


def test_an_agent_sends_the_caller_to_another_group_s_line_keeping_the_wait(tmp_path):
    async def main():
        async with World(config_copy(tmp_path)) as w:
            w.phones["anna"].talk = None
            w.phones["bo"].answer_after = 8.0  # rings a while: the caller waits with music
            w.ctl.agent_login("anna")
            w.ctl.agent_login("bo")  # bygglov's (without him its rule sends callers back)
            ch, call_id = await talking(w)
            first = next(e for e in w.events_of(call_id) if isinstance(e, ev.Queued))
            await w.ctl.transfer(call_id, "anna", "group:bygglov")
            await w.until(lambda: ch.moh_class is not None, seconds=30)  # waits, music
            queued = [e for e in w.events_of(call_id) if isinstance(e, ev.Queued)]
            assert (queued[-1].group, queued[-1].arrival) == ("bygglov", first.arrival)
            assert w.ctl.router.agents["anna"].state is AgentState.WRAP_UP
            await w.until(lambda: [e for e in w.events_of(call_id)
                                   if isinstance(e, ev.Connected)][1:], seconds=60)
            last = [e for e in w.events_of(call_id) if isinstance(e, ev.Connected)][-1]
            assert (last.agent, last.group) == ("bo", "bygglov")
    run(main())


def test_only_numbers_the_configuration_allows_and_at_most_the_hour_s_cap(tmp_path):
    from queues.transfer import TransferRefused

    caps = ("transfer_allowlist: [\"0701234567\"]",
            "transfer_allowlist: [\"0701234567\"]\ntransfers: {max_per_hour: 1}")

    async def main():
        async with World(config_copy(tmp_path, caps)) as w:
            w.phones["anna"].talk = None
            w.operator_trunk(Answer("busy"), Answer("busy"))
            w.ctl.agent_login("anna")
            _, call_id = await talking(w)
            refusals = []
            for spec in ("number:0900123456", "number:0701112299", "directory:nobody",
                         "group:nope", "elsewhere:1", "number:07011\n12299"):
                try:
                    await w.ctl.transfer(call_id, "anna", spec)
                except TransferRefused as err:
                    refusals.append(str(err))
            assert len(refusals) == 6 and "not in the directory nor in transfer_allowlist" \
                in refusals[0]
            await w.ctl.transfer(call_id, "anna", "number:070-123 45 67")  # allowlisted
            await w.until(lambda: len([e for e in w.events_of(call_id)
                                       if isinstance(e, ev.Connected)]) == 2, seconds=60)
            try:
                await w.ctl.transfer(call_id, "anna", "number:0701234567")
            except TransferRefused as err:
                assert "the cap of 1 transfers an hour" in str(err)
            else:
                raise AssertionError("the cap let a second external transfer through")
            await w.ctl.transfer(call_id, "anna", "directory:sandra-lind")  # not external
    run(main())


# ---- the agent's attended transfers -------------------------------------------------------

def consulting(w, call_id):
    state = w.ctl.calls.get(call_id)
    return state is not None and state.consult is not None


def test_an_attended_transfer_answered_and_handed_over(tmp_path):
    async def main():
        async with World(config_copy(tmp_path)) as w:
            w.phones["anna"].talk = None
            phone = w.operator_trunk(after=2.0, talk=20.0)
            w.ctl.agent_login("anna")
            ch, call_id = await talking(w)
            await w.ctl.transfer(call_id, "anna", "directory:anna-andersson", "attended")
            await w.until(lambda: ch.moh_class is not None)  # the caller on hold, music
            state = w.ctl.calls.get(call_id)
            await w.until(lambda: state.consult is not None and state.consult.answered)
            assert w.ctl.router.agents["anna"].state is AgentState.BUSY  # still hers
            await w.ctl.complete_transfer(call_id, "anna")
            await w.until(lambda: w.ctl.router.agents["anna"].state is AgentState.WRAP_UP)
            assert ch.bridge is not None and ch.moh_class is None  # with the person now
            assert w.ctl.forwarded["anna"] == (call_id, "Bygg- och miljöförvaltningen")
            await w.until(lambda: ch.hungup and not w.ctl.calls, seconds=60)
            assert story(w, call_id)[-4:] == ["Connected", "TransferStarted", "Transferred",
                                              "CallEnded"]
            result = next(e for e in w.events_of(call_id) if isinstance(e, ev.Transferred))
            assert (result.kind, result.status, result.answered) == ("attended", "ANSWER",
                                                                      True)
            assert phone.calls == 1 and w.phones["anna"].calls == 1
    run(main())


def test_an_attended_transfer_not_reached_or_taken_back_brings_the_agent_back(tmp_path):
    async def main():
        async with World(config_copy(tmp_path)) as w:
            w.phones["anna"].talk = None
            w.operator_trunk(Answer("busy"), Answer("answer", 1.0, None))
            w.ctl.agent_login("anna")
            ch, call_id = await talking(w)
            state = w.ctl.calls.get(call_id)
            await w.ctl.transfer(call_id, "anna", "directory:sandra-lind", "attended")
            await w.until(lambda: not consulting(w, call_id) and ch.bridge is not None)
            assert state.phase.value == "connected"
            # again, answered this time, and the agent takes the caller back
            await w.ctl.transfer(call_id, "anna", "directory:sandra-lind", "attended")
            await w.until(lambda: state.consult is not None and state.consult.answered)
            w.ctl.take_back(call_id, "anna")
            await w.until(lambda: not consulting(w, call_id) and ch.bridge is not None)
            results = [(e.status, e.answered) for e in w.events_of(call_id)
                       if isinstance(e, ev.Transferred)]
            assert results == [("BUSY", False), ("TAKEN BACK", False)]
            assert state.phase.value == "connected" and not ch.hungup
            assert w.ctl.router.agents["anna"].state is AgentState.BUSY
            w.pbx.endpoints["anna"].hang_up(w.pbx)  # the conversation ends as any does
            await w.until(lambda: ch.hungup and not w.ctl.calls, seconds=30)
            ended = next(e for e in w.events_of(call_id) if isinstance(e, ev.CallEnded))
            assert (ended.hung_up_by, ended.agent) == ("agent", "anna")
    run(main())


def test_an_agent_who_hangs_up_during_an_attended_transfer(tmp_path):
    """While it rings: the caller first in line (another agent takes them). Once answered:
    the caller is handed over."""
    async def main():
        async with World(config_copy(tmp_path)) as w:
            w.phones["anna"].talk = None
            w.operator_trunk(Answer("answer", 30.0, None), Answer("answer", 1.0, 5.0))
            w.ctl.agent_login("anna")
            ch, call_id = await talking(w)
            await w.ctl.transfer(call_id, "anna", "directory:sandra-lind", "attended")
            state = w.ctl.calls.get(call_id)
            await w.until(lambda: state.consult is not None and state.consult.leg is not None)
            w.pbx.endpoints["anna"].hang_up(w.pbx)  # while Sandra's phone rings
            await w.until(lambda: ch.moh_class is not None and state.phase.value == "waiting")
            assert w.ctl.router.position(call_id) == 1
            w.ctl.agent_login("cecilia")
            await w.until(lambda: ch.bridge is not None, seconds=60)
            last = [e for e in w.events_of(call_id) if isinstance(e, ev.Connected)][-1]
            assert last.agent == "cecilia"
            # cecilia consults, Sandra answers, cecilia hangs up: handed over
            w.phones["cecilia"].talk = None
            await w.ctl.transfer(call_id, "cecilia", "directory:sandra-lind", "attended")
            await w.until(lambda: state.consult is not None and state.consult.answered)
            w.pbx.endpoints["cecilia"].hang_up(w.pbx)
            await w.until(lambda: ch.hungup and not w.ctl.calls, seconds=60)
            results = [(e.status, e.answered) for e in w.events_of(call_id)
                       if isinstance(e, ev.Transferred)]
            assert results == [("AGENT HUNG UP", False), ("ANSWER", True)]
    run(main())


def test_the_report_counts_the_forwards_by_department_and_whether_they_were_reached(
        tmp_path):
    import asyncio
    import zoneinfo

    from store import report
    from store.database import Database

    url = f"sqlite:///{tmp_path / 'log.sqlite'}"

    async def main():
        async with World(config_copy(tmp_path), store=url) as w:
            w.phones["anna"].talk = None
            w.operator_trunk(Answer("answer", 1.0, 2.0), Answer("busy"))
            w.ctl.agent_login("anna")
            for n, to in enumerate(("directory:anna-andersson", "directory:sandra-lind")):
                ch, call_id = await talking(w, f"200{n}", f"070111000{n}")
                await w.ctl.transfer(call_id, "anna", to)
                await w.until(lambda i=call_id: any(isinstance(e, ev.Transferred)
                                                    for e in w.events_of(i)), seconds=60)
                if n == 1:  # back with anna: she ends it
                    await w.until(lambda c=ch: c.bridge is not None, seconds=60)
                    w.pbx.endpoints["anna"].hang_up(w.pbx)
                await w.until(lambda c=ch: c.hungup, seconds=60)
            return w.start

    start = run(main())

    async def read():
        db = await Database.open(url)
        try:
            period = report.Period(start.date(), start.date(),
                                   zoneinfo.ZoneInfo("Europe/Stockholm"))
            return report.build(await report.load(db, period), period)
        finally:
            await db.close()

    built = asyncio.run(read())
    assert built.transfers == {"Bygg- och miljöförvaltningen": (1, 1),
                               "Socialförvaltningen": (1, 0)}
    assert "Vidarekopplade" in report.text(built)
    assert 'data-transfers="Socialförvaltningen"' in report.html(built)


def test_an_attended_transfer_not_answered_or_unreachable_brings_the_agent_back(tmp_path):
    async def main():
        async with World(config_copy(tmp_path)) as w:
            w.phones["anna"].talk = None
            phone = w.operator_trunk(after=None)  # never answers (30 s)
            w.ctl.agent_login("anna")
            ch, call_id = await talking(w)
            await w.ctl.transfer(call_id, "anna", "directory:sandra-lind", "attended")
            await w.until(lambda: not consulting(w, call_id) and ch.bridge is not None,
                          seconds=60)
            phone.unregister(w.pbx)
            await w.ctl.transfer(call_id, "anna", "number:0701234567", "attended")
            await w.until(lambda: not consulting(w, call_id) and ch.bridge is not None,
                          seconds=60)
            results = [(e.target, e.status) for e in w.events_of(call_id)
                       if isinstance(e, ev.Transferred)]
            # the Originate's reasons (FACTS: 3 no answer; 0 for a phone not registered)
            assert results == [("0812345201", "NO ANSWER"), ("0701234567", "FAILED")]
            assert w.ctl.calls.get(call_id).phase.value == "connected"
            assert w.ctl.router.agents["anna"].state is AgentState.BUSY
    run(main())


def test_the_fake_pbx_redirects_and_bridges_as_asterisk_22_did():
    """sip-traces/t1 and t4 replayed for what the transfers use: a Redirect of the caller out of
    a conversation, after which the agent's leg is hung up with the recording's cause (16,
    t1 b1); a dual Redirect (`Dual Redirect successful`, both legs into AGI, t4 h2); an AMI
    Bridge of the two (`Channels have been bridged`, both enter it)."""
    import asyncio

    from telephony.ami_link import AmiLink
    from telephony.dialplan import load_settings, render_extensions
    from telephony.fakepbx import AmiServer, Dialplan, FakePbx
    from telephony.fakepbx.pbx import OriginateRequest

    from . import virtual_clock
    from .replay import load, trace_path
    from .world import EXAMPLE

    said = {r.msg.get("Message") for name in ("t1_blind_transfer", "t4_hold_mute")
            for r in load(trace_path(name)) if r.received and r.msg.get("Response")}
    agent_causes = {r.msg.get("Cause") for r in load(trace_path("t1_blind_transfer"))
                    if r.received and r.msg.event == "Hangup"
                    and r.msg.get("Channel", "").startswith("PJSIP/1001-")}

    async def main():
        pbx = FakePbx(Dialplan.parse(render_extensions(load_settings(EXAMPLE))))
        Phone("anna", answer_after=0.5).register(pbx)
        seen = []
        pbx.listeners.append(lambda h: seen.append(dict(h)))
        server = AmiServer(pbx)
        link = AmiLink("127.0.0.1", await server.start(), "vaxel", "vaxel-secret")
        await link.start()

        async def talk(leg):
            await pbx.originate(OriginateRequest("PJSIP/anna", application="Bridge",
                                                 data=caller.name, channel_id=leg),
                                lambda h: None)
            await asyncio.sleep(0.5)
            assert caller.bridge is not None

        try:
            caller = Caller("2001", "0701112233").dial(pbx)
            await asyncio.sleep(1.0)  # in AGI in vaxel-inbound
            await talk("vx-leg-1")
            alone = await link.action("Redirect", [
                ("Channel", caller.name), ("Context", "vaxel-hold"), ("Exten", "s"),
                ("Priority", "1")])
            await asyncio.sleep(0.5)
            gone = [e.get("Cause") for e in seen if e.get("Event") == "Hangup"
                    and e.get("Uniqueid") == "vx-leg-1"]
            await talk("vx-leg-2")
            held = await link.action("Redirect", [
                ("Channel", caller.name), ("Context", "vaxel-hold"), ("Exten", "s"),
                ("Priority", "1"), ("ExtraChannel", "vx-leg-2"),
                ("ExtraContext", "vaxel-agent-hold"), ("ExtraExten", "s"),
                ("ExtraPriority", "1")])
            await asyncio.sleep(0.5)
            agent = pbx.find("vx-leg-2")
            started = {e["Channel"] for e in seen if e.get("Event") == "AsyncAGIStart"
                       and e.get("Context") in ("vaxel-hold", "vaxel-agent-hold")}
            bridged = await link.action("Bridge", [("Channel1", caller.name),
                                                   ("Channel2", "vx-leg-2"), ("Tone", "no")])
            await asyncio.sleep(0.5)
            both_in = caller.bridge is not None and caller.bridge is agent.bridge
            return (alone.get("Message"), gone, held.get("Message"), started, agent.name,
                    bridged.get("Message"), both_in, caller)
        finally:
            await link.close()
            await server.stop()
            await pbx.close()

    alone, gone, held, started, agent, bridged, both_in, caller = virtual_clock.run(main())
    assert alone == "Redirect successful" and alone in said
    assert gone == ["16"] and agent_causes == {"16"}  # t1 b1: the agent's leg hung up
    assert held == "Dual Redirect successful" and held in said
    assert started == {caller.name, agent}  # both legs in AGI (t4 h2)
    assert bridged == "Channels have been bridged" and bridged in said and both_in


def test_an_attended_transfer_through_an_ami_blackout(tmp_path):
    """The person answers, then hangs up while the link is down: the agent's leg came back
    into AGI unseen; at the resync the agent is put with the caller again."""
    async def main():
        async with World(config_copy(tmp_path)) as w:
            w.phones["anna"].talk = None
            w.operator_trunk(after=1.0, talk=4.0)  # the person hangs up after 4 s of talk
            w.ctl.agent_login("anna")
            ch, call_id = await talking(w)
            state = w.ctl.calls.get(call_id)
            await w.ctl.transfer(call_id, "anna", "directory:sandra-lind", "attended")
            await w.until(lambda: state.consult is not None and state.consult.answered)
            w.server.unreachable_for(8.0)
            await w.until(lambda: not consulting(w, call_id) and ch.bridge is not None,
                          seconds=60)
            result = next(e for e in w.events_of(call_id) if isinstance(e, ev.Transferred))
            assert (result.status, result.answered) == ("GONE WHILE THE LINK WAS DOWN", False)
            assert state.phase.value == "connected"
            assert ch.bridge is w.pbx.find(state.agent_leg).bridge
    run(main())
