"""The pure parts of callbacks (queues/callback.py, ivr/callback.py's dialogue on a scripted call
I/O) and the router holding a request in the caller's place."""

import pytest

from ivr.callback import ask_number
from queues.callback import (
    CallbackPolicy,
    CallbackRequest,
    NumberRefused,
    NumberRules,
    after_attempt,
    check_number,
    check_pattern,
    expired,
    grouped,
    normalise,
)
from queues.commands import OfferCall, RefuseCall
from queues.group import GroupConfig, Opening
from queues.router import Router

from .helpers import agent
from .ivr_helpers import ScriptedCall

RULES = NumberRules()


@pytest.mark.parametrize(("raw", "national"), [
    ("0701234567", "0701234567"), ("+46 70-123 45 67", "0701234567"),
    ("0046701234567", "0701234567"), ("+46 (0)8 123 456", "08123456"),
    ("08-123 456 78", "0812345678"), ("+4712345678", "+4712345678"),
])
def test_numbers_are_normalised_to_their_national_form(raw, national):
    assert normalise(raw) == national


@pytest.mark.parametrize(("raw", "why"), [
    ("", "hidden number"), ("0900123456", "premium-rate"), ("0939123456", "premium-rate"),
    ("0944123456", "premium-rate"), ("+4712345678", "foreign"), ("004512345678", "foreign"),
    ("701234567", "area code"), ("070123", "digits"), ("07012345678901", "digits"),
    ("07012a4567", "not a phone number"),
])
def test_numbers_that_are_never_called_back_say_why(raw, why):
    with pytest.raises(NumberRefused, match=why):
        check_number(raw, RULES)


def test_only_the_configured_patterns_are_called_back():
    assert check_number("0701234567", RULES) == "0701234567"
    assert check_number("08123456", RULES) == "08123456"
    mobiles = NumberRules(("07[02369]XXXXXXX",))
    assert check_number("0731234567", mobiles) == "0731234567"
    with pytest.raises(NumberRefused, match="not among the numbers called back"):
        check_number("0741234567", mobiles)
    with pytest.raises(NumberRefused, match="not among"):
        check_number("08123456", mobiles)
    abroad = NumberRules(foreign=True)
    assert check_number("+47 12 34 56 78", abroad) == "+4712345678"
    with pytest.raises(ValueError, match="not part of a number pattern"):
        check_pattern("07XX;Dial(evil)")


def test_a_number_is_shown_as_people_write_it():
    assert grouped("0701234567") == "070 123 45 67"
    assert grouped("08123456") == "08 12 34 56"
    assert grouped("031123456") == "031 12 34 56"  # pairs from the end (SS 014204)
    assert grouped("0311234567") == "031 123 45 67"


def test_attempts_are_spaced_until_they_run_out_or_the_request_expires():
    policy = CallbackPolicy(attempts=3, spacing=600, expires=3600)
    req = CallbackRequest("c1", "g", "0701234567", "sv", requested_at=0.0, arrival=0.0)
    req.attempts = 1
    assert after_attempt(req, policy, 100.0) == 700.0
    req.attempts = 3
    assert after_attempt(req, policy, 100.0) is None  # used up
    req.attempts = 2
    assert after_attempt(req, policy, 3100.0) is None  # the next would come after expiry
    assert not expired(req, policy, 3599.0) and expired(req, policy, 3600.0)


def _run(coro):
    import asyncio

    return asyncio.run(coro)


def test_the_caller_confirms_their_own_number():
    io = ScriptedCall(["1"])
    assert _run(ask_number(io, "+46701234567", RULES, "sv")) == "0701234567"
    assert io.played == ["vaxel/sv/phrase/cb-vi-ringer-upp",
                         *[f"vaxel/sv/num/{d}" for d in "0701234567"],
                         "vaxel/sv/phrase/cb-bekrafta"]


def test_a_hidden_number_must_be_keyed_and_a_premium_one_is_refused():
    io = ScriptedCall(["0900123456", "0812345678", "1"])
    assert _run(ask_number(io, "", RULES, "en")) == "0812345678"
    assert io.played[:3] == ["vaxel/en/phrase/cb-ange-nummer",
                             "vaxel/en/phrase/cb-ogiltigt-nummer",
                             "vaxel/en/phrase/cb-ange-nummer"]
    assert io.played[-1] == "vaxel/en/phrase/cb-bekrafta"


def test_another_number_on_2_and_nothing_booked_after_three_rounds():
    io = ScriptedCall(["2", "0812345678", None, None])
    assert _run(ask_number(io, "0701234567", RULES, "sv")) is None
    assert io.played.count("vaxel/sv/phrase/cb-bekrafta") == 2
    assert io.played[-1] == "vaxel/sv/phrase/cb-ej-bokad"


def test_a_request_keeps_the_callers_place_and_no_overflow_rule_moves_it():
    from overflow.policy import Condition, Destination, Rule

    # nobody serves g, whose rule sends callers on to h: a request stays in its place
    r = Router([GroupConfig("g"), GroupConfig("h")], [agent("a", "h")],
               rules={"g": (Rule(Condition("no_agents"), Destination("h")),)})
    assert r.call_arrived("req", "g", 0.0, arrival=-300.0, callback=True) == []
    moved = r.call_arrived("caller", "g", 1.0)
    assert [type(o).__name__ for o in moved] == ["CallMoved"]
    assert r.position("req") == 1 and r.waiting_count("g") == 1


def test_a_request_is_offered_in_arrival_order_and_waits_out_a_closed_group():
    r = Router([GroupConfig("g")], [agent("a", "g")])
    r.call_arrived("late", "g", 10.0)
    r.call_arrived("req", "g", 11.0, arrival=5.0, callback=True)  # booked earlier
    assert r.position("req") == 1 and r.position("late") == 2
    out = r.set_opening("g", Opening.CLOSED, 12.0)
    refused = [o.call_id for o in out if isinstance(o, RefuseCall)]
    assert refused == ["late"] and r.position("req") == 1  # the shell decides for it
    out = r.agent_logged_in("a", 13.0)
    assert [o.call_id for o in out if isinstance(o, OfferCall)] == ["req"]
