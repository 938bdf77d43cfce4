"""The IVR interpreter over a scripted call I/O, on the example municipality."""

import asyncio
import datetime as dt
from pathlib import Path

import pytest

from config.loader import load_folder
from config.schema import Crisis
from ivr.interpreter import run_ivr

from .ivr_helpers import Hangup, ScriptedCall

ROOT = Path(__file__).resolve().parent.parent
CONFIG = load_folder(ROOT / "config" / "exempelkommun").config
TUESDAY = dt.datetime(2026, 11, 24, 10, 0)  # open
NUMBER = "0812345"


def ivr(answers, now=TUESDAY, config=CONFIG, number=NUMBER):
    call = ScriptedCall(list(answers))
    outcome = asyncio.run(run_ivr(config.plan(), number, call, now, call.clock))
    return outcome, call


@pytest.mark.parametrize(("keys", "kind", "target"), [
    (["1"], "group", "barn-och-utbildning"),
    (["2", "1"], "group", "bygglov"),
    (["2", "2"], "group", "miljo"),
    (["3", "1"], "group", "socialtjanst-och-aldreomsorg"),
    (["3", "2"], "callback", "socialtjanst-och-aldreomsorg"),
    (["4", "1"], "group", "felanmalan"),
    (["4", "2"], "message", "avfall-info"),
    (["0"], "group", "vaxeln"),
])
def test_every_option_leads_where_the_configuration_says(keys, kind, target):
    outcome, _ = ivr(keys)
    assert (outcome.kind, outcome.target) == (kind, target)
    assert outcome.keys == "".join(keys)


def test_the_menu_prompt_is_played_and_a_key_during_it_is_taken():
    outcome, call = ivr(["1"])
    assert call.played == ["vaxel/sv/huvudmeny"]  # the key came during the prompt: no replay
    assert outcome.path[0].event == "key" and outcome.path[0].key == "1"


def test_repeat_offers_the_menu_again_and_back_returns_to_the_parent():
    outcome, call = ivr(["9", "2", "*", "1"])
    assert outcome.target == "barn-och-utbildning"
    assert call.played == ["vaxel/sv/huvudmeny", "vaxel/sv/huvudmeny",
                           "vaxel/sv/bygg-och-miljo", "vaxel/sv/huvudmeny"]


def test_silence_is_retried_with_its_own_prompt_then_sent_on():
    outcome, call = ivr([None, None, None])
    assert (outcome.kind, outcome.target) == ("group", "vaxeln")
    assert call.played.count("vaxel/sv/inget-val") == 2
    assert [s.event for s in outcome.path] == ["timeout"] * 3


def test_invalid_keys_have_their_own_counter_and_prompt():
    outcome, call = ivr(["7", None, "5", "1"])
    assert outcome.target == "barn-och-utbildning"
    assert call.played.count("vaxel/sv/ogiltigt-val") == 2
    assert call.played.count("vaxel/sv/inget-val") == 1


def test_too_many_invalid_keys_send_the_caller_on():
    outcome, _ = ivr(["7", "7", "7"])
    assert (outcome.kind, outcome.target) == ("group", "vaxeln")


def test_the_language_key_switches_to_english_and_repeats_the_menu():
    outcome, call = ivr(["8", "1"])
    assert call.language == ["en"]
    assert call.played == ["vaxel/sv/huvudmeny", "vaxel/en/huvudmeny"]
    assert outcome.language == "en"


def test_the_english_number_starts_in_english():
    _outcome, call = ivr(["1"], number="0812346")
    assert call.language == ["en"] and call.played == ["vaxel/en/huvudmeny"]


def test_closed_hours_play_the_closed_message_and_end():
    outcome, call = ivr([], now=dt.datetime(2026, 11, 24, 18, 0))
    assert outcome.kind == "closed"
    assert call.played == ["vaxel/sv/stangt"]


def test_a_public_holiday_is_closed_and_julafton_too():
    for day in (dt.datetime(2026, 12, 25, 10), dt.datetime(2026, 12, 24, 10),
                dt.datetime(2026, 6, 19, 10)):  # juldagen, julafton, midsommarafton
        outcome, _ = ivr([], now=day)
        assert outcome.kind == "closed", day


def test_a_bridge_day_opens_only_in_the_morning():
    # 2026-05-15 is the Friday after Kristi himmelsfärdsdag: a klämdag
    assert ivr(["1"], now=dt.datetime(2026, 5, 15, 9))[0].kind == "group"
    assert ivr([], now=dt.datetime(2026, 5, 15, 13))[0].kind == "closed"


def test_a_closed_group_plays_its_own_message_or_sends_to_its_duty_line():
    saturday_evening = dt.datetime(2026, 11, 28, 16, 0)
    groups = dict(CONFIG.groups)
    groups["felanmalan"] = groups["felanmalan"].model_copy(update={"duty": None})
    config = CONFIG.model_copy(update={"numbers": {NUMBER: CONFIG.numbers[NUMBER].model_copy(
        update={"hours": None})}, "groups": groups})
    outcome, call = ivr(["4", "1"], now=saturday_evening, config=config)
    assert (outcome.kind, outcome.target) == ("closed", "felanmalan")
    assert call.played[-1] == "vaxel/sv/felanmalan-stangt"
    # with its duty line (the example's): the duty phone instead, the message if it fails
    config = config.model_copy(update={"groups": CONFIG.groups})
    outcome, call = ivr(["4", "1"], now=saturday_evening, config=config)
    assert (outcome.kind, outcome.target) == ("duty", "0709112233")
    assert outcome.fallback is not None and outcome.fallback.message == "felanmalan-stangt"
    assert "vaxel/sv/felanmalan-stangt" not in call.played


def test_a_number_closed_with_a_duty_line_goes_there_first():
    sunday = dt.datetime(2026, 11, 29, 12, 0)
    config = CONFIG.model_copy(update={"numbers": {NUMBER: CONFIG.numbers[NUMBER].model_copy(
        update={"duty": "0709112233"})}})
    outcome, call = ivr([], now=sunday, config=config)
    assert (outcome.kind, outcome.target) == ("duty", "0709112233")
    assert outcome.fallback is not None and outcome.fallback.message == "stangt"
    assert call.played == []  # the closed message only if the duty phone does not answer


def test_the_crisis_message_plays_before_the_menu_until_it_expires():
    crisis = Crisis(active=True, prompt="kris-vattenlacka",
                    expires=dt.datetime(2026, 11, 24, 12, 0))
    config = CONFIG.model_copy(update={"crisis": crisis})
    _, call = ivr(["1"], config=config)
    assert call.played == ["vaxel/sv/kris-vattenlacka", "vaxel/sv/huvudmeny"]
    _, call = ivr(["1"], config=config, now=dt.datetime(2026, 11, 24, 13, 0))
    assert call.played == ["vaxel/sv/huvudmeny"]


def test_the_path_records_keys_retries_and_timings():
    outcome, _ = ivr([None, "2", "1"])
    assert [(s.menu, s.event, s.key) for s in outcome.path] == [
        ("huvudmeny", "timeout", None), ("huvudmeny", "key", "2"), ("bygg-och-miljo", "key", "1")]
    assert [s.at for s in outcome.path] == [6.0, 9.0, 11.0]


def test_a_caller_who_hangs_up_surfaces_as_the_call_ios_exception():
    with pytest.raises(Hangup):
        ivr(["2"])


def test_a_caller_wandering_for_ever_is_sent_where_silence_goes():
    outcome, _ = ivr(["9"] * 100)
    assert (outcome.kind, outcome.target) == ("group", "vaxeln")
