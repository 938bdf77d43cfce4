"""Configuration versions: validate, diff, activate atomically, roll back.

A call keeps the Version it started with (it holds the object), so a new version never changes a
call in progress; new calls take the active one. A configuration that fails to load or check
raises ConfigError and changes nothing: the running version stays active."""

from __future__ import annotations

import datetime as dt
import functools
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from config.describe import diff
from config.loader import Loaded, load_folder
from config.schema import IvrConfig
from ivr.model import Plan


@dataclass(frozen=True)
class Version:
    number: int
    loaded: Loaded
    activated_at: dt.datetime

    @property
    def config(self) -> IvrConfig:
        return self.loaded.config

    @property
    def checksum(self) -> str:
        return self.loaded.checksum

    @functools.cached_property
    def plan(self) -> Plan:
        """What the IVR runs (ivr/model.py), compiled once per version."""
        return self.config.plan()


class ConfigHistory:
    def __init__(self, first: Loaded, now: dt.datetime) -> None:
        self.versions = [Version(1, first, now)]
        self._active = self.versions[0]

    @property
    def active(self) -> Version:
        return self._active

    def propose(self, folder: Path, sounds: Path | None = None) -> tuple[Loaded, list[str]]:
        """Loads and checks a folder against the active version: (loaded, changes in words).
        Raises ConfigError; nothing changes either way."""
        loaded = load_folder(folder, sounds)
        return loaded, diff(self._active.config, loaded.config)

    def activate(self, loaded: Loaded, now: dt.datetime) -> Version:
        """Makes a checked configuration the active one, in one assignment."""
        if loaded.checksum == self._active.checksum:
            return self._active
        version = Version(self.versions[-1].number + 1, loaded, now)
        self.versions.append(version)
        self._active = version
        return version

    def rollback(self, now: dt.datetime) -> Version:
        """Back to the version active before the current one (as a new version)."""
        older = [v for v in self.versions if v.number < self._active.number]
        if not older:
            raise ValueError("there is no earlier version to roll back to")
        version = Version(self.versions[-1].number + 1, older[-1].loaded, now)
        self.versions.append(version)
        self._active = version
        return version


YAML_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,60}\.yaml$")


def folder_files(folder: Path) -> dict[str, str]:
    """The configuration folder's files (telephony.yaml too), by name."""
    return {p.name: p.read_text(encoding="utf-8") for p in sorted(folder.glob("*.yaml"))
            if YAML_NAME.match(p.name)}


def keep_files(files: dict[str, str], checksum: str, into: Path) -> None:
    """Keeps a version's files under its checksum (for a rollback to it later); once."""
    target = into / checksum
    if target.exists():
        return
    into.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{checksum}-", dir=into))
    for name, text in files.items():
        (staging / name).write_text(text, encoding="utf-8")
    try:
        staging.rename(target)
    except OSError:  # kept meanwhile by another
        shutil.rmtree(staging, ignore_errors=True)


def kept_files(into: Path, checksum: str) -> dict[str, str] | None:
    folder = into / checksum
    return folder_files(folder) if folder.is_dir() else None


def write_files(folder: Path, files: dict[str, str], *, exactly: bool = False) -> None:
    """Writes files into the configuration folder, each atomically (a reader sees the old or
    the new file, never half); `exactly`: YAML files not among them are removed."""
    for name, text in files.items():
        if not YAML_NAME.match(name):
            raise ValueError(f"{name!r} is not a configuration file name (such as vaxel.yaml)")
        tmp = folder / f".{name}.new"
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, folder / name)
    if exactly:
        for path in folder.glob("*.yaml"):
            if path.name not in files and YAML_NAME.match(path.name):
                path.unlink()
