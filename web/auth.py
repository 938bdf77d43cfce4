"""Who is asking: users and roles, sessions, CSRF, the login's rate limit, API tokens.

Users are the configuration's `users:` (config/schema.py User): a role (agent < supervisor <
admin: each may what the one before may), an argon2 password hash, and optionally the SHA-256 of
an API token for `vaxel agent` / `vaxel status` (sent as `Authorization: Bearer ...`).

A browser logs in with a password and gets a session: a random cookie (HttpOnly, SameSite=Strict,
Secure unless the page is served on localhost) held in memory, ended by logging out or by
`web.session` without a request. Every state-changing request of a session carries the session's
CSRF token (the `X-CSRF-Token` header, which the pages send). Failed logins are limited per user
and per address. Sessions live in the controller's memory: a restart logs everyone out.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from config.schema import User

ROLES = ("agent", "supervisor", "admin")
SESSION_COOKIE = "vaxel_session"
LOGIN_COOKIE = "vaxel_login"  # the login form's own CSRF token (double submit)
CSRF_HEADER = "X-CSRF-Token"

_HASHER = PasswordHasher()  # argon2id, RFC 9106's low-memory profile
# an unknown user is checked against this, so that the answer takes as long as for a real one
_NOBODY = _HASHER.hash(secrets.token_urlsafe(16))


def hash_password(password: str, hasher: PasswordHasher = _HASHER) -> str:
    return hasher.hash(password)


def token_digest(token: str) -> str:
    """What the configuration keeps of an API token (it is random: a hash suffices)."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return "vx_" + secrets.token_urlsafe(32)


@dataclass(frozen=True)
class Who:
    """A logged-in user, as a request sees it."""

    user: str
    role: str
    agent: str | None  # the agent they are, if any
    name: str
    via: str  # "session" or "token"
    csrf: str = ""  # the session's CSRF token (a token's requests need none)

    def may(self, role: str) -> bool:
        return ROLES.index(self.role) >= ROLES.index(role)


def _who(user: str, u: User, via: str, csrf: str = "") -> Who:
    return Who(user, u.role, u.agent, u.name or user, via, csrf)


async def check_password(users: Mapping[str, User], user: str, password: str) -> Who | None:
    """The user if the password is theirs (argon2 in a thread: ~50 ms the loop keeps)."""
    u = users.get(user)
    hashed = u.password if u is not None else _NOBODY

    def verify() -> bool:
        try:
            return _HASHER.verify(hashed, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    ok = await asyncio.to_thread(verify)
    return _who(user, u, "session") if ok and u is not None else None


def by_token(users: Mapping[str, User], token: str) -> Who | None:
    digest = token_digest(token)
    for name, u in users.items():
        if u.token_sha256 is not None and hmac.compare_digest(u.token_sha256, digest):
            return _who(name, u, "token")
    return None


@dataclass
class Session:
    key: str
    user: str
    csrf: str
    last_seen: float


class Sessions:
    """The logged-in browsers, by their cookie."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._by_key: dict[str, Session] = {}

    def open(self, user: str) -> Session:
        self._sweep_now_and_then()
        session = Session(secrets.token_urlsafe(32), user, secrets.token_urlsafe(32),
                          self.clock())
        self._by_key[session.key] = session
        return session

    def find(self, key: str, idle: float) -> Session | None:
        """The session of a cookie, touched; None if unknown or unused for `idle` seconds."""
        session = self._by_key.get(key)
        if session is None:
            return None
        now = self.clock()
        if now - session.last_seen > idle:
            del self._by_key[key]
            return None
        session.last_seen = now
        return session

    def alive(self, key: str, idle: float) -> bool:
        """The session is there and not past `idle`, without touching it (a live page open
        on a screen is not a use: the session still ends)."""
        session = self._by_key.get(key)
        return session is not None and self.clock() - session.last_seen <= idle

    def close(self, key: str) -> None:
        self._by_key.pop(key, None)

    def close_user(self, user: str) -> None:
        for key in [k for k, s in self._by_key.items() if s.user == user]:
            del self._by_key[key]

    def __len__(self) -> int:
        return len(self._by_key)

    def _sweep_now_and_then(self, idle: float = 24 * 3600.0) -> None:
        now = self.clock()
        for key in [k for k, s in self._by_key.items() if now - s.last_seen > idle]:
            del self._by_key[key]


@dataclass
class Throttle:
    """Failed logins per key (a user, or an address): `limit` in `window` seconds, then
    refused until the oldest of them is `window` old."""

    limit: int = 5
    window: float = 900.0
    clock: Callable[[], float] = time.monotonic
    _failures: dict[str, deque[float]] = field(default_factory=dict)

    def wait(self, *keys: str) -> float:
        """Seconds until a login may be tried for all of `keys` (0: now)."""
        now, longest = self.clock(), 0.0
        for key in keys:
            times = self._failures.get(key)
            if not times:
                continue
            while times and now - times[0] >= self.window:
                times.popleft()
            if len(times) >= self.limit:
                longest = max(longest, times[0] + self.window - now)
        return longest

    def failed(self, *keys: str) -> None:
        now = self.clock()
        for key in keys:
            self._failures.setdefault(key, deque(maxlen=self.limit)).append(now)

    def succeeded(self, key: str) -> None:
        self._failures.pop(key, None)


def csrf_ok(expected: str, given: str | None) -> bool:
    return bool(expected) and given is not None and hmac.compare_digest(expected, given)


def session_who(users: Mapping[str, User], session: Session) -> Who | None:
    """A session's user as the configuration says now (removed: None; role changed: the new)."""
    u = users.get(session.user)
    return None if u is None else _who(session.user, u, "session", session.csrf)


LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1", "[::1]")


def secure_cookie(host: str, tls: bool) -> bool:
    """Secure cookies outside localhost (a plain-HTTP localhost page could not keep one)."""
    name = host.rsplit(":", 1)[0] if host.count(":") == 1 or host.startswith("[") else host
    return tls or name not in LOCAL_HOSTS
