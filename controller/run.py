"""`vaxel run`: the controller against a real Asterisk (or any AMI on the configured address).

The AMI address and user come from telephony.yaml, the secret from $VAXEL_AMI_SECRET only (it is
never logged). The link keeps trying if Asterisk is not up yet. SIGHUP (or `vaxel reload`)
reads the folder again and activates it if it checks; an error changes nothing. On SIGINT or
SIGTERM the controller stops taking calls and leaves: callers in AsyncAGI keep their lease, so a
controller started within it adopts them again in their places, else they reach the fallback.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import os
import signal
from collections.abc import Callable
from pathlib import Path

from config.errors import ConfigError
from config.versions import ConfigHistory
from controller.bootstrap import Centre, MissingSecret, open_centre
from controller.configuration import load_configuration
from store.database import StoreError
from telephony.ami_link import AmiLink

log = logging.getLogger("vaxel")


async def run_controller(config_dir: Path, api_host: str, api_port: int,
                         ami_port: int | None = None, sounds: Path | None = None,
                         stop: asyncio.Event | None = None,
                         wallclock: Callable[[], dt.datetime] | None = None) -> int:
    try:
        now = dt.datetime.now(dt.UTC) if wallclock is None else wallclock()
        conf = load_configuration(config_dir, sounds, now)
    except ConfigError as err:
        log.error("the configuration in %s was not accepted:\n%s", config_dir, err)
        return 1
    for warning in conf.warnings:
        log.warning("%s", warning)
    settings = conf.settings
    secret = os.environ.get("VAXEL_AMI_SECRET", "")
    if not secret:
        log.error("set the AMI secret in VAXEL_AMI_SECRET")
        return 2
    history = ConfigHistory(conf.loaded, dt.datetime.now())
    port = ami_port or settings.ami.port
    link = AmiLink(settings.ami.host, port, settings.ami.username, secret)
    log.info("vaxel %s: configuration version %s, AMI %s@%s:%d", config_dir,
             history.active.checksum, settings.ami.username, settings.ami.host, port)
    try:
        async with open_centre(history, settings, link, folder=config_dir, sounds=sounds,
                               api=(api_host, api_port), wait_for_link=False,
                               wallclock=wallclock) as centre:
            log.info("opening hours follow %s: it is %s there", conf.loaded.config.timezone,
                     f"{centre.controller.wallclock():%Y-%m-%d %H:%M}")
            log.info("the web pages and the API on http://%s:%d/", api_host, api_port)
            if not centre.history.active.config.users:
                log.warning("no users: the web pages and the API let nobody in; make one "
                            "with `vaxel user NAME --role admin` into the folder's users.yaml")
            if centre.store is not None:
                log.info("call log: %s", centre.store.where)
            stop = stop or asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                # outside the main thread (tests) there are no signals: the caller sets `stop`
                with contextlib.suppress(NotImplementedError, RuntimeError):
                    loop.add_signal_handler(sig, stop.set)
            reloads: set[asyncio.Task[None]] = set()  # held: the loop keeps only weak ones

            def on_sighup() -> None:
                task = loop.create_task(_reload(centre))
                reloads.add(task)
                task.add_done_callback(reloads.discard)

            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(signal.SIGHUP, on_sighup)
            await stop.wait()
            log.info("stopping: %d calls keep their lease", len(centre.controller.calls))
    except OSError as err:
        log.error("cannot serve the API on %s:%d: %s", api_host, api_port, err.strerror)
        return 2
    except (MissingSecret, StoreError) as err:
        log.error("%s", err)
        return 2
    return 0


async def _reload(centre: Centre) -> None:
    """SIGHUP: the folder again; an error is logged and changes nothing."""
    try:
        version, changes = await centre.reload()
        centre.controller.audit("sighup", "reload", f"version {version.number} "
                                f"({version.checksum}): " + ("; ".join(changes) or "no change"),
                                "signal")
    except ConfigError as err:
        log.error("reload refused; the running configuration stays active:\n%s", err)
