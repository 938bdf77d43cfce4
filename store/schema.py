"""The call log's tables. Times are seconds since the epoch (floats: the same on SQLite and
PostgreSQL, exact to order; `to_timestamp(arrived_at)` in PostgreSQL reads them as dates).
A change here is a new migration in store/migrations/versions (docs/operations.md)."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

metadata = MetaData()

calls = Table(
    "calls", metadata,
    Column("call_id", String(64), primary_key=True),
    Column("arrived_at", Float, nullable=False),
    Column("ended_at", Float),
    Column("number", String(32), nullable=False),  # the municipal number dialled
    Column("caller", String(64), nullable=False),  # "" when withheld; a pseudonym after N days
    Column("pseudonymised", Boolean, nullable=False, default=False),
    Column("language", String(8)),
    Column("ivr_path", Text),  # the menus passed, "main > bygglov"
    Column("ivr_keys", String(64)),
    Column("ivr_outcome", String(16)),  # group, callback, message, closed, transfer, overload
    Column("first_group", String(64)),
    Column("group_id", String(64)),  # the last group: where the outcome counts
    Column("offered", Boolean, nullable=False, default=False),
    Column("queued_at", Float),  # first arrival in a line
    Column("answered_at", Float),
    Column("agent", String(64)),
    Column("waited", Float),
    Column("talk", Float),
    Column("threshold", Float),
    Column("outcome", String(24), nullable=False),  # queues/kpi.py's Outcome
    Column("abandoned_in", String(16)),
    Column("hung_up_by", String(16)),
    Column("ended_phase", String(16)),
    Column("overflow_rule", Text),
    Column("partner_status", String(16)),
    Column("offers", Integer, nullable=False, default=0),
    Column("version", Integer, nullable=False),
    Column("adopted", Boolean, nullable=False, default=False),
)
Index("calls_arrived", calls.c.arrived_at)
Index("calls_group_arrived", calls.c.group_id, calls.c.arrived_at)
Index("calls_caller", calls.c.caller)

events = Table(
    "events", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("uid", String(48), nullable=False, unique=True),  # the writer's run and sequence
    Column("at", Float, nullable=False),
    Column("kind", String(32), nullable=False),  # the event's class, as in docs/events.md
    Column("version", Integer, nullable=False),
    Column("call_id", String(64)),
    Column("group_id", String(64)),
    Column("agent", String(64)),
    Column("data", JSON, nullable=False),  # the event's other fields
)
Index("events_call", events.c.call_id)
Index("events_at", events.c.at)

agent_states = Table(
    "agent_states", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("uid", String(48), nullable=False, unique=True),
    Column("agent", String(64), nullable=False),
    Column("state", String(16), nullable=False),  # agents/state.py
    Column("reason", String(64)),  # the pause reason
    Column("cause", String(32), nullable=False),  # login, offer, answer, miss, auto_pause, ...
    Column("call_id", String(64)),
    Column("start_at", Float, nullable=False),
    Column("end_at", Float),  # open while the agent is in it
)
Index("agent_states_agent", agent_states.c.agent, agent_states.c.start_at)

wrap_ups = Table(
    "wrap_ups", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("uid", String(48), nullable=False, unique=True),
    Column("call_id", String(64), nullable=False),
    Column("agent", String(64), nullable=False),
    Column("at", Float, nullable=False),
    Column("reason", String(16), nullable=False),  # rosa1 .. rosa4, forwarded
    Column("department", String(100)),
    Column("resolved", Boolean, nullable=False),  # at the first contact
    Column("note", Text, nullable=False, default=""),
)
Index("wrap_ups_call", wrap_ups.c.call_id)

config_versions = Table(
    "config_versions", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("uid", String(48), nullable=False, unique=True),
    Column("number", Integer, nullable=False),
    Column("checksum", String(64), nullable=False),
    Column("activated_at", Float, nullable=False),
    Column("changes", JSON, nullable=False),
)

audit = Table(
    "audit", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("uid", String(48), nullable=False, unique=True),
    Column("at", Float, nullable=False),
    Column("who", String(100), nullable=False),
    Column("action", String(64), nullable=False),
    Column("detail", Text, nullable=False, default=""),
    Column("source", String(100), nullable=False, default=""),  # an address, cli, sighup
)
Index("audit_at", audit.c.at)

# A callback request (queues/callback.py), one row each, kept up to date from its events; the
# ones with no outcome are pending, and a restarted controller takes them up again from here.
callbacks = Table(
    "callbacks", metadata,
    Column("call_id", String(64), primary_key=True),  # the call it came from
    Column("group_id", String(64), nullable=False),
    Column("caller", String(64), nullable=False),  # the number to call; a pseudonym after N days
    Column("pseudonymised", Boolean, nullable=False, default=False),
    Column("language", String(8), nullable=False),
    Column("source", String(16), nullable=False),  # ivr, waiting, closing
    Column("requested_at", Float, nullable=False),
    Column("arrival", Float, nullable=False),  # the caller's place in line
    Column("priority", Integer, nullable=False, default=0),
    Column("phase", String(16), nullable=False),  # pending, offered, dialling, connected, ended
    Column("attempts", Integer, nullable=False, default=0),
    Column("due", Float),  # the next attempt not before this
    Column("agent", String(64)),
    Column("citizen_leg", String(64)),  # the attempt's leg: found again after a restart
    Column("reached_at", Float),
    Column("ended_at", Float),
    Column("outcome", String(16)),  # reached, failed, expired, cancelled; null: pending
    Column("ended_by", String(100)),
    Column("target", Float, nullable=False),  # the group's callback target then (seconds)
    Column("results", JSON, nullable=False),  # each attempt's result, in order
    Column("version", Integer, nullable=False),
)
Index("callbacks_requested", callbacks.c.requested_at)
Index("callbacks_outcome", callbacks.c.outcome)

# the tables the writer fills, in the order a batch goes in
WRITTEN = (events, calls, callbacks, agent_states, wrap_ups, config_versions, audit)
