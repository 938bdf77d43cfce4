"""Every command refuses a flag value that makes no sense, with a message naming the flag and
exit status 2: never a traceback, never a run that does not end."""

import pytest

from controller.cli import main

SIM = ["simulate", "--agents", "3", "--calls-per-hour", "60", "--aht", "3m"]
BAD = [
    # (command line, the flag the message names)
    (["simulate", "--agents", "0", "--calls-per-hour", "60", "--aht", "3m"], "--agents"),
    (["simulate", "--agents", "-2", "--calls-per-hour", "60", "--aht", "3m"], "--agents"),
    (["simulate", "--agents", "3.5", "--calls-per-hour", "60", "--aht", "3m"], "--agents"),
    (["simulate", "--agents", "99999999", "--calls-per-hour", "60", "--aht", "3m"], "--agents"),
    (["simulate", "--agents", "3", "--calls-per-hour", "0", "--aht", "3m"], "--calls-per-hour"),
    (["simulate", "--agents", "3", "--calls-per-hour", "inf", "--aht", "3m"], "--calls-per-hour"),
    (["simulate", "--agents", "3", "--calls-per-hour", "nan", "--aht", "3m"], "--calls-per-hour"),
    (["simulate", "--agents", "3", "--calls-per-hour", "-5", "--aht", "3m"], "--calls-per-hour"),
    (["simulate", "--agents", "3", "--calls-per-hour", "60", "--aht", "0"], "--aht"),
    (["simulate", "--agents", "3", "--calls-per-hour", "60", "--aht", "inf"], "--aht"),
    (["simulate", "--agents", "3", "--calls-per-hour", "60", "--aht", "-3m"], "--aht"),
    ([*SIM, "--patience", "0"], "--patience"),
    ([*SIM, "--patience", "nan"], "--patience"),
    ([*SIM, "--hours", "0"], "--hours"),
    ([*SIM, "--hours", "inf"], "--hours"),
    ([*SIM, "--hours", "-1"], "--hours"),
    ([*SIM, "--hours", "100000"], "--hours"),
    ([*SIM, "--threshold", "0"], "--threshold"),
    ([*SIM, "--threshold", "nan"], "--threshold"),
    ([*SIM, "--seed", "x"], "--seed"),
    (["staffing", "--calls-per-hour", "0", "--aht", "4m"], "--calls-per-hour"),
    (["staffing", "--calls-per-hour", "inf", "--aht", "4m"], "--calls-per-hour"),
    (["staffing", "--calls-per-hour", "100", "--aht", "0"], "--aht"),
    (["staffing", "--calls-per-hour", "100", "--aht", "4m", "--target", "0"], "--target"),
    (["staffing", "--calls-per-hour", "100", "--aht", "4m", "--target", "150%"], "--target"),
    (["staffing", "--calls-per-hour", "100", "--aht", "4m", "--target", "x"], "--target"),
    (["staffing", "--calls-per-hour", "100", "--aht", "4m", "--threshold", "inf"],
     "--threshold"),
    (["demo", "--speed", "0"], "--speed"),
    (["demo", "--speed", "-5"], "--speed"),
    (["demo", "--speed", "inf"], "--speed"),
    (["demo", "--minutes", "0"], "--minutes"),
    (["demo", "--minutes", "nan"], "--minutes"),
    (["demo", "--calls-per-hour", "0"], "--calls-per-hour"),
    (["demo", "--calls-per-hour", "1e9"], "--calls-per-hour"),
    (["run", "--config", "config/exempelkommun", "--api", "127.0.0.1:99999"], "--api"),
    (["run", "--config", "config/exempelkommun", "--api", "nowhere"], "--api"),
    (["run", "--config", "config/exempelkommun", "--ami-port", "0"], "--ami-port"),
    (["status", "--api", "ftp://127.0.0.1:8480"], "--api"),
    (["status", "--api", "127.0.0.1"], "--api"),
    (["agent", "login", "anna", "--api", "127.0.0.1:0"], "--api"),
]


@pytest.mark.parametrize(("argv", "flag"), BAD, ids=[" ".join(a) for a, _ in BAD])
def test_a_bad_flag_is_refused_naming_it(argv, flag, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert f"argument {flag}" in err and "Traceback" not in err


def test_too_much_work_is_refused_before_it_starts(capsys):
    assert main(["simulate", "--agents", "3", "--calls-per-hour", "100000", "--aht", "3m",
                 "--hours", "8000"]) == 2
    assert "would take too long" in capsys.readouterr().err
    assert main(["staffing", "--calls-per-hour", "100000", "--aht", "24h"]) == 2
    assert "more than 100,000 agents busy at once" in capsys.readouterr().err


def test_the_default_hours_are_not_a_silent_replacement(capsys):
    """--hours 0 used to become 8 silently; now 0 is refused and the default says itself."""
    assert main([*SIM, "--json"]) == 0
    assert '"simulated_hours": 8' in capsys.readouterr().out.replace(".0", "")


def test_status_takes_a_bare_address(capsys):
    assert main(["status", "--api", "127.0.0.1:1"]) == 1
    assert "no controller at http://127.0.0.1:1: Connection refused" in capsys.readouterr().err


def test_ctrl_c_ends_a_command_quietly(monkeypatch, capsys):
    import controller.cli as cli

    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "cmd_staffing", interrupted)  # the parser binds it when built
    assert main(["staffing", "--calls-per-hour", "10", "--aht", "4m"]) == 130
    assert "Traceback" not in capsys.readouterr().err
