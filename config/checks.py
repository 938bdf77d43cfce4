"""Checks of a whole configuration that no single value shows: references to things that do not
exist, menus nobody reaches, loops with no way out, dead ends, transfers outside the allowlist,
overflow chains that cycle, overlapping hours, prompts without a sound file or an English text."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

from config.errors import Problem
from config.schema import Action, IvrConfig, Menu
from config.yamlstrict import Document, Path_
from ivr.hours import eves, public_holidays


class _Report:
    def __init__(self, sections: dict[str, Document]) -> None:
        self.sections = sections
        self.problems: list[Problem] = []

    def add(self, path: Path_, message: str, severity: str = "error") -> None:
        doc = self.sections.get(str(path[0])) if path else None
        if doc is None:
            self.problems.append(Problem("(configuration)", 0, 0, message, severity))
        else:
            self.problems.append(doc.problem(path, message, severity))


def actions_of(name: str, menu: Menu) -> Iterator[tuple[Path_, Action | str]]:
    base: Path_ = ("menus", name)
    for key, option in menu.options.items():
        yield (*base, "options", key), option
    yield (*base, "on_timeout", "then"), menu.on_timeout.then
    yield (*base, "on_invalid", "then"), menu.on_invalid.then


def check(config: IvrConfig, sections: dict[str, Document], sounds: Path | None,
          now: dt.datetime | None = None) -> list[Problem]:
    """Every problem of the whole; `now` enables the checks of time (aware, or naive when it is
    already the centre's wall time)."""
    r = _Report(sections)
    local = None if now is None else now if now.tzinfo is None else config.local_time(now)
    if local is not None and config.crisis.active and config.crisis.expires is not None \
            and config.crisis.expires <= local:
        r.add(("crisis", "expires"), f"the crisis message is active but expired at "
                                     f"{config.crisis.expires:%Y-%m-%d %H:%M}: callers do not "
                                     "hear it; set active: false, or a later expiry", "warning")
    _references(config, r)
    _reachability(config, r)
    _overflow_cycles(config, r)
    _hours(config, r)
    _prompts(config, r, sounds)
    return r.problems


def _references(c: IvrConfig, r: _Report) -> None:
    def prompt(path: Path_, name: str | None) -> None:
        if name is not None and name not in c.prompts:
            r.add(path, f"prompt {name!r} is not defined under prompts:")

    def hours(path: Path_, name: str | None) -> None:
        if name is not None and name not in c.hours:
            r.add(path, f"hours {name!r} are not defined under hours:")

    def action(path: Path_, a: Action | str) -> None:
        if isinstance(a, str):
            return
        if a.group is not None and a.group not in c.groups:
            r.add((*path, "group"), f"group {a.group!r} is not defined under groups:")
        if a.callback is not None and a.callback not in c.groups:
            r.add((*path, "callback"), f"group {a.callback!r} is not defined under groups:")
        if a.menu is not None and a.menu not in c.menus:
            r.add((*path, "menu"), f"menu {a.menu!r} is not defined under menus:")
        if a.message is not None:
            prompt((*path, "message"), a.message)
            if a.then != "hangup" and a.then not in c.menus:
                r.add((*path, "then"), f"menu {a.then!r} is not defined under menus:")
        if a.transfer is not None and a.transfer not in c.transfer_allowlist:
            r.add((*path, "transfer"), f"{a.transfer} is not in transfer_allowlist: vaxel "
                                       "only transfers to numbers listed there")
        if a.on_failure is not None:
            way = a.on_failure
            if way.menu is not None or way.transfer is not None or way.language is not None \
                    or (way.message is not None and way.then != "hangup"):
                r.add((*path, "on_failure"), "after a failed transfer the caller goes to a "
                                             "group, a callback or a goodbye message")
            action((*path, "on_failure"), way)

    def duty(path: Path_, number: str | None) -> None:
        if number is not None and number not in c.duty_allowlist:
            r.add(path, f"{number} is not in duty_allowlist: a duty line only reaches numbers "
                        "listed there")

    for number, entry in c.numbers.items():
        duty(("numbers", number, "duty"), entry.duty)
        if entry.menu not in c.menus:
            r.add(("numbers", number, "menu"), f"menu {entry.menu!r} is not defined")
        hours(("numbers", number, "hours"), entry.hours)
        prompt(("numbers", number, "closed_prompt"), entry.closed_prompt)
        if entry.hours is not None and entry.closed_prompt is None:
            r.add(("numbers", number), "a number with opening hours needs a closed_prompt: "
                                       "callers must hear why nobody answers")
    for name, menu in c.menus.items():
        prompt(("menus", name, "prompt"), menu.prompt)
        prompt(("menus", name, "on_timeout", "prompt"), menu.on_timeout.prompt)
        prompt(("menus", name, "on_invalid", "prompt"), menu.on_invalid.prompt)
        for path, a in actions_of(name, menu):
            action(path, a)
    for name, group in c.groups.items():
        if group.max_waiting is not None and not group.overflow:
            r.add(("groups", name, "max_waiting"),
                  f"group {name!r} has max_waiting but no overflow rule: a caller who finds "
                  "the line full hears its full_prompt (else telephony.yaml's fallback "
                  "message) and is hung up; add an overflow rule (waiting_over to another "
                  "group or the partner)", "warning")
        hours(("groups", name, "hours"), group.hours)
        duty(("groups", name, "duty"), group.duty)
        prompt(("groups", name, "closed_prompt"), group.closed_prompt)
        prompt(("groups", name, "full_prompt"), group.full_prompt)
        if group.leave is not None:
            prompt(("groups", name, "leave", "prompt"), group.leave.prompt)
            action(("groups", name, "leave", "then"), group.leave.then)
        if group.callback is not None:
            prompt(("groups", name, "callback", "name_prompt"), group.callback.name_prompt)
            if group.leave is not None and group.leave.key == group.callback.key:
                r.add(("groups", name, "callback", "key"),
                      f"key {group.callback.key!r} both leaves the line (leave.key) and asks "
                      "for a callback: give each its own key")
        for i, rule in enumerate(group.overflow):
            if rule.to != "partner" and rule.to not in c.groups:
                r.add(("groups", name, "overflow", i, "to"),
                      f"overflow to {rule.to!r}: not a group, and not 'partner'")
    for agent_id, agent in c.agents.items():
        for gid in agent.groups:
            if gid not in c.groups:
                r.add(("agents", agent_id, "groups", gid), f"group {gid!r} is not defined")
    staffed = {gid for a in c.agents.values() for gid in a.groups}
    for name, group in c.groups.items():
        if name not in staffed and not any(rule.when == "no_agents" for rule in group.overflow):
            r.add(("groups", name), f"group {name!r} has no agents and no no_agents overflow "
                                    "rule: its callers would wait for nobody", "warning")
    if c.crisis.prompt is not None:
        prompt(("crisis", "prompt"), c.crisis.prompt)
    prompt(("overload", "prompt"), c.overload.prompt)
    if c.overload.group is not None and c.overload.group not in c.groups:
        r.add(("overload", "group"), f"group {c.overload.group!r} is not defined")
    _users(c, r)


def _users(c: IvrConfig, r: _Report) -> None:
    tokens: dict[str, str] = {}
    for name, user in c.users.items():
        if user.agent is not None and user.agent not in c.agents:
            r.add(("users", name, "agent"), f"agent {user.agent!r} is not defined (agents:)")
        if user.token_sha256 is not None:
            if user.token_sha256 in tokens:
                r.add(("users", name, "token_sha256"),
                      f"the same API token as user {tokens[user.token_sha256]!r}")
            tokens[user.token_sha256] = name
    seen: set[str] = set()
    for i, reason in enumerate(c.web.pause_reasons):
        if reason.casefold() in seen:
            r.add(("web", "pause_reasons", i), f"pause reason {reason!r} twice")
        seen.add(reason.casefold())


def _targets(a: Action | str, current: str) -> list[str]:
    """The menus an action leads to (repeat: the same one)."""
    if a == "repeat" or (isinstance(a, Action) and a.language is not None):
        return [current]
    if isinstance(a, Action):
        if a.menu is not None:
            return [a.menu]
        if a.message is not None and a.then != "hangup":
            return [a.then]
    return []


def _leaves(a: Action | str) -> bool:
    """Whether an action ends the IVR (a line, a callback, a transfer, or a message then bye)."""
    return isinstance(a, Action) and (
        a.group is not None or a.callback is not None or a.transfer is not None
        or (a.message is not None and a.then == "hangup"))


def _reachability(c: IvrConfig, r: _Report) -> None:
    edges: dict[str, set[str]] = {}
    exits: set[str] = set()
    parents: dict[str, set[str]] = {}
    for name, menu in c.menus.items():
        edges[name] = set()
        for _, a in actions_of(name, menu):
            for t in _targets(a, name):
                if t in c.menus:
                    edges[name].add(t)
                    if t != name:
                        parents.setdefault(t, set()).add(name)
            if _leaves(a):
                exits.add(name)
    entries = {e.menu for e in c.numbers.values() if e.menu in c.menus}
    reached, todo = set(entries), list(entries)
    while todo:
        for t in edges[todo.pop()]:
            if t not in reached:
                reached.add(t)
                todo.append(t)
    for name in c.menus:
        if name not in reached:
            r.add(("menus", name), f"menu {name!r} is unreachable: no number or option leads "
                                   "to it")
    # the menus from which some path leads out of the IVR
    out, changed = set(exits), True
    while changed:
        changed = False
        for name, targets in edges.items():
            if name not in out and targets & out:
                out.add(name)
                changed = True
    for name in sorted(reached - out):
        r.add(("menus", name), f"menu {name!r} is a dead end: no path from it reaches a "
                               "group, a callback, a transfer or a goodbye message")
    for name in sorted(reached):
        # a caller who never presses a key must still get somewhere
        seen, current = [name], name
        while True:
            then = c.menus[current].on_timeout.then
            nxt = then.menu if then.menu is not None else (
                then.then if then.message is not None and then.then != "hangup" else None)
            if nxt is None or nxt not in c.menus:
                break
            if nxt in seen:
                r.add(("menus", name, "on_timeout", "then"),
                      f"a caller who presses nothing loops for ever: "
                      f"{' -> '.join([*seen, nxt])}")
                break
            seen.append(nxt)
            current = nxt
    for name in sorted(entries):
        for path, a in actions_of(name, c.menus[name]):
            if a == "back" and not parents.get(name):
                r.add(path, f"'back' in {name!r} leads nowhere: it is an entry menu")


def _overflow_cycles(c: IvrConfig, r: _Report) -> None:
    graph = {g: [rule.to for rule in grp.overflow if rule.to in c.groups]
             for g, grp in c.groups.items()}
    state: dict[str, int] = {}
    reported: set[frozenset[str]] = set()

    def visit(g: str, stack: list[str]) -> None:
        state[g] = 1
        for nxt in graph[g]:
            if state.get(nxt) == 1:
                cycle = [*stack[stack.index(nxt):], nxt]
                if frozenset(cycle) not in reported:
                    reported.add(frozenset(cycle))
                    r.add(("groups", g, "overflow"),
                          f"overflow chain cycles: {' -> '.join(cycle)}")
            elif nxt not in state:
                visit(nxt, [*stack, nxt])
        state[g] = 2

    for g in graph:
        if g not in state:
            visit(g, [g])


def _hours(c: IvrConfig, r: _Report) -> None:
    from ivr.hours import DAYS

    for name, h in c.hours.items():
        per_day: dict[int, list[tuple[str, tuple[dt.time, dt.time]]]] = {}
        for spec, ranges in h.weekly.items():
            a, _, b = spec.partition("-")
            first, last = DAYS.index(a), DAYS.index(b or a)
            for day in range(first, last + 1):
                for rng in ranges:
                    for other_spec, other in per_day.get(day, []):
                        if rng[0] < other[1] and other[0] < rng[1]:
                            r.add(("hours", name, "weekly", spec),
                                  f"{DAYS[day]}: {_fmt(rng)} overlaps {_fmt(other)} "
                                  f"(from {other_spec!r})")
                    per_day.setdefault(day, []).append((spec, rng))
        for date in h.exceptions:
            rule = None
            if h.holidays == "closed" and date in public_holidays(date.year):
                rule = f"{public_holidays(date.year)[date]} (holidays: closed)"
            elif h.eves == "closed" and date in eves(date.year):
                rule = f"{eves(date.year)[date]} (eves: closed)"
            if rule:
                r.add(("hours", name, "exceptions", date.isoformat()),
                      f"{date} is {rule} and also an exception: two rules for one day; the "
                      "exception would win, so say it once")


def _fmt(rng: tuple[dt.time, dt.time]) -> str:
    return f"{rng[0]:%H:%M}-{rng[1]:%H:%M}"


def _prompts(c: IvrConfig, r: _Report, sounds: Path | None) -> None:
    english = any(isinstance(a, Action) and a.language == "en"
                  for name, m in c.menus.items() for _, a in actions_of(name, m)) or any(
        e.language == "en" for e in c.numbers.values())
    for name, text in c.prompts.items():
        if english and text.en is None:
            r.add(("prompts", name), f"prompt {name!r} has no English text, but callers can "
                                     "choose English")
    if sounds is None:
        return
    from config.soundset import status, wanted

    missing, stale = status(sounds, wanted(c))
    for key in missing + stale:
        name = key.partition("/")[2]
        path: Path_ = ("prompts", name) if name in c.prompts else ()
        why = "is missing" if key in missing else "says an older text"
        r.add(path, f"sound {key} under {sounds} {why}: run `vaxel sounds build`")
