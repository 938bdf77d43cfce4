"""AsyncAGI in the fake PBX: `AGI(agi:async)` and the commands a controller sends to it.

As on Asterisk 22: AsyncAGIStart with the URL-encoded Env; commands queued by the AMI `AGI` action
start at the channel's next poll (every 100 ms for Local channels, about 10 ms for a phone with
media flowing), run one after another, and report AGIExecStart, AGIExecEnd (with an internal
CommandId) and AsyncAGIExec (with ours, and the URL-encoded result). A hangup or Redirect during a
command ends it `200 result=-1`, then AsyncAGIEnd. A bridge pulls the channel out silently: no
AsyncAGIExec or AsyncAGIEnd, and commands still queued run when it next enters AGI.
"""

from __future__ import annotations

import asyncio
import random
import shlex
from typing import TYPE_CHECKING
from urllib.parse import quote

from telephony.fakepbx import apps
from telephony.fakepbx.channel import BridgeInterrupt, Channel

if TYPE_CHECKING:
    from telephony.fakepbx.pbx import FakePbx

_rng = random.Random(7)


def _env(pbx: FakePbx, ch: Channel) -> str:
    pairs = [
        ("agi_request", "async"), ("agi_channel", ch.name), ("agi_language", ch.language),
        ("agi_type", ch.tech), ("agi_uniqueid", ch.uniqueid), ("agi_version", "22.10.1"),
        ("agi_callerid", ch.cid_num), ("agi_calleridname", ch.cid_name),
        ("agi_callingpres", "0"), ("agi_callingani2", "0"), ("agi_callington", "0"),
        ("agi_callingtns", "0"),
        ("agi_dnid", ch.exten if ch.tech == "PJSIP" else "unknown"), ("agi_rdnis", "unknown"),
        ("agi_context", ch.context), ("agi_extension", ch.exten),
        ("agi_priority", str(ch.priority)), ("agi_enhanced", "0.0"), ("agi_accountcode", ""),
        ("agi_threadid", "140487726630592"),
    ]
    text = "".join(f"{k}: {v}\n" for k, v in pairs) + "\n"
    return quote(text, safe="")


def queue_command(ch: Channel, command: str, command_id: str) -> bool:
    """The AMI AGI action. False if the channel never entered AGI (Asterisk answers Error)."""
    if ch.agi_queue is None:
        return False
    ch.agi_queue.append((command, command_id))
    ch.agi_event.set()
    return True


async def run_async_agi(pbx: FakePbx, ch: Channel) -> None:
    if ch.agi_queue is None:
        ch.agi_queue = []
    ch.in_agi = True
    pbx.channel_event("AsyncAGIStart", ch, ("Env", _env(pbx, ch)), privilege="agi,all")
    poll = pbx.agi_poll if ch.tech == "Local" else 0.01
    started = pbx.now()
    running: tuple[str, str, str] | None = None  # (our CommandId, internal id, command)
    status = "SUCCESS"
    try:
        while True:
            while not ch.agi_queue:
                ch.agi_event.clear()
                await ch.agi_event.wait()
                # the channel looks at its queue every `poll` seconds from the AGI start
                await pbx.sleep(poll - (pbx.now() - started) % poll)
            command, command_id = ch.agi_queue.pop(0)
            internal = str(_rng.randrange(10**8, 2**31))
            running = (command_id, internal, command)
            pbx.channel_event("AGIExecStart", ch, ("CommandId", internal), ("Command", command),
                              privilege="agi,all")
            result, end = await execute(pbx, ch, command)
            pbx.channel_event("AGIExecEnd", ch, ("Result", "Success" if result[:3] == "200"
                                                 else "Failure"),
                              ("CommandId", internal), ("Command", command), privilege="agi,all")
            pbx.channel_event("AsyncAGIExec", ch, ("Result", quote(result + "\n", safe="()")),
                              ("CommandId", command_id), privilege="agi,all")
            running = None
            if end is not None:
                status = end
                break
            if ch.agi_queue:
                await pbx.sleep(0.0)
    except asyncio.CancelledError:
        ch.in_agi = False
        if isinstance(ch.interrupt, BridgeInterrupt):
            raise  # pulled into a bridge: Asterisk says nothing on the caller's AGI
        if running is not None:
            command_id, internal, command = running
            pbx.channel_event("AGIExecEnd", ch, ("Result", "Success"), ("CommandId", internal),
                              ("Command", command), privilege="agi,all")
            pbx.channel_event("AsyncAGIExec", ch, ("Result", quote("200 result=-1\n", safe="")),
                              ("CommandId", command_id), privilege="agi,all")
        pbx.channel_event("AsyncAGIEnd", ch, privilege="agi,all")
        pbx.var_set(ch, "AGISTATUS", "HANGUP")
        raise
    ch.in_agi = False
    pbx.channel_event("AsyncAGIEnd", ch, privilege="agi,all")
    pbx.var_set(ch, "AGISTATUS", status)
    if status == "HANGUP":
        # AGI HANGUP sets no cause: Hangup shows the channel's hangupcause, 0 unless a bridged
        # call that ended set one
        await pbx.hangup(ch, ch.hangup_cause, own=True)


async def execute(pbx: FakePbx, ch: Channel, command: str) -> tuple[str, str | None]:
    """Runs one AGI command: (result line, AGISTATUS if AGI ends here)."""
    try:
        words = shlex.split(command)
    except ValueError:
        return "520 Invalid command syntax.", None
    if not words:
        return "510 Invalid or unknown command", None
    head = " ".join(words[:2]).upper()
    first = words[0].upper()
    if head == "GET DATA":
        return await get_data(pbx, ch, words[2:]), None
    if head == "WAIT FOR":  # WAIT FOR DIGIT ms: silence, unless music plays on
        ms = int(words[3]) if len(words) > 3 else -1
        digit = await apps.read_digit(ch, pbx, None if ms < 0 else ms / 1000)
        return f"200 result={ord(digit) if digit else 0}", None
    if head == "STREAM FILE":
        sound, escapes = words[2], words[3] if len(words) > 3 else ""
        seconds = pbx.sounds.duration(sound)
        if seconds is None:
            return "200 result=-1 endpos=0", "FAILURE"
        apps.playing(ch)
        t0 = pbx.now()
        with pbx.heard(ch):
            digit = await apps.read_digit(ch, pbx, seconds, accept=escapes) if escapes \
                else None
            if not escapes:
                await pbx.sleep(seconds)
        if digit is None:
            pbx.var_set(ch, "PLAYBACKSTATUS", "SUCCESS")
            return f"200 result=0 endpos={round(seconds * 8000)}", None
        pbx.var_set(ch, "PLAYBACKSTATUS", "FAILED")  # as Asterisk 22 reports a barge-in
        frames = round((pbx.now() - t0) * 8000 / 160)  # endpos counts whole 20 ms frames
        return f"200 result={ord(digit)} endpos={frames * 160}", None
    if head == "GET FULL":  # GET FULL VARIABLE expression
        return f"200 result=1 ({apps.expand(pbx, ch, ' '.join(words[3:]))})", None
    if head == "GET VARIABLE":
        name = words[2]
        value = pbx.lookup(ch, name) if name.upper() != "CHANNEL(LANGUAGE)" else ch.language
        known = name in ch.variables or value != "" or name.upper() in {
            "CHANNEL", "CHANNEL(LANGUAGE)", "CHANNEL(LINKEDID)", "UNIQUEID", "EXTEN",
            "CONTEXT", "PRIORITY", "TIMEOUT(ABSOLUTE)", "CALLERID(NUM)", "CALLERID(NAME)",
            "HANGUPCAUSE"} or (name == "HANGUPCAUSE_KEYS()" and name in ch.variables)
        return (f"200 result=1 ({value})" if known else "200 result=0"), None
    if head == "SET VARIABLE":
        name, value = words[2], words[3] if len(words) > 3 else ""
        if name.upper() == "CHANNEL(LANGUAGE)":
            ch.language = value
        elif name.upper() == "TIMEOUT(ABSOLUTE)":
            pbx.set_lease(ch, float(value or 0))
        else:
            pbx.var_set(ch, name, value)
        return "200 result=1", None
    if head == "SAY NUMBER":
        apps.playing(ch)
        with pbx.heard(ch):
            await pbx.sleep(pbx.sounds.say_number_seconds(words[2]))
        return "200 result=0", None
    if head == "SAY DIGITS":
        apps.playing(ch)
        with pbx.heard(ch):
            await pbx.sleep(pbx.sounds.say_digits_seconds(words[2]))
        return "200 result=0", None
    if head == "SET MUSIC":  # SET MUSIC ON|OFF [class]
        if words[2].upper() == "ON":
            apps.playing(ch)
            pbx.moh_start(ch, words[3] if len(words) > 3 else "default")
        else:
            pbx.moh_stop(ch)
        return "200 result=0", None
    if head == "ASYNCAGI BREAK":
        return "200 result=0", "SUCCESS"
    if first == "ANSWER":
        await apps.answer(pbx, ch)
        return "200 result=0", None
    if first == "HANGUP":
        pbx.channel_event("SoftHangupRequest", ch, ("Cause", "32"))
        return "200 result=1", "HANGUP"
    if first == "NOOP":
        return "200 result=0", None
    if first == "EXEC":
        return await exec_app(pbx, ch, words[1], " ".join(words[2:])), None
    return "510 Invalid or unknown command", None


async def get_data(pbx: FakePbx, ch: Channel, args: list[str]) -> str:
    """GET DATA file [timeout ms] [max digits]: a key during the prompt interrupts it; returns on
    #, on the last digit, or `timeout` after the prompt or the last key."""
    sound = args[0]
    timeout = int(args[1]) / 1000 if len(args) > 1 else 5.0
    max_digits = int(args[2]) if len(args) > 2 else 1024
    seconds = pbx.sounds.duration(sound) or 0.0
    if seconds:
        apps.playing(ch)
    with pbx.heard(ch):  # the prompt, then the menu's own wait for a key
        return await _get_data(pbx, ch, seconds, timeout, max_digits)


async def _get_data(pbx: FakePbx, ch: Channel, seconds: float, timeout: float,
                    max_digits: int) -> str:
    got = ""
    first = await apps.read_digit(ch, pbx, seconds) if seconds else None
    if first is not None:
        if first == "#":
            return "200 result="
        got = first
    while len(got) < max_digits:
        digit = await apps.read_digit(ch, pbx, timeout)
        if digit is None:
            return f"200 result={got} (timeout)"
        if digit == "#":
            break
        got += digit
    return f"200 result={got}"


async def exec_app(pbx: FakePbx, ch: Channel, app: str, data: str) -> str:
    name = app.lower()
    if name == "background":
        digit = await apps.background(pbx, ch, data.split(",")[0])
        return f"200 result={ord(digit) if digit else 0}"
    ch.live_app = (app, data)  # Status shows it; CoreShowChannels keeps it after (stale)
    ch.application, ch.app_data = app, data
    try:
        await apps.run(pbx, ch, app, data)
    except NotImplementedError:
        return "200 result=-2"
    finally:
        ch.live_app = None
    return "200 result=0"
