"""`vaxel run` on the job recorded on a real Asterisk (vaxel-on-asterisk/load), at the
recording's own pace, so its CPU per call stands beside the real one.

The recording (`recorded/ceil80_1.json`, vaxel at cd1035c on Asterisk 22.10.1, 2 cores): the
configuration `recorded/load-vaxel.yaml` (one number, a 3 s menu prompt, key 1 to one group,
wrap-up 0), 250 agents answering at once and talking 2 s, callers pressing 1 one second in, Poisson
arrivals for 30 s at 80 calls/s; the controller's CPU counted from the first call to the last
call's end, divided by the calls (its idle CPU included, measured apart). Here the same job, the
same clock (real time, not the other benches' 10x), with the fake PBX in its own process and the
real `vaxel run` in another (its log at INFO, its call log on SQLite, its web server), at 10
calls/s (the issue's target: at most 1 ms a call) and 80. Printed beside it: bench_controller's
compressed job (10x, the controller alone, in-process) and the ratio, which says how far the
compressed bench under-tells a paced day.

    python bench/bench_recorded_load.py [--seconds 30] [--rates 10,80]
    python bench/bench_recorded_load.py --against REV [--pairs 5] [--rates 10]

Beside each rate, the floor: a bare asyncio process (no work, one no-op protocol) woken by a
message as often as `vaxel run`'s loop thread woke (its voluntary context switches: its sleeps
in epoll, and any wait for the GIL), its CPU a wake-up times vaxel's wake-ups a call. It parts
what waking a Python loop this often costs on this machine from what vaxel does once awake.

`--against` runs the job on another commit (a git worktree of REV, the same fake PBX) and on
this checkout in turn, pair after pair, and prints both, the medians and their ratio: on a
shared VM one run's CPU a call scatters by a quarter, so one run of each tells little. The
loop's thread and the other threads (the SQLite writer, the log's writer) are shown apart.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from bench_controller import ROOT, pbx_process, run_level, serve_fake_pbx

RECORDED = Path(__file__).resolve().parent / "recorded"
AGENTS = 250
TOKEN = "bench-token-0123456789"
TICKS = os.sysconf("SC_CLK_TCK")  # /proc counts CPU in ticks: idle CPU under 2 ms/s shows 0


def write_config(folder: Path) -> None:
    """The recording's configuration, its agents (gen_agents), a user for the driver."""
    import hashlib

    from argon2 import PasswordHasher

    folder.mkdir(parents=True)
    ids = [f"a{i}" for i in range(AGENTS)]
    shutil.copy(RECORDED / "load-vaxel.yaml", folder / "vaxel.yaml")
    with open(folder / "vaxel.yaml", "a", encoding="utf-8") as f:
        f.write("agents:\n" + "".join(f"  {a}: {{name: {a}, groups: {{bench: 1}}}}\n"
                                      for a in ids))
    digest = hashlib.sha256(TOKEN.encode()).hexdigest()
    (folder / "users.yaml").write_text(
        f"users:\n  bench:\n    role: admin\n    name: Bench\n    token_sha256: \"{digest}\"\n"
        f"    password: \"{PasswordHasher().hash(TOKEN)}\"\n",
        encoding="utf-8")
    (folder / "telephony.yaml").write_text(json.dumps({
        "numbers": ["0812345"], "lease": "30s",
        "partner": {"trunk": "partner-trunk", "numbers": ["0701234567"]},
        "fallback": {"message": "inget-val"},  # a prompt the recorded configuration has
        "agents": [{"id": a, "device": f"PJSIP/{a}"} for a in ids],
    }), encoding="utf-8")


async def pbx_side(config: Path, rate: float, seconds: float) -> None:
    """The PBX process: the recording's callers, Poisson at `rate` for `seconds`; prints the
    number of calls once the last has ended."""
    from telephony.fakepbx.actors import Caller

    pbx, server = await serve_fake_pbx(
        config, scale=1.0, prompts={"vaxel/sv/bench-meny": 3.0, "vaxel/en/bench-meny": 3.0,
                                    "vaxel/sv/inget-val": 1.0, "vaxel/en/inget-val": 1.0},
        answer=(0.0, 2.0))
    await asyncio.to_thread(sys.stdin.readline)  # the controller is up, its agents in
    rng = random.Random(80)
    loop = asyncio.get_running_loop()
    start, due, callers = loop.time(), 0.0, []
    while True:
        due += rng.expovariate(rate)
        if due > seconds:
            break
        await asyncio.sleep(max(0.0, start + due - loop.time()))
        caller = Caller(f"c{len(callers)}", f"07{len(callers):08d}", keys=((1.0, "1"),))
        caller.dial(pbx)
        callers.append(caller)
    while any(c.channel is not None and not c.channel.hungup for c in callers):
        await asyncio.sleep(0.01)
    print(len(callers), flush=True)
    await asyncio.sleep(1)
    await server.stop()


def cpu_seconds(pid: int, stat: str = "stat") -> float:
    """A process's user and system CPU, as the recording's probe counted it (`stat` of
    `task/<tid>/stat`: one thread's)."""
    fields = Path(f"/proc/{pid}/{stat}").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def wakeups(pid: int) -> int:
    """How often the loop's thread (the main one) went to sleep and was woken."""
    for line in Path(f"/proc/{pid}/task/{pid}/status").read_text().splitlines():
        if line.startswith("voluntary_ctxt_switches:"):
            return int(line.split()[1])
    raise SystemExit(f"no voluntary_ctxt_switches in /proc/{pid}/task/{pid}/status")


def run_ns(pid: int) -> int:
    """A process's CPU in nanoseconds (schedstat's first field; /proc's ticks are too coarse
    for the floor's few milliseconds a second)."""
    return sum(int(Path(f"/proc/{pid}/task/{t}/schedstat").read_text().split()[0])
               for t in os.listdir(f"/proc/{pid}/task"))


async def floor_receiver(port: int) -> None:
    """The floor's process: a loop woken by each message, and nothing done with it."""
    class NoWork(asyncio.Protocol):
        def data_received(self, data: bytes) -> None:
            pass

    server = await asyncio.get_running_loop().create_server(NoWork, "127.0.0.1", port)
    async with server:
        await asyncio.to_thread(sys.stdin.readline)  # until the bench is done with it


def floor_us(per_second: float, seconds: float) -> float:
    """CPU a wake-up of a bare asyncio process woken `per_second` times (Poisson), in µs."""
    port = free_port()
    receiver = subprocess.Popen([sys.executable, __file__, "--floor", str(port)],
                                stdin=subprocess.PIPE)
    try:
        for _ in range(100):
            try:
                sender = socket.create_connection(("127.0.0.1", port))
                break
            except OSError:
                time.sleep(0.05)
        else:
            raise SystemExit("the floor's receiver did not come up")
        time.sleep(0.5)
        rng, message, sent = random.Random(1), b"x" * 400, 0  # an AMI event's size
        cpu0, start, due = run_ns(receiver.pid), time.perf_counter(), 0.0
        while due < seconds:
            due += rng.expovariate(per_second)
            time.sleep(max(0.0, start + due - time.perf_counter()))
            sender.sendall(message)
            sent += 1
        time.sleep(0.2)
        cpu = run_ns(receiver.pid) - cpu0
        sender.close()
        return cpu / 1000 / sent
    finally:
        receiver.kill()
        receiver.wait()


def api(port: int, method: str, path: str) -> dict:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method,
                                     headers={"Authorization": f"Bearer {TOKEN}"},
                                     data=b"{}" if method == "POST" else None)
    with urllib.request.urlopen(request, timeout=10) as answer:
        return json.loads(answer.read())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run_rate(rate: float, seconds: float, root: Path = ROOT) -> dict[str, float]:
    """One run of the job at `rate` with the vaxel of `root` (the fake PBX is this checkout's)."""
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "conf"
        write_config(config)
        pbx, ami_port = pbx_process(__file__, config, rate, seconds)
        web = free_port()
        # its own state folder: a fresh call log each run, never the user's
        env = {**os.environ, "PYTHONPATH": str(root), "VAXEL_AMI_SECRET": "bench",
               "VAXEL_STATE_DIR": str(Path(tmp) / "state")}
        with open(Path(tmp) / "vaxel.log", "w") as log:
            ctl = subprocess.Popen(
                [str(Path(sys.executable).parent / "vaxel"), "run", "--config", str(config),
                 "--ami-port", str(ami_port), "--api", f"127.0.0.1:{web}"],
                stdout=log, stderr=subprocess.STDOUT, env=env, cwd=tmp)
            try:
                return _measure(ctl, pbx, web, seconds)
            except BaseException:
                print((Path(tmp) / "vaxel.log").read_text()[-3000:], file=sys.stderr)
                raise
            finally:
                ctl.terminate()
                ctl.wait(10)
                pbx.kill()


def _measure(ctl: subprocess.Popen, pbx: subprocess.Popen, web: int, seconds: float
             ) -> dict[str, float]:
    for _ in range(300):  # up, and its link to the fake PBX
        try:
            if api(web, "GET", "/api/status")["ami"]["connected"]:
                break
        except OSError:
            pass
        time.sleep(0.1)
    else:
        raise SystemExit("vaxel run did not come up: " + ctl.args[-1])
    for i in range(AGENTS):
        api(web, "POST", f"/api/agents/a{i}/login")
    time.sleep(2)  # the start-up's last work done
    idle0, t0 = cpu_seconds(ctl.pid), time.perf_counter()
    time.sleep(5)
    idle = (cpu_seconds(ctl.pid) - idle0) / (time.perf_counter() - t0)
    assert pbx.stdin is not None and pbx.stdout is not None
    loop_thread = f"task/{ctl.pid}/stat"  # the main thread runs the event loop
    cpu0, loop0, wall0 = (cpu_seconds(ctl.pid), cpu_seconds(ctl.pid, loop_thread),
                          time.perf_counter())
    woke0 = wakeups(ctl.pid)
    pbx.stdin.write("go\n")
    pbx.stdin.flush()
    calls = int(pbx.stdout.readline())
    cpu, window = cpu_seconds(ctl.pid) - cpu0, time.perf_counter() - wall0
    loop = cpu_seconds(ctl.pid, loop_thread) - loop0
    woke = wakeups(ctl.pid) - woke0
    status = api(web, "GET", "/api/status")
    return {"calls": calls, "answered": status["counts"]["answered"], "window_s": window,
            "idle_ms_per_s": 1000 * idle, "gross_ms": 1000 * cpu / calls,
            "loop_ms": 1000 * loop / calls, "threads_ms": 1000 * (cpu - loop) / calls,
            "net_ms": 1000 * (cpu - idle * window) / calls,
            "wakeups_per_call": woke / calls, "wakeups_per_s": woke / window,
            "events_per_call": status["ami"]["events"] / calls,
            "actions_per_call": status["ami"]["actions"] / calls}


def compare(rev: str, pairs: int, rate: float, seconds: float) -> None:
    """REV's vaxel and this checkout's in turn, `pairs` times, at `rate`."""
    with tempfile.TemporaryDirectory() as tmp:
        other = Path(tmp) / "other"
        made = subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach",
                               str(other), rev], capture_output=True, text=True)
        if made.returncode != 0:
            raise SystemExit(f"--against {rev}: {made.stderr.strip()}")
        try:
            print(f"{rate:.0f} calls/s, {seconds:.0f} s of arrivals, {pairs} pairs "
                  f"(CPU a call: whole process = the loop's thread + the other threads)")
            totals: dict[str, list[float]] = {rev: [], "this": []}
            for n in range(1, pairs + 1):
                for name, root in ((rev, other), ("this", ROOT)):
                    r = run_rate(rate, seconds, root)
                    totals[name].append(r["gross_ms"])
                    print(f"pair {n} {name:>12}: {r['gross_ms']:.2f} ms = {r['loop_ms']:.2f}"
                          f" + {r['threads_ms']:.2f} ({r['answered']:.0f}/{r['calls']:.0f}"
                          " answered)", flush=True)
            before, after = (statistics.median(totals[k]) for k in (rev, "this"))
            lower = sum(a < b for a, b in zip(totals["this"], totals[rev], strict=True))
            print(f"median {rev}: {before:.2f} ms, this checkout: {after:.2f} ms, "
                  f"ratio {after / before:.2f}; this checkout lower in {lower} of {pairs}")
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force",
                            str(other)], capture_output=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--rates", default="10,80", help="calls a second (default %(default)s)")
    ap.add_argument("--against", metavar="REV", help="alternate with this commit's vaxel")
    ap.add_argument("--pairs", type=int, default=5, help="with --against (default %(default)s)")
    ap.add_argument("--pbx", nargs=3)
    ap.add_argument("--floor", type=int)
    args = ap.parse_args()
    if args.floor:
        asyncio.run(floor_receiver(args.floor))
        return
    if args.pbx:
        asyncio.run(pbx_side(Path(args.pbx[0]), float(args.pbx[1]), float(args.pbx[2])))
        return
    if args.against:
        compare(args.against, args.pairs, float(args.rates.split(",")[0]), args.seconds)
        return
    recorded = json.loads((RECORDED / "ceil80_1.json").read_text(encoding="utf-8"))
    real_idle = 1000 * recorded["idle"]["ctl_cpu_per_s"]
    real_net = recorded["ctl_ms_per_call"] - real_idle * recorded["window_s"] / recorded["calls"]
    print(f"recorded on a real Asterisk ({recorded['label']}, vaxel at cd1035c): "
          f"{recorded['rate']:.0f} calls/s, {recorded['calls']} calls, controller "
          f"{recorded['ctl_ms_per_call']:.2f} ms CPU a call ({real_net:.2f} net of its idle "
          f"{real_idle:.1f} ms a second), {recorded['link_events'] / recorded['calls']:.1f} "
          f"events and {recorded['link_actions'] / recorded['calls']:.1f} actions a call")
    compressed = run_level(200, 1200, log=True)["cpu_ms_per_call"]
    print(f"bench_controller's compressed job (10x, in-process, log at INFO): "
          f"{compressed:.2f} ms CPU a call")
    print(f"`vaxel run` on the recorded job, real time, {args.seconds:.0f} s of arrivals:")
    print(f"{'calls/s':>8} {'calls':>6} {'answered':>9} {'idle CPU':>10} {'CPU a call':>11}"
          f" {'loop thread':>12} {'net of idle':>12} {'events/call':>12} {'actions/call':>13}"
          f" {'x compressed':>13} {'wake-ups/call':>14} {'floor':>16}")
    worst = 0.0
    for rate in (float(r) for r in args.rates.split(",")):
        r = run_rate(rate, args.seconds)
        if r["answered"] != r["calls"]:
            raise SystemExit(f"not every call was answered: {r}")
        if rate <= 10:
            worst = max(worst, r["gross_ms"])
        woken = floor_us(r["wakeups_per_s"], min(args.seconds, 20.0))
        floor = woken * r["wakeups_per_call"] / 1000
        print(f"{rate:>8.0f} {r['calls']:>6.0f} {r['answered']:>9.0f}"
              f" {r['idle_ms_per_s']:>5.1f} ms/s {r['gross_ms']:>8.2f} ms {r['loop_ms']:>9.2f} ms"
              f" {r['net_ms']:>9.2f} ms"
              f" {r['events_per_call']:>12.1f} {r['actions_per_call']:>13.1f}"
              f" {r['gross_ms'] / compressed:>12.2f}x {r['wakeups_per_call']:>14.1f}"
              f" {floor:>5.2f} ms ({woken:.0f} µs)", flush=True)
    print("floor: a bare asyncio process woken as often as vaxel's loop thread, its CPU a "
          "wake-up (in brackets) times vaxel's wake-ups a call")
    if worst:
        print(f"aim at most 1 ms CPU a call at 10 calls/s: "
              f"{'met' if worst <= 1 else 'MISSED'} ({worst:.2f} ms)")


if __name__ == "__main__":
    main()
