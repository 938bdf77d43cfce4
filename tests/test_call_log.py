"""Every contact registered: whole calls through the fake PBX into the call log, on SQLite and on
a real PostgreSQL, and the database stopped for a while during calls: no call affected, nothing
lost once it is back, the order kept."""

from __future__ import annotations

import asyncio

from controller import events as ev
from queues.kpi import figures
from store import schema
from store.calllog import record
from store.database import Database
from telephony.fakepbx.actors import Caller

from .world import World, run


async def stored(url: str) -> tuple[list[dict], list[dict]]:
    db = await Database.open(url)
    try:
        return (await db.rows(schema.calls, order=[schema.calls.c.arrived_at]),
                await db.rows(schema.events, order=[schema.events.c.id]))
    finally:
        await db.close()


def caller_in_line(w: World, number: str, *keys: str, **kw: float) -> Caller:
    caller = Caller("2001", number, keys=tuple((3.0 + 5 * i, k) for i, k in enumerate(keys)),
                    **kw)
    caller.dial(w.pbx)
    return caller


def test_every_call_and_event_is_in_the_call_log(store_url: str) -> None:
    async def main() -> tuple[World, dict[str, str]]:
        async with World(store=store_url) as w:
            w.ctl.agent_login("anna")
            answered = Caller("2001", "0701110001", keys=((3.0, "1"),))
            answered.dial(w.pbx)
            await w.until(lambda: answered.channel.hungup and not w.ctl.calls)
            w.ctl.agent_pause("anna", "lunch")
            callers = {
                "answered": answered,
                "abandoned": Caller("2001", "0701110002", keys=((3.0, "0"),),
                                    hangup_after=40.0),
                "in the menus": Caller("2001", "0701110003", hangup_after=2.0),
                "a message": Caller("2001", "0701110004", keys=((3.0, "4"), (8.0, "2"))),
            }
            for what, c in callers.items():
                if what != "answered":
                    c.dial(w.pbx)
            await w.until(lambda: all(c.channel.hungup for c in callers.values())
                          and not w.ctl.calls, 300)
            ids = {what: f"vx-{c.channel.uniqueid}" for what, c in callers.items()}
        return w, ids

    w, ids = run(main())
    calls, events = asyncio.run(stored(store_url))
    by_id = {c["call_id"]: c for c in calls}
    outcome = {what: (by_id[i]["outcome"], by_id[i]["abandoned_in"]) for what, i in ids.items()}
    assert outcome == {"answered": ("answered", None), "abandoned": ("abandoned", "waiting"),
                       "in the menus": ("abandoned", "ivr"),
                       "a message": ("resolved_in_ivr", None)}
    answered = by_id[ids["answered"]]
    assert answered["agent"] == "anna" and answered["group_id"] == "barn-och-utbildning"
    assert answered["caller"] == "0701110001" and answered["ivr_keys"] == "1"
    assert answered["talk"] > 0 and answered["waited"] >= 0
    # the events in the store are the events the bus carried, in the same order
    assert [e["kind"] for e in events] == [type(e).__name__ for e in w.events]
    # in the wall's seconds (the world starts on a Tuesday morning)
    assert abs(answered["arrived_at"] - w.start.timestamp()) < 60
    # the live counters count the KPIs as a report of the call log does
    live, logged = w.centre.counters.figures(), figures([record(c, 120.0) for c in calls])
    assert live == logged
    assert (live.calls, live.answered, live.abandoned, live.abandoned_in_ivr,
            live.resolved_in_ivr) == (4, 1, 1, 1, 1)


def test_the_database_stopped_during_calls_loses_nothing_and_keeps_the_order(postgres) -> None:
    url = postgres.new_database()

    async def main() -> tuple[World, dict, list[str]]:
        async with World(store=url) as w:
            w.ctl.agent_login("anna")
            first = caller_in_line(w, "0701110001", "1")
            await w.until(lambda: first.channel.hungup and not w.ctl.calls)
            await w.centre.store.flush()
            assert w.centre.store.statistics()["spooled"] == 0
            postgres.stop()  # the database server goes away
            try:
                during = [caller_in_line(w, f"07011100{n}", "1") for n in (10, 11)]
                await w.until(lambda: all(c.channel.hungup for c in during)
                              and not w.ctl.calls, 600)
                w.ctl.agent_pause("anna", "meeting")
                during.append(caller_in_line(w, "0701110012", "1", hangup_after=30.0))
                await w.until(lambda: during[-1].channel.hungup and not w.ctl.calls, 600)
                w.ctl.agent_ready("anna")
                await w.centre.store.flush()
                away = w.centre.store.statistics()
            finally:
                postgres.start()
            # the calls did not notice: answered and abandoned as ever
            kinds = [w.kinds(f"vx-{c.channel.uniqueid}")[-2] for c in during]
            last = caller_in_line(w, "0701110020", "1")
            await w.until(lambda: last.channel.hungup and not w.ctl.calls)
            await w.until(lambda: w.centre.store.statistics()["in_spool"] == 0, 60)
        return w, away, kinds

    w, away, kinds = run(main())
    assert kinds == ["Connected", "Connected", "Abandoned"]
    assert away["spooled"] > 0 and not away["connected"] and away["last_error"]
    stats = w.centre.store.statistics()
    assert stats["replayed"] == stats["spooled"] and stats["dropped"] == 0
    calls, events = asyncio.run(stored(url))
    assert len(calls) == 5 and {c["outcome"] for c in calls} == {"answered", "abandoned"}
    assert [e["kind"] for e in events] == [type(e).__name__ for e in w.events]
    ats = [e["at"] for e in events]
    assert ats == sorted(ats)
    assert sum(1 for e in w.events if isinstance(e, ev.CallEnded)) == 5
