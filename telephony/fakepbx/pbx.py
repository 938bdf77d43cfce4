"""The fake PBX's engine: channels running a real dialplan, with Asterisk 22's events.

Theory of operation. Every channel runs its dialplan in an asyncio task (apps in apps.py, AGI
commands in agi.py). Anything from outside that changes where a channel is - a hangup, a Redirect,
the lease running out, a bridge - cancels that task with an Interrupt saying why; the task's loop
catches it and carries on at the new place, or hangs up. Events go to every listener (the AMI
sessions) synchronously, in the order Asterisk 22 sends them (see tests/fixtures/asterisk/traces).

Time: all PBX durations (Wait(5), ring timeouts, prompt lengths, the lease) pass through `sleep`,
scaled by `time_scale`, so tests can run minutes of calls in seconds. `now()` is PBX time.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from telephony.fakepbx import apps
from telephony.fakepbx.bridge import Bridge
from telephony.fakepbx.channel import (
    DOWN,
    RING,
    UP,
    BridgeInterrupt,
    Channel,
    HangupInterrupt,
    Headers,
    Hearing,
    Interrupt,
    JumpInterrupt,
)
from telephony.fakepbx.dialplan import Dialplan
from telephony.fakepbx.sounds import SoundLibrary

log = logging.getLogger("vaxel.fakepbx")
LOCAL_SETUP = 0.002  # seconds from a Local pair's Newchannel to ;2 running its dialplan
LOCAL_OPTIMIZATION_DELAY = 0.012  # seconds from the second BridgeEnter (5 to 20 ms observed)

CAUSE_TEXT = {0: "Unknown", 3: "No route to destination", 16: "Normal Clearing",
              17: "User busy", 19: "User alerting, no answer", 21: "Call Rejected",
              32: "Channel unacceptable", 34: "Circuit/channel congestion"}

Listener = Callable[[Headers], None]


@dataclass
class OriginateRequest:
    channel: str  # dial string: Local/exten@context or PJSIP/endpoint
    action_id: str | None = None
    context: str | None = None
    exten: str | None = None
    priority: int = 1
    application: str | None = None
    data: str = ""
    timeout: float = 30.0  # seconds
    caller_id: str | None = None
    variables: tuple[tuple[str, str], ...] = ()
    channel_id: str | None = None
    other_channel_id: str | None = None


class OriginateOutcome(Exception):
    def __init__(self, reason: int, cause: int) -> None:
        super().__init__(f"reason {reason}")
        self.reason, self.cause = reason, cause


class FakePbx:
    def __init__(self, dialplan: Dialplan, *, time_scale: float = 1.0,
                 sounds: SoundLibrary | None = None, epoch: int | None = None) -> None:
        self.dialplan = dialplan
        self.time_scale = time_scale
        self.sounds = sounds or SoundLibrary()
        self.channels: dict[str, Channel] = {}  # by name
        self.by_id: dict[str, Channel] = {}
        # callers' longest silence, kept when their channel is gone (see `heard`)
        self.silences: dict[str, float] = {}
        self.listeners: list[Listener] = []
        self.endpoints: dict[str, Any] = {}  # PJSIP endpoint -> actor (telephony.fakepbx.actors)
        self._epoch = epoch if epoch is not None else int(time.time())
        self._uid = itertools.count(1)
        self._local = itertools.count(1)
        self._optimizations = 0
        # how each Local optimization swaps (see _optimize): "agent_in" or "caller_in"
        self.local_swaps: Iterator[str] = itertools.cycle(("agent_in", "caller_in"))
        # who wins when an Originate and the Dial in its Local leg time out together:
        # "originate" (its timer started first) or "dial" (a race on Asterisk, s3)
        self.local_timeouts: Iterator[str] = itertools.repeat("originate")
        self._pjsip = itertools.count(1)
        self._t0 = asyncio.get_running_loop().time()
        self._tasks: set[asyncio.Task[Any]] = set()
        self.errors: list[BaseException] = []  # what failed inside the fake (tests check it)
        self.agi_poll = 0.1  # Local channels poll their AGI queue every 100 ms

    # ---- time --------------------------------------------------------------------------------

    def now(self) -> float:
        return (asyncio.get_running_loop().time() - self._t0) / self.time_scale

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(seconds, 0.0) * self.time_scale)

    def call_later(self, seconds: float, fn: Callable[[], None]) -> asyncio.TimerHandle:
        return asyncio.get_running_loop().call_later(seconds * self.time_scale, fn)

    def spawn(self, coro: Any) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self.errors.append(task.exception())  # type: ignore[arg-type]
            log.error("fake PBX task failed", exc_info=task.exception())

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    # ---- events ------------------------------------------------------------------------------

    def emit(self, name: str, privilege: str, headers: Headers) -> None:
        msg = [("Event", name), ("Privilege", privilege), *headers]
        for listener in list(self.listeners):
            try:
                listener(msg)
            except Exception:  # a broken session must not stop the PBX
                log.exception("event listener failed")

    def channel_event(self, name: str, ch: Channel, *extra: tuple[str, str],
                      privilege: str = "call,all") -> None:
        self.emit(name, privilege, [*ch.block(), *extra])

    def var_set(self, ch: Channel, name: str, value: str) -> None:
        ch.variables[name] = value
        self.channel_event("VarSet", ch, ("Variable", name), ("Value", value),
                           privilege="dialplan,all")

    def newexten(self, ch: Channel, app: str, data: str) -> None:
        """Newexten, which Asterisk derives from channel snapshots: only when the location or
        the application changed (a Redirect back to the same AGI priority emits none)."""
        ch.application, ch.app_data = app, data
        where = (ch.context, ch.exten, ch.priority, app)
        if where == ch.last_exten:
            return
        ch.last_exten = where
        self.channel_event("Newexten", ch, ("Extension", ch.exten), ("Application", app),
                           ("AppData", data), privilege="dialplan,all")

    def set_state(self, ch: Channel, state: int) -> None:
        if ch.state != state:
            ch.state = state
            if state == UP:
                ch.hearing.answered(self.now())
            self.channel_event("Newstate", ch)

    def device_state(self, ch: Channel, state: str) -> None:
        self.emit("DeviceStateChange", "call,all", [("Device", ch.device), ("State", state)])

    # ---- channels ----------------------------------------------------------------------------

    def _uniqueid(self) -> str:
        return f"{self._epoch}.{next(self._uid)}"

    def new_channel(self, name: str, tech: str, context: str, exten: str, *,
                    uniqueid: str | None = None, linkedid: str | None = None,
                    state: int = DOWN) -> Channel:
        uid = uniqueid or self._uniqueid()
        ch = Channel(name, uid, linkedid or uid, tech, context, exten, state=state,
                     created_at=self.now(),
                     # a caller's channel (ringing in the dialplan) is silent until it hears
                     # something; a phone being called (down) rings until its answer
                     hearing=Hearing(quiet_since=None if state == DOWN else self.now()))
        self.channels[name] = ch
        self.by_id[uid] = ch
        return ch

    def find(self, name: str) -> Channel | None:
        """A channel by name, else by Uniqueid, as ast_channel_get_by_name() finds it for
        every action that names a channel."""
        return self.channels.get(name) or self.by_id.get(name)

    def local_pair(self, exten: str, context: str, *, uniqueid: str | None = None,
                   other_uniqueid: str | None = None, optimize: bool = True
                   ) -> tuple[Channel, Channel]:
        n = next(self._local)
        base = f"Local/{exten}@{context}-{n:08x}"
        one = self.new_channel(base + ";1", "Local", context, exten, uniqueid=uniqueid)
        if other_uniqueid is None and uniqueid is not None:
            other_uniqueid = f"{uniqueid};2"  # as Asterisk names ;2 after ChannelId (s1, s5)
        two = self.new_channel(base + ";2", "Local", context, exten, uniqueid=other_uniqueid,
                               linkedid=one.linkedid, state=RING)
        one.peer, two.peer = two, one
        one.optimize = two.optimize = optimize
        one.dial_string = two.dial_string = f"{exten}@{context}"
        self.channel_event("Newchannel", one)
        self.channel_event("Newchannel", two)
        return one, two

    def pjsip_channel(self, endpoint: str, context: str, exten: str, *, state: int = DOWN,
                      uniqueid: str | None = None, cid: tuple[str, str] | None = None
                      ) -> Channel:
        """A phone's channel, PJSIP/<endpoint>-<counter>; an inbound call's is already ringing
        in the dialled context with the phone's caller ID."""
        name = f"PJSIP/{endpoint}-{next(self._pjsip):08x}"
        ch = self.new_channel(name, "PJSIP", context, exten, uniqueid=uniqueid, state=state)
        if cid is not None:
            ch.cid_name, ch.cid_num = cid
        self.channel_event("Newchannel", ch)
        return ch

    def set_caller_id(self, ch: Channel, caller_id: str) -> None:
        name, num = parse_caller_id(caller_id)
        ch.cid_num, ch.cid_name = num, name
        self.channel_event("NewCallerid", ch,
                           ("CID-CallingPres", "0 (Presentation Allowed, Not Screened)"))

    def set_connected(self, ch: Channel, num: str, name: str) -> None:
        ch.conn_num, ch.conn_name = num, name
        self.channel_event("NewConnectedLine", ch)

    def lookup(self, ch: Channel, name: str) -> str:
        """${NAME} and ${FUNC(args)} for a channel."""
        upper = name.upper()
        if upper == "CHANNEL":
            return ch.name
        if upper == "EXTEN":
            return ch.exten
        if upper == "CONTEXT":
            return ch.context
        if upper == "UNIQUEID":
            return ch.uniqueid
        if upper in ("CALLERID(NUM)", "CALLERID(NUMBER)"):
            return ch.cid_num
        if upper == "CALLERID(NAME)":
            return ch.cid_name
        if upper == "CHANNEL(LINKEDID)":
            return ch.linkedid
        if upper == "PRIORITY":
            return str(ch.priority)
        if upper == "HANGUPCAUSE":
            return str(ch.hangup_cause)
        if upper == "HANGUPCAUSE_KEYS()":
            return ch.variables.get("HANGUPCAUSE_KEYS()", "")
        if upper == "TIMEOUT(ABSOLUTE)":
            if ch.lease_deadline is None:
                return "0"
            return f"{max(ch.lease_deadline - self.now(), 0):.3f}"
        if upper == "CHANNEL(NAME)":
            return ch.name
        if upper == "CHANNEL(LANGUAGE)":
            return ch.language
        if upper.startswith("CHANNEL(") and ch.tech == "PJSIP":
            phone = ch.actor
            return {
                "CHANNEL(ENDPOINT)": ch.name[6:].rsplit("-", 1)[0],
                "CHANNEL(PJSIP,REMOTE_ADDR)": f"127.0.0.1:{getattr(phone, 'sip_port', 5060)}",
                "CHANNEL(PJSIP,CALL-ID)": ch.variables.setdefault("__call_id", str(uuid.uuid4())),
                "CHANNEL(RTP,DEST)": f"127.0.0.1:{getattr(phone, 'rtp_port', 4000)}",
                "CHANNEL(AUDIONATIVEFORMAT)": "(ulaw)",
            }.get(upper, "")
        return ch.variables.get(name, "")

    # ---- running the dialplan ----------------------------------------------------------------

    def start(self, ch: Channel) -> None:
        ch.runs_dialplan = True
        ch.task = self.spawn(self._run(ch))

    async def _run(self, ch: Channel) -> None:
        bridge: Bridge | None = None  # set while the channel is held in a bridge
        while not ch.hungup:
            try:
                if bridge is not None:
                    await bridge.ended.wait()
                    # moved into another bridge meanwhile (a Local pair optimized away)
                    bridge = ch.bridge if ch.bridge is not bridge else None
                    continue
                step = self.dialplan.step(ch.context, ch.exten, ch.priority)
                if step is None:
                    await self.hangup(ch, 16 if ch.state == UP else 0, own=True)
                    return
                data = apps.expand(self, ch, step.data)
                self.newexten(ch, step.app, data)
                goto = await apps.run(self, ch, step.app, data)
                if goto is None:
                    ch.priority += 1
            except asyncio.CancelledError:
                interrupt, ch.interrupt = ch.interrupt, None
                if interrupt is None:
                    raise
                if isinstance(interrupt, HangupInterrupt):
                    await self.hangup(ch, interrupt.cause, own=True)
                    return
                if isinstance(interrupt, JumpInterrupt):
                    ch.context, ch.exten = interrupt.context, interrupt.exten
                    ch.priority = interrupt.priority
                elif isinstance(interrupt, BridgeInterrupt):
                    bridge = interrupt.bridge

    def redirect(self, ch: Channel, context: str, exten: str, priority: int, *,
                 keep: Channel | None = None) -> None:
        """AMI Redirect: the channel goes on at the place given. Out of a bridge first: the
        bridge ends, and the other side hangs up as a Bridge application's leg does, unless it
        is `keep` (redirected too)."""
        br = ch.bridge
        if br is not None:
            others = [c for c in br.members if c is not ch]
            self._quit_bridge(ch)
            for other in others:
                self._quit_bridge(other)
                if other is not keep and (other.application == "Bridge"
                                          or other.ends_with_bridge):
                    self.hangup_nowait(other, 16)
            self.emit("BridgeDestroy", "call,all", br.block())
            br.ended.set()
        self.interrupt(ch, JumpInterrupt(context, exten, priority, "redirect"))

    def interrupt(self, ch: Channel, why: Interrupt) -> None:
        """Cuts the channel's running application short (see the module docstring)."""
        if ch.task is None or ch.task.done():
            return
        ch.interrupt = why
        ch.task.cancel()

    # ---- hangup ------------------------------------------------------------------------------

    async def hangup(self, ch: Channel, cause: int, *, own: bool = True) -> None:
        """Hangs the channel up. `own`: its dialplan decided (Hangup(), AGI HANGUP, an AMI
        Hangup delivered to it), which Asterisk announces with SoftHangupRequest; a leg running
        an originated application just goes. A Local peer is told with HangupRequest and then
        hangs up through whatever it is running, as on Asterisk 22."""
        if ch.hungup:
            return
        ch.hungup = True
        ch.hangup_cause = cause
        if ch.lease_handle is not None:
            ch.lease_handle.cancel()
        for leg in (ch, ch.peer):  # a Local pair still ringing: its Originate learns of it
            if leg is not None and isinstance(leg.actor, asyncio.Future) and not leg.actor.done():
                leg.actor.set_result("hangup")
        if own:
            self.channel_event("SoftHangupRequest", ch, ("Cause", "16"))
        peer = ch.peer if ch.peer is not None and not ch.peer.hungup else None
        if peer is not None:
            self.channel_event("HangupRequest", peer, ("Cause", str(cause)))
            status = ch.variables.get("DIALSTATUS", "")
            if peer.name.endswith(";1") and peer.state != UP and status in (
                    "CHANUNAVAIL", "BUSY", "CONGESTION"):
                # an Originate's ;1 learns how the Dial in ;2 failed (s3b)
                self.emit("DialEnd", "call,all", [*peer.block("Dest"), ("DialStatus", status)])
        await self._run_h(ch)
        self._leave_bridge(ch)
        self._gone(ch, cause)
        self.device_state(ch, "NOT_INUSE")
        if peer is not None:
            if peer.task is not None and not peer.task.done() and (
                    peer.task is not asyncio.current_task()):
                self.interrupt(peer, HangupInterrupt(cause))
            else:
                peer.hungup = True
                peer.hangup_cause = cause
                self._leave_bridge(peer)
                self._gone(peer, cause)
                self.device_state(peer, "NOT_INUSE")
        if ch.task is not None and not ch.task.done() and ch.task is not asyncio.current_task():
            ch.task.cancel()

    def hangup_nowait(self, ch: Channel, cause: int) -> None:
        """A hangup asked from outside the channel (AMI Hangup, the lease): delivered to what it
        runs, which then hangs up as its own decision."""
        if ch.hungup:
            return
        if ch.task is not None and not ch.task.done():
            self.interrupt(ch, HangupInterrupt(cause))
        else:
            self.spawn(self.hangup(ch, cause, own=False))

    async def _run_h(self, ch: Channel) -> None:
        if ch.tech == "Local" and ch.name.endswith(";2"):
            return
        step = self.dialplan.step(ch.context, "h", 1)
        if step is None or ch.exten == "h":
            return
        ch.exten, ch.priority = "h", 1
        while (step := self.dialplan.step(ch.context, "h", ch.priority)) is not None:
            self.newexten(ch, step.app, apps.expand(self, ch, step.data))
            ch.priority += 1

    def gone(self, ch: Channel, cause: int) -> None:
        self._gone(ch, cause)

    def _gone(self, ch: Channel, cause: int) -> None:
        self.channel_event("Hangup", ch, ("Cause", str(cause)),
                           ("Cause-txt", CAUSE_TEXT.get(cause, "Unknown")))
        if ch.tech == "PJSIP":
            self.silences[ch.name] = ch.hearing.longest_silence(self.now())
        self.channels.pop(ch.name, None)
        self.by_id.pop(ch.uniqueid, None)

    # ---- bridges -----------------------------------------------------------------------------

    def bridge(self, a: Channel, b: Channel, *, keep_lease: bool = False) -> Bridge:
        """Puts two channels in a new basic bridge; a channel running dialplan elsewhere is
        pulled out of it and continues at its next priority when the bridge ends. The Bridge
        application and the AMI Bridge action wipe both leases; Dial keeps them."""
        br = Bridge()
        self.emit("BridgeCreate", "call,all", br.block())
        for ch in (a, b):
            old = ch.bridge
            if old is not None:  # moved out of the bridge it is in (the AMI Bridge action)
                self._quit_bridge(ch)
                ch.bridge = br  # its Bridge application goes on in the new one
                if len(old.members) <= 1:  # left alone: that bridge ends
                    for other in list(old.members):
                        self._quit_bridge(other)
                    self.emit("BridgeDestroy", "call,all", old.block())
                    old.ended.set()
            self.moh_stop(ch)
            if not keep_lease:
                self.clear_lease(ch)  # bridging swaps the channel: TIMEOUT(absolute) is lost
            running = ch.task is not None and not ch.task.done()
            if running and ch.task is not asyncio.current_task() and ch.application != "Bridge" \
                    and old is None:  # one moved goes on waiting where it was pulled in
                self.interrupt(ch, BridgeInterrupt(br))
                if ch.runs_dialplan:
                    ch.priority += 1  # out of dialplan: it goes on at the next priority
            br.members.append(ch)
            ch.bridge = br
            ch.hearing.begin(self.now())  # a conversation
            self.emit("BridgeEnter", "call,all", [*br.block(), *ch.block()])
        for ch in (a, b):
            self._maybe_optimize(ch)
        return br

    # ---- Local channel optimization ------------------------------------------------------------

    def _maybe_optimize(self, ch: Channel) -> None:
        """Both halves of a Local pair (without /n) in bridges: Asterisk takes the pair out of
        the call 5 to 20 ms later (vaxel-on-asterisk/s1, s5)."""
        peer = ch.peer
        if ch.tech != "Local" or peer is None or not ch.optimize or ch.optimizing:
            return
        one, two = (ch, peer) if ch.name.endswith(";1") else (peer, ch)
        if one.bridge is None or two.bridge is None:
            return
        one.optimizing = two.optimizing = True
        self.call_later(LOCAL_OPTIMIZATION_DELAY, lambda: self._optimize(one, two))

    def _optimize(self, one: Channel, two: Channel) -> None:
        """The pair swaps itself out: either the channel bridged with ;2 (the agent's phone)
        moves into ;1's bridge (the caller's), or the one bridged with ;1 (the caller) into
        ;2's; both directions happen on Asterisk, by race (`local_swaps` chooses here). Then
        both halves hang up with cause 16."""
        outer_bridge, inner_bridge = one.bridge, two.bridge
        if one.hungup or two.hungup or outer_bridge is None or inner_bridge is None:
            return
        outer = next((c for c in outer_bridge.members if c is not one), None)
        inner = next((c for c in inner_bridge.members if c is not two), None)
        if outer is None or inner is None:
            return
        self._optimizations += 1
        opt_id = ("Id", str(self._optimizations))
        inner_moves = next(self.local_swaps) == "agent_in"
        mover, stays_bridge, gone_bridge = ((inner, outer_bridge, inner_bridge) if inner_moves
                                            else (outer, inner_bridge, outer_bridge))
        replaced = one if inner_moves else two
        self.emit("LocalOptimizationBegin", "call,all", [
            *one.block("LocalOne"), *two.block("LocalTwo"), *mover.block("Source"),
            ("DestUniqueId", two.uniqueid), opt_id])
        # the mover leaves its bridge and takes the place of the Local half in the other one
        self._quit_bridge(mover)
        self._quit_bridge(replaced)
        stays_bridge.members.append(mover)
        mover.bridge = stays_bridge
        mover.hearing.begin(self.now())
        inner.ends_with_bridge = True  # the agent's phone lost its dialler: up while bridged
        self.emit("BridgeEnter", "call,all", [*stays_bridge.block(), *mover.block(),
                                              ("SwapUniqueid", replaced.uniqueid)])
        self.emit("LocalOptimizationEnd", "call,all", [
            *one.block("LocalOne"), *two.block("LocalTwo"), ("Success", "No"), opt_id])
        left = two if inner_moves else one
        self._quit_bridge(left)
        self.emit("BridgeDestroy", "call,all", gone_bridge.block())
        for half in (two, one) if inner_moves else (one, two):
            half.hungup = True
            half.hangup_cause = 16
            if half.lease_handle is not None:
                half.lease_handle.cancel()
        self.channel_event("SoftHangupRequest", two, ("Cause", "16"))
        self.channel_event("HangupRequest", one, ("Cause", "16"))
        self.var_set(two, "DIALSTATUS", "ANSWER")  # ;2's Dial ends: its callee answered
        for half in (one, two):
            if half.task is not None and not half.task.done():
                half.task.cancel()
            self._gone(half, 16)
        gone_bridge.ended.set()

    def _quit_bridge(self, ch: Channel) -> None:
        """Out of its bridge without ending it (the bridge goes on with the others)."""
        br = ch.bridge
        if br is None:
            return
        br.members.remove(ch)
        ch.bridge = None
        ch.hearing.end(self.now())
        self.emit("BridgeLeave", "call,all", [*br.block(), *ch.block()])

    def _leave_bridge(self, ch: Channel) -> None:
        br = ch.bridge
        if br is None:
            return
        ch.bridge = None
        br.members.remove(ch)
        ch.hearing.end(self.now())
        self.emit("BridgeLeave", "call,all", [*br.block(), *ch.block()])
        for other in list(br.members):
            # a two-party basic bridge ends when one side leaves; the other goes on in dialplan
            other.bridge = None
            br.members.remove(other)
            other.hearing.end(self.now())
            self.emit("BridgeLeave", "call,all", [*br.block(), *other.block()])
            if (other.application == "Bridge" and not other.runs_dialplan) \
                    or other.ends_with_bridge:
                # a leg originated to run the Bridge application has nothing to go on to; one
                # running Bridge() in its dialplan goes on at its next priority
                self.hangup_nowait(other, 16)
        self.emit("BridgeDestroy", "call,all", br.block())
        br.ended.set()

    # ---- what a caller hears ---------------------------------------------------------------

    @contextlib.contextmanager
    def heard(self, ch: Channel) -> Iterator[None]:
        """A sound reaches the channel while the block runs: a prompt, a menu waiting for a
        key, ringback. Not before the answer: a SIP phone gets no media until then."""
        on = ch.state == UP and not ch.hungup
        if on:
            ch.hearing.begin(self.now())
        try:
            yield
        finally:
            if on:
                ch.hearing.end(self.now())

    def moh_start(self, ch: Channel, moh_class: str) -> None:
        """Music on; while it already plays, nothing new happens (no second MusicOnHoldStart
        for vaxel's next hold slice: vaxel-on-asterisk/s1b)."""
        if ch.moh_class is not None:
            ch.moh_class = moh_class
            return
        if ch.state == UP:
            ch.moh_heard = True
            ch.hearing.begin(self.now())
        ch.moh_class = moh_class
        self.channel_event("MusicOnHoldStart", ch, ("Class", moh_class))

    def moh_stop(self, ch: Channel, *, event: bool = True) -> None:
        if ch.moh_class is None:
            return
        ch.moh_class = None
        if ch.moh_heard:
            ch.moh_heard = False
            ch.hearing.end(self.now())
        if event:
            self.channel_event("MusicOnHoldStop", ch)

    def longest_silence(self, name: str) -> float:
        """The longest stretch a caller's phone heard nothing (so far, or over its call)."""
        ch = self.channels.get(name)
        return ch.hearing.longest_silence(self.now()) if ch is not None else self.silences[name]

    # ---- the lease (TIMEOUT(absolute)) -------------------------------------------------------

    def set_lease(self, ch: Channel, seconds: float) -> None:
        if ch.lease_handle is not None:
            ch.lease_handle.cancel()
            ch.lease_handle = None
        if seconds <= 0:
            ch.lease_deadline = None
            return
        ch.lease_deadline = self.now() + seconds
        ch.lease_handle = self.call_later(seconds, lambda: self._lease_expired(ch))

    def clear_lease(self, ch: Channel) -> None:
        self.set_lease(ch, 0)

    def _lease_expired(self, ch: Channel) -> None:
        ch.lease_handle = None
        ch.lease_deadline = None
        if ch.hungup:
            return
        if ch.bridge is not None or self.dialplan.step(ch.context, "T", 1) is None:
            self.hangup_nowait(ch, 16)  # bridged: the call is cut (the h extension runs)
        else:
            self.interrupt(ch, JumpInterrupt(ch.context, "T", 1, "absolute timeout"))

    # ---- DTMF --------------------------------------------------------------------------------

    async def send_dtmf(self, ch: Channel, digit: str, duration_ms: int = 100,
                        gap: float = 0.1) -> None:
        """A key pressed towards `ch` (received on it): DTMFBegin, then DTMFEnd after the
        key's duration. A digit reaches whoever reads digits at DTMFEnd; with nobody reading it
        is lost (Asterisk keeps no type-ahead for a channel idle in AGI)."""
        if ch.hungup:
            return
        if ch.tech == "PJSIP" and ch.state != UP:
            ch.refused_keys += digit  # the phone has no media before the answer: no RFC 4733
            return
        if ch.bridge is not None and all(c.tech == "PJSIP" for c in ch.bridge.members):
            return  # two phones bridged: native RTP, no DTMF reaches AMI
        if ch.tech == "PJSIP":
            duration_ms = 200  # RFC 4733 from a real phone
        begin = ch.block()
        self.emit("DTMFBegin", "dtmf,all", [*begin, ("Digit", digit), ("Direction", "Received")])
        await self.sleep(duration_ms / 1000 if ch.tech == "Local" else 0.18)
        if ch.hungup:
            return
        self.emit("DTMFEnd", "dtmf,all", [*ch.block(), ("Digit", digit),
                                          ("DurationMs", str(duration_ms)),
                                          ("Direction", "Received")])
        if ch.listening:
            ch.digits.put_nowait(digit)
        await self.sleep(gap)

    # ---- originate ---------------------------------------------------------------------------

    async def dial_leg(self, req: OriginateRequest, dialer: Channel | None = None) -> Channel:
        """Creates and rings a leg for an Originate, or for the Dial application of `dialer`;
        returns it answered or raises OriginateOutcome."""
        tech, _, rest = req.channel.partition("/")
        if tech == "Local":
            exten, _, context = rest.partition("@")
            context, no_optimize, _ = context.partition("/n")
            return await self._originate_local(req, exten, context, dialer,
                                               optimize=not no_optimize)
        if tech == "PJSIP":
            return await self._originate_pjsip(req, rest, dialer)
        raise OriginateOutcome(0, 0)

    async def originate(self, req: OriginateRequest, respond: Callable[[Headers], None]) -> None:
        """Runs an Originate to its end and reports the OriginateResponse through `respond`."""
        try:
            leg = await self.dial_leg(req)
        except OriginateOutcome as out:
            respond(self._originate_response(req, None, out.reason))
            return
        respond(self._originate_response(req, leg, 4))
        if req.application is None:
            leg.context, leg.exten, leg.priority = (req.context or "", req.exten or "",
                                                    req.priority)
            self.start(leg)
        else:
            leg.task = self.spawn(self._run_application(leg, req.application, req.data))

    async def _run_application(self, ch: Channel, app: str, data: str) -> None:
        """An Originate with Application=: the answered leg runs it, then hangs up. Pulled into
        a bridge by the AMI Bridge action, it stays up when the bridge ends (as on Asterisk)."""
        ch.application, ch.app_data = app, data
        bridge: Bridge | None = None
        bridged = False
        while True:
            try:
                if bridge is not None:
                    await bridge.ended.wait()
                    bridge = None
                elif bridged:
                    await asyncio.Event().wait()
                else:
                    await apps.run(self, ch, app, data)
                    cause = 0
                    break
            except asyncio.CancelledError:
                interrupt, ch.interrupt = ch.interrupt, None
                if isinstance(interrupt, BridgeInterrupt):
                    bridge, bridged = interrupt.bridge, True
                elif isinstance(interrupt, HangupInterrupt):
                    cause = interrupt.cause
                    break
                elif isinstance(interrupt, JumpInterrupt):
                    # redirected (with ExtraChannel: t1 b2, t4): from now on it runs dialplan
                    ch.context, ch.exten = interrupt.context, interrupt.exten
                    ch.priority, ch.application = interrupt.priority, ""
                    ch.runs_dialplan, ch.ends_with_bridge = True, False
                    await self._run(ch)
                    return
                else:
                    raise
        await self.hangup(ch, cause, own=False)

    def _originate_response(self, req: OriginateRequest, leg: Channel | None, reason: int
                            ) -> Headers:
        hs: Headers = []
        if req.action_id is not None:
            hs.append(("ActionID", req.action_id))
        hs.append(("Response", "Success" if leg is not None else "Failure"))
        hs.append(("Channel", leg.name if leg is not None else req.channel))
        if req.application is None:
            hs += [("Context", req.context or ""), ("Exten", req.exten or "")]
        else:
            hs += [("Application", req.application), ("Data", req.data)]
        hs.append(("Reason", str(reason)))
        uid = leg.uniqueid if leg is not None else (req.channel_id or "<unknown>")
        hs.append(("Uniqueid", uid))
        name, num = parse_caller_id(req.caller_id or "")
        hs += [("CallerIDNum", num), ("CallerIDName", name)]
        return hs

    async def _originate_local(self, req: OriginateRequest, exten: str, context: str,
                               dialer: Channel | None = None, *, optimize: bool = True
                               ) -> Channel:
        one, two = self.local_pair(exten, context, uniqueid=req.channel_id,
                                   other_uniqueid=req.other_channel_id, optimize=optimize)
        dial_string = f"{exten}@{context}"
        if dialer is None:
            self.newexten(one, "AppDial2", "(Outgoing Line)")
        else:
            self.var_set(one, "DIALEDPEERNUMBER", dial_string)
            one.exten = "s"
            self.newexten(one, "AppDial", "(Outgoing Line)")
            self.var_set(two, "DIALEDPEERNUMBER", dial_string)
        for leg in (one, two):
            for k, v in req.variables:
                self.var_set(leg, k, v)
            if req.caller_id:
                self.set_caller_id(leg, req.caller_id)
                self.set_connected(leg, leg.cid_num, leg.cid_name)
        caller = dialer.block() if dialer is not None else []
        if self.dialplan.find(context, exten) is None:
            two.hungup = one.hungup = True
            self._gone(two, 0)
            self._gone(one, 0)
            self.device_state(one, "INVALID")
            self.device_state(two, "INVALID")
            raise OriginateOutcome(0, 0)
        self.emit("LocalBridge", "call,all", [
            *one.block("LocalOne"), *two.block("LocalTwo"), ("Context", context),
            ("Exten", exten), ("LocalOptimization", "Yes")])
        self.emit("DialBegin", "call,all", [*caller, *one.block("Dest"),
                                            ("DialString", dial_string)])
        outcome: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        two.actor = outcome  # the ;2 leg's apps (Answer, Ringing, Busy) report through it
        # ;2 starts its dialplan a moment after the Originate's timer (2 ms in
        # vaxel-on-asterisk/s1): a Dial there with the same timeout loses to the Originate
        self.call_later(LOCAL_SETUP, lambda: None if two.hungup else self.start(two))
        try:
            result = await asyncio.wait_for(asyncio.shield(outcome),
                                            req.timeout * self.time_scale)
        except TimeoutError:
            result = "noanswer"
        except asyncio.CancelledError:  # the Dial that asked for this leg was cut short
            if not two.hungup:
                self.hangup_nowait(two, 0)
            raise
        if result == "hangup":
            # a leg hung up before anyone answered (AST_CONTROL_HANGUP: reason 1); a Dial in it
            # that found no phone fails the Originate plainly (reason 0, s3b)
            for leg in (one, two):
                if not leg.hungup:
                    leg.hungup = True
                    self._gone(leg, 0)
            unavailable = two.variables.get("DIALSTATUS") == "CHANUNAVAIL"
            raise OriginateOutcome(0 if unavailable else 1,
                                   two.hangup_cause or one.hangup_cause)
        if result == "answer":
            self.set_state(one, UP)
            one.answered_at = self.now()
            self.device_state(one, "INUSE")
            if dialer is not None:
                self.var_set(dialer, "DIALSTATUS", "ANSWER")
                one.exten = ""
                self.newexten(one, "AppDial", "(Outgoing Line)")
            self.emit("DialEnd", "call,all", [*caller, *one.block("Dest"),
                                              ("DialStatus", "ANSWER")])
            self.device_state(one, "INUSE")
            one.task = None
            return one
        if result == "busy":
            self.emit("DialEnd", "call,all", [*caller, *one.block("Dest"),
                                              ("DialStatus", "BUSY")])
            self.channel_event("HangupRequest", two, ("Cause", "0"))
            if dialer is not None:
                one.hungup = True
                self._gone(one, 0)
            self.channel_event("SoftHangupRequest", two, ("Cause", "16"))
            two.hungup = True
            if two.task is not None:
                two.task.cancel()
            self._gone(two, 17)
            if dialer is None:
                one.hungup = True
                self._gone(one, 0)
            self.device_state(one, "NOT_INUSE")
            self.device_state(two, "NOT_INUSE")
            raise OriginateOutcome(5, 17)
        # no answer in time: an Originate gives up with cause 19, Dial with none
        cause = 19 if dialer is None else 0
        callee = two.dialing
        if dialer is None and callee is not None and not callee.hungup and next(
                self.local_timeouts) == "dial":
            # the Dial in ;2 timed out first (same timeout, by race: s3): NOANSWER, Hangup()
            self.emit("DialEnd", "call,all", [*two.block(), *callee.block("Dest"),
                                              ("DialStatus", "NOANSWER")])
            callee.hungup = True
            self._gone(callee, 0)
            self.var_set(two, "DIALSTATUS", "NOANSWER")
            two.priority += 1
            self.newexten(two, "Hangup", "")
            self.channel_event("HangupRequest", one, ("Cause", "16"))
            two.hungup = one.hungup = True
            if two.task is not None:
                two.task.cancel()
            self._gone(two, 16)
            self._gone(one, cause)
            raise OriginateOutcome(3, cause)
        if dialer is None and callee is not None and not callee.hungup:
            # the Originate hangs up ;2, whose Dial cancels the phone it rings (s3)
            self.channel_event("HangupRequest", two, ("Cause", str(cause)))
            self.emit("DialEnd", "call,all", [*two.block(), *callee.block("Dest"),
                                              ("DialStatus", "CANCEL")])
            callee.hungup = True
            self._gone(callee, cause)
            self.var_set(two, "DIALSTATUS", "CANCEL")
            two.hungup = one.hungup = True
            if two.task is not None:
                two.task.cancel()
            self._gone(two, cause)
            self._gone(one, cause)
            raise OriginateOutcome(3, cause)
        if dialer is not None:
            self.emit("DialEnd", "call,all", [*caller, *one.block("Dest"),
                                              ("DialStatus", "NOANSWER")])
        self.channel_event("HangupRequest", two, ("Cause", str(cause)))
        self.channel_event("SoftHangupRequest", two, ("Cause", "16"))
        two.hungup = one.hungup = True
        if two.task is not None:
            two.task.cancel()
        self._gone(two, cause)
        self._gone(one, cause)
        self.device_state(one, "NOT_INUSE")
        self.device_state(two, "NOT_INUSE")
        raise OriginateOutcome(3, cause)

    async def _originate_pjsip(self, req: OriginateRequest, target: str,
                               dialer: Channel | None = None) -> Channel:
        """PJSIP/<endpoint>, or PJSIP/<number>@<trunk> through a trunk endpoint."""
        number, _, trunk = target.partition("@")
        endpoint = trunk or number
        actor = self.endpoints.get(endpoint)
        if actor is None or not actor.registered:
            # not registered (or unknown): fails at once with reason 0, no DialBegin
            raise OriginateOutcome(0, 3)
        ch = self.pjsip_channel(endpoint, actor.context, "s", uniqueid=req.channel_id)
        for k, v in req.variables:
            self.var_set(ch, k, v)
        if req.caller_id:
            name, num = parse_caller_id(req.caller_id)
            self.set_connected(ch, num, name)
        leg: Channel = await actor.ring(self, ch, req, dialer)
        return leg


def parse_caller_id(text: str) -> tuple[str, str]:
    """'Name <num>' -> (name, num); '<unknown>' where missing."""
    text = text.strip()
    if "<" in text and text.endswith(">"):
        name, _, num = text[:-1].partition("<")
        name = name.strip().strip('"')
        return (name or "<unknown>", num.strip() or "<unknown>")
    return ("<unknown>", text or "<unknown>")

