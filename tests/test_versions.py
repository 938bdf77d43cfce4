"""`vaxel check` (--tree golden, --diff), and activating versions without touching calls."""

import asyncio
import datetime as dt
import shutil
from pathlib import Path

import pytest

from config.describe import tree
from config.errors import ConfigError
from config.loader import load_folder
from config.versions import ConfigHistory
from controller.cli import main
from ivr.interpreter import run_ivr

from .ivr_helpers import ScriptedCall

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "config" / "exempelkommun"
NOW = dt.datetime(2026, 11, 24, 10, 0)


def test_the_tree_of_the_example_matches_the_golden_file():
    golden = (ROOT / "tests" / "golden" / "tree_exempelkommun.txt").read_text(encoding="utf-8")
    assert tree(load_folder(EXAMPLE).config) == golden


def test_vaxel_check_accepts_the_example_and_refuses_a_broken_copy(tmp_path, capsys):
    assert main(["check", str(EXAMPLE)]) == 0
    assert "OK, version" in capsys.readouterr().out
    broken = copy(tmp_path)
    edit(broken, "      \"1\": {group: barn-och-utbildning}", "      \"1\": {group: skolan}")
    assert main(["check", str(broken)]) == 1
    err = capsys.readouterr().err
    assert "group 'skolan' is not defined under groups:" in err and "1 error:" in err
    assert f"{broken / 'vaxel.yaml'}:" in err


def copy(tmp_path, name="conf"):
    target = tmp_path / name
    shutil.copytree(EXAMPLE, target)
    return target


def edit(folder, old, new):
    path = folder / "vaxel.yaml"
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new), encoding="utf-8")


def test_the_difference_is_told_in_words(tmp_path, capsys):
    new = copy(tmp_path)
    edit(new, '      "0": {group: vaxeln}\n', "")
    edit(new, "    threshold: 2m\n    strategy: skill_widening", "    threshold: 3m\n"
         "    strategy: skill_widening")
    edit(new, '      fri: ["08:00-15:00"]', '      fri: ["08:00-14:00"]')
    assert main(["check", "--diff", str(EXAMPLE), str(new)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out == [
        "menu huvudmeny: option 0 removed (was group vaxeln (Växeln))",
        "group bygglov: threshold: 2m -> 3m",
        "hours kontaktcenter: weekly fri: 08:00-15:00 -> 08:00-14:00",
    ]


def test_a_call_in_progress_keeps_its_version_and_new_calls_take_the_new_one(tmp_path):
    history = ConfigHistory(load_folder(EXAMPLE), NOW)
    started_with = history.active  # a call starts: it holds its version
    new = copy(tmp_path)
    edit(new, '      "1": {group: barn-och-utbildning}', '      "1": {group: vaxeln}')
    loaded, changes = history.propose(new)
    assert changes == ["menu huvudmeny: option 1: group barn-och-utbildning (Barn och "
                       "utbildning) -> group vaxeln (Växeln)"]
    history.activate(loaded, NOW)
    assert history.active.number == 2

    async def route(version):
        call = ScriptedCall(["1"])
        return (await run_ivr(version.plan, "0812345", call, NOW, call.clock)).target
    assert asyncio.run(route(started_with)) == "barn-och-utbildning"  # finishes on version 1
    assert asyncio.run(route(history.active)) == "vaxeln"  # new calls: version 2


def test_a_broken_configuration_changes_nothing(tmp_path):
    history = ConfigHistory(load_folder(EXAMPLE), NOW)
    before = history.active
    broken = copy(tmp_path)
    edit(broken, "    closed_prompt: stangt\n  \"0812346\"", "    closed_prompt: stangt\n"
         "    closed_prompt: stangt\n  \"0812346\"")
    with pytest.raises(ConfigError, match="given twice"):
        history.propose(broken)
    assert history.active is before and len(history.versions) == 1


def test_rollback_returns_to_the_previous_version(tmp_path):
    history = ConfigHistory(load_folder(EXAMPLE), NOW)
    new = copy(tmp_path)
    edit(new, "    weight: 1.5", "    weight: 2.0")
    history.activate(history.propose(new)[0], NOW)
    back = history.rollback(NOW)
    assert back.number == 3 and back.checksum == history.versions[0].checksum
    assert back.config.groups["socialtjanst-och-aldreomsorg"].weight == 1.5


def test_activating_the_same_files_again_is_not_a_new_version():
    history = ConfigHistory(load_folder(EXAMPLE), NOW)
    assert history.activate(load_folder(EXAMPLE), NOW) is history.active
    assert len(history.versions) == 1
