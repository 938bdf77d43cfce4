"""The call log's writer: events written a second and the longest event-loop stall while writing,
on SQLite and on a local PostgreSQL, side by side with the controller's own event rate at 500
concurrent calls (bench_controller.py's calls, with the call log on: the same run also tells
what writing costs the calls).

    python bench/bench_store.py [--events 200000] [--repeats 3] [--no-controller]

The writer's feed is a simulated Monday of the example municipality (its real domain events),
repeated with new call ids to `--events`, published into the bus as fast as the loop takes them,
in bursts of 500 (a busy controller's next few milliseconds); a 1 ms timer measures how late
the loop runs meanwhile. Aims: at least 10x the controller's event rate, no stall over 20 ms.

The feed itself (hundreds of thousands of events built before the clock starts) is frozen out
of the garbage collector (gc.freeze): a controller holds nothing like it, and without that the
collector's full passes over the feed, not the writer, make the longest stall (45 ms seen).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import gc
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench_controller import ROOT, SCALE, run_level

from controller import events as ev
from controller.bus import Bus
from store.database import Database
from store.spool import Spool
from store.writer import StoreWriter


def a_day() -> list[ev.Event]:
    from controller.scenario import load_scenario
    from controller.simulator import simulate

    events: list[ev.Event] = []
    simulate(load_scenario(ROOT / "config/scenarios/exempelkommun-monday.yaml"),
             publish=events.append)
    return events


def feed(n: int) -> list[ev.Event]:
    day = a_day()
    out: list[ev.Event] = []
    rounds = 0
    while len(out) < n:
        rounds += 1
        for e in day:
            if isinstance(e, ev.CallEvent):
                e = dataclasses.replace(e, call_id=f"r{rounds}-{e.call_id}")
            out.append(dataclasses.replace(e, at=1_800_000_000.0 + rounds * 86400 + e.at))
            if len(out) == n:
                break
    return out


async def write_all(url: str, events: list[ev.Event], spool: Path) -> dict[str, float]:
    db = await Database.open(url)  # migrated before the clock starts
    await db.close()
    bus = Bus()
    writer = StoreWriter(lambda: Database.open(url), bus.subscribe("store", limit=len(events)),
                         Spool(spool))
    worst = 0.0
    loop = asyncio.get_running_loop()

    async def watch() -> None:
        nonlocal worst
        while True:
            t0 = loop.time()
            await asyncio.sleep(0.001)
            worst = max(worst, loop.time() - t0 - 0.001)

    task = loop.create_task(writer.run())
    await writer.flush()  # connected
    watcher = loop.create_task(watch())
    await asyncio.sleep(0.01)
    cpu0, t0 = time.process_time(), time.perf_counter()
    for i in range(0, len(events), 500):
        for e in events[i:i + 500]:
            bus.publish(e)
        await asyncio.sleep(0)
    while writer.written < len(events):
        await asyncio.sleep(0.005)
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    watcher.cancel()
    writer.stop()
    await task
    if writer.spooled:
        raise SystemExit(f"the writer spooled {writer.spooled} events: {writer.last_error}")
    return {"per_s": len(events) / wall, "cpu_us": 1e6 * cpu / len(events),
            "stall_ms": 1000 * worst}


def writer_runs(url_of: object, events: list[ev.Event], repeats: int) -> list[dict[str, float]]:
    runs = []
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as tmp:
            url = url_of(Path(tmp)) if callable(url_of) else str(url_of)
            runs.append(asyncio.run(write_all(url, events, Path(tmp) / "spool.sqlite")))
    return runs


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=200_000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--no-controller", action="store_true")
    args = ap.parse_args()
    events = feed(args.events)
    gc.freeze()  # the feed is the bench's, not the controller's: see the docstring
    print(f"the call log's writer, {len(events):,} events of simulated Mondays, median of "
          f"{args.repeats} runs (range)")
    print(f"{'database':<12}{'events/s':>22}{'CPU/event':>12}{'longest stall':>15}")
    rates: dict[str, float] = {}
    stalls: list[float] = []
    targets: list[tuple[str, object]] = [
        ("SQLite", lambda folder: f"sqlite:///{folder / 'bench.sqlite'}")]
    postgres = None
    try:
        sys.path.insert(0, str(ROOT))
        from tests.postgres import LocalPostgres

        postgres = LocalPostgres()
        postgres.start()
        targets.append(("PostgreSQL", lambda _: postgres.new_database()))
    except (RuntimeError, OSError) as err:
        print(f"(no PostgreSQL: {err})")
    try:
        for name, url_of in targets:
            runs = writer_runs(url_of, events, args.repeats)
            per_s = sorted(r["per_s"] for r in runs)
            rate = statistics.median(per_s)
            rates[name] = rate
            stall = max(r["stall_ms"] for r in runs)
            stalls.append(stall)
            span = f"{rate:,.0f} ({per_s[0]:,.0f}-{per_s[-1]:,.0f})"
            print(f"{name:<12}{span:>22}"
                  f"{statistics.median(r['cpu_us'] for r in runs):>9.1f} µs"
                  f"{stall:>12.1f} ms", flush=True)
    finally:
        if postgres is not None:
            postgres.close()
    if args.no_controller:
        return
    with tempfile.TemporaryDirectory() as tmp:
        store = f"sqlite:///{Path(tmp) / 'calls.sqlite'}"
        plain = run_level(500, 3000, probe=True)
        logged = run_level(500, 3000, probe=True, store=store)
    flat_out = logged["events_per_s"]  # 10x speed: the calls' lives a tenth as long
    rate = flat_out * SCALE  # the same 500 calls' events a second at the speed of life
    print(f"the controller at 500 concurrent calls (3,000 calls, 10x speed): "
          f"{rate:,.0f} domain events a second of the calls' own time ({flat_out:,.0f} a "
          f"second of wall time, 10x compressed); with the call log on SQLite "
          f"{logged['cpu_ms_per_call']:.2f} ms CPU a call (without: "
          f"{plain['cpu_ms_per_call']:.2f} ms), longest stall {logged['stall_ms']:.1f} ms "
          f"(without: {plain['stall_ms']:.1f} ms), {logged['store_written']:,.0f} events "
          f"written, {logged['store_spooled']:,.0f} spooled")
    for name, r in rates.items():
        print(f"  {name}: the writer keeps up with {r / rate:.0f}x the controller's rate "
              f"(aim 10x: {'met' if r >= 10 * rate else 'MISSED'}); with "
              f"{r / flat_out:.1f}x its compressed rate")
    worst = max(stalls)
    print(f"  longest stall while writing {worst:.1f} ms (aim under 20 ms: "
          f"{'met' if worst < 20 else 'MISSED'})")


if __name__ == "__main__":
    main()
