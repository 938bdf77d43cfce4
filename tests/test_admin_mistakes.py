"""Realistic mistakes of administrators, each met with one located message in their own terms and
nothing changed: the example municipality with one thing wrong at a time, checked exactly as
`vaxel check`, `vaxel run` and `vaxel dialplan` read it (controller/configuration.py)."""

import datetime as dt
import re
import shutil
from pathlib import Path

import pytest

from config.errors import ConfigError
from controller.configuration import load_configuration
from controller.scenario import ScenarioError, load_scenario
from telephony.dialplan import render_extensions

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "config" / "exempelkommun"
MONDAY = ROOT / "config" / "scenarios" / "exempelkommun-monday.yaml"
# What a library says, never an administrator's words.
LIBRARY_WORDING = re.compile(r"String should match|Input should be|\[key\]|outside expected "
                             r"range|validation error|Traceback|literal\[|function-after")


@pytest.fixture
def folder(tmp_path):
    shutil.copytree(EXAMPLE, tmp_path / "kommun")
    return tmp_path / "kommun"


def edit(path: Path, old: str, new: str) -> str:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} is not in {path.name}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return path.read_text(encoding="utf-8")


def line_of(text: str, needle: str) -> int:
    return next(i for i, ln in enumerate(text.splitlines(), 1) if needle in ln)


def refused(folder: Path, now: dt.datetime | None = None) -> list[str]:
    with pytest.raises(ConfigError) as err:
        load_configuration(folder, now=now)
    messages = [str(p) for p in err.value.errors]
    assert messages
    for m in messages:
        assert not LIBRARY_WORDING.search(m), m
    return messages


def only(messages: list[str]) -> str:
    assert len(messages) == 1, messages
    return messages[0]


# ---- the strict reader ---------------------------------------------------------------------

def test_an_unquoted_phone_number_says_to_quote_it_at_its_line(folder):
    text = edit(folder / "vaxel.yaml", 'transfer_allowlist: ["0701234567"]',
                "transfer_allowlist: [0701234567]")
    m = only(refused(folder))
    assert m.startswith(f"{folder / 'vaxel.yaml'}:{line_of(text, 'transfer_allowlist')}:")
    assert 'quote phone numbers and keys: "0701234567"' in m


def test_a_count_with_a_leading_zero_is_refused_not_a_crash(folder):
    text = edit(folder / "vaxel.yaml", "on_timeout: {retries: 2,", "on_timeout: {retries: 02,")
    m = only(refused(folder))
    assert f"vaxel.yaml:{line_of(text, 'retries: 02')}:" in m
    assert '"02"' in m and "or write 2 if you meant a number" in m


def test_a_quote_left_open_names_the_line_where_it_opens(folder):
    """The parser fails 17 lines further down, where the next quote closes the text."""
    text = edit(folder / "vaxel.yaml", "sv: Felanmälan har stängt.", 'sv: "Felanmälan har stängt.')
    m = only(refused(folder))
    assert m.startswith(f"{folder / 'vaxel.yaml'}:{line_of(text, 'Felanmälan har')}:1: a quote "
                        "opened on this line is not closed on it")


def test_an_empty_file_and_a_missing_section_name_the_file(folder):
    (folder / "extra.yaml").write_text("# nothing yet\n", encoding="utf-8")
    assert only(refused(folder)) == (f"{folder / 'extra.yaml'}: the file is empty: write the "
                                     "configuration's sections in it (numbers:, prompts:, "
                                     "menus:, groups: ...), or remove it")
    (folder / "extra.yaml").unlink()
    edit(folder / "vaxel.yaml", "\ngroups:\n", "\ngroups_old:\n")
    messages = refused(folder)
    # the example keeps its directory in katalog.yaml: the section may be in either file
    assert f"{folder} (in any *.yaml file): the groups: section is missing" in messages[0]
    assert any("'groups_old' is not a setting here; check its spelling (did you mean "
               "'groups'?)" in m for m in messages)


# ---- vaxel.yaml: words and bounds ------------------------------------------------------------

@pytest.mark.parametrize(("old", "new", "expected"), [
    ("threshold: 2m", "threshold: 0s", "this duration must be longer than zero"),
    ("announce: {every: 45s", "announce: {every: 5s", "announcements at most every 10 s"),
    ("expected_handle_time: 90s", "max_waiting: 0", "0 is too small; write at least 1"),
    ("expected_handle_time: 90s", "max_waiting: 100000",
     "100000 is too large; write at most 10000"),
    ("sv: Felanmälan har stängt. Vid akuta fel, ring kommunens jourtelefon.", 'sv: " "',
     "the prompt's text is empty"),
    ("    menu: huvudmeny\n", "    menu: Huvudmeny\n",
     "'Huvudmeny' will not do: a name is lower-case letters a-z"),
    ('"9": repeat', '"9": repat', "'repat' is not an option; write repeat, back, or an action"),
    ("holidays: closed", "holidays: clsd", "'clsd' is not allowed here; write closed or open"),
    ('"2026-12-23"', '"2026-02-30"', "the key '2026-02-30' will not do: write a real date"),
    ("timeout: 6s", "timout: 6s", "'timout' is not a setting here; check its spelling (did you "
                                  "mean 'timeout'?)"),
])
def test_a_wrong_value_is_said_once_at_its_line(folder, old, new, expected):
    text = edit(folder / "vaxel.yaml", old, new)
    m = only(refused(folder))
    assert expected in m
    assert f"vaxel.yaml:{line_of(text, new.strip())}:" in m


def test_an_active_crisis_already_expired_is_a_warning(folder):
    edit(folder / "vaxel.yaml", "  active: false", "  active: true")
    edit(folder / "vaxel.yaml", 'expires: "2026-11-23T18:00:00"', 'expires: "2026-01-01 08:00"')
    conf = load_configuration(folder, now=dt.datetime(2026, 12, 2, 10, 0))
    (w,) = [str(p) for p in conf.warnings if "crisis" in p.message]
    assert "the crisis message is active but expired at 2026-01-01 08:00" in w


def test_the_english_line_renders_its_own_language():
    conf = load_configuration(EXAMPLE)
    dialplan = render_extensions(conf.settings, languages=conf.loaded.config.languages())
    english = dialplan.split("exten => 0812346,1")[1].split("exten =>")[0]
    swedish = dialplan.split("exten => 0812345,1")[1].split("exten =>")[0]
    assert "Set(CHANNEL(language)=en)" in english
    assert "Set(CHANNEL(language)=sv)" in swedish


# ---- telephony.yaml: the same reader, bounds and the cross-check -------------------------------

@pytest.mark.parametrize(("old", "new", "expected"), [
    ("lease: 30s", "lease: 0s", "0 s switches the safety off altogether (TIMEOUT(absolute)=0)"),
    ("lease: 30s", "lease: 4s", "a lease of 4s is too short"),
    ("lease: 30s", "lease: 11m", "a lease of 11m is too long"),
    ("agent_ring: 20s", "agent_ring: 0s", "0s is not a ring time"),
    ("  ring: 30s", "  ring: 30", "a duration must be a string with a unit"),
    ('numbers: ["0701234567"]', "numbers: [0701234567]", 'quote phone numbers and keys'),
    ("device: PJSIP/bo}", "device: bo}", "agents, item 2, device: 'bo' will not do: a device is"),
])
def test_telephony_yaml_mistakes_are_located(folder, old, new, expected):
    text = edit(folder / "telephony.yaml", old, new)
    m = only(refused(folder))
    assert m.startswith(f"{folder / 'telephony.yaml'}:{line_of(text, new)}:")
    assert expected in m


def test_a_key_given_twice_in_telephony_yaml_names_both_lines(folder):
    text = edit(folder / "telephony.yaml", "agent_ring: 20s", "agent_ring: 20s\nlease: 40s")
    m = only(refused(folder))
    assert f"'lease' is given twice, on lines {line_of(text, 'lease: 30s')} and " \
           f"{line_of(text, 'lease: 40s')}: keep one" in m


def test_every_agent_has_a_phone_and_every_phone_an_agent(folder):
    text = edit(folder / "telephony.yaml", "  - {id: cecilia, device: PJSIP/cecilia}\n",
                "  - {id: cecilja, device: PJSIP/cecilia}\n")
    messages = refused(folder)
    assert any(f"telephony.yaml:{line_of(text, 'cecilja')}:" in m and "agents, item 3: "
               "'cecilja' is not an agent of the configuration" in m for m in messages)
    assert any("vaxel.yaml:" in m and "agent 'cecilia' has no phone" in m for m in messages)


def test_the_numbers_agree_in_both_files(folder):
    edit(folder / "telephony.yaml", 'numbers: ["0812345", "0812346"]', 'numbers: ["0812345"]')
    m = only(refused(folder))
    assert "vaxel.yaml:" in m and "0812346 is not among telephony.yaml's numbers" in m


def test_a_transfer_with_no_way_out_is_refused_naming_the_fix(folder):
    """Transfers and duty lines leave by telephony.yaml's outbound trunk: without one, the
    first that needs it is named, with the lines to add."""
    text = (folder / "telephony.yaml").read_text()
    start, end = text.index("outbound:"), text.index("fallback:")
    (folder / "telephony.yaml").write_text(text[:start] + text[end:])
    edit(folder / "vaxel.yaml", '"2": {message: avfall-info}',
         '"2": {message: avfall-info}\n      "3": {transfer: "0701234567"}')
    messages = [str(p) for p in refused(folder)]
    assert any("need" in m and "a way out: add outbound:" in m for m in messages), messages


def test_a_missing_telephony_yaml_is_said(folder):
    (folder / "telephony.yaml").unlink()
    assert "telephony.yaml is missing: it says how Asterisk reaches vaxel" in only(
        refused(folder))


# ---- scenario files ------------------------------------------------------------------------

@pytest.mark.parametrize(("old", "new", "expected"), [
    ("seed: 2026", "seed: 2026\nseed: 7", "'seed' is given twice"),
    ("calls_per_hour: [", "calls_per_hour: []\nold_rates: [", "calls_per_hour: give at least 1"),
    ("patience: 4m", "patience: 0s", "a time longer than zero"),
    ("calls_per_hour: [", "calls_per_hour: [-5, ", "-5 is too small; write at least 0"),
    ("hours: 8.5", "hours: 100000", "100000 is too large"),
])
def test_scenario_mistakes_are_located(tmp_path, old, new, expected):
    path = tmp_path / "s.yaml"
    shutil.copy(MONDAY, path)
    edit(path, old, new)
    with pytest.raises(ScenarioError) as err:
        load_scenario(path)
    messages = [str(p) for p in err.value.problems]
    assert any(expected in m for m in messages), messages
    assert all(re.match(rf"{re.escape(str(path))}:\d+:\d+: ", m) for m in messages), messages
    assert not any(LIBRARY_WORDING.search(m) for m in messages)


# ---- the call log and the goals ------------------------------------------------------------

@pytest.mark.parametrize("section, key, says", [
    ("store:\n  retention: {pseudonymise_after: 30d, delete_after: 10d}\n", "retention:",
     "store.retention: delete_after is sooner than pseudonymise_after"),
    ("store:\n  url: mysql://db.kommun.se/vaxel\n", "url:", "store.url"),
    ("store:\n  password_env: db-password\n", "password_env:", "store.password_env"),
    ('goals:\n  answered_target: "x%"\n', "answered_target:",
     'goals.answered_target: \'x%\': write a share such as 0.7 or "70%"'),
    ("goals:\n  answered_aim: 80\n", "answered_aim:", "goals.answered_aim"),
    ("goals:\n  short_abandon: 5\n", "short_abandon:", "goals.short_abandon"),
])
def test_a_wrong_store_or_goal_is_located(folder, section, key, says):
    path = folder / "vaxel.yaml"
    path.write_text(path.read_text(encoding="utf-8") + "\n" + section, encoding="utf-8")
    message = only(refused(folder))
    assert f"vaxel.yaml:{line_of(path.read_text(encoding='utf-8'), key)}:" in message, message
    assert says in message, message


def test_goals_as_percentages_are_read_as_shares(folder):
    path = folder / "vaxel.yaml"
    path.write_text(path.read_text(encoding="utf-8") + '\ngoals:\n  answered_target: "75%"\n',
                    encoding="utf-8")
    assert load_configuration(folder).loaded.config.goals.answered_target == 0.75
