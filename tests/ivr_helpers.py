"""A scripted call I/O for IVR tests: the caller's keys and silences, in order."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Got:
    keys: str
    timed_out: bool


class Hangup(Exception):
    pass


@dataclass
class ScriptedCall:
    """`answers`: one per menu offer: a key pressed (during or after the prompt) or None for
    silence; running out of answers means the caller hangs up."""

    answers: list[str | None]
    played: list[str] = field(default_factory=list)  # every prompt, in order
    language: list[str] = field(default_factory=list)
    t: float = 0.0

    def clock(self) -> float:
        return self.t

    async def get_digits(self, prompt, max_digits, timeout, length=0.0):
        self.played.append(prompt)
        if not self.answers:
            raise Hangup()
        key = self.answers.pop(0)
        self.t += 2.0 if key else timeout
        return Got(key or "", key is None)

    async def play(self, prompt, escape="", length=0.0):
        self.played.append(prompt)
        self.t += 1.0
        return None

    async def set_language(self, language):
        self.language.append(language)
