"""The whole contact centre in one process, for tests: the fake PBX running the dialplan rendered
from Exempelkommun with its real prompts, the AMI link over TCP, the controller, agents' phones;
on a virtual clock (tests/virtual_clock.py), so minutes of ringing and music pass in milliseconds.

Every caller must hear something all the time (a prompt, music, ringback, a menu waiting for a
key, a conversation): on leaving, World fails the test if a caller's phone heard more than
MAX_SILENCE of nothing, unless the test says why it may (`w.silence_expected = "why"`).
"""

import asyncio
import contextlib
import datetime as dt
import shutil
import tempfile
from pathlib import Path

from config.loader import load_folder
from config.versions import ConfigHistory
from controller import events as ev
from controller.bootstrap import open_centre
from telephony.ami_link import AmiLink
from telephony.dialplan import load_settings, render_extensions, render_manager
from telephony.fakepbx import AmiServer, AmiUser, Dialplan, FakePbx
from telephony.fakepbx.actors import Phone

from . import virtual_clock

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "config" / "exempelkommun"
SCALE = 1.0  # PBX seconds per loop second: the loop's clock is virtual
TUESDAY = dt.datetime(2026, 11, 24, 10, 0)


MAX_SILENCE = 1.0  # seconds


def config_copy(tmp_path, *replacements, append=""):
    """Exempelkommun with some lines of vaxel.yaml changed (each: old text, new text), and
    `append` added at its end."""
    folder = tmp_path / "kommun"
    shutil.copytree(EXAMPLE, folder)
    path = folder / "vaxel.yaml"
    text = path.read_text()
    for old, new in replacements:
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    path.write_text(text + append)
    return folder


def vaxeln_threshold_line(folder: Path = EXAMPLE) -> int:
    """The line of växeln's `threshold:` in vaxel.yaml, where the tests break the
    configuration on purpose (the first threshold of the file)."""
    lines = (folder / "vaxel.yaml").read_text().splitlines()
    return next(i for i, line in enumerate(lines, 1) if line.strip().startswith("threshold:"))


class World:
    """`folder` is the configuration (default Exempelkommun); `start` the wall-clock moment the
    world begins, which moves on with the loop's (virtual) clock."""

    silence_expected: str | None = None  # why this test's callers may hear nothing a while

    def __init__(self, folder: Path = EXAMPLE, start: dt.datetime = TUESDAY,
                 environ: dict[str, str] | None = None, store: str | None = None) -> None:
        self.folder = folder
        self.store = store  # the call log's database URL: none unless a test asks
        self.start = start
        self.environ = environ or {}  # the secrets the configuration's events: section names
        self.state = Path(tempfile.mkdtemp(prefix="vaxel-state-"))
        self._events: list[ev.Event] = []  # every domain event, in the order published
        self._running = False

    @property
    def events(self) -> list[ev.Event]:
        if self._running:
            self.centre.catch_up()
        return self._events

    def wallclock(self) -> dt.datetime:
        return self.start + dt.timedelta(seconds=asyncio.get_running_loop().time() - self._t0)

    def epoch(self, at: float) -> float:
        """The controller's clock (the loop's) in seconds since the epoch."""
        return self.start.timestamp() + at - self._t0

    def events_of(self, call_id: str) -> list[ev.CallEvent]:
        return [e for e in self.events if isinstance(e, ev.CallEvent) and e.call_id == call_id]

    def story(self, call_id: str) -> list[ev.CallEvent]:
        """A call's events in order, without IvrStep and Announced (how many of those there
        are depends on the menus' and the announcements' timing)."""
        return [e for e in self.events_of(call_id)
                if not isinstance(e, ev.IvrStep | ev.Announced)]

    def kinds(self, call_id: str) -> list[str]:
        """The names of a call's story's events."""
        return [type(e).__name__ for e in self.story(call_id)]

    async def __aenter__(self):
        self._t0 = asyncio.get_running_loop().time()
        settings = load_settings(self.folder)
        history = ConfigHistory(load_folder(self.folder), self.start)
        languages = history.active.config.languages()
        self.pbx = FakePbx(Dialplan.parse(render_extensions(settings, languages=languages)),
                           time_scale=SCALE)
        self.callers: list[str] = []  # every citizen's channel, for the silence check
        self.pbx.listeners.append(self._note_caller)
        self.pbx.sounds.add_dir(ROOT / "sounds")
        self.phones = {a: Phone(a, answer_after=1.0, talk=5.0) for a in ("anna", "bo",
                                                                          "cecilia")}
        for phone in self.phones.values():
            phone.register(self.pbx)
        # the AMI user exactly as manager_vaxel.conf defines it: classes and event filters
        user = AmiUser.from_conf(render_manager(settings, "s"), settings.ami.username)
        self.server = AmiServer(self.pbx, {"vaxel": user})
        self._port = await self.server.start()
        await self.start_controller(history, settings)
        return self

    def operator_trunk(self, *script, after=1.0, talk=4.0) -> Phone:
        """The operator's trunk (Exempelkommun's telephony.yaml `outbound.trunk`): every number
        called out (callbacks, transfers) answers through it, as `script` and `after` say."""
        phone = Phone("operator-trunk", answer_after=after, talk=talk, script=list(script))
        phone.register(self.pbx)
        return phone

    async def start_controller(self, history=None, settings=None):
        """The controller (link, bus, subscribers: the bootstrap), as `vaxel run` starts it;
        again after stop_controller() or kill() it is a restarted controller."""
        history = history or ConfigHistory(load_folder(self.folder), self.start)
        settings = settings or load_settings(self.folder)
        self.link = AmiLink("127.0.0.1", self._port, "vaxel", "s")
        self._stack = contextlib.AsyncExitStack()
        self.centre = await self._stack.enter_async_context(open_centre(
            history, settings, self.link, folder=self.folder, time_scale=SCALE,
            clock=asyncio.get_running_loop().time, wallclock=self.wallclock,
            prompt_exists=self.pbx.sounds.duration,
            subscribers={"test": self._events.append}, state=self.state,
            environ=self.environ, store=self.store, store_epoch=self.epoch,
            # the clock stands still while the database works (virtual_clock.py); no write is
            # timed out here: a loaded machine's slow database is not these tests' subject
            store_timeout=3600.0))
        self.ctl = self.centre.controller
        self._running = True

    async def stop_controller(self):
        self.centre.catch_up()
        self._running = False
        await self._stack.aclose()

    async def kill(self):
        """The controller process dies: its AMI connection drops, its tasks stop."""
        self.centre.catch_up()
        self._running = False
        self.link.abort()
        await self._stack.aclose()

    def statistics(self) -> dict[str, int]:
        return self.centre.statistics()

    def _note_caller(self, headers):
        """Citizens: who dials in, and who is called back (their leg once in the callback's
        context, after their answer)."""
        h = dict(headers)
        dialled_in = h.get("Event") == "Newchannel" and h.get("Context") == "vaxel-inbound"
        called_back = h.get("Event") == "Newexten" and h.get("Context") == "vaxel-callback"
        if dialled_in or (called_back and h["Channel"] not in self.callers):
            self.callers.append(h["Channel"])

    def silences(self) -> dict[str, float]:
        return {name: self.pbx.longest_silence(name) for name in self.callers}

    async def __aexit__(self, exc_type, *exc):
        if self._running:
            await self.stop_controller()
        await self.server.stop()
        silences = self.silences()
        await self.pbx.close()
        shutil.rmtree(self.state, ignore_errors=True)
        if exc_type is None and self.silence_expected is None:
            loud = {n: round(s, 2) for n, s in silences.items() if s > MAX_SILENCE}
            assert not loud, f"callers heard nothing for longer than {MAX_SILENCE} s: {loud}"

    async def until(self, predicate, seconds=120):
        """Waits up to `seconds` of PBX time for a condition."""
        for _ in range(int(seconds / 0.25)):
            if predicate():
                return
            await asyncio.sleep(0.25 * SCALE)
        raise AssertionError("timed out waiting")


def run(coro):
    return virtual_clock.run(asyncio.wait_for(coro, 3600))


