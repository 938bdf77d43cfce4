import json
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from controller.cli import main
from queues.erlang import evaluate

ROOT = Path(__file__).resolve().parent.parent

SIM_KEYS = {"offered", "answered", "abandoned", "overflowed", "service_level",
            "service_level_offered", "wait_probability", "asa_seconds", "occupancy",
            "ewt_median_abs_error_seconds", "threshold_seconds"}


def run_json(capsys, *argv):
    assert main(list(argv)) == 0
    return json.loads(capsys.readouterr().out)


def test_simulate_json_has_the_documented_keys(capsys):
    out = run_json(capsys, "simulate", "--agents", "5", "--calls-per-hour", "60", "--aht", "3m",
                   "--patience", "none", "--hours", "4", "--threshold", "120", "--seed", "3",
                   "--json")
    assert out.keys() >= SIM_KEYS
    assert out["threshold_seconds"] == 120 and out["abandoned"] == 0


def test_simulate_flags_override_a_scenario_file(capsys):
    out = run_json(capsys, "simulate", str(ROOT / "config/scenarios/exempelkommun-monday.yaml"),
                   "--agents", "30", "--patience", "none", "--json")
    assert out["abandoned"] == 0 and out["service_level"] > 0.95


def test_simulate_without_a_scenario_names_the_missing_flags(capsys):
    assert main(["simulate", "--agents", "3"]) == 2
    assert "--calls-per-hour, --aht" in capsys.readouterr().err


def test_staffing_json_matches_erlang_c(capsys):
    out = run_json(capsys, "staffing", "--calls-per-hour", "100", "--aht", "240",
                   "--target", "0.8", "--threshold", "120", "--json")
    assert {"agents", "service_level", "wait_probability", "occupancy"} <= out.keys()
    assert out["service_level"] == pytest.approx(evaluate(out["agents"], 100, 240, 120)
                                                 .service_level)


def test_staffing_reads_a_percentage_target(capsys):
    assert main(["staffing", "--calls-per-hour", "100", "--aht", "4m", "--target", "80%"]) == 0
    assert "within 2m (target 80.0 %)" in capsys.readouterr().out


def test_the_console_script_runs_the_example_scenario():
    proc = subprocess.run([sys.executable, "-m", "controller.cli", "simulate",
                           "config/scenarios/exempelkommun-monday.yaml"],
                          cwd=ROOT, capture_output=True, text=True, timeout=60, check=True)
    assert "Exempelkommun, Monday" in proc.stdout and "service level" in proc.stdout


def test_a_broken_scenario_file_is_reported_and_exits_nonzero(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nhours: [\n")
    assert main(["simulate", str(bad)]) == 2
    assert str(bad) in capsys.readouterr().err


def test_the_demo_runs_the_whole_contact_centre_and_ends_by_itself():
    import http.cookiejar
    import socket
    import urllib.request

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    errors = tempfile.TemporaryFile("w+")  # noqa: SIM115 - a second pipe would lose read-ahead
    proc = subprocess.Popen([sys.executable, "-m", "controller.cli", "demo", "--minutes", "3",
                             "--speed", "60", "--calls-per-hour", "300", "--web",
                             f"127.0.0.1:{port}"],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=errors, text=True)
    assert proc.stdout is not None
    head = [proc.stdout.readline() for _ in range(7)]
    # while it runs, a newcomer logs in to the pages with a user it printed
    web, users = head[1], [ln.split() for ln in head[2:7]]
    assert web.startswith(f"vaxel demo: the web pages on http://127.0.0.1:{port}/")
    assert [(u[0], u[3]) for u in users] == [("anna", "(agent)"), ("bo", "(agent)"), (
        "cecilia", "(agent)"), ("sara", "(supervisor)"), ("admin", "(admin)")]
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(
        http.cookiejar.CookieJar()))
    sara = next(u for u in users if u[0] == "sara")
    login = urllib.request.Request(f"http://127.0.0.1:{port}/api/login", method="POST",
                                   data=json.dumps({"user": "sara", "password": sara[2]}).encode(),
                                   headers={"Content-Type": "application/json"})
    assert json.load(opener.open(login, timeout=10))["role"] == "supervisor"
    board = json.load(opener.open(f"http://127.0.0.1:{port}/api/views/wallboard", timeout=10))
    assert "vaxeln" in [g["id"] for g in board["groups"]]
    out = proc.stdout.read()
    assert proc.wait(60) == 0
    errors.seek(0)
    err = errors.read()
    lines = head[:1] + head[7:] + out.splitlines()
    lines = [ln.rstrip("\n") for ln in lines]
    # mosquitto is at hand (make test installs it): the demo publishes the events there too
    assert lines.pop(0).startswith("vaxel demo: the events on MQTT; watch them with: "
                                   "mosquitto_sub -h 127.0.0.1 -p ")
    assert lines[0].startswith("vaxel demo: fake Asterisk on 127.0.0.1:")
    assert lines[1].split()[:3] == ["min", "calls", "menus"]
    report, again = lines.pop(), lines.pop()
    report, again = again, report  # the report's two lines come last
    assert [ln.split()[0] for ln in lines[2:-1]] == ["1", "2", "3"]
    assert lines[-1].startswith("after 3 simulated minutes: ")
    assert "of the calls offered answered within 2 minutes (the municipal goal: 70 %, aim 80 %)" \
        in lines[-1]
    published = int(lines[-1].split("; ")[-1].split()[0])
    assert lines[-1].endswith(" events published to MQTT") and published > 10
    # the call log and the day's report from it, where the demo says
    calls = int(lines[-1].split("after 3 simulated minutes: ")[1].split()[0])
    logged, page = report.split(" calls in the call log ")[0], report.split("report: ")[1]
    assert int(logged.removeprefix("vaxel demo: ")) == calls
    html = Path(page).read_text()
    assert html.startswith("<!DOCTYPE html>") and html.count('role="img"') == 5
    assert again.strip().startswith("(again: vaxel report --store ")
    assert "Traceback" not in err
