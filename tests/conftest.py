"""Fixtures shared by the store's tests: each runs on an SQLite file and on a real PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.postgres import LocalPostgres


@pytest.fixture(scope="session")
def postgres() -> Iterator[LocalPostgres]:
    server = LocalPostgres()
    server.start()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A new, empty store: an SQLite file, or a database on the test PostgreSQL server."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'vaxel.sqlite'}"
    server: LocalPostgres = request.getfixturevalue("postgres")
    return server.new_database()


@pytest.fixture(autouse=True)
def _state_folder(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
                  ) -> None:
    """No test writes to the user's state folder (~/.local/state/vaxel): the call log, the
    spools of `vaxel run` started by a test go to a folder of the test's."""
    monkeypatch.setenv("VAXEL_STATE_DIR", str(tmp_path_factory.mktemp("state")))
