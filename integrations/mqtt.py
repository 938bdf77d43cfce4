"""The MQTT publisher: every domain event to a broker (aiomqtt), never on the call path.

It is a subscriber of the bus like any other: events wait in its bounded queue (events.mqtt.buffer)
while the broker is away, and what does not fit is counted as dropped (`vaxel status`,
`/metrics`). Its own loop connects, reconnects with backoff (0.5 s doubling to 30 s), and after
each connect says "online" on vaxel/<site>/status (retained; the will says "offline" when the
controller dies, and a clean stop says it too) and publishes the retained state again: each
agent's state and each group's line (a broker restarted without persistence has forgotten it).

Call events go with QoS 1. A batch is published `max_inflight` messages at a time and
counted only when the broker has acknowledged all of it; a batch cut short by a lost connection
is sent again after the reconnect, so delivery is at least once (`seq` tells a repeat).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiomqtt

from controller import events as ev
from controller.bus import SLICE, Subscription
from integrations.payloads import ALARMS, SCHEMA_VERSION, Callers, encode, payload, topic

log = logging.getLogger("vaxel.mqtt")

BACKOFF_FIRST, BACKOFF_MAX = 0.5, 30.0


@dataclass(frozen=True)
class MqttTarget:
    host: str
    port: int
    site: str
    username: str | None = None
    password: str | None = None
    callers: Callers = "pseudonym"
    key: bytes = b""  # the pseudonyms' key
    keepalive: int = 30
    max_inflight: int = 200


@dataclass
class MqttStatistics:
    connected: bool = False
    connects: int = 0
    published: int = 0  # acknowledged by the broker
    last_error: str | None = None


class MqttPublisher:
    def __init__(self, target: MqttTarget, sub: Subscription,
                 groups: Callable[[], dict[str, dict[str, Any]]] | None = None) -> None:
        self.target = target
        self.sub = sub
        self._groups = groups  # the groups' lines now (retained, when they change)
        self._retained: dict[str, bytes] = {}  # topic -> payload: republished on connect
        self._carry: list[tuple[str, bytes, bool]] = []  # a batch the broker did not confirm
        self._seq = 0
        self._stopping = asyncio.Event()
        self.stats = MqttStatistics()
        site = target.site
        self.status_topic = f"vaxel/{site}/status"
        self._alarms = f"vaxel/{site}/alarms"

    def statistics(self) -> dict[str, Any]:
        s = self.stats
        return {"connected": s.connected, "connects": s.connects, "published": s.published,
                "queued": len(self.sub), "in_flight": len(self._carry),
                "dropped": self.sub.dropped,
                "last_error": s.last_error, "retained": len(self._retained)}

    async def run(self) -> None:
        """Until stop(): connect, publish, reconnect."""
        backoff = BACKOFF_FIRST
        t = self.target
        while not self._stopping.is_set():
            try:
                async with aiomqtt.Client(
                        t.host, t.port, username=t.username, password=t.password,
                        identifier=f"vaxel-{t.site}", keepalive=t.keepalive,
                        max_inflight_messages=t.max_inflight,
                        will=aiomqtt.Will(self.status_topic, b"offline", qos=1, retain=True),
                ) as client:
                    client.pending_calls_threshold = t.max_inflight + 1  # our window, not 10
                    self.stats.connected, self.stats.last_error = True, None
                    self.stats.connects += 1
                    backoff = BACKOFF_FIRST
                    log.info("MQTT: connected to %s:%d", t.host, t.port)
                    await self._serve(client)
                    return
            except aiomqtt.MqttError as err:
                if self.stats.connected or self.stats.last_error != str(err):
                    log.warning("MQTT: %s:%d: %s; trying again, events wait (up to %d)",
                                t.host, t.port, err, self.sub.limit)
                self.stats.connected, self.stats.last_error = False, str(err)
            with_stop = asyncio.ensure_future(self._stopping.wait())
            await asyncio.wait([with_stop], timeout=backoff)
            with_stop.cancel()
            backoff = min(backoff * 2, BACKOFF_MAX)

    def stop(self) -> None:
        """A clean stop: run() sends what is queued, then "offline", and returns."""
        self._stopping.set()

    async def _serve(self, client: aiomqtt.Client) -> None:
        await client.publish(self.status_topic, b"online", qos=1, retain=True)
        await self._send(client, [(t, p, True) for t, p in self._retained.items()],
                         count=False)
        while True:
            if self._carry:
                await self._send(client, self._carry)
            if len(self.sub):  # a backlog: the next slice at once
                self._carry = self._prepare(self.sub.drain(SLICE))
                continue
            if self._stopping.is_set():
                await client.publish(self.status_topic, b"offline", qos=1, retain=True)
                return
            await self.sub.gather(self._stopping)

    async def _send(self, client: aiomqtt.Client, batch: list[tuple[str, bytes, bool]], *,
                    count: bool = True) -> None:
        # a window at a time: aiomqtt walks all its pending publishes for each new one
        window = self.target.max_inflight
        for start in range(0, len(batch), window):
            await asyncio.gather(*(client.publish(t, p, qos=1, retain=r)
                                   for t, p, r in batch[start:start + window]))
        if count:
            self.stats.published += len(batch)
            self._carry = []

    def _prepare(self, events: list[ev.Event]) -> list[tuple[str, bytes, bool]]:
        t = self.target
        out: list[tuple[str, bytes, bool]] = []
        for event in events:
            self._seq += 1
            body = payload(event, t.site, self._seq, t.callers, t.key)
            data = encode(body)
            out.append((topic(event, t.site), data, False))
            if isinstance(event, ev.AgentChanged):
                self._retain(out, f"vaxel/{t.site}/agents/{event.agent}", data)
            if isinstance(event, ALARMS):
                out.append((self._alarms, data, False))
        if self._groups is not None:
            for gid, line in self._groups().items():
                data = encode({"schema": SCHEMA_VERSION, "site": t.site, "group": gid, **line})
                if self._retained.get(f"vaxel/{t.site}/groups/{gid}") != data:
                    self._retain(out, f"vaxel/{t.site}/groups/{gid}", data)
        return out

    def _retain(self, out: list[tuple[str, bytes, bool]], where: str, data: bytes) -> None:
        self._retained[where] = data
        out.append((where, data, True))


def group_lines(statistics: Callable[[], dict[str, dict[str, Any]]]
                ) -> Callable[[], dict[str, dict[str, Any]]]:
    """The groups' retained state from the router's statistics (JSON-safe values only)."""
    def lines() -> dict[str, dict[str, Any]]:
        return {gid: {k: v for k, v in s.items() if k != "handle_time"}
                for gid, s in statistics().items()}
    return lines

