"""The directory (katalog): the people and functions of the municipality a call can go on to.

It lives in the configuration as a `directory:` section (any *.yaml of the folder, `katalog.yaml`
by custom), checked, versioned and rolled back like the rest. Municipalities export it from their
HR or AD system as CSV: `vaxel directory import katalog.csv` (`import_csv` here) turns the export
into that section, naming every bad row by file:line.

Search is as an agent types (`search`): each word of the query must begin a word of the entry's
name, department or title; surname matches first, then first names, then departments and titles;
ties in Swedish order (`swedish_key`: å, ä, ö after z; é as e, ü as y), as a Swedish reader
expects a list of names.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, TypeVar

from config.errors import ConfigError, Problem
from queues.callback import normalise

_SWEDISH = str.maketrans({"å": "{", "ä": "|", "ö": "}", "æ": "|", "ø": "}", "ü": "y", "w": "v"})
_WORD = re.compile(r"[\w]+(?:-[\w]+)*")
_NUMBER = re.compile(r"^\+?[0-9]{2,20}$")
_ID = re.compile(r"[^a-z0-9]+")


class Entry(Protocol):
    """What the search reads of an entry (config/schema.py's DirectoryEntry)."""

    @property
    def name(self) -> str: ...
    @property
    def department(self) -> str: ...
    @property
    def title(self) -> str: ...


def swedish_key(text: str) -> str:
    """Sorts as a Swedish reader expects: a-z, then å, ä, ö; accents as their letter (é, è
    as e), ü as y, w with v."""
    lowered = text.casefold().translate(_SWEDISH)
    plain = unicodedata.normalize("NFKD", lowered)
    return "".join(c for c in plain if not unicodedata.combining(c))


def _words(text: str) -> list[str]:
    return [swedish_key(w) for w in _WORD.findall(text)]


def _match(query: list[str], entry: Entry) -> int | None:
    """How well an entry matches (lower is better), or None: every query word must begin a
    word of the entry. 0: a query word begins the surname (the name's last word); 1: the first
    name; 2: another word of the name; 3: the department or the title."""
    name = _words(entry.name)
    rest = _words(entry.department) + _words(entry.title)
    best = 3
    for q in query:
        ranks = [0 if i == len(name) - 1 and i > 0 else 1 if i == 0 else 2
                 for i, w in enumerate(name) if w.startswith(q)]
        if ranks:
            best = min(best, *ranks)
        elif not any(w.startswith(q) for w in rest):
            return None
    return best


E = TypeVar("E", bound=Entry)


def search(entries: Mapping[str, E], query: str, limit: int = 20) -> list[tuple[str, E]]:
    """The entries the query finds, best first (see the module's docstring); the whole
    directory in Swedish order for an empty query."""
    words = _words(query)
    found = []
    for entry_id, entry in entries.items():
        rank = _match(words, entry) if words else 3
        if rank is not None:
            surname = entry.name.split()[-1] if entry.name.split() else ""
            found.append((rank, swedish_key(surname), swedish_key(entry.name), entry_id, entry))
    found.sort(key=lambda f: f[:4])
    return [(entry_id, entry) for *_, entry_id, entry in found[:limit]]


# ---- importing an HR / AD export ---------------------------------------------------------------

# the columns an export may have, in Swedish or English (AD's attribute names too), lower case
COLUMNS = {
    "id": ("id", "samaccountname", "anställningsnummer", "användarnamn", "username"),
    "name": ("namn", "name", "displayname", "visningsnamn", "fullständigt namn"),
    "first": ("förnamn", "givenname", "first_name", "first name", "firstname"),
    "last": ("efternamn", "sn", "surname", "last_name", "last name", "lastname"),
    "department": ("förvaltning", "avdelning", "enhet", "department", "unit"),
    "title": ("titel", "befattning", "title"),
    "number": ("telefon", "telefonnummer", "nummer", "number", "telephonenumber", "phone",
               "mobil", "mobile"),
    "absence": ("frånvaro", "absence", "info", "meddelande"),
    "function": ("funktion", "function"),
}


@dataclass(frozen=True)
class Row:
    entry_id: str
    name: str
    department: str
    title: str
    number: str
    absence: str
    function: bool
    line: int


def _decode(raw: bytes) -> str:
    """UTF-8 (with or without a byte order mark), else Windows-1252, as Excel saves CSV."""
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return raw.decode("cp1252")


def _slug(text: str) -> str:
    plain = unicodedata.normalize("NFKD", text.casefold())
    ascii_ = "".join(c for c in plain if not unicodedata.combining(c))
    return _ID.sub("-", ascii_).strip("-")[:60] or "post"


def read_csv(raw: bytes, display: str) -> list[Row]:
    """The rows of an export; raises ConfigError naming every bad row (file:line)."""
    text = _decode(raw)
    try:
        dialect: type[csv.Dialect] | csv.Dialect = csv.Sniffer().sniff(
            text.split("\n", 1)[0], delimiters=";,\t")
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(io.StringIO(text), dialect)
    try:
        header = [h.strip().casefold() for h in next(reader)]
    except StopIteration:
        raise ConfigError([Problem(display, 1, 0, "the file is empty: a header row "
                                                  "(namn;förvaltning;titel;telefon) and a row "
                                                  "a person")]) from None
    where: dict[str, int] = {}
    for key, names in COLUMNS.items():
        for i, h in enumerate(header):
            if h in names:
                where.setdefault(key, i)
    problems = []
    if "number" not in where or not ("name" in where or "first" in where or "last" in where):
        problems.append(Problem(display, 1, 0, (
            f"the header {';'.join(header)!r} has no name or no number column: name it namn "
            "(or förnamn and efternamn) and telefon; also read: förvaltning, titel, frånvaro, "
            "id")))
        raise ConfigError(problems)
    rows: list[Row] = []
    seen: dict[str, int] = {}
    for line, cells in enumerate(reader, start=2):
        if not any(c.strip() for c in cells):
            continue

        def cell(key: str, cells: Sequence[str] = cells) -> str:
            i = where.get(key)
            return cells[i].strip() if i is not None and i < len(cells) else ""

        name = cell("name") or " ".join(p for p in (cell("first"), cell("last")) if p)
        raw_number = cell("number")
        number = normalise(raw_number)
        label = name or f"row {line - 1}"
        if not name:
            problems.append(Problem(display, line, 0, "no name: every row names a person or "
                                                      "a function"))
        if not raw_number:
            problems.append(Problem(display, line, 0, f"{label}: no number"))
        elif not _NUMBER.match(number):
            problems.append(Problem(display, line, 0, (
                f"{label}: {raw_number!r} is not a phone number (digits, as 08-123 456 78 "
                "or +46 8 123 456 78)")))
        entry_id = _slug(cell("id") or name)
        if entry_id in seen:
            problems.append(Problem(display, line, 0, (
                f"{label}: the same id {entry_id!r} as line {seen[entry_id]}: give each row an "
                "id column of its own (the AD account, the employee number)")))
        seen.setdefault(entry_id, line)
        rows.append(Row(entry_id, name, cell("department"), cell("title"), number,
                        cell("absence"), cell("function").casefold() in ("ja", "yes", "1", "x"),
                        line))
    if problems:
        raise ConfigError(problems)
    return rows


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def to_yaml(rows: Iterable[Row], source: str) -> str:
    """The `directory:` section of the configuration, in Swedish order: one line an entry."""
    lines = [f"# The directory (katalog), imported from {source} by `vaxel directory import`.",
             "# Import again after each export; `vaxel reload` activates it.", "directory:"]
    for r in sorted(rows, key=lambda r: (swedish_key(r.name.split()[-1] if r.name else ""),
                                         swedish_key(r.name))):
        fields = [f"name: {_quote(r.name)}", f"number: {_quote(r.number)}"]
        for key, value in (("department", r.department), ("title", r.title),
                           ("absence", r.absence)):
            if value:
                fields.append(f"{key}: {_quote(value)}")
        if r.function:
            fields.append("function: true")
        lines.append(f"  {r.entry_id}: {{{', '.join(fields)}}}")
    return "\n".join(lines) + "\n"


def import_csv(path: Path) -> str:
    """An HR / AD export as the configuration's `directory:` section; raises ConfigError."""
    return to_yaml(read_csv(path.read_bytes(), str(path)), path.name)
