"""The telephony port: the only code that knows AMI event and header names, the rendered
dialplan's contexts and vaxel's channel variables.

Facts come out (frozen, typed: a caller entered, an agent leg failed with its reason, a caller
bridged, a channel gone with its cause, back from the partner, a phone's state, the link up or
down, the resync listing); commands go in (ring an agent, cancel a leg, send a caller to the
partner, remember their place, renew leases, hang up, the call's AGI I/O). The port never calls
back into the controller: the controller asks it for facts, and tells it what to do.

Asterisk's behaviour behind each translation is recorded in tests/fixtures/asterisk (FACTS.md and
the traces): the leg's Uniqueid is the ChannelId we chose; a failed Originate names it with
Response Failure and Reason 0 (no such extension), 3 (no answer) or 5 (busy); a caller in a
bridge has left AGI; Status lists channel variables only when asked for them by name.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from telephony import ami_link
from telephony.ami_codec import Message
from telephony.ami_link import AmiLink
from telephony.callio import AgiCallIO

INBOUND_CONTEXT = "vaxel-inbound"  # where a citizen's call enters vaxel's AGI
PARTNER_CONTEXT = "vaxel-partner"  # the overflow partner's Dial, then back into AGI
CALLBACK_CONTEXT = "vaxel-callback"  # a citizen called back: the greeting, then the agent
TRANSFER_CONTEXT = "vaxel-transfer"  # a caller sent on to a number: Dial, then back into AGI
HOLD_CONTEXT = "vaxel-hold"  # a caller taken out of a bridge into AGI (sent to another line)
AGENT_HOLD_CONTEXT = "vaxel-agent-hold"  # the agent's leg while they consult a number
CONSULT_CONTEXT = "vaxel-consult"  # the consulted number: bridged with the agent, then AGI
DIAL_VARIABLE = "VAXEL_DIAL"  # the transfer's dial string, set before the Redirect
# On the caller's channel (channel variables survive bridging), what a restarted controller
# needs to adopt the call again: VAXEL_CALLID (set by the dialplan, vx-<Uniqueid>) and, once in a
# line, VAXEL_PLACE = "<group> <arrival>" (one Setvar each time the caller joins a line).
CALL_ID_VARIABLE = "VAXEL_CALLID"
PLACE_VARIABLE = "VAXEL_PLACE"
# Device states of a phone that cannot ring (not registered, or no such endpoint).
UNREACHABLE_DEVICE_STATES = frozenset({"UNAVAILABLE", "INVALID"})
# Why an agent leg ended unanswered, in the same words from both of Asterisk's ways of saying
# it: the OriginateResponse Reason, and the leg's Hangup cause (Q.850) when that comes first.
ORIGINATE_REASONS = {"0": "failed", "1": "hung up", "3": "no answer", "5": "busy",
                     "8": "congestion"}
# Failures that are the PBX's, not the phone's (Asterisk at its limits): no miss of the agent's.
PBX_FAULTS = frozenset({"congestion", "temporary failure", "resources unavailable"})
HANGUP_CAUSES = {"0": "failed", "1": "failed", "3": "unreachable", "16": "hung up", "17": "busy",
                 "18": "no answer", "19": "no answer", "20": "unreachable", "21": "rejected",
                 "34": "congestion", "38": "failed", "41": "temporary failure",
                 "42": "congestion", "47": "resources unavailable"}


# ---- facts ---------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class CallerEntered:
    """A citizen's call reached vaxel's AGI (the inbound context)."""

    channel: str
    call_id: str
    caller: str
    number: str  # the municipal number dialled


@dataclass(frozen=True, slots=True)
class BackFromPartner:
    """A caller came back into AGI after the partner's Dial (answered or not)."""

    channel: str


@dataclass(frozen=True, slots=True)
class BackFromTransfer:
    """A caller came back into AGI after a transfer's Dial (answered or not)."""

    channel: str


@dataclass(frozen=True, slots=True)
class CallerHeld:
    """A caller taken out of their bridge came into AGI in the hold context."""

    channel: str


@dataclass(frozen=True, slots=True)
class AgentHeld:
    """The agent's leg came into AGI in the agent-hold context (an attended transfer: when
    redirected there, and again whenever a bridge of theirs ends). Known by its Uniqueid, the
    ChannelId vaxel chose when it rang them."""

    channel: str
    leg: str


@dataclass(frozen=True, slots=True)
class ConsultHeld:
    """The consulted person's leg came into AGI: the agent who consulted them hung up."""

    channel: str
    leg: str


@dataclass(frozen=True, slots=True)
class CallerBridged:
    """A channel entered a bridge: for a caller, an agent answered (the lease is wiped); for a
    citizen called back, the citizen answered and heard who calls."""

    channel: str
    uniqueid: str = ""


@dataclass(frozen=True, slots=True)
class LegInAgi:
    """A leg vaxel originated into AsyncAGI answered: a callback's agent, on the line first
    (sip-traces/t3 (a)). Found by its Uniqueid, the ChannelId we chose."""

    channel: str
    leg: str


@dataclass(frozen=True, slots=True)
class LegFailed:
    """The Originate of an agent leg failed: the phone did not answer, was busy, or is not."""

    leg: str
    reason: str


@dataclass(frozen=True, slots=True)
class ChannelGone:
    channel: str
    uniqueid: str
    cause: str  # the hangup cause in HANGUP_CAUSES' words, else Asterisk's (Cause-txt)


@dataclass(frozen=True, slots=True)
class PhoneState:
    device: str  # PJSIP/anna
    state: str  # Asterisk's device state: NOT_INUSE, INUSE, RINGING, UNAVAILABLE, ...

    @property
    def available(self) -> bool:
        return self.state not in UNREACHABLE_DEVICE_STATES


@dataclass(frozen=True, slots=True)
class LinkRestored:
    channels: int  # channels Asterisk listed on connecting


@dataclass(frozen=True, slots=True)
class LinkLost:
    reason: str


Fact = (CallerEntered | BackFromPartner | BackFromTransfer | CallerHeld | AgentHeld
        | ConsultHeld | CallerBridged | LegInAgi | LegFailed | ChannelGone | PhoneState
        | LinkRestored | LinkLost)


@dataclass(frozen=True, slots=True)
class ListedChannel:
    """One channel of the resync listing (AMI Status with vaxel's variables)."""

    channel: str
    uniqueid: str
    caller: str
    number: str
    bridged: bool
    in_agi: bool  # running AGI and not in a bridge: a caller vaxel serves
    call_id: str | None  # VAXEL_CALLID: ours
    place: tuple[str, float | None] | None  # VAXEL_PLACE: group and first arrival in a line


def translate(msg: Message) -> Fact | None:
    """The fact an AMI event states, or None for events vaxel does not act on."""
    name = msg.event
    if name == "AsyncAGIStart":
        context = msg.get("Context")
        if context == INBOUND_CONTEXT:
            return CallerEntered(msg.get("Channel", ""), f"vx-{msg.get('Uniqueid', '')}",
                                 msg.get("CallerIDNum", ""), msg.get("Exten", ""))
        if context == PARTNER_CONTEXT:
            return BackFromPartner(msg.get("Channel", ""))
        if context == TRANSFER_CONTEXT:
            return BackFromTransfer(msg.get("Channel", ""))
        if context == HOLD_CONTEXT:
            return CallerHeld(msg.get("Channel", ""))
        if context == AGENT_HOLD_CONTEXT:
            return AgentHeld(msg.get("Channel", ""), msg.get("Uniqueid", ""))
        if context == CONSULT_CONTEXT:
            return ConsultHeld(msg.get("Channel", ""), msg.get("Uniqueid", ""))
        # an originated leg running AGI as its application: its context is the phone's own
        return LegInAgi(msg.get("Channel", ""), msg.get("Uniqueid", ""))
    elif name == "Hangup":
        cause = msg.get("Cause", "")
        return ChannelGone(msg.get("Channel", ""), msg.get("Uniqueid", ""),
                           HANGUP_CAUSES.get(cause) or msg.get("Cause-txt", "") or cause)
    elif name == "BridgeEnter":
        return CallerBridged(msg.get("Channel", ""), msg.get("Uniqueid", ""))
    elif name == "OriginateResponse":
        if msg.get("Response") != "Success":
            reason = msg.get("Reason", "")
            return LegFailed(msg.get("Uniqueid", ""), ORIGINATE_REASONS.get(reason, reason))
    elif name == "DeviceStateChange":
        return PhoneState(msg.get("Device", ""), msg.get("State", ""))
    return None


def _listed(msg: Message) -> ListedChannel:
    values = {k: v for k, v in msg.variables().items() if v not in ("", "(null)")}
    bridged = bool(msg.get("BridgeID"))
    place = None
    if PLACE_VARIABLE in values:
        group, _, arrived = values[PLACE_VARIABLE].partition(" ")
        try:
            arrival: float | None = float(arrived)
        except ValueError:
            arrival = None
        place = (group, arrival)
    return ListedChannel(msg.get("Channel", ""), msg.get("Uniqueid", ""),
                         msg.get("CallerIDNum", ""), msg.get("Exten", ""), bridged,
                         msg.get("Application") == "AGI" and not bridged,
                         values.get(CALL_ID_VARIABLE), place)


class TelephonyPort:
    """Commands to Asterisk over the AMI link, and the facts it reports."""

    def __init__(self, link: AmiLink, prompt_exists: Callable[[str], bool] | None = None
                 ) -> None:
        self.link = link
        self._prompt_exists = prompt_exists

    # ---- facts -------------------------------------------------------------------------------

    def listen(self, on_fact: Callable[[Fact], None] | None) -> None:
        """The link's events as facts to `on_fact`, one call each on the loop, in the order
        Asterisk sent them (None: no more)."""
        if on_fact is None:
            self.link.listen(None)
            return

        def listener(item: ami_link.Item) -> None:
            if isinstance(item, Message):
                fact = translate(item)
                if fact is not None:
                    on_fact(fact)
            elif isinstance(item, ami_link.LinkUp):
                on_fact(LinkRestored(len(item.channels)))
            elif isinstance(item, ami_link.LinkDown):
                on_fact(LinkLost(item.reason))

        self.link.listen(listener)

    async def listing(self) -> list[ListedChannel]:
        """Every channel now, with vaxel's variables (Status: CoreShowChannels is stale)."""
        items = await self.link.list_action(
            "Status", [("Variables", f"{CALL_ID_VARIABLE},{PLACE_VARIABLE}")])
        return [_listed(m) for m in items]

    async def phones(self) -> list[PhoneState]:
        items = await self.link.list_action("DeviceStateList")
        return [PhoneState(m.get("Device", ""), m.get("State", "")) for m in items]

    # ---- commands ----------------------------------------------------------------------------

    def call_io(self, channel: str) -> AgiCallIO:
        """The caller's AsyncAGI: prompts, keys, music, the lease, variables, hangup."""
        return AgiCallIO(self.link, channel, prompt_exists=self._prompt_exists)

    async def ring_agent(self, leg: str, device: str, caller_channel: str, caller_id: str,
                         ring: float) -> None:
        """Rings the agent's own device, bridged to the caller when answered: the leg is the
        phone's channel, named by our ChannelId (never sent twice; found again after a
        reconnect). Raises TelephonyError: NotConnected, ConnectionLost, ActionTimeout (the PBX
        was never asked, or its answer was lost) or ActionFailed."""
        await self.link.action("Originate", [
            ("Channel", device), ("Application", "Bridge"), ("Data", caller_channel),
            ("Async", "true"), ("ChannelId", leg), ("Timeout", str(round(ring * 1000))),
            ("CallerID", caller_id)])

    async def ring_agent_first(self, leg: str, device: str, caller_id: str, ring: float
                               ) -> None:
        """A callback's first leg: the agent's own device, into AsyncAGI when answered, so
        the agent can be told who and why before the citizen is dialled, and stays there
        through a citizen's busy or no answer (sip-traces/t3 (a)). Rung directly as for a
        caller (no Local channel, whose optimization swaps the agent's channel under us and
        sometimes re-runs its Dial: t3). Raises as ring_agent."""
        await self.link.action("Originate", [
            ("Channel", device), ("Application", "AGI"), ("Data", "agi:async"),
            ("Async", "true"), ("ChannelId", leg), ("Timeout", str(round(ring * 1000))),
            ("CallerID", caller_id)])

    async def call_citizen(self, leg: str, dial: str, agent_channel: str, call_id: str,
                           language: str, caller_id: str, ring: float) -> None:
        """A callback's second leg: the citizen through the outbound trunk (`dial`, built
        from a checked number), into the callback context, which greets them and bridges them
        with the agent's channel. The outcome comes as facts: LegFailed (busy, no answer,
        unreachable) or CallerBridged with this leg's id."""
        await self.link.action("Originate", [
            ("Channel", dial), ("Context", CALLBACK_CONTEXT), ("Exten", "s"),
            ("Priority", "1"), ("Async", "true"), ("ChannelId", leg),
            ("Timeout", str(round(ring * 1000))), ("CallerID", caller_id),
            ("Variable", f"VAXEL_AGENT={agent_channel}"), ("Variable", f"VAXEL_LANG={language}"),
            ("Variable", f"{CALL_ID_VARIABLE}={call_id}")])

    async def cancel_leg(self, leg: str) -> None:
        """Stops a ringing agent leg by its ChannelId: Asterisk looks a channel up by name, then
        by Uniqueid (ast_channel_get_by_name), for Hangup as for every action."""
        await self.link.action("Hangup", [("Channel", leg)])

    async def to_partner(self, io: AgiCallIO, number: str) -> None:
        """Clears the lease first (a caller bridged by Dial keeps it and would be cut when it
        runs out), then redirects to the partner context, where only allowlisted numbers
        exist."""
        await io.clear_lease()
        await self.link.action("Redirect", [("Channel", io.channel), ("Context", PARTNER_CONTEXT),
                                            ("Exten", number), ("Priority", "1")])

    async def transfer(self, io: AgiCallIO, number: str, dial: str) -> None:
        """Sends a caller in AGI on to a number: the lease cleared (a Dial bridge keeps it),
        the dial string set (built from a checked number: config checks and
        DialplanSettings.outbound), then a Redirect into the transfer context, whose Dial
        plays music while it rings and comes back into AGI whatever happened."""
        await io.clear_lease()
        await self.link.action("Setvar", [("Channel", io.channel), ("Variable", DIAL_VARIABLE),
                                          ("Value", dial)])
        await self.link.action("Redirect", [("Channel", io.channel),
                                            ("Context", TRANSFER_CONTEXT), ("Exten", number),
                                            ("Priority", "1")])

    async def hold(self, channel: str) -> None:
        """Takes a caller out of their bridge into AGI (the hold context arms the lease): the
        agent's leg, left alone, is hung up by Asterisk (sip-traces/t1 b1)."""
        await self.link.action("Redirect", [("Channel", channel), ("Context", HOLD_CONTEXT),
                                            ("Exten", "s"), ("Priority", "1")])

    async def hold_both(self, channel: str, agent_leg: str) -> None:
        """Takes the caller and the agent out of their conversation, each into AGI (the caller
        with music from the controller): a dual Redirect, the only way that kept both legs
        (sip-traces/t1 b2, t4 h2: `Dual Redirect successful`, both AsyncAGIStart in 2 ms)."""
        await self.link.action("Redirect", [
            ("Channel", channel), ("Context", HOLD_CONTEXT), ("Exten", "s"), ("Priority", "1"),
            ("ExtraChannel", agent_leg), ("ExtraContext", AGENT_HOLD_CONTEXT),
            ("ExtraExten", "s"), ("ExtraPriority", "1")])

    async def consult(self, leg: str, dial: str, agent_channel: str, caller_id: str,
                      ring: float) -> None:
        """Rings the number the agent consults into the consult context, which bridges it with
        the agent's leg (waiting in AGI) and, when the agent hangs up, brings it into AGI to be
        handed the caller; the outcome comes as facts (LegFailed, the agent's CallerBridged,
        ConsultHeld)."""
        await self.link.action("Originate", [
            ("Channel", dial), ("Context", CONSULT_CONTEXT), ("Exten", "s"), ("Priority", "1"),
            ("Async", "true"), ("ChannelId", leg), ("Timeout", str(round(ring * 1000))),
            ("CallerID", caller_id), ("Variable", f"VAXEL_AGENT={agent_channel}")])

    async def bridge(self, one: str, other: str) -> None:
        """Two channels of vaxel's (each in AGI, or one in a bridge) into a bridge of their
        own (AMI Bridge: t4 h2 `Channels have been bridged`; the leases are wiped)."""
        await self.link.action("Bridge", [("Channel1", one), ("Channel2", other),
                                          ("Tone", "no")])

    async def dial_status(self, io: AgiCallIO) -> str | None:
        """How the partner's or a transfer's Dial ended (DIALSTATUS: ANSWER, BUSY, NOANSWER,
        CHANUNAVAIL, ...)."""
        return await io.get_variable("DIALSTATUS")

    def remember_place(self, channel: str, group: str, arrival: float) -> None:
        """Writes the caller's place on its channel, for a restarted controller (best effort:
        without it a restarted controller sends the caller through the menus again)."""
        self.link.send("Setvar", [("Channel", channel), ("Variable", PLACE_VARIABLE),
                                  ("Value", f"{group} {arrival:.3f}")])

    async def probe(self) -> None:
        """An action whose answer measures how late Asterisk answers (the link's lag)."""
        await self.link.action("Ping")
