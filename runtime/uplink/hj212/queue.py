"""The HJ 212 queue: encoded packets waiting to go to the platform, in the store's SQLite file.

Same file and same durability as the JSON outbox (``runtime/uplink/outbox.py``: WAL,
``synchronous=FULL``, ``quick_check`` on open). A packet is committed here, with its QN, before it
is first sent, and sent byte-identical on every retry (the platform can drop repeats by QN). It is
deleted only after the platform's 9014 answer when it asked for one (A=1), or once written to the
socket when it did not. Rows go out in (``prio``, ``id``) order: answers to a platform request
(prio 0) before routine uploads (prio 1), each in the order they were queued.

``hj212_done`` records which minute/hour/day periods were queued (in the same transaction as their
packets), so a restart neither loses nor repeats a period; ``hj212_state`` keeps the store cursor,
the last QN and the settings the platform changed (CN 1000, 1062). Entries older than
``DONE_KEEP_DAYS`` are pruned as days close.
"""

from __future__ import annotations

import json
import logging
import math
import sqlite3
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from carbonedge.runtime.uplink.hj212.codec import (
    CN,
    CpData,
    Hj212Packet,
    encode_packet,
    flag_for,
    split_packets,
)
from carbonedge.runtime.uplink.hj212.config import Hj212Config
from carbonedge.runtime.uplink.hj212.uploads import (
    CpParts,
    aggregate_cp,
    data_time,
    iso_to_s,
    s_to_iso,
)
from carbonedge.runtime.uplink.outbox import Transaction, open_checked

logger = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS hj212_queue (
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
);
CREATE INDEX IF NOT EXISTS hj212_queue_order ON hj212_queue (prio, id);
CREATE TABLE IF NOT EXISTS hj212_done (
    cn TEXT NOT NULL,
    data_time TEXT NOT NULL,
    PRIMARY KEY (cn, data_time)
);
CREATE TABLE IF NOT EXISTS hj212_state (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""

PRIO_ANSWER, PRIO_UPLOAD = 0, 1
DONE_KEEP_DAYS = 45


@dataclass(frozen=True)
class QueuedPacket:
    """One packet as stored: ``packet`` is the full ASCII frame (``##...\\r\\n``)."""

    id: int
    prio: int
    qn: str
    cn: str
    data_time: str | None
    needs_ack: bool
    packet: str
    attempts: int


@dataclass(frozen=True)
class NewPacket:
    qn: str
    cn: str
    data_time: str | None
    needs_ack: bool
    packet: bytes


class QnClock:
    """QN values ``YYYYMMDDhhmmsszzz`` (platform local time), strictly increasing across restarts.

    The last one is persisted with the packets that use it (``hj212_state.last_qn_ms``).
    """

    def __init__(self, tz: str, last_ms: int = 0) -> None:
        self.tz, self.last_ms = ZoneInfo(tz), last_ms

    def next(self, now_s: float | None = None) -> str:
        now_ms = int((time.time() if now_s is None else now_s) * 1000)
        self.last_ms = max(now_ms, self.last_ms + 1)
        dt = datetime.fromtimestamp(self.last_ms / 1000, self.tz)
        return dt.strftime("%Y%m%d%H%M%S") + f"{self.last_ms % 1000:03d}"


class Hj212Queue:
    """Access to the queue tables (one connection, used from the link's thread)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.db = open_checked(self.path)  # OutboxCorruptError names the file and the way out
        self.db.executescript(SCHEMA)

    # --- packets ---------------------------------------------------------------------------
    def enqueue(
        self,
        packets: list[NewPacket],
        *,
        prio: int = PRIO_UPLOAD,
        done: tuple[str, str] | None = None,
        state: dict[str, str] | None = None,
    ) -> bool:
        """Queue ``packets`` (committed on return) and mark period ``done`` in the same
        transaction; False (nothing queued) when ``done`` was already marked."""
        now = time.time()
        with Transaction(self.db) as db:
            if done is not None:
                if db.execute("SELECT 1 FROM hj212_done WHERE cn = ? AND data_time = ?",
                              done).fetchone():  # fmt: skip
                    return False
                db.execute("INSERT INTO hj212_done VALUES (?, ?)", done)
            db.executemany(
                "INSERT INTO hj212_queue (prio, qn, cn, data_time, needs_ack, packet, created_s) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                [(prio, p.qn, p.cn, p.data_time, int(p.needs_ack), p.packet.decode("utf-8"), now)
                 for p in packets],
            )  # fmt: skip
            for name, value in (state or {}).items():
                self._set(db, name, value)
        return True

    def head(self) -> QueuedPacket | None:
        """The next packet to send (lowest prio, then oldest)."""
        row = self.db.execute(
            "SELECT id, prio, qn, cn, data_time, needs_ack, packet, attempts FROM hj212_queue "
            "ORDER BY prio, id LIMIT 1"
        ).fetchone()
        if row is None:
            return None
        return QueuedPacket(*row[:5], bool(row[5]), row[6], int(row[7]))

    def mark_attempt(self, row_id: int) -> None:
        with Transaction(self.db) as db:
            db.execute("UPDATE hj212_queue SET attempts = attempts + 1, sent_at = ? WHERE id = ?",
                       (time.time(), row_id))  # fmt: skip

    def remove(self, row_id: int) -> None:
        """The packet was answered (9014) or, without A, written: it leaves the queue."""
        with Transaction(self.db) as db:
            db.execute("DELETE FROM hj212_queue WHERE id = ?", (row_id,))
            db.execute(
                "INSERT INTO hj212_state VALUES ('delivered', '1') ON CONFLICT(name) DO UPDATE "
                "SET value = CAST(value AS INTEGER) + 1"
            )

    def depth(self) -> int:
        return int(self.db.execute("SELECT COUNT(*) FROM hj212_queue").fetchone()[0])

    # --- periods and state -----------------------------------------------------------------
    def is_done(self, cn: str, data_time: str) -> bool:
        row = self.db.execute(
            "SELECT 1 FROM hj212_done WHERE cn = ? AND data_time = ?", (cn, data_time)
        ).fetchone()
        return row is not None

    def done_periods(self, cn: str, since: str, length: int) -> list[str]:
        """Distinct prefixes (``length`` chars of DataTime) of ``cn`` periods from ``since``."""
        rows = self.db.execute(
            "SELECT DISTINCT substr(data_time, 1, ?) FROM hj212_done WHERE cn = ? "
            "AND data_time >= ? ORDER BY 1",
            (length, cn, since),
        ).fetchall()
        return [r[0] for r in rows]

    def prune_done(self, before: str) -> int:
        """Forget periods older than ``before`` (a DataTime): the record must not grow forever."""
        with Transaction(self.db) as db:
            return db.execute("DELETE FROM hj212_done WHERE data_time < ?", (before,)).rowcount

    def get_state(self, name: str, default: str | None = None) -> str | None:
        row = self.db.execute("SELECT value FROM hj212_state WHERE name = ?", (name,)).fetchone()
        return default if row is None else str(row[0])

    def set_state(self, values: dict[str, str]) -> None:
        with Transaction(self.db) as db:
            for name, value in values.items():
                self._set(db, name, value)

    @staticmethod
    def _set(db: sqlite3.Connection, name: str, value: str) -> None:
        db.execute(
            "INSERT INTO hj212_state VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET value = "
            "excluded.value",
            (name, value),
        )

    def close(self) -> None:
        self.db.close()


class Packer:
    """Builds encoded packets for the box (QN from ``clock``, ST/PW/MN/version from config)."""

    def __init__(self, config: Hj212Config, clock: QnClock) -> None:
        self.config, self.clock = config, clock

    def packets(
        self,
        cn: str,
        parts: CpParts,
        *,
        ack: bool,
        qn: str | None = None,
        st: str | None = None,
        data_time: str | None = None,
    ) -> list[NewPacket]:
        """One packet, or its split parts (each with its own QN, App. C.49) when too long."""
        c = self.config
        packet = Hj212Packet(
            qn=qn or self.clock.next(), st=st or c.st, cn=cn, pw=c.pw, mn=c.mn.upper(),
            flag=flag_for(c.version, ack=ack), cp=CpData(*parts),
        )  # fmt: skip
        split = split_packets(packet, c.max_data_len)
        if qn is None and len(split) > 1:
            self.clock.last_ms += len(split) - 1  # the parts used QN + 1 ms, + 2 ms, ...
        return [NewPacket(p.qn or "", cn, data_time, ack, encode_packet(p)) for p in split]


class Producer:
    """Turns the store's new summaries into queued 2051/2061/2031 packets as periods close.

    A minute period closes ``close_grace_s`` after its end; every summary whose interval starts
    in it goes into its packet. Hours and days close the same way, from the same summaries. The
    store cursor (``summary_rowid``) and the periods done are committed with the packets.
    """

    def __init__(self, config: Hj212Config, queue: Hj212Queue, packer: Packer) -> None:
        self.config, self.queue, self.packer = config, queue, packer
        self.tz = ZoneInfo(config.timezone)
        self.late_summaries = 0
        self._has_summaries = False
        self._scanned = 0  # summaries rowid read into the watermarks below
        self._source_end_s: dict[str, float] = {}  # source -> latest interval end stored
        self._source_seen_s: dict[str, float] = {}  # source -> when its latest row was seen

    def maintenance(self) -> bool:
        path = self.config.maintenance_file
        return path is not None and path.exists()

    def _summaries_table(self) -> bool:
        if not self._has_summaries:
            db = self.queue.db
            if db.execute("SELECT 1 FROM sqlite_master WHERE name = 'summaries'").fetchone():
                db.execute("CREATE INDEX IF NOT EXISTS hj212_summaries_start "
                           "ON summaries (interval_start)")  # fmt: skip
                self._has_summaries = True
        return self._has_summaries

    def summaries_between(self, start_s: float, end_s: float) -> list[dict[str, Any]]:
        """Stored summaries whose interval starts in [start_s, end_s)."""
        if not self._summaries_table():
            return []
        rows = self.queue.db.execute(
            "SELECT body FROM summaries WHERE interval_start >= ? AND interval_start < ? "
            "ORDER BY rowid", (s_to_iso(start_s), s_to_iso(end_s)),
        ).fetchall()  # fmt: skip
        return [json.loads(r[0]) for r in rows]

    def latest_sensor_summaries(self, now_s: float) -> list[dict[str, Any]]:
        """Each sensor's newest summary ending within ``realtime_max_age_s`` of ``now_s``."""
        if not self._summaries_table():
            return []
        newest: dict[str, dict[str, Any]] = {}
        cutoff_s = now_s - self.config.realtime_max_age_s
        for (body,) in self.queue.db.execute(  # the start bound uses the index (intervals <= 1 h)
            "SELECT body FROM summaries WHERE interval_start >= ? AND interval_end >= ? "
            "ORDER BY interval_start DESC LIMIT 1000",
            (s_to_iso(cutoff_s - 3600), s_to_iso(cutoff_s)),
        ):
            s = json.loads(body)
            if s.get("sensor") is not None:
                newest.setdefault(s["source_id"], s)
        return [newest[k] for k in sorted(newest)]

    def period_packets(
        self,
        cn: str,
        start_s: float,
        end_s: float,
        *,
        ack: bool,
        summaries: list[dict[str, Any]] | None = None,
    ) -> list[NewPacket]:
        """The packets of one period from its ``summaries`` (default: read from the store)."""
        if summaries is None:
            summaries = self.summaries_between(start_s, end_s)
        parts = aggregate_cp(summaries, self.config, start_s, maintenance=self.maintenance())
        if not parts[1]:
            return []  # nothing with a code (a fire camera alone): no packet
        dt = data_time(start_s, self.config.timezone)
        return self.packer.packets(cn, parts, ack=ack, data_time=dt)

    def _queue_period(self, cn: str, start_s: float, end_s: float) -> None:
        dt = data_time(start_s, self.config.timezone)
        if self.queue.is_done(cn, dt):
            return
        summaries = self.summaries_between(start_s, end_s)
        if not summaries:
            return
        packets = self.period_packets(cn, start_s, end_s, ack=self.config.ack,
                                      summaries=summaries)  # fmt: skip
        if self.queue.enqueue(packets, done=(cn, dt),
                              state={"last_qn_ms": str(self.packer.clock.last_ms)}):  # fmt: skip
            logger.info("hj212: queued %s DataTime=%s (%d packets)", cn, dt, len(packets))

    def poll(self, now_s: float) -> None:
        """Queue every period that has closed since the last poll."""
        if not self._summaries_table():
            return
        self._minutes(now_s)
        if self.config.hourly:
            self._settle(CN.HOUR, "hour_since", 10, now_s, lambda t: t + timedelta(hours=1))
        if self.config.daily and self._settle(
            CN.DAY, "day_since", 8, now_s, lambda t: t + timedelta(days=1)
        ):  # forget periods long before the day settled (data time, not wall time: replays)
            day = datetime.strptime(self.queue.get_state("day_since") or "", "%Y%m%d")
            keep = day - timedelta(days=DONE_KEEP_DAYS)
            self.queue.prune_done(keep.strftime("%Y%m%d%H%M%S"))

    def _minutes(self, now_s: float) -> None:
        """Minute periods of the new summaries (rowid order), up to the first one still open."""
        step = self.config.minute_interval_s
        cursor = int(self.queue.get_state("summary_rowid", "0") or 0)
        rows = self.queue.db.execute(
            "SELECT rowid, source_id, interval_start, interval_end FROM summaries "
            "WHERE rowid > ? ORDER BY rowid LIMIT 5000",
            (cursor,),
        ).fetchall()
        sources_in: dict[float, set[str]] = {}
        for rowid, source, start, end in rows:
            if rowid > self._scanned:
                self._scanned = rowid
                self._source_end_s[source] = max(self._source_end_s.get(source, 0), iso_to_s(end))
                self._source_seen_s[source] = now_s
            sources_in.setdefault(math.floor(iso_to_s(start) / step) * step, set()).add(source)
        for rowid, _, start, _ in rows:
            bucket_s = math.floor(iso_to_s(start) / step) * step
            if not self._closed(bucket_s, bucket_s + step, sources_in[bucket_s], now_s):
                break  # this row and the ones after it wait
            self._queue_period(CN.MINUTE, bucket_s, bucket_s + step)
            cursor = rowid
        if rows:
            self.queue.set_state({"summary_rowid": str(cursor)})

    def _closed(self, start_s: float, end_s: float, sources: set[str], now_s: float) -> bool:
        """A period is closed ``close_grace_s`` after its end (wall clock) once every source
        that reported into it has stored a summary reaching its end, or has been silent for
        ``close_grace_s``. Replayed (past) data thus closes as its sources move on."""
        grace = self.config.close_grace_s
        if now_s < end_s + grace:
            return False
        return all(
            self._source_end_s.get(s, 0) >= end_s or now_s - self._source_seen_s.get(s, 0) >= grace
            for s in sources
        )

    def _settle(self, cn: str, state_name: str, length: int, now_s: float, advance) -> bool:
        """Queue hours (``length`` 10) or days (8) that closed, from the minutes done."""
        since = self.queue.get_state(state_name, "0") or "0"
        settled = False
        grace = self.config.close_grace_s
        for prefix in self.queue.done_periods(CN.MINUTE, since, length):
            start = datetime.strptime(prefix.ljust(14, "0"), "%Y%m%d%H%M%S").replace(tzinfo=self.tz)
            end = advance(start)
            if now_s < end.timestamp() + grace:
                break
            # replayed data: wait until every source moved past the end or went quiet
            if not self._closed(start.timestamp(), end.timestamp(), set(self._source_end_s),
                                now_s):  # fmt: skip
                break
            self._queue_period(cn, start.timestamp(), end.timestamp())
            self.queue.set_state({state_name: end.strftime("%Y%m%d%H%M%S")[:length]})
            settled = True
        return settled
