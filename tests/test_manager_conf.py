"""manager.conf users in the fake PBX: event filters as Asterisk 22's manager.c applies them, and
the rendered manager_vaxel.conf read back as Asterisk would read it."""

import asyncio
import re
from pathlib import Path

import pytest

from telephony.ami_codec import Message
from telephony.ami_link import AmiLink
from telephony.dialplan import EVENT_FILTERS, load_settings, render_extensions, render_manager
from telephony.fakepbx import AmiServer, Dialplan, FakePbx
from telephony.fakepbx.actors import Caller
from telephony.fakepbx.manager_conf import AmiUser, ManagerConfError, parse_filter, should_send

from . import virtual_clock

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "config" / "exempelkommun"

HANGUP = [("Event", "Hangup"), ("Privilege", "call,all"), ("Channel", "Local/anna@x-1;1"),
          ("Uniqueid", "vx-leg-7"), ("Cause", "16")]
NEWCHANNEL = [("Event", "Newchannel"), ("Privilege", "call,all"),
              ("Channel", "PJSIP/anna-00000002"), ("Uniqueid", "1700000000.2")]
VARSET = [("Event", "VarSet"), ("Privilege", "dialplan,all"), ("Channel", "PJSIP/x-1"),
          ("Variable", "DIALSTATUS"), ("Value", "ANSWER")]


def filters(*lines):
    return [parse_filter(*line.split("=", 1)) for line in lines]


def test_no_filters_send_everything():
    assert should_send([], VARSET)


def test_includes_only_send_what_one_of_them_matches():
    fs = filters("eventfilter(action(include),name(Hangup)) =",
                 "eventfilter(name(Newchannel),header(Uniqueid),method(starts_with)) = vx-leg-")
    assert should_send(fs, HANGUP)
    assert not should_send(fs, NEWCHANNEL)  # not an agent leg
    assert should_send(fs, [*NEWCHANNEL[:3], ("Uniqueid", "vx-leg-3")])
    assert not should_send(fs, VARSET)


def test_excludes_only_send_all_but_what_they_match():
    fs = filters("eventfilter(action(exclude),header(Channel),method(starts_with)) = Local/")
    assert not should_send(fs, HANGUP)
    assert should_send(fs, NEWCHANNEL) and should_send(fs, VARSET)


def test_with_both_an_event_must_match_an_include_and_no_exclude():
    fs = filters("eventfilter(name(Hangup)) =", "eventfilter(name(Newchannel)) =",
                 "eventfilter(action(exclude),header(Channel),method(starts_with)) = Local/")
    assert not should_send(fs, HANGUP) and should_send(fs, NEWCHANNEL)
    assert not should_send(fs, VARSET)


def test_methods_and_a_missing_header():
    def one(line, event=NEWCHANNEL):
        return should_send(filters(line), event)
    assert one("eventfilter(header(Channel),method(exact)) = PJSIP/anna-00000002")
    assert not one("eventfilter(header(Channel),method(exact)) = PJSIP/anna")
    assert one("eventfilter(header(Channel),method(ends_with)) = 0002")
    assert one("eventfilter(header(Channel),method(contains)) = anna")
    assert one("eventfilter(header(Channel),method(regex)) = ^PJSIP/(anna|bo)-")
    assert not one("eventfilter(header(Variable),method(none)) =")  # no such header
    assert one("eventfilter(name(Newchannel),method(none)) = ignored")
    assert not one("eventfilter(name(newchannel)) =")  # names are case-sensitive


def test_legacy_filters_search_the_whole_event_and_bang_excludes():
    assert should_send(filters("eventfilter = Event: Newchannel"), NEWCHANNEL)
    assert not should_send(filters("eventfilter = Event: Newchannel"), HANGUP)
    assert not should_send(filters("eventfilter = !Channel: Local/"), HANGUP)
    assert should_send(filters("eventfilter = !Channel: Local/"), VARSET)


@pytest.mark.parametrize("line, words", [
    ("eventfilter(action(maybe),name(Hangup)) =", "action(include|exclude)"),
    ("eventfilter(name(Hangup),name(Newchannel)) =", "given twice"),
    ("eventfilter(colour(red)) =", "unknown criteria"),
    ("eventfilter(header(Channel),method(regex)) = (", "bad regular expression"),
])
def test_a_filter_asterisk_would_refuse_is_refused_with_what_is_wrong(line, words):
    with pytest.raises(ManagerConfError, match=re.escape(words)):
        parse_filter(*line.split("=", 1))


def test_the_rendered_user_reads_back_with_its_classes_and_filters():
    settings = load_settings(EXAMPLE)
    user = AmiUser.from_conf(render_manager(settings, "s3cret"), settings.ami.username)
    assert user.secret == "s3cret" and user.read == "system,call,agi"
    assert len(user.filters) == len(EVENT_FILTERS) + 1 and all(f.include for f in user.filters)
    devices = user.filters[-1]  # the agents' phones, and no other device
    assert devices.name == "DeviceStateChange" and devices.method == "regex"
    assert re.search(devices.expression, "PJSIP/anna")
    assert not re.search(devices.expression, "PJSIP/annabella")
    assert not re.search(devices.expression, "PJSIP/citizen")
    broken = render_manager(settings, "s").replace("method(exact)", "method(same)")
    with pytest.raises(ManagerConfError, match=r"manager.conf line \d+: .*method"):
        AmiUser.from_conf(broken, settings.ami.username)


def test_over_tcp_filtered_events_never_arrive_but_listings_always_do():
    async def main():
        settings = load_settings(EXAMPLE)
        pbx = FakePbx(Dialplan.parse(render_extensions(settings)), time_scale=0.05)
        user = AmiUser.from_conf(render_manager(settings, "s"), settings.ami.username)
        server = AmiServer(pbx, {"vaxel": user})
        link = AmiLink("127.0.0.1", await server.start(), "vaxel", "s")
        await link.start()
        seen = []
        ch = Caller("2001", "0701112233").dial(pbx)
        while True:
            item = await asyncio.wait_for(link.events.get(), 10)
            if isinstance(item, Message):
                seen.append(item.event)
                if item.event == "AsyncAGIStart":
                    break
        # the caller's Newchannel, Newexten and VarSet events were filtered out at the PBX;
        # FullyBooted is written by the login itself, past any filter
        assert seen == ["FullyBooted", "AsyncAGIStart"]
        status = await link.list_action("Status", [("Variables", "VAXEL_CALLID")])
        assert [m["Channel"] for m in status] == [ch.name]  # not an event: never filtered
        assert status[0].variables()["VAXEL_CALLID"] == f"vx-{ch.uniqueid}"
        await link.close()
        await server.stop()
        await pbx.close()
    virtual_clock.run(asyncio.wait_for(main(), 30))
