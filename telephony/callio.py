"""Call I/O over AsyncAGI: what the IVR and the queue do to one caller, through the AMI link.

Follows FACTS.md: keys are read only while a command runs (type-ahead is lost), so every prompt
that expects a key plays with STREAM FILE and its escape digits; hold music is SET MUSIC ON then
WAIT FOR DIGIT slices (EXEC MusicOnHold would ignore keys); a missing prompt would end the AGI
session, so prompts are checked before they are played; the lease (TIMEOUT(absolute)) is renewed
with AMI Setvar, which applies at once even while a long command runs.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass

from telephony.agi_codec import AgiResult, quote_arg
from telephony.ami_link import AmiLink
from telephony.errors import (
    ActionFailed,
    ActionTimeout,
    ConnectionLost,
    LeftAgi,
    NotConnected,
    TelephonyError,
)

ALL_KEYS = "0123456789*#"
SLACK = 30.0  # seconds an AGI result may come later than the command's own length


class CallerGone(TelephonyError):
    """The caller hung up, or the channel left AGI (Redirect, bridge, lease)."""


class LinkFault(TelephonyError):
    """The AMI link failed under the command (dropped, down, or no answer in time): the
    caller is still there, in AGI, and the command's outcome is unknown. Not the caller's
    doing: the controller takes the call up again after the resync."""


class PromptMissing(TelephonyError):
    """A prompt that does not exist: playing it would end the caller's AGI session."""


class AgiCommandFailed(TelephonyError):
    """Asterisk answered an AGI command with a code other than 200 (our fault)."""


@dataclass(frozen=True, slots=True)
class Digits:
    keys: str
    timed_out: bool


class AgiCallIO:
    def __init__(self, link: AmiLink, channel: str, *,
                 prompt_exists: Callable[[str], bool] | None = None) -> None:
        self.link = link
        self.channel = channel
        self._prompt_exists = prompt_exists

    async def _run(self, command: str, expected: float = 0.0) -> AgiResult:
        try:
            result = await self.link.agi(self.channel, command, timeout=expected + SLACK)
        except LeftAgi as err:
            raise CallerGone(f"{self.channel}: {err}") from err
        except (ConnectionLost, NotConnected, ActionTimeout) as err:
            raise LinkFault(f"{self.channel}: {err}") from err
        except ActionFailed as err:
            # "Channel X does not exist." / "Failed to add AGI command to channel X queue"
            raise CallerGone(f"{self.channel}: {err.message}") from err
        if result.hung_up:
            raise CallerGone(f"{self.channel} hung up during {command.split()[0]}")
        if not result.ok:
            raise AgiCommandFailed(f"{command!r} on {self.channel}: {result.text}")
        return result

    def _check(self, prompt: str) -> None:
        if self._prompt_exists is not None and not self._prompt_exists(prompt):
            raise PromptMissing(f"prompt {prompt!r} does not exist; not played to "
                                f"{self.channel}")

    async def answer(self) -> None:
        await self._run("ANSWER")

    async def play(self, prompt: str, escape: str = ALL_KEYS, length: float = 0.0
                   ) -> str | None:
        """Plays a prompt; a key in `escape` stops it (barge-in) and is returned."""
        self._check(prompt)
        result = await self._run(f"STREAM FILE {prompt} {quote_arg(escape)}", length)
        return result.digit

    async def get_digits(self, prompt: str, max_digits: int, timeout: float,
                         length: float = 0.0) -> Digits:
        """Plays a prompt and collects up to max_digits keys; # ends early; `timeout` seconds
        after the prompt or the last key ends it."""
        self._check(prompt)
        result = await self._run(f"GET DATA {prompt} {round(timeout * 1000)} {max_digits}",
                                 length + timeout * (max_digits + 1))
        return Digits(result.result, result.timed_out)

    async def wait_digit(self, timeout: float) -> str | None:
        result = await self._run(f"WAIT FOR DIGIT {round(timeout * 1000)}", timeout)
        return result.digit

    async def say_number(self, number: int) -> None:
        await self._run(f'SAY NUMBER {number} ""', 5.0)

    async def say_digits(self, digits: str) -> None:
        if not digits.isdigit():
            raise ValueError(f"SAY DIGITS takes digits only, not {digits!r}")
        await self._run(f'SAY DIGITS {digits} ""', len(digits))

    async def hold(self, seconds: float, escape: str = ALL_KEYS, moh_class: str = "default"
                   ) -> str | None:
        """One slice of music on hold that listens for keys; returns a key in `escape`, or None
        when the slice ran out. The music keeps playing between slices until stop_hold()."""
        await self._run(f"SET MUSIC ON {moh_class}")
        while True:
            key = await self.wait_digit(seconds)
            if key is None or key in escape:
                return key

    async def music_on(self, moh_class: str = "default") -> None:
        """Music on hold that plays on while the channel idles in AGI (until a bridge or
        stop_hold): for a leg that waits with no key to listen for."""
        await self._run(f"SET MUSIC ON {moh_class}")

    async def stop_hold(self) -> None:
        await self._run("SET MUSIC OFF")

    async def get_variable(self, name: str) -> str | None:
        result = await self._run(f"GET VARIABLE {name}")
        return result.data if result.number == 1 else None

    async def set_language(self, language: str) -> None:
        if not language.isalpha():
            raise ValueError(f"not a language code: {language!r}")
        await self._run(f"SET VARIABLE CHANNEL(language) {language}")

    async def hangup(self) -> None:
        with contextlib.suppress(CallerGone):  # already gone: the same outcome
            await self._run("HANGUP")

    async def renew_lease(self, seconds: float) -> None:
        """Arms or renews the dead-man lease. Never call it on a bridged caller: a lease armed
        while bridged hangs the caller up when it runs out (FACTS)."""
        await self.link.action("Setvar", self._lease(seconds))

    def renew_lease_nowait(self, seconds: float) -> bool:
        """The same, without waiting for Asterisk's answer (the periodic renewal: a lost one is
        made good by the next). False if the link is down."""
        return self.link.send("Setvar", self._lease(seconds))

    def _lease(self, seconds: float) -> list[tuple[str, str]]:
        return [("Channel", self.channel), ("Variable", "TIMEOUT(absolute)"),
                ("Value", f"{seconds:g}")]

    async def clear_lease(self) -> None:
        await self.renew_lease(0)
