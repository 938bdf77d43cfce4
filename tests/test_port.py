"""The telephony port reads what a real Asterisk 22 said to vaxel (vaxel-on-asterisk/) as typed
facts: the only place AMI names are known."""

from collections import Counter

from telephony.ami_codec import Message
from telephony.port import (
    BackFromPartner,
    CallerBridged,
    CallerEntered,
    ChannelGone,
    LegFailed,
    LegInAgi,
    PhoneState,
    translate,
)

from .scenario_replay import VAXEL_ON_ASTERISK, messages


def facts(name):
    received = [r.msg for r in messages(VAXEL_ON_ASTERISK / name / "ami.trace.gz")
                if r.received and r.msg.event]
    return [f for f in map(translate, received) if f is not None]


def test_a_call_answered_by_an_agent_on_a_real_asterisk():
    seen = facts("s1")
    entered = [f for f in seen if isinstance(f, CallerEntered)]
    assert len(entered) == 1
    caller = entered[0]
    assert caller.call_id.startswith("vx-") and caller.channel.startswith("PJSIP/")
    assert caller.number and caller.caller
    assert any(isinstance(f, CallerBridged) and f.channel == caller.channel for f in seen)
    gone = [f for f in seen if isinstance(f, ChannelGone)]
    assert {f.cause for f in gone} == {"hung up"} and caller.channel in {f.channel for f in gone}


def test_offers_to_an_unregistered_phone_fail_and_say_why_in_words():
    """s3b: three Originates to a phone that was not registered, 9 ms apart."""
    seen = facts("s3b")
    failed = [f for f in seen if isinstance(f, LegFailed)]
    assert [f.reason for f in failed] == ["failed"] * 3
    assert all(f.leg.startswith("vx-leg-") for f in failed)  # our ChannelId, as Uniqueid
    causes = Counter(f.cause for f in seen if isinstance(f, ChannelGone))
    assert causes["unreachable"] == 6  # Q.850 3, "No route to destination"
    phones = {(f.device, f.state, f.available) for f in seen if isinstance(f, PhoneState)}
    assert ("PJSIP/cecilia", "UNAVAILABLE", False) in phones  # unregistered: offered nothing
    assert ("PJSIP/cecilia", "NOT_INUSE", True) in phones


def test_events_vaxel_does_not_act_on_are_no_fact():
    assert translate(Message.of([("Event", "Newexten"), ("Channel", "PJSIP/x")])) is None
    assert translate(Message.of([("Event", "OriginateResponse"), ("Response", "Success"),
                                 ("Uniqueid", "vx-leg-1")])) is None  # BridgeEnter tells it



def test_a_leg_answered_into_agi_elsewhere_is_told_by_its_uniqueid():
    """A callback's agent leg runs AGI as its application, in its phone's own context
    (sip-traces/t3 (a)): the controller knows it by the ChannelId it chose."""
    assert translate(Message.of([("Event", "AsyncAGIStart"), ("Context", "vaxel-devices"),
                                 ("Channel", "PJSIP/anna-00000007"),
                                 ("Uniqueid", "vx-leg-1")])) == LegInAgi(
        "PJSIP/anna-00000007", "vx-leg-1")


def test_back_from_the_partner_and_hangup_causes_not_in_the_table():
    assert translate(Message.of([("Event", "AsyncAGIStart"), ("Context", "vaxel-partner"),
                                 ("Channel", "PJSIP/x-1")])) == BackFromPartner("PJSIP/x-1")
    gone = translate(Message.of([("Event", "Hangup"), ("Channel", "PJSIP/x-1"),
                                 ("Uniqueid", "1.1"), ("Cause", "102"),
                                 ("Cause-txt", "Recovery on timer expiry")]))
    assert gone == ChannelGone("PJSIP/x-1", "1.1", "Recovery on timer expiry")
