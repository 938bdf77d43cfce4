import asyncio

from controller import events as ev
from controller.bus import Bus


def arrived(n):
    return ev.CallArrived(at=float(n), version=1, call_id=f"vx-{n}", number="0812345",
                          caller="070")


def test_every_subscriber_gets_every_event_in_order_in_batches():
    async def main():
        bus = Bus(linger=0.01)
        got, batches, first, second = [], [], [], []
        bus.attach("a", lambda e: got.append(e.at))
        bus.attach("first", lambda e: first.append(len(got)))
        bus.attach("second", lambda e: second.append(len(first)))
        for n in range(5):
            bus.publish(arrived(n))
        other = bus.subscribe("b")
        bus.publish(arrived(5))
        assert got == []  # not on the publisher's step: after the linger
        await asyncio.sleep(0.05)
        batches.append(other.drain())
        return got, batches, first, second

    got, batches, first, second = asyncio.run(main())
    assert got == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
    assert [e.at for e in batches[0]] == [5.0]  # a late subscriber sees from then on
    # one timer fed the handlers the batch in turn, each all of it
    assert first == [6] * 6 and second == [6] * 6


def test_catch_up_feeds_the_handlers_at_once_and_close_leaves_no_timer():
    async def main():
        bus = Bus(linger=3600)
        got = []
        bus.attach("a", lambda e: got.append(e.at))
        bus.publish(arrived(0))
        bus.catch_up()
        seen = list(got)
        bus.publish(arrived(1))
        bus.close()
        return seen, got, bus._feeding

    seen, got, timer = asyncio.run(main())
    assert seen == [0.0] and got == [0.0, 1.0] and timer is None


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
        bus = Bus(linger=0)
        seen = []

        def handle(e):
            if e.at == 1.0:
                raise RuntimeError("bug")
            seen.append(e.at)

        bus.attach("buggy", handle)
        for n in range(3):
            bus.publish(arrived(n))
        await asyncio.sleep(0.01)
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
