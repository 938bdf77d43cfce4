"""The agent's attended transfer: the agent talks with the person first, then hands the caller
over, or takes them back. Never a dead end: a number that does not answer brings the agent back
to the caller; an agent who hangs up hands the caller over if the person answered, else sends
the caller first in line.

Theory of operation, from the recordings (sip-traces/t4 h2, t1 b2; FACTS.md "Which alternative
keeps the caller"): a dual Redirect takes the caller into AGI (`vaxel-hold`: music from the
controller) and the agent's leg into AGI too (`vaxel-agent-hold`, which brings it back into AGI
whenever a bridge of theirs ends). The consulted number is originated with Application=Bridge to
the agent's leg: answered, the agent talks with them (the agent's BridgeEnter says so). Then:

- complete: AMI Bridge of the caller with the consulted leg; the agent's leg is hung up, their
  conversation over (their wrap-up, the forward noted for its form);
- take back (or the person hangs up): the consulted leg ends, the agent's leg comes back into
  AGI, and an AMI Bridge puts the agent with the caller again;
- not reached (busy, no answer, unreachable): the agent is still in AGI: bridged back at once.

Atxfer was not used: it needs Dial option `t` and a feature code on the agent's channel, and
without them it answered Success and only sent the digits to the citizen; no failure of it is
ever reported as an event (t2).
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from controller import events as ev
from queues.lifecycle import CallEvent, CallPhase
from queues.transfer import Target, TransferRefused
from telephony.errors import TelephonyError
from telephony.port import ListedChannel

if TYPE_CHECKING:
    from controller.engine import CallState, Controller

log = logging.getLogger("vaxel.calls")


@dataclass(eq=False)
class Consult:
    """An attended transfer under way."""

    target: Target
    agent: str
    leg: str | None = None  # our ChannelId of the consulted number's leg
    agent_channel: str | None = None  # the agent's leg, in AGI
    answered: bool = False  # the agent talks with them
    ended: str | None = None  # why it ended, when it did before a handover
    agent_left: bool = False  # the agent hung up after they answered: hand the caller over


class Consults:
    def __init__(self, ctl: Controller) -> None:
        self.ctl = ctl
        self._legs: dict[str, CallState] = {}  # the consulted legs, by our ChannelId

    def agent_channels(self) -> list[str]:
        """The agents' legs waiting in AGI while the number rings: they have a lease."""
        return [s.consult.agent_channel for s in self.ctl.calls
                if s.phase is CallPhase.HELD and s.consult is not None
                and s.consult.agent_channel is not None and not s.consult.answered]

    async def start(self, state: CallState, target: Target) -> None:
        """Caller and agent out of their conversation, each into AGI; the number is dialled
        when the agent's leg is there (agent_held). Raises TransferRefused."""
        ctl = self.ctl
        if target.kind != "number":
            raise TransferRefused("an attended transfer goes to a person or a number; a "
                                  "group's line takes a blind one")
        leg, agent = state.agent_leg, state.agent
        if leg is None or agent is None:
            raise TransferRefused(f"call {state.call_id} has no agent's leg to hold")
        state.consult = Consult(target, agent)
        ctl._advance(state, CallEvent.HOLD)
        try:
            await ctl.port.hold_both(state.channel, leg)
        except TelephonyError as err:
            if state.phase is CallPhase.HELD:
                ctl._advance(state, CallEvent.RESUMED)
            state.consult = None
            raise TransferRefused(f"the PBX did not take the transfer: {err}") from err
        ctl._call_event(ev.TransferStarted, state, target=target.value, kind="attended",
                        agent=agent, department=target.department)

    def caller_held(self, state: CallState) -> None:
        """The caller is in AGI: music while the agent consults."""
        self.ctl._call_task(state, self._music(state), hold=True)

    async def _music(self, state: CallState) -> None:
        while state.phase is CallPhase.HELD:
            await state.io.hold(60.0, escape="")

    def agent_held(self, state: CallState, channel: str) -> None:
        """The agent's leg is in AGI: first, to dial the number; later, the consultation over
        (taken back, the person hung up): back with the caller; after a handover: hung up."""
        consult = state.consult
        if state.phase is CallPhase.HELD and consult is not None:
            consult.agent_channel = channel
            if consult.leg is None:
                self.ctl._spawn(self._dial(state, consult))
            else:
                self.ctl._spawn(self._resume(state))
        else:  # handed over, or nothing of ours: the agent's part is over
            self.ctl._spawn(self.ctl._cancel_leg(state.agent_leg or channel))

    async def _dial(self, state: CallState, consult: Consult) -> None:
        ctl = self.ctl
        outbound = ctl.settings.outbound
        leg = ctl.new_leg()
        consult.leg = leg
        self._legs[leg] = state
        with contextlib.suppress(TelephonyError):  # the agent hears music while it rings
            await ctl.port.call_io(consult.agent_channel or "").music_on()
        try:
            if outbound is None:
                raise TelephonyError("telephony.yaml has no outbound trunk")
            await ctl.port.consult(leg, outbound.dial(consult.target.value),
                                   consult.agent_channel or "",
                                   f"{outbound.name} <{outbound.caller_id}>", outbound.ring)
        except TelephonyError as err:
            log.warning("call %s: the consult of %s not made: %s", state.call_id,
                        consult.target.value, err)
            self.leg_ended(leg, "failed")

    def owns(self, leg: str) -> bool:
        return leg in self._legs

    def agent_bridged(self, state: CallState) -> None:
        """The agent's leg entered a bridge while consulting: the person answered."""
        if state.phase is CallPhase.HELD and state.consult is not None and \
                state.consult.leg is not None:
            state.consult.answered = True

    def leg_ended(self, leg: str, why: str) -> None:
        """The consulted leg failed or hung up. Not answered: the agent still waits in AGI,
        back with the caller now; answered: the agent's leg comes back into AGI by itself
        (agent_held) and is bridged with the caller then."""
        state = self._legs.pop(leg, None)
        if state is None or state.consult is None or state.consult.leg != leg:
            return
        if state.phase is not CallPhase.HELD:
            return  # handed over: the person's hangup is the caller's affair
        state.consult.ended = state.consult.ended or why
        if not state.consult.answered:
            self.ctl._spawn(self._resume(state))

    async def _resume(self, state: CallState) -> None:
        """The caller and the agent together again (AMI Bridge of the two legs in AGI)."""
        ctl, consult = self.ctl, state.consult
        if consult is None or state.phase is not CallPhase.HELD:
            return
        state.consult = None
        ctl._call_event(ev.Transferred, state, target=consult.target.value, kind="attended",
                        status=(consult.ended or "taken back").upper(), answered=False)
        ctl._advance(state, CallEvent.RESUMED)
        ctl.stop_hold(state)
        try:
            await ctl.port.bridge(state.channel, consult.agent_channel or state.agent_leg or "")
        except TelephonyError as err:  # the agent is gone: first in the line, never alone
            log.warning("call %s: back with the agent failed: %s", state.call_id, err)

    async def complete(self, state: CallState) -> None:
        """The agent hands the caller over to the person they talk with."""
        consult = state.consult
        if state.phase is not CallPhase.HELD or consult is None or not consult.answered \
                or consult.leg is None:
            raise TransferRefused("nobody has answered the transfer yet")
        try:
            await self.ctl.port.bridge(state.channel, consult.leg)
        except TelephonyError as err:
            raise TransferRefused(f"the PBX did not hand the caller over: {err}") from err
        self._handed_over(state, consult)

    def _handed_over(self, state: CallState, consult: Consult) -> None:
        ctl = self.ctl
        ctl.stop_hold(state)
        if consult.leg is not None:
            self._legs.pop(consult.leg, None)
        state.consult = None
        leg, agent = state.agent_leg, consult.agent
        if leg is not None:
            ctl.calls.leg_done(leg)  # the agent's part is over: its hangup ends no call
            ctl._spawn(ctl._cancel_leg(leg))
        ctl._call_event(ev.Transferred, state, target=consult.target.value, kind="attended",
                        status="ANSWER", answered=True)
        ctl.forwarded[agent] = (state.call_id, consult.target.department or consult.target.name)
        ctl._advance(state, CallEvent.TRANSFER)
        state.agent = None
        if agent in ctl.router.agents and ctl.router.agents[agent].call_id == state.call_id:
            ctl._apply(ctl.router.call_ended(agent, ctl.now()))

    def reconcile(self, listing: list[ListedChannel]) -> None:
        """After a (re)connect: what the consultations did while vaxel could not see. The
        agent's leg gone: as if they hung up; the person's leg gone (or never answered): the
        agent back with the caller; the agent's leg bridged: the person answered."""
        listed = {c.uniqueid: c for c in listing}
        for state in list(self.ctl.calls):
            consult = state.consult
            if state.phase is not CallPhase.HELD or consult is None:
                continue
            agent = listed.get(state.agent_leg or "")
            if agent is None:
                self.agent_gone(state)
            elif consult.leg is not None and consult.leg not in listed:
                self._legs.pop(consult.leg, None)
                consult.ended = consult.ended or "gone while the link was down"
                if agent.in_agi:  # back in AGI already (its AgentHeld came unseen)
                    consult.agent_channel = agent.channel
                    self.ctl._spawn(self._resume(state))
            elif consult.leg is not None and agent.bridged:
                consult.answered = True

    def take_back(self, state: CallState) -> None:
        """The agent takes the caller back: the consulted leg is hung up (or never dialled)."""
        consult = state.consult
        if state.phase is not CallPhase.HELD or consult is None:
            raise TransferRefused("no transfer under way")
        consult.ended = "taken back"
        if consult.leg is None:
            self.ctl._spawn(self._resume(state))
        else:
            self.ctl._spawn(self.ctl._cancel_leg(consult.leg))

    def agent_gone(self, state: CallState) -> None:
        """The agent hung up while consulting: the person answered, the caller is handed over
        (once the person's leg is back in AGI: consult_held); else the caller goes first in
        the line, never left alone on hold."""
        ctl, consult = self.ctl, state.consult
        if consult is None:
            return
        if consult.answered and consult.leg is not None:
            consult.agent_left = True
            return
        if consult.leg is not None:
            self._legs.pop(consult.leg, None)
            ctl._spawn(ctl._cancel_leg(consult.leg))
        state.consult = None
        ctl._call_event(ev.Transferred, state, target=consult.target.value, kind="attended",
                        status="AGENT HUNG UP", answered=False)
        agent = consult.agent
        state.agent = None
        if agent in ctl.router.agents and ctl.router.agents[agent].call_id == state.call_id:
            ctl._apply(ctl.router.call_ended(agent, ctl.now()))
        ctl._advance(state, CallEvent.RETURNED)
        ctl.stop_hold(state)
        ctl._queue(state, state.group or "", state.arrival or ctl.now(), back_to="")

    def consult_held(self, leg: str, channel: str) -> None:
        """The person's leg is in AGI: the agent left them; the caller is handed over."""
        state = self._legs.get(leg)
        if state is None or state.consult is None or not state.consult.agent_left:
            self.ctl._spawn(self.ctl._cancel_leg(leg))  # nothing of ours to hand them
            return
        self.ctl._spawn(self._hand_over_anyway(state, state.consult, channel))

    async def _hand_over_anyway(self, state: CallState, consult: Consult, channel: str
                                ) -> None:
        try:
            await self.ctl.port.bridge(state.channel, channel)
        except TelephonyError as err:
            log.warning("call %s: handing over after the agent left failed: %s",
                        state.call_id, err)
            return
        self._handed_over(state, consult)
