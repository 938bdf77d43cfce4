"""The configuration in words: the menu tree with every path to a group, and the difference
between two versions (for `vaxel check --tree` and `--diff`)."""

from __future__ import annotations

from config.durations import format_duration
from config.schema import Action, IvrConfig


def _action(a: Action | str, c: IvrConfig) -> str:
    if isinstance(a, str):
        return a
    if a.group is not None:
        return f"group {a.group} ({c.groups[a.group].name})" if a.group in c.groups else \
            f"group {a.group}"
    if a.callback is not None:
        return f"callback from {a.callback}"
    if a.menu is not None:
        return f"menu {a.menu}"
    if a.message is not None:
        return f"message {a.message}, then {a.then}"
    if a.transfer is not None:
        return f"transfer to {a.transfer}"
    return f"language {a.language}"


def tree(c: IvrConfig) -> str:
    lines: list[str] = []
    paths: dict[str, list[str]] = {}

    def walk(name: str, indent: str, keys: list[str], seen: tuple[str, ...]) -> None:
        menu = c.menus[name]
        lines.append(f"{indent}menu {name} (prompt {menu.prompt}, waits "
                     f"{format_duration(menu.timeout)})")
        entries = [(k, o) for k, o in menu.options.items()]
        entries += [("timeout", menu.on_timeout.then), ("invalid", menu.on_invalid.then)]
        tries = {"timeout": 1 + menu.on_timeout.retries, "invalid": 1 + menu.on_invalid.retries}
        for key, option in entries:
            label = key if len(key) == 1 else f"{key} x{tries[key]}"
            lines.append(f"{indent}  {label} -> {_action(option, c)}")
            if isinstance(option, Action):
                gid = option.group or option.callback
                if gid is not None:
                    how = "" if option.group else " (callback)"
                    paths.setdefault(gid, []).append(" ".join([*keys, label]) + how)
                nxt = option.menu or (option.then if option.message and option.then != "hangup"
                                      else None)
                if nxt is not None and nxt in c.menus and nxt not in seen:
                    walk(nxt, indent + "     ", [*keys, label], (*seen, nxt))

    for number, entry in c.numbers.items():
        hours = f", hours {entry.hours}" if entry.hours else ", always open"
        lines.append(f"number {number} ({entry.language}{hours})")
        walk(entry.menu, "  ", [number], (entry.menu,))
    lines.append("")
    lines.append("paths to each group:")
    for gid in c.groups:
        found = paths.get(gid, [])
        lines.append(f"  {gid}: " + ("; ".join(found) if found else "no path from the menus"))
    return "\n".join(lines) + "\n"


def _flat(value: object, prefix: str) -> dict[str, object]:
    if isinstance(value, dict):
        out: dict[str, object] = {}
        for k, v in value.items():
            out.update(_flat(v, f"{prefix}.{k}" if prefix else str(k)))
        return out
    return {prefix: value}


_WORD = {"numbers": "number", "menus": "menu", "groups": "group", "hours": "hours",
         "prompts": "prompt", "agents": "agent"}
_DURATIONS = {"threshold", "wrap_up", "timeout", "expected_handle_time", "limit"}


def _value(field_: str, v: object) -> str:
    if field_ in _DURATIONS and isinstance(v, int | float):
        return format_duration(float(v))
    if isinstance(v, list):
        return ", ".join("-".join(str(x)[:5] for x in r) if isinstance(r, list) else str(r)
                         for r in v) or "closed"
    return str(v)


def diff(old: IvrConfig, new: IvrConfig) -> list[str]:
    """The difference in words, one line per change: what was added or removed, then each
    setting that changed, named by where it is ("menu huvudmeny: option 1: group a -> b")."""
    out = []
    for section, word in _WORD.items():
        old_keys, new_keys = set(getattr(old, section)), set(getattr(new, section))
        out += [f"{word} {k} added" for k in sorted(new_keys - old_keys)]
        out += [f"{word} {k} removed" for k in sorted(old_keys - new_keys)]
    for section in ("numbers", "menus", "groups", "hours", "prompts", "agents"):
        for item in sorted(set(getattr(old, section)) & set(getattr(new, section))):
            if section == "menus":
                out += _menu_diff(item, old, new)
                continue
            a = _flat(getattr(old, section)[item].model_dump(mode="json"), "")
            b = _flat(getattr(new, section)[item].model_dump(mode="json"), "")
            for key in sorted(a.keys() | b.keys()):
                if a.get(key) != b.get(key):
                    last = key.split(".")[-1]
                    where = key.replace(".", " ")
                    before = _value(last, a[key]) if key in a else "(none)"
                    after = _value(last, b[key]) if key in b else "(none)"
                    out.append(f"{_WORD[section]} {item}: {where}: {before} -> {after}")
    for field_ in ("crisis", "partner", "transfer_allowlist"):
        if getattr(old, field_) != getattr(new, field_):
            out.append(f"{field_}: {getattr(old, field_)} -> {getattr(new, field_)}")
    return out


def _menu_diff(name: str, old: IvrConfig, new: IvrConfig) -> list[str]:
    a, b = old.menus[name], new.menus[name]
    out = []
    for key in sorted(a.options.keys() | b.options.keys()):
        if key not in b.options:
            out.append(f"menu {name}: option {key} removed (was {_action(a.options[key], old)})")
        elif key not in a.options:
            out.append(f"menu {name}: option {key} added: {_action(b.options[key], new)}")
        elif a.options[key] != b.options[key]:
            out.append(f"menu {name}: option {key}: {_action(a.options[key], old)} -> "
                       f"{_action(b.options[key], new)}")
    for field_ in ("prompt", "timeout", "on_timeout", "on_invalid"):
        va, vb = getattr(a, field_), getattr(b, field_)
        if va != vb:
            if field_ in ("on_timeout", "on_invalid"):
                va = f"{va.retries} retries, then {_action(va.then, old)}"
                vb = f"{vb.retries} retries, then {_action(vb.then, new)}"
            out.append(f"menu {name}: {field_}: {_value(field_, va)} -> {_value(field_, vb)}")
    return out
