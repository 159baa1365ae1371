"""The on-box store: the one owner of the box's SQLite file (WAL, ``synchronous=FULL``).

Everything the box must not lose lives in one file (``output.sqlite_path``), and every SQL
statement on it is in this package: ``schema`` (every table, the schema version in
``PRAGMA user_version``, forward migrations run at open), ``db`` (``open_db``: the one way in),
``transaction`` (the one ``Transaction``), and one module per table group: ``records`` (``Store``:
summaries, events, the calibration last reported), ``sequences``, ``outbox`` (the uplink's queue,
``Outbox``), ``hj212`` (the HJ 212 link's queue, ``Hj212Queue``), ``salvage`` (recovery of a
corrupt file) and ``readonly`` (what ``carbonedge report`` reads while the service writes). What
goes upstream is the uplink's decision (``carbonedge.runtime.uplink.policy``), applied here in
the transaction that stores the record.
"""

from __future__ import annotations

from carbonedge.runtime.base.errors import StoreError
from carbonedge.runtime.store.db import RECOVER_HINT, open_db
from carbonedge.runtime.store.records import QueuedWriter, Store
from carbonedge.runtime.store.schema import SCHEMA_VERSION
from carbonedge.runtime.store.transaction import Transaction
from carbonedge.runtime.uplink.policy import UPLINKED_EVENT_KINDS

__all__ = [
    "RECOVER_HINT",
    "SCHEMA_VERSION",
    "UPLINKED_EVENT_KINDS",
    "QueuedWriter",
    "Store",
    "StoreError",
    "Transaction",
    "open_db",
]
