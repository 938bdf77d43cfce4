"""Durations as administrators write them: "90s", "2m", "1h30m", "1.5h", "90d". A bare number is
refused: "is 90 seconds or minutes?" should never be a guess."""

from __future__ import annotations

import re

_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_UNIT = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(text: object) -> float:
    """Seconds in a duration string; ValueError saying what is valid otherwise."""
    if isinstance(text, bool) or not isinstance(text, str):
        raise ValueError(
            f"a duration must be a string with a unit such as \"90s\", \"2m\" or \"1h30m\", "
            f"not {text!r}"
        )
    s = text.strip().replace(" ", "")
    pos, total = 0, 0.0
    for match in _PART.finditer(s):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _UNIT[match.group(2)]
        pos = match.end()
    if pos != len(s) or not s:
        raise ValueError(f"{text!r} is not a duration; write e.g. \"90s\", \"2m\" or \"1h30m\"")
    return total


def format_duration(seconds: float) -> str:
    s = round(seconds)
    minutes, sec = divmod(s, 60)
    if minutes and sec:
        return f"{minutes}m{sec}s"
    return f"{minutes}m" if minutes else f"{sec}s"
