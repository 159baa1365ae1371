"""At open: is the database behind its sequence sidecar? (committed rows lost; never reuse them)

``check_marks`` compares the sidecar's high-water marks (``sidecar.py``: written after every COMMIT
that allocated a number) with the highest number the database holds for each counter and device
(its ``sequences`` row and the rows that carry numbers: ``summaries``, ``outbox``,
``dead_letter``). A mark above the database means committed rows are gone (a corrupt or truncated
WAL rolled them back, an older copy of the file was restored, a fresh file replaced a corrupt
one): one ERROR line names the file and the lost range, the counter is raised to the mark so the
next number is above it (never reused), and the line is kept in the sidecar's ``problems`` for
every later opener (``StoreConnection.integrity_problems``, ``Store.integrity_problems``).
The other way round (the database ahead: no sidecar yet, or a crash between COMMIT and the
sidecar write) the sidecar is raised to the database quietly.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from pathlib import Path

from carbonedge.runtime.store import sequences, sidecar
from carbonedge.runtime.store.transaction import Transaction

logger = logging.getLogger(__name__)

#: counter -> the tables whose ``seq`` column carries its numbers
EVIDENCE = {sequences.SUMMARY: ("summaries",), sequences.UPLINK: ("outbox", "dead_letter")}


def database_marks(db: sqlite3.Connection) -> sidecar.Marks:
    """counter -> device -> the highest number the database holds (counter row or data rows)."""
    marks: sidecar.Marks = {}
    for counter, tables in EVIDENCE.items():
        found = dict(sequences.last(db, counter))
        for table in tables:
            for device, top in db.execute(f"SELECT device_id, MAX(seq) FROM {table} GROUP BY 1"):
                found[device] = max(found.get(device, 0), int(top))
        if found:
            marks[counter] = found
    return marks


def lost_ranges(side: sidecar.Marks, held: sidecar.Marks) -> list[tuple[str, str, int, int]]:
    """(counter, device, first lost, last lost) where the sidecar is above the database."""
    out = []
    for counter, devices in sorted(side.items()):
        for device, mark in sorted(devices.items()):
            top = held.get(counter, {}).get(device, 0)
            if mark > top:
                out.append((counter, device, top + 1, mark))
    return out


def check_marks(db: sqlite3.Connection, path: Path) -> list[str]:
    """Compare, raise, log and record (see the module docstring); the file's problem lines."""
    data = sidecar.read(path)
    side = data["marks"] if data else {}
    held = database_marks(db)
    lost = lost_ranges(side, held)
    for counter, device, first, last in lost:
        line = (
            f"{path}: committed rows were lost: {counter} seq {first}..{last} of {device} (the "
            f"sequence sidecar {sidecar.sidecar_path(path).name} reached {last}, the database "
            f"holds up to {first - 1}: a corrupt or truncated WAL, an older copy of the file, or a "
            f"corrupt file moved aside); "
            f"numbering continues at {last + 1}"
        )
        logger.error("%s", line)
        with Transaction(db):
            sequences.raise_to(db, counter, device, last)
        sidecar.update(path, {}, problem=f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} "
                                         f"{line}")  # fmt: skip
    if data is None or lost_ranges(held, side):  # no sidecar yet, or behind the database
        sidecar.update(path, held)
    after = sidecar.read(path)
    return list(after["problems"]) if after else []
