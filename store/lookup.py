"""What the web pages read from the call log: a caller's earlier contacts (for the agent they
are offered to) and the audit log (for the administrators)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from store import schema
from store.calllog import Row
from store.database import Database


@dataclass(frozen=True)
class Contact:
    """One earlier call from the same number, with its wrap-up if it had one."""

    call_id: str
    arrived_at: float
    group: str | None
    outcome: str
    agent: str | None
    reason: str | None = None  # the wrap-up's: rosa1 .. rosa4, forwarded
    department: str | None = None
    resolved: bool | None = None
    note: str = ""


async def earlier_contacts(db: Database, caller: str, *, besides: str,
                           limit: int = 5) -> list[Contact]:
    """The latest calls from `caller` (newest first), the call `besides` aside. A withheld
    number ("") has no earlier contacts: every withheld call shares it."""
    if not caller:
        return []
    calls = await db.rows(schema.calls, schema.calls.c.caller == caller,
                          schema.calls.c.call_id != besides,
                          order=[schema.calls.c.arrived_at.desc()], limit=limit)
    if not calls:
        return []
    wraps: dict[str, Row] = {}
    for w in await db.rows(schema.wrap_ups,
                           schema.wrap_ups.c.call_id.in_([c["call_id"] for c in calls]),
                           order=[schema.wrap_ups.c.at]):
        wraps[w["call_id"]] = w  # the last wrap-up of a call counts
    out = []
    for c in calls:
        contact = Contact(c["call_id"], c["arrived_at"], c["group_id"], c["outcome"],
                          c["agent"])
        if (wrap := wraps.get(c["call_id"])) is not None:
            contact = dataclasses.replace(contact, reason=wrap["reason"],
                                          department=wrap["department"],
                                          resolved=bool(wrap["resolved"]), note=wrap["note"])
        out.append(contact)
    return out


async def audit_lines(db: Database, limit: int = 200) -> list[Row]:
    """The newest lines of the audit log first."""
    return await db.rows(schema.audit, order=[schema.audit.c.at.desc(), schema.audit.c.id.desc()],
                         limit=limit)


async def pending_callbacks(db: Database) -> list[Row]:
    """The callback requests with no outcome yet (a restarted controller takes them up), in
    the order of their callers' places."""
    return await db.rows(schema.callbacks, schema.callbacks.c.outcome.is_(None),
                         order=[schema.callbacks.c.arrival])
