"""The webhook against a local aiohttp receiver that checks every request as a case system
would (integrations.webhook.verify): signed, in order, retried after 500s and a timeout, kept on
disk across a restart, and a replayed request refused."""

import asyncio
import json
import time

import aiohttp
import pytest
from aiohttp import web

from controller import events as ev
from controller.bus import Bus
from integrations.webhook import (
    SignatureRefused,
    Spool,
    WebhookSender,
    WebhookTarget,
    sign,
    verify,
)

from .mosquitto import free_port

SECRET = b"webhook-s3cret"


class Receiver:
    """A case system's endpoint. `answers` is what it does with each request in turn (an HTTP
    status, or "slow": longer than the sender waits); then 200."""

    def __init__(self, answers=()):
        self.answers = list(answers)
        self.port = free_port()
        self.accepted: list[dict] = []
        self.refused: list[str] = []
        self.deliveries: list[str] = []
        self.seen: dict[str, float] = {}

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.deliveries.append(request.headers.get("X-Vaxel-Delivery", ""))
        if self.answers:
            answer = self.answers.pop(0)
            if answer == "slow":
                await asyncio.sleep(3)
                return web.Response(status=200)
            return web.Response(status=answer)
        try:
            verify(SECRET, request.headers.get("X-Vaxel-Signature", ""), body, time.time(),
                   self.seen)
        except SignatureRefused as err:
            self.refused.append(str(err))
            return web.Response(status=401, text=str(err))
        self.accepted.append(json.loads(body))
        return web.Response(status=204)

    async def __aenter__(self):
        app = web.Application()
        app.router.add_post("/vaxel", self.handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()
        return self

    async def __aexit__(self, *exc):
        await self._runner.cleanup()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}/vaxel"


def events(n, call_id="vx-1"):
    return [ev.CallArrived(at=1.0, version=1, call_id=call_id, number="0812345",
                           caller="0701112233")] + [
        ev.Announced(at=float(i), version=1, call_id=call_id, group="vaxeln", position=i,
                     ewt_minutes=None) for i in range(2, n + 1)]


def sender(url, spool_path, timeout=1.0, callers="full"):
    bus = Bus()
    target = WebhookTarget("case", url, SECRET, "test", callers, b"k", timeout=timeout)
    return bus, WebhookSender(target, bus.subscribe("webhook case"), Spool(spool_path),
                              retry_first=0.1)  # doubling from 0.1 s, not 1 s: a quick test


async def until(predicate, seconds=20):
    for _ in range(int(seconds / 0.02)):
        if predicate():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("timed out waiting")


def test_events_arrive_signed_in_order_and_the_callers_number_as_configured(tmp_path):
    async def main():
        async with Receiver() as rx:
            bus, tx = sender(rx.url, tmp_path / "spool.sqlite", callers="pseudonym")
            task = asyncio.get_running_loop().create_task(tx.run())
            for e in events(5):
                bus.publish(e)
            await until(lambda: len(rx.accepted) == 5)
            tx.stop()
            await task
            return rx, tx

    rx, tx = asyncio.run(main())
    assert [e["event"] for e in rx.accepted] == ["CallArrived"] + ["Announced"] * 4
    assert [e["seq"] for e in rx.accepted] == [1, 2, 3, 4, 5]
    assert rx.accepted[0]["caller"].startswith("p-") and rx.refused == []
    assert [d[2] for d in tx.spool.deliveries()] == ["delivered"] * 5
    assert tx.spool.waiting() == 0


def test_retries_after_500s_and_a_timeout_then_delivers_once(tmp_path):
    async def main():
        async with Receiver([500, 503, "slow"]) as rx:
            bus, tx = sender(rx.url, tmp_path / "spool.sqlite", timeout=1.0)
            task = asyncio.get_running_loop().create_task(tx.run())
            for e in events(2):
                bus.publish(e)
            await until(lambda: len(rx.accepted) == 2, seconds=30)
            tx.stop()
            await task
            return rx, tx

    rx, tx = asyncio.run(main())
    assert [e["event"] for e in rx.accepted] == ["CallArrived", "Announced"]
    first, second = tx.spool.deliveries()
    assert (first[1], first[2], second[1]) == (4, "delivered", 1)  # 500, 503, too slow, ok
    assert rx.deliveries[:4] == [rx.deliveries[0]] * 4  # the same delivery id each try


def test_undelivered_events_wait_on_disk_across_a_restart(tmp_path):
    spool = tmp_path / "spool.sqlite"

    async def main():
        port = free_port()  # nobody listens yet: the case system is down
        bus, tx = sender(f"http://127.0.0.1:{port}/vaxel", spool)
        task = asyncio.get_running_loop().create_task(tx.run())
        for e in events(3):
            bus.publish(e)
        await until(lambda: tx.last_error is not None)
        tx.stop()  # the controller stops (a restart)
        await task
        tx.spool.close()
        assert Spool(spool).waiting() == 3
        rx = Receiver()
        rx.port = port
        async with rx:
            _, again = sender(rx.url, spool)  # the new controller, the same spool
            task = asyncio.get_running_loop().create_task(again.run())
            await until(lambda: len(rx.accepted) == 3, seconds=30)
            again.stop()
            await task
        return rx

    rx = asyncio.run(main())
    assert [e["seq"] for e in rx.accepted] == [1, 2, 3] and rx.refused == []


def test_a_replayed_request_is_refused_by_the_receiver():
    async def main():
        async with Receiver() as rx:
            body = json.dumps({"event": "CallArrived"}).encode()
            headers = {"X-Vaxel-Signature": sign(SECRET, body, time.time())}
            async with aiohttp.ClientSession() as http:
                statuses = []
                for _ in range(2):
                    async with http.post(rx.url, data=body, headers=headers) as resp:
                        statuses.append(resp.status)
                forged = {"X-Vaxel-Signature": sign(b"not the secret", body, time.time())}
                async with http.post(rx.url, data=body, headers=forged) as resp:
                    statuses.append(resp.status)
            return statuses, rx

    statuses, rx = asyncio.run(main())
    assert statuses == [204, 401, 401]
    assert rx.refused == ["a replay: this signature was accepted before",
                          "signature does not match the body"]


def test_verify_refuses_an_old_signature_and_a_malformed_header():
    body = b"{}"
    with pytest.raises(SignatureRefused, match="outside the 300 s window"):
        verify(SECRET, sign(SECRET, body, 1000.0), body, 2000.0, {})
    with pytest.raises(SignatureRefused, match="malformed"):
        verify(SECRET, "v1=abc", body, 1000.0, {})
    verify(SECRET, sign(SECRET, body, 1000.0), body, 1100.0, {})  # fresh: accepted
