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


def diff(old: IvrConfig, new: IvrConfig) -> list[str]:
    """The difference in words, one line per change, grouped by what changed."""
    a = _flat(old.model_dump(mode="json"), "")
    b = _flat(new.model_dump(mode="json"), "")
    out = []
    sections = {"numbers": "number", "menus": "menu", "groups": "group", "hours": "hours",
                "prompts": "prompt", "agents": "agent"}
    for section, word in sections.items():
        old_keys, new_keys = set(getattr(old, section)), set(getattr(new, section))
        out += [f"{word} {k} added" for k in sorted(new_keys - old_keys)]
        out += [f"{word} {k} removed" for k in sorted(old_keys - new_keys)]
    for key in sorted(a.keys() | b.keys()):
        section, _, rest = key.partition(".")
        item = rest.split(".")[0] if section in sections else None
        if item is not None and (item not in getattr(old, section)
                                 or item not in getattr(new, section)):
            continue  # covered by added/removed
        if a.get(key) != b.get(key):
            if key not in a:
                out.append(f"{key}: added ({b[key]!r})")
            elif key not in b:
                out.append(f"{key}: removed (was {a[key]!r})")
            else:
                out.append(f"{key}: {a[key]!r} -> {b[key]!r}")
    return out
