"""Reading a store without writing to it (``carbonedge report``, while the service runs).

Opened with SQLite's ``mode=ro``: no migration, no lock held beyond a read, so an older store
(without a table) reads too."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

from carbonedge.runtime.base.errors import StoreError


@dataclass
class StoredBodies:
    """JSON texts as stored: summaries, events (crossings and fire alarms, by time) and the fire
    alarms still waiting in the outbox or dead-lettered."""

    summaries: list[str]
    events: list[str]
    pending_alarms: list[str]


def read_bodies(path: Path) -> StoredBodies:
    """The bodies ``carbonedge report`` draws; ``StoreError`` naming the file when it is
    missing or not a carbonedge store."""
    path = Path(path)
    if not path.is_file():
        raise StoreError(f"{path}: no such store file")
    try:
        db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)  # never writes
    except sqlite3.Error as exc:
        raise StoreError(f"{path}: cannot open the store ({exc})") from None
    try:
        return StoredBodies(
            summaries=_query(db, path, "SELECT body FROM summaries", required=True),
            events=_query(db, path, "SELECT body FROM events WHERE kind IN "
                          "('line_crossed', 'fire_alarm') ORDER BY t_wall"),
            pending_alarms=_query(db, path, "SELECT body FROM outbox WHERE kind = 'fire_alarm' "
                                  "UNION ALL SELECT body FROM dead_letter "
                                  "WHERE kind = 'fire_alarm'"),
        )  # fmt: skip
    finally:
        db.close()


def _query(db: sqlite3.Connection, path: Path, sql: str, required: bool = False) -> list[str]:
    try:
        return [r[0] for r in db.execute(sql).fetchall()]
    except sqlite3.OperationalError as exc:
        if not required and "no such table" in str(exc):
            return []  # an older store without that table
        raise StoreError(f"{path}: not a readable carbonedge store ({exc})") from None
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"{path}: not a readable carbonedge store ({exc})") from None
