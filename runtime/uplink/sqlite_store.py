"""``SqliteStore``: the ingest store in one SQLite file (the single-machine default).

Table ``messages`` holds accepted envelopes in arrival order, ``seen`` the (device, seq) ledger
(``SeenLedger``), ``rejects`` every refused payload, ``status_hints`` the unsigned retained
status, ``device_sites`` the pinned sites and ``ingest_counters`` the verdict counts.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

from carbonedge.runtime.base.events import utc_iso
from carbonedge.runtime.uplink.ingest_store import SITE_PIN, Verdict, check_site
from carbonedge.runtime.uplink.verify import SeenLedger

_SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    arrival INTEGER PRIMARY KEY AUTOINCREMENT,
    msg_id TEXT NOT NULL UNIQUE,
    site_id TEXT NOT NULL,
    device_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    kind TEXT NOT NULL,
    created_at TEXT NOT NULL,
    received_at TEXT NOT NULL,
    topic TEXT NOT NULL,
    envelope TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS rejects (
    id INTEGER PRIMARY KEY,
    received_at TEXT NOT NULL,
    topic TEXT NOT NULL,
    reason TEXT NOT NULL,
    payload_head TEXT NOT NULL,
    device_id TEXT,
    raw_bytes INTEGER
);
CREATE TABLE IF NOT EXISTS status_hints (
    device_id TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    received_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS device_sites (
    device_id TEXT PRIMARY KEY,
    site_id TEXT NOT NULL,
    pinned_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS ingest_counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""


class SqliteStore:
    """One SQLite connection (``:memory:`` without a path); the caller serialises calls."""

    def __init__(self, sqlite_path: Path | None = None) -> None:
        target = str(sqlite_path) if sqlite_path is not None else ":memory:"
        if sqlite_path is not None:
            Path(sqlite_path).parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(target, check_same_thread=False, isolation_level=None)
        if sqlite_path is not None:
            self.db.execute("PRAGMA journal_mode=WAL")
        self.db.executescript(_SCHEMA)
        columns = {r[1] for r in self.db.execute("PRAGMA table_info(rejects)")}
        for column, sql_type in (("device_id", "TEXT"), ("raw_bytes", "INTEGER")):
            if column not in columns:  # an ingest database from before these columns
                self.db.execute(f"ALTER TABLE rejects ADD COLUMN {column} {sql_type}")
        self.ledger = SeenLedger(self.db)

    def _count(self, verdict: str) -> None:
        self.db.execute(
            "INSERT INTO ingest_counters VALUES (?, 1) "
            "ON CONFLICT(name) DO UPDATE SET value = value + 1",
            (verdict,),
        )

    def accept(self, topic: str, envelope: dict[str, Any], *, site_file: str | None,
               received_s: float) -> Verdict:  # fmt: skip
        self.db.execute("BEGIN IMMEDIATE")
        try:
            self._check_site(envelope, site_file, received_s)
            verdict = self.ledger.check(envelope)
            if verdict == "new":
                self._store(topic, envelope, received_s)
            self._count(verdict)
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        return verdict

    def _check_site(self, env: dict[str, Any], site_file: str | None, received_s: float) -> None:
        device, site = env["device_id"], env["site_id"]
        if site_file is not None:
            return  # the Ingestor compared it with the keys folder's .site file
        row = self.db.execute(
            "SELECT site_id FROM device_sites WHERE device_id = ?", (device,)
        ).fetchone()
        if row is None:
            self.db.execute("INSERT INTO device_sites VALUES (?, ?, ?)",
                            (device, site, utc_iso(received_s)))  # fmt: skip
            return
        check_site(device, site, row[0], SITE_PIN)

    def _store(self, topic: str, env: dict[str, Any], received_s: float) -> None:
        self.db.execute(
            "INSERT INTO messages (msg_id, site_id, device_id, seq, kind, created_at, received_at,"
            " topic, envelope) VALUES (?,?,?,?,?,?,?,?,?)",
            (env["msg_id"], env["site_id"], env["device_id"], env["seq"], env["kind"],
             env["created_at"], utc_iso(received_s), topic, json.dumps(env)),
        )  # fmt: skip

    def reject(self, *, received_s: float, topic: str, reason: str, payload_head: str,
               device_id: str | None, raw_bytes: int) -> None:  # fmt: skip
        self.db.execute(
            "INSERT INTO rejects (received_at, topic, reason, payload_head, device_id, raw_bytes)"
            " VALUES (?,?,?,?,?,?)",
            (utc_iso(received_s), topic, reason, payload_head, device_id, raw_bytes),
        )
        self._count("rejected")

    def status_hint(self, device_id: str, status: str, received_s: float) -> None:
        self.db.execute(
            "INSERT INTO status_hints VALUES (?, ?, ?) ON CONFLICT(device_id) DO UPDATE "
            "SET status = excluded.status, received_at = excluded.received_at",
            (device_id, status, utc_iso(received_s)),
        )

    def messages(self, kind: str | None = None) -> list[dict[str, Any]]:
        query, args = "SELECT envelope FROM messages", ()
        if kind is not None:
            query, args = query + " WHERE kind = ?", (kind,)
        rows = self.db.execute(query + " ORDER BY arrival", args).fetchall()
        return [json.loads(r[0]) for r in rows]

    def close(self) -> None:
        self.db.close()
