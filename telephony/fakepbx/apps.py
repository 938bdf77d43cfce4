"""Dialplan applications of the fake PBX. Each returns None to go on at the next priority, or
True when it moved the channel itself (Goto)."""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING

from telephony.fakepbx.channel import BUSY, RINGING, UP, Channel
from telephony.fakepbx.dialplan import split_args, substitute

if TYPE_CHECKING:
    from telephony.fakepbx.pbx import FakePbx


def expand(pbx: FakePbx, ch: Channel, data: str) -> str:
    return substitute(data, lambda name: pbx.lookup(ch, name))


def _report(ch: Channel, outcome: str) -> None:
    """The ;2 leg of a Local pair tells the waiting Originate what happened."""
    fut = ch.actor
    if isinstance(fut, asyncio.Future) and not fut.done():
        fut.set_result(outcome)


ANSWER_MEDIA_WAIT = 0.5  # seconds Answer() waits for the first media frame


async def answer(pbx: FakePbx, ch: Channel, *, wait_for_media: bool = True) -> None:
    """Answer() returns on the first media frame from the far side, or after 500 ms. Across a
    Local pair frames flow only once the other half plays something (the traces show 0.1 s
    when the IVR plays a prompt at once, 0.5 s when it only waits for a key)."""
    if ch.state == UP:
        return
    pbx.set_state(ch, UP)
    ch.answered_at = pbx.now()
    _report(ch, "answer")
    if ch.peer is not None and wait_for_media:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(ch.peer.audio.wait(), ANSWER_MEDIA_WAIT * pbx.time_scale)


def playing(ch: Channel) -> None:
    """The channel sends media from now on (a prompt, music, a number said)."""
    ch.audio.set()


async def run(pbx: FakePbx, ch: Channel, app: str, data: str) -> bool | None:
    args = split_args(data)
    name = app.lower()
    if name == "answer":
        await answer(pbx, ch)
    elif name in ("noop", "verbose", "log", "progress"):
        pass
    elif name == "wait":
        await pbx.sleep(float(args[0] or 0))
    elif name == "hangup":
        # no cause given: the one the channel has (a failed Dial's, FACTS.md), else 16
        cause = int(args[0]) if args[0].isdigit() else (ch.hangup_cause or 16)
        await pbx.hangup(ch, cause, own=True)
    elif name == "ringing":
        if ch.peer is not None:
            pbx.set_state(ch.peer, RINGING)
            pbx.emit("DialState", "call,all",
                     [*ch.peer.block("Dest"), ("DialStatus", "RINGING")])
            pbx.device_state(ch.peer, "INUSE")
    elif name == "busy":
        pbx.set_state(ch, BUSY)
        _report(ch, "busy")
        await asyncio.Event().wait()  # the Originate hangs the pair up
    elif name == "set":
        key, _, value = data.partition("=")
        if key.upper() == "TIMEOUT(ABSOLUTE)":
            pbx.set_lease(ch, float(value or 0))
        elif key.upper() == "CHANNEL(LANGUAGE)":
            ch.language = value
        else:
            pbx.var_set(ch, key, value)
    elif name == "goto":
        parts = [a.strip() for a in args]
        if len(parts) == 3:
            ch.context, ch.exten, ch.priority = parts[0], parts[1], int(parts[2])
        elif len(parts) == 2:
            ch.exten, ch.priority = parts[0], int(parts[1])
        else:
            ch.priority = int(parts[0])
        return True
    elif name == "playback":
        seconds = pbx.sounds.duration(args[0])
        if seconds is None:
            pbx.var_set(ch, "PLAYBACKSTATUS", "FAILED")
        else:
            playing(ch)
            with pbx.heard(ch):
                await pbx.sleep(seconds)
            pbx.var_set(ch, "PLAYBACKSTATUS", "SUCCESS")
    elif name == "background":
        await background(pbx, ch, args[0])
    elif name == "senddtmf":
        target = ch.peer if ch.peer is not None else ch
        for digit in args[0]:
            await pbx.sleep(0.1)
            await pbx.send_dtmf(target, digit, 100, gap=0.15)
    elif name == "musiconhold":
        await music_on_hold(pbx, ch, args[0] or "default",
                            float(args[1]) if len(args) > 1 and args[1] else None)
    elif name == "agi":
        from telephony.fakepbx.agi import run_async_agi

        await run_async_agi(pbx, ch)
    elif name == "dial":
        await dial(pbx, ch, args)
    elif name == "bridge":
        other = pbx.find(args[0])
        if other is None or other.hungup:
            pbx.var_set(ch, "BRIDGERESULT", "NONEXISTENT")
            return None
        if not other.runs_dialplan:
            # a leg running an originated application (a callback's agent in AsyncAGI) has no
            # dialplan to go on in: it hangs up with the bridge (t3: either side's hangup
            # ended the other)
            other.ends_with_bridge = True
        br = pbx.bridge(other, ch)
        while True:
            await br.ended.wait()
            if ch.bridge is None or ch.bridge is br:
                break
            br = ch.bridge  # moved into another bridge (AMI Bridge): the app goes on there
    else:
        raise NotImplementedError(f"the fake PBX has no application {app!r}")
    return None


async def background(pbx: FakePbx, ch: Channel, sound: str) -> str | None:
    """Plays a prompt that any key stops; returns the key or None."""
    seconds = pbx.sounds.duration(sound)
    if seconds is None:
        pbx.var_set(ch, "BACKGROUNDSTATUS", "FAILED")
        return None
    playing(ch)
    with pbx.heard(ch):
        key = await read_digit(ch, pbx, seconds)
    pbx.var_set(ch, "BACKGROUNDSTATUS", "SUCCESS")
    return key


async def read_digit(ch: Channel, pbx: FakePbx, seconds: float | None,
                     accept: str | None = None) -> str | None:
    """Waits for a key (any, or one of `accept`; others are thrown away) for up to `seconds`."""
    loop = asyncio.get_running_loop()
    deadline = None if seconds is None else loop.time() + seconds * pbx.time_scale
    ch.listening = True
    try:
        while True:
            remaining = None if deadline is None else deadline - loop.time()
            if remaining is not None and remaining <= 0:
                return None
            try:
                digit = await asyncio.wait_for(ch.digits.get(), remaining)
            except TimeoutError:
                return None
            if accept is None or digit in accept:
                return digit
    finally:
        ch.listening = False
        while not ch.digits.empty():
            ch.digits.get_nowait()


async def music_on_hold(pbx: FakePbx, ch: Channel, moh_class: str, seconds: float | None
                        ) -> None:
    """MusicOnHold ignores keys (they show only as DTMFEnd) and runs its whole time."""
    playing(ch)
    pbx.moh_start(ch, moh_class)
    try:
        if seconds is None:
            await asyncio.Event().wait()
        else:
            await pbx.sleep(seconds)
    finally:
        pbx.moh_stop(ch, event=not ch.hungup)


DIAL_VARIABLES = ("DIALSTATUS", "DIALEDPEERNUMBER", "DIALEDPEERNAME", "ANSWEREDTIME",
                  "ANSWEREDTIME_MS", "DIALEDTIME", "DIALEDTIME_MS", "RINGTIME", "RINGTIME_MS",
                  "PROGRESSTIME", "PROGRESSTIME_MS")


async def dial(pbx: FakePbx, ch: Channel, args: list[str]) -> None:
    """Dial(Local/x@ctx or PJSIP/endpoint, timeout, options), as the partner overflow uses it:
    sets DIALSTATUS and friends; an answered callee is bridged with the caller, who KEEPS the
    lease. Without option g the caller is hung up when the callee hangs up."""
    from telephony.fakepbx.pbx import OriginateOutcome, OriginateRequest

    timeout = float(args[1]) if len(args) > 1 and args[1] else 30.0
    options = args[2] if len(args) > 2 else ""
    for name in DIAL_VARIABLES:
        pbx.var_set(ch, name, "")
    ch.variables["HANGUPCAUSE_KEYS()"] = ""
    started = pbx.now()
    music = "m" in options  # music on hold instead of ringback while the callee rings
    if music:
        pbx.moh_start(ch, "default")
    try:
        with pbx.heard(ch):  # ringback (or the music) while the callee rings
            callee = await pbx.dial_leg(OriginateRequest(args[0], timeout=timeout), dialer=ch)
    except OriginateOutcome as out:
        if out.reason == 5 or out.cause == 17:
            status = "BUSY"
        elif out.reason == 3:
            status = "NOANSWER"
        else:
            status = "CHANUNAVAIL"
        if args[0].startswith("PJSIP/"):
            ch.hangup_cause = out.cause  # a phone's failure cause stays on the caller
        pbx.var_set(ch, "DIALSTATUS", status)
        if music:
            pbx.moh_stop(ch)
        return
    if music:
        pbx.moh_stop(ch)
    answered = pbx.now()
    if ch.variables.get("DIALEDPEERNAME") != callee.name:
        pbx.var_set(ch, "DIALEDPEERNAME", callee.name)
    pbx.var_set(ch, "DIALEDPEERNUMBER", callee.dial_string)
    # Dial answers its caller as the callee answers, without waiting for media (the Local leg
    # of vaxel-on-asterisk/s1b bridged 2 ms after the phone answered)
    await answer(pbx, ch, wait_for_media=False)
    if not callee.hungup:  # a callee who hung up while Dial answered its side: no bridge
        br = pbx.bridge(ch, callee, keep_lease=True)
        await br.ended.wait()
    ch.hangup_cause = callee.hangup_cause
    pbx.var_set(ch, "DIALSTATUS", "ANSWER")
    pbx.var_set(ch, "ANSWEREDTIME", str(int(pbx.now() - answered)))  # whole seconds, truncated
    pbx.var_set(ch, "DIALEDTIME", str(int(pbx.now() - started)))
    if "g" not in options:
        await pbx.hangup(ch, ch.hangup_cause, own=True)
