"""The whole configuration folder as the controller runs it: the administrators' YAML
(config/loader.py) and telephony.yaml (telephony/dialplan.py), each checked, then against each
other. One place for `vaxel check`, `run`, `demo` and `dialplan`, so all four accept and refuse
the same folders."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from config.errors import ConfigError, Problem
from config.loader import Loaded, load_folder
from telephony.dialplan import DialplanSettings, cross_check, read_settings


@dataclass(frozen=True)
class Configuration:
    loaded: Loaded
    settings: DialplanSettings
    warnings: tuple[Problem, ...]


def load_configuration(folder: Path, sounds: Path | None = None,
                       now: dt.datetime | None = None) -> Configuration:
    """Raises ConfigError listing every error of both files (file:line:column)."""
    if not folder.is_dir():
        raise ConfigError([Problem(str(folder), 0, 0, "no such configuration folder")])
    problems: list[Problem] = []
    loaded = settings = doc = None
    try:
        loaded = load_folder(folder, sounds, now)
    except ConfigError as err:
        problems += err.problems
    try:
        settings, doc = read_settings(folder)
    except ConfigError as err:
        problems += err.problems
    if loaded is not None and settings is not None and doc is not None:
        problems += cross_check(settings, doc, loaded.config, loaded.sections)
    if any(p.severity == "error" for p in problems) or loaded is None or settings is None:
        raise ConfigError(problems + list(loaded.warnings if loaded else ()))
    return Configuration(loaded, settings, loaded.warnings + tuple(problems))
