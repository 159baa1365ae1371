"""On-box store: SQLite in WAL mode for summaries and events, plus an optional JSON-lines file.

Writes are idempotent by message id, so reprocessing or a retried write never creates duplicates.
The per-device sequence number is allocated in the same transaction as the summary's insert: it
survives restarts and has no gaps. Every summary is also queued in the uplink outbox (same file,
same transaction, see ``carbonedge.runtime.uplink.outbox``), so a summary the store accepted can
never be missing from the outbox, whatever crashes in between.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
from collections import deque
from dataclasses import replace
from pathlib import Path
from typing import Any, Iterable

from carbonedge.runtime.base.errors import StoreError
from carbonedge.runtime.base.events import IntervalSummary, LineCrossed
from carbonedge.runtime.uplink.outbox import OUTBOX_SCHEMA, insert_message

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


def _json(body: dict[str, Any]) -> str:
    return json.dumps(body, separators=(",", ":"), sort_keys=True)


class Store:
    """SQLite store (thread-safe via one lock) and JSON-lines mirror of summaries."""

    def __init__(self, sqlite_path: Path, jsonl_path: Path | None = None) -> None:
        self.sqlite_path, self.jsonl_path = Path(sqlite_path), jsonl_path
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None
        self._jsonl = None
        try:
            self.sqlite_path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(
                self.sqlite_path, check_same_thread=False, isolation_level=None
            )
            mode = self._db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                logger.warning("%s: WAL journal not available (got %s)", self.sqlite_path, mode)
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(_SCHEMA + OUTBOX_SCHEMA)
        except (sqlite3.Error, OSError) as exc:
            self.close()
            raise StoreError(f"{self.sqlite_path}: cannot open the on-box store ({exc})") from None
        if jsonl_path is not None:
            try:
                Path(jsonl_path).parent.mkdir(parents=True, exist_ok=True)
                self._jsonl = open(jsonl_path, "a", encoding="utf-8")  # noqa: SIM115 - see close()
            except OSError as exc:
                self.close()
                raise StoreError(
                    f"{jsonl_path}: cannot open for appending ({exc.strerror})"
                ) from None

    @property
    def db(self) -> sqlite3.Connection:
        if self._db is None:
            raise StoreError(f"{self.sqlite_path}: the store is closed")
        return self._db

    def next_seq(self, device_id: str) -> int:
        """Allocate the next per-device sequence number (1, 2, ...), persisted before returning."""
        with self._lock, _Transaction(self.db):
            return self._allocate_seq(device_id)

    def _allocate_seq(self, device_id: str) -> int:
        row = self.db.execute(
            "INSERT INTO sequence (device_id, last_seq) VALUES (?, 1) "
            "ON CONFLICT(device_id) DO UPDATE SET last_seq = last_seq + 1 RETURNING last_seq",
            (device_id,),
        ).fetchone()
        return int(row[0])

    def write_summary(self, summary: IntervalSummary) -> IntervalSummary:
        """Store ``summary`` once; return it with the per-device ``seq`` the store assigned.

        Writing a summary whose id is already stored changes nothing and returns the stored one
        (idempotent retries, reprocessing a file with the same start time).
        """
        with self._lock:
            try:
                with _Transaction(self.db):
                    row = self.db.execute(
                        "SELECT seq, body FROM summaries WHERE id = ?", (summary.id,)
                    ).fetchone()
                    if row is not None:
                        return self._stored_duplicate(summary, int(row[0]), row[1])
                    summary = replace(summary, seq=self._allocate_seq(summary.device_id))
                    body = summary.to_dict()
                    text = _json(body)
                    self.db.execute(
                        "INSERT INTO summaries VALUES (?, ?, ?, ?, ?, ?, ?)",
                        (summary.id, summary.device_id, summary.source_id, summary.seq,
                         body["interval_start"], body["interval_end"], text),
                    )  # fmt: skip
                    insert_message(self.db, kind="interval_summary", device_id=summary.device_id,
                                   msg_id=summary.id, body=body)  # fmt: skip
            except sqlite3.Error as exc:
                raise StoreError(
                    f"{self.sqlite_path}: cannot write summary {summary.id} ({exc})"
                ) from None
            self._append_jsonl(text)
        return summary

    def _stored_duplicate(self, summary: IntervalSummary, seq: int, body: str) -> IntervalSummary:
        """The summary already stored under ``summary.id`` (the stored counts win)."""
        stored = json.loads(body)
        if stored["counts"] != summary.counts:
            logger.warning(
                "summary %s (%s) is already stored with other counts; keeping the stored one",
                summary.id, stored["interval_start"],
            )  # fmt: skip
        return replace(summary, seq=seq, counts=stored["counts"], frames=stored["frames"])

    def _append_jsonl(self, text: str) -> None:
        if self._jsonl is None:
            return
        try:
            self._jsonl.write(text + "\n")
            self._jsonl.flush()
        except OSError as exc:  # the summary is committed in SQLite; the mirror is best effort
            logger.error("%s: cannot append a summary line (%s)", self.jsonl_path, exc.strerror)

    def write_events(self, events: Iterable[LineCrossed | Any]) -> None:
        """Store events once each (by id), all in one transaction.

        Events whose kind is sent upstream (``UPLINKED_EVENT_KINDS``: fire/smoke alarms) are
        queued in the outbox in the same transaction, so none can be stored and not sent.
        """
        rows, uplinked = [], []
        for ev in events:
            body = ev.to_dict()
            rows.append(
                (ev.id, body["kind"], ev.device_id, ev.source_id, body["t_wall"], _json(body))
            )
            if body["kind"] in UPLINKED_EVENT_KINDS:
                uplinked.append(body)
        if not rows:
            return
        with self._lock:
            try:
                with _Transaction(self.db):
                    self.db.executemany(
                        "INSERT OR IGNORE INTO events VALUES (?, ?, ?, ?, ?, ?)", rows
                    )
                    for body in uplinked:
                        insert_message(self.db, kind=body["kind"], device_id=body["device_id"],
                                       msg_id=body["id"], body=body)  # fmt: skip
            except sqlite3.Error as exc:
                raise StoreError(f"{self.sqlite_path}: cannot write events ({exc})") from None

    def summaries(self, device_id: str | None = None) -> list[dict[str, Any]]:
        """Stored summaries in sequence order (for tests, the CLI and the uplink)."""
        query = "SELECT body FROM summaries"
        args: tuple[Any, ...] = ()
        if device_id is not None:
            query, args = query + " WHERE device_id = ?", (device_id,)
        with self._lock:
            rows = self.db.execute(query + " ORDER BY device_id, seq", args).fetchall()
        return [json.loads(r[0]) for r in rows]

    def event_count(self) -> int:
        with self._lock:
            return int(self.db.execute("SELECT COUNT(*) FROM events").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            if self._jsonl is not None:
                self._jsonl.close()
                self._jsonl = None
            if self._db is not None:
                self._db.close()
                self._db = None

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Transaction:
    """BEGIN IMMEDIATE ... COMMIT on an autocommit connection; ROLLBACK when the block raises."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, *_: object) -> None:
        if exc_type is not None:
            self._db.execute("ROLLBACK")
            return
        try:
            self._db.execute("COMMIT")
        except sqlite3.Error:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            raise


#: Event kinds that also go upstream (through the outbox); line crossings stay on the box.
UPLINKED_EVENT_KINDS = frozenset({"fire_alarm"})


class QueuedWriter:
    """Writes events and summaries to a ``Store`` in order; what fails waits and is retried.

    A store error (database locked beyond the timeout, disk full) must neither lose an accepted
    crossing or summary nor stop the source: failed items stay queued, in order, and every later
    ``flush`` retries them first. The queue lives in memory, so a long outage of the store grows it;
    each failure streak is logged once at ERROR and its end at WARNING.
    """

    def __init__(self, store: Store) -> None:
        self.store = store
        self._queue: deque[list[LineCrossed] | IntervalSummary] = deque()
        self._failing_since: int | None = None  # queue length when the current streak began

    @property
    def pending(self) -> int:
        return len(self._queue)

    def add_events(self, events: list[LineCrossed]) -> None:
        if events:
            self._queue.append(list(events))

    def add_summary(self, summary: IntervalSummary) -> None:
        self._queue.append(summary)

    def flush(self) -> list[IntervalSummary]:
        """Write what is queued, oldest first; return the summaries written (with their seq)."""
        written: list[IntervalSummary] = []
        while self._queue:
            item = self._queue[0]
            try:
                if isinstance(item, IntervalSummary):
                    written.append(self.store.write_summary(item))
                else:
                    self.store.write_events(item)
            except StoreError as exc:
                if self._failing_since is None:
                    self._failing_since = len(self._queue)
                    logger.error("%s; %d items kept in memory and retried", exc, len(self._queue))
                return written
            self._queue.popleft()
        if self._failing_since is not None:
            logger.warning("store writable again; the queued items were written")
            self._failing_since = None
        return written
