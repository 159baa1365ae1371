"""Salvage a corrupt store file: copy every readable row into a fresh file, then migrate it.

The fresh file is made at the corrupt file's own schema version (so each row lands in the table
layout it was written for), the readable rows of every table of that version are copied, and then
the file is opened as usual (``open_db``: migrated to ``SCHEMA_VERSION``). Sequence counters never
go backwards: when a device's counter itself is unreadable, it restarts ``SEQ_JUMP`` above the
highest number found, so the platform sees a gap rather than reused numbers.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from carbonedge.runtime.store import sequences
from carbonedge.runtime.store.db import open_db
from carbonedge.runtime.store.schema import SCHEMA_VERSION, layout, refuse_newer, tables_of
from carbonedge.runtime.store.transaction import Transaction

SEQ_JUMP = 1_000_000


def source_version(path: Path) -> int | None:
    """The schema version of the file at ``path`` (None when even that is unreadable); a file of
    a newer schema raises ``StoreError`` (this release cannot salvage it)."""
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    except sqlite3.Error:
        return None
    try:
        version = int(db.execute("PRAGMA user_version").fetchone()[0])
    except sqlite3.DatabaseError:
        return None
    finally:
        db.close()
    refuse_newer(path, version)
    return version


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


def _create(path: Path, version: int) -> sqlite3.Connection:
    """A fresh file with the layout of ``version``."""
    dst = sqlite3.connect(path, isolation_level=None)
    dst.execute("PRAGMA journal_mode=WAL")
    with Transaction(dst):
        for statement in layout(version):
            dst.execute(statement)
        dst.execute(f"PRAGMA user_version = {int(version)}")
    return dst


def _copy(src: sqlite3.Connection, dst: sqlite3.Connection, version: int) -> dict[str, Any]:
    try:
        present = {r[0] for r in src.execute("SELECT name FROM sqlite_master")}
    except sqlite3.DatabaseError:
        present = None  # try every table
    tables: dict[str, Any] = {}
    with Transaction(dst):
        for table in tables_of(layout(version)):
            if present is not None and table not in present:
                continue  # a v0 file lacks the tables of features it never used
            try:
                rows, bad = _rows(src, table)
            except sqlite3.DatabaseError as exc:
                tables[table] = {"salvaged": 0, "unreadable": f"table lost: {exc}"}
                continue
            if rows:
                marks = ",".join("?" * len(rows[0]))
                dst.executemany(f"INSERT OR IGNORE INTO {table} VALUES ({marks})", rows)
            tables[table] = {"salvaged": len(rows), "unreadable": bad}
    return tables


def _fix_sequences(db: sqlite3.Connection) -> list[str]:
    """Counters at least the highest number found; an unreadable one jumps ahead."""
    notes = []
    for counter, tables in ((sequences.SUMMARY, ("summaries",)),
                            (sequences.UPLINK, ("outbox", "dead_letter"))):  # fmt: skip
        evidence: dict[str, int] = {}
        for t in tables:
            for device, top in db.execute(f"SELECT device_id, MAX(seq) FROM {t} GROUP BY 1"):
                evidence[device] = max(evidence.get(device, 0), top)
        known = sequences.last(db, counter)
        for device, top in evidence.items():
            value = top if device in known else top + SEQ_JUMP
            if device not in known:
                notes.append(f"{counter} counter of {device} unreadable; restarts at {value + 1}")
            sequences.raise_to(db, counter, device, value)
    return notes


def salvage(source: Path, target: Path, version: int | None) -> dict[str, Any]:
    """Copy the readable rows of ``source`` (schema ``version``, None: unreadable) into a fresh
    store at ``target``; return ``{"tables": {name: {"salvaged", "unreadable"}}, "notes": []}``."""
    report: dict[str, Any] = {"tables": {}, "notes": []}
    dst = _create(target, SCHEMA_VERSION if version is None else version)
    try:
        src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
        src.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
    except sqlite3.DatabaseError as exc:
        report["notes"].append(f"nothing readable in {Path(source).name}: {exc}")
        src = None
    try:
        if src is not None:
            report["tables"] = _copy(src, dst, SCHEMA_VERSION if version is None else version)
    finally:
        if src is not None:
            src.close()
        dst.close()
    db = open_db(target)  # migrated to the current layout
    try:
        with Transaction(db):
            report["notes"] += _fix_sequences(db)
    finally:
        db.close()
    return report
