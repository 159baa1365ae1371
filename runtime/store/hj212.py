"""The HJ 212 tables: encoded packets waiting to go to the platform, periods done, link state.

Same file and durability as the outbox. A packet is committed here, with its QN, before it is first
sent, and sent byte-identical on every retry (the platform can drop repeats by QN). It is deleted
only after the platform's 9014 answer when it asked for one (A=1), or once written to the socket
when it did not. Rows go out in (``prio``, ``id``) order: answers to a platform request (prio 0)
before routine uploads (prio 1), each in the order they were queued.

``hj212_done`` records which minute/hour/day periods were queued (in the same transaction as their
packets), so a restart neither loses nor repeats a period; ``hj212_state`` keeps the store cursor,
the last QN and the settings the platform changed (CN 1000, 1062). The producer reads the
summaries it packs through the ``summaries_*`` methods.
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from carbonedge.runtime.store.db import count_rows, open_db
from carbonedge.runtime.store.transaction import Transaction

PRIO_ANSWER, PRIO_UPLOAD = 0, 1


@dataclass(frozen=True)
class QueuedPacket:
    """One packet as stored: ``packet`` is the full ASCII frame (``##...\\r\\n``)."""

    id: int
    prio: int
    qn: str
    cn: str
    data_time: str | None
    needs_ack: bool
    packet: str
    attempts: int


@dataclass(frozen=True)
class NewPacket:
    qn: str
    cn: str
    data_time: str | None
    needs_ack: bool
    packet: bytes


def queue_depth(path: Path) -> int:
    """Packets queued and not answered yet, through a connection of its own (any thread)."""
    return count_rows(path, "hj212_queue")


class Hj212Queue:
    """Access to the HJ 212 tables (one connection, used from the link's thread)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.db = open_db(self.path)  # OutboxCorruptError names the file and the way out

    # --- packets ---------------------------------------------------------------------------
    def enqueue(
        self,
        packets: list[NewPacket],
        *,
        prio: int = PRIO_UPLOAD,
        done: tuple[str, str] | None = None,
        state: dict[str, str] | None = None,
    ) -> bool:
        """Queue ``packets`` (committed on return) and mark period ``done`` in the same
        transaction; False (nothing queued) when ``done`` was already marked."""
        now = time.time()
        with Transaction(self.db) as db:
            if done is not None:
                if db.execute("SELECT 1 FROM hj212_done WHERE cn = ? AND data_time = ?",
                              done).fetchone():  # fmt: skip
                    return False
                db.execute("INSERT INTO hj212_done VALUES (?, ?)", done)
            db.executemany(
                "INSERT INTO hj212_queue (prio, qn, cn, data_time, needs_ack, packet, created_s) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                [(prio, p.qn, p.cn, p.data_time, int(p.needs_ack), p.packet.decode("utf-8"), now)
                 for p in packets],
            )  # fmt: skip
            for name, value in (state or {}).items():
                self._set(db, name, value)
        return True

    def head(self) -> QueuedPacket | None:
        """The next packet to send (lowest prio, then oldest)."""
        row = self.db.execute(
            "SELECT id, prio, qn, cn, data_time, needs_ack, packet, attempts FROM hj212_queue "
            "ORDER BY prio, id LIMIT 1"
        ).fetchone()
        if row is None:
            return None
        return QueuedPacket(*row[:5], bool(row[5]), row[6], int(row[7]))

    def mark_attempt(self, row_id: int) -> None:
        with Transaction(self.db) as db:
            db.execute("UPDATE hj212_queue SET attempts = attempts + 1, sent_at = ? WHERE id = ?",
                       (time.time(), row_id))  # fmt: skip

    def remove(self, row_id: int) -> None:
        """The packet was answered (9014) or, without A, written: it leaves the queue."""
        with Transaction(self.db) as db:
            db.execute("DELETE FROM hj212_queue WHERE id = ?", (row_id,))
            db.execute(
                "INSERT INTO hj212_state VALUES ('delivered', '1') ON CONFLICT(name) DO UPDATE "
                "SET value = CAST(value AS INTEGER) + 1"
            )

    def depth(self) -> int:
        return int(self.db.execute("SELECT COUNT(*) FROM hj212_queue").fetchone()[0])

    # --- periods and state -----------------------------------------------------------------
    def is_done(self, cn: str, data_time: str) -> bool:
        row = self.db.execute(
            "SELECT 1 FROM hj212_done WHERE cn = ? AND data_time = ?", (cn, data_time)
        ).fetchone()
        return row is not None

    def done_periods(self, cn: str, since: str, length: int) -> list[str]:
        """Distinct prefixes (``length`` chars of DataTime) of ``cn`` periods from ``since``."""
        rows = self.db.execute(
            "SELECT DISTINCT substr(data_time, 1, ?) FROM hj212_done WHERE cn = ? "
            "AND data_time >= ? ORDER BY 1",
            (length, cn, since),
        ).fetchall()
        return [r[0] for r in rows]

    def prune_done(self, before: str) -> int:
        """Forget periods older than ``before`` (a DataTime): the record must not grow forever."""
        with Transaction(self.db) as db:
            return db.execute("DELETE FROM hj212_done WHERE data_time < ?", (before,)).rowcount

    def get_state(self, name: str, default: str | None = None) -> str | None:
        row = self.db.execute("SELECT value FROM hj212_state WHERE name = ?", (name,)).fetchone()
        return default if row is None else str(row[0])

    def set_state(self, values: dict[str, str]) -> None:
        with Transaction(self.db) as db:
            for name, value in values.items():
                self._set(db, name, value)

    @staticmethod
    def _set(db: sqlite3.Connection, name: str, value: str) -> None:
        db.execute(
            "INSERT INTO hj212_state VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET value = "
            "excluded.value",
            (name, value),
        )

    # --- the summaries the producer packs (read only) --------------------------------------
    def summaries_starting(self, start_iso: str, end_iso: str) -> list[dict[str, Any]]:
        """Stored summary bodies whose interval starts in [start_iso, end_iso), rowid order."""
        rows = self.db.execute(
            "SELECT body FROM summaries WHERE interval_start >= ? AND interval_start < ? "
            "ORDER BY rowid", (start_iso, end_iso),
        ).fetchall()  # fmt: skip
        return [json.loads(r[0]) for r in rows]

    def summaries_recent(
        self, start_from_iso: str, end_from_iso: str, limit: int = 1000
    ) -> list[dict[str, Any]]:
        """Bodies starting at or after ``start_from_iso`` and ending at or after
        ``end_from_iso``, newest start first (the start bound uses the index)."""
        rows = self.db.execute(
            "SELECT body FROM summaries WHERE interval_start >= ? AND interval_end >= ? "
            "ORDER BY interval_start DESC LIMIT ?",
            (start_from_iso, end_from_iso, limit),
        ).fetchall()
        return [json.loads(r[0]) for r in rows]

    def summary_rows_after(self, rowid: int, limit: int) -> list[tuple[int, str, str, str]]:
        """(rowid, source_id, interval_start, interval_end) of summaries stored after ``rowid``."""
        return self.db.execute(
            "SELECT rowid, source_id, interval_start, interval_end FROM summaries "
            "WHERE rowid > ? ORDER BY rowid LIMIT ?",
            (rowid, limit),
        ).fetchall()

    def close(self) -> None:
        self.db.close()
