"""Salvage a corrupt store file: copy every readable row into a fresh file, then migrate it.

The fresh file is made at the corrupt file's own schema version (so each row lands in the table
layout it was written for), the readable rows of every table of that version are copied, and then
the file is opened as usual (``open_db``: migrated to ``SCHEMA_VERSION``).

Sequence counters never go backwards: each continues from the highest number found anywhere: the
counter rows that pass a check (a known counter, a device id, a number in range; a garbage row is
unreadable, not salvaged), the rows that carry numbers (summaries, outbox, dead letters) and the
sequence sidecar ``<store>.seq`` (``sidecar.py``), which stays next to the store. Only when a
device's counter is unreadable and the sidecar does not know it either does it restart
``SEQ_JUMP`` above the highest number found, so the platform sees a gap rather than reused numbers.

What was lost is counted, not guessed from read errors alone (a smashed page often reads as no
rows at all): summaries are never deleted and numbered without gaps, so a device's missing
summaries are its high-water mark minus the summaries salvaged; every uplink number allocated is
one outbox row that is still pending or was acknowledged, compacted or dead-lettered
(``outbox_counters``), so the outbox's lost rows are the allocated total minus those. Summaries
whose outbox rows were lost are queued again (``requeue.py``).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from carbonedge.runtime.store import sequences, sidecar
from carbonedge.runtime.store.db import open_db
from carbonedge.runtime.store.requeue import lost_outbox_rows, requeue_summaries
from carbonedge.runtime.store.schema import SCHEMA_VERSION, layout, refuse_newer, tables_of
from carbonedge.runtime.store.transaction import Transaction

SEQ_JUMP = 1_000_000
PROBE_ROWIDS = 100_000  # rowids probed when a table's highest rowid is unreadable
MAX_SEQ = 2**62  # a counter above this is garbage (the envelope's seq must stay below 2**63)
COUNTER_TABLES = {"sequences", "sequence", "outbox_sequence"}  # v1 and v0 counter tables


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


def _valid_counter(table: str, row: tuple) -> bool:
    """A counter row that can be trusted: (counter, device, n) or, v0, (device, n)."""
    *key, value = row
    if table == "sequences" and key[:1] not in ([sequences.SUMMARY], [sequences.UPLINK]):
        return False
    device = key[-1]
    return (isinstance(device, str) and 0 < len(device) <= 200 and device.isprintable()
            and isinstance(value, int) and 0 <= value <= MAX_SEQ)  # fmt: skip


def _rows(src: sqlite3.Connection, table: str) -> tuple[list[tuple], int]:
    """Readable rows of ``table`` and how many could not be read (or fail a counter's check)."""
    rows, bad = _read_rows(src, table)
    if table in COUNTER_TABLES:
        good = [r for r in rows if _valid_counter(table, r)]
        return good, bad + len(rows) - len(good)
    return rows, bad


def _read_rows(src: sqlite3.Connection, table: str) -> tuple[list[tuple], int]:
    """Rows readable one by one, and the rowids that failed to read. When even the highest
    rowid is unreadable the probe goes up to ``PROBE_ROWIDS`` and only the failures below the
    highest rowid read are counted (the lost tail is counted from the counters, ``_count_lost``).
    """
    try:
        return src.execute(f"SELECT * FROM {table}").fetchall(), 0
    except sqlite3.DatabaseError:
        pass
    try:
        top, guessed = src.execute(f"SELECT MAX(rowid) FROM {table}").fetchone()[0] or 0, False
    except sqlite3.DatabaseError:
        top, guessed = PROBE_ROWIDS, True
    rows, failed = [], []
    for rowid in range(1, top + 1):
        try:
            row = src.execute(f"SELECT * FROM {table} WHERE rowid = ?", (rowid,)).fetchone()
        except sqlite3.DatabaseError:
            failed.append(rowid)
            continue
        if row is not None:
            rows.append((rowid, row))
    if guessed:
        last = rows[-1][0] if rows else 0
        failed = [r for r in failed if r < last]
    return [row for _, row in rows], len(failed)


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


def _fix_sequences(db: sqlite3.Connection, marks: sidecar.Marks) -> list[str]:
    """Counters at least the highest number found (rows, sidecar ``marks``); a counter neither
    readable nor in the sidecar jumps ahead."""
    notes = []
    for counter, tables in ((sequences.SUMMARY, ("summaries",)),
                            (sequences.UPLINK, ("outbox", "dead_letter"))):  # fmt: skip
        evidence: dict[str, int] = {}
        for t in tables:
            for device, top in db.execute(f"SELECT device_id, MAX(seq) FROM {t} GROUP BY 1"):
                evidence[device] = max(evidence.get(device, 0), top)
        known = sequences.last(db, counter)
        side = marks.get(counter, {})
        for device in set(evidence) | set(side):
            top = max(evidence.get(device, 0), side.get(device, 0))
            value = top if device in known or device in side else top + SEQ_JUMP
            if device not in known:
                how = "the sidecar's mark" if device in side else f"a jump of {SEQ_JUMP}"
                notes.append(f"{counter} counter of {device} unreadable; continues at "
                             f"{max(value, known.get(device, 0)) + 1} ({how})")  # fmt: skip
            sequences.raise_to(db, counter, device, value)
    return notes


def _count_lost(db: sqlite3.Connection, tables: dict[str, Any]) -> list[str]:
    """Raise each table's ``unreadable`` to what the counters say is missing (module docstring);
    notes on what was counted. Run after ``_fix_sequences`` (the counters are the marks)."""
    notes = []
    summary = tables.get("summaries")
    if summary is not None and isinstance(summary["unreadable"], int):
        marks = sequences.last(db, sequences.SUMMARY)
        found = dict(db.execute("SELECT device_id, COUNT(DISTINCT seq) FROM summaries GROUP BY 1"))
        missing = sum(max(0, top - found.get(d, 0)) for d, top in marks.items())
        if missing > summary["unreadable"]:
            notes.append(f"summaries: {missing} missing below the summary counters' marks")
            summary["unreadable"] = missing
    outbox = tables.get("outbox")
    lost = lost_outbox_rows(db)
    if outbox is not None and isinstance(outbox["unreadable"], int) and lost is not None:
        if lost > outbox["unreadable"]:
            notes.append(f"outbox: {lost} rows missing (uplink numbers allocated minus rows "
                         "pending, acknowledged, compacted and dead-lettered)")  # fmt: skip
            outbox["unreadable"] = lost
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
    marks = sidecar.read_marks(target)  # the sidecar stays next to the store's name
    db = open_db(target)  # migrated to the current layout (and raised to the sidecar's marks)
    try:
        with Transaction(db):
            report["notes"] += _fix_sequences(db, marks)
        report["notes"] += _count_lost(db, report["tables"])
        requeued = requeue_summaries(db)
        if requeued:
            report["notes"].append(
                f"{requeued} summaries whose outbox rows were lost queued again under their own "
                "message ids (the platform drops the ones it already has)"
            )
    finally:
        db.close()
    return report
