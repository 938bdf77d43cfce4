"""The events to MQTT: how many a second the publisher gets acknowledged by a local mosquitto,
and what publishing them adds to a call's CPU at 500 concurrent calls, side by side with the
same run without MQTT (bench_controller.py's calls: the IVR, the line, an agent, 4 s of talk).

    python bench/bench_mqtt.py [--events 50000] [--repeats 3]

The publisher's CPU is in the controller's process, so the added CPU per call is all of it:
building the payloads, the JSON, paho's framing and the acknowledgements.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import tempfile
import time
from pathlib import Path

from bench_controller import run_level

from controller import events as ev
from controller.bus import Bus
from integrations.broker import LocalBroker
from integrations.mqtt import MqttPublisher, MqttTarget


async def throughput(port: int, n: int) -> tuple[float, float]:
    """(events a second acknowledged, CPU µs an event) for n call events in one burst."""
    bus = Bus()
    publisher = MqttPublisher(MqttTarget("127.0.0.1", port, "bench"), bus.subscribe("mqtt"))
    task = asyncio.get_running_loop().create_task(publisher.run())
    while not publisher.statistics()["connected"]:
        await asyncio.sleep(0.01)
    cpu0, t0 = time.process_time(), time.perf_counter()
    for i in range(n):
        bus.publish(ev.Offered(at=float(i), version=1, call_id=f"vx-{i // 12}", group="bench",
                               agent=f"a{i % 50}"))
    while publisher.statistics()["published"] < n:
        await asyncio.sleep(0.005)
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    publisher.stop()
    await task
    return n / wall, 1e6 * cpu / n


def main() -> None:
    logging.getLogger("vaxel").setLevel(logging.ERROR)  # the fake PBX's end drops the link
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=50_000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--concurrent", type=int, default=500)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        broker = LocalBroker(Path(tmp))
        broker.start()
        try:
            rates = [asyncio.run(throughput(broker.port, args.events))
                     for _ in range(args.repeats)]
            rate = statistics.median(r for r, _ in rates)
            per_event = statistics.median(c for _, c in rates)
            print(f"MQTT publisher, QoS 1, {args.events} events a burst, median of "
                  f"{args.repeats}: {rate:,.0f} events a second acknowledged, "
                  f"{per_event:.1f} µs of CPU an event")
            total = max(1000, 6 * args.concurrent)
            off, on = [], []
            for _ in range(args.repeats):  # alternating, so drift hits both alike
                off.append(run_level(args.concurrent, total))
                on.append(run_level(args.concurrent, total, mqtt_port=broker.port))
        finally:
            broker.stop()
    cpu_off = statistics.median(r["cpu_ms_per_call"] for r in off)
    cpu_on = statistics.median(r["cpu_ms_per_call"] for r in on)
    published = statistics.mean(r["mqtt_published"] for r in on) / total
    dropped = sum(r["mqtt_dropped"] for r in on)
    print(f"{args.concurrent} concurrent calls, {total} calls a run, median of {args.repeats}:")
    print(f"  without MQTT  {cpu_off:.2f} ms CPU a call")
    print(f"  with MQTT     {cpu_on:.2f} ms CPU a call ({published:.1f} messages a call, "
          f"{dropped} dropped)")
    print(f"  ratio {cpu_on / cpu_off:.2f}: MQTT adds {1000 * (cpu_on - cpu_off):.0f} µs a call")


if __name__ == "__main__":
    main()
