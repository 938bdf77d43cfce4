"""The call log's retention (store/retention.py, docs/privacy.md) on SQLite and PostgreSQL:
numbers pseudonymised and notes cleared after N days, everything of a call deleted after M, the
recent untouched, a second pass a no-op; `vaxel maintenance`; the controller's nightly run."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from pathlib import Path
from types import SimpleNamespace

import pytest

from config.schema import Retention
from controller import events as ev
from controller.bootstrap import _nightly
from controller.cli import main
from store import schema
from store.calllog import CallLog, Rows
from store.database import Database
from store.retention import apply, pseudonym

DAY = 86400.0
NOW = 1_800_000_000.0
KEY = b"the municipality's key"


def a_call(call_id: str, at: float, caller: str, note: str = "") -> list[ev.Event]:
    c = {"call_id": call_id, "version": 1}
    g = {**c, "group": "bygglov"}
    return [ev.CallArrived(at=at, **c, number="0101234500", caller=caller),
            ev.Queued(at=at, **g, position=1, arrival=at),
            ev.Offered(at=at + 5, **g, agent="anna"),
            ev.Connected(at=at + 5, **g, agent="anna", waited=5.0, threshold=60.0),
            ev.AgentChanged(at=at + 5, version=1, agent="anna", state="busy", reason=None,
                            cause="answer", call_id=call_id),
            ev.CallEnded(at=at + 60, **g, hung_up_by="caller", phase="connected",
                         agent="anna"),
            ev.AgentChanged(at=at + 60, version=1, agent="anna", state="ready", reason=None,
                            cause="wrap_up_done"),
            ev.WrappedUp(at=at + 70, **g, agent="anna", reason="rosa1", resolved=True,
                         note=note)]


async def fill(url: str) -> None:
    log, rows = CallLog("r"), Rows()
    for call_id, age, caller in (("old", 800, "0701111111"), ("middle", 100, "0702222222"),
                                 ("middle2", 95, "0702222222"), ("new", 3, "0703333333")):
        for e in a_call(call_id, NOW - age * DAY, caller, note=f"Ring {caller} om bygglovet"):
            log.add(e, rows)
    db = await Database.open(url)
    await db.write(rows)
    await db.close()


async def read(url: str) -> tuple[dict[str, dict], list[dict], list[dict]]:
    db = await Database.open(url)
    try:
        calls = {r["call_id"]: r for r in await db.rows(schema.calls)}
        return calls, await db.rows(schema.events), await db.rows(schema.wrap_ups)
    finally:
        await db.close()


def test_numbers_pseudonymised_then_deleted(store_url: str) -> None:
    asyncio.run(fill(store_url))

    async def go() -> tuple[str, str]:
        db = await Database.open(store_url)
        try:
            first = await apply(db, NOW, 90 * DAY, 730 * DAY, KEY)
            second = await apply(db, NOW, 90 * DAY, 730 * DAY, KEY)
            return str(first), str(second)
        finally:
            await db.close()

    first, second = asyncio.run(go())
    assert first.startswith("2 callers' numbers pseudonymised, 2 notes cleared")
    assert first.endswith("deleted: 8 events, 1 wrap_ups, 1 calls, 2 agent_states")
    assert second.startswith("0 callers' numbers pseudonymised, 0 notes cleared; "
                             "deleted: nothing")
    calls, events, wraps = asyncio.run(read(store_url))
    assert set(calls) == {"middle", "middle2", "new"}  # 800 days old: gone
    p = pseudonym("0702222222", KEY)
    assert calls["middle"]["caller"] == calls["middle2"]["caller"] == p  # still one caller
    assert calls["middle"]["pseudonymised"] and not calls["new"]["pseudonymised"]
    assert calls["new"]["caller"] == "0703333333"
    arrived = {e["call_id"]: e["data"]["caller"] for e in events if e["kind"] == "CallArrived"}
    assert arrived == {"middle": p, "middle2": p, "new": "0703333333"}
    assert not any("0702222222" in str(e["data"]) for e in events)  # nor in a note
    notes = {w["call_id"]: w["note"] for w in wraps}
    assert notes == {"middle": "", "middle2": "", "new": "Ring 0703333333 om bygglovet"}
    assert {e["call_id"] for e in events} == {"middle", "middle2", "new", None}


def test_vaxel_maintenance(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = tmp_path / "log.sqlite"
    asyncio.run(fill(str(store)))  # dated from 2027: only the oldest is old enough today
    assert main(["maintenance", "--store", str(store)]) == 0
    assert capsys.readouterr().out == (
        "vaxel maintenance: 0 callers' numbers pseudonymised, 0 notes cleared; deleted: "
        "8 events, 1 wrap_ups, 1 calls, 2 agent_states\n")
    assert main(["maintenance", "--store", str(tmp_path / "none.sqlite")]) == 2
    assert "no call log at" in capsys.readouterr().err


def test_the_controller_applies_the_retention_at_night(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    url = f"sqlite:///{tmp_path / 'log.sqlite'}"
    asyncio.run(fill(url))
    # a second before three, then just after: the next night is a day away
    moments = iter([dt.datetime(2027, 1, 15, 2, 59, 59)])
    ctl = SimpleNamespace(wallclock=lambda: next(moments, dt.datetime(2027, 1, 15, 3, 0, 1)),
                          time_scale=0.001, now=lambda: NOW)

    def done() -> bool:
        return any("call log retention: " in r.message for r in caplog.records)

    async def night() -> None:
        task = asyncio.create_task(_nightly(ctl, url, Retention(), KEY, float))
        try:
            for _ in range(1000):  # until it has run, closed its database and sleeps again
                await asyncio.sleep(0.01)
                if done():
                    return
            raise AssertionError("the night came and went")
        finally:
            task.cancel()

    with caplog.at_level(logging.INFO, "vaxel"):
        asyncio.run(night())
    calls, _, _ = asyncio.run(read(url))
    assert "old" not in calls and calls["middle"]["caller"].startswith("p-")
    assert any("call log retention: 2 callers' numbers" in r.message for r in caplog.records)


def test_callback_requests_keep_their_number_while_pending(store_url: str) -> None:
    """An ended request's number becomes a pseudonym after N days (in its event too); a
    pending one keeps it, for it is still to be dialled; an old ended one goes after M."""
    def request(call_id: str, age: float, number: str, outcome: str | None) -> list[ev.Event]:
        at = NOW - age * DAY
        told: list[ev.Event] = [ev.CallbackRequested(
            at=at, version=1, call_id=call_id, group="bygglov", caller=number,
            language="sv", source="ivr", arrival=at, target=3600.0)]
        if outcome is not None:
            told.append(ev.CallbackEnded(at=at + 600, version=1, call_id=call_id,
                                         group="bygglov", outcome=outcome, attempts=1,
                                         by="vaxel"))
        return told

    async def go() -> tuple[str, dict[str, dict], list[dict]]:
        log, rows = CallLog("r"), Rows()
        for e in (*request("ancient", 800, "0701111111", "reached"),
                  *request("ended", 100, "0702222222", "failed"),
                  *request("pending", 100, "0704444444", None),
                  *request("recent", 3, "0703333333", "reached")):
            log.add(e, rows)
        db = await Database.open(store_url)
        try:
            await db.write(rows)
            done = await apply(db, NOW, 90 * DAY, 730 * DAY, KEY)
            return (str(done), {r["call_id"]: r for r in await db.rows(schema.callbacks)},
                    await db.rows(schema.events))
        finally:
            await db.close()

    done, requests, events = asyncio.run(go())
    assert done.startswith("0 callers' numbers and 1 of callback requests pseudonymised")
    assert "1 callbacks" in done
    assert set(requests) == {"ended", "pending", "recent"}
    assert requests["ended"]["caller"] == pseudonym("0702222222", KEY)
    assert requests["pending"]["caller"] == "0704444444"
    assert requests["recent"]["caller"] == "0703333333"
    told = {e["call_id"]: e["data"]["caller"] for e in events if e["kind"] == "CallbackRequested"}
    assert told["ended"] == pseudonym("0702222222", KEY)
    assert told["pending"] == "0704444444"
