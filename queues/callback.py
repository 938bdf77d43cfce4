"""Callbacks instead of waiting: the number a citizen leaves, and what becomes of the request.

Pure: no I/O, no clock (time comes in). The request keeps the caller's place: the router holds it
as a waiting entry with the caller's original arrival (queues/router.py, `callback=True`), so it
counts in the position and estimated wait of everyone behind it. What is decided here:

- whether a number may be called back (`check_number`): a Swedish number, normalised to its
  national form, matching the patterns the configuration allows; premium-rate numbers never,
  foreign numbers only when allowed. Toll fraud starts where a caller chooses what is dialled.
- what follows an attempt (`after_attempt`): the citizen did not answer, was busy or could not
  be reached -> another attempt after the configured spacing, until the attempts run out; then
  the request has failed (and is counted).
- when a request has expired (`expired`).

The request's life (`CallbackPhase`): PENDING (in line, or waiting for its next attempt or for
the group to open) -> OFFERED (the agent's phone rings: agent first) -> DIALLING (the agent is
on the line and hears who and why; the citizen's phone rings) -> CONNECTED -> ENDED, with one
outcome: reached, failed, expired or cancelled.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field
from functools import lru_cache

# Swedish numbers in their national form: mobiles (07X XXX XX XX) and the geographic and
# service ranges with 7 to 10 digits; 09 (0900, 0939, 0944: premium rate) is never allowed.
DEFAULT_PATTERNS = ("07XXXXXXXX", "0[1-68]XXXXX!")
PREMIUM = ("09",)
NATIONAL_LENGTH = (7, 10)  # digits of a Swedish national number, the leading 0 included


class NumberRefused(ValueError):
    """The number may not be called back; the message says why, in the caller's terms."""


@dataclass(frozen=True, slots=True)
class NumberRules:
    patterns: tuple[str, ...] = DEFAULT_PATTERNS  # Asterisk-style: X 0-9, Z 1-9, N 2-9, [..], . !
    foreign: bool = False  # numbers outside Sweden (+47..., 0045...) allowed


def normalise(raw: str) -> str:
    """"+46 70-123 45 67", "0046701234567" and "070 123 45 67" -> "0701234567"; a foreign
    number keeps its international form ("+4712345678"). Spaces and dashes are dropped."""
    text = re.sub(r"[\s\-()]", "", raw)
    if text.startswith("00"):
        text = "+" + text[2:]
    if text.startswith("+46"):
        text = "0" + text[3:].removeprefix("0")
    return text


@lru_cache(maxsize=64)
def _pattern(pattern: str) -> re.Pattern[str]:
    out = []
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "X":
            out.append("[0-9]")
        elif c == "Z":
            out.append("[1-9]")
        elif c == "N":
            out.append("[2-9]")
        elif c == ".":
            out.append("[0-9]+")
        elif c == "!":
            out.append("[0-9]*")
        elif c == "[":
            end = pattern.index("]", i)
            out.append(f"[{pattern[i + 1:end]}]")
            i = end
        elif c.isdigit() or c == "+":
            out.append(re.escape(c))
        else:
            raise ValueError(f"{pattern!r}: {c!r} is not part of a number pattern "
                             "(digits, X, Z, N, [1-5], . and !)")
        i += 1
    return re.compile("".join(out))


def check_pattern(pattern: str) -> None:
    """Raises ValueError for a pattern that is not one (for the configuration's checks)."""
    _pattern(pattern)


def check_number(raw: str, rules: NumberRules) -> str:
    """The number to call back, normalised; raises NumberRefused saying why not."""
    number = normalise(raw)
    if not number:
        raise NumberRefused("no number: a hidden number must be keyed in")
    if not re.fullmatch(r"\+?[0-9]+", number):
        raise NumberRefused(f"{raw!r} is not a phone number (digits only)")
    if number.startswith("+"):
        if not rules.foreign:
            raise NumberRefused(f"{number} is a foreign number: only Swedish numbers are "
                                "called back")
        if not 8 <= len(number) <= 16:
            raise NumberRefused(f"{number} is not a whole international number")
        return number
    if not number.startswith("0"):
        raise NumberRefused(f"{number} has no area code: key the whole number, starting with 0")
    if number.startswith(PREMIUM):
        raise NumberRefused(f"{number} is a premium-rate number: never called back")
    low, high = NATIONAL_LENGTH
    if not low <= len(number) <= high:
        raise NumberRefused(f"{number} has {len(number)} digits: a Swedish number has "
                            f"{low} to {high}")
    if not any(_pattern(p).fullmatch(number) for p in rules.patterns):
        raise NumberRefused(f"{number} is not among the numbers called back "
                            f"({', '.join(rules.patterns)})")
    return number


def grouped(number: str) -> str:
    """A Swedish number as people write it: "070 123 45 67", "08 123 456"."""
    if number.startswith("+") or len(number) < 6:
        return number
    head = 3 if number.startswith("07") or not number.startswith("08") else 2
    rest = number[head:]
    pairs = [rest[max(i - 2, 0):i] for i in range(len(rest), 0, -2)][::-1]
    if len(pairs[0]) == 1 and len(pairs) > 1:  # "123 45 67", not "1 23 45 67"
        pairs[:2] = [pairs[0] + pairs[1]]
    return " ".join([number[:head], *pairs])


@dataclass(frozen=True, slots=True)
class CallbackPolicy:
    """A group's callback settings (the configuration's groups.*.callback)."""

    attempts: int = 3  # calls to the citizen at most
    spacing: float = 600.0  # seconds between attempts
    expires: float = 24 * 3600.0  # a request not reached by then ends as expired
    at_closing: str = "wait"  # "wait" for the next opening, or "expire"
    ring: float = 30.0  # seconds the citizen's phone rings
    target: float = 3600.0  # the callback service level: reached this soon after the request


class CallbackPhase(enum.Enum):
    PENDING = "pending"  # in line, or between attempts, or waiting for the group to open
    OFFERED = "offered"  # the agent's phone rings
    DIALLING = "dialling"  # the agent is on the line; the citizen's phone rings
    CONNECTED = "connected"
    ENDED = "ended"

    __hash__ = object.__hash__


class CallbackOutcome(enum.StrEnum):
    REACHED = "reached"  # an agent talked with the citizen
    FAILED = "failed"  # no attempt reached the citizen
    EXPIRED = "expired"
    CANCELLED = "cancelled"  # by a supervisor, or by a new call of the citizen's answered


# What a failed attempt says, in the words of telephony/port.py's reasons.
NOT_REACHED = frozenset({"busy", "no answer", "unreachable", "failed", "rejected",
                         "congestion", "hung up"})


@dataclass(slots=True)
class CallbackRequest:
    call_id: str  # the call it came from: a callback is a phase of that call
    group: str
    number: str  # normalised (check_number)
    language: str
    requested_at: float
    arrival: float  # the caller's place: their first arrival in a line
    attempts: int = 0
    due: float = 0.0  # no attempt before this
    phase: CallbackPhase = CallbackPhase.PENDING
    priority: int = 0  # a supervisor's "first in line"
    agent: str | None = None
    agent_leg: str | None = None  # our ChannelId of the agent's leg
    agent_channel: str | None = None  # its channel name, once it answered into AGI
    citizen_leg: str | None = None  # our ChannelId of the citizen's leg
    in_line: bool = False  # the router holds it (else: between attempts, or closed)
    outcome: CallbackOutcome | None = None
    results: list[str] = field(default_factory=list)  # each attempt's result, in order

    @property
    def pending(self) -> bool:
        return self.phase is CallbackPhase.PENDING


def after_attempt(request: CallbackRequest, policy: CallbackPolicy, now: float
                  ) -> float | None:
    """An attempt did not reach the citizen: when the next may start, or None when the
    attempts are used up (the request has failed)."""
    if request.attempts >= policy.attempts:
        return None
    due = now + policy.spacing
    if due >= request.requested_at + policy.expires:
        return None
    return due


def expired(request: CallbackRequest, policy: CallbackPolicy, now: float) -> bool:
    return request.pending and now >= request.requested_at + policy.expires


def reached_within(requested_at: float, reached_at: float, policy: CallbackPolicy) -> bool:
    """The callback service level: the citizen reached by an agent within the target."""
    return reached_at - requested_at <= policy.target
