"""The callback desk: requests kept in line in the caller's place, then the agent first, then the
citizen (queues/callback.py decides; this carries it out through the port).

Theory of operation. A booked request enters its group's line in the router as a waiting entry
with the caller's original arrival (`callback=True`): it counts in everyone's position and wait,
and the router offers it to an agent like a caller. Carrying out that offer is the desk's:

1. the agent's phone is rung into AsyncAGI (port.ring_agent_first; sip-traces/t3 (a)); no
   answer or busy is a miss of the agent's, and the request keeps its place for the next agent;
2. answered (`LegInAgi`), the agent hears who and why ("återuppringning till 0 7 0 ...,
   väntat 12 minuter"), then music, while the citizen is dialled through the outbound trunk
   into the callback context, where they hear who calls before they are bridged to the agent;
3. the citizen's bridge (`CallerBridged` of their leg) is the answer: the router's
   offer_answered, and the agent's wrap-up after the conversation, as for any call;
4. busy, no answer or unreachable: the agent is freed, and the request leaves the line until
   its next attempt (spacing) and then comes back to its place; no attempts left: failed.

A request waits only while its group is open: at closing it leaves the line (and expires, if its
group says so) and comes back at the opening. It expires `expires` after it was made. A citizen
who calls again and is answered cancels their pending requests; a supervisor can cancel one or
put it first. Every change is an event (controller/events.py); the call log keeps each request's
row (store/schema.py `callbacks`), and a restarted controller takes the pending ones up again,
never dialling one whose attempt was under way twice at once.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from controller import events as ev
from ivr import phrases
from ivr.interpreter import sound
from queues.callback import (
    CallbackOutcome,
    CallbackPhase,
    CallbackPolicy,
    CallbackRequest,
    after_attempt,
    normalise,
)
from queues.commands import OfferCall
from telephony.callio import CallerGone, LinkFault
from telephony.errors import ActionTimeout, ConnectionLost, NotConnected, TelephonyError
from telephony.port import PBX_FAULTS, ListedChannel

if TYPE_CHECKING:
    from controller.engine import Controller

LEG_PREFIX = "vx-leg-"  # the ChannelIds of every leg vaxel originates (controller/engine.py)
GONE_UNSEEN = "gone while the link was down"  # no fault of the agent's known

log = logging.getLogger("vaxel.callbacks")

AGENT_LANGUAGE = "sv"  # what the agent hears before the citizen is dialled
FORGET_AT = 1024  # numbers kept for a call log away at start before the old ones are dropped


class CallbackDesk:
    def __init__(self, ctl: Controller) -> None:
        self.ctl = ctl
        self.requests: dict[str, CallbackRequest] = {}
        self._legs: dict[str, CallbackRequest] = {}  # agent and citizen legs, by our ChannelId
        self._restored: list[dict[str, Any]] = []  # from the call log, taken up at the resync
        # numbers answered before the call log's pending requests were read (it may be away at
        # start): those requests are done when they come; None when none are awaited
        self._answered_before_restore: dict[str, float] | None = None
        self._forget_at = FORGET_AT  # its size at which answers too old to matter are dropped

    # ---- questions ---------------------------------------------------------------------------

    def owns(self, call_id: str) -> bool:
        return call_id in self.requests

    def policy(self, group: str) -> CallbackPolicy:
        settings = self.ctl.version.config.groups.get(group)
        if settings is not None and settings.callback is not None:
            return settings.callback.core()
        return CallbackPolicy()  # an IVR option names a group with no callback: section

    def agents_in_agi(self) -> list[str]:
        """The agents' channels waiting in AsyncAGI for their citizen: they have a lease."""
        return [r.agent_channel for r in self.requests.values()
                if r.phase is CallbackPhase.DIALLING and r.agent_channel is not None]

    def of_number(self, number: str, group: str) -> CallbackRequest | None:
        """The request not yet done for this number and group, if any (one at most)."""
        return next((r for r in self.requests.values()
                     if r.number == number and r.group == group), None)

    # ---- requests ----------------------------------------------------------------------------

    def request(self, call_id: str, group: str, number: str, language: str, arrival: float,
                source: str, *, in_line: bool = False) -> CallbackRequest:
        """A caller booked a callback: into the line at their place (`in_line`: the router
        holds the caller's entry already, which the shell turns into the request), or merged
        with their earlier request for the same group (the earlier place kept). Returns the
        request that stands."""
        ctl, now = self.ctl, self.ctl.now()
        policy = self.policy(group)
        earlier = self.of_number(number, group)
        self._publish(ev.CallbackRequested, call_id, group, caller=number, language=language,
                      source=source, arrival=arrival, target=policy.target,
                      merged_into=earlier.call_id if earlier is not None else None)
        if earlier is not None:
            if arrival < earlier.arrival and earlier.pending:
                earlier.arrival = arrival
                if earlier.in_line:  # back in at the earlier place
                    self._leave_line(earlier)
                    self._enter_line(earlier)
            return earlier
        req = CallbackRequest(call_id, group, number, language, now, arrival, due=now,
                              in_line=in_line)
        self.requests[call_id] = req
        ctl._timer(f"cb-expires:{call_id}", policy.expires, lambda: self._expire(call_id))
        self._enter_line(req)
        return req

    def _enter_line(self, req: CallbackRequest) -> None:
        """Into its group's line at its place, if the group is open and its time has come."""
        ctl, now = self.ctl, self.ctl.now()
        if not req.pending or req.in_line:
            return
        if req.group not in ctl.router.group_ids():
            self._end(req, CallbackOutcome.CANCELLED, "vaxel: the group left the configuration")
            return
        if not ctl.router.opening(req.group).is_open:
            return  # the opening brings it back (opening())
        if req.due > now:
            ctl._timer(f"cb-due:{req.call_id}", req.due - now,
                       lambda: self._enter_line(req))
            return
        req.in_line = True
        ctl._apply(ctl.router.call_arrived(req.call_id, req.group, now, req.priority,
                                           req.arrival, callback=True))

    def _leave_line(self, req: CallbackRequest) -> None:
        if req.in_line:
            req.in_line = False
            self.ctl._apply(self.ctl.router.call_left(req.call_id, self.ctl.now()))

    def _expire(self, call_id: str) -> None:
        req = self.requests.get(call_id)
        if req is not None and req.pending:
            self._end(req, CallbackOutcome.EXPIRED, "vaxel")
        # one in an attempt ends by that attempt (after_attempt refuses one past its expiry)

    def _end(self, req: CallbackRequest, outcome: CallbackOutcome, by: str) -> None:
        self._leave_line(req)
        req.phase, req.outcome = CallbackPhase.ENDED, outcome
        for leg in (req.agent_leg, req.citizen_leg):
            if leg is not None:
                self._legs.pop(leg, None)
        self.requests.pop(req.call_id, None)
        for timer in (f"cb-due:{req.call_id}", f"cb-expires:{req.call_id}"):
            self.ctl._cancel_timer(timer)
        log.info("callback %s to group %s: %s after %d attempts (%s)", req.call_id, req.group,
                 outcome.value, req.attempts, by)
        self._publish(ev.CallbackEnded, req.call_id, req.group, outcome=outcome.value,
                      attempts=req.attempts, by=by)

    def cancel(self, call_id: str, by: str) -> None:
        """A supervisor cancels a pending request. Raises KeyError (no such request),
        ValueError (an attempt is under way: it ends by itself)."""
        req = self.requests[call_id]
        if not req.pending:
            raise ValueError(f"callback {call_id} is being called now ({req.phase.value})")
        self._end(req, CallbackOutcome.CANCELLED, by)

    def put_first(self, call_id: str, by: str) -> None:
        """A supervisor puts a pending request first in its group's line (priority 1)."""
        req = self.requests[call_id]
        if not req.pending:
            raise ValueError(f"callback {call_id} is being called now ({req.phase.value})")
        req.priority = 1
        self._publish(ev.CallbackPrioritised, call_id, req.group, priority=1, by=by)
        if req.in_line:
            self._leave_line(req)
            self._enter_line(req)

    def caller_answered(self, caller: str) -> None:
        """A citizen who called again was answered: their pending requests are done."""
        number = normalise(caller)
        if not number:
            return
        if self._answered_before_restore is not None:
            self._answered_while_restoring(number)
        for req in [r for r in self.requests.values() if r.number == number and r.pending]:
            self._end(req, CallbackOutcome.CANCELLED, "answered call")

    # ---- opening hours -----------------------------------------------------------------------

    def closing(self, group: str) -> None:
        """The group closes: its pending requests leave the line, and wait for the opening or
        expire (callback.at_closing). One being called now goes on."""
        expire = self.policy(group).at_closing == "expire"
        for req in [r for r in self.requests.values() if r.group == group and r.pending]:
            if expire:
                self._end(req, CallbackOutcome.EXPIRED, "vaxel: closing time")
            else:
                self._leave_line(req)

    def opening(self, group: str) -> None:
        for req in sorted((r for r in self.requests.values() if r.group == group),
                          key=lambda r: r.arrival):
            self._enter_line(req)

    # ---- the attempt: agent first ------------------------------------------------------------

    def offer(self, out: OfferCall) -> None:
        """The router offers the request to an agent: their phone rings into AsyncAGI."""
        ctl = self.ctl
        req = self.requests[out.call_id]
        leg = ctl.new_leg()
        req.phase, req.agent, req.agent_leg, req.agent_channel = (
            CallbackPhase.OFFERED, out.agent_id, leg, None)
        self._legs[leg] = req
        self._publish(ev.CallbackOffered, req.call_id, req.group, agent=out.agent_id, leg=leg)
        group = ctl.version.config.groups.get(req.group)
        ring = (group.ring if group is not None and group.ring is not None
                else ctl.settings.agent_ring)
        ctl._spawn(self._ring_agent(req, leg, out.agent_id, ring))

    async def _ring_agent(self, req: CallbackRequest, leg: str, agent: str, ring: float
                          ) -> None:
        device = self.ctl.devices.get(agent)
        if device is None:
            log.error("agent %s has no device in telephony.yaml: cannot ring them", agent)
            self.leg_ended(leg, "no device in telephony.yaml")
            return
        try:
            await self.ctl.port.ring_agent_first(leg, device, f"Återuppringning <{req.number}>",
                                                 ring)
        except (NotConnected, ConnectionLost, ActionTimeout) as err:
            log.warning("originate of callback leg %s not made: %s", leg, err)
            self._agent_withdrawn(req, leg, "withdrawn: the PBX could not be reached")
            if isinstance(err, ActionTimeout):
                self.ctl._spawn(self.ctl._cancel_leg(leg))
        except TelephonyError as err:
            log.warning("originate of callback leg %s failed: %s", leg, err)
            self.leg_ended(leg, str(err))

    def agent_answered(self, channel: str, leg: str) -> None:
        """The agent's leg answered into AsyncAGI: tell them who, then call the citizen."""
        req = self._legs.get(leg)
        if req is None or req.agent_leg != leg or req.phase is not CallbackPhase.OFFERED:
            if leg.startswith(LEG_PREFIX):  # ours, withdrawn meanwhile (or a previous run's):
                self.ctl._spawn(self.ctl._cancel_leg(leg))  # it rang on and was answered
            return  # another application's AsyncAGI on the same Asterisk: not ours to touch
        req.phase, req.agent_channel = CallbackPhase.DIALLING, channel
        self.ctl._spawn(self._brief_and_dial(req, leg))

    async def _brief_and_dial(self, req: CallbackRequest, leg: str) -> None:
        ctl = self.ctl
        io = ctl.port.call_io(req.agent_channel or "")
        config = ctl.version.config
        group = config.groups.get(req.group)
        name = group.callback.name_prompt if group is not None and group.callback else None
        waited = int((ctl.now() - req.arrival) // 60)
        outbound = ctl.settings.outbound
        try:
            # the dead-man lease: if vaxel dies now, the agent's leg ends rather than waits
            io.renew_lease_nowait(ctl.settings.lease)
            for part in phrases.callback_for_agent(req.number, waited, AGENT_LANGUAGE, name):
                await io.play(sound(part, AGENT_LANGUAGE), escape="")
            if req.phase is not CallbackPhase.DIALLING or req.agent_leg != leg:
                return  # ended meanwhile (the agent hung up, a link fault)
            await io.music_on()
            if outbound is None:
                raise TelephonyError("telephony.yaml has no outbound: trunk to call citizens")
            req.attempts += 1
            citizen = ctl.new_leg()
            req.citizen_leg = citizen
            self._legs[citizen] = req
            self._publish(ev.CallbackDialling, req.call_id, req.group, agent=req.agent or "",
                          attempt=req.attempts, leg=citizen)
            await ctl.port.call_citizen(
                citizen, outbound.dial(req.number), req.agent_channel or "", req.call_id,
                req.language, f"{outbound.name} <{outbound.caller_id}>",
                self.policy(req.group).ring)
        except CallerGone:
            return  # the agent hung up: their leg's Hangup says so (leg_ended)
        except (LinkFault, NotConnected, ConnectionLost, ActionTimeout) as err:
            log.warning("callback %s: the AMI link failed under it (%s)", req.call_id, err)
            if req.citizen_leg is not None and isinstance(err, ActionTimeout):
                ctl._spawn(ctl._cancel_leg(req.citizen_leg))  # it may ring after all
            if req.citizen_leg is not None:
                self._legs.pop(req.citizen_leg, None)
                req.citizen_leg = None
                req.attempts -= 1  # never asked of the PBX, or its answer lost: not counted
            self._agent_withdrawn(req, leg, f"withdrawn: {err}")
            ctl._spawn(ctl._cancel_leg(leg))
        except TelephonyError as err:
            log.warning("callback %s: calling the citizen failed: %s", req.call_id, err)
            if req.citizen_leg is not None:
                self.leg_ended(req.citizen_leg, "failed")
            else:
                self._agent_withdrawn(req, leg, f"withdrawn: {err}")
                ctl._spawn(ctl._cancel_leg(leg))

    def bridged(self, leg: str) -> bool:
        """A channel of ours entered a bridge: the citizen's leg means they answered (and
        heard who calls). True if it was a callback's."""
        req = self._legs.get(leg)
        if req is None:
            return False
        if leg == req.citizen_leg and req.phase is CallbackPhase.DIALLING:
            ctl, now = self.ctl, self.ctl.now()
            req.phase = CallbackPhase.CONNECTED
            req.results.append("reached")
            policy = self.policy(req.group)
            self._publish(ev.CallbackConnected, req.call_id, req.group, agent=req.agent or "",
                          attempt=req.attempts, waited=now - req.requested_at,
                          target=policy.target)
            ctl._apply(ctl.router.offer_answered(req.agent or "", now))
        return True

    def leg_ended(self, leg: str, why: str) -> bool:
        """A leg of ours failed or hung up (whichever Asterisk tells first: the Originate's
        failure or the channel's Hangup). True if it was a callback's."""
        req = self._legs.pop(leg, None)
        if req is None:
            return False
        ctl, now = self.ctl, self.ctl.now()
        if leg == req.agent_leg:
            req.agent_leg = None
            if req.phase is CallbackPhase.DIALLING and req.citizen_leg is not None:
                # before the citizen answered: not the citizen's attempt
                self._legs.pop(req.citizen_leg, None)
                ctl._spawn(ctl._cancel_leg(req.citizen_leg))
                req.citizen_leg = None
                req.attempts -= 1
            if req.phase in (CallbackPhase.OFFERED, CallbackPhase.DIALLING):
                if why in PBX_FAULTS or why == GONE_UNSEEN:  # the PBX's or the link's
                    self._agent_withdrawn(req, leg, f"withdrawn: {why}")
                    return True
                # not answered, declined, or hung up before the citizen answered: a miss of
                # the agent's, as for a caller's offer; the request keeps its place
                agent = req.agent or ""
                req.phase, req.agent, req.agent_channel = CallbackPhase.PENDING, None, None
                self._publish(ev.CallbackOfferFailed, req.call_id, req.group, agent=agent,
                              why=why, missed=True)
                ctl._apply(ctl.router.offer_failed(agent, now))
            elif req.phase is CallbackPhase.CONNECTED:
                self._reached(req, "agent")
        elif leg == req.citizen_leg:
            req.citizen_leg = None
            if req.phase is CallbackPhase.DIALLING:
                self._attempt_failed(req, why)
            elif req.phase is CallbackPhase.CONNECTED:
                self._reached(req, "citizen")
        return True

    def _agent_withdrawn(self, req: CallbackRequest, leg: str, why: str) -> None:
        """The attempt could not go on for no fault of the agent's or the citizen's: the
        request keeps its place, the agent is ready again, no miss."""
        if req.phase not in (CallbackPhase.OFFERED, CallbackPhase.DIALLING) or req.agent is None:
            return
        agent = req.agent
        self._legs.pop(leg, None)
        req.phase, req.agent, req.agent_leg, req.agent_channel = (
            CallbackPhase.PENDING, None, None, None)
        self._publish(ev.CallbackOfferFailed, req.call_id, req.group, agent=agent, why=why,
                      missed=False)
        if not self.ctl.link.connected:
            self.ctl._apply(self.ctl.router.set_offering(False, self.ctl.now()))
        self.ctl._apply(self.ctl.router.offer_withdrawn(agent, self.ctl.now()))

    def _attempt_failed(self, req: CallbackRequest, why: str) -> None:
        """The citizen did not answer, was busy or unreachable: the agent is free (their leg
        hung up), the request waits for its next attempt out of line, or has failed."""
        ctl, now = self.ctl, self.ctl.now()
        retry = after_attempt(req, self.policy(req.group), now)
        req.results.append(why)
        self._publish(ev.CallbackAttemptFailed, req.call_id, req.group, agent=req.agent,
                      attempt=req.attempts, why=why, retry_at=retry)
        # the router's offer ends (CancelOffer hangs the agent's leg up) and the agent is ready
        req.in_line = False
        ctl._apply(ctl.router.call_left(req.call_id, now))
        req.phase, req.agent, req.agent_leg, req.agent_channel = (
            CallbackPhase.PENDING, None, None, None)
        if retry is None:
            self._end(req, CallbackOutcome.FAILED, "vaxel")
        else:
            req.due = retry
            self._enter_line(req)

    def _reached(self, req: CallbackRequest, by: str) -> None:
        """The conversation is over: the agent's wrap-up, the request done."""
        ctl = self.ctl
        for leg in (req.agent_leg, req.citizen_leg):  # the other side goes too
            if leg is not None:
                ctl._spawn(ctl._cancel_leg(leg))
        agent = req.agent
        req.in_line = False  # the router's call ends with the conversation
        self._end(req, CallbackOutcome.REACHED, by)
        if agent is not None:
            ctl._apply(ctl.router.call_ended(agent, ctl.now()))

    def cancel_offer(self, call_id: str) -> None:
        """The router withdrew an offer of the request (it left the line): its legs hang up."""
        req = self.requests.get(call_id)
        if req is None:
            return
        for leg in (req.agent_leg, req.citizen_leg):
            if leg is not None:
                self._legs.pop(leg, None)
                self.ctl._spawn(self.ctl._cancel_leg(leg))

    # ---- after a (re)connect ------------------------------------------------------------------

    def awaiting_restore(self) -> None:
        """A previous run's pending requests will be read (restore()): until then the numbers
        answered are kept, so a request whose citizen was answered meanwhile ends."""
        self._answered_before_restore = {}

    def _answered_while_restoring(self, number: str) -> None:
        """Keeps the number's answer; past FORGET_AT numbers (a call log away for days), the
        answers older than any group's expiry go: a request made before them has expired."""
        answered, now = self._answered_before_restore, self.ctl.now()
        assert answered is not None
        answered[number] = now
        if len(answered) < self._forget_at:
            return
        groups = self.ctl.version.config.groups
        horizon = now - max([self.policy(g).expires for g in groups] + [
            CallbackPolicy().expires])
        kept = {n: at for n, at in answered.items() if at >= horizon}
        self._answered_before_restore = kept
        self._forget_at = max(FORGET_AT, 2 * len(kept))

    def restore(self, rows: Iterable[dict[str, Any]]) -> None:
        """Pending requests read from the call log (times in the controller's clock): taken up
        at the next resync, when Asterisk says which legs still live."""
        self._restored.extend(rows)
        if not self._restored:
            self._answered_before_restore = None  # nothing to end

    def reconcile(self, listing: list[ListedChannel]) -> None:
        """After a (re)connect: what the legs did while vaxel could not see (ended, answered
        into AGI, the citizen bridged), then the requests of a previous run, each once."""
        listed = {c.uniqueid: c for c in listing}
        for leg, req in list(self._legs.items()):
            channel = listed.get(leg)
            if channel is None:
                self.leg_ended(leg, GONE_UNSEEN)
            elif leg == req.agent_leg and req.phase is CallbackPhase.OFFERED and channel.in_agi:
                self.agent_answered(channel.channel, leg)  # answered while we could not see
            elif leg == req.citizen_leg and req.phase is CallbackPhase.DIALLING and \
                    channel.bridged:
                self.bridged(leg)  # the citizen answered while we could not see
        restored, self._restored = self._restored, []
        for row in restored:
            self._take_up(row, listed)
        if restored:
            self._answered_before_restore = None

    def _take_up(self, row: dict[str, Any], listed: dict[str, ListedChannel]) -> None:
        ctl, now = self.ctl, self.ctl.now()
        call_id = row["call_id"]
        if call_id in self.requests:
            return  # never twice
        req = CallbackRequest(call_id, row["group_id"], row["caller"], row["language"],
                              row["requested_at"], row["arrival"], attempts=row["attempts"],
                              due=row["due"] or now, priority=row["priority"] or 0)
        req.results = list(row["results"] or [])
        self.requests[call_id] = req
        policy = self.policy(req.group)
        self._publish(ev.CallbackRequested, call_id, req.group, caller=req.number,
                      language=req.language, source=row["source"], arrival=req.arrival,
                      target=policy.target, restored=True, requested_at=req.requested_at,
                      attempts=req.attempts, priority=req.priority)
        citizen = listed.get(row["citizen_leg"] or "")
        if row["phase"] == "connected" or (citizen is not None and citizen.bridged):
            # the conversation went on (or goes on) without us: never dialled again
            self._end(req, CallbackOutcome.REACHED, "vaxel: restarted during the call")
            return
        if row["phase"] == "dialling":  # its outcome was never seen: counted, not repeated
            if citizen is not None:  # still ringing, or hearing who calls: stopped
                ctl._spawn(ctl._cancel_leg(citizen.uniqueid))
            retry = after_attempt(req, policy, now)
            req.results.append("unknown (restart)")
            self._publish(ev.CallbackAttemptFailed, call_id, req.group, agent=row["agent"],
                          attempt=req.attempts, why="unknown (restart)", retry_at=retry)
            if retry is None:
                self._end(req, CallbackOutcome.FAILED, "vaxel")
                return
            req.due = retry
        answered = (self._answered_before_restore or {}).get(req.number)
        if answered is not None and answered >= req.requested_at:
            self._end(req, CallbackOutcome.CANCELLED, "answered call")
            return
        remaining = req.requested_at + policy.expires - now
        if remaining <= 0:
            self._end(req, CallbackOutcome.EXPIRED, "vaxel")
            return
        ctl._timer(f"cb-expires:{call_id}", remaining, lambda: self._expire(call_id))
        log.info("callback %s to group %s taken up again after a restart", call_id, req.group)
        self._enter_line(req)

    # ---- events ------------------------------------------------------------------------------

    def _publish(self, cls: type[ev.CallbackEvent], call_id: str, group: str,
                 **fields: Any) -> None:
        self.ctl.bus.publish(cls(at=self.ctl.now(), version=self.ctl.version.number,
                                 call_id=call_id, group=group, **fields))

