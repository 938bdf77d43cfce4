"""The webhook: every domain event as an HTTP POST to a case system without MQTT, signed, in
order, kept on disk until delivered or expired.

Each target has its own spool (an SQLite file under the state folder): events go in as they come
(in batches, off the event loop's thread), and one at a time, oldest first, go out. A delivery
that fails (no connection, a timeout, any answer but 2xx) is tried again after 1 s, doubling to 5
minutes, until the event is `keep` old (default a day); then it is dropped and logged. The spool
survives a restart, so a case system down at night gets the night's calls in the morning. Every
delivery is recorded (`deliveries`: when, how many tries, the answer).

The signature, for the receiver to check (verify() below does it):

    X-Vaxel-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>." + body)>
    X-Vaxel-Delivery: <the spool's id: the same on every retry, so a receiver can skip repeats>

A receiver refuses a signature older than its window (5 minutes) and one it has seen before.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import sqlite3
import time
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from controller.bus import SLICE, Subscription
from integrations.payloads import Callers, encode, payload

log = logging.getLogger("vaxel.webhook")

RETRY_FIRST, RETRY_MAX = 1.0, 300.0
REPLAY_WINDOW = 300.0  # seconds a signature is accepted by verify()


@dataclass(frozen=True)
class WebhookTarget:
    name: str
    url: str
    secret: bytes
    site: str
    callers: Callers = "full"
    key: bytes = b""  # the pseudonyms' key
    timeout: float = 10.0
    keep: float = 24 * 3600.0  # seconds an undelivered event is tried


def sign(secret: bytes, body: bytes, now: float) -> str:
    t = int(now)
    mac = hmac.new(secret, f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


class SignatureRefused(Exception):
    """The request is not from vaxel, too old, or a replay."""


def verify(secret: bytes, header: str, body: bytes, now: float,
           seen: MutableMapping[str, float], window: float = REPLAY_WINDOW) -> None:
    """For a receiver: raises SignatureRefused unless the signature is right, fresh and new.
    `seen` keeps the signatures accepted within the window (a dict the receiver holds)."""
    try:
        parts = dict(p.split("=", 1) for p in header.split(","))
        t, mac = int(parts["t"]), parts["v1"]
    except (KeyError, ValueError) as err:
        raise SignatureRefused(f"malformed signature header {header!r}") from err
    if abs(now - t) > window:
        raise SignatureRefused(f"signature {now - t:.0f} s old: outside the {window:.0f} s "
                               "window")
    expected = hmac.new(secret, f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, mac):
        raise SignatureRefused("signature does not match the body")
    for old in [k for k, at in seen.items() if at < now - window]:
        del seen[old]
    if mac in seen:
        raise SignatureRefused("a replay: this signature was accepted before")
    seen[mac] = now


class Spool:
    """A target's outbox on disk. Each method is one short transaction (run it off the loop)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript("""
            CREATE TABLE IF NOT EXISTS outbox (
                id INTEGER PRIMARY KEY, created REAL NOT NULL, body BLOB NOT NULL,
                attempts INTEGER NOT NULL DEFAULT 0, next_at REAL NOT NULL,
                last_error TEXT);
            CREATE TABLE IF NOT EXISTS deliveries (
                id INTEGER PRIMARY KEY, created REAL NOT NULL, done REAL NOT NULL,
                attempts INTEGER NOT NULL, outcome TEXT NOT NULL);
        """)

    def add(self, bodies: list[bytes], now: float) -> None:
        with self._db:
            self._db.executemany("INSERT INTO outbox (created, body, next_at) VALUES (?, ?, ?)",
                                 [(now, b, now) for b in bodies])

    def head(self) -> tuple[int, float, bytes, int, float] | None:
        """The oldest undelivered: (id, created, body, attempts, next_at)."""
        row = self._db.execute("SELECT id, created, body, attempts, next_at FROM outbox "
                               "ORDER BY id LIMIT 1").fetchone()
        return None if row is None else (row[0], row[1], row[2], row[3], row[4])

    def done(self, item_id: int, created: float, attempts: int, outcome: str,
             now: float) -> None:
        with self._db:
            self._db.execute("DELETE FROM outbox WHERE id = ?", (item_id,))
            self._db.execute("INSERT INTO deliveries (id, created, done, attempts, outcome) "
                             "VALUES (?, ?, ?, ?, ?)", (item_id, created, now, attempts, outcome))

    def retry(self, item_id: int, attempts: int, next_at: float, error: str) -> None:
        with self._db:
            self._db.execute("UPDATE outbox SET attempts = ?, next_at = ?, last_error = ? "
                             "WHERE id = ?", (attempts, next_at, error, item_id))

    def waiting(self) -> int:
        return int(self._db.execute("SELECT count(*) FROM outbox").fetchone()[0])

    def deliveries(self) -> list[tuple[int, int, str]]:
        """(id, attempts, outcome) of each delivery done, oldest first."""
        return [(r[0], r[1], r[2]) for r in self._db.execute(
            "SELECT id, attempts, outcome FROM deliveries ORDER BY id")]

    def close(self) -> None:
        self._db.close()


class WebhookSender:
    def __init__(self, target: WebhookTarget, sub: Subscription, spool: Spool, *,
                 clock: Callable[[], float] = time.time, retry_first: float = RETRY_FIRST
                 ) -> None:
        self.target = target
        self._retry_first = retry_first
        self.sub = sub
        self.spool = spool
        self._clock = clock
        self._seq = 0
        self._stopping = asyncio.Event()
        self.delivered = 0
        self.expired = 0
        self.last_error: str | None = None

    def statistics(self) -> dict[str, Any]:
        return {"delivered": self.delivered, "expired": self.expired,
                "queued": len(self.sub), "dropped": self.sub.dropped,
                "last_error": self.last_error}

    def stop(self) -> None:
        """run() takes in what is queued (to the spool: nothing is lost) and returns."""
        self._stopping.set()

    async def run(self) -> None:
        timeout = aiohttp.ClientTimeout(total=self.target.timeout)
        async with aiohttp.ClientSession(timeout=timeout) as http:
            try:
                while not self._stopping.is_set():
                    await self._take_in()
                    head = await asyncio.to_thread(self.spool.head)
                    if head is None:
                        await self._wait(None)
                        continue
                    item_id, created, body, attempts, next_at = head
                    now = self._clock()
                    if now - created > self.target.keep:
                        log.error("webhook %s: event %d undelivered after %d tries, dropped",
                                  self.target.name, item_id, attempts)
                        self.expired += 1
                        await asyncio.to_thread(self.spool.done, item_id, created, attempts,
                                                "expired", now)
                    elif next_at > now:
                        await self._wait(next_at - now)
                    else:
                        await self._deliver(http, item_id, created, body, attempts)
            finally:
                await self._take_in()

    async def _take_in(self) -> None:
        """Into the spool, a slice at a time (a backlog never stalls the loop)."""
        t = self.target
        while events := self.sub.drain(SLICE):
            bodies = []
            for event in events:
                self._seq += 1
                bodies.append(encode(payload(event, t.site, self._seq, t.callers, t.key)))
            await asyncio.to_thread(self.spool.add, bodies, self._clock())

    async def _wait(self, seconds: float | None) -> None:
        """Until new events (after they gather), the stop, or `seconds`."""
        await self.sub.gather(self._stopping, seconds)

    async def _deliver(self, http: aiohttp.ClientSession, item_id: int, created: float,
                       body: bytes, attempts: int) -> None:
        t = self.target
        now = self._clock()
        headers = {"Content-Type": "application/json",
                   "X-Vaxel-Signature": sign(t.secret, body, now),
                   "X-Vaxel-Delivery": str(item_id)}
        attempts += 1
        try:
            async with http.post(t.url, data=body, headers=headers) as resp:
                status = resp.status
                await resp.read()
            error = None if 200 <= status < 300 else f"HTTP {status}"
        except (TimeoutError, aiohttp.ClientError) as err:
            error = f"{type(err).__name__}: {err}".rstrip(": ")
        if error is None:
            self.delivered += 1
            self.last_error = None
            await asyncio.to_thread(self.spool.done, item_id, created, attempts, "delivered",
                                    self._clock())
            return
        delay = min(self._retry_first * 2 ** (attempts - 1), RETRY_MAX)
        if self.last_error != error:
            log.warning("webhook %s: %s; trying again in %.0f s (events wait on disk)",
                        t.name, error, delay)
        self.last_error = error
        await asyncio.to_thread(self.spool.retry, item_id, attempts, self._clock() + delay,
                                error)
