"""The call log's writer: a subscriber of the domain events that never holds up a call.

Events wait in the writer's bounded subscription (controller/bus.py) and go into the database a
slice at a time, one transaction each. When a write fails or takes longer than `timeout` (the
database stopped, the network gone), the batch goes to the spool on disk instead, and so does
every batch after it, so the order is kept; every `retry` seconds the spool is tried again,
oldest first, and once it is empty the writer writes directly again. Stopping takes in what is
queued and writes the calls still going, without their end (it comes after a restart).
What was spooled and replayed is counted (`vaxel status`, /metrics).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

from controller.bus import SLICE, Subscription
from store.calllog import CallLog, Rows
from store.database import Database
from store.spool import Spool

log = logging.getLogger("vaxel.store")

# seconds the events gather before a transaction: the call log is read after the fact, and at
# 10 calls/s a transaction every 50 ms (the bus's linger) held a few events each
LINGER = 0.5


class StoreWriter:
    def __init__(self, connect: Callable[[], Awaitable[Database]], sub: Subscription,
                 spool: Spool, *, epoch: Callable[[float], float] = float,
                 timeout: float = 10.0, retry: float = 5.0, linger: float = LINGER,
                 where: str = "") -> None:
        self.where = where  # the database, as the log and `vaxel status` name it
        self._connect = connect  # opened at the first write, again after a failed one
        self.db: Database | None = None
        self.sub = sub
        self.spool = spool
        self.calllog = CallLog(secrets.token_hex(4), epoch)
        self._timeout = timeout
        self._retry = retry
        self._linger = linger
        self._stopping = asyncio.Event()
        self._one_at_a_time = asyncio.Lock()  # run() and flush() drain in turn: in order
        self._spooling = spool.events() > 0  # left by a run before this one
        self._closing: set[asyncio.Task[None]] = set()  # failed connections being closed
        self.written = 0  # events
        self.spooled = 0
        self.replayed = 0
        self.last_error: str | None = None

    def statistics(self) -> dict[str, Any]:
        return {"where": self.where, "connected": not self._spooling, "written": self.written,
                "spooled": self.spooled, "replayed": self.replayed,
                "in_spool": self.spool.events(), "queued": len(self.sub),
                "dropped": self.sub.dropped, "calls_open": self.calllog.open_calls,
                "last_error": self.last_error}

    @property
    def caught_up(self) -> bool:
        """Nothing waits in the spool: all that earlier runs wrote is in the database."""
        return not self._spooling

    def stop(self) -> None:
        """run() takes in what is queued, writes the open calls, and returns."""
        self._stopping.set()

    async def run(self) -> None:
        try:
            while not self._stopping.is_set():
                await self.sub.gather(self._stopping, self._retry if self._spooling else None,
                                      self._linger)
                async with self._one_at_a_time:
                    if self._spooling:
                        await self._replay()
                await self._take_in()
        finally:
            await self._take_in()
            async with self._one_at_a_time:
                await self._put(self.calllog.open_rows(), 0)
            if self.db is not None:
                await self.db.close()

    async def flush(self) -> None:
        """Everything published so far, written (or spooled): for reports while running and
        for tests."""
        await self._take_in()

    async def _take_in(self) -> None:
        async with self._one_at_a_time:
            while events := self.sub.drain(SLICE):
                rows = Rows()
                for event in events:
                    self.calllog.add(event, rows)
                await self._put(rows, len(events))

    async def _put(self, rows: Rows, events: int) -> None:
        # stopping while the database is away: straight to disk, no wait for it to time out
        if self._spooling and (self._stopping.is_set() or not await self._replay()):
            await self._to_spool(rows, events)
            return
        if await self._write(rows):
            self.written += events
        else:
            await self._to_spool(rows, events)

    async def _write(self, rows: Rows) -> bool:
        try:
            async with asyncio.timeout(self._timeout):
                if self.db is None:
                    self.db = await self._connect()
                await self.db.write(rows)
        except Exception as err:  # the database's or its driver's: the rows go to disk
            error = f"{type(err).__name__}: {err}".splitlines()[0]
            if not self._spooling:
                log.warning("call log: the database failed (%s); the events wait in %s",
                            error, self.spool.path)
            self.last_error = error
            self._spooling = True
            self._drop_connection()
            return False
        return True

    def _drop_connection(self) -> None:
        """After a failed write the next goes through a new connection: one cancelled in the
        middle (the timeout) may never answer again (aiosqlite's thread stays busy). The old
        one is closed in the background, given `timeout` to do so."""
        old, self.db = self.db, None
        if old is not None:
            task = asyncio.get_running_loop().create_task(self._close(old))
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)

    async def _close(self, db: Database) -> None:
        try:
            async with asyncio.timeout(self._timeout):
                await db.close()
        except Exception as err:  # it failed already; only a note
            log.info("call log: a failed connection did not close (%s)", type(err).__name__)

    async def _to_spool(self, rows: Rows, events: int) -> None:
        await asyncio.to_thread(self.spool.add, rows, events)
        self.spooled += events

    async def _replay(self) -> bool:
        """The spool into the database, oldest first: True once it is empty."""
        while (head := await asyncio.to_thread(self.spool.head)) is not None:
            batch_id, events, rows = head
            if not await self._write(rows):
                return False
            await asyncio.to_thread(self.spool.remove, batch_id)
            self.replayed += events
            self.written += events
        if self._spooling:
            log.info("call log: the database is back; %d events caught up", self.replayed)
        self._spooling = False
        self.last_error = None
        return True
