"""The web's users: `vaxel user` makes a user's lines for users.yaml (an argon2 hash, an API
token shown once), the configuration checks them with located errors, and what it printed
logs in."""

from __future__ import annotations

import asyncio
import io
import re
from pathlib import Path

import pytest
import yaml

from config.errors import ConfigError
from config.loader import load_folder
from controller.cli import main
from web.auth import Throttle, by_token, check_password

from .world import config_copy


def _user(monkeypatch, capsys, *argv: str, password: str) -> tuple[int, str, str]:
    monkeypatch.setattr("sys.stdin", io.StringIO(password + "\n"))
    code = main(["user", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_vaxel_user_prints_lines_that_log_in_and_a_token_shown_once(monkeypatch, capsys,
                                                                    tmp_path: Path) -> None:
    code, out, err = _user(monkeypatch, capsys, "anna", "--role", "agent", "--agent", "anna",
                           "--token", password="ett långt lösenord")
    assert code == 0
    token = re.search(r"VAXEL_API_TOKEN=(\S+)\)", err)
    assert token is not None and token.group(1) not in out
    folder = config_copy(tmp_path)
    (folder / "users.yaml").write_text("users:\n" + out, encoding="utf-8")
    users = load_folder(folder).config.users
    assert users["anna"].role == "agent" and users["anna"].password.startswith("$argon2id$")
    assert asyncio.run(check_password(users, "anna", "ett långt lösenord")) is not None
    assert asyncio.run(check_password(users, "anna", "fel")) is None
    assert asyncio.run(check_password(users, "nobody", "ett långt lösenord")) is None
    who = by_token(users, token.group(1))
    assert who is not None and (who.user, who.agent, who.via) == ("anna", "anna", "token")


@pytest.mark.parametrize(("argv", "password", "message"), [
    (("anna", "--role", "agent"), "ett långt lösenord", "--agent ID"),
    (("sara", "--role", "supervisor"), "kort", "at least 10 characters"),
])
def test_vaxel_user_refuses_with_a_reason(monkeypatch, capsys, argv, password, message) -> None:
    code, out, err = _user(monkeypatch, capsys, *argv, password=password)
    assert code == 2 and message in err and out == ""


def test_vaxel_user_refuses_a_name_the_configuration_would(capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["user", "Anna Andersson", "--role", "admin"])
    assert exc.value.code == 2
    assert "lower-case letters, digits and -" in capsys.readouterr().err


def test_the_configuration_checks_its_users_where_they_are(tmp_path: Path) -> None:
    folder = config_copy(tmp_path)
    digest = "a" * 64
    (folder / "users.yaml").write_text(
        "users:\n"
        "  anna:\n"
        "    role: agent\n"
        "    agent: annika\n"
        f"    password: \"$argon2id$v=19$m=1024,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo\"\n"
        f"    token_sha256: \"{digest}\"\n"
        "  bo:\n"
        "    role: agent\n"
        "    password: hemligt\n"
        "  cecilia:\n"
        "    role: agent\n"
        "    password: \"$argon2id$v=19$m=1024,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo\"\n"
        "  sara:\n"
        "    role: chef\n"
        "    password: \"$argon2id$v=19$m=1024,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo\"\n"
        f"    token_sha256: \"{digest}\"\n", encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_folder(folder)
    text = str(err.value)
    # bo's password written as it is: refused, and never shown back
    assert re.search(r"users\.yaml:9:\d+: users\.bo\.password: not an argon2 hash", text)
    assert "hemligt" not in text
    assert re.search(r"users\.yaml:10:\d+: users\.cecilia: a user with the agent role names "
                     r"the agent they are", text), text
    assert re.search(r"users\.yaml:14:\d+: users\.sara\.role: 'chef' is not allowed here; "
                     r"write agent, supervisor or admin", text), text


def test_a_user_of_an_unknown_agent_and_a_token_twice_are_errors(tmp_path: Path) -> None:
    folder = config_copy(tmp_path)
    digest = "b" * 64
    hashed = "$argon2id$v=19$m=1024,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo"
    (folder / "users.yaml").write_text(
        "users:\n"
        f"  anna: {{role: agent, agent: annika, password: \"{hashed}\"}}\n"
        f"  sara: {{role: supervisor, password: \"{hashed}\", token_sha256: \"{digest}\"}}\n"
        f"  admin: {{role: admin, password: \"{hashed}\", token_sha256: \"{digest}\"}}\n",
        encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_folder(folder)
    text = str(err.value)
    assert re.search(r"users\.yaml:2:\d+: agent 'annika' is not defined", text), text
    assert re.search(r"users\.yaml:4:\d+: the same API token as user 'sara'", text), text


def test_the_throttle_forgets_failures_once_their_window_has_passed() -> None:
    now = [0.0]
    throttle = Throttle(limit=3, window=60.0, clock=lambda: now[0])
    for _ in range(3):
        throttle.failed("user:anna")
    assert throttle.wait("user:anna") == 60.0
    now[0] = 30.0
    assert throttle.wait("user:anna", "address:1") == 30.0
    now[0] = 60.0
    assert throttle.wait("user:anna") == 0.0
    throttle.failed("user:anna")
    throttle.succeeded("user:anna")
    assert throttle.wait("user:anna") == 0.0


def test_the_example_yaml_of_vaxel_user_is_a_mapping(monkeypatch, capsys) -> None:
    code, out, _ = _user(monkeypatch, capsys, "sara", "--role", "supervisor",
                         password="ett långt lösenord")
    assert code == 0
    assert yaml.safe_load("users:\n" + out)["users"]["sara"]["role"] == "supervisor"
