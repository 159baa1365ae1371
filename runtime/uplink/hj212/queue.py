"""The HJ 212 producer: summaries become queued packets as their periods close.

The queue itself (tables ``hj212_queue``, ``hj212_done``, ``hj212_state`` in the store's SQLite
file, ``Hj212Queue``) belongs to the store: see ``carbonedge.runtime.store.hj212`` for its order and
durability. Here: the QN clock, the packer and the ``Producer``. Periods older than
``DONE_KEEP_DAYS`` are pruned from ``hj212_done`` as days close.
"""

from __future__ import annotations

import logging
import math
import time
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from carbonedge.runtime.store.hj212 import (
    PRIO_ANSWER,
    PRIO_UPLOAD,
    Hj212Queue,
    NewPacket,
    QueuedPacket,
)
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

logger = logging.getLogger(__name__)

__all__ = [
    "DONE_KEEP_DAYS", "PRIO_ANSWER", "PRIO_UPLOAD", "Hj212Queue", "NewPacket", "Packer", "Producer",
    "QnClock", "QueuedPacket",
]  # fmt: skip

DONE_KEEP_DAYS = 45


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
        self.late_summaries = 0  # summaries stored after their minute was queued
        self.corrections = 0  # periods re-queued because of them
        self._scanned = 0  # summaries rowid read into the watermarks below
        self._source_end_s: dict[str, float] = {}  # source -> latest interval end stored
        self._source_seen_s: dict[str, float] = {}  # source -> when its latest row was seen
        self._source_len_s: dict[str, float] = {}  # source -> length of its latest interval
        self._source_gap_s: dict[str, float] = {}  # source -> wall time between its last rows
        self._polled = False  # rows found by the first poll were stored before it

    def maintenance(self) -> bool:
        path = self.config.maintenance_file
        return path is not None and path.exists()

    def summaries_between(self, start_s: float, end_s: float) -> list[dict[str, Any]]:
        """Stored summaries whose interval starts in [start_s, end_s)."""
        return self.queue.summaries_starting(s_to_iso(start_s), s_to_iso(end_s))

    def latest_sensor_summaries(self, now_s: float) -> list[dict[str, Any]]:
        """Each sensor's newest summary ending within ``realtime_max_age_s`` of ``now_s``."""
        newest: dict[str, dict[str, Any]] = {}
        cutoff_s = now_s - self.config.realtime_max_age_s
        # the start bound lets the index work (intervals are at most an hour)
        for s in self.queue.summaries_recent(s_to_iso(cutoff_s - 3600), s_to_iso(cutoff_s)):
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
        """Minute periods of the new summaries (rowid order), up to the first one still open.
        A row whose minute was already queued (it closed late) re-queues that minute, and its
        hour and day if they were queued too: a correction (see ``_correct``)."""
        step = self.config.minute_interval_s
        cursor = int(self.queue.get_state("summary_rowid", "0") or 0)
        rows = self.queue.summary_rows_after(cursor, limit=5000)
        for rowid, source, start, end in rows:
            if rowid > self._scanned:
                self._scanned = rowid
                start_s, end_s = iso_to_s(start), iso_to_s(end)
                self._source_end_s[source] = max(self._source_end_s.get(source, 0), end_s)
                seen_s = self._source_seen_s.get(source)
                if not self._polled:  # stored before we started: no cadence to wait for
                    self._source_gap_s[source] = 0.0
                elif seen_s is None:  # a new source: expect a summary per interval
                    self._source_gap_s[source] = end_s - start_s
                elif now_s > seen_s:  # rows of one poll tell no cadence
                    self._source_gap_s[source] = now_s - seen_s
                self._source_seen_s[source] = now_s
                self._source_len_s[source] = end_s - start_s
        queued_now: set[float] = set()
        late: set[float] = set()
        for rowid, _, start, _ in rows:
            bucket_s = math.floor(iso_to_s(start) / step) * step
            if (
                bucket_s not in queued_now
                and bucket_s not in late
                and self.queue.is_done(CN.MINUTE, data_time(bucket_s, self.config.timezone))
            ):
                late.add(bucket_s)
            if bucket_s in late:
                self.late_summaries += 1
            elif not self._closed(bucket_s + step, now_s):
                break  # this row and the ones after it wait
            else:
                self._queue_period(CN.MINUTE, bucket_s, bucket_s + step)
                queued_now.add(bucket_s)
            cursor = rowid
        self._polled = True
        if late or queued_now:
            self._correct(sorted(late), sorted(late | queued_now), step, cursor)
        if rows:
            self.queue.set_state({"summary_rowid": str(cursor)})

    def _correct(self, late: list[float], touched: list[float], step: int, cursor: int) -> None:
        """Re-queue the minutes ``late`` (queued before their summary came), and the hours and
        days already queued that hold a ``touched`` minute, with every summary stored now: same
        CN and DataTime, new QN. HJ 212 keys a period's data by MN, CN and DataTime, and a
        re-upload (the platform's 2051/2061/2031 history request) is the same packet, so the
        platform keeps the latest. Committed with the store cursor."""
        periods: dict[tuple[str, float], float] = {(CN.MINUTE, b): b + step for b in late}
        for bucket_s in touched:
            local = datetime.fromtimestamp(bucket_s, self.tz)
            hour = local.replace(minute=0, second=0, microsecond=0)
            day = hour.replace(hour=0)
            if self.config.hourly:
                periods[(CN.HOUR, hour.timestamp())] = (hour + timedelta(hours=1)).timestamp()
            if self.config.daily:
                periods[(CN.DAY, day.timestamp())] = (day + timedelta(days=1)).timestamp()
        packets: list[NewPacket] = []
        for (cn, start_s), end_s in periods.items():
            dt = data_time(start_s, self.config.timezone)
            if cn != CN.MINUTE and not self.queue.is_done(cn, dt):
                continue  # not queued yet: it will hold the late summary when it closes
            new = self.period_packets(cn, start_s, end_s, ack=self.config.ack)
            if new:
                self.corrections += 1
                logger.warning("hj212: summary stored after %s DataTime=%s was queued: "
                               "re-queued with it (correction)", cn, dt)  # fmt: skip
                packets += new
        if not packets:
            return
        self.queue.enqueue(packets, state={"last_qn_ms": str(self.packer.clock.last_ms),
                                           "summary_rowid": str(cursor)})  # fmt: skip

    def _closed(self, end_s: float, now_s: float) -> bool:
        """A period ending at ``end_s`` is closed ``close_grace_s`` after its end (wall clock)
        once every source the producer knows has stored a summary reaching its end, or has
        been silent for ``close_grace_s`` beyond its usual cadence (the wall time between its
        last two summaries, at most its interval length): its next summary is overdue, it
        stopped. A live camera whose summary closes late is thus waited for, and replayed
        (past) data closes as its sources move on."""
        grace = self.config.close_grace_s
        if now_s < end_s + grace:
            return False
        return all(reached >= end_s or self._quiet_s(s, now_s) >= grace + self._cadence_s(s)
                   for s, reached in self._source_end_s.items())  # fmt: skip

    def _quiet_s(self, source: str, now_s: float) -> float:
        return now_s - self._source_seen_s.get(source, 0.0)

    def _cadence_s(self, source: str) -> float:
        return min(self._source_gap_s.get(source, 0.0), self._source_len_s.get(source, 0.0))

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
            if not self._closed(end.timestamp(), now_s):
                break
            self._queue_period(cn, start.timestamp(), end.timestamp())
            self.queue.set_state({state_name: end.strftime("%Y%m%d%H%M%S")[:length]})
            settled = True
        return settled
