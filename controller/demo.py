"""`vaxel demo`: the whole contact centre on one machine, on a compressed clock.

A fake Asterisk 22 (AMI over TCP on 127.0.0.1) runs the dialplan rendered from the example
municipality and plays its real prompts; the controller drives it through the AMI link exactly as
it would drive a real Asterisk; synthetic citizens call in, choose in the IVR and sometimes give
up; the agents' phones ring, answer and talk. A summary line is printed every simulated minute.
Every call goes into a call log (an SQLite file in a folder the demo names), and the demo ends
with the day's report from it, as `vaxel report` makes it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import logging
import random
import secrets
import shutil
import socket
import sys
import tempfile
import time
import zoneinfo
from pathlib import Path
from typing import Any, TextIO

from agents.state import AgentState
from config.errors import ConfigError
from config.loader import Loaded
from config.schema import Mqtt
from config.versions import ConfigHistory
from controller.bootstrap import Centre, open_centre
from controller.configuration import load_configuration
from integrations.broker import LocalBroker, mosquitto_binary
from sounds import SOUNDS
from telephony.ami_link import AmiLink
from telephony.dialplan import render_extensions, render_manager
from telephony.fakepbx import AmiServer, AmiUser, Dialplan, FakePbx
from telephony.fakepbx.actors import Answer, Caller, Phone

# What citizens press in the example's menus, and how often (keys at seconds after dialling).
CHOICES = [((3.0, "1"),), ((3.0, "2"), (6.0, "1")), ((3.0, "2"), (6.0, "2")),
           ((3.0, "3"), (6.0, "1")), ((3.0, "4"), (6.0, "1")), ((3.0, "0"),), (),
           # a callback: socialtjänst, 2, then 1 to confirm the number read back
           ((3.0, "3"), (6.0, "2"), (9.0, "1"), (13.0, "1"))]
WEIGHTS = [20, 8, 5, 15, 15, 25, 9, 3]


DEMO_USERS = {"anna": ("agent", "anna"), "bo": ("agent", "bo"),
              "cecilia": ("agent", "cecilia"), "sara": ("supervisor", None),
              "admin": ("admin", None)}


def _demo_folder(config_dir: Path, state: Path) -> tuple[Path, dict[str, str]]:
    """A copy of the configuration with the demo's users in its users.yaml (new passwords each
    run), so that the admin page edits the copy, never the example itself: (the copy, user ->
    password)."""
    from web.auth import hash_password

    folder = state / "config"
    shutil.copytree(config_dir, folder)
    passwords = {name: secrets.token_urlsafe(9) for name in DEMO_USERS}
    lines = ["# the demo's users (vaxel demo made them; passwords printed at its start)",
             "users:"]
    for name, (role, agent) in DEMO_USERS.items():
        lines += [f"  {name}:", f"    role: {role}",
                  f"    password: \"{hash_password(passwords[name])}\""]
        if agent:
            lines.append(f"    agent: {agent}")
    (folder / "users.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder, passwords


def _web_address(host: str, port: int) -> tuple[str, int]:
    """The address asked for, or a free one beside it when it is taken (a second demo)."""
    with socket.socket() as s:
        try:
            s.bind((host, port))
            return host, port
        except OSError:
            s.bind((host, 0))
            return host, int(s.getsockname()[1])


async def run_demo(config_dir: Path, minutes: float, speed: float, calls_per_hour: float,
                   seed: int, out: TextIO = sys.stdout,
                   web: tuple[str, int] = ("127.0.0.1", 8480)) -> int:
    rng = random.Random(seed)
    scale = 1.0 / speed
    state = Path(tempfile.mkdtemp(prefix="vaxel-demo-"))
    try:
        config_dir, passwords = _demo_folder(config_dir, state)
        conf = load_configuration(config_dir, SOUNDS)
    except ConfigError as err:
        print(f"vaxel demo: the configuration in {config_dir} was not accepted:\n{err}",
              file=sys.stderr)
        return 1
    settings = conf.settings
    broker, loaded = _with_a_local_broker(conf.loaded, out)
    history = ConfigHistory(loaded, dt.datetime.now())
    config = history.active.config
    pbx = FakePbx(Dialplan.parse(render_extensions(settings, languages=config.languages())),
                  time_scale=scale)
    pbx.sounds.add_dir(SOUNDS)
    phones = {}
    for agent in settings.agents:
        phone = Phone(agent.id, answer_after=rng.uniform(1, 4), context="vaxel-devices")
        phone.script = [Answer("answer", rng.uniform(1, 4), rng.lognormvariate(5.0, 0.6))
                        for _ in range(500)]
        phone.register(pbx)
        phones[agent.id] = phone
    trunk = Phone(settings.partner.trunk, answer_after=2.0)
    trunk.script = [Answer("answer", 2.0, rng.lognormvariate(4.8, 0.5)) for _ in range(500)]
    trunk.register(pbx)
    if settings.outbound is not None:  # the citizens called back: most answer, some are busy
        citizens = Phone(settings.outbound.trunk, answer_after=4.0)
        citizens.script = [rng.choices([Answer("answer", rng.uniform(2, 8),
                                               rng.lognormvariate(4.8, 0.5)),
                                        Answer("busy"), Answer("never")], [8, 1, 1])[0]
                           for _ in range(500)]
        citizens.register(pbx)
    # the AMI user as manager_vaxel.conf defines it for Asterisk: classes and event filters
    user = AmiUser.from_conf(render_manager(settings, "demo"), settings.ami.username)
    server = AmiServer(pbx, {settings.ami.username: user})
    port = await server.start()
    link = AmiLink("127.0.0.1", port, settings.ami.username, "demo")
    now = dt.datetime.now().replace(hour=10, minute=0, second=0, microsecond=0)
    while now.weekday() >= 4:  # a Monday to Thursday morning: open
        now += dt.timedelta(days=1)
    # the call log's times: the demo's morning, moving on with its compressed clock
    store = f"sqlite:///{state / 'vaxel.sqlite'}"
    web = _web_address(*web)
    start = now.replace(tzinfo=zoneinfo.ZoneInfo(config.timezone)).timestamp()
    started = time.time() / scale

    def epoch(at: float) -> float:
        return start + at - started

    try:
        async with open_centre(history, settings, link, folder=config_dir, sounds=SOUNDS,
                               time_scale=scale, wallclock=lambda: now,
                               prompt_exists=lambda name: pbx.sounds.duration(name)
                               is not None, state=state, store=store,
                               store_epoch=epoch, api=web) as centre:
            print(f"vaxel demo: the web pages on http://{web[0]}:{web[1]}/ (the wallboard: "
                  f"http://{web[0]}:{web[1]}/wallboard); log in as" + "".join(
                      f"\n  {name:<8} password {passwords[name]}  ({role})"
                      for name, (role, _) in DEMO_USERS.items()), file=out)
            await _demo(centre, pbx, phones, rng, minutes, scale, calls_per_hour, speed, port,
                        out)
    finally:
        await server.stop()
        await pbx.close()
        if broker is not None:
            broker.stop()
    print(await _report(store, state, now.date(), config), file=out)
    return 0


async def _report(store: str, state: Path, day: dt.date, config: Any) -> str:
    """The demo's day from its call log, as `vaxel report --format html` writes it."""
    from controller.reporting import goals_of
    from store.database import Database
    from store.report import Period, build, html, load

    period = Period(day, day, zoneinfo.ZoneInfo(config.timezone))
    db = await Database.open(store)
    try:
        data = await load(db, period)
    finally:
        await db.close()
    path = state / f"rapport-{day}.html"
    path.write_text(html(build(data, period, goals_of(config))), encoding="utf-8")
    return (f"vaxel demo: {len(data.calls)} calls in the call log {state / 'vaxel.sqlite'}; "
            f"the day's report: {path}\n  (again: vaxel report --store "
            f"{state / 'vaxel.sqlite'} --from {day} --to {day})")


def _with_a_local_broker(loaded: Loaded, out: TextIO) -> tuple[LocalBroker | None, Loaded]:
    """The events on MQTT too, to a mosquitto of the demo's own, when the binary is at hand
    and the configuration names no broker."""
    if loaded.config.events.mqtt is not None or mosquitto_binary() is None:
        return None, loaded
    broker = LocalBroker(Path(tempfile.mkdtemp(prefix="vaxel-demo-mqtt-")))
    try:
        broker.start()
    except RuntimeError as err:
        print(f"vaxel demo: no MQTT ({err})", file=out)
        return None, loaded
    events = loaded.config.events.model_copy(update={
        "site": "exempelkommun", "mqtt": Mqtt(host="127.0.0.1", port=broker.port)})
    print(f"vaxel demo: the events on MQTT; watch them with: mosquitto_sub -h 127.0.0.1 "
          f"-p {broker.port} -t 'vaxel/#' -v", file=out)
    return broker, dataclasses.replace(
        loaded, config=loaded.config.model_copy(update={"events": events}))


async def _demo(centre: Centre, pbx: FakePbx, phones: dict[str, Phone], rng: random.Random,
                minutes: float, scale: float, calls_per_hour: float, speed: float, port: int,
                out: TextIO) -> None:
    ctl = centre.controller
    config = ctl.version.config
    for agent_id in config.agents:
        if agent_id in phones:
            ctl.agent_login(agent_id)
    print(f"vaxel demo: fake Asterisk on 127.0.0.1:{port}, {len(phones)} agents, "
          f"{calls_per_hour:g} calls/hour, {speed:g}x speed, {minutes:g} simulated minutes",
          file=out)
    callers: list[Caller] = []
    started = asyncio.get_running_loop().time()

    def sim_minutes() -> float:
        return (asyncio.get_running_loop().time() - started) / scale / 60

    async def arrivals() -> None:
        n = 0
        while True:
            await asyncio.sleep(rng.expovariate(calls_per_hour / 3600) * scale)
            n += 1
            keys = rng.choices(CHOICES, WEIGHTS)[0]
            patience = rng.expovariate(1 / 240)
            caller = Caller(f"citizen{n}", f"07{rng.randrange(10**7, 10**8)}", keys=keys,
                            gives_up_after=30 + patience)
            callers.append(caller)
            caller.dial(pbx)

    feeding = asyncio.get_running_loop().create_task(arrivals())
    minute = 0
    print("  min   calls  menus waiting  answered  in target  in 2 min  gave up  partner"
          "  agents: talking wrap-up paused ready", file=out)
    try:
        while sim_minutes() < minutes:
            await asyncio.sleep(60 * scale)
            minute += 1
            print(_minute_line(minute, centre), file=out, flush=True)
    finally:
        feeding.cancel()
        print(_summary(centre, minute), file=out)


def _share(part: int, whole: int) -> str:
    return f"{100 * part / whole:.0f} %" if whole else "-"


def _minute_line(minute: int, centre: Centre) -> str:
    stats = centre.statistics()
    states = [a.state for a in centre.controller.router.agents.values()]
    return (f"{minute:5d} {stats['calls']:7d} {stats['in_menus']:6d} {stats['waiting']:7d}"
            f" {stats['answered']:9d} {_share(stats['within_threshold'], stats['answered']):>10}"
            f" {_pct(centre.counters.figures().goal):>8} {stats['abandoned']:8d}"
            f" {stats['partner']:8d}  {states.count(AgentState.BUSY):15d}"
            f" {states.count(AgentState.WRAP_UP):7d} {states.count(AgentState.PAUSED):6d}"
            f" {states.count(AgentState.READY):5d}")


def _pct(share: float | None) -> str:
    return "-" if share is None else f"{100 * share:.0f} %"


def _summary(centre: Centre, minutes: int) -> str:
    stats = centre.statistics()
    calls = f"{stats['calls']} call{'s' * (stats['calls'] != 1)}"
    return (f"after {minutes} simulated minutes: {calls}, {stats['answered']} "
            f"answered ({_share(stats['within_threshold'], stats['answered'])} within their "
            f"group's target), {_pct(centre.counters.figures().goal)} of the calls offered "
            f"answered within 2 minutes (the municipal goal: 70 %, aim 80 %), "
            f"{stats['abandoned']} gave up, {stats['callbacks_requested']} asked to be "
            f"called back ({stats['callbacks_reached']} reached so far), "
            f"{stats['partner']} answered by the partner, {stats['in_menus']} still in the "
            f"menus and {stats['waiting']} waiting at the end" + "".join(
                f"; {i.statistics().get('published', 0)} events published to MQTT"
                for name, i in centre.integrations.items() if name == "mqtt"))


def main_demo(args: Any) -> int:  # the CLI's entry
    logging.basicConfig(level=logging.WARNING if not args.verbose else logging.INFO,
                        format="%(asctime)s %(name)s %(message)s")
    return asyncio.run(run_demo(args.config, args.minutes, args.speed, args.calls_per_hour,
                                args.seed, web=args.web))
