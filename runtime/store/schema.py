"""Every table of the box's SQLite file, its schema version and the forward migrations.

One file per box (``output.sqlite_path``) holds everything the box must not lose. Table groups and
the module that runs their SQL (nothing outside ``carbonedge.runtime.store`` does):

==========================================  =====================================================
``summaries``, ``events``                    ``records.py`` (``Store``): what the box measured
``calibration_reported``                     ``records.py``: the record last reported per source
``sequences``                                ``sequences.py``: per-device counters ``summary``
                                             (summary ``seq``) and ``uplink`` (message ``seq``)
``outbox``, ``dead_letter``,                 ``outbox.py``: messages waiting for an ack
``outbox_counters``
``hj212_queue``, ``hj212_done``,             ``hj212.py``: the HJ 212 link's packets and state
``hj212_state``
==========================================  =====================================================

The version is ``PRAGMA user_version``:

- 0: the layout of the releases before it was set (up to commit e726327): two counter tables
  (``sequence`` for summaries, ``outbox_sequence`` for the uplink), the HJ 212 tables, their
  ``hj212_summaries_start`` index and ``calibration_reported`` created by their users on first use
  (a v0 file may lack them);
- 1: ``LAYOUT`` below: one ``sequences`` table, every table created when the file is opened.

``migrate`` runs at every open (``db.open_db``): a file at ``SCHEMA_VERSION`` is left alone, an
older one is brought forward step by step in ONE transaction (all steps and the new version commit
together, or nothing changes), and a newer one is refused with a ``StoreError`` naming the file and
both versions (a box rolled back to an older release must not half-understand a newer layout).
Each step is idempotent (``IF NOT EXISTS``, upserts keeping the larger counter), so it also copes
with a v0 file that lacks optional tables.
"""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path
from typing import Callable

from carbonedge.runtime.base.errors import StoreError
from carbonedge.runtime.store.transaction import Transaction

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 1

#: The current layout (version 1), one statement per entry (``executescript`` would commit).
LAYOUT: tuple[str, ...] = (
    """CREATE TABLE IF NOT EXISTS summaries (
    id TEXT PRIMARY KEY,
    device_id TEXT NOT NULL,
    source_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    interval_start TEXT NOT NULL,
    interval_end TEXT NOT NULL,
    body TEXT NOT NULL
)""",
    "CREATE INDEX IF NOT EXISTS summaries_device_seq ON summaries (device_id, seq)",
    "CREATE INDEX IF NOT EXISTS summaries_interval_start ON summaries (interval_start)",
    """CREATE TABLE IF NOT EXISTS events (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    device_id TEXT NOT NULL,
    source_id TEXT NOT NULL,
    t_wall TEXT NOT NULL,
    body TEXT NOT NULL
)""",
    """CREATE TABLE IF NOT EXISTS sequences (
    counter TEXT NOT NULL,
    device_id TEXT NOT NULL,
    last_seq INTEGER NOT NULL,
    PRIMARY KEY (counter, device_id)
)""",
    """CREATE TABLE IF NOT EXISTS calibration_reported (
    source_id TEXT PRIMARY KEY,
    record_id TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    record TEXT NOT NULL,
    reported_at TEXT NOT NULL
)""",
    """CREATE TABLE IF NOT EXISTS outbox (
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
)""",
    """CREATE TABLE IF NOT EXISTS dead_letter (
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
)""",
    """CREATE TABLE IF NOT EXISTS outbox_counters (
    name TEXT PRIMARY KEY,
    value INTEGER NOT NULL
)""",
    """CREATE TABLE IF NOT EXISTS hj212_queue (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    prio INTEGER NOT NULL,
    qn TEXT NOT NULL,
    cn TEXT NOT NULL,
    data_time TEXT,
    needs_ack INTEGER NOT NULL,
    packet TEXT NOT NULL,
    created_s REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    sent_at REAL
)""",
    "CREATE INDEX IF NOT EXISTS hj212_queue_order ON hj212_queue (prio, id)",
    """CREATE TABLE IF NOT EXISTS hj212_done (
    cn TEXT NOT NULL,
    data_time TEXT NOT NULL,
    PRIMARY KEY (cn, data_time)
)""",
    """CREATE TABLE IF NOT EXISTS hj212_state (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
)""",
)

#: The counter tables of version 0 and the ``sequences.counter`` each becomes.
_V0_COUNTERS = {"sequence": "summary", "outbox_sequence": "uplink"}

#: Version 0 (the release layout), kept to describe it, to salvage a v0 file and for tests.
LAYOUT_V0: tuple[str, ...] = (
    tuple(s for s in LAYOUT if "sequences" not in s and "summaries_interval_start" not in s)
    + tuple(
        f"CREATE TABLE IF NOT EXISTS {name} (\n    device_id TEXT PRIMARY KEY,\n"
        "    last_seq INTEGER NOT NULL\n)"
        for name in _V0_COUNTERS
    )
    + ("CREATE INDEX IF NOT EXISTS hj212_summaries_start ON summaries (interval_start)",)
)


def tables_of(layout: tuple[str, ...]) -> list[str]:
    """The table names a layout creates, in its order."""
    return [s.split()[5] for s in layout if s.startswith("CREATE TABLE")]


def layout(version: int) -> tuple[str, ...]:
    return {0: LAYOUT_V0, 1: LAYOUT}[version]


def _v0_to_v1(db: sqlite3.Connection) -> None:
    """One ``sequences`` table for both counters; every table exists; the summaries' start
    index is the store's (``summaries_interval_start``)."""
    for statement in LAYOUT:
        db.execute(statement)
    present = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    for table, counter in _V0_COUNTERS.items():
        if table not in present:
            continue
        db.execute(
            f"INSERT INTO sequences (counter, device_id, last_seq) SELECT ?, device_id, last_seq "
            f"FROM {table} WHERE true ON CONFLICT (counter, device_id) DO UPDATE SET "
            "last_seq = MAX(last_seq, excluded.last_seq)",
            (counter,),
        )
        db.execute(f"DROP TABLE {table}")
    db.execute("DROP INDEX IF EXISTS hj212_summaries_start")


#: version -> the step that brings a file of that version to the next one
MIGRATIONS: dict[int, Callable[[sqlite3.Connection], None]] = {0: _v0_to_v1}


def read_version(db: sqlite3.Connection) -> int:
    return int(db.execute("PRAGMA user_version").fetchone()[0])


def refuse_newer(path: Path | str, found: int) -> None:
    if found > SCHEMA_VERSION:
        raise StoreError(
            f"{path}: the store's schema version is {found}, newer than version "
            f"{SCHEMA_VERSION} of this release (the file was written by a newer carbonedge); "
            "nothing was changed: run the release that wrote it (downgrades are not supported)"
        )


def migrate(db: sqlite3.Connection, path: Path | str) -> int:
    """Bring the file to ``SCHEMA_VERSION`` in one transaction; return the version it had.

    ``db`` is in autocommit mode (``isolation_level=None``) and not in a transaction."""
    found = read_version(db)
    refuse_newer(path, found)
    if found == SCHEMA_VERSION:
        return found
    with Transaction(db):  # a concurrent opener waits here, then finds the new version
        found = version = read_version(db)
        refuse_newer(path, version)
        new = db.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()[0] == 0
        while version < SCHEMA_VERSION:
            MIGRATIONS[version](db)
            version += 1
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    if new:
        logger.debug("%s: new store, schema version %d", path, version)
    elif found < SCHEMA_VERSION:
        logger.info("%s: store schema migrated from version %d to %d", path, found, version)
    return found
