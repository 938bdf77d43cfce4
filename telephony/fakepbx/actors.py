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


@dataclass(frozen=True, slots=True)
class Answer:
    """How a phone meets one incoming call: `kind` is answer (after `after` seconds, then hangs
    up after `talk` if set), busy (486), decline (603) or never (rings until given up on)."""

    kind: str = "answer"
    after: float = 0.5
    talk: float | None = None


@dataclass
class Phone:
    endpoint: str
    answer_after: float | None = 0.5  # seconds of ringing; None: never answers
    busy: bool = False  # 486 Busy Here (a phone's busy gives Originate reason 0, not 5)
    talk: float | None = None  # hangs up this long after answering; None: waits for the far end
    registered: bool = True
    context: str = "vaxel-devices"
    script: list[Answer] = field(default_factory=list)  # one per call, before the defaults
    calls: int = 0
    current: Channel | None = None

    def _next(self) -> Answer:
        if self.script:
            return self.script.pop(0)
        if self.busy:
            return Answer("busy")
        if self.answer_after is None:
            return Answer("never")
        return Answer("answer", self.answer_after, self.talk)

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
                   dialer: Channel | None) -> Channel:
        """Rings this phone for an Originate, or for the Dial application of `dialer`."""
        from telephony.fakepbx.pbx import OriginateOutcome

        self.calls += 1
        how = self._next()
        # Dial gives its callee the dialler's extension (vaxel-on-asterisk/s1: anna, from the
        # Local leg's anna; sip-traces/s4: s); an Originate leaves it at s
        ch.context, ch.exten = self.context, dialer.exten if dialer is not None else "s"
        ch.actor = self
        ch.dial_string = req.channel.partition("/")[2]
        caller = dialer.block() if dialer is not None else []
        if dialer is not None:
            pbx.var_set(ch, "DIALEDPEERNUMBER", ch.dial_string)
            dialer.variables["HANGUPCAUSE_KEYS()"] = ch.name
            dialer.dialing = ch
        pbx.newexten(ch, "AppDial" if dialer is not None else "AppDial2", "(Outgoing Line)")
        pbx.emit("DialBegin", "call,all", [*caller, *ch.block("Dest"),
                                           ("DialString", req.channel.partition("/")[2])])
        if how.kind in ("busy", "decline"):
            # 486 and 603 both fail an Originate with reason 0 (FACTS); Dial tells them apart
            status, cause = ("BUSY", 17) if how.kind == "busy" else ("NOANSWER", 21)
            await pbx.sleep(0.003)
            pbx.channel_event("HangupRequest", ch)
            pbx.emit("DialEnd", "call,all", [*caller, *ch.block("Dest"), ("DialStatus", status)])
            ch.hungup = True
            pbx.gone(ch, cause)
            raise OriginateOutcome(0, cause)
        try:
            return await self._ring(pbx, ch, req, dialer, how, caller)
        except asyncio.CancelledError:  # the caller's side gave up: the phone stops ringing
            if not ch.hungup:
                ch.hungup = True
                pbx.gone(ch, 0)
            raise

    async def _ring(self, pbx: FakePbx, ch: Channel, req: OriginateRequest,
                    dialer: Channel | None, how: Answer, caller: list[tuple[str, str]]
                    ) -> Channel:
        from telephony.fakepbx.pbx import OriginateOutcome

        if how.kind == "never" or how.after >= req.timeout:
            await pbx.sleep(req.timeout)
            # Dial gives up with a DialEnd and cancels the phone without a cause; an
            # Originate gives up with cause 19
            cause = 0 if dialer is not None else 19
            if dialer is not None:
                pbx.emit("DialEnd", "call,all", [*caller, *ch.block("Dest"),
                                                 ("DialStatus", "NOANSWER")])
            ch.hungup = True
            pbx.gone(ch, cause)
            raise OriginateOutcome(3, cause)
        if how.after > 0.05:
            pbx.set_state(ch, RINGING)
        await pbx.sleep(how.after)
        pbx.set_state(ch, UP)
        ch.answered_at = pbx.now()
        if dialer is not None:
            pbx.var_set(dialer, "DIALEDPEERNAME", ch.name)
            pbx.var_set(dialer, "DIALSTATUS", "ANSWER")
        pbx.emit("DialEnd", "call,all", [*caller, *ch.block("Dest"), ("DialStatus", "ANSWER")])
        if dialer is not None:
            ch.exten = ""
            pbx.newexten(ch, "AppDial", "(Outgoing Line)")
        pbx.device_state(ch, "INUSE")
        self.current = ch
        if how.talk is not None:
            pbx.call_later(how.talk, lambda: self.hang_up(pbx, ch))
        return ch

    def hang_up(self, pbx: FakePbx, ch: Channel | None = None) -> None:
        """The phone's user hangs up (BYE): cause 16 when bridged, as chan_pjsip reports."""
        ch = ch or self.current
        if ch is not None and not ch.hungup:
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
    hangup_after: float | None = None  # hangs up after this many seconds, whatever happens
    gives_up_after: float | None = None  # hangs up then unless talking to someone by then
    sip_port: int = 5060
    rtp_port: int = 4000  # pjsua takes the next even port for each new call
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
        if self.gives_up_after is not None:
            pbx.call_later(self.gives_up_after, lambda: self._give_up(pbx))
        return ch

    def _give_up(self, pbx: FakePbx) -> None:
        if self.channel is not None and self.channel.bridge is None:
            self.hang_up(pbx)

    async def _press(self, pbx: FakePbx, ch: Channel, at: float, keys: str) -> None:
        await pbx.sleep(at)
        for key in keys:
            await pbx.send_dtmf(ch, key, 200, gap=0.1)

    def hang_up(self, pbx: FakePbx) -> None:
        """The citizen hangs up (BYE): HangupRequest, then cause 0 while in AGI, 16 when
        talking (as with real phones)."""
        ch = self.channel
        if ch is not None and not ch.hungup:
            pbx.channel_event("HangupRequest", ch)
            pbx.hangup_nowait(ch, 16 if ch.bridge is not None else 0)
