"""Opening the box's store file: the one place that connects to it.

Every user (the ``Store`` of the pipelines, the uplink's ``Outbox``, the HJ 212 queue, recovery)
opens the file through ``open_db``: WAL journal, ``synchronous=FULL`` (checked), ``quick_check``
passed, a schema version this release knows, brought forward to ``SCHEMA_VERSION`` (see
``schema.py``), its sequence counters checked against the sidecar ``<store>.seq`` (``integrity.py``:
committed rows lost are logged and their numbers never reused). A new file is created mode 0600
(SQLite gives its ``-wal``/``-shm`` the same mode); an existing one that others can read loses
those bits, with a warning. Each user keeps its own connection (one per thread that writes).
The WAL index's disk blocks are allocated at open (``wal_index.py``: no SIGBUS on a full disk).
"""

from __future__ import annotations

import logging
import os
import sqlite3
import stat
from pathlib import Path

from carbonedge.runtime.base.errors import StoreError
from carbonedge.runtime.store.integrity import check_marks
from carbonedge.runtime.store.schema import migrate, read_version, refuse_newer
from carbonedge.runtime.store.transaction import StoreConnection
from carbonedge.runtime.store.wal_index import allocate_wal_index
from carbonedge.runtime.uplink.errors import OutboxCorruptError

logger = logging.getLogger(__name__)

RECOVER_HINT = "carbonedge outbox recover"
BUSY_TIMEOUT_S = 30.0


def open_db(path: Path, *, busy_timeout_s: float = BUSY_TIMEOUT_S) -> StoreConnection:
    """Open (create) the store file at ``path``, checked and migrated; autocommit mode.

    ``busy_timeout_s``: how long a statement waits for another connection's write lock.

    A corrupt file raises ``OutboxCorruptError`` naming the file and the recovery command (it is
    never deleted or rewritten here); a file of a newer schema, or one that cannot be opened,
    ``StoreError``."""
    path = Path(path)
    db: StoreConnection | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        _private_file(path)
        db = sqlite3.connect(path, check_same_thread=False, isolation_level=None,
                             timeout=busy_timeout_s, factory=StoreConnection)  # fmt: skip
        db.path, db.allocated, db.integrity_problems = path, {}, []
        result = db.execute("PRAGMA quick_check").fetchone()[0]
        if result != "ok":
            raise sqlite3.DatabaseError(f"quick_check: {result}")
        refuse_newer(path, read_version(db))  # before anything below writes to the file
        mode = db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            logger.warning("%s: WAL journal not available (got %s)", path, mode)
        db.execute("PRAGMA synchronous=FULL")
        if db.execute("PRAGMA synchronous").fetchone()[0] != 2:
            raise StoreError(f"{path}: PRAGMA synchronous=FULL did not take effect")
        migrate(db, path)
        db.integrity_problems = check_marks(db, path)
        allocate_wal_index(path)  # no SIGBUS on a full disk with small blocks (wal_index.py)
    except sqlite3.OperationalError as exc:  # cannot open, locked, I/O: not corruption
        _close(db)
        raise StoreError(f"{path}: cannot open the on-box store ({exc})") from None
    except sqlite3.DatabaseError as exc:
        _close(db)
        raise OutboxCorruptError(
            f"{path}: the store file is corrupt ({exc}); nothing was deleted. Move it aside "
            f"and salvage its readable rows with: {RECOVER_HINT} {path}"
        ) from None
    except (sqlite3.Error, OSError) as exc:
        _close(db)
        raise StoreError(f"{path}: cannot open the on-box store ({exc})") from None
    except BaseException:
        _close(db)
        raise
    return db


FILE_MODE = 0o600


def _private_file(path: Path) -> None:
    """Create ``path`` empty at mode 0600 (SQLite takes an empty file as a new database), or
    take the "others" bits off an existing one."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    except FileExistsError:
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o007:
            os.chmod(path, mode & ~0o007)
            logger.warning("%s: the store was readable by others (mode %o); now %o",
                           path, mode, mode & ~0o007)  # fmt: skip
        return
    os.close(fd)


def read_connection(path: Path) -> sqlite3.Connection:
    """A short-lived plain connection for a count from any thread (no checks, no migration)."""
    return sqlite3.connect(path, timeout=BUSY_TIMEOUT_S)


def count_rows(path: Path, table: str) -> int:
    """Rows of ``table`` (one of the schema's) in the file at ``path``."""
    db = read_connection(path)
    try:
        return int(db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])
    finally:
        db.close()


def _close(db: sqlite3.Connection | None) -> None:
    if db is not None:
        db.close()
