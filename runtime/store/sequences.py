"""Per-device sequence counters (table ``sequences``): allocated inside the caller's transaction.

Two counters per device: ``summary`` numbers the interval summaries (``IntervalSummary.seq``),
``uplink`` numbers every queued message (the envelope's ``seq``). A number is allocated in the
same transaction as the row that carries it, so the counters survive restarts and have no gaps.
Each number allocated is noted on the connection; after the COMMIT the ``Transaction`` raises the
sequence sidecar (``sidecar.py``) to it.
"""

from __future__ import annotations

import sqlite3

SUMMARY, UPLINK = "summary", "uplink"


def allocate(db: sqlite3.Connection, counter: str, device_id: str) -> int:
    """The next number (1, 2, ...) of ``counter`` for ``device_id``; needs an open transaction."""
    row = db.execute(
        "INSERT INTO sequences (counter, device_id, last_seq) VALUES (?, ?, 1) "
        "ON CONFLICT (counter, device_id) DO UPDATE SET last_seq = last_seq + 1 RETURNING last_seq",
        (counter, device_id),
    ).fetchone()
    _note(db, counter, device_id, int(row[0]))
    return int(row[0])


def _note(db: sqlite3.Connection, counter: str, device_id: str, value: int) -> None:
    allocated = getattr(db, "allocated", None)
    if allocated is not None:
        mine = allocated.setdefault(counter, {})
        mine[device_id] = max(mine.get(device_id, 0), value)


def last(db: sqlite3.Connection, counter: str) -> dict[str, int]:
    """device_id -> the last number allocated."""
    rows = db.execute("SELECT device_id, last_seq FROM sequences WHERE counter = ?", (counter,))
    return {device: int(n) for device, n in rows}


def raise_to(db: sqlite3.Connection, counter: str, device_id: str, value: int) -> None:
    """Make the last number at least ``value`` (never lowers it)."""
    db.execute(
        "INSERT INTO sequences (counter, device_id, last_seq) VALUES (?, ?, ?) "
        "ON CONFLICT (counter, device_id) DO UPDATE SET "
        "last_seq = MAX(last_seq, excluded.last_seq)",
        (counter, device_id, value),
    )
    _note(db, counter, device_id, value)
