"""Call I/O over AsyncAGI, driving scripted callers of the lab dialplan in the fake PBX."""

import asyncio

import pytest

from telephony.ami_codec import Message
from telephony.ami_link import AmiLink
from telephony.callio import AgiCallIO, CallerGone, PromptMissing
from telephony.fakepbx import AmiServer, AmiUser, Dialplan, FakePbx

from . import virtual_clock
from .recordings import LAB_DIALPLAN as LAB

SCALE = 0.05


async def call(caller: str, context: str = "kc-ivr", **io_kw):
    """A scripted caller (test-ivr-caller) originated into `context`, answered in AGI."""
    pbx = FakePbx(Dialplan.load(LAB), time_scale=SCALE)
    server = AmiServer(pbx, {"kc": AmiUser("kc-secret")})
    link = AmiLink("127.0.0.1", await server.start(), "kc", "kc-secret")
    await link.start()
    await link.action("Originate", [("Channel", f"Local/{caller}"), ("Context", context),
                                    ("Exten", "0812345"), ("Priority", "1"), ("Async", "true")])
    while True:
        ev = await asyncio.wait_for(link.events.get(), 10)
        if isinstance(ev, Message) and ev.event == "AsyncAGIStart":
            break
    io = AgiCallIO(link, ev["Channel"], **io_kw)

    async def close():
        await link.close()
        await server.stop()
        await pbx.close()
    return pbx, link, io, close


def run(coro):
    return virtual_clock.run(asyncio.wait_for(coro, 60))


def test_a_key_during_a_prompt_barges_in():
    async def main():
        _, _, io, close = await call("d3at1@test-ivr-caller")
        assert await io.play("vm-intro") == "3"
        await close()
    run(main())


def test_a_command_s_result_answers_it_and_is_not_queued_as_an_event():
    async def main():
        _, link, io, close = await call("d3at1@test-ivr-caller")
        counted = link.statistics().by_event.get("AsyncAGIExec", 0)
        assert await io.play("vm-intro") == "3"
        assert link.statistics().by_event["AsyncAGIExec"] == counted + 1  # it came, counted
        queued = [link.events.get_nowait() for _ in range(link.events.qsize())]
        # the controller's reader never wakes for it (at 10 calls/s two of its seven wake-ups
        # a call were such results, bench_recorded_load)
        assert not any(isinstance(m, Message) and m.event == "AsyncAGIExec" for m in queued)
        await close()
    run(main())


def test_a_key_not_listened_for_is_thrown_away():
    async def main():
        _, _, io, close = await call("d3at1@test-ivr-caller")
        assert await io.play("vm-intro", escape="#") is None
        await close()
    run(main())


@pytest.mark.parametrize(("caller", "keys", "timed_out"), [
    ("d12hash@test-ivr-caller", "12", False),  # ends on #
    ("d1234@test-ivr-caller", "1234", False),  # ends on the last digit
    ("d12@test-ivr-caller", "12", True),  # ends 5 s after the last key
    ("silent@test-ivr-caller", "", True),
])
def test_get_digits_collects_keys_as_asterisk_does(caller, keys, timed_out):
    async def main():
        _, _, io, close = await call(caller)
        got = await io.get_digits("vm-enter-num-to-call", 4, 5.0)
        assert (got.keys, got.timed_out) == (keys, timed_out)
        await close()
    run(main())


def test_hold_music_plays_while_listening_for_a_key():
    async def main():
        pbx, _, io, close = await call("d1at3@test-ivr-caller")
        assert await io.hold(20.0, escape="1") == "1"
        assert pbx.find(io.channel).moh_class == "default"  # still playing
        await io.stop_hold()
        assert pbx.find(io.channel).moh_class is None
        await close()
    run(main())


def test_a_hold_slice_ends_without_a_key():
    async def main():
        _, _, io, close = await call("silent@test-ivr-caller")
        assert await io.hold(1.0) is None
        await close()
    run(main())


def test_say_and_variables_and_language():
    async def main():
        _, _, io, close = await call("silent@test-ivr-caller")
        await io.say_number(42)
        await io.say_digits("123")
        assert await io.get_variable("CHANNEL(language)") == "en"
        await io.set_language("sv")
        assert await io.get_variable("CHANNEL(language)") == "sv"
        assert await io.get_variable("NO_SUCH_VAR") is None
        with pytest.raises(ValueError):
            await io.say_digits("12a")
        await close()
    run(main())


def test_a_missing_prompt_is_refused_before_it_can_end_the_agi_session():
    async def main():
        pbx, _, io, close = await call("silent@test-ivr-caller",
                                       prompt_exists=lambda p: p in ("beep",))
        with pytest.raises(PromptMissing, match="kc-no-such-file"):
            await io.play("kc-no-such-file")
        assert pbx.find(io.channel).in_agi  # still ours
        await close()
    run(main())


def test_a_caller_who_hangs_up_is_reported_as_gone():
    async def main():
        _, _, io, close = await call("hangat2@test-ivr-caller")
        with pytest.raises(CallerGone):
            await io.get_digits("vm-enter-num-to-call", 4, 10.0)
        with pytest.raises(CallerGone):
            await io.wait_digit(1.0)
        await close()
    run(main())


def test_the_lease_kept_fresh_holds_the_caller_and_expired_sends_them_to_the_fallback():
    async def main():
        pbx, link, io, close = await call("holder@test-caller", context="kc-inbound-lease")
        # the dialplan armed a 4 s lease; renewing it keeps the caller in AGI past 4 s
        for _ in range(3):
            await asyncio.sleep(2.0 * SCALE)
            await io.renew_lease(4)
        assert pbx.find(io.channel).in_agi
        # no more renewals: AsyncAGIEnd, the T extension, then the fallback
        with pytest.raises(CallerGone):
            await io.wait_digit(30.0)
        seen = []
        while not link.events.empty():
            ev = link.events.get_nowait()
            if isinstance(ev, Message) and ev.event == "Newexten" and ev["Channel"] == io.channel:
                seen.append((ev["Context"], ev["Exten"]))
        assert ("kc-inbound-lease", "T") in seen and ("kc-fallback", "s") in seen
        await close()
    run(main())


def test_clearing_the_lease_disarms_it():
    async def main():
        pbx, _, io, close = await call("holder@test-caller", context="kc-inbound-lease")
        await io.clear_lease()
        await asyncio.sleep(6 * SCALE)
        assert pbx.find(io.channel).in_agi
        await close()
    run(main())
