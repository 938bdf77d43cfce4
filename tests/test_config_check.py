"""Every class of configuration error: its message and its place (file:line:column)."""


import pytest

from config.errors import ConfigError
from config.loader import load_folder

BASE = """\
numbers:
  "0812345": {menu: main, hours: office, closed_prompt: closed}
prompts:
  main: {sv: Välkommen}
  closed: {sv: Stängt}
  other: {sv: Annat}
hours:
  office:
    weekly:
      mon-fri: ["08:00-16:30"]
menus:
  main:
    prompt: main
    options:
      "1": {group: a}
      "2": {menu: sub}
    on_timeout: {then: {group: a}}
    on_invalid: {then: {group: a}}
  sub:
    prompt: other
    options:
      "1": {group: b}
      "*": back
    on_timeout: {then: {group: a}}
    on_invalid: {then: {group: a}}
groups:
  a: {name: A}
  b: {name: B}
agents:
  x: {name: X, groups: {a: 1, b: 1}}
transfer_allowlist: ["0701234567"]
"""


def write(tmp_path, text, name="vaxel.yaml"):
    (tmp_path / name).write_text(text, encoding="utf-8")
    return tmp_path


def problems(tmp_path, text=None, sounds=None):
    if text is not None:
        write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load_folder(tmp_path, sounds=sounds)
    return [str(p) for p in err.value.errors]


def line_of(text, needle, nth=1):
    lines = [i for i, ln in enumerate(text.splitlines(), 1) if needle in ln]
    return lines[nth - 1]


def test_the_base_configuration_is_valid(tmp_path):
    loaded = load_folder(write(tmp_path, BASE))
    assert set(loaded.config.menus) == {"main", "sub"} and not loaded.warnings


def test_broken_yaml_names_the_place(tmp_path):
    text = BASE.replace("  b: {name: B}", "  b: {name: B")
    (p,) = problems(tmp_path, text)
    # the parser notices at the next key; the error points where the mistake begins
    assert f"vaxel.yaml:{line_of(text, '  b: {name: B')}:6: settings opened with {{ here are " \
           "not closed with }" in p


def test_a_duplicate_key_names_both_lines(tmp_path):
    text = BASE.replace("  b: {name: B}", "  b: {name: B}\n  a: {name: A2}")
    (p,) = problems(tmp_path, text)
    assert f"vaxel.yaml:{line_of(text, 'A2')}:3: 'a' is given twice, on lines " \
           f"{line_of(text, 'name: A}')} and {line_of(text, 'A2')}" in p


def test_an_unquoted_clock_time_is_refused(tmp_path):
    text = BASE.replace('["08:00-16:30"]', "[8:30]")
    (p,) = problems(tmp_path, text)
    assert f":{line_of(text, '[8:30]')}:17: 8:30 unquoted reads as a number" in p
    assert '"08:30"' in p


def test_yes_and_no_are_refused(tmp_path):
    text = BASE.replace("  b: {name: B}", "  b: {name: no}")
    (p,) = problems(tmp_path, text)
    assert "no unquoted reads as a boolean" in p and f":{line_of(text, 'name: no')}:" in p


def test_an_unknown_setting_is_named_where_it_stands(tmp_path):
    text = BASE.replace("  b: {name: B}", "  b: {name: B, treshold: 2m}")
    (p,) = problems(tmp_path, text)
    assert "groups.b.treshold: 'treshold' is not a setting here" in p
    assert f":{line_of(text, 'treshold')}:" in p


def test_a_missing_setting_is_named(tmp_path):
    text = BASE.replace("    on_invalid: {then: {group: a}}\ngroups", "groups")
    (p,) = problems(tmp_path, text)
    assert "menus.sub: 'on_invalid' is missing here" in p


def test_a_bare_number_as_duration_is_refused_saying_what_is_valid(tmp_path):
    text = BASE.replace("  a: {name: A}", "  a: {name: A, threshold: 120}")
    (p,) = problems(tmp_path, text)
    assert "groups.a.threshold" in p and '"90s", "2m"' in p


@pytest.mark.parametrize(("old", "new", "message"), [
    ("{group: b}", "{group: nope}", "group 'nope' is not defined under groups:"),
    ("prompt: other", "prompt: nope", "prompt 'nope' is not defined under prompts:"),
    ("{menu: sub}", "{menu: nope}", "menu 'nope' is not defined under menus:"),
    ("hours: office", "hours: nope", "hours 'nope' are not defined under hours:"),
])
def test_undefined_references_are_named_where_they_are_used(tmp_path, old, new, message):
    text = BASE.replace(old, new)
    found = problems(tmp_path, text)
    assert any(message in p and f":{line_of(text, 'nope')}:" in p for p in found), found


def test_an_overload_group_must_be_defined(tmp_path):
    text = BASE + "overload: {lag: 2s, group: nope}\n"
    found = problems(tmp_path, text)
    assert any("group 'nope' is not defined" in p
               and f":{line_of(text, 'nope')}:" in p for p in found), found


def test_an_unreachable_menu_is_reported(tmp_path):
    text = BASE.replace('      "2": {menu: sub}\n', "")
    found = problems(tmp_path, text)
    assert any(f":{line_of(text, '  sub:')}:" in p and "'sub' is unreachable" in p
               for p in found), found


def test_a_loop_with_no_way_out_is_a_dead_end(tmp_path):
    text = BASE.replace('      "1": {group: b}', '      "1": {menu: main}').replace(
        "    on_timeout: {then: {group: a}}\n    on_invalid: {then: {group: a}}\ngroups",
        "    on_timeout: {then: {menu: main}}\n    on_invalid: {then: {menu: main}}\ngroups")
    text = text.replace('      "1": {group: a}', '      "1": {menu: sub}').replace(
        "    on_timeout: {then: {group: a}}\n    on_invalid: {then: {group: a}}\n  sub",
        "    on_timeout: {then: {menu: sub}}\n    on_invalid: {then: {menu: sub}}\n  sub")
    found = problems(tmp_path, text)
    assert any("'main' is a dead end" in p for p in found), found
    assert any("presses nothing loops for ever: main -> sub -> main" in p for p in found), found


def test_back_in_an_entry_menu_leads_nowhere(tmp_path):
    text = BASE.replace('      "2": {menu: sub}', '      "2": {menu: sub}\n      "*": back')
    (p,) = problems(tmp_path, text)
    assert "'back' in 'main' leads nowhere" in p and f":{line_of(text, 'back', 1)}:" in p


def test_a_transfer_outside_the_allowlist_is_refused(tmp_path):
    text = BASE.replace("{group: b}", '{transfer: "0709999999"}')
    (p,) = problems(tmp_path, text)
    assert "0709999999 is not in transfer_allowlist" in p


def test_a_transfer_s_way_on_if_it_fails_and_a_duty_line_outside_its_allowlist(tmp_path):
    text = BASE.replace("{group: b}", '{transfer: "0701234567", on_failure: {menu: sub}}')
    text = text.replace('closed_prompt: closed}', 'closed_prompt: closed, duty: "0705550000"}')
    found = problems(tmp_path, text)
    assert any("after a failed transfer the caller goes to a group, a callback or a goodbye"
               in p and f":{line_of(text, 'on_failure')}:" in p for p in found), found
    assert any("0705550000 is not in duty_allowlist" in p
               and f":{line_of(text, '0705550000')}:" in p for p in found), found
    good = BASE.replace("{group: b}", '{transfer: "0701234567", on_failure: {group: b}}')
    loaded = load_folder(write(tmp_path, good))
    assert not [w for w in loaded.warnings if "transfer" in str(w)]


def test_an_overflow_chain_that_cycles_is_reported(tmp_path):
    text = BASE.replace("  a: {name: A}", "  a: {name: A, overflow: [{when: manual, to: b}]}") \
        .replace("  b: {name: B}", "  b: {name: B, overflow: [{when: manual, to: a}]}")
    (p,) = problems(tmp_path, text)
    assert "overflow chain cycles: a -> b -> a" in p


def test_overlapping_hours_and_two_rules_for_one_day_are_reported(tmp_path):
    text = BASE.replace('      mon-fri: ["08:00-16:30"]',
                        '      mon-fri: ["08:00-16:30"]\n      fri: ["15:00-17:00"]\n'
                        '    exceptions:\n      "2026-12-24": ["08:00-12:00"]')
    found = problems(tmp_path, text)
    assert any("fri: 15:00-17:00 overlaps 08:00-16:30" in p for p in found), found
    assert any("2026-12-24 is Julafton (eves: closed) and also an exception" in p
               for p in found), found


def test_a_section_in_two_files_names_both(tmp_path):
    write(tmp_path, BASE)
    write(tmp_path, "groups:\n  c: {name: C}\n", "more.yaml")
    found = problems(tmp_path)
    assert any("section 'groups' is also in" in p and "vaxel.yaml:" in p for p in found)


def test_english_offered_needs_english_texts(tmp_path):
    text = BASE.replace('      "2": {menu: sub}', '      "2": {menu: sub}\n      "8": '
                        "{language: en}")
    found = problems(tmp_path, text)
    assert any("prompt 'main' has no English text" in p for p in found)


def test_missing_and_stale_sounds_are_errors_naming_the_fix(tmp_path):
    import json

    sounds = tmp_path / "sounds"
    (sounds / "sv").mkdir(parents=True)
    for ext in ("wav", "alaw", "ulaw"):
        (sounds / "sv" / f"main.{ext}").write_bytes(b"")
    (sounds / "manifest.json").write_text(json.dumps(
        {"sv/main": {"text": "Hej", "voice": "sv"}}))
    found = problems(write(tmp_path, BASE), sounds=sounds)
    assert any("sound sv/main under" in p and "says an older text" in p
               and "vaxel sounds build" in p for p in found), found
    assert any("sound sv/closed under" in p and "is missing" in p for p in found)


def test_all_errors_are_listed_at_once(tmp_path):
    text = BASE.replace("{group: b}", "{group: nope}").replace("prompt: other", "prompt: nix")
    assert len(problems(tmp_path, text)) == 2


def test_a_group_nobody_staffs_is_a_warning(tmp_path):
    loaded = load_folder(write(tmp_path, BASE.replace("groups: {a: 1, b: 1}", "groups: {b: 1}")))
    assert any("group 'a' has no agents and no no_agents overflow rule" in str(w)
               for w in loaded.warnings)


def test_a_callback_key_that_leaves_the_line_and_an_undefined_name_prompt_are_named(tmp_path):
    text = BASE.replace(
        "  a: {name: A}\n",
        "  a:\n    name: A\n    leave: {key: \"2\", prompt: other, then: {group: b}}\n"
        "    callback: {offer_over: 3m, key: \"2\", name_prompt: nope}\n")
    found = problems(tmp_path, text)
    assert any("key '2' both leaves the line" in p and
               f":{line_of(text, 'offer_over')}:" in p for p in found), found
    assert any("nope" in p and f":{line_of(text, 'name_prompt')}:" in p for p in found), found


def test_a_number_pattern_that_is_not_one_is_refused_where_it_stands(tmp_path):
    text = BASE + 'callbacks: {numbers: ["07XXXXXXXX", "0900;Dial(x)"]}\n'
    found = problems(tmp_path, text)
    assert any("';' is not part of a number pattern" in p
               and f":{line_of(text, '0900;Dial')}:" in p for p in found), found


def test_callbacks_need_telephony_s_outbound_trunk(tmp_path):
    """A configuration that offers callbacks, and a telephony.yaml with no way out to the
    citizen: vaxel check names the option, and the fix."""
    import shutil

    from telephony.dialplan import cross_check, read_settings

    from .world import EXAMPLE

    folder = tmp_path / "kommun"
    shutil.copytree(EXAMPLE, folder)
    path = folder / "telephony.yaml"
    text = path.read_text()
    start = text.index("outbound:")
    end = text.index("fallback:")
    path.write_text(text[:start] + text[end:])
    loaded = load_folder(folder)
    settings, doc = read_settings(folder)
    found = [str(p) for p in cross_check(settings, doc, loaded.config, loaded.sections)]
    assert any("callbacks from 'socialtjanst-och-aldreomsorg' need a way out"
               in p and "outbound:" in p and "vaxel.yaml:" in p for p in found), found
