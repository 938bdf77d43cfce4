"""The event bus: every domain event (controller/events.py) to every subscriber, in order.

Publishing never waits and never fails: each subscriber has its own bounded queue, and a
subscriber that falls behind loses the newest events beyond its bound (counted in `dropped`,
shown by `vaxel status`) while the call path goes on. A subscriber reads its queue in batches, in
the order the events were published, so a call's events always arrive in the order they happened.

Subscribers take events in batches: woken for every event, their task switches cost a third of
a call's CPU (bench_controller). The in-process handlers (`attach`: the counters behind
`vaxel status`, the journal, the live pages' changes) are fed together by one timer, `linger`
(50 ms) after the first event of a batch, without a task of their own: at 10 calls/s a task
each woke the loop for each of them apart (bench_recorded_load). Before reading their state,
`catch_up` feeds them what is queued. A subscriber with a loop of its own (the call log's
writer, MQTT, the webhooks) waits with `Subscription.gather`.
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
    def __init__(self, linger: float = LINGER) -> None:
        self._subscriptions: list[Subscription] = []
        self._handlers: list[tuple[Subscription, Callable[[Event], None]]] = []
        self._linger = linger
        self._feeding: asyncio.TimerHandle | None = None

    def subscribe(self, name: str, limit: int = DEFAULT_LIMIT) -> Subscription:
        sub = Subscription(name, limit)
        self._subscriptions.append(sub)
        return sub

    def attach(self, name: str, handler: Callable[[Event], None],
               limit: int = DEFAULT_LIMIT) -> Subscription:
        """An in-process handler of one event at a time, fed with the others by the bus's
        timer (it must not block: it runs on the loop)."""
        sub = self.subscribe(name, limit)
        self._handlers.append((sub, handler))
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        if sub in self._subscriptions:
            self._subscriptions.remove(sub)
        self._handlers = [(s, h) for s, h in self._handlers if s is not sub]

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
        if self._handlers and self._feeding is None:
            self._feeding = asyncio.get_running_loop().call_later(self._linger, self._feed)

    def catch_up(self) -> None:
        """Feeds the attached handlers what is queued, at once (before reading their state)."""
        for sub, handler in self._handlers:
            if len(sub):
                feed(sub.name, sub.drain(), handler)

    def close(self) -> None:
        """Feeds the handlers what is left, and no timer stays behind."""
        if self._feeding is not None:
            self._feeding.cancel()
            self._feeding = None
        self.catch_up()

    def _feed(self) -> None:
        self._feeding = None
        self.catch_up()

    def statistics(self) -> dict[str, dict[str, int]]:
        return {s.name: {"queued": len(s), "dropped": s.dropped} for s in self._subscriptions}


def feed(name: str, events: list[Event], handle: Callable[[Event], None]) -> None:
    """A handler that fails on one event is logged and goes on with the next: a subscriber's
    bug never stops the others, nor the calls."""
    for event in events:
        try:
            handle(event)
        except Exception:
            log.exception("subscriber %s failed on %r", name, event)
