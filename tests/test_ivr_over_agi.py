"""The example's IVR over real AsyncAGI: link, call I/O, the fake PBX running the rendered
dialplan, and a SIP caller pressing keys while the prompts play."""

import asyncio
import datetime as dt
from pathlib import Path

from config.loader import load_folder
from ivr.interpreter import run_ivr
from telephony.ami_codec import Message
from telephony.ami_link import AmiLink
from telephony.callio import AgiCallIO
from telephony.dialplan import load_settings, render_extensions
from telephony.fakepbx import AmiServer, AmiUser, Dialplan, FakePbx
from telephony.fakepbx.actors import Caller

from . import virtual_clock

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "config" / "exempelkommun"
SCALE = 0.05
NOW = dt.datetime(2026, 11, 24, 10, 0)


async def ivr_call(keys, dialled="0812345"):
    config = load_folder(EXAMPLE).config
    pbx = FakePbx(Dialplan.parse(render_extensions(load_settings(EXAMPLE))), time_scale=SCALE)
    pbx.sounds.add_dir(ROOT / "sounds")  # the real prompts, with their real lengths
    server = AmiServer(pbx, {"vaxel": AmiUser("s")})
    link = AmiLink("127.0.0.1", await server.start(), "vaxel", "s")
    await link.start()
    caller = Caller("2001", "0701112233", dialled=dialled, keys=keys)
    caller.dial(pbx)
    while True:
        ev = await asyncio.wait_for(link.events.get(), 10)
        if isinstance(ev, Message) and ev.event == "AsyncAGIStart":
            break
    io = AgiCallIO(link, ev["Channel"], prompt_exists=pbx.sounds.duration)
    loop = asyncio.get_running_loop()

    async def keep_lease():  # as the controller does: the rendered lease is 30 s
        while True:
            await asyncio.sleep(10 * SCALE)
            await io.renew_lease(30)

    renewing = loop.create_task(keep_lease())
    outcome = await run_ivr(config.plan(), ev["Exten"], io, NOW,
                            lambda: loop.time() / SCALE)
    renewing.cancel()
    language = pbx.find(ev["Channel"]).language
    await link.close()
    await server.stop()
    await pbx.close()
    return outcome, language


def test_keys_pressed_during_the_prompts_lead_to_the_group():
    outcome, _ = virtual_clock.run(ivr_call(((3.0, "2"), (6.0, "1"))))
    assert (outcome.kind, outcome.target) == ("group", "bygglov")
    assert outcome.keys == "21"
    # the keys barged in: both choices were made well before the prompts' ends
    assert outcome.path[-1].at < 12


def test_english_by_key_reaches_the_channel():
    outcome, language = virtual_clock.run(ivr_call(((2.0, "8"), (4.0, "1"))))
    assert outcome.target == "barn-och-utbildning" and language == "en"


def test_a_silent_caller_is_sent_to_vaxeln_after_the_retries():
    outcome, _ = virtual_clock.run(ivr_call(()))
    assert (outcome.kind, outcome.target) == ("group", "vaxeln")
    assert [s.event for s in outcome.path] == ["timeout", "timeout", "timeout"]
