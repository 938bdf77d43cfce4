"""Reports from the call log: a simulated day written through the same events as a real one
(`vaxel simulate --store`), and `vaxel report` on it, in text, CSV and HTML, a baseline and a
before / after comparison. The report's numbers equal the simulator's own counts."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import pytest

from controller.cli import main

SCENARIO = """\
name: Liten kommun, en stressig måndag
opens: "08:00"
hours: 3
seed: 7
patience: 6m
calls_per_hour: [140, 120, 60]
groups:
  - id: vaxeln
    share: 0.6
    threshold: 1m
    wrap_up: 10s
    max_waiting: 6
    handle_time: {mean: 3m, distribution: lognormal, cv: 0.8}
    overflow:
      - {when: waiting_over, limit: 4, to: partner}
  - id: bygglov
    share: 0.4
    threshold: 2m
    wrap_up: 30s
    handle_time: {mean: 4m, distribution: lognormal, cv: 0.9}
shifts:
  - {count: 2, groups: {vaxeln: 1}, from: "08:00", to: "11:00"}
  - {count: 1, groups: {bygglov: 1, vaxeln: 2}, from: "08:00", to: "11:00"}
partner:
  max_concurrent: 2
  max_per_hour: 20
  handle_time: {mean: 3m}
"""


def simulate(tmp_path: Path, capsys: pytest.CaptureFixture[str], day: str,
             seed: int = 7) -> dict:
    scenario = tmp_path / "scenario.yaml"
    scenario.write_text(SCENARIO)
    store = tmp_path / "day.sqlite"
    assert main(["simulate", str(scenario), "--store", str(store), "--day", day, "--seed",
                 str(seed), "--json"]) == 0
    out, err = capsys.readouterr()
    assert f"--store {store} --from {day} --to {day}" in err
    return json.loads(out)


def report(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    assert main(["report", *args]) == 0
    return capsys.readouterr().out


def test_the_report_of_a_simulated_day_counts_what_the_simulator_counted(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sim = simulate(tmp_path, capsys, "2026-11-30")
    assert sim["overflowed"] > 0 and sim["abandoned"] > 0 and sim["refused"] > 0
    table = list(csv.DictReader(io.StringIO(report(
        capsys, "--store", str(tmp_path / "day.sqlite"), "--from", "2026-11-30",
        "--to", "2026-11-30", "--format", "csv"))))
    total = next(r for r in table if r["breakdown"] == "total")
    assert int(total["offered"]) == int(total["calls"]) == sim["offered"]
    assert int(total["answered"]) == sim["answered"]
    assert int(total["abandoned"]) == sim["abandoned"]
    assert int(total["overflowed"]) == sim["overflowed"]
    assert int(total["partner_answered"]) == sim["overflowed"]  # the simulated partner answers
    assert int(total["refused"]) + int(total["closed"]) == sim["refused"]
    assert int(total["unfinished"]) == sim["unserved"]
    assert float(total["service_level"]) == pytest.approx(sim["service_level"], abs=1e-4)
    assert float(total["occupancy"]) == pytest.approx(sim["occupancy"], abs=0.02)
    groups = {r["key"]: r for r in table if r["breakdown"] == "group"}
    for gid, g in sim["groups"].items():
        assert (int(groups[gid]["answered"]), int(groups[gid]["abandoned"]),
                int(groups[gid]["overflowed"])) == (g["answered"], g["abandoned"],
                                                    g["overflowed"]), gid
    hours = [r["key"] for r in table if r["breakdown"] == "hour"]
    assert hours[0] == "08" and len(hours) >= 3  # in Swedish time, from the scenario's opening


def test_the_html_report_is_one_file_with_its_plots_goal_line_and_tables(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sim = simulate(tmp_path, capsys, "2026-11-30")
    out = tmp_path / "rapport.html"
    main(["report", "--store", str(tmp_path / "day.sqlite"), "--from", "2026-11-30",
          "--to", "2026-11-30", "--format", "html", "-o", str(out)])
    page = out.read_text()
    assert "<script" not in page and not re.search(r'(src|href)="https?:', page)  # self-contained
    assert page.count('role="img"') == 5
    for plot in ("service_level", "choices", "waits", "abandons", "partner"):
        assert f'id="plot-{plot}"' in page
    assert re.search(r'<line class="goal-line" data-share="0.7"', page)
    assert re.search(r'<line class="aim-line" data-share="0.8"', page)
    bars = re.findall(r'<rect class="bar"', page)
    assert len(bars) > 10
    figures = dict(re.findall(r'<tr data-figure="(\w+)"><th scope="row">[^<]+</th><td>([^<]+)'
                              r'</td></tr>', page))
    assert figures["answered"] == str(sim["answered"])
    assert figures["abandoned"] == str(sim["abandoned"])
    assert figures["service_level"] == f"{100 * sim['service_level']:.1f} %"
    assert 'id="table-groups"' in page and 'id="table-hours"' in page
    assert '<th scope="row">vaxeln</th>' in page
    assert '<html lang="sv">' in page


def test_a_baseline_and_a_before_and_after(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    store = str(tmp_path / "day.sqlite")
    first = simulate(tmp_path, capsys, "2026-11-23", seed=1)
    second = simulate(tmp_path, capsys, "2026-11-30", seed=2)
    baseline = report(capsys, "--store", store, "--from", "2026-11-23", "--to", "2026-11-23",
                      "--group", "bygglov", "--baseline")
    assert baseline.startswith("Nollmätning: bygglov, 2026-11-23")
    assert "Per veckodag" in baseline and "måndag" in baseline
    assert "vaxeln" not in baseline  # one function only
    both = report(capsys, "--store", store, "--from", "2026-11-30", "--to", "2026-11-30",
                  "--compare-from", "2026-11-23", "--compare-to", "2026-11-23")
    side_by_side = both[both.index("Före: "):].splitlines()
    row = next(line for line in side_by_side if line.strip().startswith("besvarade "))
    before, after, change = row.split()[-3:]
    assert (int(before), int(after)) == (first["answered"], second["answered"])
    assert int(change) == second["answered"] - first["answered"]
    # the same day simulated again replaces itself: no call counted twice
    simulate(tmp_path, capsys, "2026-11-30", seed=2)
    again = report(capsys, "--store", store, "--from", "2026-11-30", "--to", "2026-11-30",
                   "--format", "csv")
    total = next(csv.DictReader(io.StringIO(again)))
    assert int(total["answered"]) == second["answered"]


@pytest.mark.parametrize("args, says", [
    (["--from", "2026-11-30", "--to", "2026-11-01"], "--to 2026-11-01 is before --from"),
    (["--from", "2026-11-30", "--to", "2026-11-30", "--store", "/nowhere/x.sqlite"],
     "no call log at /nowhere/x.sqlite"),
    (["--from", "2026-11-30", "--to", "2026-11-30", "--store", "mysql://db/x"],
     "SQLite or PostgreSQL"),
    (["--from", "2026-11-30", "--to", "2026-11-30", "--compare-from", "2026-11-01"],
     "needs both --compare-from and --compare-to"),
])
def test_a_report_that_cannot_be_made_says_why(args: list[str], says: str,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", *args]) == 2
    assert says in capsys.readouterr().err


def test_an_unknown_group_names_the_groups_there_are(tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    simulate(tmp_path, capsys, "2026-11-30")
    from controller.cli import EXAMPLE_CONFIG

    assert main(["report", "--store", str(tmp_path / "day.sqlite"), "--config",
                 str(EXAMPLE_CONFIG), "--from", "2026-11-30", "--to", "2026-11-30",
                 "--group", "bygglv"]) == 2
    err = capsys.readouterr().err
    assert "no group 'bygglv'" in err and "bygglov" in err


def test_a_bad_date_is_an_error_not_a_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["report", "--from", "30/11", "--to", "2026-11-30"])
    assert exit_.value.code == 2
    assert "'30/11' is not a date; write e.g. 2026-11-30" in capsys.readouterr().err


def test_a_simulated_day_with_callbacks_reports_them_as_the_simulator_counted(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    scenario = tmp_path / "scenario.yaml"
    scenario.write_text(SCENARIO.replace("partner:\n", "callbacks: {offer_over: 1m, accept: "
                                                       "0.7, reach: 0.7, attempts: 2, spacing: "
                                                       "5m}\npartner:\n", 1))
    store = tmp_path / "day.sqlite"
    assert main(["simulate", str(scenario), "--store", str(store), "--day", "2026-11-30",
                 "--json"]) == 0
    sim = json.loads(capsys.readouterr().out)
    assert sim["callbacks"] > 0 and sim["callbacks_failed"] > 0
    text = report(capsys, "--store", str(store), "--from", "2026-11-30", "--to", "2026-11-30")
    line = next(x for x in text.splitlines() if x.strip().startswith("totalt"))
    words = line.split()  # totalt, requested, reached, "50.0 %", failed, ...
    requested, reached, failed = int(words[1]), int(words[2]), int(words[5])
    assert (requested, reached, failed) == (sim["callbacks"], sim["callbacks_reached"],
                                            sim["callbacks_failed"])
    table = list(csv.DictReader(io.StringIO(report(
        capsys, "--store", str(store), "--from", "2026-11-30", "--to", "2026-11-30",
        "--format", "csv"))))
    total = next(r for r in table if r["breakdown"] == "total")
    assert int(total["callbacks"]) == sim["callbacks"]
    assert int(total["answered"]) == sim["answered"]
    assert int(total["abandoned"]) == sim["abandoned"]
