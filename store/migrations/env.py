"""Alembic's environment for the call log. store/database.py runs the migrations on the
connection it opened (config.attributes["connection"]); `alembic` on the command line (for a
new revision: see docs/operations.md) uses the URL in VAXEL_STORE_URL, a synchronous driver's."""

from __future__ import annotations

import os

from alembic import context
from sqlalchemy import Connection, create_engine

from store.schema import metadata

config = context.config
connection = config.attributes.get("connection")


def run(conn: Connection) -> None:
    # render_as_batch: SQLite alters a table by copying it; Alembic writes that for us
    context.configure(connection=conn, target_metadata=metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


if connection is not None:
    run(connection)
else:
    engine = create_engine(os.environ.get("VAXEL_STORE_URL", "sqlite:///vaxel-dev.sqlite"))
    with engine.begin() as conn:
        run(conn)
