"""The whole contact centre in one process, for tests: the fake PBX running the dialplan rendered
from Exempelkommun with its real prompts, the AMI link over TCP, the controller, agents' phones;
on a virtual clock (tests/virtual_clock.py), so minutes of ringing and music pass in milliseconds.

Every caller must hear something all the time (a prompt, music, ringback, a menu waiting for a
key, a conversation): on leaving, World fails the test if a caller's phone heard more than
MAX_SILENCE of nothing, unless the test says why it may (`w.silence_expected = "why"`).
"""

import asyncio
import datetime as dt
from pathlib import Path

from config.loader import load_folder
from config.versions import ConfigHistory
from controller.engine import Controller
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


class World:
    silence_expected: str | None = None  # why this test's callers may hear nothing a while

    async def __aenter__(self):
        settings = load_settings(EXAMPLE)
        history = ConfigHistory(load_folder(EXAMPLE), TUESDAY)
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
        self.link = AmiLink("127.0.0.1", await self.server.start(), "vaxel", "s")
        await self.link.start()
        self.ctl = Controller(history.active, settings, self.link, time_scale=SCALE,
                              clock=asyncio.get_running_loop().time, wallclock=lambda: TUESDAY,
                              prompt_exists=self.pbx.sounds.duration)
        self.ctl.start()
        return self

    def _note_caller(self, headers):
        h = dict(headers)
        if h.get("Event") == "Newchannel" and h.get("Context") == "vaxel-inbound":
            self.callers.append(h["Channel"])

    def silences(self) -> dict[str, float]:
        return {name: self.pbx.longest_silence(name) for name in self.callers}

    async def __aexit__(self, exc_type, *exc):
        await self.ctl.stop()
        await self.link.close()
        await self.server.stop()
        silences = self.silences()
        await self.pbx.close()
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


