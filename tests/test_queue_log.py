"""`vaxel export queue-log`: the call log in the format of Asterisk 22's app_queue. The calls of the
real recording (tests/fixtures/queue_log/, from ../shared/asterisk/queue_log/) are played as vaxel
events into a real call log; the export's lines are the recording's, byte for byte."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from controller import events as ev
from controller.cli import main
from store.calllog import CallLog, Rows
from store.database import Database

RECORDING = Path(__file__).parent / "fixtures" / "queue_log" / "queue_log"
T = 1796174130.0  # the recording's first second
Q = "ql-main"


def caller(n: int, at: float, *, queue: str = Q) -> list[ev.Event]:
    c = {"call_id": f"ql-caller-{n}", "version": 1}
    return [ev.CallArrived(at=at, **c, number="100", caller=f"07011100{n:02d}"),
            ev.Queued(at=at, **c, group=queue, position=1, arrival=at)]


def answered(n: int, at: float, agent: str, leg: str, talk: float, by: str, *,
             waited: float = 0.0) -> list[ev.Event]:
    c = {"call_id": f"ql-caller-{n}", "version": 1, "group": Q}
    return [ev.Offered(at=at + waited, **c, agent=agent, leg=leg),
            ev.Connected(at=at + waited, **c, agent=agent, waited=waited, threshold=60),
            ev.CallEnded(at=at + waited + talk, **c, hung_up_by=by, phase="connected",
                         agent=agent)]


def agent(at: float, who: str, state: str, cause: str, reason: str | None = None) -> ev.Event:
    return ev.AgentChanged(at=at, version=1, agent=who, state=state, reason=reason,
                           cause=cause)


def the_recorded_calls() -> list[ev.Event]:
    """The recording's cases (its README) as vaxel tells them."""
    c3 = {"call_id": "ql-caller-3", "version": 1, "group": Q}
    c = {"version": 1, "group": Q}
    return [
        # the agents log in and pause before the recording's first second
        *(agent(T - 5, a, "ready", "login") for a in ("a1", "a2", "a3")),
        *(agent(T - 5, a, "paused", "pause", "start") for a in ("a1", "a2", "a3")),
        agent(T, "a1", "ready", "ready"),
        *caller(1, T), *answered(1, T, "a1", "1796174130.2", 3, "agent"),
        agent(T + 3, "a1", "paused", "pause", "lunch"),
        agent(T + 3, "a2", "ready", "ready"),
        *caller(2, T + 3), *answered(2, T + 3, "a2", "1796174133.6", 9, "caller"),
        agent(T + 12, "a2", "paused", "pause", "meeting"),
        agent(T + 12, "a1", "ready", "ready"), agent(T + 12, "a3", "ready", "ready"),
        *caller(3, T + 12),
        ev.Offered(at=T + 12, **c3, agent="a3", leg="1796174142.10"),
        ev.OfferFailed(at=T + 16, **c3, agent="a3", why="no answer", missed=True),
        agent(T + 16, "a3", "paused", "auto_pause", "missed 1 call"),
        *answered(3, T + 12, "a1", "1796174147.12", 3, "agent", waited=5),
        agent(T + 20, "a1", "paused", "pause", "training"),
        agent(T + 20, "a3", "paused", "pause", "training"),
        *caller(4, T + 20),
        ev.Abandoned(at=T + 25, call_id="ql-caller-4", **c, phase="waiting", waited=5),
        ev.CallEnded(at=T + 25, call_id="ql-caller-4", **c, hung_up_by="caller",
                     phase="waiting"),
        *caller(5, T + 25),
        ev.Overflowed(at=T + 31, call_id="ql-caller-5", **c, target="partner", rule="waited"),
        ev.PartnerResult(at=T + 60, call_id="ql-caller-5", **c, status="ANSWER",
                         answered=True),
        ev.CallEnded(at=T + 90, call_id="ql-caller-5", **c, hung_up_by="partner",
                     phase="at_partner"),
        *caller(6, T + 31),
        ev.LeftLine(at=T + 34, call_id="ql-caller-6", **c, then="goodbye", key="1"),
        ev.CallEnded(at=T + 40, call_id="ql-caller-6", **c, hung_up_by="vaxel",
                     phase="finishing"),
        *caller(7, T + 35, queue="ql-full"),
        ev.Abandoned(at=T + 45, call_id="ql-caller-7", version=1, group="ql-full",
                     phase="waiting", waited=10),
        ev.CallEnded(at=T + 45, call_id="ql-caller-7", version=1, group="ql-full",
                     hung_up_by="caller", phase="waiting"),
        agent(T + 45, "a3", "logged_out", "logout"),
        agent(T + 45, "a2", "ready", "ready"),
        *caller(10, T + 45), *answered(10, T + 45, "a2", "1796174175.28", 5, "caller"),
        agent(T + 50, "a1", "logged_out", "logout"),
        agent(T + 50, "a2", "logged_out", "logout"),
    ]


def test_the_export_of_the_recorded_calls_is_the_recording(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = tmp_path / "log.sqlite"

    async def write() -> None:
        db = await Database.open(str(store))
        log, rows = CallLog("r"), Rows()
        for e in the_recorded_calls():
            log.add(e, rows)
        await db.write(rows)
        await db.close()

    asyncio.run(write())
    day = "2026-12-02"  # T in Swedish time
    out = tmp_path / "queue_log"
    assert main(["export", "queue-log", "--store", str(store), "--from", day, "--to", day,
                 "-o", str(out)]) == 0
    ours = out.read_text().splitlines()
    recorded = RECORDING.read_text().splitlines()
    # vaxel logs agents in ready (ADDMEMBER|) and pauses them; Asterisk's were added paused
    assert [line for line in ours if "|ADDMEMBER|" in line][:1] == [
        f"{int(T) - 5}|NONE|{Q}|a1|ADDMEMBER|".replace("NONE", "MANAGER")]
    mine = [line for line in ours if int(line.split("|")[0]) >= T]
    theirs = [line for line in recorded if "|ADDMEMBER|" not in line]
    assert mine == theirs


def test_a_caller_moved_to_another_group_leaves_one_queue_and_enters_the_next() -> None:
    from store.queue_log import export

    rows = Rows()
    log = CallLog("r")
    c = {"call_id": "c1", "version": 1}
    for e in [ev.CallArrived(at=T, **c, number="1", caller="0701"),
              ev.Queued(at=T, **c, group="bygglov", position=3, arrival=T),
              ev.Announced(at=T + 30, **c, group="bygglov", position=2, ewt_minutes=3),
              ev.Overflowed(at=T + 60, **c, group="bygglov", target="vaxeln", rule="r"),
              ev.Offered(at=T + 70, **c, group="vaxeln", agent="anna", leg="L1"),
              ev.OfferFailed(at=T + 85, **c, group="vaxeln", agent="anna", why="busy",
                             missed=True),
              ev.Abandoned(at=T + 90, **c, group="vaxeln", phase="waiting", waited=90),
              ev.CallEnded(at=T + 90, **c, group="vaxeln", hung_up_by="caller",
                           phase="waiting")]:
        log.add(e, rows)
    t = int(T)
    assert export(rows.tables["events"]).splitlines() == [
        f"{t}|c1|bygglov|NONE|ENTERQUEUE||0701|3",
        f"{t + 60}|c1|bygglov|NONE|EXITWITHTIMEOUT|2|3|60",
        f"{t + 60}|c1|vaxeln|NONE|ENTERQUEUE||0701|1",
        f"{t + 85}|c1|vaxeln|anna|RINGNOANSWER|15000",
        f"{t + 90}|c1|vaxeln|NONE|ABANDON|1|1|30",
    ]
