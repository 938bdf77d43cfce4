"""A channel of the fake PBX and the header block every channel event repeats."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from telephony.fakepbx.bridge import Bridge

STATE_DESC = {0: "Down", 1: "Rsrvd", 2: "OffHook", 3: "Dialing", 4: "Ring", 5: "Ringing",
              6: "Up", 7: "Busy"}
DOWN, RING, RINGING, UP, BUSY = 0, 4, 5, 6, 7

Headers = list[tuple[str, str]]


class Interrupt(Exception):
    """Why a channel's running application was cut short (delivered by cancelling its task)."""


class HangupInterrupt(Interrupt):
    def __init__(self, cause: int) -> None:
        super().__init__(f"hangup cause {cause}")
        self.cause = cause


class JumpInterrupt(Interrupt):
    """Redirect, or the lease's `T` extension: continue at another place in the dialplan."""

    def __init__(self, context: str, exten: str, priority: int, reason: str) -> None:
        super().__init__(f"{reason} to {context},{exten},{priority}")
        self.context, self.exten, self.priority, self.reason = context, exten, priority, reason


class BridgeInterrupt(Interrupt):
    """The channel is pulled into a bridge; it continues at the next priority afterwards."""

    def __init__(self, bridge: Bridge) -> None:
        super().__init__("bridged")
        self.bridge = bridge


@dataclass
class Hearing:
    """What the person on a channel hears: how many sounds reach them now (a prompt, music,
    ringback, a conversation, a menu waiting for their key) and the longest stretch with none.
    Sounds sent to a channel that is not answered never reach a SIP phone (no media yet). A
    caller's silence counts from their call's start (no Answer() leaves them in silence, s1doc);
    a called phone's from its answer (it rings until then)."""

    quiet_since: float | None = None  # start of the current silence; None while they hear
    sources: int = 0
    longest: float = 0.0

    def begin(self, now: float) -> None:
        if self.sources == 0 and self.quiet_since is not None:
            self.longest = max(self.longest, now - self.quiet_since)
            self.quiet_since = None
        self.sources += 1

    def answered(self, now: float) -> None:
        if self.sources == 0 and self.quiet_since is None:
            self.quiet_since = now

    def end(self, now: float) -> None:
        self.sources -= 1
        if self.sources == 0:
            self.quiet_since = now

    def longest_silence(self, now: float) -> float:
        """The longest silence so far, the current one included."""
        current = 0.0 if self.quiet_since is None else now - self.quiet_since
        return max(self.longest, current)


@dataclass(eq=False)
class Channel:
    name: str
    uniqueid: str
    linkedid: str
    tech: str  # "Local" or "PJSIP"
    context: str
    exten: str
    priority: int = 1
    state: int = DOWN
    cid_num: str = "<unknown>"
    cid_name: str = "<unknown>"
    conn_num: str = "<unknown>"
    conn_name: str = "<unknown>"
    language: str = "en"
    accountcode: str = ""
    variables: dict[str, str] = field(default_factory=dict)
    application: str = ""
    app_data: str = ""
    peer: Channel | None = None  # the other half of a Local pair
    bridge: Bridge | None = None
    lease_deadline: float | None = None  # TIMEOUT(absolute), in PBX seconds
    lease_handle: asyncio.TimerHandle | None = None
    agi_queue: list[tuple[str, str]] | None = None  # exists once the channel has entered AGI
    agi_event: asyncio.Event = field(default_factory=asyncio.Event)
    in_agi: bool = False
    digits: asyncio.Queue[str] = field(default_factory=asyncio.Queue)
    listening: bool = False  # an application or AGI command is reading digits now
    moh_class: str | None = None
    moh_heard: bool = False  # the music reaches the person (it started once answered)
    hearing: Hearing = field(default_factory=Hearing)
    refused_keys: str = ""  # keys the phone could not send: no media before the answer
    audio: asyncio.Event = field(default_factory=asyncio.Event)  # it has sent media frames
    task: asyncio.Task[None] | None = None
    last_exten: tuple[str, str, int, str] | None = None  # for Newexten's snapshot rule
    runs_dialplan: bool = False  # False for a leg running an originated application
    live_app: tuple[str, str] | None = None  # an application run by AGI EXEC right now
    interrupt: Interrupt | None = None
    hungup: bool = False
    hangup_cause: int = 0
    dial_string: str = ""
    created_at: float = 0.0
    answered_at: float | None = None
    actor: object | None = None  # the scripted phone behind a PJSIP channel
    optimize: bool = False  # a Local half that Asterisk may optimize away (no /n)
    optimizing: bool = False
    ends_with_bridge: bool = False  # hung up when its bridge ends (swapped in for a Local)
    dialing: Channel | None = None  # the phone this channel's Dial rings now

    @property
    def state_desc(self) -> str:
        return STATE_DESC.get(self.state, "Unknown")

    def block(self, prefix: str = "") -> Headers:
        """The channel headers, as Asterisk repeats them in every channel event."""
        return [
            (prefix + "Channel", self.name),
            (prefix + "ChannelState", str(self.state)),
            (prefix + "ChannelStateDesc", self.state_desc),
            (prefix + "CallerIDNum", self.cid_num),
            (prefix + "CallerIDName", self.cid_name),
            (prefix + "ConnectedLineNum", self.conn_num),
            (prefix + "ConnectedLineName", self.conn_name),
            (prefix + "Language", self.language),
            (prefix + "AccountCode", self.accountcode),
            (prefix + "Context", self.context),
            (prefix + "Exten", self.exten),
            (prefix + "Priority", str(self.priority)),
            (prefix + "Uniqueid", self.uniqueid),
            (prefix + "Linkedid", self.linkedid),
        ]

    @property
    def device(self) -> str:
        """The device name in DeviceStateChange: the channel name without its counter."""
        base = self.name.rsplit("-", 1)[0] if self.tech == "PJSIP" else self.name.split(";")[0]
        return base if self.tech == "PJSIP" else base.rsplit("-", 1)[0]
