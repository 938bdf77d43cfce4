"""The wrap-up form through the API (POST /api/calls/{id}/wrapup): registered in the call log,
ending the wrap-up time early, refused with a clear message when it is wrong, every change a
line of the audit log. Through the fake PBX on the virtual clock, with a real SQLite call log."""

from __future__ import annotations

import asyncio
import datetime as dt
import zoneinfo
from pathlib import Path

from aiohttp.test_utils import TestClient, TestServer

from agents import AgentState
from store import schema
from store.database import Database
from store.report import Loaded, Period, build, load
from telephony.fakepbx.actors import Caller
from web.app import make_app

from .web_users import bearer, with_users
from .world import World, run


def test_a_wrap_up_is_registered_ends_the_wrap_up_and_is_audited(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'log.sqlite'}"

    async def main() -> tuple[list[tuple[int, dict]], str, bool]:
        async with World(with_users(tmp_path), store=url) as w:
            client = TestClient(TestServer(make_app(w.centre)))
            await client.start_server()
            try:
                w.ctl.agent_login("anna")
                caller = Caller("2001", "0701112233", keys=((3.0, "1"),))  # 30 s wrap-up
                caller.dial(w.pbx)
                await w.until(lambda: caller.channel.hungup and not w.ctl.calls)
                anna = w.ctl.router.agents["anna"]
                assert anna.state is AgentState.WRAP_UP
                call = f"vx-{caller.channel.uniqueid}"
                post = f"/api/calls/{call}/wrapup"
                good = {"agent": "anna", "reason": "forwarded", "resolved": False,
                        "department": "Bygglovsenheten", "note": "Vill prata med handläggaren"}
                answers = []
                for body in ({**good, "reason": "rosa9"}, {**good, "department": None},
                             {**good, "resolved": "ja"}, {**good, "note": "a\x07b"},
                             {**good, "agent": "nobody"}, {**good, "agent": "nobody"}, good):
                    # anna for herself; a supervisor for an agent vaxel does not know
                    user = "sara" if len(answers) == 5 else "anna"
                    resp = await client.post(post, json=body, headers=bearer(user))
                    answers.append((resp.status, await resp.json()))
                bad_id = await client.post("/api/calls/a%20b/wrapup", json=good,
                                           headers=bearer("anna"))
                early = anna.state is AgentState.READY  # long before its 30 s
                return answers, (await bad_id.json())["error"], early
            finally:
                await client.close()

    answers, bad_id, early = run(main())
    statuses = [status for status, _ in answers]
    assert statuses == [400, 400, 400, 400, 403, 404, 200]
    errors = [body.get("error", "") for _, body in answers]
    assert "one of rosa1, rosa2, rosa3, rosa4, forwarded" in errors[0]
    assert "say which department" in errors[1]
    assert "resolved: true or false" in errors[2]
    assert "note: text of at most 500 characters" in errors[3]
    assert "anna may wrap up only as agent 'anna'" in errors[4]
    assert "unknown agent 'nobody'" in errors[5]
    assert answers[-1][1]["wrap_up_ended"] is True and early
    assert "is not a call id" in bad_id

    async def stored() -> tuple[list[dict], list[dict], list[dict]]:
        db = await Database.open(url)
        try:
            return (await db.rows(schema.wrap_ups), await db.rows(schema.audit),
                    await db.rows(schema.calls))
        finally:
            await db.close()

    wraps, audit, calls = asyncio.run(stored())
    assert [(w["agent"], w["reason"], w["department"], w["resolved"], w["note"])
            for w in wraps] == [("anna", "forwarded", "Bygglovsenheten", False,
                                 "Vill prata med handläggaren")]
    assert wraps[0]["call_id"] == calls[0]["call_id"]
    assert [(a["who"], a["action"], a["source"]) for a in audit] == [
        ("anna", "wrap-up", "127.0.0.1")]
    # and a report counts it: forwarded to the department, not resolved at the first contact
    tz = zoneinfo.ZoneInfo("Europe/Stockholm")
    day = dt.datetime.fromtimestamp(wraps[0]["at"], tz).date()
    data = asyncio.run(read(url, Period(day, day, tz)))
    f = build(data, Period(day, day, tz))
    assert (f.total.wrap_ups, f.total.forwarded, f.total.first_contact_resolution) == (1, 1, 0)
    assert f.departments == {"Bygglovsenheten": 1}


async def read(url: str, period: Period) -> Loaded:
    db = await Database.open(url)
    try:
        return await load(db, period)
    finally:
        await db.close()
