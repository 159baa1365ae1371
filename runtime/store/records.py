"""The box's records: interval summaries, events and the calibration last reported per source.

Writes are idempotent by id, so reprocessing or a retried write never creates duplicates. The
per-device summary ``seq`` is allocated in the same transaction as the summary's insert. What the
uplink sends upstream (``uplink.policy``: every summary, alarms, calibration changes) is queued in
the outbox in the same transaction as the record, so a record the store accepted can never be
missing from the outbox, whatever crashes in between; an event is queued only when it is first
stored, so it is sent once even after its message was acknowledged and deleted. A store of a
box without an uplink (``Store(..., uplink=False)``) queues nothing: no one would drain it.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from collections import deque
from dataclasses import replace
from pathlib import Path
from typing import Any, Iterable

from carbonedge.runtime.base.errors import StoreError
from carbonedge.runtime.base.events import CalibrationChanged, IntervalSummary, LineCrossed, utc_iso
from carbonedge.runtime.store import sequences
from carbonedge.runtime.store.db import open_db
from carbonedge.runtime.store.jsonl_mirror import JsonlMirror
from carbonedge.runtime.store.outbox import insert_message
from carbonedge.runtime.store.transaction import Transaction
from carbonedge.runtime.uplink.policy import outbox_message

logger = logging.getLogger(__name__)


def _json(body: dict[str, Any]) -> str:
    return json.dumps(body, separators=(",", ":"), sort_keys=True)


class Store:
    """The store file (thread-safe via one lock) and a JSON-lines mirror of the summaries.

    ``uplink``: whether the box has an uplink (``uplink.policy``); without one nothing is queued
    in the outbox. ``integrity_problems``: one line per loss found at open (``integrity.py``)."""

    def __init__(
        self, sqlite_path: Path, jsonl_path: Path | None = None, *, uplink: bool = True
    ) -> None:
        self.sqlite_path, self.jsonl_path, self.uplink = Path(sqlite_path), jsonl_path, uplink
        self._lock = threading.Lock()
        self._jsonl: JsonlMirror | None = None
        # a pipeline thread waits at most this long for the lock; then QueuedWriter retries later
        self._db: sqlite3.Connection | None = open_db(self.sqlite_path, busy_timeout_s=5.0)
        self.integrity_problems: list[str] = list(self._db.integrity_problems)
        if not uplink:
            _warn_unsent_backlog(self._db, self.sqlite_path)
        if jsonl_path is not None:
            try:
                self._jsonl = JsonlMirror(Path(jsonl_path), self._db)
            except (OSError, sqlite3.Error) as exc:
                self.close()
                raise StoreError(f"{jsonl_path}: cannot open for appending ({exc})") from None

    @property
    def db(self) -> sqlite3.Connection:
        """The connection (tests and fault injection; everything else uses the methods)."""
        if self._db is None:
            raise StoreError(f"{self.sqlite_path}: the store is closed")
        return self._db

    def next_seq(self, device_id: str) -> int:
        """Allocate the next per-device summary sequence number (1, 2, ...), committed."""
        with self._lock, Transaction(self.db) as db:
            return sequences.allocate(db, sequences.SUMMARY, device_id)

    # --- summaries -------------------------------------------------------------------------
    def write_summary(self, summary: IntervalSummary) -> IntervalSummary:
        """Store ``summary`` once; return it with the per-device ``seq`` the store assigned.

        Writing a summary whose id is already stored changes nothing and returns the stored one
        (idempotent retries, reprocessing a file with the same start time).
        """
        with self._lock:
            try:
                with Transaction(self.db) as db:
                    row = db.execute(
                        "SELECT seq, body FROM summaries WHERE id = ?", (summary.id,)
                    ).fetchone()
                    if row is not None:
                        return self._stored_duplicate(summary, int(row[0]), row[1])
                    seq = sequences.allocate(db, sequences.SUMMARY, summary.device_id)
                    summary = replace(summary, seq=seq)
                    body = summary.to_dict()
                    text = _json(body)
                    db.execute(
                        "INSERT INTO summaries VALUES (?, ?, ?, ?, ?, ?, ?)",
                        (summary.id, summary.device_id, summary.source_id, summary.seq,
                         body["interval_start"], body["interval_end"], text),
                    )  # fmt: skip
                    _queue_upstream(db, body, self.uplink)
            except sqlite3.Error as exc:
                raise StoreError(
                    f"{self.sqlite_path}: cannot write summary {summary.id} ({exc})"
                ) from None
            self._append_jsonl()
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

    def _append_jsonl(self) -> None:
        """The committed summaries not in the JSON-lines copy yet into it (fsynced)."""
        if self._jsonl is None:
            return
        try:
            self._jsonl.catch_up(self.db)
        except (OSError, sqlite3.Error) as exc:  # committed in SQLite; appended on a later call
            logger.error("%s: cannot append a summary line (%s); appended later",
                         self.jsonl_path, exc)  # fmt: skip

    def summaries(self, device_id: str | None = None) -> list[dict[str, Any]]:
        """Stored summaries in sequence order (for tests, the CLI and the uplink)."""
        query = "SELECT body FROM summaries"
        args: tuple[Any, ...] = ()
        if device_id is not None:
            query, args = query + " WHERE device_id = ?", (device_id,)
        with self._lock:
            rows = self.db.execute(query + " ORDER BY device_id, seq", args).fetchall()
        return [json.loads(r[0]) for r in rows]

    # --- events ----------------------------------------------------------------------------
    def write_events(self, events: Iterable[LineCrossed | Any]) -> None:
        """Store events once each (by id), all in one transaction.

        An event the uplink sends upstream (``uplink.policy``: fire/smoke alarms, calibration
        changes) is queued in the outbox in the same transaction, when it is first stored.
        """
        events = list(events)
        if not events:
            return
        with self._lock:
            try:
                with Transaction(self.db) as db:
                    for event in events:
                        _insert_event(db, event, self.uplink)
            except sqlite3.Error as exc:
                raise StoreError(f"{self.sqlite_path}: cannot write events ({exc})") from None

    def event_count(self) -> int:
        with self._lock:
            return int(self.db.execute("SELECT COUNT(*) FROM events").fetchone()[0])

    # --- calibration -----------------------------------------------------------------------
    def reported_calibrations(self) -> dict[str, tuple[str, dict[str, Any]]]:
        """source id -> (sha256, record dict) of the calibration record last reported."""
        with self._lock:
            rows = self.db.execute(
                "SELECT source_id, sha256, record FROM calibration_reported"
            ).fetchall()
        return {source: (sha, json.loads(record)) for source, sha, record in rows}

    def record_calibration(
        self, event: CalibrationChanged, record_id: str, record: dict[str, Any]
    ) -> bool:
        """Store a calibration change: ``record`` becomes the source's reported record and the
        event is stored (and queued upstream) in one transaction. False when the event was
        already stored (the same transition again: not queued a second time)."""
        with self._lock:
            try:
                with Transaction(self.db) as db:
                    db.execute(
                        "INSERT INTO calibration_reported VALUES (?, ?, ?, ?, ?) "
                        "ON CONFLICT(source_id) DO UPDATE SET record_id = excluded.record_id, "
                        "sha256 = excluded.sha256, record = excluded.record, "
                        "reported_at = excluded.reported_at",
                        (event.source_id, record_id, event.calibration_sha256,
                         json.dumps(record), utc_iso(time.time())),
                    )  # fmt: skip
                    return _insert_event(db, event, self.uplink)
            except sqlite3.Error as exc:
                raise StoreError(
                    f"{self.sqlite_path}: cannot record calibration change {record_id} ({exc})"
                ) from None

    # --- lifecycle -------------------------------------------------------------------------
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


def _warn_unsent_backlog(db: sqlite3.Connection, path: Path) -> None:
    pending = int(db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0])
    if pending:
        logger.warning(
            "%s: %d messages are queued in the outbox from a config with an uplink; they are kept "
            "but not sent while the config has no uplink: section", path, pending,
        )  # fmt: skip


def _insert_event(db: sqlite3.Connection, event: Any, uplink: bool = True) -> bool:
    """Store one event (inside the caller's transaction); queue it upstream when it is new, the
    box has an uplink and the uplink sends its kind. True when it was new."""
    body = event.to_dict()
    new = db.execute(
        "INSERT OR IGNORE INTO events VALUES (?, ?, ?, ?, ?, ?)",
        (event.id, body["kind"], event.device_id, event.source_id, body["t_wall"], _json(body)),
    ).rowcount == 1  # fmt: skip
    if new:
        _queue_upstream(db, body, uplink)
    return new


def _queue_upstream(db: sqlite3.Connection, body: dict[str, Any], uplink: bool) -> None:
    message = outbox_message(body, uplink=uplink)
    if message is not None:
        kind, msg_body = message
        insert_message(db, kind=kind, device_id=body["device_id"], msg_id=body["id"],
                       body=msg_body)  # fmt: skip


class QueuedWriter:
    """Writes events and summaries to a ``Store`` in order; what fails waits and is retried.

    A store error (database locked beyond the timeout, disk full) must neither lose an accepted
    crossing or summary nor stop the source: failed items stay queued, in order, and a later
    ``flush`` retries them first (after a capped backoff, 0.5 s up to 5 s, so a full disk is not
    hammered on every frame). The queue lives in memory, so a long outage of the store grows it;
    each failure streak is logged once at ERROR and its end at WARNING, and every failed write is
    counted in the store's ``WriteHealth`` (``/healthz``, ``/metrics``). At the end of a run,
    ``drain`` retries for a bounded time and spills what is left to the spill file (``spill``).
    """

    RETRY_FIRST_S, RETRY_MAX_S = 0.5, 5.0

    def __init__(self, store: Store) -> None:
        from carbonedge.runtime.base.backoff import Backoff
        from carbonedge.runtime.store.write_health import write_health

        self.store = store
        self.health = write_health(store)
        self._queue: deque[list[LineCrossed] | IntervalSummary] = deque()
        self._failing_since: int | None = None  # queue length when the current streak began
        self._backoff = Backoff(self.RETRY_FIRST_S, self.RETRY_MAX_S)
        self._retry_at_mono_s = 0.0

    @property
    def pending(self) -> int:
        return len(self._queue)

    def add_events(self, events: list[LineCrossed]) -> None:
        if events:
            self._queue.append(list(events))

    def add_summary(self, summary: IntervalSummary) -> None:
        self._queue.append(summary)

    def flush(self, *, force: bool = False) -> list[IntervalSummary]:
        """Write what is queued, oldest first; return the summaries written (with their seq).
        While failing, a retry waits for its backoff unless ``force``."""
        written: list[IntervalSummary] = []
        if self._queue and not force and time.monotonic() < self._retry_at_mono_s:
            return written
        while self._queue:
            item = self._queue[0]
            kind = "summary" if isinstance(item, IntervalSummary) else "events"
            try:
                if kind == "summary":
                    written.append(self.store.write_summary(item))  # type: ignore[arg-type]
                else:
                    self.store.write_events(item)  # type: ignore[arg-type]
            except StoreError as exc:
                self.health.failed(kind, str(exc))
                self._retry_at_mono_s = time.monotonic() + self._backoff.next_delay_s()
                if self._failing_since is None:
                    self._failing_since = len(self._queue)
                    logger.error("%s; %d items kept in memory and retried", exc, len(self._queue))
                return written
            self.health.succeeded()
            self._queue.popleft()
        if self._failing_since is not None:
            logger.warning("store writable again; the queued items were written")
            self._failing_since = None
            self._backoff.reset()
            self._retry_at_mono_s = 0.0
        return written

    def drain(
        self, flush_s: float, spill_to: Path | None
    ) -> tuple[list[IntervalSummary], int, int]:
        """End of a run: retry for up to ``flush_s``, then append what is still queued to the
        spill file ``spill_to`` (None: no spill file). Returns (summaries written, items spilled,
        items lost: neither written nor spilled)."""
        from carbonedge.runtime.store.spill import write_spill

        deadline_s = time.monotonic() + flush_s
        written = self.flush(force=True)
        while self._queue and time.monotonic() < deadline_s:
            time.sleep(max(0.0, min(self._retry_at_mono_s, deadline_s) - time.monotonic()))
            written += self.flush(force=True)
        if not self._queue:
            return written, 0, 0
        left, spilled = len(self._queue), 0
        if spill_to is not None:
            try:
                spilled = write_spill(spill_to, list(self._queue))
            except OSError as exc:
                logger.error("%s: cannot write the spill file (%s)", spill_to, exc)
        self._queue.clear()
        return written, spilled, left - spilled
