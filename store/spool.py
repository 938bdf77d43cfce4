"""Where the call log's rows wait while the database is away: an SQLite file of batches beside
the state folder, emptied oldest first once the database answers again. Each method is one short
transaction: run it off the event loop's thread."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

from store.calllog import Rows


class Spool:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS batches (id INTEGER PRIMARY KEY, "
                         "events INTEGER NOT NULL, body TEXT NOT NULL)")

    def add(self, rows: Rows, events: int) -> None:
        body = json.dumps(rows.tables, ensure_ascii=False, separators=(",", ":"))
        with self._db:
            self._db.execute("INSERT INTO batches (events, body) VALUES (?, ?)", (events, body))

    def head(self) -> tuple[int, int, Rows] | None:
        """The oldest batch: (id, events in it, its rows)."""
        row = self._db.execute("SELECT id, events, body FROM batches ORDER BY id LIMIT 1"
                               ).fetchone()
        if row is None:
            return None
        tables: dict[str, list[dict[str, Any]]] = json.loads(row[2])
        return row[0], row[1], Rows(tables)

    def remove(self, batch_id: int) -> None:
        with self._db:
            self._db.execute("DELETE FROM batches WHERE id = ?", (batch_id,))

    def events(self) -> int:
        """Events waiting in the spool."""
        return int(self._db.execute("SELECT coalesce(sum(events), 0) FROM batches"
                                    ).fetchone()[0])

    def close(self) -> None:
        self._db.close()
