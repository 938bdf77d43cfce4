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
from dataclasses import dataclass, field
from pathlib import Path

from telephony.ami_codec import AmiParser, Message, encode
from telephony.fakepbx import AmiServer, AmiUser, Dialplan, FakePbx
from telephony.trace import read_chunks, shared_dir

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


def trace_path(name: str) -> Path:
    folder = "sip-traces" if name.startswith("s") else "traces"
    return shared_dir() / folder / f"{name}.ami.raw"


def _key(msg: Message) -> str | None:
    ev = msg.event
    if ev == "OriginateResponse":
        return f"originate:{msg.action_id}"
    for header in ("Channel", "DestChannel"):
        if header in msg:
            return msg[header]
    return None


def significant(msg: Message) -> tuple[str, tuple[tuple[str, str], ...]] | None:
    ev = msg.event
    if ev == "VarSet" and msg.get("Variable") in VARS_THAT_MATTER:
        return ev, (("Variable", msg["Variable"]), ("Value", msg.get("Value", "")))
    if ev not in MATTER:
        return None
    return ev, tuple((f, msg.get(f, "")) for f in MATTER[ev])


@dataclass
class Stream:
    """What one client connection received, with PBX times."""

    messages: list[tuple[float, Message]] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)


def by_channel(items: list[tuple[float, Message]]
               ) -> dict[str, list[tuple[float, tuple[str, tuple[tuple[str, str], ...]]]]]:
    out: dict[str, list] = defaultdict(list)
    for t, msg in items:
        sig = significant(msg)
        key = _key(msg)
        if sig is not None and key is not None:
            out[key].append((t, sig))
    return out


class Replay:
    def __init__(self, name: str, *, time_scale: float = 0.1,
                 dialplan: Path | None = None) -> None:
        self.name = name
        self.records = load(trace_path(name))
        self.time_scale = time_scale
        folder = "sip-config" if name.startswith("s") else "lab-config"
        self.dialplan = Dialplan.load(dialplan or shared_dir() / folder / "extensions.conf")
        self.t0 = min(r.t for r in self.records)
        self.streams: dict[str, Stream] = {}
        self.missed: list[str] = []  # triggers the fake never sent

    def _counters(self, pbx: FakePbx) -> None:
        for r in self.records:
            if r.received and r.msg.event == "Newchannel":
                m = re.search(r"-([0-9a-f]{8});1$", r.msg.get("Channel", ""))
                if m:
                    pbx._local = itertools.count(int(m.group(1), 16))
                    return

    async def run(self) -> None:
        self.pbx = FakePbx(self.dialplan, time_scale=self.time_scale)
        self._counters(self.pbx)
        server = AmiServer(self.pbx, {"kc": AmiUser("kc-secret")},
                           failed_login_delay=1.0 * self.time_scale)
        port = await server.start()
        self._loop_t0 = asyncio.get_running_loop().time()
        conns = sorted({r.conn for r in self.records})
        try:
            await asyncio.wait_for(
                asyncio.gather(*(self._client(c, port) for c in conns)),
                timeout=(self.records[-1].t - self.t0) * self.time_scale + 30)
        finally:
            await server.stop()
            await self.pbx.close()

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
                await self._wait_trigger(stream, received_before, closed)
                trigger_t = received_before[-1].t if received_before else mine[0].t
                if received_before:
                    await asyncio.sleep(max(r.t - trigger_t, 0) * self.time_scale)
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
                            timeout: float = 20) -> None:
        """Waits until the fake has sent the counterpart of the last message received before
        (the n-th message of that kind on the same channel)."""
        if not before:
            return
        trigger = before[-1].msg
        sig = (trigger.event or trigger.response, trigger.get("Channel"), trigger.get("Digit"))
        nth = sum(1 for r in before if (r.msg.event or r.msg.response, r.msg.get("Channel"),
                                         r.msg.get("Digit")) == sig)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout * max(self.time_scale, 0.2) + 5
        while True:
            seen = sum(1 for _, m in stream.messages
                       if (m.event or m.response, m.get("Channel"), m.get("Digit")) == sig)
            if seen >= nth or closed.is_set():
                return
            if loop.time() > deadline:
                self.missed.append(f"never got {sig} #{nth}")
                return
            stream.arrived.clear()
            try:
                await asyncio.wait_for(stream.arrived.wait(), deadline - loop.time())
            except TimeoutError:
                self.missed.append(f"never got {sig} #{nth}")
                return

    def compare(self, conn: str, *, tolerance: float = 0.35, relative: float = 0.03
                ) -> list[str]:
        """Differences between the trace and the fake on one connection; [] if faithful."""
        expected = by_channel([(r.t - self.t0, r.msg) for r in self.records
                               if r.conn == conn and r.received])
        actual = by_channel(self.streams[conn].messages)
        problems = list(self.missed) + [f"the fake PBX failed: {e!r}" for e in self.pbx.errors]
        for key, exp in expected.items():
            act = actual.get(key, [])
            exp_sigs = [s for _, s in exp]
            act_sigs = [s for _, s in act]
            if exp_sigs != act_sigs:
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
