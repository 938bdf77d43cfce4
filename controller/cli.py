"""The `vaxel` command line."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from config.durations import format_duration, parse_duration

# The example municipality, shipped inside the config package (so an installed vaxel has it).
EXAMPLE_CONFIG = Path(__file__).resolve().parent.parent / "config" / "exempelkommun"


def _bounded(kind: type, low: float, high: float, what: str) -> Callable[[str], Any]:
    """An argparse type: a number of `kind` from `low` to `high` (finite), said in words."""
    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{text!r} is not {'a whole number' if kind is int else 'a number'}") from None
        if not math.isfinite(value) or not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{text!r}: {what}")
        return value
    return parse


def _duration(low: float, high: float, what: str) -> Callable[[str], float]:
    """Command-line durations: a bare number is seconds; "4m", "90s" are read as in YAML."""
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            try:
                value = parse_duration(text)
            except ValueError as err:
                raise argparse.ArgumentTypeError(str(err)) from None
        if not math.isfinite(value) or not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{text!r}: {what}")
        return value
    return parse


_handle_time = _duration(1, 86400, "a handle time from 1 s to 24 h, such as 4m")
_threshold = _duration(1, 86400, "a threshold from 1 s to 24 h, such as 2m")
_positive_patience = _duration(1, 86400, "a patience from 1 s to 24 h, such as 3m, or none")


def _patience(text: str) -> float | None:
    return None if text.lower() in ("none", "inf", "infinite") else _positive_patience(text)


def _share(text: str) -> float:
    try:
        value = float(text.rstrip("%")) / (100 if text.endswith("%") else 1)
    except ValueError:
        value = math.nan
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: give a share such as 0.8 or 80%")
    return value


def _api_url(text: str) -> str:
    """The controller's API: http://host:port, or host:port alone."""
    url = text if "://" in text else f"http://{text}"
    scheme, _, rest = url.partition("://")
    host, _, port = rest.rstrip("/").rpartition(":")
    if scheme not in ("http", "https") or not host or not port.isdigit() \
            or not 1 <= int(port) <= 65535:
        raise argparse.ArgumentTypeError(
            f"{text!r}: write the controller's address, such as 127.0.0.1:8480")
    return url.rstrip("/")


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f} %"


def cmd_simulate(args: argparse.Namespace) -> int:
    from controller.scenario import Scenario, ScenarioError, load_scenario
    from controller.simulator import simulate

    if args.scenario is not None:
        try:
            scenario = load_scenario(args.scenario)
        except (OSError, ScenarioError) as err:
            print(f"vaxel simulate: {err}", file=sys.stderr)
            return 2
        scenario = scenario.with_overrides(
            agents=args.agents, calls_per_hour=args.calls_per_hour, aht=args.aht,
            patience="keep" if args.patience is None else args.patience[0],
            hours=args.hours, threshold=args.threshold, seed=args.seed)
    else:
        missing = [f for f in ("agents", "calls_per_hour", "aht") if getattr(args, f) is None]
        if missing:
            flags = ", ".join("--" + f.replace("_", "-") for f in missing)
            print(f"vaxel simulate: without a scenario file, give {flags}", file=sys.stderr)
            return 2
        scenario = Scenario.single_group(
            agents=args.agents, calls_per_hour=args.calls_per_hour, aht=args.aht,
            hours=8.0 if args.hours is None else args.hours,
            threshold=120.0 if args.threshold is None else args.threshold,
            patience=None if args.patience is None else args.patience[0],
            seed=1 if args.seed is None else args.seed)

    from controller.scenario import MAX_CALLS, expected_calls

    if (expected := expected_calls(scenario.calls_per_hour, scenario.hours)) > MAX_CALLS:
        print(f"vaxel simulate: about {expected:,.0f} calls would take too long (at most "
              f"{MAX_CALLS:,}): lower --hours or --calls-per-hour", file=sys.stderr)
        return 2
    progress = None
    bar = None
    if not args.json and sys.stderr.isatty() and scenario.hours > 24:
        from tqdm import tqdm

        bar = tqdm(total=round(scenario.hours), unit="h", desc="simulating", leave=False)

        def progress(now: float) -> None:
            bar.update(min(round(now / 3600), bar.total) - bar.n)

    events: list[Any] = []
    result = simulate(scenario, progress, events.append if args.store else None)
    if bar is not None:
        bar.close()
    if args.store:
        from controller.reporting import Refused, simulated_day

        try:
            start = args.start or (dt.datetime.min + dt.timedelta(seconds=scenario.opens)).time()
            told = simulated_day(args.store, events, args.day, start, scenario.seed)
        except Refused as err:
            print(f"vaxel simulate: {err}", file=sys.stderr)
            return 2
        print(told, file=sys.stderr if args.json else sys.stdout)
    if args.json:
        print(json.dumps(result.as_dict(), indent=2))
        return 0
    print(f"{scenario.name} (seed {scenario.seed}, {scenario.hours:g} h)")
    print(f"  offered {result.offered}  answered {result.answered}  abandoned {result.abandoned}"
          f"  to partner {result.overflowed}  refused {result.refused}  unserved {result.unserved}")
    thr = result.threshold_seconds
    within = f"within {format_duration(thr)}" if thr is not None else "within group targets"
    print(f"  service level {_pct(result.service_level)} of answered, "
          f"{_pct(result.service_level_offered)} of offered, {within}")
    print(f"  wait probability {_pct(result.wait_probability)}  ASA {result.asa_seconds:.0f} s"
          f"  occupancy {_pct(result.occupancy)}")
    if result.ewt_median_abs_error_seconds is not None:
        print(f"  EWT median absolute error {result.ewt_median_abs_error_seconds:.0f} s"
              f" over {result.ewt_samples} callers who waited")
    if len(result.groups) > 1:
        print(f"  {'group':<28}{'offered':>8}{'answered':>9}{'SL':>8}{'aband.':>8}{'partner':>8}")
        for gid, g in result.groups.items():
            sl = _pct(g.answered_in_threshold / g.answered) if g.answered else "-"
            print(f"  {gid:<28}{g.offered:>8}{g.answered:>9}{sl:>8}{g.abandoned:>8}"
                  f"{g.overflowed:>8}")
    if scenario.callbacks is not None:
        _callbacks_compared(scenario, result)
    return 0


def _callbacks_compared(scenario: Any, result: Any) -> None:
    """The same day (the same callers, the same seed) without callbacks, beside this one."""
    import dataclasses

    from controller.simulator import simulate

    without = simulate(dataclasses.replace(scenario, callbacks=None))
    cb = scenario.callbacks
    print(f"  callbacks offered past an estimated wait of {format_duration(cb.offer_over)}: "
          f"{result.callbacks} taken, {result.callbacks_reached} reached, "
          f"{result.callbacks_failed} failed; "
          f"{_pct(result.callback_service_level)} reached within "
          f"{format_duration(cb.target)}")
    print(f"  {'the same day':<34}{'without':>10}{'with callbacks':>16}")
    for label, a, b in (
            ("abandoned", str(without.abandoned), str(result.abandoned)),
            ("abandon rate", _pct(without.abandon_rate), _pct(result.abandon_rate)),
            ("service level (of answered)", _pct(without.service_level),
             _pct(result.service_level)),
            ("ASA", f"{without.asa_seconds:.0f} s", f"{result.asa_seconds:.0f} s"),
            ("occupancy", _pct(without.occupancy), _pct(result.occupancy))):
        print(f"  {label:<34}{a:>10}{b:>16}")


def cmd_staffing(args: argparse.Namespace) -> int:
    from queues.erlang import agents_needed, offered_load

    if offered_load(args.calls_per_hour, args.aht) > MAX_ERLANGS:
        print(f"vaxel staffing: {args.calls_per_hour:g} calls an hour of {args.aht:g} s keep "
              f"more than {MAX_ERLANGS:,} agents busy at once; this calculator stops there "
              "(split the centre into groups)", file=sys.stderr)
        return 2
    try:
        result = agents_needed(args.calls_per_hour, args.aht, args.target, args.threshold)
    except ValueError as err:
        print(f"vaxel staffing: {err}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps({
            "agents": result.agents,
            "service_level": result.service_level,
            "wait_probability": result.wait_probability,
            "occupancy": result.occupancy,
            "asa_seconds": result.asa_seconds,
        }, indent=2))
        return 0
    print(f"{result.agents} agents answer {_pct(result.service_level)} within "
          f"{format_duration(args.threshold)} (target {_pct(args.target)})")
    print(f"  wait probability {_pct(result.wait_probability)}  occupancy "
          f"{_pct(result.occupancy)}  ASA {result.asa_seconds:.0f} s")
    return 0


def _refused(err: Exception) -> int:
    """Prints a refused configuration's problems and how many errors; exit status 1."""
    from config.errors import ConfigError

    print(err, file=sys.stderr)
    n = len(err.errors) if isinstance(err, ConfigError) else 1
    print(f"{n} error{'s' * (n != 1)}: the configuration was not accepted", file=sys.stderr)
    return 1


def cmd_dialplan(args: argparse.Namespace) -> int:
    import os

    from config.errors import ConfigError
    from controller.configuration import load_configuration
    from telephony.dialplan import render_extensions, render_manager

    try:
        conf = load_configuration(args.config)
    except ConfigError as err:
        return _refused(err)
    secret = os.environ.get(args.secret_env, "")
    if not secret or any(c in secret for c in "\r\n;"):
        print(f"vaxel dialplan: set the AMI secret, one line without ';', in the environment "
              f"variable {args.secret_env} (it is written to manager_vaxel.conf only)",
              file=sys.stderr)
        return 2
    source = str(args.config / "telephony.yaml")
    extensions = render_extensions(conf.settings, source, conf.loaded.config.languages())
    manager = render_manager(conf.settings, secret, source)
    try:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "extensions_vaxel.conf").write_text(extensions, encoding="utf-8")
        manager_path = args.out / "manager_vaxel.conf"
        manager_path.write_text(manager, encoding="utf-8")
        manager_path.chmod(0o600)  # it holds the secret
    except OSError as err:
        print(f"vaxel dialplan: cannot write to {args.out}: {err.strerror}", file=sys.stderr)
        return 2
    print(f"wrote {args.out / 'extensions_vaxel.conf'} and {manager_path}"
          " (see docs/asterisk.md to install them)")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from config.describe import diff, tree
    from config.errors import ConfigError
    from config.loader import load_folder
    from controller.configuration import load_configuration

    sounds = args.sounds if args.sounds and args.sounds.is_dir() else None
    if args.diff:
        try:
            old = load_folder(args.diff[0]).config
            new = load_folder(args.diff[1]).config
        except ConfigError as err:
            return _refused(err)
        for line in diff(old, new) or ["no difference"]:
            print(line)
        return 0
    if args.folder is None:
        print("vaxel check: name a configuration folder", file=sys.stderr)
        return 2
    try:
        conf = load_configuration(args.folder, sounds, dt.datetime.now(dt.UTC))
    except ConfigError as err:
        return _refused(err)
    for warning in conf.warnings:
        print(warning, file=sys.stderr)
    if args.tree:
        print(tree(conf.loaded.config), end="")
        return 0
    c = conf.loaded.config
    print(f"{args.folder}: OK, version {conf.loaded.checksum}: {len(c.numbers)} numbers, "
          f"{len(c.menus)} menus, {len(c.groups)} groups, {len(c.agents)} agents"
          + (f", {len(conf.warnings)} warnings" if conf.warnings else ""))
    return 0


def cmd_sounds(args: argparse.Namespace) -> int:
    from config.errors import ConfigError
    from config.loader import load_folder
    from config.soundset import build, status, wanted

    try:
        config = load_folder(args.config).config  # the texts; sounds are what we make
    except ConfigError as err:
        print(err, file=sys.stderr)
        return 1
    want = wanted(config)
    if args.action == "status":
        missing, stale = status(args.sounds, want)
        for key in missing:
            print(f"missing {key}")
        for key in stale:
            print(f"stale   {key}")
        print(f"{len(want) - len(missing) - len(stale)} of {len(want)} sounds up to date")
        return 1 if missing or stale else 0
    try:
        made, unchanged = build(args.sounds, want)
    except RuntimeError as err:
        print(f"vaxel sounds: {err}", file=sys.stderr)
        return 2
    for key in made:
        print(f"made {key}")
    print(f"{len(made)} made, {unchanged} up to date, in {args.sounds}")
    return 0


def _address(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not port.isdigit() or not 1 <= int(port) <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r}: write host:port, such as 127.0.0.1:8480")
    return host or "127.0.0.1", int(port)


def cmd_demo(args: argparse.Namespace) -> int:
    from controller.demo import main_demo

    return main_demo(args)


def cmd_run(args: argparse.Namespace) -> int:
    import asyncio
    import logging

    from controller.logs import logging_off_the_loop
    from controller.run import run_controller

    host, port = args.api
    sounds = args.sounds if args.sounds.is_dir() else None
    with logging_off_the_loop(logging.DEBUG if args.verbose else logging.INFO):
        return asyncio.run(run_controller(args.config, host, port, args.ami_port, sounds))


def _api_call(api: str, method: str, path: str, body: dict[str, Any] | None = None
              ) -> tuple[int, dict[str, Any]]:
    import urllib.error
    import urllib.request

    data = json.dumps(body).encode() if body is not None else None
    headers = {"Content-Type": "application/json"}
    if token := os.environ.get("VAXEL_API_TOKEN"):  # the user's own (vaxel user)
        headers["Authorization"] = f"Bearer {token}"
    req = urllib.request.Request(f"{api.rstrip('/')}{path}", data=data, method=method,
                                 headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"{}")


def _why(err: Exception) -> str:
    reason = getattr(err, "reason", err)
    return str(getattr(reason, "strerror", None) or reason)


def cmd_agent(args: argparse.Namespace) -> int:
    import urllib.error

    body = {"reason": args.reason} if args.action == "pause" else {}
    if args.action == "pause" and not args.reason:
        print("vaxel agent pause: give --reason", file=sys.stderr)
        return 2
    try:
        status, reply = _api_call(args.api, "POST", f"/api/agents/{args.agent}/{args.action}",
                                  body)
    except urllib.error.URLError as err:
        print(f"vaxel agent: no controller at {args.api}: {_why(err)}", file=sys.stderr)
        return 1
    if status != 200:
        print(f"vaxel agent: {reply.get('error', status)}", file=sys.stderr)
        return 1
    print(f"{reply['agent']}: {reply['state']}")
    return 0


def cmd_reload(args: argparse.Namespace) -> int:
    """Asks the running controller to read its folder again (as SIGHUP does)."""
    import urllib.error

    try:
        status, reply = _api_call(args.api, "POST", "/api/reload", {})
    except urllib.error.URLError as err:
        print(f"vaxel reload: no controller at {args.api}: {_why(err)}", file=sys.stderr)
        return 1
    if status != 200:
        print(f"vaxel reload: {reply.get('error', status)}", file=sys.stderr)
        for problem in reply.get("problems", []):
            print(f"  {problem}", file=sys.stderr)
        return 1
    changes = reply["changes"]
    print(f"configuration version {reply['version_id']} (activation {reply['version']}) "
          f"active" + (":" if changes else ": no change"))
    for change in changes:
        print(f"  {change}")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    import urllib.error

    try:
        status, data = _api_call(args.api, "GET", "/api/status")
    except urllib.error.URLError as err:
        print(f"vaxel status: no controller at {args.api}: {_why(err)}", file=sys.stderr)
        return 1
    if status != 200:
        print(f"vaxel status: {data.get('error', status)}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(data, ensure_ascii=False, indent=1))
        return 0
    ami = data["ami"]
    link = "up" if ami["connected"] else f"DOWN ({ami['last_error'] or 'not connected yet'})"
    print(f"configuration version {data['version_id']} (activation {data['version']}), "
          f"calls now {len(data['calls'])}, AMI {ami['address']} {link}")
    over = data["overload"]
    print(f"  Asterisk answers in {over['lag_ms']:.0f} ms, {over['unanswered']} actions "
          f"unanswered (the oldest for {over.get('oldest_unanswered_ms', 0):.0f} ms)"
          + (": OVERLOADED, new callers are told to call again"
                           if over["active"] else ""))
    for name, i in data.get("integrations", {}).items():
        state = "" if "connected" not in i else ("connected, " if i["connected"] else
                                                 f"NOT CONNECTED ({i['last_error']}), ")
        done = i.get("published", i.get("delivered", 0))
        print(f"  {name}: {state}{done} sent, {i['queued']} waiting, {i['dropped']} dropped")
    if (store := data.get("store")) is not None:
        state = "writing" if store["connected"] else f"SPOOLING ({store['last_error']})"
        print(f"  call log {store['where']}: {state}, {store['written']} events written, "
              f"{store['in_spool']} in the spool ({store['spooled']} spooled, "
              f"{store['replayed']} caught up)")
    lost = {n: s["dropped"] for n, s in data.get("subscribers", {}).items() if s["dropped"]}
    if lost:
        print(f"  events lost by slow subscribers: {lost}")
    print(f"  {'group':<30}{'waiting':>8}{'logged in':>10}{'ready':>6}{'serving':>8}"
          "  hours   routing")
    for gid, g in data["groups"].items():
        print(f"  {gid:<30}{g['waiting']:>8}{g['logged_in']:>10}{g['ready']:>6}"
              f"{g['serving']:>8}  {data['hours'].get(gid, '-'):<8}{g['opening']}")
    for aid, a in data["agents"].items():
        extra = f" ({a['reason']})" if a["reason"] else ""
        print(f"  agent {aid:<20} {a['state']}{extra}")
    callbacks = data.get("callbacks") or {}
    if any(callbacks.values()):
        print("  callbacks: " + ", ".join(f"{n} {phase}" for phase, n in callbacks.items()))
    return 0


def cmd_directory(args: argparse.Namespace) -> int:
    """An HR or AD export (CSV) as the configuration's directory: section."""
    from config.directory import import_csv
    from config.errors import ConfigError

    try:
        text = import_csv(args.csv)
    except OSError as err:
        print(f"vaxel directory: {args.csv}: {err.strerror or err}", file=sys.stderr)
        return 2
    except ConfigError as err:
        for problem in err.problems:
            print(problem, file=sys.stderr)
        print(f"{len(err.problems)} bad rows: nothing written", file=sys.stderr)
        return 1
    if args.out is None:
        sys.stdout.write(text)
    else:
        args.out.write_text(text, encoding="utf-8")
        print(f"{text.count(chr(10)) - 3} entries written to {args.out}; `vaxel check` "
              "and `vaxel reload` take it in")
    return 0


def cmd_user(args: argparse.Namespace) -> int:
    """A user's lines for the configuration's `users:` (users.yaml): the password's argon2
    hash, and a new API token (printed once: only its SHA-256 goes into the file)."""
    import getpass

    from web.auth import hash_password, new_token, token_digest

    if args.role == "agent" and not args.agent:
        print("vaxel user: an agent user names the agent they are: --agent ID", file=sys.stderr)
        return 2
    if sys.stdin.isatty():
        password = getpass.getpass(f"password for {args.name}: ")
        if password != getpass.getpass("again: "):
            print("vaxel user: the two passwords differ", file=sys.stderr)
            return 2
    else:  # a script's: the first line of its input
        password = sys.stdin.readline().rstrip("\n")
    if len(password) < 10:
        print("vaxel user: a password of at least 10 characters", file=sys.stderr)
        return 2
    lines = [f"  {args.name}:", f"    role: {args.role}",
             f"    password: \"{hash_password(password)}\""]
    if args.agent:
        lines.insert(2, f"    agent: {args.agent}")
    if args.token:
        token = new_token()
        lines.append(f"    token_sha256: \"{token_digest(token)}\"")
        print(f"# the API token (shown once; for vaxel agent/status: VAXEL_API_TOKEN={token})",
              file=sys.stderr)
    print("\n".join(lines))
    return 0


MAX_ERLANGS = 100_000  # agents busy at once: far past any contact centre, and still quick
_AGENTS = _bounded(int, 1, 10_000, "from 1 to 10000 agents")
_RATE = _bounded(float, 0.01, 100_000, "a rate above 0 and at most 100000 calls an hour")
_HOURS = _bounded(float, 0.01, 24 * 366, "from 0.01 to 8784 hours (a year)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vaxel", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    sim = sub.add_parser("simulate", help="run the routing core in virtual time")
    sim.add_argument("scenario", nargs="?", type=Path, help="scenario YAML (config/scenarios/)")
    sim.add_argument("--agents", type=_AGENTS, help="agents logged in all day, in every group")
    sim.add_argument("--calls-per-hour", type=_RATE, help="constant arrival rate")
    sim.add_argument("--aht", type=_handle_time, help="mean handle time (seconds, or 4m)")
    sim.add_argument("--patience", type=_patience, nargs=1,
                     help="mean caller patience, or 'none' for callers who never hang up")
    sim.add_argument("--hours", type=_HOURS, help="simulated hours of arrivals (8)")
    sim.add_argument("--threshold", type=_threshold,
                     help="service-level threshold (default 120)")
    sim.add_argument("--seed", type=int)
    sim.add_argument("--json", action="store_true", help="print the result as JSON")
    sim.add_argument("--store", metavar="FILE_OR_URL",
                     help="write the simulated day to a call log (an SQLite file or a URL), "
                     "for `vaxel report`")
    sim.add_argument("--day", type=_date, default=dt.date.today(),
                     help="the day the simulated calls are dated (today)")
    sim.add_argument("--start", type=_clock,
                     help="the simulated day's start, Swedish time (the scenario's opens:, "
                     "else 08:00)")
    sim.set_defaults(func=cmd_simulate)

    rp = sub.add_parser("report", help="the municipal goals over a period, from the call log")
    rp.add_argument("--from", dest="from_", type=_date, required=True, metavar="DATE",
                    help="the first day (2026-11-02)")
    rp.add_argument("--to", type=_date, required=True, metavar="DATE", help="the last day")
    rp.add_argument("--group", help="one response group (a function) only")
    rp.add_argument("--format", choices=("text", "csv", "html"), default="text")
    rp.add_argument("--output", "-o", type=Path, help="write to this file (else stdout)")
    rp.add_argument("--config", type=Path, help="the configuration folder: its store, goals "
                    "and time zone")
    rp.add_argument("--store", metavar="FILE_OR_URL", help="the call log (else the "
                    "configuration's, or the state folder's vaxel.sqlite)")
    rp.add_argument("--baseline", action="store_true",
                    help="a baseline (nollmätning): availability and answer times per hour "
                    "and weekday")
    rp.add_argument("--compare-from", type=_date, metavar="DATE",
                    help="compare with an earlier period (before / after)")
    rp.add_argument("--compare-to", type=_date, metavar="DATE")
    rp.set_defaults(func=_later("report"))

    ex = sub.add_parser("export", help="the call log in another program's format")
    ex.add_argument("format", choices=("queue-log",), help="queue-log: Asterisk's queue_log")
    ex.add_argument("--from", dest="from_", type=_date, required=True, metavar="DATE")
    ex.add_argument("--to", type=_date, required=True, metavar="DATE")
    ex.add_argument("--output", "-o", type=Path, help="write to this file (else stdout)")
    ex.add_argument("--config", type=Path, help="the configuration folder: its store, time "
                    "zone and the agents' groups")
    ex.add_argument("--store", metavar="FILE_OR_URL", help="the call log")
    ex.set_defaults(func=_later("export"))

    mt = sub.add_parser("maintenance", help="apply the call log's retention (pseudonymise, "
                        "delete), as the controller does each night")
    mt.add_argument("--config", type=Path, help="the configuration folder: its store and "
                    "retention")
    mt.add_argument("--store", metavar="FILE_OR_URL", help="the call log")
    mt.set_defaults(func=_later("maintenance"))

    st = sub.add_parser("staffing", help="agents needed for a service level (Erlang C)")
    st.add_argument("--calls-per-hour", type=_RATE, required=True)
    st.add_argument("--aht", type=_handle_time, required=True, help="mean handle time")
    st.add_argument("--target", type=_share, default=0.8, help="share within threshold (0.8)")
    st.add_argument("--threshold", type=_threshold, default=120.0, help="seconds (120)")
    st.add_argument("--json", action="store_true")
    st.set_defaults(func=cmd_staffing)
    ck = sub.add_parser("check", help="check a configuration folder; --tree draws the menus")
    ck.add_argument("folder", nargs="?", type=Path)
    ck.add_argument("--tree", action="store_true", help="print the menu tree and paths")
    ck.add_argument("--diff", nargs=2, type=Path, metavar=("OLD", "NEW"),
                    help="print the difference between two configuration folders")
    ck.add_argument("--sounds", type=Path, default=Path("sounds"),
                    help="the prompt sound folder to check against (sounds/)")
    ck.set_defaults(func=cmd_check)

    dm = sub.add_parser("demo", help="the whole contact centre on this machine, fake PBX")
    dm.add_argument("--config", type=Path, default=EXAMPLE_CONFIG)
    dm.add_argument("--minutes", type=_bounded(float, 0.5, 24 * 60, "from 0.5 to 1440 "
                                                "simulated minutes"),
                    default=20, help="simulated minutes (20)")
    dm.add_argument("--speed", type=_bounded(float, 0.5, 60, "from 0.5 (slower than life) to "
                                             "60 times faster"),
                    default=10, help="times faster than life (10)")
    dm.add_argument("--calls-per-hour", type=_bounded(float, 1, 3000, "from 1 to 3000 calls an "
                                                      "hour (the demo's fake PBX is one process)"),
                    default=90)
    dm.add_argument("--seed", type=int, default=1)
    dm.add_argument("--web", type=_address, default=("127.0.0.1", 8480),
                    help="where the web pages are served (127.0.0.1:8480; a free port beside "
                         "it when taken)")
    dm.add_argument("--verbose", action="store_true", help="log every call event")
    dm.set_defaults(func=cmd_demo)

    rn = sub.add_parser("run", help="run the controller against Asterisk's AMI")
    rn.add_argument("--config", type=Path, required=True, help="configuration folder")
    rn.add_argument("--api", type=_address, default=("127.0.0.1", 8480),
                    help="local HTTP API address (127.0.0.1:8480)")
    rn.add_argument("--ami-port", type=_bounded(int, 1, 65535, "a TCP port, 1 to 65535"),
                    help="override telephony.yaml's ami.port")
    rn.add_argument("--sounds", type=Path, default=Path("sounds"))
    rn.add_argument("--verbose", action="store_true", help="log the router's every command too")
    rn.set_defaults(func=cmd_run)

    ag = sub.add_parser("agent", help="log an agent in or out, pause, ready (needs vaxel run)")
    ag.add_argument("action", choices=["login", "ready", "pause", "logout"])
    ag.add_argument("agent")
    ag.add_argument("--reason", help="why, for pause")
    ag.add_argument("--api", type=_api_url, default="http://127.0.0.1:8480")
    ag.set_defaults(func=cmd_agent)

    rl = sub.add_parser("reload", help="activate the edited configuration folder (needs "
                                       "vaxel run); an error changes nothing")
    rl.add_argument("--api", type=_api_url, default="http://127.0.0.1:8480")
    rl.set_defaults(func=cmd_reload)

    stt = sub.add_parser("status", help="groups, agents and calls now (needs vaxel run)")
    stt.add_argument("--api", type=_api_url, default="http://127.0.0.1:8480")
    stt.add_argument("--json", action="store_true")
    stt.set_defaults(func=cmd_status)

    di = sub.add_parser("directory", help="the directory (katalog): import an HR or AD export")
    dsub = di.add_subparsers(dest="what", required=True)
    imp = dsub.add_parser("import", help="a CSV export as the configuration's directory: "
                                         "section (every bad row named by line)")
    imp.add_argument("csv", type=Path)
    imp.add_argument("-o", "--out", type=Path, default=None,
                     help="the YAML file to write (katalog.yaml in the configuration folder); "
                          "standard output without")
    imp.set_defaults(func=cmd_directory)
    us = sub.add_parser("user", help="a web and API user's lines for users.yaml (the "
                                     "password from the terminal or the first input line)")
    us.add_argument("name", type=_user_name)
    us.add_argument("--role", choices=["agent", "supervisor", "admin"], required=True)
    us.add_argument("--agent", type=_user_name, help="the agent they are (agent role)")
    us.add_argument("--token", action="store_true", help="and a new API token")
    us.set_defaults(func=cmd_user)

    sd = sub.add_parser("sounds", help="make the prompt sounds from their texts")
    sd.add_argument("action", choices=["build", "status"])
    sd.add_argument("--config", type=Path, required=True, help="configuration folder")
    sd.add_argument("--sounds", type=Path, default=Path("sounds"), help="sound folder")
    sd.set_defaults(func=cmd_sounds)

    dp = sub.add_parser("dialplan", help="render the Asterisk dialplan and AMI user")
    dp.add_argument("--config", type=Path, required=True, help="configuration folder")
    dp.add_argument("--out", type=Path, default=Path("asterisk"), help="output folder")
    dp.add_argument("--secret-env", default="VAXEL_AMI_SECRET",
                    help="environment variable holding the AMI secret")
    dp.set_defaults(func=cmd_dialplan)
    return parser


def _user_name(text: str) -> str:
    if not re.match(r"^[a-z0-9][a-z0-9-]{0,60}$", text):
        raise argparse.ArgumentTypeError(f"{text!r}: lower-case letters, digits and -, such "
                                         "as anna or sara-s")
    return text


def _date(text: str) -> dt.date:
    from controller.reporting import date

    return date(text)


def _clock(text: str) -> dt.time:
    try:
        return dt.time.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a time of day; write e.g. 08:00"
                                         ) from None


def _later(name: str) -> Callable[[argparse.Namespace], int]:
    """A command of controller/reporting.py, imported when it runs (SQLAlchemy, Alembic)."""
    def run(args: argparse.Namespace) -> int:
        from controller import reporting

        return int(getattr(reporting, f"cmd_{name.replace('-', '_')}")(args))
    return run


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except KeyboardInterrupt:  # Ctrl-C: the user's wish, not an error
        print(file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
