"""The AMI link: one session to Asterisk that survives the network, on panoramisk 1.4.

panoramisk's Manager connects; everything on the wire is ours. Through its supported hooks
(`protocol_factory`, `forgetable_actions`, a Manager subclass) the link neutralises 1.4's defects:

- framing: panoramisk decodes every TCP read on its own and drops what does not decode (a read that
  splits "Å" loses it). Our protocol buffers bytes in the sans-I/O codec (telephony/ami_codec.py)
  and decodes whole lines only;
- matching: panoramisk guesses list responses (`as_list`) and hangs on QueueAdd and AGI. We match
  each action on its ActionID: one Response, or with `EventList: start` the items up to the
  Complete event. AsyncAGI results are matched on `AsyncAGIExec` `CommandId` and `Channel` (never
  AGIExecStart/End, whose CommandId is internal);
- events: a raising handler in panoramisk kills the connection. Here one callback, that never
  raises, puts every event on an asyncio queue;
- pings: panoramisk pings but never checks the reply. Its pinger is parked; the link's watchdog
  pings and drops the connection when no reply comes in time;
- re-sending: panoramisk re-sends pending actions, Originate included, after a reconnect. Our
  protocol never hands it an action to remember, and every action is forgetable besides; a pending
  action fails with ConnectionLost and is never sent again. After each login the link re-lists the
  channels (CoreShowChannels) and puts a LinkUp with the listing on the queue, so the controller
  resyncs by looking its calls up by the ChannelId it chose;
- reconnecting: one retry loop with exponential backoff, reset by a successful login; connect()
  on the Manager is called once, and never again once the link is closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from panoramisk import Manager
from panoramisk.ami_protocol import AMIProtocol

from telephony.agi_codec import AgiResult, parse_result
from telephony.ami_codec import AmiParser, Banner, Garbage, Message, encode
from telephony.errors import (
    ActionFailed,
    ActionTimeout,
    ConnectionLost,
    LeftAgi,
    LoginRefused,
    NotConnected,
    TelephonyError,
)

log = logging.getLogger("vaxel.ami")

# Everything the engine sends (panoramisk must re-send none of it after a reconnect, and the
# rendered manager.conf must allow each of them: tests/test_dialplan.py checks both).
ACTIONS = ("login", "logoff", "ping", "events", "originate", "redirect", "hangup", "setvar",
           "getvar", "agi", "bridge", "status", "coreshowchannels", "corestatus",
           "devicestatelist")


@dataclass(frozen=True, slots=True)
class LinkUp:
    """Logged in (again): `channels` is the CoreShowChannels listing taken right after login."""

    channels: tuple[Message, ...]
    reconnect: bool


@dataclass(frozen=True, slots=True)
class LinkDown:
    reason: str


Item = Message | LinkUp | LinkDown


@dataclass
class _Pending:
    name: str
    future: asyncio.Future[Any]
    items: list[Message] | None = None  # set once the response said EventList: start
    agi: bool = False  # an AGI action: its future waits on past Success for the AsyncAGIExec
    sent_at: float = 0.0  # loop time it went out: how late Asterisk answers (AmiLink.lag)


@dataclass
class LinkStatistics:
    connects: int = 0
    disconnects: int = 0
    events: int = 0
    garbage: int = 0
    dropped_events: int = 0
    actions_sent: int = 0
    pending: int = 0
    agi_pending: int = 0
    last_error: str | None = None
    by_event: dict[str, int] = field(default_factory=dict)
    lag_ms: float = 0.0  # how late Asterisk answers actions (a moving average)
    waited_for_room: int = 0  # actions held back until fewer were unanswered


class _Protocol(AMIProtocol):  # type: ignore[misc]
    """One TCP connection. Framing and matching are the codec's and the link's."""

    link: AmiLink
    closed: bool

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self.parser = AmiParser()
        self._outbox: list[bytes] = []
        self.link = self._link  # set by the factory

    def data_received(self, data: bytes) -> None:
        self.link.last_heard = asyncio.get_running_loop().time()
        for item in self.parser.feed(data):
            if isinstance(item, Message):
                self.link._received(item)
            elif isinstance(item, Garbage):
                self.link._garbage(item)
            elif isinstance(item, Banner):
                self.version = item.version

    def send(self, data: Any, as_list: bool = False) -> asyncio.Future[Any]:
        """panoramisk's own pinger would call this; it is parked, so nothing should."""
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        fut.set_result(None)
        return fut

    def write(self, payload: bytes) -> None:
        """Queues an action; all the actions of one loop tick go out in one write (a socket
        send each was about 15 % of the controller's CPU a call on a real Asterisk)."""
        if not self._outbox:
            asyncio.get_running_loop().call_soon(self._flush)
        self._outbox.append(payload)

    def _flush(self) -> None:
        outbox, self._outbox = self._outbox, []
        if outbox and not self.closed:
            self.transport.write(b"".join(outbox))

    def drop(self) -> None:
        """Abort the connection; the Manager then retries after the link's backoff."""
        self.transport.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed:
            self.closed = True
            self.link._connection_lost(self, exc)
            if not self.link._closed:
                # the Manager schedules the one retry loop (with the link's backoff)
                self.factory.connection_lost(exc)

    def close(self) -> None:
        # panoramisk's close() would queue unanswered actions for re-sending; ours has none to
        # queue (self.responses stays empty), and we close the transport ourselves.
        if not self.closed:
            self.closed = True
            self.link._connection_lost(self, None)
            self.transport.close()


class _Manager(Manager):  # type: ignore[misc]
    """panoramisk's Manager, with the retry delay taken from the link's backoff and no reconnect
    once the link is closed."""

    def __init__(self, link: AmiLink, **config: Any) -> None:
        super().__init__(**config)
        self._link = link

    def connect(self, *args: Any, **kwargs: Any) -> asyncio.Task[Any] | None:
        if self._link._closed:
            return None
        self.reconnect_timeout = self._link._next_backoff()
        task: asyncio.Task[Any] | None = super().connect(*args, **kwargs)
        return task

    def connection_made(self, f: asyncio.Future[Any]) -> None:
        """A failed connect is said once per reason, with the address (panoramisk logs a
        traceback, or nothing), and retried after the backoff."""
        err = None if f.cancelled() else f.exception()
        if not isinstance(err, OSError):
            self._link._connect_failure = None
            super().connection_made(f)
            return
        reason = os.strerror(err.errno) if err.errno else str(err)
        if reason != self._link._connect_failure:
            log.warning("AMI: cannot connect to %s:%d: %s; trying again every %g s at most",
                        self._link._host, self._link._port, reason, self._link._backoff_max)
        self._link._connect_failure = reason
        self._link.stats.last_error = f"cannot connect to {self._link._host}:" \
                                      f"{self._link._port}: {reason}"
        self.loop.call_later(self.reconnect_timeout, self.connect)


class AmiLink:
    def __init__(
        self,
        host: str,
        port: int,
        username: str,
        secret: str,
        *,
        action_timeout: float = 10.0,
        ping_interval: float = 5.0,
        dead_after: float = 20.0,
        backoff: tuple[float, float] = (0.5, 15.0),
        queue_size: int = 100_000,
        max_unanswered: int = 1000,
    ) -> None:
        self._host, self._port = host, port
        self._username, self._secret = username, secret
        self.action_timeout = action_timeout
        self.ping_interval = ping_interval
        # Silent this long (not a byte, a Ping asked for) means dead. A slow Asterisk is not
        # dead: at 120 calls/s a 3 s Ping check dropped a busy link, failed 600 pending actions
        # at once and added a reconnect and a re-listing to an overloaded PBX.
        self.dead_after = dead_after
        self.last_heard = 0.0  # loop time of the last bytes from Asterisk
        # Back-pressure: at most this many actions wait for Asterisk's answer; more wait here
        # (at 120 calls/s over 1,100 AGI commands piled up in the one AMI session)
        self.max_unanswered = max_unanswered
        self._room = asyncio.Event()
        self.lag = 0.0  # seconds: a moving average of how late actions are answered
        self._backoff_min, self._backoff_max = backoff
        self._backoff = 0.0
        self.events: asyncio.Queue[Item] = asyncio.Queue(queue_size)
        self._listener: Callable[[Item], None] | None = None  # instead of the queue: listen()
        self.stats = LinkStatistics()
        self._ids = itertools.count(1)
        self._pending: dict[str, _Pending] = {}
        # AGI commands awaiting their AsyncAGIExec, by channel, then CommandID
        self._agi: dict[str, dict[str, asyncio.Future[AgiResult]]] = {}
        self._protocol: _Protocol | None = None
        self._logged_in = asyncio.Event()
        self._closed = False
        self._manager: _Manager | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._watchdog: asyncio.Task[None] | None = None
        self._ever_up = False
        self._login_error: Exception | None = None
        self._first_login: asyncio.Future[None] | None = None
        self._connect_failure: str | None = None

    # ---- lifecycle ---------------------------------------------------------------------------

    async def start(self, *, wait: bool = True) -> None:
        """Connect and log in. With `wait`, returns after the first login and raises
        LoginRefused if the secret is wrong (the link still retries in the background)."""
        if self._manager is not None:
            raise RuntimeError("the link is already started")
        loop = asyncio.get_running_loop()
        self._first_login = loop.create_future()
        link = self

        class Factory(_Protocol):
            _link = link

        self._manager = _Manager(
            self, host=self._host, port=self._port, loop=loop, protocol_factory=Factory,
            forgetable_actions=ACTIONS, ping_delay=10**9, ping_interval=10**9,
            reconnect_timeout=1, on_connect=self._on_connect,
        )
        self._manager.connect()
        self._watchdog = loop.create_task(self._watch())
        if wait:
            await asyncio.shield(self._first_login)

    async def close(self) -> None:
        self._closed = True
        if self._watchdog is not None:
            self._watchdog.cancel()
        if self._protocol is not None and not self._protocol.closed:
            with contextlib.suppress(TelephonyError):
                await self.action("Logoff", timeout=1.0)
        if self._manager is not None:
            self._manager.close()
        if self._protocol is not None:
            self._protocol.close()
        for task in list(self._tasks):
            task.cancel()

    def abort(self) -> None:
        """Drops the connection at once, no Logoff, no reconnect (a process that died)."""
        self._closed = True
        if self._watchdog is not None:
            self._watchdog.cancel()
        if self._protocol is not None:
            self._protocol.drop()
        for task in list(self._tasks):
            task.cancel()

    async def __aenter__(self) -> AmiLink:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def connected(self) -> bool:
        return self._logged_in.is_set()

    @property
    def unanswered(self) -> int:
        """Actions sent and not answered yet (back-pressure holds more back)."""
        return len(self._pending)

    @property
    def address(self) -> str:
        return f"{self._host}:{self._port}"

    async def wait_connected(self) -> None:
        await self._logged_in.wait()

    # ---- actions -----------------------------------------------------------------------------

    async def action(self, name: str, headers: Mapping[str, str] | Iterable[tuple[str, str]] = (),
                     *, timeout: float | None = None, _before_login: bool = False) -> Message:
        """Sends one action and returns its response; raises ActionFailed on `Response: Error`,
        ActionTimeout, ConnectionLost or NotConnected. Never re-sent."""
        result = await self._send(name, headers, timeout, _before_login)
        assert isinstance(result, Message)
        return result

    async def list_action(self, name: str,
                          headers: Mapping[str, str] | Iterable[tuple[str, str]] = (),
                          *, timeout: float | None = None) -> list[Message]:
        """An action answered with `EventList: start`: returns the item events (not the
        Complete event). An action answered by a plain Success returns []."""
        result = await self._send(name, headers, timeout, False, listing=True)
        assert isinstance(result, list)
        return result

    def send(self, name: str, headers: Iterable[tuple[str, str]] = ()) -> bool:
        """Sends an action whose response nobody waits for (its response is dropped on
        arrival): no future, no timer. False if the link is down. Never re-sent."""
        try:
            self._write(name, headers)
        except NotConnected:
            return False
        return True

    async def agi(self, channel: str, command: str, *, timeout: float | None = None
                  ) -> AgiResult:
        """Queues an AGI command on a channel in AsyncAGI and waits for its AsyncAGIExec, at
        most `timeout` (default: the action timeout) after Asterisk's answer may take. Raises
        ActionFailed if Asterisk refuses the command, ConnectionLost if the channel leaves AGI
        or hangs up first. One future serves both the action's answer and the result."""
        command_id = f"vx-{next(self._ids)}"
        await self._wait_for_room()
        action_id = self._write("AGI", [("Channel", channel), ("Command", command),
                                        ("CommandID", command_id)])
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[AgiResult] = loop.create_future()
        self._agi.setdefault(channel, {})[command_id] = fut
        self._pending[action_id] = _Pending("AGI", fut, agi=True, sent_at=loop.time())
        limit = self.action_timeout + (self.action_timeout if timeout is None else timeout)
        timer = loop.call_later(limit, _expire, fut,
                                f"AGI {command!r} on {channel}: no result in {limit:g} s")
        try:
            return await fut
        finally:
            timer.cancel()
            self._pending.pop(action_id, None)
            waiting = self._agi.get(channel)
            if waiting is not None:
                waiting.pop(command_id, None)
                if not waiting:
                    del self._agi[channel]

    def oldest_unanswered(self) -> float:
        """Seconds the oldest action still without Asterisk's answer has waited (0: none).
        Rises at once when Asterisk stalls, where the moving average (`lag`) moves only as
        late answers arrive. The pending actions are kept in the order they were sent."""
        for pending in self._pending.values():
            if pending.items is None:  # a listing under way has been answered
                return max(0.0, asyncio.get_running_loop().time() - pending.sent_at)
        return 0.0

    def statistics(self) -> LinkStatistics:
        self.stats.pending = len(self._pending)
        self.stats.agi_pending = sum(len(w) for w in self._agi.values())
        return self.stats

    async def _send(self, name: str, headers: Mapping[str, str] | Iterable[tuple[str, str]],
                    timeout: float | None, before_login: bool, listing: bool = False
                    ) -> Message | list[Message]:
        items = list(headers.items()) if isinstance(headers, Mapping) else headers
        await self._wait_for_room()
        action_id = self._write(name, items, before_login)
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[Any] = loop.create_future()
        # the answer comes in a later read
        self._pending[action_id] = _Pending(name, fut, sent_at=loop.time())
        limit = self.action_timeout if timeout is None else timeout
        # a bare timer rather than asyncio.timeout(): a third of the cost, on every action
        timer = loop.call_later(limit, _expire, fut, f"{name}: no response in {limit} s")
        try:
            result = await fut
        finally:
            timer.cancel()
            self._pending.pop(action_id, None)
        if isinstance(result, Message):
            if result.response == "Error":
                raise ActionFailed(name, result.get("Message", ""))
            return [] if listing else result
        listed: list[Message] = result  # the items of a list action
        return listed

    def _write(self, name: str, headers: Iterable[tuple[str, str]],
               before_login: bool = False) -> str:
        """Encodes (HeaderInjection on CR/LF) and writes one action; returns its ActionID.
        Raises NotConnected if the link is down."""
        action_id = f"vx-{next(self._ids)}"
        payload = encode([("Action", name), ("ActionID", action_id), *headers])
        protocol = self._protocol
        if protocol is None or protocol.closed or not (before_login or self.connected):
            raise NotConnected(f"{name}: the AMI link is down")
        protocol.write(payload)
        self.stats.actions_sent += 1
        return action_id

    # ---- what the protocol reports -----------------------------------------------------------

    def _received(self, msg: Message) -> None:
        """Every message from Asterisk; must never raise (it runs inside data_received)."""
        try:
            action_id = msg.action_id
            pending = self._pending.get(action_id) if action_id else None
            if pending is not None and action_id and self._answer(action_id, pending, msg):
                return
            if msg.event is not None:
                self._event(msg)
        except Exception as err:  # a bad message must not kill the link
            self.stats.last_error = f"{type(err).__name__}: {err}"
            log.exception("AMI message handling failed: %r", msg)

    async def _wait_for_room(self) -> None:
        """Back-pressure: while max_unanswered actions wait for Asterisk, the next one waits
        here for an answer to come (the link's down-state raises on the write after)."""
        while len(self._pending) >= self.max_unanswered and self.connected:
            self.stats.waited_for_room += 1
            self._room.clear()
            await self._room.wait()

    def _answered(self, pending: _Pending) -> None:
        late = asyncio.get_running_loop().time() - pending.sent_at
        self.lag += 0.1 * (late - self.lag)
        self.stats.lag_ms = 1000 * self.lag
        self._room.set()

    def _answer(self, action_id: str, pending: _Pending, msg: Message) -> bool:
        """Feeds a message to the action waiting for it; False if it is not part of the
        answer (an event that merely carries the ActionID, such as OriginateResponse)."""
        if msg.response is not None and pending.items is None:
            self._answered(pending)
            if pending.agi:
                self._pending.pop(action_id, None)
                if msg.response == "Error" and not pending.future.done():
                    pending.future.set_exception(ActionFailed("AGI", msg.get("Message", "")))
                return True  # Success: the result comes with AsyncAGIExec
            if msg.get("EventList") == "start":
                pending.items = []
            else:
                self._pending.pop(action_id, None)  # answered: later events are events
                if not pending.future.done():
                    pending.future.set_result(msg)
            return True
        if pending.items is not None and msg.event is not None:
            if msg.get("EventList") == "Complete":
                self._pending.pop(action_id, None)
                if not pending.future.done():
                    pending.future.set_result(pending.items)
            else:
                pending.items.append(msg)
            return True
        return False

    def _event(self, msg: Message) -> None:
        name = msg.event or ""
        self.stats.events += 1
        self.stats.by_event[name] = self.stats.by_event.get(name, 0) + 1
        if name == "AsyncAGIExec":
            fut = self._agi.get(msg.get("Channel", ""), {}).get(msg.get("CommandId", ""))
            if fut is not None and not fut.done():
                fut.set_result(parse_result(msg.get("Result", "")))
                return  # the answer to vaxel's command, as an action's Response: not an event
        elif name in ("AsyncAGIEnd", "Hangup"):
            channel = msg.get("Channel", "")
            for fut in list(self._agi.get(channel, {}).values()):
                if not fut.done():
                    fut.set_exception(LeftAgi(f"{channel} left AGI ({name})"))
        self._put(msg)

    def listen(self, listener: Callable[[Item], None] | None) -> None:
        """The events (and LinkUp, LinkDown) to `listener` instead of the queue, starting with
        what the queue holds: a call each, on the loop, in the order they came (None: to the
        queue again)."""
        self._listener = listener
        if listener is not None:
            while not self.events.empty():
                self._put(self.events.get_nowait())

    def _deliver(self, listener: Callable[[Item], None], item: Item) -> None:
        if listener is self._listener:
            listener(item)
        else:  # listen() changed hands since: a stopped controller gets nothing more
            self._put(item)

    def _put(self, item: Item) -> None:
        if self._listener is not None:
            # scheduled, not called: an AGI result read just before wakes its task first, as
            # a queue's reader would have been woken after it (and a handle costs less than a
            # reader task's turn: at 10 calls/s that turn was a sixth of the controller's CPU)
            asyncio.get_running_loop().call_soon(self._deliver, self._listener, item)
            return
        try:
            self.events.put_nowait(item)
        except asyncio.QueueFull:
            self.stats.dropped_events += 1

    def _garbage(self, item: Garbage) -> None:
        self.stats.garbage += 1
        log.warning("AMI: %s: %r", item.reason, item.data[:80])

    def _on_connect(self, manager: Manager) -> None:
        protocol = manager.protocol
        assert isinstance(protocol, _Protocol)
        self._protocol = protocol
        self.stats.connects += 1
        self._spawn(self._login(protocol))

    async def _login(self, protocol: _Protocol) -> None:
        try:
            await self.action("Login", [("Username", self._username), ("Secret", self._secret),
                                        ("Events", "on")], _before_login=True)
        except ActionFailed as err:
            self._login_error = LoginRefused(f"AMI login as {self._username!r} refused: "
                                             f"{err.message}")
            log.error("%s", self._login_error)
            if self._first_login is not None and not self._first_login.done():
                self._first_login.set_exception(self._login_error)
            protocol.drop()
            return
        except TelephonyError as err:
            log.warning("AMI login failed: %s", err)
            protocol.drop()
            return
        self._backoff = 0.0
        self._logged_in.set()
        try:
            channels = await self.list_action("CoreShowChannels")
        except TelephonyError as err:
            log.warning("AMI: re-listing channels failed: %s", err)
            protocol.drop()
            return
        self._put(LinkUp(tuple(channels), reconnect=self._ever_up))
        self._ever_up = True
        if self._first_login is not None and not self._first_login.done():
            self._first_login.set_result(None)

    def _connection_lost(self, protocol: _Protocol, exc: Exception | None) -> None:
        if protocol is not self._protocol:
            return
        was_up = self._logged_in.is_set()
        self._logged_in.clear()
        self._protocol = None
        self._room.set()  # who waits for room learns the link is down on their write
        self.stats.disconnects += 1
        reason = str(exc) if exc else "connection closed"
        for pending in list(self._pending.values()):
            if not pending.future.done():
                pending.future.set_exception(ConnectionLost(f"{pending.name}: {reason}"))
        for fut in [f for waiting in self._agi.values() for f in waiting.values()]:
            if not fut.done():
                fut.set_exception(ConnectionLost(f"AGI: {reason}"))
        if was_up:
            self._put(LinkDown(reason))

    def _next_backoff(self) -> float:
        """The delay before the next attempt: doubles from the minimum up to the maximum."""
        self._backoff = min(self._backoff_max,
                            max(self._backoff_min, self._backoff * 2 or self._backoff_min))
        return self._backoff

    async def _watch(self) -> None:
        """Liveness by what arrives: while bytes come (events, answers) the link lives, however
        slow its answers; after a quiet ping_interval a Ping asks for bytes; nothing at all for
        dead_after drops the connection."""
        loop = asyncio.get_running_loop()
        while not self._closed:
            await asyncio.sleep(self.ping_interval)
            protocol = self._protocol
            if protocol is None or not self.connected:
                continue
            quiet = loop.time() - self.last_heard
            if quiet >= self.dead_after:
                log.warning("AMI: nothing from Asterisk for %.0f s; dropping the connection",
                            quiet)
                protocol.drop()
            elif quiet >= self.ping_interval:
                self.send("Ping")

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def _expire(fut: asyncio.Future[Any], why: str) -> None:
    if not fut.done():
        fut.set_exception(ActionTimeout(why))
