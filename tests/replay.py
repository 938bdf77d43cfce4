"""Replaying a recorded Asterisk trace against the fake PBX.

Each client connection of the trace is played again: every action is sent when the message that
preceded it in the trace (the trigger: usually the event the probe was reacting to) has arrived
from the fake, after the same gap, scaled. Channel counters start where the trace's did, so the
channel names in the recorded actions are the fake's too. What the fake sends back is compared
with what Asterisk sent, per channel: the events that matter, with the fields that matter, in
order, and each within a time tolerance.
"""

from __future__ import annotations

import asyncio
import itertools
import re
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from telephony.ami_codec import AmiParser, Message, encode
from telephony.fakepbx import AmiServer, AmiUser, Dialplan, FakePbx
from telephony.fakepbx.actors import Answer, Caller, Phone
from telephony.fakepbx.pbx import parse_caller_id
from telephony.trace import read_bytes, read_chunks

from .recordings import RECORDINGS, SIP_CONFIG, trace

# The events a controller acts on, and per event the fields compared.
MATTER = {
    "Newchannel": ("ChannelState", "Context", "Exten"),
    "Newstate": ("ChannelState",),
    "Newexten": ("Context", "Exten", "Priority", "Application"),
    "Hangup": ("Cause",),
    "HangupRequest": (),
    "OriginateResponse": ("Response", "Reason"),
    "AsyncAGIStart": ("Context", "Exten", "Priority"),
    "AsyncAGIExec": ("Result", "CommandId"),
    "AsyncAGIEnd": (),
    "DTMFBegin": ("Digit", "Direction"),
    "DTMFEnd": ("Digit", "Direction"),
    "BridgeEnter": ("Priority",),
    "BridgeLeave": (),
    "MusicOnHoldStart": ("Class",),
    "MusicOnHoldStop": (),
    "DialBegin": (),
    "DialEnd": ("DialStatus",),
}
VARS_THAT_MATTER = {"AGISTATUS", "DIALSTATUS", "PLAYBACKSTATUS"}
_ENDPOS = re.compile(r"endpos%3D(\d+)")
# Values no two runs share: a SIP Call-ID, and remaining seconds read from TIMEOUT(absolute).
_RANDOM = [(re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"), "<uuid>"),
           (re.compile(r"\(\d+\.\d{3}\)"), "(<seconds>)")]


@dataclass
class Recorded:
    t: float
    conn: str
    received: bool
    msg: Message


def load(path: Path) -> list[Recorded]:
    parsers: dict[tuple[str, bool], AmiParser] = {}
    out = []
    for c in read_chunks(path):
        p = parsers.setdefault((c.conn, c.received), AmiParser(server=not c.received))
        for item in p.feed(c.data):
            if isinstance(item, Message):
                out.append(Recorded(c.t, c.conn, c.received, item))
    return out


_PHONE = re.compile(r"^\+(\d+\.\d+) ## phone (\S+): >> '(.*)'$")
SIP_INVITE_DELAY = 0.012  # seconds from pjsua's command to the Newchannel (INVITE, challenge)
SIP_DTMF_DELAY = 0.014  # from pjsua's command to DTMFBegin
SIP_DTMF_GAP = 0.06  # between one key's DTMFEnd and the next key's DTMFBegin
_STARTED = re.compile(r"## phone (\S+): started pjsua pid \d+ \(\S+, sip port (\d+), rtp (\d+)\)")


def phone_commands(trace_text: str) -> list[tuple[float, str, str]]:
    """What the probe typed into each pjsua phone: (time, endpoint, command)."""
    out = []
    for line in trace_text.splitlines():
        m = _PHONE.match(line)
        if m:
            out.append((float(m.group(1)), m.group(2), m.group(3)))
    return out


def pjsip_endpoints(conf: Path) -> dict[str, dict[str, str]]:
    """Endpoint name -> its context and callerid, from a pjsip.conf (type = endpoint sections)."""
    out: dict[str, dict[str, str]] = {}
    section = None
    for raw in conf.read_text(encoding="utf-8").splitlines():
        line = raw.split(";")[0].strip()
        if line.startswith("["):
            section = line[1:line.index("]")]
            continue
        key, _, value = line.partition("=")
        if section and key.strip() in ("context", "callerid"):
            out.setdefault(section, {})[key.strip()] = value.strip()
    return {k: v for k, v in out.items() if "context" in v}


def trace_path(name: str) -> Path:
    return trace(name)


def trace_text(name: str) -> str:
    """The line trace: the probe's comments (phone commands) stand in it."""
    return read_bytes(trace(name, raw=False)).decode("utf-8", errors="replace")


def _key(msg: Message) -> str | None:
    ev = msg.event
    if ev == "OriginateResponse":
        return f"originate:{msg.action_id}"
    for header in ("Channel", "DestChannel"):
        if header in msg:
            return msg[header]
    return None


# Channel variables that hold durations in whole seconds: timing, compared within the tolerance.
DURATION_VARIABLES = ("DIALEDTIME", "ANSWEREDTIME", "RINGTIME", "PROGRESSTIME")
_WHOLE_SECONDS = re.compile(r"result%3D1%20\((\d+)\)")


def significant(msg: Message, durations: frozenset[str] = frozenset()
                ) -> tuple[str, tuple[tuple[str, str], ...]] | None:
    ev = msg.event
    if ev == "VarSet" and msg.get("Variable") in VARS_THAT_MATTER:
        return ev, (("Variable", msg["Variable"]), ("Value", msg.get("Value", "")))
    if ev not in MATTER:
        return None
    fields = []
    for f in MATTER[ev]:
        value = msg.get(f, "")
        if f == "Result":
            for pattern, placeholder in _RANDOM:
                value = pattern.sub(placeholder, value)
            m = _ENDPOS.search(value)
            if m:  # where a key stopped a prompt is timing: compared within the tolerance
                value = _ENDPOS.sub("endpos%3D~", value)
                fields.append(("endpos", m.group(1)))
            m = _WHOLE_SECONDS.search(value)
            if m and msg.get("CommandId") in durations:
                value = _WHOLE_SECONDS.sub("result%3D1%20(~)", value)
                fields.append(("seconds", m.group(1)))
        fields.append((f, value))
    return ev, tuple(fields)


def same(a: tuple, b: tuple, tolerance: float) -> bool:
    """Two significant events are the same: equal fields, endpos within the tolerance."""
    if a[0] != b[0] or len(a[1]) != len(b[1]):
        return False
    for (fa, va), (fb, vb) in zip(a[1], b[1], strict=True):
        if fa != fb:
            return False
        if fa == "endpos":
            if abs(int(va) - int(vb)) > tolerance * 8000:
                return False
        elif fa == "seconds":  # whole seconds, truncated: one apart at a boundary
            if abs(int(va) - int(vb)) > 1:
                return False
        elif va != vb:
            return False
    return True


@dataclass
class Stream:
    """What one client connection received, with PBX times."""

    messages: list[tuple[float, Message]] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)


def by_channel(items: list[tuple[float, Message]], durations: frozenset[str] = frozenset()
               ) -> dict[str, list[tuple[float, tuple[str, tuple[tuple[str, str], ...]]]]]:
    out: dict[str, list] = defaultdict(list)
    for t, msg in items:
        sig = significant(msg, durations)
        key = _key(msg)
        if sig is not None and key is not None:
            out[key].append((t, sig))
    return out


class Replay:
    """A recorded trace (traces/, sip-traces/) played against the fake PBX. `records`,
    `trace_text`, `dialplan`, `pjsip_conf` and `users` replace what the name would give, for
    recordings kept elsewhere (see tests/scenario_replay.py)."""

    def __init__(self, name: str, *, time_scale: float = 0.1,
                 dialplan: Path | Dialplan | None = None,
                 records: list[Recorded] | None = None, trace_text: str | None = None,
                 pjsip_conf: Path = SIP_CONFIG / "pjsip.conf",
                 users: dict[str, AmiUser] | None = None, sounds: Path | None = None,
                 local_swaps: list[str] | None = None,
                 local_timeouts: list[str] | None = None) -> None:
        self.name = name
        self.sounds = sounds
        self.local_swaps = local_swaps  # how each Local optimization went, as recorded
        self.local_timeouts = local_timeouts  # and each Originate / Dial timeout race
        self.records = records if records is not None else load(trace_path(name))
        self._trace_text = trace_text
        self.pjsip_conf = pjsip_conf
        self.users = users or {"kc": AmiUser("kc-secret")}
        self.time_scale = time_scale
        folder = "lab-config" if name.startswith("p") else "sip-config"
        self.dialplan = dialplan if isinstance(dialplan, Dialplan) else Dialplan.load(
            dialplan or RECORDINGS / folder / "extensions.conf")
        self.t0 = min(r.t for r in self.records)
        self.streams: dict[str, Stream] = {}
        self.missed: list[str] = []  # triggers the fake never sent

    def _counters(self, pbx: FakePbx) -> None:
        """Channel counters start where the trace's did, so recorded names are the fake's."""
        local = pjsip = None
        for r in self.records:
            if r.received and r.msg.event == "Newchannel":
                name = r.msg.get("Channel", "")
                m = re.search(r"-([0-9a-f]{8})(;1)?$", name)
                if m and m.group(2) and local is None:
                    local = int(m.group(1), 16)
                elif m and name.startswith("PJSIP/") and pjsip is None:
                    pjsip = int(m.group(1), 16)
        if local is not None:
            pbx._local = itertools.count(local)
        if pjsip is not None:
            pbx._pjsip = itertools.count(pjsip)

    async def run(self) -> None:
        self.pbx = FakePbx(self.dialplan, time_scale=self.time_scale)
        if self.sounds is not None:
            self.pbx.sounds.add_dir(self.sounds)
        if self.local_swaps is not None:
            self.pbx.local_swaps = iter(self.local_swaps)
        if self.local_timeouts is not None:
            self.pbx.local_timeouts = iter(self.local_timeouts)
        self._counters(self.pbx)
        server = AmiServer(self.pbx, self.users, failed_login_delay=1.0 * self.time_scale)
        port = await server.start()
        self._loop_t0 = asyncio.get_running_loop().time()
        conns = sorted({r.conn for r in self.records})
        phones = self.pbx.spawn(self._phones())
        try:
            # to the end of the clients' actions and of what the phones did (a phone may hang
            # up after the last action)
            await asyncio.wait_for(
                asyncio.gather(*(self._client(c, port) for c in conns), phones),
                timeout=(self.records[-1].t - self.t0) * self.time_scale + 30)
        finally:
            await server.stop()
            await self.pbx.close()

    def _answers(self) -> dict[str, list[Answer]]:
        """How each phone met each call the trace made to it: the phones' part of the stimulus
        (the probe set pjsua to auto-answer, answer 486 or 603, or not at all). What Asterisk
        did about it is what gets compared."""
        out: dict[str, list[Answer]] = {}
        born: dict[str, tuple[str, float]] = {}
        answered: dict[str, float] = {}
        for r in self.records:
            m = r.msg
            name = m.get("Channel", "") or m.get("DestChannel", "")
            if not r.received or not name.startswith("PJSIP/"):
                continue
            if m.event == "Newchannel" and m.get("ChannelState") == "0":
                born[name] = (name[6:].rsplit("-", 1)[0], r.t)
            elif name not in born:
                continue
            elif m.event == "Newstate" and m.get("ChannelState") == "6":
                answered[name] = r.t - born[name][1]
            elif m.event == "Hangup":
                ep = born.pop(name)[0]
                cause = m.get("Cause")
                if name in answered:
                    how = Answer("answer", answered.pop(name))
                else:
                    how = Answer({"17": "busy", "21": "decline"}.get(cause or "", "never"))
                out.setdefault(ep, []).append(how)
        return out

    async def _phones(self) -> None:
        """Plays what the probe typed into its SIP phones: `m` + URI dials, `#` + keys sends
        DTMF, `h` hangs up, `q` quits; a phone is registered while its pjsua runs."""
        text = self._trace_text if self._trace_text is not None else trace_text(self.name)
        commands = phone_commands(text)
        if not commands:
            return
        lifecycle = sorted(
            [(float(m.group(1)), m.group(2), "start") for m in re.finditer(
                r"^\+(\d+\.\d+) ## phone (\S+): started pjsua", text, re.M)]
            + [(float(m.group(1)), m.group(2), "exit") for m in re.finditer(
                r"^\+(\d+\.\d+) ## phone (\S+): exited", text, re.M)])
        commands = sorted(commands + lifecycle)
        answers = self._answers()
        phones: dict[str, Phone] = {}
        endpoints = pjsip_endpoints(self.pjsip_conf)
        ports = {m.group(1): (int(m.group(2)), int(m.group(3)))
                 for m in _STARTED.finditer(text)}
        dialled: dict[str, int] = {}
        calls: dict[str, Caller] = {}
        pending: dict[str, str] = {}
        for t, endpoint, command in commands:
            await asyncio.sleep(max(t - self.t0 - self._now(), 0) * self.time_scale)
            if command == "start":
                phone = phones.setdefault(endpoint, Phone(
                    endpoint, context=endpoints.get(endpoint, {}).get("context", "")))
                phone.script = answers.get(endpoint, [])
                phone.register(self.pbx)
                continue
            if command == "exit":
                if endpoint in phones:
                    phones[endpoint].unregister(self.pbx)
                continue
            last = pending.pop(endpoint, None)
            if command in ("m", "#"):
                pending[endpoint] = command
            elif last == "m" and command.startswith("sip:"):
                number = command[4:].split("@")[0]
                ep = endpoints[endpoint]
                name, num = parse_caller_id(ep.get("callerid", ""))
                sip_port, rtp = ports.get(endpoint, (5060, 4000))
                n = dialled[endpoint] = dialled.get(endpoint, -1) + 1
                caller = Caller(endpoint, num, name, dialled=number, context=ep["context"],
                                sip_port=sip_port, rtp_port=rtp + 2 * n)
                calls[endpoint] = caller
                await asyncio.sleep(SIP_INVITE_DELAY * self.time_scale)
                caller.dial(self.pbx)
            elif last == "#" and endpoint in calls and calls[endpoint].channel is not None:
                ch = calls[endpoint].channel
                await asyncio.sleep(SIP_DTMF_DELAY * self.time_scale)
                for key in command:
                    await self.pbx.send_dtmf(ch, key, 200, gap=SIP_DTMF_GAP)
            elif command == "h" and endpoint in calls:
                calls[endpoint].hang_up(self.pbx)
            elif command == "h" and endpoint in phones:
                phones[endpoint].hang_up(self.pbx)

    def _now(self) -> float:
        return (asyncio.get_running_loop().time() - self._loop_t0) / self.time_scale

    async def _client(self, conn: str, port: int) -> None:
        mine = [r for r in self.records if r.conn == conn]
        stream = self.streams.setdefault(conn, Stream())
        first = mine[0].t - self.t0
        await asyncio.sleep(max(first - 0.005, 0) * self.time_scale)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        parser = AmiParser()
        closed = asyncio.Event()

        async def read() -> None:
            while data := await reader.read(65536):
                for item in parser.feed(data):
                    if isinstance(item, Message):
                        stream.messages.append((self._now(), item))
                        stream.arrived.set()
            closed.set()

        reading = asyncio.get_running_loop().create_task(read())
        received_before: list[Recorded] = []
        try:
            for r in mine:
                if r.received:
                    if r.msg.response is not None or significant(r.msg) is not None:
                        received_before.append(r)  # only what the fake must match can trigger
                    continue
                arrived = await self._wait_trigger(stream, received_before, closed)
                trigger_t = received_before[-1].t if received_before else mine[0].t
                if received_before:
                    # the recorded gap after the trigger, counted from when the fake sent it:
                    # several actions after one trigger keep their own times
                    start = arrived if arrived is not None else self._now()
                    await asyncio.sleep(max(start + r.t - trigger_t - self._now(), 0)
                                        * self.time_scale)
                if closed.is_set():
                    break
                writer.write(encode(r.msg.headers))
                await writer.drain()
            tail = [r for r in mine if r.received and significant(r.msg) is not None]
            if tail:
                await self._wait_trigger(stream, tail, closed, timeout=5)
            await asyncio.sleep(0.3 * self.time_scale)
        finally:
            writer.close()
            reading.cancel()

    async def _wait_trigger(self, stream: Stream, before: list[Recorded], closed: asyncio.Event,
                            timeout: float = 20) -> float | None:
        """Waits until the fake has sent the counterpart of the last message received before
        (the n-th message of that kind on the same channel); returns when it arrived."""
        if not before:
            return None
        trigger = before[-1].msg
        sig = (trigger.event or trigger.response, trigger.get("Channel"), trigger.get("Digit"))
        nth = sum(1 for r in before if (r.msg.event or r.msg.response, r.msg.get("Channel"),
                                         r.msg.get("Digit")) == sig)
        loop = asyncio.get_running_loop()
        due = max(before[-1].t - self.t0 - self._now(), 0)  # still to come, as recorded
        deadline = loop.time() + (due + timeout) * max(self.time_scale, 0.2) + 5
        while True:
            times = [t for t, m in stream.messages
                     if (m.event or m.response, m.get("Channel"), m.get("Digit")) == sig]
            if len(times) >= nth:
                return times[nth - 1]
            if closed.is_set():
                return None
            if loop.time() > deadline:
                self.missed.append(f"never got {sig} #{nth}")
                return None
            stream.arrived.clear()
            try:
                await asyncio.wait_for(stream.arrived.wait(), deadline - loop.time())
            except TimeoutError:
                self.missed.append(f"never got {sig} #{nth}")
                return None

    def compare(self, conn: str, *, tolerance: float = 0.35, relative: float = 0.03,
                ignore: Callable[[str, str], bool] = lambda channel, event: False
                ) -> list[str]:
        """Differences between the trace and the fake on one connection; [] if faithful.
        `ignore(channel, event)` leaves out events whose order the recording shows to be a
        race inside Asterisk."""
        durations = frozenset(
            r.msg.get("CommandID", "") for r in self.records
            if not r.received and r.msg.action == "AGI"
            and any(f"GET VARIABLE {v}" == r.msg.get("Command") for v in DURATION_VARIABLES))
        expected = by_channel([(r.t - self.t0, r.msg) for r in self.records
                               if r.conn == conn and r.received], durations)
        actual = by_channel(self.streams[conn].messages, durations)
        for seen in (expected, actual):
            for key, items in seen.items():
                items[:] = [(t, s) for t, s in items if not ignore(key, s[0])]
        problems = list(self.missed) + [f"the fake PBX failed: {e!r}" for e in self.pbx.errors]
        for key, exp in expected.items():
            act = actual.get(key, [])
            exp_sigs = [s for _, s in exp]
            act_sigs = [s for _, s in act]
            if len(exp_sigs) != len(act_sigs) or not all(
                    same(e, a, tolerance) for e, a in zip(exp_sigs, act_sigs, strict=True)):
                problems.append(f"{key}:\n  trace: {_show(exp_sigs)}\n  fake:  {_show(act_sigs)}")
                continue
            for (te, s), (ta, _) in zip(exp, act, strict=True):
                if abs(te - ta) > tolerance + relative * te:
                    problems.append(f"{key}: {s[0]} at {ta:.3f} s, trace {te:.3f} s")
                    break
        for key in actual.keys() - expected.keys():
            problems.append(f"{key}: only in the fake: {_show([s for _, s in actual[key]])}")
        return problems


def _show(sigs: list) -> str:
    return " ".join(f"{e}({','.join(v for _, v in f)})" if f else e for e, f in sigs)
