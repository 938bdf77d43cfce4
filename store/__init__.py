"""The call log: every contact registered (calls, their events, agents' states, wrap-ups,
configuration versions, the audit log) in SQLite by default or PostgreSQL, by SQLAlchemy's async
core, with Alembic's migrations. The writer is a subscriber of the domain events
(controller/events.py) and never holds up a call: while the database is away its rows wait in a
spool on disk and go in, in order, when it is back. docs/kpi.md, docs/privacy.md."""
