"""The database behind the call log: opened from a URL, brought to the newest schema by Alembic
on opening, written in batches of upserts (a batch written twice is written once).

URLs: `sqlite:///path/to/vaxel.sqlite` (the embedded default) or
`postgresql://user@host:5432/vaxel` (production; the password from an environment variable,
never the YAML). The async drivers (aiosqlite, asyncpg) are filled in here.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.script.revision import ResolutionError
from alembic.util.exc import CommandError
from sqlalchemy import Connection, Engine, Table, create_engine, event, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from store import schema
from store.calllog import Row, Rows

MIGRATIONS = Path(__file__).parent / "migrations"
DRIVERS = {"sqlite": "sqlite+aiosqlite", "postgresql": "postgresql+asyncpg"}
# on a second write of a row: these keep what was written first (a call adopted after a
# restart knows less of its start than the controller that took it)
FIRST_KNOWN = ("arrived_at", "number", "caller", "language", "ivr_path", "ivr_keys",
               "ivr_outcome", "first_group", "queued_at")


class StoreError(Exception):
    """The database can't be opened or brought to this version's schema: says which and why."""


def database_url(text: str, password: str | None = None) -> URL:
    """A URL as an administrator writes it, or a plain file path (SQLite), with its async
    driver. Raises StoreError saying what is accepted."""
    if "://" not in text:
        return make_url(f"sqlite+aiosqlite:///{Path(text).expanduser()}")
    try:
        url = make_url(text)
    except ArgumentError:
        raise StoreError(f"{text!r} is not a database URL; write sqlite:///path/vaxel.sqlite "
                         "or postgresql://user@host/vaxel") from None
    base = url.drivername.split("+")[0]
    if base not in DRIVERS:
        raise StoreError(f"{url.drivername!r}: the store is SQLite or PostgreSQL "
                         "(sqlite:///... or postgresql://...)")
    url = url.set(drivername=DRIVERS[base])
    return url.set(password=password) if password else url


def _alembic(connection: Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = connection
    return cfg


def _upgrade(connection: Connection) -> None:
    command.upgrade(_alembic(connection), "head")


def _revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def _known(revision: str) -> bool:
    try:
        return ScriptDirectory.from_config(_alembic()).get_revision(revision) is not None
    except (ResolutionError, CommandError):
        return False


HEAD = ScriptDirectory.from_config(_alembic()).get_current_head()


class Database:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name
        # SQLite's writes: a plain engine on a thread of the database's own, a transaction in
        # one go. Through aiosqlite each call of a transaction went to its thread and back
        # (about 30 a transaction), each hop a wake-up of the loop: at 10 calls/s a fifth of
        # its handles (bench/bench_recorded_load.py). PostgreSQL's driver (asyncpg) needs no
        # thread.
        self._sync: Engine | None = None
        self._thread: ThreadPoolExecutor | None = None
        if self.dialect == "sqlite":
            self._sync = create_engine(engine.url.set(drivername="sqlite"))
            event.listen(self._sync, "connect", _sqlite_pragmas)
            self._thread = ThreadPoolExecutor(1, thread_name_prefix="vaxel-sqlite")
        self.revision: str | None = None  # the schema's Alembic revision (None: no schema)
        self._insert = postgresql.insert if self.dialect == "postgresql" else sqlite.insert
        # built once: building an upsert (its `excluded` columns) was 40 % of `vaxel run`'s CPU
        # at 10 calls/s, where each batch is a few events (bench/bench_recorded_load.py)
        self._upserts = {table.name: self._upsert(table) for table in schema.WRITTEN}

    @classmethod
    async def open(cls, url: URL | str, *, migrate: bool = True) -> Database:
        """Connects and brings the schema to this version's (Alembic `upgrade head`); raises
        StoreError when the database can't be reached or is newer than this vaxel."""
        url = database_url(url) if isinstance(url, str) else url
        if url.drivername.startswith("sqlite") and url.database:
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, pool_pre_ping=True)
        if engine.dialect.name == "sqlite":
            event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        db = cls(engine)
        try:
            async with engine.begin() as conn:
                found = await conn.run_sync(_revision)
                if found and not _known(found):
                    raise StoreError(f"{url.render_as_string()}: its schema ({found}) is newer "
                                     "than this vaxel's; upgrade vaxel, or open another store")
                if migrate and found != HEAD:
                    await conn.run_sync(_upgrade)
                    found = HEAD
                db.revision = found
        except StoreError:
            await db.close()
            raise
        except Exception as err:  # SQLAlchemy's, OSError, or a driver's own (asyncpg's)
            await db.close()
            raise StoreError(f"{url.render_as_string()}: {_why(err)}") from err
        return db

    async def write(self, rows: Rows) -> None:
        """One transaction: all of the batch or none of it."""
        if self._sync is not None:
            if self._thread is None:
                raise StoreError("the call log's connection is closed")
            await asyncio.get_running_loop().run_in_executor(self._thread, self._write, rows)
            return
        async with self.engine.begin() as conn:
            for upsert, batch in self._statements(rows):
                await conn.execute(upsert, batch)

    def _write(self, rows: Rows) -> None:
        assert self._sync is not None
        with self._sync.begin() as conn:
            for upsert, batch in self._statements(rows):
                conn.execute(upsert, batch)

    def _statements(self, rows: Rows) -> list[tuple[Any, list[Row]]]:
        """The batch's upserts, table by table in schema.WRITTEN's order."""
        return [(self._upserts[table.name], batch) for table in schema.WRITTEN
                if (batch := rows.tables.get(table.name))]

    def _upsert(self, table: Table) -> Any:
        stmt = self._insert(table)
        if table is schema.calls:
            keep = {c: func.coalesce(table.c[c], stmt.excluded[c]) for c in FIRST_KNOWN}
            rest = {c.name: stmt.excluded[c.name] for c in table.c
                    if c.name not in FIRST_KNOWN and c.name != "call_id"}
            return stmt.on_conflict_do_update(index_elements=["call_id"], set_={**rest, **keep})
        if table is schema.callbacks:  # each row is the request's whole state now
            rest = {c.name: stmt.excluded[c.name] for c in table.c if c.name != "call_id"}
            return stmt.on_conflict_do_update(index_elements=["call_id"], set_=rest)
        if table is schema.agent_states:
            return stmt.on_conflict_do_update(index_elements=["uid"],
                                              set_={"end_at": stmt.excluded.end_at})
        return stmt.on_conflict_do_nothing(index_elements=["uid"])

    async def rows(self, table: Table, *where: Any, order: Sequence[Any] = (),
                   limit: int | None = None) -> list[Row]:
        async with self.engine.connect() as conn:
            result = await conn.execute(select(table).where(*where).order_by(*order)
                                        .limit(limit))
            return [dict(r._mapping) for r in result]

    async def close(self) -> None:
        await self.engine.dispose()
        thread, self._thread = self._thread, None  # closed once, however often asked
        if self._sync is not None and thread is not None:
            # on the thread that wrote: after a write still under way (one the writer gave up
            # on), never beside it
            await asyncio.get_running_loop().run_in_executor(thread, self._sync.dispose)
            thread.shutdown(wait=False)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL: readers (a report) never block the writer; NORMAL: durable at each checkpoint,
    # a power cut loses at most the last transactions, never the file
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def _why(err: BaseException) -> str:
    text = str(getattr(err, "orig", None) or err).strip().splitlines()
    return text[0] if text else type(err).__name__
