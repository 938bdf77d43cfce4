"""Users for the web's tests: Exempelkommun with a users.yaml of one user a role (and an agent
user for each of anna and bo), their passwords hashed with cheap argon2 parameters (the hash
carries them: verifying takes a millisecond, not the production 50)."""

from __future__ import annotations

from pathlib import Path

from argon2 import PasswordHasher

from web.auth import token_digest

from .world import config_copy

FAST = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
PASSWORDS = {"anna": "anna-lösenord", "bo": "bo-lösenord-2", "sara": "sara-lösenord",
             "admin": "admin-lösenord"}
ROLES = {"anna": ("agent", "anna"), "bo": ("agent", "bo"), "sara": ("supervisor", None),
         "admin": ("admin", None)}
TOKENS = {name: f"vx_test_{name}_token" for name in PASSWORDS}


def _salt(name: str) -> bytes:
    """A fixed salt a user: the same file every time (a folder's checksum is its files')."""
    return name.encode().ljust(16, b".")


def users_yaml() -> str:
    lines = ["users:"]
    for name, (role, agent) in ROLES.items():
        lines += [f"  {name}:", f"    role: {role}",
                  f"    password: \"{FAST.hash(PASSWORDS[name], salt=_salt(name))}\"",
                  f"    token_sha256: \"{token_digest(TOKENS[name])}\""]
        if agent:
            lines.append(f"    agent: {agent}")
    return "\n".join(lines) + "\n"


def with_users(tmp_path: Path, *replacements: tuple[str, str], append: str = "") -> Path:
    folder = config_copy(tmp_path, *replacements, append=append)
    (folder / "users.yaml").write_text(users_yaml(), encoding="utf-8")
    return folder


def bearer(name: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKENS[name]}"}
