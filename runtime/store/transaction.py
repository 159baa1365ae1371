"""The one write transaction of the store, and the connection type that knows its file.

``Transaction(db)`` is ``BEGIN IMMEDIATE`` ... ``COMMIT`` on an autocommit connection
(``isolation_level=None``), all or nothing:

- the block raises: ``ROLLBACK``, and the block's exception propagates unchanged;
- ``BEGIN IMMEDIATE`` cannot take the write lock within the busy timeout: ``StoreError``;
- ``COMMIT`` fails (disk full, I/O error, a deferred constraint, locked past the timeout):
  ``ROLLBACK`` where SQLite left the transaction open (it does for some errors, which used to leave
  the connection stuck in a transaction that every later ``BEGIN`` refused), then ``StoreError``
  naming the file. Nothing of the block is kept, so the caller can repeat the whole unit; every
  writer in this package is idempotent (by message id, event id or the row ids it acts on), which
  is what makes "roll back and retry" safe rather than "retry the COMMIT".

After a COMMIT that allocated sequence numbers (``sequences.allocate``/``raise_to`` note them on
the ``StoreConnection``), the sequence sidecar ``<store>.seq`` is raised to them and fsynced
(``sidecar.py``); a failure to write it is logged at ERROR (the rows are committed).
"""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

from carbonedge.runtime.base.errors import StoreError
from carbonedge.runtime.store import sidecar

logger = logging.getLogger(__name__)


class StoreConnection(sqlite3.Connection):
    """A connection that remembers the file it opened (for error messages), the sequence numbers
    its open transaction allocated (for the sidecar) and the integrity problems found at open."""

    path: Path
    allocated: sidecar.Marks
    integrity_problems: list[str]


def db_file(db: sqlite3.Connection) -> str:
    """The file of ``db``'s main database, for messages."""
    path = getattr(db, "path", None)
    if path is not None:
        return str(path)
    try:
        return str(db.execute("PRAGMA database_list").fetchone()[2]) or "(in memory)"
    except sqlite3.Error:
        return "the store"


class Transaction:
    """``with Transaction(db) as db: ...``: one all-or-nothing write (see the module docstring)."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> sqlite3.Connection:
        try:
            self._db.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise StoreError(
                f"{db_file(self._db)}: cannot start a write transaction ({exc})"
            ) from None
        return self._db

    def __exit__(self, exc_type: object, *_: object) -> None:
        allocated = getattr(self._db, "allocated", None)
        if exc_type is not None:
            self._rollback()
            if allocated:
                allocated.clear()
            return  # the block's exception propagates
        try:
            self._db.execute("COMMIT")
        except sqlite3.Error as exc:
            self._rollback()
            if allocated:
                allocated.clear()
            raise StoreError(
                f"{db_file(self._db)}: commit failed ({exc}); the transaction was rolled back, "
                "nothing of it was written"
            ) from None
        if allocated:
            _raise_sidecar(self._db, allocated)

    def _rollback(self) -> None:
        if not self._db.in_transaction:
            return
        try:
            self._db.execute("ROLLBACK")
        except sqlite3.Error as exc:  # SQLite rolls back on its own when it cannot go on
            logger.error("%s: ROLLBACK failed (%s)", db_file(self._db), exc)


def _raise_sidecar(db: sqlite3.Connection, allocated: sidecar.Marks) -> None:
    """The committed numbers into the sidecar (after the COMMIT: a mark is never uncommitted)."""
    marks = {counter: dict(devices) for counter, devices in allocated.items()}
    allocated.clear()
    try:
        sidecar.update(Path(db.path), marks)  # type: ignore[attr-defined]
    except OSError as exc:
        logger.error("%s: cannot write the sequence sidecar (%s); the rows are committed",
                     sidecar.sidecar_path(db.path), exc)  # type: ignore[attr-defined]  # fmt: skip
