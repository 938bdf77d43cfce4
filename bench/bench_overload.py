"""The controller against an Asterisk that cannot keep up, at 1x, 2x and 4x its capacity.

The fake PBX runs in its own process, slowed as the real one was at 120 calls/s
(vaxel-on-asterisk/load): each action of the controller's AMI session waits its turn
(`action_cost`), so AGI commands are served late and actions answered late. Capacity is the
arrival rate whose actions the PBX can just handle (about 6 actions a call). Halfway, the AMI
connection is dropped once, as the Ping check did there. Each caller: the IVR (a key after 1 s),
the line, an agent answering after 0.5 s and talking 4 s; a caller gives up after 60 s.
Printed per load: calls, completed (answered), routed by the overload policy (told to call
again), orphans (callers of ours nothing served: must be 0), agents auto-paused (the phones
always answer, so every pause is a fault: must be 0), the longest event-loop lag, the
controller's CPU per call. Both sides run 10x faster than life.

    python bench/bench_overload.py [--seconds 120] [--cost 0.02]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench_controller import SCALE, pbx_process, serve_fake_pbx, write_config

ACTIONS_PER_CALL = 6


def add_overload(folder: Path) -> None:
    conf = json.loads((folder / "vaxel.yaml").read_text(encoding="utf-8"))
    conf["prompts"]["hog"] = {"sv": "Ring igen", "en": "Call again"}
    conf["overload"] = {"lag": "2s", "prompt": "hog"}
    (folder / "vaxel.yaml").write_text(json.dumps(conf), encoding="utf-8")


async def pbx_side(config: Path, rate: float, seconds: float, cost: float) -> None:
    from telephony.fakepbx.actors import Caller

    pbx, server = await serve_fake_pbx(config)
    pbx.sounds.add("vaxel/sv/hog", 2.0)
    server.action_cost = cost
    await asyncio.to_thread(sys.stdin.readline)  # the controller is up
    rng = random.Random(1)
    callers: list[Caller] = []
    t, dropped = 0.0, False
    while t < seconds:
        gap = rng.expovariate(rate)
        await pbx.sleep(gap)
        t += gap
        caller = Caller(f"c{len(callers)}", f"07{len(callers):08d}", keys=((1.0, "1"),),
                        gives_up_after=60.0)
        caller.dial(pbx)
        callers.append(caller)
        if not dropped and t > seconds / 2:
            dropped = True
            server.drop_all()  # the link lost once under load
    while any(c.channel is not None and not c.channel.hungup for c in callers):
        await pbx.sleep(1.0)
    print(len(callers), flush=True)
    await asyncio.sleep(1)
    await server.stop()


async def controller_side(config: Path, port: int, pbx: subprocess.Popen) -> dict[str, float]:
    from config.loader import load_folder
    from config.versions import ConfigHistory
    from controller.bootstrap import open_centre
    from telephony.ami_link import AmiLink
    from telephony.dialplan import load_settings

    link = AmiLink("127.0.0.1", port, "vaxel", "bench", queue_size=10**6)
    history = ConfigHistory(load_folder(config), dt.datetime(2026, 11, 24, 10))
    async with open_centre(history, load_settings(config), link, time_scale=SCALE,
                           store=None) as centre:
        return await _measure(centre, pbx)


async def _measure(centre: Any, pbx: subprocess.Popen) -> dict[str, float]:
    ctl, link = centre.controller, centre.controller.link
    for agent_id in ctl.version.config.agents:
        ctl.agent_login(agent_id)
    lag = pbx_lag = 0.0

    async def watch() -> None:
        nonlocal lag, pbx_lag
        loop = asyncio.get_running_loop()
        while True:
            t0 = loop.time()
            await asyncio.sleep(0.005)
            lag = max(lag, loop.time() - t0 - 0.005)
            pbx_lag = max(pbx_lag, link.lag)

    watcher = asyncio.get_running_loop().create_task(watch())
    cpu0 = time.process_time()
    assert pbx.stdin is not None and pbx.stdout is not None
    pbx.stdin.write("go\n")
    pbx.stdin.flush()
    made = int(await asyncio.to_thread(pbx.stdout.readline))
    while ctl.calls:  # the last hangups reach the controller
        await asyncio.sleep(0.1)
    cpu = time.process_time() - cpu0
    watcher.cancel()
    await asyncio.sleep(0)  # the subscribers read the last events
    counts = centre.statistics()
    return {"calls": made, "answered": counts["answered"],
            "turned_away": counts["turned_away"], "orphans": counts["orphans"],
            "auto_paused": counts["auto_paused"], "lag_ms": 1000 * lag,
            "cpu_ms": 1000 * cpu / max(made, 1), "reconnects": link.statistics().connects - 1,
            "pbx_lag_s": pbx_lag / SCALE}


def run_load(factor: float, seconds: float, cost: float, agents: int) -> dict[str, float]:
    rate = factor / (cost * ACTIONS_PER_CALL)
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "conf"
        write_config(config, agents)
        add_overload(config)
        pbx, port = pbx_process(__file__, config, rate, seconds, cost)
        try:
            return {"rate": rate, **asyncio.run(controller_side(config, port, pbx))}
        finally:
            pbx.kill()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=120.0, help="PBX seconds of arrivals")
    ap.add_argument("--cost", type=float, default=0.02,
                    help="PBX seconds each action waits in the fake PBX (default 0.02)")
    ap.add_argument("--pbx", nargs=4)
    args = ap.parse_args()
    if args.pbx:
        asyncio.run(pbx_side(Path(args.pbx[0]), *map(float, args.pbx[1:])))
        return
    capacity = 1 / (args.cost * ACTIONS_PER_CALL)
    print(f"an Asterisk that handles one action each {args.cost * 1000:g} ms: capacity about "
          f"{capacity:.1f} calls/s; {args.seconds:g} s of arrivals, the link dropped once "
          "halfway; 10x faster than life")
    print(f"{'load':>5} {'calls/s':>8} {'calls':>6} {'answered':>9} {'told to call again':>19}"
          f" {'orphans':>8} {'auto-paused':>12} {'longest lag':>12} {'CPU/call':>9}"
          f" {'reconnects':>11} {'PBX late by':>12}")
    bad = []
    for factor in (1, 2, 4):
        agents = int(capacity * factor * 4.5) + 2  # enough agents: the PBX is the bottleneck
        r = run_load(factor, args.seconds, args.cost, agents)
        print(f"{factor:>4}x {r['rate']:>8.1f} {r['calls']:>6.0f} {r['answered']:>9.0f}"
              f" {r['turned_away']:>19.0f} {r['orphans']:>8.0f} {r['auto_paused']:>12.0f}"
              f" {r['lag_ms']:>9.1f} ms {r['cpu_ms']:>6.2f} ms {r['reconnects']:>11.0f}"
              f" {r['pbx_lag_s']:>10.1f} s",
              flush=True)
        if r["orphans"] or r["auto_paused"]:
            bad.append(factor)
    print("orphans and agents paused by the link's fault: "
          + ("none, at every load" if not bad else f"SEEN at {bad}x"))


if __name__ == "__main__":
    main()
