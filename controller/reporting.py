"""The call log on the command line: `vaxel report`, `vaxel export queue-log`, `vaxel maintenance`,
and `vaxel simulate --store` (a simulated day written as a real one is)."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import datetime as dt
import sys
import zoneinfo
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from config.errors import ConfigError
from config.schema import IvrConfig
from controller.events import CallbackEvent, CallEvent, Event
from store.database import Database, StoreError, database_url
from store.report import Goals, Loaded, Period, build, compare, csv, html, load, text

DEFAULT_TIMEZONE = "Europe/Stockholm"


class Refused(Exception):
    """What the user asked can't be done: the message says why (exit code 2)."""


def date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date; write e.g. 2026-11-30"
                                         ) from None


def _config(folder: Path | None) -> IvrConfig | None:
    if folder is None:
        return None
    from config.loader import load_folder

    try:
        return load_folder(folder).config
    except ConfigError as err:
        raise Refused(f"the configuration in {folder} was not accepted:\n{err}") from None


def store_of(store: str | None, folder: Path | None) -> tuple[str, IvrConfig | None]:
    """The call log's URL (given, the configuration's, or the state folder's SQLite file) and
    the configuration, if one was named. A SQLite file must exist: a report of an empty new
    file would only hide a wrong path."""
    from controller.bootstrap import MissingSecret, state_folder, store_url

    config = _config(folder)
    if store is None:
        try:
            store = (store_url(config.store, state_folder()) if config is not None
                     else f"sqlite:///{state_folder() / 'vaxel.sqlite'}")
        except MissingSecret as err:
            raise Refused(str(err)) from None
    try:
        url = database_url(store)
    except StoreError as err:
        raise Refused(str(err)) from None
    if url.drivername.startswith("sqlite") and url.database \
            and not Path(url.database).exists():
        raise Refused(f"no call log at {url.database} (give --store, or --config of the "
                      "controller that wrote it)")
    return url.render_as_string(hide_password=False), config


def goals_of(config: IvrConfig | None) -> Goals:
    if config is None:
        return Goals()
    g = config.goals
    return Goals(g.answered_within, g.answered_target, g.answered_aim, g.first_contact_target,
                 g.first_contact_aim, g.short_abandon)


def timezone_of(config: IvrConfig | None) -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo(config.timezone if config is not None else DEFAULT_TIMEZONE)


def _command(name: str) -> Callable[[Callable[[argparse.Namespace], int]],
                                    Callable[[argparse.Namespace], int]]:
    """A command whose Refused is its message and exit code 2, never a traceback."""
    def wrap(run: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
        def command(args: argparse.Namespace) -> int:
            try:
                return run(args)
            except Refused as err:
                print(f"vaxel {name}: {err}", file=sys.stderr)
                return 2
        return command
    return wrap


async def _open(url: str) -> Database:
    try:
        return await Database.open(url)
    except StoreError as err:
        raise Refused(str(err)) from None


@_command("report")
def cmd_report(args: argparse.Namespace) -> int:
    if args.to < args.from_:
        raise Refused(f"--to {args.to} is before --from {args.from_}")
    if (args.compare_from is None) != (args.compare_to is None):
        raise Refused("a comparison needs both --compare-from and --compare-to")
    url, config = store_of(args.store, args.config)
    tz, goals = timezone_of(config), goals_of(config)
    if config is not None and args.group is not None and args.group not in config.groups:
        known = ", ".join(sorted(config.groups))
        raise Refused(f"no group {args.group!r} in {args.config} (the groups: {known})")
    period = Period(args.from_, args.to, tz)
    before = None if args.compare_from is None else Period(args.compare_from, args.compare_to,
                                                           tz)
    threshold = (config.groups[args.group].threshold
                 if config is not None and args.group is not None else goals.answered_within)

    async def read(p: Period, bar: Callable[[int], None] | None) -> Loaded:
        db = await _open(url)
        try:
            return await load(db, p, args.group, threshold=threshold, progress=bar)
        finally:
            await db.close()

    days = len(period.days()) + (len(before.days()) if before else 0)
    bar: Any = None
    if sys.stderr.isatty() and days > 7:
        from tqdm import tqdm

        bar = tqdm(total=days, unit="day", desc="reading the call log", leave=False)
    try:
        data = asyncio.run(read(period, bar.update if bar else None))
        old = asyncio.run(read(before, bar.update if bar else None)) if before else None
    finally:
        if bar is not None:
            bar.close()
    report = build(data, period, goals, args.group, baseline=args.baseline)
    earlier = build(old, before, goals, args.group) if old is not None and before else None
    if args.format == "html":
        out = html(report, earlier)
    elif args.format == "csv":
        out = csv(report)
    else:
        out = text(report) + ("" if earlier is None else "\n" + compare(earlier, report))
    if args.output is None:
        sys.stdout.write(out)
    else:
        args.output.write_text(out, encoding="utf-8")
        print(f"vaxel report: {args.output} ({report.total.calls} calls, {period})")
    return 0


async def write_events(url: str, events: Iterable[Event], epoch: Callable[[float], float],
                       run: str, batch: int = 5000) -> int:
    """Events written as the controller's writer writes them (the simulator's day), as the
    writer `run` (the same run written again is written once): the calls written."""
    from store.calllog import CallLog, Rows

    db = await _open(url)
    log, rows, calls = CallLog(run, epoch), Rows(), 0
    try:
        for i, event in enumerate(events, 1):
            log.add(event, rows)
            if i % batch == 0:
                calls += len(rows.tables.get("calls", ()))
                await db.write(rows)
                rows = Rows()
        rows.extend(log.open_rows())
        calls += len(rows.tables.get("calls", ()))
        await db.write(rows)
    finally:
        await db.close()
    return calls


def simulated_day(store: str, events: list[Event], day: dt.date, start: dt.time,
                  seed: int) -> str:
    """`vaxel simulate --store`: the day's events into the call log, the simulator's second 0
    at `start` on `day` in Swedish time. Its calls are named for the day and the seed (c1 of
    one simulated day is not c1 of another; the same day simulated again replaces itself).
    Returns what to tell the user."""
    try:
        url = database_url(store).render_as_string(hide_password=False)
    except StoreError as err:
        raise Refused(str(err)) from None
    tz = zoneinfo.ZoneInfo(DEFAULT_TIMEZONE)
    origin = dt.datetime.combine(day, start, tz).timestamp()
    run = f"sim{day:%Y%m%d}s{seed}"
    named = [dataclasses.replace(e, call_id=f"{run}-{e.call_id}")
             if isinstance(e, CallEvent | CallbackEvent) else e for e in events]
    calls = asyncio.run(write_events(url, named, lambda at: origin + at, run))
    last = dt.datetime.fromtimestamp(origin + max((e.at for e in events), default=0), tz)
    return (f"{calls} calls written to {store}; the report: vaxel report --store {store} "
            f"--from {day} --to {last.date()}")


@_command("export")
def cmd_export(args: argparse.Namespace) -> int:
    from store import schema
    from store.queue_log import export

    if args.to < args.from_:
        raise Refused(f"--to {args.to} is before --from {args.from_}")
    url, config = store_of(args.store, args.config)
    start, end = Period(args.from_, args.to, timezone_of(config)).bounds()
    groups = {aid: list(a.groups) for aid, a in config.agents.items()} if config else {}

    async def read() -> list[dict[str, Any]]:
        db = await _open(url)
        try:
            e = schema.events
            return await db.rows(e, e.c.at >= start, e.c.at < end, order=[e.c.id])
        finally:
            await db.close()

    lines = export(asyncio.run(read()), groups)
    if args.output is None:
        sys.stdout.write(lines)
    else:
        args.output.write_text(lines, encoding="utf-8")
        print(f"vaxel export: {args.output} ({lines.count(chr(10))} queue_log lines)")
    return 0


@_command("maintenance")
def cmd_maintenance(args: argparse.Namespace) -> int:
    from config.schema import Retention
    from store.retention import apply

    url, config = store_of(args.store, args.config)
    retention = config.store.retention if config is not None else Retention()
    key = _pseudonym_key(config)

    async def run() -> str:
        db = await _open(url)
        try:
            done = await apply(db, dt.datetime.now(dt.UTC).timestamp(),
                               retention.pseudonymise_after, retention.delete_after, key)
        finally:
            await db.close()
        return str(done)

    print(f"vaxel maintenance: {asyncio.run(run())}")
    return 0


def _pseudonym_key(config: IvrConfig | None) -> bytes | None:
    import os

    name = config.store.pseudonym_key_env if config is not None else None
    if name is None:
        return None
    if not os.environ.get(name):
        raise Refused(f"store: the pseudonyms' key is read from ${name}, which is not set")
    return os.environ[name].encode()
