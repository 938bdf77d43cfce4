import asyncio

from controller import events as ev
from controller.bus import Bus, consume


def arrived(n):
    return ev.CallArrived(at=float(n), version=1, call_id=f"vx-{n}", number="0812345",
                          caller="070")


def test_every_subscriber_gets_every_event_in_order_in_batches():
    async def main():
        bus = Bus()
        got, batches = [], []
        sub = bus.subscribe("a")

        def handle(e):
            got.append(e.at)

        task = asyncio.get_running_loop().create_task(consume(sub, handle, linger=0.01))
        for n in range(5):
            bus.publish(arrived(n))
        other = bus.subscribe("b")
        bus.publish(arrived(5))
        await asyncio.sleep(0.05)
        batches.append(other.drain())
        task.cancel()
        return got, batches

    got, batches = asyncio.run(main())
    assert got == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
    assert [e.at for e in batches[0]] == [5.0]  # a late subscriber sees from then on


def test_a_slow_subscriber_loses_the_newest_events_counted_and_never_blocks():
    bus = Bus()
    slow = bus.subscribe("slow", limit=3)
    fast = bus.subscribe("fast")
    for n in range(10):
        bus.publish(arrived(n))  # returns at once: nobody reads yet
    assert [e.at for e in slow.drain()] == [0.0, 1.0, 2.0]
    assert slow.dropped == 7 and fast.dropped == 0 and len(fast) == 10
    assert bus.statistics() == {"slow": {"queued": 0, "dropped": 7},
                                "fast": {"queued": 10, "dropped": 0}}


def test_a_failing_handler_is_logged_and_the_next_event_is_handled(caplog):
    async def main():
        bus = Bus()
        seen = []

        def handle(e):
            if e.at == 1.0:
                raise RuntimeError("bug")
            seen.append(e.at)

        task = asyncio.get_running_loop().create_task(
            consume(bus.subscribe("buggy"), handle, linger=0))
        for n in range(3):
            bus.publish(arrived(n))
        await asyncio.sleep(0.01)
        task.cancel()
        return seen

    assert asyncio.run(main()) == [0.0, 2.0]
    assert "subscriber buggy failed" in caplog.text


def test_a_backlog_is_taken_in_slices_oldest_first():
    bus = Bus()
    sub = bus.subscribe("publisher")
    for n in range(2500):
        bus.publish(arrived(n))
    slices = []
    while taken := sub.drain(1000):
        slices.append([e.at for e in taken])
    assert [len(s) for s in slices] == [1000, 1000, 500]
    assert [t for s in slices for t in s] == [float(n) for n in range(2500)]
