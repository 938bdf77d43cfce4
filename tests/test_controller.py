"""Whole calls through the controller, the link and the fake PBX running the rendered dialplan,
on a compressed clock: Exempelkommun with its real prompts."""

import asyncio
import datetime as dt
from pathlib import Path

from agents import AgentState
from config.loader import load_folder
from config.versions import ConfigHistory
from controller.engine import Controller
from telephony.ami_link import AmiLink
from telephony.dialplan import load_settings, render_extensions
from telephony.fakepbx import AmiServer, AmiUser, Dialplan, FakePbx
from telephony.fakepbx.actors import Caller, Phone

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "config" / "exempelkommun"
SCALE = 0.02
TUESDAY = dt.datetime(2026, 11, 24, 10, 0)


class World:
    async def __aenter__(self):
        settings = load_settings(EXAMPLE)
        self.pbx = FakePbx(Dialplan.parse(render_extensions(settings)), time_scale=SCALE)
        self.pbx.sounds.add_dir(ROOT / "sounds")
        self.phones = {a: Phone(a, answer_after=1.0, talk=5.0) for a in ("anna", "bo",
                                                                          "cecilia")}
        for phone in self.phones.values():
            phone.register(self.pbx)
        self.server = AmiServer(self.pbx, {"vaxel": AmiUser("s")})
        self.link = AmiLink("127.0.0.1", await self.server.start(), "vaxel", "s")
        await self.link.start()
        history = ConfigHistory(load_folder(EXAMPLE), TUESDAY)
        self.ctl = Controller(history.active, settings, self.link, time_scale=SCALE,
                              wallclock=lambda: TUESDAY, prompt_exists=self.pbx.sounds.duration)
        self.ctl.start()
        return self

    async def __aexit__(self, *exc):
        await self.ctl.stop()
        await self.link.close()
        await self.server.stop()
        await self.pbx.close()

    async def until(self, predicate, seconds=120):
        """Waits up to `seconds` of PBX time for a condition."""
        for _ in range(int(seconds / 0.25)):
            if predicate():
                return
            await asyncio.sleep(0.25 * SCALE)
        raise AssertionError("timed out waiting")


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 60))


def test_the_happy_path_ivr_queue_agent_wrap_up():
    async def main():
        async with World() as w:
            w.ctl.agent_login("anna")
            caller = Caller("2001", "0701112233", keys=((3.0, "1"),))
            ch = caller.dial(w.pbx)
            await w.until(lambda: ch.name in w.ctl.calls)
            state = w.ctl.calls[ch.name]
            await w.until(lambda: ch.hungup)
            assert state.events[:1] == ["ivr group barn-och-utbildning keys=1"]
            assert "connected to anna" in state.events and "agent hung up" in state.events
            assert w.phones["anna"].calls == 1
            anna = w.ctl.router.agents["anna"]
            assert anna.state is AgentState.WRAP_UP  # 30 s of after-call work
            await w.until(lambda: anna.state is AgentState.READY, seconds=40)
            assert not w.ctl.router.calls
    run(main())


def test_a_caller_waits_with_music_until_an_agent_logs_in():
    async def main():
        async with World() as w:
            caller = Caller("2001", "0701112233", keys=((3.0, "0"),))  # växeln
            ch = caller.dial(w.pbx)
            await w.until(lambda: ch.moh_class is not None)
            call_id = w.ctl.calls[ch.name].call_id
            assert w.ctl.router.position(call_id) == 1
            w.ctl.agent_login("anna")
            await w.until(lambda: ch.bridge is not None)
            assert ch.moh_class is None  # the bridge stopped the music
    run(main())


def test_crisis_overflow_to_the_partner_who_answers():
    async def main():
        async with World() as w:
            trunk = Phone("partner-trunk", answer_after=1.0, talk=3.0)
            trunk.register(w.pbx)
            ch = Caller("2001", "0701112233", keys=((3.0, "0"),)).dial(w.pbx)
            await w.until(lambda: ch.moh_class is not None)
            state = w.ctl.calls[ch.name]
            w.ctl.set_crisis(True)
            await w.until(lambda: ch.hungup)
            assert state.events[1:] == ["to partner: crisis mode", "partner ANSWER",
                                        "caller hung up"]
            assert trunk.calls == 1 and not w.ctl.router.calls
            assert w.ctl.router.partner.active == set()
    run(main())


def test_a_busy_partner_sends_the_caller_back_to_their_place():
    async def main():
        async with World() as w:
            trunk = Phone("partner-trunk", busy=True)
            trunk.register(w.pbx)
            first = Caller("2001", "0701112233", keys=((3.0, "0"),)).dial(w.pbx)
            await w.until(lambda: first.moh_class is not None)
            second = Caller("2002", "0701112244", keys=((3.0, "0"),)).dial(w.pbx)
            await w.until(lambda: second.moh_class is not None)
            state = w.ctl.calls[first.name]
            w.ctl.set_crisis(True)
            await w.until(lambda: "partner BUSY" in state.events)
            w.ctl.set_crisis(False)
            await w.until(lambda: first.moh_class is not None)  # waiting again
            assert w.ctl.router.position(state.call_id) == 1  # ahead of the second caller
            w.ctl.agent_login("anna")
            await w.until(lambda: first.bridge is not None)
    run(main())


def test_a_caller_who_hangs_up_mid_conversation_ends_it_once():
    async def main():
        async with World() as w:
            w.phones["anna"].talk = None  # anna would talk for ever
            w.ctl.agent_login("anna")
            caller = Caller("2001", "0701112233", keys=((3.0, "1"),), hangup_after=20.0)
            ch = caller.dial(w.pbx)
            await w.until(lambda: ch.hungup)
            anna = w.ctl.router.agents["anna"]
            await w.until(lambda: anna.state is AgentState.WRAP_UP)
            await asyncio.sleep(2 * SCALE)
            assert w.pbx.errors == [] and not w.ctl.router.calls
            assert w.ctl.statistics()["answered"] == 1
    run(main())


def test_a_caller_who_gives_up_while_waiting_counts_as_abandoned():
    async def main():
        async with World() as w:
            ch = Caller("2001", "0701112233", keys=((3.0, "0"),), hangup_after=40.0).dial(w.pbx)
            await w.until(lambda: ch.hungup)
            await asyncio.sleep(1 * SCALE)
            assert w.ctl.statistics()["abandoned"] == 1 and not w.ctl.router.calls
    run(main())
