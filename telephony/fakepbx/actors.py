"""Scripted phones for the fake PBX, behaving as the real SIP phones of sip-traces/ did.

A Phone is a registered PJSIP endpoint that something dials (an agent's device, the partner's
trunk): it answers after a while, never, or is busy; it may hang up after talking. A Caller is a
citizen's phone that dials in, presses keys at given times and may give up.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from telephony.fakepbx.channel import RING, RINGING, UP, Channel

if TYPE_CHECKING:
    from telephony.fakepbx.pbx import FakePbx, OriginateRequest


@dataclass
class Phone:
    endpoint: str
    answer_after: float | None = 0.5  # seconds of ringing; None: never answers
    busy: bool = False  # 486 Busy Here (a phone's busy gives Originate reason 0, not 5)
    talk: float | None = None  # hangs up this long after answering; None: waits for the far end
    registered: bool = True
    context: str = "vaxel-devices"
    calls: int = 0

    def register(self, pbx: FakePbx) -> None:
        """REGISTER: as chan_pjsip reports it (ContactStatus, PeerStatus, DeviceStateChange)."""
        self.registered = True
        pbx.endpoints[self.endpoint] = self
        contact = [("URI", f"sip:{self.endpoint}@127.0.0.1"), ("AOR", self.endpoint),
                   ("EndpointName", self.endpoint)]
        pbx.emit("ContactStatus", "system,all", [*contact, ("ContactStatus", "Reachable"),
                                                 ("RoundtripUsec", "1500")])
        pbx.emit("PeerStatus", "system,all", [("ChannelType", "PJSIP"),
                                              ("Peer", f"PJSIP/{self.endpoint}"),
                                              ("PeerStatus", "Reachable")])
        pbx.emit("DeviceStateChange", "call,all", [("Device", f"PJSIP/{self.endpoint}"),
                                                   ("State", "NOT_INUSE")])

    def unregister(self, pbx: FakePbx) -> None:
        self.registered = False
        pbx.emit("ContactStatus", "system,all", [("URI", f"sip:{self.endpoint}@127.0.0.1"),
                                                 ("AOR", self.endpoint),
                                                 ("EndpointName", self.endpoint),
                                                 ("ContactStatus", "Removed")])
        pbx.emit("PeerStatus", "system,all", [("ChannelType", "PJSIP"),
                                              ("Peer", f"PJSIP/{self.endpoint}"),
                                              ("PeerStatus", "Unreachable")])
        pbx.emit("DeviceStateChange", "call,all", [("Device", f"PJSIP/{self.endpoint}"),
                                                   ("State", "UNAVAILABLE")])

    async def ring(self, pbx: FakePbx, ch: Channel, req: OriginateRequest,
                   caller: list[tuple[str, str]]) -> Channel:
        from telephony.fakepbx.pbx import OriginateOutcome

        self.calls += 1
        ch.context, ch.exten = self.context, "s"
        ch.actor = self
        pbx.newexten(ch, "AppDial2", "(Outgoing Line)")
        pbx.emit("DialBegin", "call,all", [*caller, *ch.block("Dest"),
                                           ("DialString", req.channel.partition("/")[2])])
        if self.busy:
            pbx.emit("DialEnd", "call,all", [*caller, *ch.block("Dest"), ("DialStatus", "BUSY")])
            ch.hungup = True
            pbx.gone(ch, 17)
            raise OriginateOutcome(0, 17)
        if self.answer_after is None or self.answer_after >= req.timeout:
            pbx.set_state(ch, RINGING)
            await pbx.sleep(req.timeout)
            pbx.emit("DialEnd", "call,all", [*caller, *ch.block("Dest"),
                                             ("DialStatus", "NOANSWER")])
            ch.hungup = True
            pbx.gone(ch, 19)
            raise OriginateOutcome(3, 19)
        if self.answer_after > 0:
            pbx.set_state(ch, RINGING)
            await pbx.sleep(self.answer_after)
        pbx.set_state(ch, UP)
        ch.answered_at = pbx.now()
        pbx.emit("DialEnd", "call,all", [*caller, *ch.block("Dest"), ("DialStatus", "ANSWER")])
        pbx.device_state(ch, "INUSE")
        if self.talk is not None:
            pbx.call_later(self.talk, lambda: self.hang_up(pbx, ch))
        return ch

    def hang_up(self, pbx: FakePbx, ch: Channel) -> None:
        """The phone's user hangs up (BYE): cause 16 when bridged, as chan_pjsip reports."""
        if not ch.hungup:
            pbx.channel_event("HangupRequest", ch, ("Cause", "16"))
            pbx.hangup_nowait(ch, 16)


@dataclass
class Caller:
    """A citizen's phone that dials the municipality."""

    endpoint: str
    number: str
    name: str = ""
    dialled: str = "0812345"
    context: str = "vaxel-inbound"
    keys: tuple[tuple[float, str], ...] = ()  # (seconds after dialling, keys)
    hangup_after: float | None = None  # gives up after this many seconds
    channel: Channel | None = None
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def dial(self, pbx: FakePbx) -> Channel:
        ch = pbx.pjsip_channel(self.endpoint, self.context, self.dialled, state=RING,
                               cid=(self.name or self.number, self.number))
        ch.actor = self
        self.channel = ch
        pbx.start(ch)
        for at, keys in self.keys:
            self.tasks.append(pbx.spawn(self._press(pbx, ch, at, keys)))
        if self.hangup_after is not None:
            pbx.call_later(self.hangup_after, lambda: self.hang_up(pbx))
        return ch

    async def _press(self, pbx: FakePbx, ch: Channel, at: float, keys: str) -> None:
        await pbx.sleep(at)
        for key in keys:
            await pbx.send_dtmf(ch, key, 200, gap=0.1)

    def hang_up(self, pbx: FakePbx) -> None:
        """The citizen hangs up: cause 0 while in AGI, 16 when talking (as with real phones)."""
        ch = self.channel
        if ch is not None and not ch.hungup:
            pbx.hangup_nowait(ch, 16 if ch.bridge is not None else 0)
