"""``carbonedge outbox recover``: move a corrupt store/outbox aside and salvage what is readable.

Nothing is deleted: the corrupt file (with its ``-wal``/``-shm``) is renamed to
``<name>.corrupt-<UTC time>``, a fresh store is created under the original name, and every row that
can still be read is copied into it (summaries, events, outbox, dead letters, sequences). Sequence
counters never go backwards: when a device's counter itself is unreadable, it restarts well above
the highest sequence number found, so the platform sees a gap rather than reused numbers.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

from carbonedge.runtime.base.errors import StoreError

TABLES = ("summaries", "events", "sequence", "outbox", "outbox_sequence", "dead_letter",
          "outbox_counters")  # fmt: skip
SEQ_JUMP = 1_000_000


def _rows(src: sqlite3.Connection, table: str) -> tuple[list[tuple], int]:
    """Readable rows of ``table`` and how many rowids could not be read."""
    try:
        return src.execute(f"SELECT * FROM {table}").fetchall(), 0
    except sqlite3.DatabaseError:
        pass
    try:
        top = src.execute(f"SELECT MAX(rowid) FROM {table}").fetchone()[0] or 0
    except sqlite3.DatabaseError:
        top = 100_000
    rows, bad = [], 0
    for rowid in range(1, top + 1):
        try:
            row = src.execute(f"SELECT * FROM {table} WHERE rowid = ?", (rowid,)).fetchone()
        except sqlite3.DatabaseError:
            bad += 1
            continue
        if row is not None:
            rows.append(row)
    return rows, bad


def _fix_sequences(dst: sqlite3.Connection, salvaged: dict[str, int]) -> list[str]:
    notes = []
    for table, counter, tables in (
        ("sequence", "last_seq", ("summaries",)),
        ("outbox_sequence", "last_seq", ("outbox", "dead_letter")),
    ):
        evidence: dict[str, int] = {}
        for t in tables:
            for device, top in dst.execute(f"SELECT device_id, MAX(seq) FROM {t} GROUP BY 1"):
                evidence[device] = max(evidence.get(device, 0), top)
        known = dict(dst.execute(f"SELECT device_id, {counter} FROM {table}"))
        for device, top in evidence.items():
            if device in known:
                value = max(known[device], top)
            else:
                value = top + SEQ_JUMP
                notes.append(f"{table}: counter of {device} unreadable; restarts at {value + 1}")
            dst.execute(
                f"INSERT INTO {table} VALUES (?, ?) ON CONFLICT(device_id) DO UPDATE SET "
                f"{counter} = excluded.{counter}",
                (device, value),
            )
    return notes


def recover(path: Path) -> dict[str, Any]:
    """Quarantine ``path``, create a fresh store there, copy readable rows; return a report."""
    from carbonedge.runtime.store import Store

    path = Path(path)
    if not path.exists():
        raise StoreError(f"{path}: no such file to recover")
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    quarantine = path.with_name(f"{path.name}.corrupt-{stamp}")
    for suffix in ("", "-wal", "-shm"):
        part = Path(str(path) + suffix)
        if part.exists():
            part.rename(Path(str(quarantine) + suffix))
    Store(path).close()  # fresh store + outbox schema
    report: dict[str, Any] = {"quarantined": str(quarantine), "tables": {}, "notes": []}
    dst = sqlite3.connect(path, isolation_level=None)
    try:
        src = sqlite3.connect(f"file:{quarantine}?mode=ro", uri=True)
        src.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
    except sqlite3.DatabaseError as exc:
        report["notes"].append(f"nothing readable in {quarantine.name}: {exc}")
        dst.close()
        return report
    try:
        dst.execute("BEGIN IMMEDIATE")
        for table in TABLES:
            try:
                rows, bad = _rows(src, table)
            except sqlite3.DatabaseError as exc:
                report["tables"][table] = {"salvaged": 0, "unreadable": f"table lost: {exc}"}
                continue
            if rows:
                marks = ",".join("?" * len(rows[0]))
                dst.executemany(f"INSERT OR IGNORE INTO {table} VALUES ({marks})", rows)
            report["tables"][table] = {"salvaged": len(rows), "unreadable": bad}
        report["notes"] += _fix_sequences(dst, report["tables"])
        dst.execute("COMMIT")
    finally:
        src.close()
        dst.close()
    return report
