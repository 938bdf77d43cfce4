"""The AMI link against the fake PBX over TCP: events, AGI, and surviving the network."""

import asyncio
import contextlib

import pytest

from telephony.ami_codec import Message
from telephony.ami_link import AmiLink, LinkDown, LinkUp
from telephony.errors import (
    ActionFailed,
    ActionTimeout,
    ConnectionLost,
    HeaderInjection,
    LoginRefused,
)
from telephony.fakepbx import AmiServer, AmiUser, Dialplan, FakePbx

from . import virtual_clock
from .recordings import LAB_DIALPLAN as LAB
from .recordings import all_raw_traces, trace_name


def run(coro):
    return virtual_clock.run(asyncio.wait_for(coro, 30))


async def started(time_scale=0.05, **link_kw):
    pbx = FakePbx(Dialplan.load(LAB), time_scale=time_scale)
    server = AmiServer(pbx, {"kc": AmiUser("kc-secret")}, failed_login_delay=0.05)
    port = await server.start()
    link = AmiLink("127.0.0.1", port, "kc", "kc-secret", **link_kw)
    return pbx, server, link, port


async def next_of(link, kind, pred=lambda m: True, timeout=10.0):
    async def find():
        while True:
            item = await link.events.get()
            if isinstance(item, kind) and pred(item):
                return item
    return await asyncio.wait_for(find(), timeout)


async def stop(pbx, server, link):
    await link.close()
    await server.stop()
    await pbx.close()


ORIGINATE = [("Channel", "Local/holder@test-caller"), ("Context", "kc-inbound"),
             ("Exten", "0812345"), ("Priority", "1"), ("Async", "true"),
             ("CallerID", "Åsa Öberg <0812345>"), ("ChannelId", "vx-call-1")]


def test_the_link_logs_in_lists_channels_and_delivers_events():
    async def main():
        pbx, server, link, _ = await started()
        await link.start()
        up = await next_of(link, LinkUp)
        assert up.channels == () and up.reconnect is False
        await link.action("Originate", ORIGINATE)
        start = await next_of(link, Message, lambda m: m.event == "AsyncAGIStart")
        assert start["Uniqueid"] == "vx-call-1" and start["CallerIDName"] == "Åsa Öberg"
        result = await link.agi(start["Channel"], "GET VARIABLE CHANNEL(language)")
        assert result.ok and result.data == "en"
        await stop(pbx, server, link)
    run(main())


def test_a_listener_takes_the_queued_events_then_each_as_it_comes_in_order():
    async def main():
        pbx, server, link, _ = await started()
        await link.start()
        await link.action("Originate", ORIGINATE)
        await asyncio.sleep(1)  # the call's first events wait in the queue
        queued = list(link.events._queue)
        got = []
        link.listen(got.append)
        assert got == []  # on the loop, not inside listen()
        await asyncio.sleep(0)
        assert got == queued and link.events.empty()
        start = next(m for m in got if isinstance(m, Message) and m.event == "AsyncAGIStart")
        result = await link.agi(start["Channel"], "GET VARIABLE CHANNEL(language)")
        await link.action("Hangup", [("Channel", start["Channel"])])
        await asyncio.sleep(1)
        mine = [m.event for m in got if isinstance(m, Message)
                and m.get("Channel") == start["Channel"]]
        assert result.ok and mine.count("Hangup") == 1 and link.events.empty()
        assert mine.index("AsyncAGIStart") < mine.index("Hangup")
        link.listen(None)  # the queue again, also for what was scheduled for the listener
        link._put(LinkUp((), reconnect=True))
        link.listen(got.append)
        link.listen(None)
        await asyncio.sleep(0)
        assert isinstance(link.events.get_nowait(), LinkUp)
        assert not any(isinstance(m, LinkUp) and m.reconnect for m in got)
        await link.close()
        assert isinstance(link.events.get_nowait(), LinkDown)
        assert not any(isinstance(m, LinkDown) for m in got)
        await server.stop()
        await pbx.close()
    run(main())


def test_agi_results_are_matched_on_async_agi_exec_command_id():
    async def main():
        pbx, server, link, _ = await started()
        await link.start()
        await link.action("Originate", ORIGINATE)
        chan = (await next_of(link, Message, lambda m: m.event == "AsyncAGIStart"))["Channel"]
        # two commands back to back: each result comes back to its own caller
        a, b = await asyncio.gather(link.agi(chan, 'STREAM FILE beep ""'),
                                    link.agi(chan, "GET VARIABLE CHANNEL(language)"))
        assert a.extra["endpos"] == "3520" and b.data == "en"
        await stop(pbx, server, link)
    run(main())


def test_a_hangup_ends_the_running_agi_command_and_fails_the_queued_one():
    async def main():
        pbx, server, link, _ = await started()
        await link.start()
        await link.action("Originate", ORIGINATE)
        chan = (await next_of(link, Message, lambda m: m.event == "AsyncAGIStart"))["Channel"]
        running = asyncio.ensure_future(link.agi(chan, "WAIT FOR DIGIT 60000"))
        queued = asyncio.ensure_future(link.agi(chan, "NOOP after"))
        await asyncio.sleep(0.05)
        await link.action("Hangup", [("Channel", chan)])
        assert (await running).hung_up  # 200 result=-1, as Asterisk reports it
        with pytest.raises(ConnectionLost, match="left AGI"):
            await queued
        await stop(pbx, server, link)
    run(main())


def test_header_values_with_line_breaks_never_reach_the_wire():
    async def main():
        pbx, server, link, _ = await started()
        await link.start()
        with pytest.raises(HeaderInjection):
            await link.action("Originate", [("CallerID", "x\r\nAction: Hangup")])
        assert server.stats.actions.get("originate", 0) == 0
        assert server.stats.actions.get("hangup", 0) == 0
        await stop(pbx, server, link)
    run(main())


def test_an_error_response_raises_action_failed_with_asterisks_message():
    async def main():
        pbx, server, link, _ = await started()
        await link.start()
        with pytest.raises(ActionFailed, match="No such channel"):
            await link.action("Hangup", [("Channel", "PJSIP/nobody-00000001")])
        await stop(pbx, server, link)
    run(main())


def test_a_refused_login_is_reported_and_the_link_keeps_trying():
    async def main():
        pbx, server, _, port = await started()
        link = AmiLink("127.0.0.1", port, "kc", "wrong", backoff=(0.05, 0.1))
        with pytest.raises(LoginRefused, match="Authentication failed"):
            await link.start()
        await asyncio.sleep(0.5)
        assert server.stats.failed_logins >= 2  # it retried, with backoff
        assert not link.connected
        await stop(pbx, server, link)
    run(main())


def test_after_the_server_drops_the_link_it_reconnects_and_relists_without_resending():
    async def main():
        pbx, server, link, _ = await started(backoff=(0.05, 0.2))
        await link.start()
        await next_of(link, LinkUp)
        await link.action("Originate", ORIGINATE)
        await next_of(link, Message, lambda m: m.event == "AsyncAGIStart")
        server.drop_all()
        down = await next_of(link, LinkDown)
        assert down.reason
        up = await next_of(link, LinkUp)
        assert up.reconnect is True
        names = {m["Channel"] for m in up.channels}
        assert any(n.startswith("Local/holder@test-caller") for n in names)
        assert server.stats.actions["originate"] == 1  # never re-sent
        assert link.statistics().connects == 2
        await stop(pbx, server, link)
    run(main())


def test_an_action_pending_when_the_link_drops_fails_and_is_not_resent():
    async def main():
        pbx, server, link, _port = await started(backoff=(0.05, 0.2))
        await link.start()
        await next_of(link, LinkUp)
        # a synchronous Originate blocks the session: drop the link while it is pending
        pending = asyncio.ensure_future(link.action(
            "Originate", [("Channel", "Local/noanswer@test-agent"), ("Application", "Wait"),
                          ("Data", "1"), ("Timeout", "60000")], timeout=30))
        await asyncio.sleep(0.1)
        server.drop_all()
        with pytest.raises(ConnectionLost):
            await pending
        await next_of(link, LinkUp)
        await asyncio.sleep(0.2)
        assert server.stats.actions["originate"] == 1
        await stop(pbx, server, link)
    run(main())


def test_every_action_times_out():
    async def main():
        pbx, server, link, _ = await started()
        await link.start()
        with pytest.raises(ActionTimeout):
            await link.action("Originate", [("Channel", "Local/noanswer@test-agent"),
                                            ("Application", "Wait"), ("Data", "1"),
                                            ("Timeout", "60000")], timeout=0.2)
        await stop(pbx, server, link)
    run(main())


def test_an_action_sent_without_waiting_arrives_and_its_response_is_dropped():
    async def main():
        pbx, server, link, _ = await started()
        assert link.send("Setvar", [("Variable", "X"), ("Value", "1")]) is False  # down
        await link.start()
        await next_of(link, LinkUp)
        assert link.send("Setvar", [("Channel", "PJSIP/nobody-1"), ("Variable", "X"),
                                    ("Value", "1")])
        await link.action("Ping")  # answered in order: the Setvar was handled before it
        assert server.stats.actions["setvar"] == 1
        assert link.statistics().pending == 0 and link.events.empty()  # the Error: dropped
        await stop(pbx, server, link)
    run(main())


async def silent_server(replies_to_login: bool):
    """A server that says the banner, accepts login, then never answers again."""
    conns = []

    async def handle(reader, writer):
        conns.append(writer)
        writer.write(b"Asterisk Call Manager/11.0.0\r\n")
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = await reader.read(1024)
            if not chunk:
                return
            data += chunk
        action_id = next(ln.split(": ", 1)[1] for ln in data.decode().split("\r\n")
                     if ln.lower().startswith("actionid"))
        if replies_to_login:
            writer.write(f"Response: Success\r\nActionID: {action_id}\r\n"
                         "Message: Authentication accepted\r\n\r\n".encode())
        with contextlib.suppress(ConnectionError):
            while await reader.read(1024):
                pass  # reads, never answers

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1], conns


def test_a_silent_server_is_noticed_by_the_ping_watchdog():
    async def main():
        server, port, conns = await silent_server(replies_to_login=True)
        link = AmiLink("127.0.0.1", port, "kc", "x", ping_interval=0.1, dead_after=0.3,
                       action_timeout=0.3, backoff=(0.05, 0.1))
        link.start_task = asyncio.ensure_future(link.start(wait=False))
        await asyncio.sleep(1.5)
        assert len(conns) >= 2, "the watchdog should have dropped and reconnected"
        await link.close()
        server.close()
    run(main())


def test_a_slow_but_live_asterisk_keeps_its_link():
    """Events keep coming while no Ping is answered for longer than the old 3 s check: the
    link stays, and nothing pending fails."""
    async def main():
        async def handle(reader, writer):
            writer.write(b"Asterisk Call Manager/11.0.0\r\n")
            aid = await action_id_of(reader)  # Login
            writer.write(b"Response: Success\r\nActionID: " + aid + b"\r\n\r\n")
            aid = await action_id_of(reader)  # CoreShowChannels
            writer.write(b"Response: Success\r\nActionID: " + aid + b"\r\nEventList: start"
                         b"\r\n\r\nEvent: CoreShowChannelsComplete\r\nActionID: " + aid +
                         b"\r\nEventList: Complete\r\nListItems: 0\r\n\r\n")
            for _ in range(60):  # an overloaded PBX: events flow, actions wait unanswered
                writer.write(b"Event: Newchannel\r\nChannel: PJSIP/x-1\r\n\r\n")
                await asyncio.sleep(0.5)
            with contextlib.suppress(ConnectionError):
                while await reader.read(1024):
                    pass

        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        link = AmiLink("127.0.0.1", port, "kc", "x", ping_interval=1.0, dead_after=5.0)
        await link.start()
        await asyncio.sleep(25)
        assert link.statistics().connects == 1 and link.statistics().disconnects == 0
        await link.close()
        server.close()
    run(main())


async def action_id_of(reader):
    """Reads one action from the client and returns its ActionID."""
    data = await reader.readuntil(b"\r\n\r\n")
    return next(ln.split(b": ", 1)[1] for ln in data.split(b"\r\n")
                if ln.lower().startswith(b"actionid"))


def test_a_split_utf8_character_and_garbage_do_not_hurt_the_link():
    async def main():
        async def handle(reader, writer):
            writer.write(b"Asterisk Call Manager/11.0.0\r\n")
            aid = await action_id_of(reader)
            writer.write(b"Response: Success\r\nActionID: " + aid + b"\r\n\r\n")
            event = "Event: Newchannel\r\nCallerIDName: Åsa\r\n\r\n".encode()
            cut = event.index("Å".encode()) + 1  # inside the two bytes of Å
            writer.write(b"this is not AMI\r\n\r\n" + event[:cut])
            await writer.drain()
            await asyncio.sleep(0.05)
            writer.write(event[cut:] + b"Event: AsyncAGIExec\r\n\r\n")
            await writer.drain()
            await asyncio.sleep(0.2)
            while await reader.read(1024):
                pass

        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        link = AmiLink("127.0.0.1", port, "kc", "x", action_timeout=0.5)
        await link.start(wait=False)
        ev = await next_of(link, Message, lambda m: m.event == "Newchannel")
        assert ev["CallerIDName"] == "Åsa"
        await next_of(link, Message, lambda m: m.event == "AsyncAGIExec")  # no Channel: fine
        assert link.statistics().garbage == 1
        await link.close()
        server.close()
    run(main())


def test_the_fake_pbx_drops_a_client_that_stops_reading():
    async def main():
        pbx = FakePbx(Dialplan.load(LAB), time_scale=0.01)
        server = AmiServer(pbx, {"kc": AmiUser("kc-secret")})
        port = await server.start()
        _reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1024)
        writer.write(b"Action: Login\r\nUsername: kc\r\nSecret: kc-secret\r\n\r\n")
        await writer.drain()
        await asyncio.sleep(0.1)
        # ... and never read again while 10 MB of events pile up (more than the socket buffers)
        for i in range(5000):
            pbx.emit("UserEvent", "user,all", [("UserEvent", "load"), ("N", str(i)),
                                                ("Padding", "x" * 2000)])
        await asyncio.sleep(0.5)
        assert server.stats.dropped_slow == 1
        assert not server.listening
        writer.close()
        await server.stop()
        await pbx.close()
    run(main())


def test_an_event_carrying_the_action_id_right_after_the_response_is_still_an_event():
    """OriginateResponse has the ActionID of its Originate and may arrive in the same read as
    the Response: it must reach the event queue, not vanish into the answered action."""
    async def main():
        async def handle(reader, writer):
            writer.write(b"Asterisk Call Manager/11.0.0\r\n")
            for _ in range(3):
                data = await reader.readuntil(b"\r\n\r\n")
                aid = next(ln.split(b": ", 1)[1] for ln in data.split(b"\r\n")
                           if ln.lower().startswith(b"actionid"))
                if b"CoreShowChannels" in data:
                    writer.write(b"Response: Success\r\nActionID: " + aid +
                                 b"\r\nEventList: start\r\n\r\nEvent: CoreShowChannelsComplete"
                                 b"\r\nActionID: " + aid + b"\r\nEventList: Complete\r\n\r\n")
                elif b"Originate" in data:
                    writer.write(b"Response: Success\r\nActionID: " + aid + b"\r\n\r\n"
                                 b"Event: OriginateResponse\r\nActionID: " + aid +
                                 b"\r\nResponse: Failure\r\nReason: 0\r\n\r\n")
                else:
                    writer.write(b"Response: Success\r\nActionID: " + aid + b"\r\n\r\n")
            while await reader.read(1024):
                pass

        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        link = AmiLink("127.0.0.1", server.sockets[0].getsockname()[1], "kc", "x")
        await link.start()
        response = await link.action("Originate", [("Channel", "PJSIP/anna"), ("Async", "true")])
        event = await next_of(link, Message, lambda m: m.event == "OriginateResponse")
        assert event.action_id == response.action_id and event["Reason"] == "0"
        await link.close()
        server.close()
    run(main())


@pytest.mark.parametrize("raw", all_raw_traces(), ids=trace_name)
def test_every_recorded_trace_flows_through_the_link(raw):
    """The bytes a real Asterisk sent, in the chunks recv() returned them, served over TCP to
    the link: every event reaches the queue, nothing is garbage, the link never breaks."""
    from telephony.ami_codec import AmiParser
    from telephony.trace import read_chunks

    chunks = read_chunks(raw)
    conn = max({c.conn for c in chunks}, key=lambda k: sum(c.conn == k for c in chunks))
    received = [c.data for c in chunks if c.conn == conn and c.received]
    if not received[0].startswith(b"Asterisk"):
        received.insert(0, b"Asterisk Call Manager/11.0.0\r\n")
    expected = sum(1 for m in AmiParser().feed(b"".join(received))
                   if isinstance(m, Message) and m.event)

    async def main():
        async def handle(reader, writer):
            for data in received:
                writer.write(data)
                await writer.drain()
            await reader.read()

        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        link = AmiLink("127.0.0.1", server.sockets[0].getsockname()[1], "kc", "x",
                       action_timeout=60)
        await link.start(wait=False)
        got = 0
        while got < expected:
            item = await asyncio.wait_for(link.events.get(), 10)
            got += isinstance(item, Message)
        assert link.statistics().garbage == 0 and link.statistics().last_error is None
        await link.close()
        server.close()
    run(main())


def test_the_actions_of_one_loop_tick_go_out_in_one_write_and_in_order():
    async def main():
        pbx, server, link, _ = await started()
        await link.start()
        writes = []
        transport = link._protocol.transport
        original = transport.write
        transport.write = lambda data: (writes.append(data), original(data))[1]
        for i in range(3):
            link.send("Setvar", [("Variable", f"V{i}"), ("Value", "1")])
        await asyncio.sleep(0.01)
        assert len(writes) == 1
        assert [ln for ln in writes[0].split(b"\r\n") if ln.startswith(b"Variable")] == [
            b"Variable: V0", b"Variable: V1", b"Variable: V2"]
        await link.close()
        await server.stop()
        await pbx.close()
    run(main())
