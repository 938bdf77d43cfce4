"""The call log's retention (docs/privacy.md): callers' numbers become pseudonyms after N days and
the wrap-ups' notes are cleared; after M days calls, their events, wrap-ups, agents' states,
callback requests and the audit log's lines go. A callback request still pending keeps its
number (it is to be dialled): it is pseudonymised once it has ended. Run by `vaxel maintenance`
and by the controller each night.

A pseudonym is HMAC-SHA256 of the number under a key from the environment: the same number is
the same pseudonym, so repeat calls can still be counted, but the number can't be read back
without the key. Without a key configured, each run draws one and forgets it: the numbers are
then as good as deleted (nothing links them any more).
"""

from __future__ import annotations

import hashlib
import hmac
import os
from dataclasses import dataclass, field

from sqlalchemy import delete, select, update

from store import schema
from store.database import Database

BATCH = 2000


def pseudonym(number: str, key: bytes) -> str:
    if not number or number.startswith("p-"):
        return number
    return "p-" + hmac.new(key, number.encode(), hashlib.sha256).hexdigest()[:20]


@dataclass
class Done:
    pseudonymised: int = 0  # calls
    callbacks_pseudonymised: int = 0
    notes_cleared: int = 0
    deleted: dict[str, int] = field(default_factory=dict)

    def __str__(self) -> str:
        gone = ", ".join(f"{n} {table}" for table, n in self.deleted.items() if n) or "nothing"
        requests = (f" and {self.callbacks_pseudonymised} of callback requests"
                    if self.callbacks_pseudonymised else "")
        return (f"{self.pseudonymised} callers' numbers{requests} pseudonymised, "
                f"{self.notes_cleared} notes cleared; deleted: {gone}")


async def apply(db: Database, now: float, pseudonymise_after: float, delete_after: float,
                key: bytes | None = None) -> Done:
    """One pass, in batches (a year's log never holds one long lock)."""
    key = key or os.urandom(32)
    done = Done()
    c, e, w = schema.calls, schema.events, schema.wrap_ups
    a, au, cb = schema.agent_states, schema.audit, schema.callbacks
    async with db.engine.connect() as conn:
        gone = now - delete_after  # first what goes: no point pseudonymising it
        for table, when in ((e, e.c.at), (w, w.c.at), (c, c.c.arrived_at),
                            (a, a.c.start_at), (au, au.c.at)):
            async with conn.begin():
                result = await conn.execute(delete(table).where(when < gone))
                done.deleted[table.name] = result.rowcount or 0
        async with conn.begin():
            result = await conn.execute(delete(cb).where(cb.c.requested_at < gone,
                                                         cb.c.outcome.is_not(None)))
            done.deleted[cb.name] = result.rowcount or 0
        before = now - pseudonymise_after
        while True:
            async with conn.begin():
                found = (await conn.execute(
                    select(c.c.call_id, c.c.caller).where(
                        c.c.arrived_at < before, c.c.pseudonymised.is_(False)).limit(BATCH)
                )).all()
                if not found:
                    break
                for call_id, caller in found:
                    await conn.execute(update(c).where(c.c.call_id == call_id).values(
                        caller=pseudonym(caller, key), pseudonymised=True))
                    arrivals = (await conn.execute(select(e.c.id, e.c.data).where(
                        e.c.call_id == call_id, e.c.kind == "CallArrived"))).all()
                    for event_id, data in arrivals:
                        await conn.execute(update(e).where(e.c.id == event_id).values(
                            data={**data, "caller": pseudonym(data.get("caller", ""), key)}))
                done.pseudonymised += len(found)
        async with conn.begin():
            ended = (await conn.execute(select(cb.c.call_id, cb.c.caller).where(
                cb.c.requested_at < before, cb.c.pseudonymised.is_(False),
                cb.c.outcome.is_not(None)))).all()
            for call_id, caller in ended:
                await conn.execute(update(cb).where(cb.c.call_id == call_id).values(
                    caller=pseudonym(caller, key), pseudonymised=True))
                for event_id, data in (await conn.execute(select(e.c.id, e.c.data).where(
                        e.c.call_id == call_id, e.c.kind == "CallbackRequested"))).all():
                    await conn.execute(update(e).where(e.c.id == event_id).values(
                        data={**data, "caller": pseudonym(data.get("caller", ""), key)}))
            done.callbacks_pseudonymised = len(ended)
        async with conn.begin():
            result = await conn.execute(update(w).where(w.c.at < before, w.c.note != "")
                                        .values(note=""))
            done.notes_cleared = result.rowcount or 0
            told = (await conn.execute(select(e.c.id, e.c.data).where(
                e.c.kind == "WrappedUp", e.c.at < before))).all()
            for event_id, data in told:  # the note travelled in its event too
                if data.get("note"):
                    await conn.execute(update(e).where(e.c.id == event_id).values(
                        data={**data, "note": ""}))
    return done
