"""On-box store: SQLite in WAL mode for summaries and events, plus an optional JSON-lines file.

Writes are idempotent by message id (``INSERT OR IGNORE``), so reprocessing or a retried write never
creates duplicates. The per-device sequence number survives restarts (it continues from the store).
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
from pathlib import Path
from typing import Any, Iterable

from carbonedge.runtime.errors import StoreError
from carbonedge.runtime.events import IntervalSummary, LineCrossed

logger = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS summaries (
    id TEXT PRIMARY KEY,
    device_id TEXT NOT NULL,
    source_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    interval_start TEXT NOT NULL,
    interval_end TEXT NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS summaries_device_seq ON summaries (device_id, seq);
CREATE TABLE IF NOT EXISTS events (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    device_id TEXT NOT NULL,
    source_id TEXT NOT NULL,
    t_wall TEXT NOT NULL,
    body TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS sequence (
    device_id TEXT PRIMARY KEY,
    last_seq INTEGER NOT NULL
);
"""


class Store:
    """SQLite store (thread-safe via one lock) and JSON-lines mirror of summaries."""

    def __init__(self, sqlite_path: Path, jsonl_path: Path | None = None) -> None:
        self.sqlite_path, self.jsonl_path = Path(sqlite_path), jsonl_path
        self._lock = threading.Lock()
        try:
            self.sqlite_path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(
                self.sqlite_path, check_same_thread=False, isolation_level=None
            )
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(_SCHEMA)
        except (sqlite3.Error, OSError) as exc:
            raise StoreError(f"{self.sqlite_path}: cannot open the on-box store ({exc})") from None
        self._jsonl = None
        if jsonl_path is not None:
            try:
                Path(jsonl_path).parent.mkdir(parents=True, exist_ok=True)
                self._jsonl = open(jsonl_path, "a", encoding="utf-8")  # noqa: SIM115 - closed in close()
            except OSError as exc:
                raise StoreError(
                    f"{jsonl_path}: cannot open for appending ({exc.strerror})"
                ) from None

    def next_seq(self, device_id: str) -> int:
        """Next per-device sequence number (1, 2, ...), persisted before it is returned."""
        with self._lock, self._db:
            row = self._db.execute(
                "INSERT INTO sequence (device_id, last_seq) VALUES (?, 1) "
                "ON CONFLICT(device_id) DO UPDATE SET last_seq = last_seq + 1 RETURNING last_seq",
                (device_id,),
            ).fetchone()
        return int(row[0])

    def write_summary(self, summary: IntervalSummary) -> None:
        body = summary.to_dict()
        text = json.dumps(body, separators=(",", ":"), sort_keys=True)
        with self._lock:
            try:
                cur = self._db.execute(
                    "INSERT OR IGNORE INTO summaries VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (
                        summary.id,
                        summary.device_id,
                        summary.source_id,
                        summary.seq,
                        body["interval_start"],
                        body["interval_end"],
                        text,
                    ),
                )
            except sqlite3.Error as exc:
                raise StoreError(
                    f"{self.sqlite_path}: cannot write summary {summary.id} ({exc})"
                ) from None
            if cur.rowcount and self._jsonl is not None:
                self._jsonl.write(text + "\n")
                self._jsonl.flush()

    def write_events(self, events: Iterable[LineCrossed]) -> None:
        rows = [
            (
                ev.id,
                "line_crossed",
                ev.device_id,
                ev.source_id,
                ev.to_dict()["t_wall"],
                json.dumps(ev.to_dict(), separators=(",", ":"), sort_keys=True),
            )
            for ev in events
        ]
        if not rows:
            return
        with self._lock:
            try:
                with self._db:
                    self._db.executemany(
                        "INSERT OR IGNORE INTO events VALUES (?, ?, ?, ?, ?, ?)", rows
                    )
            except sqlite3.Error as exc:
                raise StoreError(f"{self.sqlite_path}: cannot write events ({exc})") from None

    def summaries(self, device_id: str | None = None) -> list[dict[str, Any]]:
        """Stored summaries in sequence order (for tests, the CLI and the uplink)."""
        query = "SELECT body FROM summaries"
        args: tuple[Any, ...] = ()
        if device_id is not None:
            query, args = query + " WHERE device_id = ?", (device_id,)
        with self._lock:
            rows = self._db.execute(query + " ORDER BY device_id, seq", args).fetchall()
        return [json.loads(r[0]) for r in rows]

    def close(self) -> None:
        with self._lock:
            if self._jsonl is not None:
                self._jsonl.close()
                self._jsonl = None
            self._db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
