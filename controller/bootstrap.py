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
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from config.describe import diff
from config.errors import ConfigError, Problem
from config.versions import ConfigHistory, Version
from controller.bus import Bus, Subscription, catch_up, consume
from controller.configuration import load_configuration
from controller.engine import Controller
from controller.events import Event
from controller.subscribers import CallJournal, Counters
from queues.lifecycle import CallPhase
from telephony.ami_link import AmiLink
from telephony.dialplan import DialplanSettings

log = logging.getLogger("vaxel")


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
    # the in-process subscribers (counters, journal, the tests'): they catch up before a read
    readable: tuple[tuple[Subscription, Callable[[Event], None]], ...] = ()

    def catch_up(self) -> None:
        for sub, handler in self.readable:
            catch_up(sub, handler)

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

    def reload(self, now: dt.datetime | None = None) -> tuple[Version, list[str]]:
        """Reads the folder again, checks it, and activates it if it differs: (the version
        active now, the changes in words). Raises ConfigError (file:line:column) and changes
        nothing when the folder has an error."""
        if self.folder is None:
            raise ConfigError([Problem("(none)", 0, 0,
                                       "this controller was not started from a folder")])
        moment = now or dt.datetime.now(dt.UTC)
        conf = load_configuration(self.folder, self.sounds, moment)
        ctl = self.controller
        changes = diff(self.history.active.config, conf.loaded.config)
        if conf.settings != ctl.settings:
            changes.append("telephony.yaml changed: devices apply now; numbers, lease and the "
                           "partner need `vaxel dialplan` and an Asterisk dialplan reload")
        if conf.loaded.checksum == self.history.active.checksum and not changes:
            return self.history.active, []
        version = self.history.activate(conf.loaded, moment)
        ctl.activate(version, conf.settings, tuple(changes))
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
                      ) -> AsyncIterator[Centre]:
    """The contact centre running until the block ends. `api` serves the HTTP API there
    (raises OSError if the address is taken); `subscribers` adds handlers to the bus."""
    from web.api import serve  # the web imports the bootstrap's Centre

    async with contextlib.AsyncExitStack() as stack:
        await link.start(wait=wait_for_link)
        stack.push_async_callback(link.close)
        tasks = await stack.enter_async_context(asyncio.TaskGroup())
        bus = Bus()
        counters, journal = Counters(), CallJournal()
        handlers: dict[str, Callable[[Any], None]] = {"counters": counters, "journal": journal,
                                                      **(subscribers or {})}
        subscriptions = {name: bus.subscribe(name) for name in handlers}
        for name, handler in handlers.items():
            task = tasks.create_task(consume(subscriptions[name], handler))
            stack.callback(task.cancel)
        ctl = Controller(history.active, settings, link, bus=bus, clock=clock,
                         wallclock=wallclock, time_scale=time_scale, prompt_exists=prompt_exists)
        ctl.start()
        stack.push_async_callback(ctl.stop)
        centre = Centre(ctl, history, counters, journal, folder, sounds, readable=tuple(
            (subscriptions[name], handler) for name, handler in handlers.items()))
        if api is not None:
            runner = await serve(centre, *api)
            stack.push_async_callback(runner.cleanup)
            centre.api_address = api
        yield centre
