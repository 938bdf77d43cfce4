"""The administrator's configuration pages: the folder's files, edited in the browser or
uploaded, checked with `vaxel check`'s messages at their lines, the changes in words against the
active version, activated, rolled back to any earlier version's files.

An edit is checked in a copy of the folder; only a configuration that checks is written into the
folder (each file atomically) and activated as `vaxel reload` does. A refused one changes nothing:
the running configuration stays active and the folder keeps its files.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web

from config.describe import diff
from config.errors import ConfigError, Problem
from config.versions import YAML_NAME, folder_files, kept_files, write_files
from controller.configuration import Configuration, load_configuration
from web.context import CENTRE, audit, json_body, refuse

if TYPE_CHECKING:
    from controller.bootstrap import Centre

MAX_FILE = 512 * 1024  # characters: a configuration file is far smaller


def _folder(centre: Centre) -> Path:
    if centre.folder is None:
        raise ConfigError([Problem("(none)", 0, 0,
                                   "this controller was not started from a folder")])
    return centre.folder


def _edits(body: dict[str, Any]) -> dict[str, str]:
    files = body.get("files")
    if not isinstance(files, dict) or not files:
        raise ValueError('send {"files": {"vaxel.yaml": "...the text..."}}')
    for name, text in files.items():
        if not isinstance(name, str) or not YAML_NAME.match(name):
            raise ValueError(f"{name!r} is not a configuration file name (such as vaxel.yaml)")
        if not isinstance(text, str) or len(text) > MAX_FILE:
            raise ValueError(f"{name}: the file's text, at most {MAX_FILE} characters")
        if "\x00" in text:
            raise ValueError(f"{name}: not a text file")
    return files


def _problem(p: Problem, staging: Path) -> dict[str, Any]:
    name = p.file
    if name.startswith(str(staging)):
        name = Path(name).name
    return {"file": name, "line": p.line, "column": p.column, "message": p.message,
            "severity": p.severity}


def _try(centre: Centre, files: dict[str, str], *, alone: bool = False
         ) -> tuple[Configuration | None, list[dict[str, Any]]]:
    """The folder with `files` in place of (or beside) its own, or `alone` (a rollback: those
    files only), loaded and checked in a copy: (the configuration or None, its problems)."""
    folder = _folder(centre)
    staging = Path(tempfile.mkdtemp(prefix="vaxel-edit-"))
    try:
        copy = staging / folder.name
        copy.mkdir()
        write_files(copy, files if alone else {**folder_files(folder), **files})
        try:
            conf = load_configuration(copy, centre.sounds, dt.datetime.now(dt.UTC))
        except ConfigError as err:
            return None, [_problem(p, copy) for p in err.problems]
        return conf, [_problem(p, copy) for p in conf.warnings]
    finally:
        shutil.rmtree(staging, ignore_errors=True)


async def files(request: web.Request) -> web.Response:
    centre = request.app[CENTRE]
    try:
        found = folder_files(_folder(centre))
    except ConfigError as err:
        return refuse(400, str(err))
    active = centre.history.active
    kept = centre.kept_versions
    return web.json_response({
        "files": [{"name": name, "text": text} for name, text in found.items()],
        "versions": [{"number": v.number, "checksum": v.checksum,
                      "activated_at": f"{v.activated_at:%Y-%m-%d %H:%M:%S}",
                      "active": v is active,
                      "kept": kept is not None and (kept / v.checksum).is_dir()}
                     for v in reversed(centre.history.versions)]})


async def check(request: web.Request) -> web.Response:
    centre = request.app[CENTRE]
    try:
        edits = _edits(await json_body(request))
        conf, problems = await asyncio.to_thread(_try, centre, edits)
    except ValueError as err:  # ConfigError is one: no folder
        return refuse(400, str(err))
    changes = [] if conf is None else diff(centre.history.active.config, conf.loaded.config)
    return web.json_response({"ok": conf is not None, "problems": problems,
                              "changes": changes})


async def _activate(request: web.Request, edits: dict[str, str], *, exactly: bool,
                    what: str) -> web.Response:
    centre = request.app[CENTRE]
    conf, problems = await asyncio.to_thread(_try, centre, edits, alone=exactly)
    if conf is None:
        audit(request, "refused", f"{what}: the configuration has errors")
        return refuse(400, "the configuration was not accepted; the running one stays active",
                      problems=problems)
    folder = _folder(centre)
    before = folder_files(folder)
    write_files(folder, edits, exactly=exactly)
    try:
        version, changes = await centre.reload()
    except ConfigError as err:  # changed between the check and now (a clock-dependent check)
        write_files(folder, before, exactly=True)
        return refuse(400, "the configuration was not accepted; the running one stays active",
                      problems=[_problem(p, folder) for p in err.problems])
    audit(request, what, f"version {version.number} ({version.checksum}): "
          + ("; ".join(changes) or "no change"))
    return web.json_response({"version": version.number, "version_id": version.checksum,
                              "changes": changes})


async def activate(request: web.Request) -> web.Response:
    try:
        edits = _edits(await json_body(request))
        return await _activate(request, edits, exactly=False, what="activate")
    except ValueError as err:
        return refuse(400, str(err))


async def rollback(request: web.Request) -> web.Response:
    centre = request.app[CENTRE]
    try:
        number = (await json_body(request)).get("version")
    except ValueError as err:
        return refuse(400, str(err))
    versions = {v.number: v for v in centre.history.versions}
    if not isinstance(number, int) or number not in versions:
        return refuse(404, f"no version {number!r}: versions "
                           f"{', '.join(str(n) for n in versions)}")
    kept = centre.kept_versions
    files = None if kept is None else kept_files(kept, versions[number].checksum)
    if files is None:
        return refuse(409, f"version {number}'s files were not kept; it cannot be restored")
    return await _activate(request, files, exactly=True, what=f"rollback to {number}")
