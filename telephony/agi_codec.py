"""AsyncAGI text formats, sans I/O: the URL-encoded `Env` of AsyncAGIStart, the `Result` of
AsyncAGIExec, and AGI command lines.

A result line reads `200 result=51 endpos=10560`, `200 result= (timeout)`, `200 result=1 (BUSY)`,
`200 result=-1 endpos=0`, or `510 Invalid or unknown command`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import unquote

from telephony.errors import HeaderInjection

_RESULT = re.compile(r"^(?P<code>\d{3})(?: result=(?P<result>\S*))?(?: \((?P<data>[^)]*)\))?"
                     r"(?P<rest>.*)$")


@dataclass(frozen=True, slots=True)
class AgiResult:
    code: int
    result: str  # as sent: "51", "12", "", "-1"
    data: str = ""  # the parenthesised part: "timeout", "BUSY"
    extra: dict[str, str] = field(default_factory=dict)  # endpos=10560
    text: str = ""  # the whole line, for logs

    @property
    def ok(self) -> bool:
        return self.code == 200

    @property
    def hung_up(self) -> bool:
        """The channel hung up (or left AGI) during the command."""
        return self.code == 200 and self.result == "-1"

    @property
    def timed_out(self) -> bool:
        return self.data == "timeout"

    @property
    def number(self) -> int:
        return int(self.result) if self.result.lstrip("-").isdigit() else 0

    @property
    def digit(self) -> str | None:
        """STREAM FILE / WAIT FOR DIGIT report a key as its ASCII code; 0 means none."""
        n = self.number
        return chr(n) if n > 0 else None


def parse_result(encoded: str) -> AgiResult:
    """Parses the URL-encoded `Result` header of AsyncAGIExec."""
    text = unquote(encoded).strip()
    m = _RESULT.match(text)
    if m is None:
        return AgiResult(0, "", text=text)
    extra = {}
    for part in m.group("rest").split():
        k, sep, v = part.partition("=")
        if sep:
            extra[k] = v
    return AgiResult(int(m.group("code")), m.group("result") or "", m.group("data") or "",
                     extra, text)


def parse_env(encoded: str) -> dict[str, str]:
    """The `Env` of AsyncAGIStart: URL-encoded `agi_name: value` lines."""
    env = {}
    for line in unquote(encoded).splitlines():
        k, sep, v = line.partition(": ")
        if sep:
            env[k] = v
    return env


def quote_arg(arg: str) -> str:
    """One AGI command argument, quoted; refuses line breaks and quotes that would end it."""
    if any(c in arg for c in '\r\n"'):
        raise HeaderInjection("AGI argument", arg)
    return f'"{arg}"'
