"""The IVR interpreter: runs an entry's menus for one caller over an abstract call I/O.

Pure in the sense that matters: it does no I/O of its own (everything goes through `io`), reads
no clock (the moment of the call and a monotonic `clock` come in), and holds no state between
calls. It returns where the caller goes and the path they took (keys, timings, retries) for the
call log. A caller who hangs up surfaces as whatever exception the call I/O raises for it.

Each menu is offered with one GET DATA-like request (`get_digits` with one key): the prompt
plays, a key pressed during it stops it (barge-in), and the wait for a key runs on without a gap
in which a key could be lost.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from ivr.model import Action, Option, Plan

MAX_STEPS = 40  # a caller wandering this long is sent where silence would send them


class Digits(Protocol):
    @property
    def keys(self) -> str: ...

    @property
    def timed_out(self) -> bool: ...


class CallIO(Protocol):
    async def get_digits(self, prompt: str, max_digits: int, timeout: float,
                         length: float = 0.0) -> Digits: ...
    async def play(self, prompt: str, escape: str = ..., length: float = 0.0) -> str | None: ...
    async def set_language(self, language: str) -> None: ...


def sound(name: str, language: str) -> str:
    """The Asterisk sound name of a prompt: sounds/<lang>/<name>.wav installed as vaxel/."""
    return f"vaxel/{language}/{name}"


@dataclass(frozen=True, slots=True)
class Step:
    at: float  # seconds since the IVR started
    menu: str
    event: str  # key, timeout, invalid, repeat, back, language, message, crisis, closed
    key: str | None = None


@dataclass(frozen=True, slots=True)
class Outcome:
    kind: str  # group, callback, transfer, duty, message (then goodbye), closed
    target: str | None  # the group, number or prompt
    language: str
    path: tuple[Step, ...] = field(default=())
    # a transfer's or a duty line's way on if it fails: a group, a callback or a message
    # (None: the fallback message)
    fallback: Action | None = None

    @property
    def keys(self) -> str:
        return "".join(s.key or "" for s in self.path if s.event == "key")


async def run_ivr(plan: Plan, number: str, io: CallIO, now: dt.datetime,
                  clock: Callable[[], float], *, crisis_switch: bool = False,
                  on_step: Callable[[Step, tuple[str, ...]], None] | None = None,
                  manual: Mapping[str, bool] | None = None) -> Outcome:
    """One caller through the menus. The crisis message plays while the configuration says so
    (crisis.active, until crisis.expires) or while the crisis switch is on. `on_step` hears
    each step as it happens, with the menus from the entry's down to the step's. `manual`:
    groups a supervisor set open (True) or closed (False) whatever their hours."""
    entry = plan.numbers[number]
    start = clock()
    path: list[Step] = []
    lang = entry.language

    def log(menu: str, event: str, key: str | None = None) -> None:
        step = Step(round(clock() - start, 3), menu, event, key)
        path.append(step)
        if on_step is not None:
            on_step(step, tuple(stack))

    stack = [entry.menu]
    if lang != "sv":
        await io.set_language(lang)
    if entry.hours is not None and not entry.hours.is_open(now):
        log(entry.menu, "closed")
        if entry.duty is not None:  # the duty phone instead of the closed message
            return Outcome("duty", entry.duty, lang, tuple(path), _said(entry.closed_prompt))
        if entry.closed_prompt:
            await io.play(sound(entry.closed_prompt, lang), escape="")
        return Outcome("closed", number, lang, tuple(path))
    if (plan.crisis.playing(now) or crisis_switch) and plan.crisis.prompt:
        log(entry.menu, "crisis")
        await io.play(sound(plan.crisis.prompt, lang), escape="")

    timeouts = invalids = 0
    for step in range(MAX_STEPS + len(plan.menus) + 1):
        name = stack[-1]
        menu = plan.menus[name]
        option: Action | str
        if step >= MAX_STEPS:
            # wandering too long: go where silence goes (checks guarantee it leads out)
            log(name, "timeout")
            option = menu.on_timeout.then
        else:
            got = await io.get_digits(sound(menu.prompt, lang), 1, menu.timeout)
            key = got.keys[:1]
            if not key:
                timeouts += 1
                log(name, "timeout")
                if timeouts <= menu.on_timeout.retries:
                    if menu.on_timeout.prompt:
                        await io.play(sound(menu.on_timeout.prompt, lang), escape="")
                    continue
                option = menu.on_timeout.then
            elif key not in menu.options:
                invalids += 1
                log(name, "invalid", key)
                if invalids <= menu.on_invalid.retries:
                    if menu.on_invalid.prompt:
                        await io.play(sound(menu.on_invalid.prompt, lang), escape="")
                    continue
                option = menu.on_invalid.then
            else:
                option = menu.options[key]
                log(name, "key", key)
        if option == "repeat":
            continue
        if option == "back":
            if len(stack) > 1:
                stack.pop()
                timeouts = invalids = 0
            continue
        assert isinstance(option, Action)
        if option.language is not None:
            lang = option.language
            await io.set_language(lang)
            log(name, "language", lang)
            continue
        if option.menu is not None:
            stack.append(option.menu)
            timeouts = invalids = 0
            continue
        if option.message is not None:
            log(name, "message", option.message)
            await io.play(sound(option.message, lang), escape="")
            if option.then == "hangup":
                return Outcome("message", option.message, lang, tuple(path))
            stack.append(option.then)
            timeouts = invalids = 0
            continue
        if option.transfer is not None:
            return Outcome("transfer", option.transfer, lang, tuple(path),
                           option.on_failure or _way_on(menu.on_timeout.then))
        gid = option.group or option.callback
        assert gid is not None
        group = plan.groups[gid]
        is_open = (manual or {}).get(gid)
        if is_open is None:
            is_open = group.hours is None or group.hours.is_open(now)
        if not is_open:
            log(name, "closed", gid)
            if group.duty is not None:
                return Outcome("duty", group.duty, lang, tuple(path),
                               _said(group.closed_prompt))
            if group.closed_prompt:
                await io.play(sound(group.closed_prompt, lang), escape="")
            return Outcome("closed", gid, lang, tuple(path))
        return Outcome("group" if option.group is not None else "callback", gid, lang,
                       tuple(path))
    raise AssertionError("unreachable: config checks guarantee silence leads out of the IVR")


def _said(prompt: str | None) -> Action | None:
    return Action(message=prompt) if prompt else None


def _way_on(action: Option) -> Action | None:
    """A menu's way on for a failed transfer: its silence's action, if that leaves the menus
    (a group, a callback, a goodbye message); else None (the fallback message)."""
    if isinstance(action, Action) and (action.group or action.callback or (
            action.message and action.then == "hangup")):
        return action
    return None
