"""The outbox tables: messages waiting for an acknowledgement, and their dead letters.

A message is written (committed, ``synchronous=FULL``) before anything tries to send it, and is
deleted only after the broker's PUBACK or the server's 2xx. Rows are sent in row-id order, which is
per-device sequence order. ``sent_at`` marks a row that was handed to a sink at least once: such a
row may already be upstream, so it is never compacted. A permanent failure moves the row to
``dead_letter`` in the same transaction (nothing is dropped silently). ``outbox_counters`` keeps
the totals acked, compacted and dead-lettered.

Writers: the ``Store`` queues what the uplink's policy (``uplink.policy``) sends upstream in the
transaction that stores it (``insert_message``); the forwarder's ``Outbox`` queues health
messages, marks, acknowledges, dead-letters and compacts (``unsent_summaries``/``merge_rows``).
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from carbonedge.runtime.base.events import utc_iso
from carbonedge.runtime.store import sequences
from carbonedge.runtime.store.db import count_rows, open_db
from carbonedge.runtime.store.transaction import Transaction


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

    Idempotent by ``msg_id`` while the message is queued (returns None then). The uplink sequence
    is per device over all kinds and allocated in the same transaction."""
    if db.execute("SELECT 1 FROM outbox WHERE msg_id = ?", (msg_id,)).fetchone():
        return None
    seq = sequences.allocate(db, sequences.UPLINK, device_id)
    now_s = time.time() if now_s is None else now_s
    db.execute(
        "INSERT INTO outbox (msg_id, device_id, seq, kind, created_at, created_s, body) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        (msg_id, device_id, seq, kind, utc_iso(now_s), now_s, _json(body)),
    )
    return seq


def bump_counter(db: sqlite3.Connection, name: str, by: int) -> None:
    db.execute(
        "INSERT INTO outbox_counters VALUES (?, ?) "
        "ON CONFLICT(name) DO UPDATE SET value = value + excluded.value",
        (name, by),
    )


def pending_count(path: Path) -> int:
    """Messages not acknowledged yet, read through a connection of its own (any thread)."""
    return count_rows(path, "outbox")


def pending_bytes(db: sqlite3.Connection) -> int:
    return int(db.execute("SELECT COALESCE(SUM(LENGTH(body)), 0) FROM outbox").fetchone()[0])


def unsent_summaries(db: sqlite3.Connection) -> list[tuple[int, str, str | None, str, int]]:
    """(id, msg_id, merged_seqs JSON, body JSON, seq) of the summaries never handed to a sink,
    oldest first: the only rows compaction may merge."""
    return db.execute(
        "SELECT id, msg_id, merged_seqs, body, seq FROM outbox "
        "WHERE kind = 'interval_summary' AND sent_at IS NULL ORDER BY id"
    ).fetchall()


def merge_rows(db: sqlite3.Connection, merges: list[tuple[int, int, str, str, str]]) -> None:
    """Apply compaction merges in one transaction: for each (keep id, drop id, msg_id, body JSON,
    merged_seqs JSON) the kept row takes the merged message and the dropped row is deleted."""
    with Transaction(db):
        for keep_id, drop_id, msg_id, body, merged_seqs in merges:
            db.execute("DELETE FROM outbox WHERE id = ?", (drop_id,))
            db.execute("UPDATE outbox SET msg_id = ?, body = ?, merged_seqs = ? WHERE id = ?",
                       (msg_id, body, merged_seqs, keep_id))  # fmt: skip
        bump_counter(db, "compacted", len(merges))


class Outbox:
    """Forwarder-side access to the outbox (one connection, used from one thread)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.db = open_db(self.path)  # OutboxCorruptError names the file and the way out

    def enqueue(self, kind: str, device_id: str, body: dict[str, Any], msg_id: str) -> int | None:
        """Queue a message (health, tests); committed when this returns."""
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
