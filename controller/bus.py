"""The event bus: every domain event (controller/events.py) to every subscriber, in order.

Publishing never waits and never fails: each subscriber has its own bounded queue, and a
subscriber that falls behind loses the newest events beyond its bound (counted in `dropped`,
shown by `vaxel status`) while the call path goes on. A subscriber reads its queue in batches, in
the order the events were published, so a call's events always arrive in the order they happened.

A subscriber's task wakes at most once per `linger` (50 ms) and takes everything queued by then:
woken for every event, the subscribers' task switches cost a third of a call's CPU
(bench_controller). One that must be current when read (the counters behind `vaxel status`)
catches up first with `catch_up`.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable

from controller.events import Event

log = logging.getLogger("vaxel.bus")

DEFAULT_LIMIT = 50_000  # events a subscriber may hold: minutes of a crisis peak
LINGER = 0.05  # seconds a subscriber's task lets events gather before it takes them
# events a publisher turns into messages in one go: a backlog of a long outage goes out in
# slices, not in one step that would stall the loop serving the calls (~15 ms a slice)
SLICE = 1000


class Subscription:
    def __init__(self, name: str, limit: int) -> None:
        self.name = name
        self.limit = limit
        self.dropped = 0
        self._items: deque[Event] = deque()
        self._waiter: asyncio.Future[None] | None = None

    def __len__(self) -> int:
        return len(self._items)

    def drain(self, limit: int | None = None) -> list[Event]:
        """What is queued now, oldest first, all of it or the oldest `limit`."""
        items = self._items
        if limit is None or len(items) <= limit:
            taken = list(items)
            items.clear()
            return taken
        return [items.popleft() for _ in range(limit)]

    async def wait(self) -> None:
        """Returns when at least one event is queued."""
        while not self._items:
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None

    async def gather(self, stopping: asyncio.Event, timeout: float | None = None,
                     linger: float = LINGER) -> None:
        """For a subscriber with a loop of its own: returns when events are queued (after
        letting more gather for `linger` seconds), when `stopping` is set, or after
        `timeout`."""
        waiting = asyncio.ensure_future(self.wait())
        stop = asyncio.ensure_future(stopping.wait())
        await asyncio.wait([waiting, stop], timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        waiting.cancel()
        stop.cancel()
        if self._items and not stopping.is_set():
            await asyncio.sleep(linger)

    async def batch(self) -> list[Event]:
        """Waits for at least one event, then returns all that are queued."""
        await self.wait()
        return self.drain()


class Bus:
    def __init__(self) -> None:
        self._subscriptions: list[Subscription] = []

    def subscribe(self, name: str, limit: int = DEFAULT_LIMIT) -> Subscription:
        sub = Subscription(name, limit)
        self._subscriptions.append(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        if sub in self._subscriptions:
            self._subscriptions.remove(sub)

    def publish(self, event: Event) -> None:
        for sub in self._subscriptions:  # into each bounded queue (~12 events a call)
            items = sub._items
            if len(items) >= sub.limit:
                sub.dropped += 1
                continue
            items.append(event)
            waiter = sub._waiter
            if waiter is not None and not waiter.done():
                waiter.set_result(None)

    def statistics(self) -> dict[str, dict[str, int]]:
        return {s.name: {"queued": len(s), "dropped": s.dropped} for s in self._subscriptions}


async def consume(sub: Subscription, handle: Callable[[Event], None],
                  linger: float = LINGER) -> None:
    """Feeds a subscription to a handler for ever (a task of its own), in batches gathered
    over `linger` seconds."""
    while True:
        await sub.wait()
        if linger > 0:
            await asyncio.sleep(linger)
        feed(sub.name, sub.drain(), handle)


def catch_up(sub: Subscription, handle: Callable[[Event], None]) -> None:
    """Feeds what is queued now, at once (before reading a subscriber's state)."""
    if len(sub):
        feed(sub.name, sub.drain(), handle)


def feed(name: str, events: list[Event], handle: Callable[[Event], None]) -> None:
    """A handler that fails on one event is logged and goes on with the next: a subscriber's
    bug never stops the others, nor the calls."""
    for event in events:
        try:
            handle(event)
        except Exception:
            log.exception("subscriber %s failed on %r", name, event)
