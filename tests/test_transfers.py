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


def operator(w, *script, after=1.0, talk=4.0):
    phone = Phone("operator-trunk", answer_after=after, talk=talk, script=list(script))
    phone.register(w.pbx)
    return phone


def story(w, call_id):
    return [type(e).__name__ for e in w.events_of(call_id)
            if not isinstance(e, ev.IvrStep | ev.Announced)]


def test_a_menu_s_transfer_reaches_the_number_with_music_while_it_rings(tmp_path):
    async def main():
        async with World(config_copy(tmp_path, TRANSFER)) as w:
            phone = operator(w, after=3.0)
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
            phone = operator(w, Answer("busy"), Answer("never"))
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
            phone = operator(w, Answer("answer", 1.0, 3.0), Answer("never"))
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
            phone = operator(w, talk=5.0)
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
