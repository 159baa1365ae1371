"""The on-box outbox: messages waiting for an acknowledgement, in the store's SQLite file (WAL).

A message is written (committed, ``synchronous=FULL``) before anything tries to send it, and is
deleted only after the broker's PUBACK or the server's 2xx. Rows are sent in row-id order, which is
per-device sequence order. ``sent_at`` marks a row that was handed to a sink at least once: such a
row may already be upstream, so it is never compacted. A permanent failure moves the row to
``dead_letter`` in the same transaction (nothing is dropped silently).
"""

from __future__ import annotations

import json
import logging
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from carbonedge.runtime.base.errors import StoreError
from carbonedge.runtime.base.events import utc_iso
from carbonedge.runtime.uplink.errors import OutboxCorruptError

logger = logging.getLogger(__name__)

OUTBOX_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    msg_id TEXT NOT NULL UNIQUE,
    device_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    kind TEXT NOT NULL,
    created_at TEXT NOT NULL,
    created_s REAL NOT NULL,
    body TEXT NOT NULL,
    merged_seqs TEXT,
    sent_at TEXT,
    UNIQUE (device_id, seq)
);
CREATE TABLE IF NOT EXISTS outbox_sequence (
    device_id TEXT PRIMARY KEY,
    last_seq INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS dead_letter (
    id INTEGER PRIMARY KEY,
    msg_id TEXT NOT NULL,
    device_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    kind TEXT NOT NULL,
    created_at TEXT NOT NULL,
    body TEXT NOT NULL,
    merged_seqs TEXT,
    error TEXT NOT NULL,
    failed_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS outbox_counters (
    name TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
"""

RECOVER_HINT = "carbonedge outbox recover"


@dataclass(frozen=True)
class OutboxRow:
    """One pending message as stored (the body is JSON text, signed only when sent)."""

    id: int
    msg_id: str
    device_id: str
    seq: int
    kind: str
    created_at: str
    body: str
    merged_seqs: list[int] | None


def _json(body: dict[str, Any]) -> str:
    return json.dumps(body, separators=(",", ":"), sort_keys=True, ensure_ascii=False)


def insert_message(
    db: sqlite3.Connection,
    *,
    kind: str,
    device_id: str,
    msg_id: str,
    body: dict[str, Any],
    now_s: float | None = None,
) -> int | None:
    """Queue one message inside the caller's open transaction; return its uplink ``seq``.

    Idempotent by ``msg_id``: a message already queued (or already sent and acknowledged, if its
    id is reused) is not queued twice; returns None then. The uplink sequence is per device over
    all kinds and allocated in the same transaction, so it survives restarts and has no gaps.
    """
    if db.execute("SELECT 1 FROM outbox WHERE msg_id = ?", (msg_id,)).fetchone():
        return None
    seq = db.execute(
        "INSERT INTO outbox_sequence (device_id, last_seq) VALUES (?, 1) "
        "ON CONFLICT(device_id) DO UPDATE SET last_seq = last_seq + 1 RETURNING last_seq",
        (device_id,),
    ).fetchone()[0]
    now_s = time.time() if now_s is None else now_s
    db.execute(
        "INSERT INTO outbox (msg_id, device_id, seq, kind, created_at, created_s, body) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        (msg_id, device_id, seq, kind, utc_iso(now_s), now_s, _json(body)),
    )
    return int(seq)


def bump_counter(db: sqlite3.Connection, name: str, by: int) -> None:
    db.execute(
        "INSERT INTO outbox_counters VALUES (?, ?) "
        "ON CONFLICT(name) DO UPDATE SET value = value + excluded.value",
        (name, by),
    )


def open_checked(path: Path) -> sqlite3.Connection:
    """Open the store file for the outbox: WAL, synchronous=FULL, ``quick_check`` passed.

    A corrupt file raises ``OutboxCorruptError`` naming the file and the recovery command; it is
    never deleted or rewritten here.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    db = None
    try:
        db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30)
        result = db.execute("PRAGMA quick_check").fetchone()[0]
        if result != "ok":
            raise sqlite3.DatabaseError(f"quick_check: {result}")
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        if db.execute("PRAGMA synchronous").fetchone()[0] != 2:
            raise StoreError(f"{path}: PRAGMA synchronous=FULL did not take effect")
        db.executescript(OUTBOX_SCHEMA)
    except sqlite3.DatabaseError as exc:
        if db is not None:
            db.close()
        raise OutboxCorruptError(
            f"{path}: the outbox database is corrupt ({exc}); nothing was deleted. Move it aside "
            f"and salvage its readable rows with: {RECOVER_HINT} {path}"
        ) from None
    except sqlite3.Error as exc:
        if db is not None:
            db.close()
        raise StoreError(f"{path}: cannot open the outbox ({exc})") from None
    return db


class Transaction:
    """BEGIN IMMEDIATE ... COMMIT; ROLLBACK when the block raises."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> sqlite3.Connection:
        self._db.execute("BEGIN IMMEDIATE")
        return self._db

    def __exit__(self, exc_type: object, *_: object) -> None:
        if exc_type is not None:
            self._db.execute("ROLLBACK")
        else:
            self._db.execute("COMMIT")


class Outbox:
    """Forwarder-side access to the outbox (one connection, used from one thread)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.db = open_checked(self.path)

    def enqueue(self, kind: str, device_id: str, body: dict[str, Any], msg_id: str) -> int | None:
        """Queue a message (alarm, health, calibration change); committed when this returns."""
        with Transaction(self.db) as db:
            return insert_message(db, kind=kind, device_id=device_id, msg_id=msg_id, body=body)

    def pending(self, *, after_id: int = 0, limit: int = 100) -> list[OutboxRow]:
        rows = self.db.execute(
            "SELECT id, msg_id, device_id, seq, kind, created_at, body, merged_seqs FROM outbox "
            "WHERE id > ? ORDER BY id LIMIT ?",
            (after_id, limit),
        ).fetchall()
        return [OutboxRow(*r[:7], json.loads(r[7]) if r[7] else None) for r in rows]

    def mark_sent(self, ids: list[int]) -> None:
        """Record that these rows are about to be handed to a sink (never compacted after)."""
        if ids:
            with Transaction(self.db) as db:
                db.executemany(
                    "UPDATE outbox SET sent_at = COALESCE(sent_at, ?) WHERE id = ?",
                    [(utc_iso(time.time()), i) for i in ids],
                )

    def ack(self, ids: list[int]) -> None:
        """Delete acknowledged rows (one transaction)."""
        if ids:
            with Transaction(self.db) as db:
                db.executemany("DELETE FROM outbox WHERE id = ?", [(i,) for i in ids])
                bump_counter(db, "acked", len(ids))

    def dead_letter(self, row_id: int, error: str) -> None:
        """Move one row to ``dead_letter`` with the reason (one transaction)."""
        with Transaction(self.db) as db:
            db.execute(
                "INSERT INTO dead_letter (msg_id, device_id, seq, kind, created_at, body, "
                "merged_seqs, error, failed_at) SELECT msg_id, device_id, seq, kind, created_at, "
                "body, merged_seqs, ?, ? FROM outbox WHERE id = ?",
                (error, utc_iso(time.time()), row_id),
            )
            db.execute("DELETE FROM outbox WHERE id = ?", (row_id,))
            bump_counter(db, "dead_lettered", 1)

    def stats(self) -> dict[str, Any]:
        """Depth, bytes, oldest age, dead letters and counters (for status and health)."""
        n, nbytes, oldest, sent = self.db.execute(
            "SELECT COUNT(*), COALESCE(SUM(LENGTH(body)), 0), MIN(created_s), COUNT(sent_at) "
            "FROM outbox"
        ).fetchone()
        by_kind = dict(self.db.execute("SELECT kind, COUNT(*) FROM outbox GROUP BY kind"))
        counters = dict(self.db.execute("SELECT name, value FROM outbox_counters"))
        dead = self.db.execute("SELECT COUNT(*) FROM dead_letter").fetchone()[0]
        return {
            "pending": int(n),
            "pending_bytes": int(nbytes),
            "oldest_age_s": max(0.0, time.time() - oldest) if oldest is not None else 0.0,
            "sent_unacked": int(sent),
            "by_kind": by_kind,
            "dead_letters": int(dead),
            "acked": int(counters.get("acked", 0)),
            "compacted": int(counters.get("compacted", 0)),
            "dead_lettered": int(counters.get("dead_lettered", 0)),
        }

    def close(self) -> None:
        self.db.close()
