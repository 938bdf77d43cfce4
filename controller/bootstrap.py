"""One bootstrap: the AMI link, the controller, the bus's subscribers and the API, started and torn
down in one place (an AsyncExitStack and a TaskGroup). `vaxel run`, `vaxel demo`, the benches
and the tests all open the contact centre here, so they run the same thing.

Teardown is the start in reverse: the API stops taking requests, the controller stops (callers in
AGI keep their lease, so a controller started within it adopts them), the subscribers are
cancelled, the link closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from config.describe import diff
from config.errors import ConfigError, Problem
from config.schema import Events, Retention
from config.schema import Store as StoreConfig
from config.versions import ConfigHistory, Version, folder_files, keep_files
from controller.bus import Bus
from controller.configuration import Configuration, load_configuration
from controller.engine import Controller
from controller.events import Event
from controller.subscribers import CallJournal, Changes, Counters
from integrations.mqtt import MqttPublisher, MqttTarget, group_lines
from integrations.webhook import Spool, WebhookSender, WebhookTarget
from queues.lifecycle import CallPhase
from store.database import HEAD, Database, database_url
from store.spool import Spool as StoreSpool
from store.writer import StoreWriter
from telephony.ami_link import AmiLink
from telephony.dialplan import DialplanSettings

log = logging.getLogger("vaxel")


class Integration(Protocol):
    """A publisher to the outside (MQTT, a webhook): a subscriber with a loop of its own."""

    async def run(self) -> None: ...
    def stop(self) -> None: ...
    def statistics(self) -> dict[str, Any]: ...


class MissingSecret(Exception):
    """A secret the configuration names is not in the environment."""


def state_folder() -> Path:
    """Where vaxel keeps what must survive a restart (the webhooks' spools)."""
    return Path(os.environ.get("VAXEL_STATE_DIR") or Path.home() / ".local/state/vaxel")


def integrations(events: Events, bus: Bus, groups: Callable[[], dict[str, dict[str, Any]]],
                 state: Path, environ: Mapping[str, str] = os.environ
                 ) -> dict[str, Integration]:
    """The publishers the configuration asks for (none without an `events:` section). Raises
    MissingSecret naming the variable when a password or secret is not set."""
    def secret(name: str | None, what: str) -> str | None:
        if name is None:
            return None
        if not environ.get(name):
            raise MissingSecret(f"events: {what} is read from ${name}, which is not set")
        return environ[name]

    key_text = secret(events.pseudonym_key_env, "the pseudonyms' key")
    key = key_text.encode() if key_text else os.urandom(32)
    out: dict[str, Integration] = {}
    if (m := events.mqtt) is not None:
        target = MqttTarget(m.host, m.port, events.site, m.username,
                            secret(m.password_env, "the MQTT password"), m.callers, key)
        out["mqtt"] = MqttPublisher(target, bus.subscribe("mqtt", limit=m.buffer), groups)
    for hook in events.webhooks:
        hook_secret = secret(hook.secret_env, f"webhook {hook.name}'s secret") or ""
        target_w = WebhookTarget(hook.name, hook.url, hook_secret.encode(), events.site,
                                 hook.callers, key, hook.timeout, hook.keep)
        out[f"webhook {hook.name}"] = WebhookSender(
            target_w, bus.subscribe(f"webhook {hook.name}"),
            Spool(state / f"webhook-{hook.name}.sqlite"))
    return out


FROM_CONFIG = "from the configuration"  # open_centre(store=...): the store: section's


def store_url(config: StoreConfig, state: Path, environ: Mapping[str, str] = os.environ) -> str:
    """The call log's database as the configuration names it (the password from its variable),
    or the SQLite file in the state folder. Raises MissingSecret, StoreError."""
    if config.url is None:
        return f"sqlite:///{state / 'vaxel.sqlite'}"
    password = None
    if config.password_env is not None:
        password = environ.get(config.password_env)
        if not password:
            raise MissingSecret(f"store: the database password is read from "
                                f"${config.password_env}, which is not set")
    return database_url(config.url, password).render_as_string(hide_password=False)


def store_writer(url: str, bus: Bus, state: Path, epoch: Callable[[float], float] = float,
                 timeout: float = 10.0) -> StoreWriter:
    where = database_url(url).render_as_string()  # a bad URL is refused before anything starts
    return StoreWriter(lambda: Database.open(url), bus.subscribe("store", limit=STORE_BUFFER),
                       StoreSpool(state / "store-spool.sqlite"), epoch=epoch, timeout=timeout,
                       where=where)


STORE_BUFFER = 200_000  # events the call log holds in memory before the spool takes them


@dataclass
class Centre:
    """The running contact centre, as its parts see it."""

    controller: Controller
    history: ConfigHistory
    counters: Counters
    journal: CallJournal
    folder: Path | None = None  # where `vaxel reload` reads the configuration
    sounds: Path | None = None
    api_address: tuple[str, int] | None = None
    integrations: dict[str, Integration] = field(default_factory=dict)
    store: StoreWriter | None = None
    store_url: str | None = None  # the call log's database, for what the web pages read
    state: Path | None = None  # what survives a restart (spools, the versions' files)
    changes: Changes = field(default_factory=Changes)  # wakes the live pages
    _reloading: asyncio.Lock = field(default_factory=asyncio.Lock)

    @property
    def kept_versions(self) -> Path | None:
        """Where each activated version's files are kept, for a rollback to it."""
        return None if self.state is None else self.state / "config-versions"

    def keep_version(self, version: Version) -> None:
        if self.folder is None or self.kept_versions is None:
            return
        try:
            keep_files(folder_files(self.folder), version.checksum, self.kept_versions)
        except OSError as err:  # a full disk costs the rollback to it, not the activation
            log.warning("version %d's files not kept for a rollback: %s", version.number, err)

    def catch_up(self) -> None:
        """The in-process subscribers (counters, journal, the tests') fed what is queued: their
        state current before a read."""
        self.bus.catch_up()

    @property
    def bus(self) -> Bus:
        return self.controller.bus

    def statistics(self) -> dict[str, int]:
        """Counts since start (the demo's summary, `vaxel status`, the benches)."""
        self.catch_up()
        ctl = self.controller
        waiting = sum(1 for c in ctl.router.calls.values() if c.phase is CallPhase.WAITING)
        return {**self.counters.counts, "waiting": waiting, "in_menus": ctl.in_menus(),
                "orphans": ctl.orphans}

    async def reload(self, now: dt.datetime | None = None) -> tuple[Version, list[str]]:
        """Reads the folder again, checks it, and activates it if it differs: (the version
        active now, the changes in words). Raises ConfigError (file:line:column) and changes
        nothing when the folder has an error. The reading and checking (tens of ms for the
        example) run in a thread, so the loop keeps serving the calls meanwhile; the
        activation is one step on the loop."""
        if self.folder is None:
            raise ConfigError([Problem("(none)", 0, 0,
                                       "this controller was not started from a folder")])
        moment = now or dt.datetime.now(dt.UTC)
        async with self._reloading:  # one at a time: each diffs against the one before
            conf = await asyncio.to_thread(load_configuration, self.folder, self.sounds, moment)
            return self._activate(conf, moment)

    def _activate(self, conf: Configuration, moment: dt.datetime) -> tuple[Version, list[str]]:
        ctl = self.controller
        changes = diff(self.history.active.config, conf.loaded.config)
        if conf.loaded.config.events != self.history.active.config.events:
            changes.append("events: the publishers (MQTT, webhooks) change at the next start")
        if conf.settings != ctl.settings:
            changes.append("telephony.yaml changed: devices apply now; numbers, lease and the "
                           "partner need `vaxel dialplan` and an Asterisk dialplan reload")
        if conf.loaded.checksum == self.history.active.checksum and not changes:
            return self.history.active, []
        version = self.history.activate(conf.loaded, moment)
        ctl.activate(version, conf.settings, tuple(changes))
        self.keep_version(version)
        log.info("configuration version %d (%s) active: %s", version.number, version.checksum,
                 "; ".join(changes) or "no change in words")
        return version, changes


@contextlib.asynccontextmanager
async def open_centre(history: ConfigHistory, settings: DialplanSettings, link: AmiLink, *,
                      folder: Path | None = None, sounds: Path | None = None,
                      api: tuple[str, int] | None = None, wait_for_link: bool = True,
                      clock: Callable[[], float] | None = None,
                      wallclock: Callable[[], dt.datetime] | None = None,
                      time_scale: float = 1.0,
                      prompt_exists: Callable[[str], bool] | None = None,
                      subscribers: dict[str, Callable[[Event], None]] | None = None,
                      state: Path | None = None, environ: Mapping[str, str] = os.environ,
                      store: str | None = FROM_CONFIG,
                      store_epoch: Callable[[float], float] = float,
                      store_timeout: float = 10.0,
                      ) -> AsyncIterator[Centre]:
    """The contact centre running until the block ends. `api` serves the HTTP API there
    (raises OSError if the address is taken); `subscribers` adds handlers to the bus; the
    configuration's `events:` section starts MQTT and the webhooks (secrets from `environ`,
    spools under `state`; raises MissingSecret before anything starts). The call log goes to
    `store` (a URL; by default the configuration's `store:`; None: no call log), its times
    through `store_epoch` (the controller's clock to seconds since the epoch)."""
    from web.app import serve  # the web imports the bootstrap's Centre

    error: BaseException | None = None
    async with contextlib.AsyncExitStack() as stack:
        bus = Bus()
        goals = history.active.config.goals  # the live KPIs count as the reports do
        counters, journal = Counters(goals.answered_within, goals.short_abandon), CallJournal()
        changes = Changes()
        handlers: dict[str, Callable[[Any], None]] = {"counters": counters, "journal": journal,
                                                      "web": changes, **(subscribers or {})}
        for name, handler in handlers.items():
            bus.attach(name, handler)
        ctl = Controller(history.active, settings, link, bus=bus, clock=clock,
                         wallclock=wallclock, time_scale=time_scale, prompt_exists=prompt_exists)
        # what can be refused is refused before anything runs (MissingSecret, OSError)
        state = state or state_folder()
        outside = integrations(history.active.config.events, bus,
                               group_lines(ctl.router.statistics), state, environ)
        if store == FROM_CONFIG:
            store = store_url(history.active.config.store, state, environ)
        writer = None if store is None else store_writer(store, bus, state, store_epoch,
                                                         store_timeout)
        store_config = history.active.config.store
        key_name = store_config.pseudonym_key_env
        if writer is not None and key_name is not None and not environ.get(key_name):
            raise MissingSecret(f"store: the pseudonyms' key is read from ${key_name}, which "
                                "is not set")
        centre = Centre(ctl, history, counters, journal, folder, sounds,
                        integrations=outside, store=writer, store_url=store, changes=changes,
                        state=state)
        centre.keep_version(history.active)
        runner = await serve(centre, *api) if api is not None else None
        stop_api = _once(runner.cleanup if runner is not None else None)
        stack.push_async_callback(stop_api)  # should what follows fail
        centre.api_address = api
        await link.start(wait=wait_for_link)
        stack.push_async_callback(link.close)
        # the background tasks; none of them raises (each is supervised), so the group never
        # cancels the calls for a subscriber's or a publisher's fault
        tasks = await stack.enter_async_context(asyncio.TaskGroup())
        stack.callback(bus.close)
        loops: dict[str, Integration] = {**outside, **({"store": writer} if writer else {})}
        for name, publisher in loops.items():  # stopped after the controller: the last go
            running = tasks.create_task(_supervised(name, publisher))
            stack.push_async_callback(_finish, publisher, running,
                                      60.0 if publisher is writer else 5.0)
        if store is not None:
            key = environ[key_name].encode() if key_name else None
            nightly = tasks.create_task(_nightly(ctl, store, store_config.retention, key,
                                                 store_epoch))
            stack.callback(nightly.cancel)
        midnight = tasks.create_task(_midnight(ctl, counters))
        stack.callback(midnight.cancel)
        ctl.start()
        stack.push_async_callback(ctl.stop)
        if writer is not None and store is not None:  # the requests a previous run left
            ctl.desk.awaiting_restore()
            restoring = tasks.create_task(_restore_callbacks(ctl, writer, store,
                                                             store_epoch(0.0), store_timeout))
            stack.callback(restoring.cancel)
        stack.push_async_callback(stop_api)  # the first to stop: no request meets a stopped one
        try:
            yield centre
        except BaseException as err:  # the caller's: raised again, unwrapped, after teardown
            error = err
    if error is not None:
        raise error


CALLBACK_TIMES = ("requested_at", "arrival", "due", "reached_at", "ended_at")
RESTORE_RETRY = 30.0  # seconds between reads of a call log that is away at start


async def _restore_callbacks(ctl: Controller, writer: StoreWriter, url: str, offset: float,
                             timeout: float, retry: float = RESTORE_RETRY) -> None:
    """The pending callback requests in the call log, their times in the controller's clock
    (`offset`: the epoch's seconds at its zero), handed to the callback desk, which takes them
    up at the next resync. Read once the writer's spool is in the database (a request may wait
    there), and tried again every `retry` seconds while the database is away. The writer
    brings a schema up to date, not this: a store that is not (new, or older) has nothing
    pending."""
    from store.lookup import pending_callbacks

    told = False
    while True:
        if writer.caught_up:
            try:
                db = await asyncio.wait_for(Database.open(url, migrate=False), timeout)
                try:
                    rows = [] if db.revision != HEAD else await asyncio.wait_for(
                        pending_callbacks(db), timeout)
                finally:
                    await db.close()
                break
            except Exception as err:  # StoreError, SQLAlchemy's, a driver's, a time-out
                if not told:
                    log.error("the pending callbacks could not be read from the call log "
                              "(%s); tried again every %.0f s", err, retry)
                told = True
        await asyncio.sleep(retry)
    if told:
        log.info("the call log answers: its pending callbacks are read")
    for row in rows:
        for column in CALLBACK_TIMES:
            if row[column] is not None:
                row[column] -= offset
    if rows:
        log.info("%d callback requests pending from before the start", len(rows))
    ctl.desk.restore(rows)
    if rows and ctl.link.connected:
        ctl.resync()


NIGHTLY = dt.time(3, 0)  # the centre's clock: the quietest hour


async def _nightly(ctl: Controller, url: str, retention: Retention, key: bytes | None,
                   epoch: Callable[[float], float]) -> None:
    """The call log's retention (store/retention.py), once a night; a database away then is
    tried again in an hour."""
    from store.retention import apply

    pause: float | None = None
    while True:
        now = ctl.wallclock()
        if pause is None:
            nxt = dt.datetime.combine(now.date(), NIGHTLY)
            if nxt <= now:
                nxt += dt.timedelta(days=1)
            pause = (nxt - now).total_seconds()
        await asyncio.sleep(pause * ctl.time_scale)
        try:
            db = await Database.open(url)
            try:
                done = await apply(db, epoch(ctl.now()), retention.pseudonymise_after,
                                   retention.delete_after, key)
            finally:
                await db.close()
            log.info("call log retention: %s", done)
            pause = None
        except Exception as err:  # the database's: the calls are not affected
            log.warning("call log retention not applied (%s); trying again in an hour", err)
            pause = 3600.0


async def _midnight(ctl: Controller, counters: Counters) -> None:
    """The live "today" figures start again at midnight on the centre's clock."""
    while True:
        now = ctl.wallclock()
        nxt = dt.datetime.combine(now.date() + dt.timedelta(days=1), dt.time(0, 0))
        await asyncio.sleep(max((nxt - now).total_seconds(), 1.0) * ctl.time_scale)
        counters.new_day()


def _once(close: Callable[[], Awaitable[None]] | None) -> Callable[[], Awaitable[None]]:
    done = False

    async def closer() -> None:
        nonlocal done
        if close is not None and not done:
            done = True
            await close()
    return closer


async def _supervised(name: str, publisher: Integration, pause: float = 5.0) -> None:
    """A publisher's loop, started again after a bug in it (logged), until it returns."""
    while True:
        try:
            await publisher.run()
            return
        except Exception:
            log.exception("%s failed; starting it again in %.0f s (events wait)", name, pause)
            await asyncio.sleep(pause)


async def _finish(publisher: Integration, running: asyncio.Task[None],
                  timeout: float = 5.0) -> None:
    """A publisher's clean stop: what is queued goes out (or to its spool) within `timeout`."""
    publisher.stop()
    done, _ = await asyncio.wait([running], timeout=timeout)
    if not done:
        running.cancel()
