"""Reading a configuration folder: every `*.yaml` but telephony.yaml, strictly (config/yamlstrict),
merged by top-level section (a section given in two files is an error naming both), validated
(config/schema), then checked as a whole (config/checks). Every problem names file:line:column.
Nothing here changes a running configuration: see config/versions.py for activation."""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from config.errors import ConfigError, Problem
from config.messages import explain, field_names
from config.schema import IvrConfig
from config.yamlstrict import Document, Path_, load

NOT_CONFIG = {"telephony.yaml"}
VOCABULARY = field_names(IvrConfig)


@dataclass(frozen=True)
class Loaded:
    config: IvrConfig
    folder: Path
    checksum: str  # of the files' bytes: the same files, the same version
    warnings: tuple[Problem, ...] = ()
    sections: dict[str, Document] = field(default_factory=dict)


def load_folder(folder: Path, sounds: Path | None = None, now: dt.datetime | None = None
                ) -> Loaded:
    """Loads and checks; raises ConfigError listing every error found. With `now`, also what
    depends on the time (an expired crisis message)."""
    files = sorted(p for p in folder.glob("*.yaml") if p.name not in NOT_CONFIG)
    if not files:
        raise ConfigError([Problem(str(folder), 0, 0, "no configuration files (*.yaml) here")])
    problems: list[Problem] = []
    merged: dict[str, Any] = {}
    sections: dict[str, Document] = {}
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
        try:
            doc = load(path, display=str(path))
        except ConfigError as err:
            problems += err.problems
            continue
        if doc.data == {}:
            problems.append(Problem(str(path), 0, 0, (
                "the file is empty: write the configuration's sections in it (numbers:, "
                "prompts:, menus:, groups: ...), or remove it")))
            continue
        if not isinstance(doc.data, dict):
            problems.append(doc.problem((), "a configuration file is a mapping of sections "
                                            "(numbers:, menus:, groups: ...)"))
            continue
        for section, value in doc.data.items():
            if section in sections:
                first = sections[section]
                line = first.where((section,))[0]
                problems.append(doc.problem((section,), f"section {section!r} is also in "
                                                        f"{first.file}:{line}: keep one"))
                continue
            sections[section] = doc
            merged[section] = value
    if problems:
        raise ConfigError(problems)
    try:
        config = IvrConfig.model_validate(merged)
    except ValidationError as err:
        where = str(files[0]) if len(files) == 1 else f"{folder} (in any *.yaml file)"
        sections_missing = [e for e in err.errors() if e["type"] == "missing"
                            and len(e["loc"]) == 1]
        raise ConfigError([Problem(where, 0, 0, (
            f"the {e['loc'][0]}: section is missing; every configuration has numbers:, "
            "prompts:, menus: and groups: (see config/exempelkommun/vaxel.yaml)"))
            for e in sections_missing] + [
            _located(e, sections, folder) for e in explain(
                [e for e in err.errors() if e not in sections_missing], VOCABULARY)]) from err
    from config.checks import check

    found = check(config, sections, sounds, now)
    errors = [p for p in found if p.severity == "error"]
    if errors:
        raise ConfigError(found)
    return Loaded(config, folder, digest.hexdigest()[:12], tuple(found), sections)


def _located(error: tuple[Path_, str], sections: dict[str, Document], folder: Path) -> Problem:
    loc, message = error
    if not loc or loc[0] not in sections:
        return Problem(str(folder), 0, 0, message)
    return sections[str(loc[0])].problem(loc, message)
