"""The fake PBX's AMI server: an asyncio TCP server speaking AMI as Asterisk 22 does.

Per FACTS.md: banner on connect; a wrong secret is answered after about 1 s and the socket
closed; any action before login gets `Permission denied` and the socket stays open; an unknown
action gets `Invalid/unknown command`; list actions answer `EventList: start`, items with the
ActionID, then a Complete event; a client that stops reading is dropped (Asterisk's 100 ms write
timeout); a synchronous Originate blocks the session, events included, until it ends.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from telephony.ami_codec import AmiParser, Message, encode
from telephony.fakepbx import agi
from telephony.fakepbx.channel import Channel
from telephony.fakepbx.manager_conf import AmiUser
from telephony.fakepbx.pbx import FakePbx, OriginateRequest

log = logging.getLogger("vaxel.fakepbx.ami")

BANNER = b"Asterisk Call Manager/11.0.0\r\n"
WRITE_TIMEOUT = 0.1  # seconds a client may leave our writes unread
WRITE_BUFFER_LIMIT = 256 * 1024


@dataclass
class ServerStatistics:
    sessions: int = 0
    logins: int = 0
    failed_logins: int = 0
    dropped_slow: int = 0
    actions: dict[str, int] = field(default_factory=dict)


class AmiSession(asyncio.Protocol):
    def __init__(self, server: AmiServer) -> None:
        self.server = server
        self.pbx = server.pbx
        self.parser = AmiParser(server=True)
        self.transport: asyncio.Transport | None = None
        self.user: str | None = None
        self.events_on = True
        self.closed = False
        self._inbox: asyncio.Queue[Message] = asyncio.Queue()
        self._worker: asyncio.Task[None] | None = None
        self._held: list[bytes] | None = None  # events held while a sync Originate runs
        self._slow_check: asyncio.TimerHandle | None = None

    # ---- transport ---------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        if self.server.pbx.now() < self.server.unreachable_until:
            transport.abort()  # the network is down: the connection goes nowhere
            return
        self.transport = transport
        self.server.sessions.add(self)
        self.server.stats.sessions += 1
        transport.write(BANNER)
        self._worker = asyncio.get_running_loop().create_task(self._work())

    def data_received(self, data: bytes) -> None:
        for item in self.parser.feed(data):
            if isinstance(item, Message):
                self._inbox.put_nowait(item)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.server.sessions.discard(self)
        if self in self.server.listening:
            self.server.listening.discard(self)
        if self._worker is not None:
            self._worker.cancel()

    def close(self) -> None:
        if not self.closed and self.transport is not None:
            self.closed = True
            self.transport.close()

    def write(self, headers: list[tuple[str, str]]) -> None:
        if self.closed or self.transport is None:
            return
        self.transport.write(encode(headers))
        if (self.transport.get_write_buffer_size() > WRITE_BUFFER_LIMIT
                and self._slow_check is None):
            self._slow_check = asyncio.get_running_loop().call_later(
                WRITE_TIMEOUT, self._drop_if_still_slow)

    def _drop_if_still_slow(self) -> None:
        self._slow_check = None
        if self.transport is not None and (
                self.transport.get_write_buffer_size() > WRITE_BUFFER_LIMIT):
            log.warning("AMI client %s stopped reading; dropping it", self.user)
            self.server.stats.dropped_slow += 1
            self.closed = True
            self.transport.abort()

    def event(self, headers: list[tuple[str, str]]) -> None:
        if self.user is None or not self.events_on:
            return
        if not self.server.users[self.user].reads(headers):
            return
        if self._held is not None:
            self._held.append(encode(headers))
            return
        self.write(headers)

    def respond(self, msg: Message, response: str, *extra: tuple[str, str]) -> None:
        hs = [("Response", response)]
        if msg.action_id is not None:
            hs.append(("ActionID", msg.action_id))
        self.write([*hs, *extra])

    # ---- actions -----------------------------------------------------------------------------

    async def _work(self) -> None:
        while True:
            msg = await self._inbox.get()
            if self.server.action_cost:  # an overloaded Asterisk: each action waits its turn
                await self.server.pbx.sleep(self.server.action_cost)
            name = (msg.action or "").lower()
            self.server.stats.actions[name] = self.server.stats.actions.get(name, 0) + 1
            try:
                if name == "login":
                    await self._login(msg)
                elif name == "logoff":
                    self.respond(msg, "Goodbye", ("Message", "Thanks for all the fish."))
                    self.close()
                    return
                elif self.user is None or not self.server.users[self.user].may(name):
                    self.respond(msg, "Error", ("Message", "Permission denied"))
                else:
                    handler = ACTIONS.get(name)
                    if handler is None:
                        self.respond(msg, "Error", (
                            "Message", f"Invalid/unknown command: {msg.action}. Use Action: "
                                       "ListCommands to show available commands."))
                    else:
                        await handler(self, msg)
            except Exception as err:  # a bad action must not kill the session
                log.exception("fake PBX: action %s failed", name)
                self.respond(msg, "Error", ("Message", f"{type(err).__name__}: {err}"))

    async def _login(self, msg: Message) -> None:
        user = self.server.users.get(msg.get("Username", ""))
        if user is None or user.secret != msg.get("Secret"):
            self.server.stats.failed_logins += 1
            await asyncio.sleep(self.server.failed_login_delay)
            self.respond(msg, "Error", ("Message", "Authentication failed"))
            self.close()
            return
        self.user = msg["Username"]
        self.events_on = (msg.get("Events") or "on").lower() != "off"
        self.server.stats.logins += 1
        self.respond(msg, "Success", ("Message", "Authentication accepted"))
        if self.events_on:
            # written straight to the session by the login (astman_append): no class, no filter
            self.write([("Event", "FullyBooted"), ("Privilege", "system,all"),
                        ("Uptime", "19"), ("LastReload", "10"), ("Status", "Fully Booted")])
            peer = self.transport.get_extra_info("peername") if self.transport else None
            stamp = time.strftime("%Y-%m-%dT%H:%M:%S.000+0000", time.gmtime())
            # a security event: it reaches only users reading `security`, through the filters
            self.event([("Event", "SuccessfulAuth"), ("Privilege", "security,all"),
                        ("EventTV", stamp), ("Severity", "Informational"), ("Service", "AMI"),
                        ("EventVersion", "1"), ("AccountID", self.user),
                        ("SessionID", f"0x{id(self):x}"),
                        ("LocalAddress", "IPV4/TCP/127.0.0.1/5038"),
                        ("RemoteAddress", f"IPV4/TCP/{peer[0]}/{peer[1]}" if peer else ""),
                        ("UsingPassword", "0"), ("SessionTV", stamp)])
        self.server.listening.add(self)


def _channel(session: AmiSession, msg: Message, key: str = "Channel") -> Channel | None:
    ch = session.pbx.find(msg.get(key, ""))
    if ch is None:
        session.respond(msg, "Error", ("Message", "No such channel"))
    return ch


async def _ping(s: AmiSession, msg: Message) -> None:
    s.respond(msg, "Success", ("Ping", "Pong"), ("Timestamp", f"{time.time():.6f}"))


async def _events(s: AmiSession, msg: Message) -> None:
    mask = (msg.get("EventMask") or "on").lower()
    s.events_on = mask != "off"
    s.respond(msg, "Success", ("Events", "On" if s.events_on else "Off"))


def _duration(pbx: FakePbx, ch: Channel) -> str:
    secs = int(pbx.now() - ch.created_at)
    return f"{secs // 3600:02d}:{secs % 3600 // 60:02d}:{secs % 60:02d}"


async def _core_show_channels(s: AmiSession, msg: Message) -> None:
    s.respond(msg, "Success", ("EventList", "start"), ("Message", "Channels will follow"))
    aid = [("ActionID", msg.action_id)] if msg.action_id else []
    chans = list(s.pbx.channels.values())
    for ch in chans:
        s.write([("Event", "CoreShowChannel"), *aid, *ch.block(),
                 ("Application", ch.application), ("ApplicationData", ch.app_data),
                 ("Duration", _duration(s.pbx, ch)),
                 ("BridgeId", ch.bridge.uniqueid if ch.bridge else "")])
    s.write([("Event", "CoreShowChannelsComplete"), *aid, ("EventList", "Complete"),
             ("ListItems", str(len(chans)))])


async def _status(s: AmiSession, msg: Message) -> None:
    pbx = s.pbx
    name = msg.get("Channel")
    if name:
        ch = pbx.find(name)
        if ch is None:
            s.respond(msg, "Error", ("Message", "No such channel"))
            return
        chans = [ch]
    else:
        chans = list(pbx.channels.values())
    s.respond(msg, "Success", ("EventList", "start"), ("Message", "Channel status will follow"))
    aid = [("ActionID", msg.action_id)] if msg.action_id else []
    wanted = [v.strip() for v in (msg.get("Variables") or "").split(",") if v.strip()]
    for ch in chans:
        if ch.live_app is not None:
            app, data = ch.live_app
        elif ch.in_agi:
            app, data = "AGI", "agi:async"
        elif ch.bridge is not None and ch.application != "Bridge":
            app, data = "(null)", "(null)"
        else:
            app, data = ch.application or "(null)", ch.app_data or "(null)"
        hs = [("Event", "Status"), ("Privilege", "Call"), *ch.block(),
              ("Type", ch.tech), ("DNID", ""), ("EffectiveConnectedLineNum", ch.conn_num),
              ("EffectiveConnectedLineName", ch.conn_name),
              ("TimeToHangup", "0" if ch.lease_deadline is None else
               f"{ch.lease_deadline - pbx.now():.0f}"),
              ("BridgeID", ch.bridge.uniqueid if ch.bridge else ""),
              ("Application", app), ("Data", data), ("Nativeformats", "(ulaw)"),
              ("Readformat", "ulaw"), ("Readtrans", ""), ("Writeformat", "ulaw"),
              ("Writetrans", ""), ("Callgroup", "0"), ("Pickupgroup", "0"),
              ("Seconds", str(int(pbx.now() - ch.created_at)))]
        for var in wanted:
            value = _variable(pbx, ch, var)
            hs.append(("Variable", f"{var}={value if value != '' else '(null)'}"))
        hs += aid
        s.write(hs)
    s.write([("Event", "StatusComplete"), *aid, ("EventList", "Complete"),
             ("ListItems", str(len(chans))), ("Items", str(len(chans)))])


def _variable(pbx: FakePbx, ch: Channel, name: str) -> str:
    if name.upper() == "BRIDGEPEER":
        if ch.bridge is None:
            return ch.variables.get("BRIDGEPEER", "")
        others = [c.name for c in ch.bridge.members if c is not ch]
        return ",".join(others)
    return pbx.lookup(ch, name)


async def _originate(s: AmiSession, msg: Message) -> None:
    pbx = s.pbx
    variables = []
    for v in msg.get_all("Variable"):
        for part in v.split(","):
            k, _, val = part.partition("=")
            variables.append((k, val))
    req = OriginateRequest(
        channel=msg.get("Channel", ""), action_id=msg.action_id,
        context=msg.get("Context"), exten=msg.get("Exten"),
        priority=int(msg.get("Priority") or 1),
        application=msg.get("Application"), data=msg.get("Data") or "",
        timeout=int(msg.get("Timeout") or 30000) / 1000, caller_id=msg.get("CallerID"),
        variables=tuple(variables), channel_id=msg.get("ChannelId"),
        other_channel_id=msg.get("OtherChannelId"))
    if req.channel_id and (req.channel_id in pbx.by_id):
        s.respond(msg, "Error", ("Message", "Uniqueid already in use"))
        return

    def respond(headers: list[tuple[str, str]]) -> None:
        for listener in list(s.server.listening):
            listener.event([("Event", "OriginateResponse"), ("Privilege", "call,all"),
                            *headers])

    if (msg.get("Async") or "false").lower() in ("true", "yes", "1"):
        s.respond(msg, "Success", ("Message", "Originate successfully queued"))
        pbx.spawn(pbx.originate(req, respond))
        return
    # synchronous: the whole session blocks, events included, until it ends
    s._held = []
    result: list[list[tuple[str, str]]] = []
    await pbx.originate(req, result.append)
    held, s._held = s._held, None
    ok = result and dict(result[0]).get("Response") == "Success"
    if ok:
        s.respond(msg, "Success", ("Message", "Originate successfully queued"))
    else:
        s.respond(msg, "Error", ("Message", "Originate failed"))
    for payload in held:
        if s.transport is not None and not s.closed:
            s.transport.write(payload)


async def _agi(s: AmiSession, msg: Message) -> None:
    name = msg.get("Channel", "")
    ch = s.pbx.find(name)
    if ch is None:
        s.respond(msg, "Error", ("Message", f"Channel {name} does not exist."))
        return
    if not agi.queue_command(ch, msg.get("Command", ""), msg.get("CommandID", "")):
        s.respond(msg, "Error", ("Message", f"Failed to add AGI command to channel {name} queue"))
        return
    s.respond(msg, "Success", ("Message", "Added AGI command to queue"))


async def _setvar(s: AmiSession, msg: Message) -> None:
    ch = _channel(s, msg)
    if ch is None:
        return
    var, value = msg.get("Variable", ""), msg.get("Value", "")
    if var.upper() == "TIMEOUT(ABSOLUTE)":
        s.pbx.set_lease(ch, float(value or 0))  # applied at once, even during a long command
    else:
        s.pbx.var_set(ch, var, value)
    s.respond(msg, "Success")


async def _getvar(s: AmiSession, msg: Message) -> None:
    ch = _channel(s, msg)
    if ch is None:
        return
    var = msg.get("Variable", "")
    s.respond(msg, "Success", ("Variable", var), ("Value", _variable(s.pbx, ch, var)))


async def _redirect(s: AmiSession, msg: Message) -> None:
    """Redirect, and with ExtraChannel a dual one (sip-traces/t1 b1, b2; t4): a channel taken
    out of a bridge leaves it, and the other side, left alone, is hung up unless it is the
    ExtraChannel redirected with it."""
    ch = _channel(s, msg)
    if ch is None:
        return
    context, exten = msg.get("Context", ""), msg.get("Exten", "")
    priority = int(msg.get("Priority") or 1)
    if s.pbx.dialplan.find(context, exten) is None:
        s.respond(msg, "Error", ("Message", "Extension does not exist."))
        return
    extra = None
    if msg.get("ExtraChannel"):
        extra = _channel(s, msg, "ExtraChannel")
        if extra is None:
            return
        extra_context = msg.get("ExtraContext", "") or context
        extra_exten = msg.get("ExtraExten", "") or exten
        extra_priority = int(msg.get("ExtraPriority") or priority)
        if s.pbx.dialplan.find(extra_context, extra_exten) is None:
            s.respond(msg, "Error", ("Message", "Extension does not exist."))
            return
    s.pbx.redirect(ch, context, exten, priority, keep=extra)
    if extra is not None:
        s.pbx.redirect(extra, extra_context, extra_exten, extra_priority, keep=ch)
        s.respond(msg, "Success", ("Message", "Dual Redirect successful"))
        return
    s.respond(msg, "Success", ("Message", "Redirect successful"))


async def _hangup(s: AmiSession, msg: Message) -> None:
    ch = _channel(s, msg)
    if ch is None:
        return
    s.pbx.hangup_nowait(ch, int(msg.get("Cause") or 0))  # no Cause: Asterisk sets none
    s.respond(msg, "Success", ("Message", "Channel Hungup"))


async def _bridge(s: AmiSession, msg: Message) -> None:
    a, b = s.pbx.find(msg.get("Channel1", "")), s.pbx.find(msg.get("Channel2", ""))
    if a is None or b is None:
        missing = msg.get("Channel1") if a is None else msg.get("Channel2")
        s.respond(msg, "Error", ("Message", f"Channel {missing} does not exist"))
        return
    s.respond(msg, "Success", ("Message", "Channels have been bridged"))
    s.pbx.bridge(a, b)


async def _moh_start(s: AmiSession, msg: Message) -> None:
    ch = _channel(s, msg)
    if ch is not None:
        s.pbx.moh_start(ch, msg.get("Class") or "default")
        s.respond(msg, "Success")


async def _moh_stop(s: AmiSession, msg: Message) -> None:
    ch = _channel(s, msg)
    if ch is not None:
        s.pbx.moh_stop(ch)
        s.respond(msg, "Success")


async def _device_state_list(s: AmiSession, msg: Message) -> None:
    """Phones' presence: one DeviceStateChange item per endpoint, as chan_pjsip lists them."""
    s.respond(msg, "Success", ("EventList", "start"),
              ("Message", "Device State Changes will follow"))
    aid = [("ActionID", msg.action_id)] if msg.action_id else []
    phones = list(s.pbx.endpoints.values())
    for phone in phones:
        in_use = any(ch.name.startswith(f"PJSIP/{phone.endpoint}-")
                     for ch in s.pbx.channels.values())
        state = "UNAVAILABLE" if not phone.registered else "INUSE" if in_use else "NOT_INUSE"
        s.write([("Event", "DeviceStateChange"), *aid,
                 ("Device", f"PJSIP/{phone.endpoint}"), ("State", state)])
    s.write([("Event", "DeviceStateListComplete"), *aid, ("EventList", "Complete"),
             ("ListItems", str(len(phones)))])


async def _core_status(s: AmiSession, msg: Message) -> None:
    s.respond(msg, "Success", ("CoreCurrentCalls", str(len(s.pbx.channels))))


ACTIONS: dict[str, Callable[[AmiSession, Message], Any]] = {
    "ping": _ping, "events": _events, "coreshowchannels": _core_show_channels,
    "status": _status, "originate": _originate, "agi": _agi, "setvar": _setvar,
    "getvar": _getvar, "redirect": _redirect, "hangup": _hangup, "bridge": _bridge,
    "musiconholdstart": _moh_start, "musiconholdstop": _moh_stop, "corestatus": _core_status,
    "devicestatelist": _device_state_list,
}


class AmiServer:
    """Serves the PBX's AMI on 127.0.0.1 (port 0: any free port)."""

    def __init__(self, pbx: FakePbx, users: dict[str, AmiUser] | None = None,
                 failed_login_delay: float = 1.0) -> None:
        self.pbx = pbx
        self.users = users or {"vaxel": AmiUser("vaxel-secret")}
        self.failed_login_delay = failed_login_delay
        self.sessions: set[AmiSession] = set()
        self.listening: set[AmiSession] = set()
        self.stats = ServerStatistics()
        self.unreachable_until = 0.0  # PBX time until which no client gets through
        # PBX seconds each action of a session waits before it is handled: a saturated
        # Asterisk (vaxel-on-asterisk/load: AGI commands queued past 1,100 at 120 calls/s)
        self.action_cost = 0.0
        self._server: asyncio.base_events.Server | None = None
        pbx.listeners.append(self._broadcast)

    def _broadcast(self, headers: list[tuple[str, str]]) -> None:
        for session in list(self.listening):
            session.event(headers)

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: AmiSession(self), host, port)
        return int(self._server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for session in list(self.sessions):
            session.close()
        if self._server is not None:
            await self._server.wait_closed()

    def unreachable_for(self, seconds: float) -> None:
        """The network between the controller and the PBX is down for a while: every client
        connection drops and none gets through until then; calls go on."""
        self.unreachable_until = self.pbx.now() + seconds
        self.drop_all()

    def drop_all(self) -> None:
        """Closes every client connection (the network went away); calls go on."""
        for session in list(self.sessions):
            if session.transport is not None:
                session.transport.abort()
