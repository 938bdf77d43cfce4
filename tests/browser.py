"""The web in a real browser: Debian's chromium, headless, driven through its chromedriver by
Selenium (nothing downloads a browser), against the whole centre (tests/world.py) serving the
pages on 127.0.0.1. The centre runs on its own loop in a thread, on the real clock: a browser's
requests take real time, which a virtual clock would skip past.

axe-core (tests/browser/node_modules, from npm) is run in the page: WCAG 2.1 A and AA.
Screenshots go to test-artifacts/screenshots (not committed).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import os
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from aiohttp import web

from web.app import make_app

from .world import World

T = TypeVar("T")
ROOT = Path(__file__).resolve().parent.parent
AXE = ROOT / "tests" / "browser" / "node_modules" / "axe-core" / "axe.min.js"
SHOTS = ROOT / "test-artifacts" / "screenshots"
CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
WCAG_21_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]


def need_browser() -> None:
    """Skips where no chromium is installed, except in CI: there its absence is a failure."""
    missing = [p for p in (CHROMIUM, CHROMEDRIVER, str(AXE)) if not Path(p).exists()]
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"the browser tests need {', '.join(missing)} (make setup installs them)")
        pytest.skip(f"no {', '.join(missing)}: `make setup` installs them")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LiveCentre:
    """World on a real-time loop in a thread, its web app on http://127.0.0.1:<port>."""

    def __init__(self, folder: Path, store: str | None = None) -> None:
        self.folder, self.store = folder, store
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._error: BaseException | None = None
        self.world: World | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as err:  # seen by the test thread
            self._error = err
            self._ready.set()

    async def _main(self) -> None:
        self.loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        async with World(self.folder, store=self.store) as w:
            w.silence_expected = "a browser test's callers wait on the agent's clicks"
            self.world = w
            runner = web.AppRunner(make_app(w.centre), access_log=None)
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", self.port).start()
            self._ready.set()
            try:
                await self._stop.wait()
            finally:
                await runner.cleanup()

    def __enter__(self) -> LiveCentre:
        self._thread.start()
        self._ready.wait(60)
        if self._error is not None:
            raise self._error
        return self

    def __exit__(self, *exc: object) -> None:
        if self.loop is not None and self._stop is not None:
            self.loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(60)
        if self._error is not None and exc[0] is None:
            raise self._error

    def do(self, fn: Callable[[World], T]) -> T:
        """Runs `fn(world)` on the centre's loop and returns what it returns."""
        assert self.loop is not None and self.world is not None
        world = self.world

        async def call() -> T:
            return fn(world)

        future: concurrent.futures.Future[T] = asyncio.run_coroutine_threadsafe(call(),
                                                                                self.loop)
        return future.result(30)

    def until(self, predicate: Callable[[World], bool], seconds: float = 30.0) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.do(predicate):
                return
            time.sleep(0.1)
        raise AssertionError("timed out waiting")


@contextlib.contextmanager
def chromium(width: int = 1280, height: int = 800) -> Iterator[Any]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="vaxel-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
                 f"--user-data-dir={profile}", f"--window-size={width},{height}",
                 "--lang=sv-SE"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_script_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def axe(driver: Any) -> list[dict[str, Any]]:
    """axe-core's WCAG 2.1 A and AA violations on the page as it is now."""
    driver.execute_script(AXE.read_text(encoding="utf-8"))
    result = driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "axe.run(document, {runOnly: {type: 'tag', values: arguments[0]}})"
        ".then(r => done(r.violations)).catch(e => done([{id: 'axe failed', help: String(e),"
        " nodes: []}]));", WCAG_21_AA)
    return list(result)


def violations_text(found: list[dict[str, Any]]) -> str:
    return "\n".join(f"{v['id']}: {v['help']} at "
                     + ", ".join(str(n.get("target")) for n in v.get("nodes", [])[:3])
                     for v in found)


def screenshot(driver: Any, name: str) -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    driver.save_screenshot(str(path))
    return path
