"""The box's HJ 212 link: a TCP client that drains the HJ 212 queue and answers the platform.

One thread does it all, in order: queue the periods that closed (``queue.Producer``) and, while
connected, real-time data; read and answer platform requests; send the queue's head. An upload
with A=1 waits ``overtime_s`` for the platform's 9014 (same QN) and is re-sent up to ``retries``
times; when the last try goes unanswered the link counts as unavailable (HJ 212-2017 §6.2): the
socket is closed and reopened with capped exponential backoff, and the packet stays first in the
queue. The platform can change over-time and re-count (CN 1000) and the real-time interval (1062);
the box keeps them in the store. Requests answered (9011 QnRtn, then the data, then 9012 ExeRtn,
all under the request's QN, ST=91 for 9011/9012, App. C): 1000, 1011/1012 time, 1061/1062
real-time interval, 1063 minute interval, 2011/2012 real-time on/off, and history re-uploads
2051/2061/2031 for BeginTime..EndTime (inclusive) served from the on-box store.
"""

from __future__ import annotations

import bisect
import logging
import select
import socket
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any, Callable
from zoneinfo import ZoneInfo

from carbonedge.runtime.base.backoff import Backoff
from carbonedge.runtime.store.hj212 import queue_depth
from carbonedge.runtime.uplink.hj212.codec import CN, Hj212Error, Hj212Packet, decode_packet
from carbonedge.runtime.uplink.hj212.config import Hj212Config
from carbonedge.runtime.uplink.hj212.queue import (
    PRIO_ANSWER,
    PRIO_UPLOAD,
    Hj212Queue,
    NewPacket,
    Packer,
    Producer,
    QnClock,
    QueuedPacket,
)
from carbonedge.runtime.uplink.hj212.stream import FrameReader
from carbonedge.runtime.uplink.hj212.uploads import (
    data_time,
    iso_to_s,
    parse_data_time,
    period_starts,
    realtime_cp,
)

logger = logging.getLogger(__name__)

ST_REPLY = "91"  # Table 5: system interaction (9011-9014 replies, App. C)
_PERIODS = {CN.MINUTE: "minute", CN.HOUR: "hour", CN.DAY: "day"}


class Hj212Link:
    """Runs the link for one platform until ``stop()``; state lives in ``sqlite_path``."""

    def __init__(
        self,
        config: Hj212Config,
        *,
        sqlite_path: Path,
        states: Callable[[], dict[str, str]] | None = None,
    ) -> None:
        """``states()`` gives live sensor states by id (from ``Site.health``) for CN 2011."""
        self.config, self.states = config, states
        self.queue = Hj212Queue(sqlite_path)
        get = self.queue.get_state
        self.packer = Packer(config, QnClock(config.timezone, int(get("last_qn_ms", "0") or 0)))
        self.producer = Producer(config, self.queue, self.packer)
        self.overtime_s = float(get("overtime_s", str(config.overtime_s)) or config.overtime_s)
        self.retries = int(get("retries", str(config.retries)) or config.retries)
        self.realtime_interval_s = float(
            get("realtime_interval_s", str(config.realtime_interval_s)) or 60
        )
        self.realtime_on = config.realtime and get("realtime_on", "1") == "1"
        self.time_offset_s = float(get("time_offset_s", "0") or 0)
        self.counters = dict.fromkeys(
            ("connects", "sent", "resent", "acked", "link_failures", "requests", "bad_packets"), 0
        )
        self._sock: socket.socket | None = None
        self._reader = FrameReader()
        self._inflight: QueuedPacket | None = None
        self._inflight_sent_s = 0.0
        self._inflight_sends = 0
        self._next_connect_s = 0.0
        self._backoff = Backoff(config.reconnect_min_s, config.reconnect_max_s)  # no jitter
        self._connected_s = 0.0
        self._next_poll_s = self._next_realtime_s = 0.0
        self._idle = False  # the queue was empty at the last send: wait longer for the socket
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # --- lifecycle -------------------------------------------------------------------------
    def start(self) -> Hj212Link:
        self._thread = threading.Thread(target=self._run, name="hj212-link", daemon=True)
        self._thread.start()
        return self

    def stop(self, flush_timeout_s: float = 5.0) -> dict[str, Any]:
        """While connected, keep sending up to ``flush_timeout_s`` until the queue is empty;
        then stop. What is left stays queued for the next start."""
        deadline = time.monotonic() + flush_timeout_s
        while self._sock is not None and time.monotonic() < deadline and self.backlog():
            time.sleep(0.05)
        self._stop.set()
        if self._thread is not None:
            self._thread.join(15.0)
        self._close("stopped")
        stats = self.stats()
        self.queue.close()
        return stats

    def backlog(self) -> int:
        """Packets queued and not answered yet (any thread: its own connection)."""
        return queue_depth(self.queue.path)

    def stats(self) -> dict[str, Any]:
        return {"connected": self._sock is not None, "queued": self.backlog(),
                "overtime_s": self.overtime_s, "retries": self.retries,
                "realtime_interval_s": self.realtime_interval_s,
                "time_offset_s": self.time_offset_s, **self.counters}  # fmt: skip

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.step(time.time())
            except Exception:  # noqa: BLE001 - a bug or a store error must not end the link
                logger.exception("hj212: unexpected error in the link; going on")
                self._close("error")
                time.sleep(0.5)

    # --- one iteration ---------------------------------------------------------------------
    def step(self, now_s: float) -> None:
        """Produce, connect, read and answer, send (or resend) the head of the queue."""
        if now_s >= self._next_poll_s:
            self._next_poll_s = now_s + self.config.poll_s
            self.producer.poll(now_s)
        if self._sock is None:
            if time.monotonic() >= self._next_connect_s:
                self._connect()
            if self._sock is None:
                self._stop.wait(min(0.1, self.config.poll_s))
                return
        if self.realtime_on and now_s >= self._next_realtime_s:
            self._next_realtime_s = now_s + self.realtime_interval_s
            self._queue_realtime(now_s)
        wait_s = 0.0
        if self._inflight is not None:  # the 9014 wakes the select; a resend is due at overtime
            left_s = self.overtime_s - (time.monotonic() - self._inflight_sent_s)
            wait_s = min(max(left_s, 0.0), 0.2)
        elif self._idle:
            wait_s = min(0.2, self.config.poll_s)
        self._read(wait_s)
        self._send(now_s)

    def _connect(self) -> None:
        c = self.config
        try:
            sock = socket.create_connection((c.host, c.port), timeout=min(10.0, self.overtime_s))
        except OSError as exc:
            delay_s = self._backoff.next_delay_s()
            self._next_connect_s = time.monotonic() + delay_s
            logger.warning("hj212: cannot connect to %s:%d (%s); retrying in %.1f s",
                           c.host, c.port, exc, delay_s)  # fmt: skip
            return
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setblocking(False)
        self._sock, self._reader = sock, FrameReader()
        self._connected_s = time.monotonic()
        self._inflight = None
        self.counters["connects"] += 1
        logger.info("hj212: connected to %s:%d", c.host, c.port)

    def _close(self, why: str) -> None:
        if self._sock is not None:
            try:
                self._sock.close()
            except OSError:
                pass
            self._sock = None
            logger.info("hj212: disconnected (%s)", why)
        self._inflight = None
        self._next_connect_s = time.monotonic() + self._backoff.next_delay_s()

    def _write(self, raw: bytes) -> bool:
        assert self._sock is not None
        try:
            self._sock.setblocking(True)
            self._sock.settimeout(max(1.0, self.overtime_s))
            self._sock.sendall(raw)
            self._sock.setblocking(False)
            return True
        except OSError as exc:
            self._close(f"send failed: {exc}")
            return False

    def _read(self, wait_s: float) -> None:
        sock = self._sock
        if sock is None:
            return
        try:
            ready, _, _ = select.select([sock], [], [], wait_s)
            if not ready:
                return
            data = sock.recv(65536)
        except OSError as exc:
            self._close(f"receive failed: {exc}")
            return
        if not data:
            self._close("closed by the platform")
            return
        for item in self._reader.feed(data):
            if isinstance(item, Hj212Error):
                self.counters["bad_packets"] += 1
                logger.warning("hj212: garbage from the platform skipped: %s", item)
                continue
            try:
                packet = decode_packet(item)
            except Hj212Error as exc:  # a bad CRC means: do not execute it (Table 2)
                self.counters["bad_packets"] += 1
                logger.warning("hj212: invalid packet from the platform ignored: %s", exc)
                continue
            self._handle(packet)
            if self._sock is None:
                return

    def _send(self, now_s: float) -> None:
        """Send the head of the queue; wait for its 9014; resend or give the link up."""
        while self._sock is not None:
            if self._inflight is not None:
                if time.monotonic() - self._inflight_sent_s < self.overtime_s:
                    return
                if self._inflight_sends > self.retries:
                    self.counters["link_failures"] += 1
                    logger.warning("hj212: no 9014 for QN=%s after %d sends (%.1f s each): "
                                   "link unavailable, reconnecting", self._inflight.qn,
                                   self._inflight_sends, self.overtime_s)  # fmt: skip
                    self._close("no answer")
                    return
                self._transmit(self._inflight, resend=True)
                return
            head = self.queue.head()
            self._idle = head is None
            if head is None:
                return
            if not self._transmit(head, resend=False):
                return
            if head.needs_ack:
                return  # wait for its 9014
            self.queue.remove(head.id)

    def _transmit(self, row: QueuedPacket, *, resend: bool) -> bool:
        self.queue.mark_attempt(row.id)
        if not self._write(row.packet.encode("utf-8")):
            return False
        self.counters["resent" if resend else "sent"] += 1
        if row.needs_ack:
            self._inflight = row
            self._inflight_sent_s = time.monotonic()
            self._inflight_sends = self._inflight_sends + 1 if resend else 1
        return True

    # --- uploads ---------------------------------------------------------------------------
    def _queue_realtime(self, now_s: float) -> None:
        """CN 2011 while connected (its values are also in the minute data, which is kept)."""
        latest = self.producer.latest_sensor_summaries(now_s)
        if not latest:
            return
        states = self.states() if self.states is not None else None
        parts = realtime_cp(latest, self.config, now_s, states=states,
                            maintenance=self.producer.maintenance())  # fmt: skip
        if not parts[1]:
            return
        packets = self.packer.packets(CN.REALTIME, parts, ack=self.config.ack,
                                      data_time=parts[0][0][1])  # fmt: skip
        self.queue.enqueue(packets, prio=PRIO_UPLOAD, state=self._qn_state())

    def _qn_state(self) -> dict[str, str]:
        return {"last_qn_ms": str(self.packer.clock.last_ms)}

    # --- platform requests -----------------------------------------------------------------
    def _handle(self, p: Hj212Packet) -> None:
        self._backoff.reset()  # the platform talks to us: the link works
        if p.cn == CN.DATA_ANSWER:
            if self._inflight is not None and p.qn == self._inflight.qn:
                self.queue.remove(self._inflight.id)
                self.counters["acked"] += 1
                self._inflight = None
            else:
                logger.debug("hj212: 9014 for QN=%s, not the packet in flight", p.qn)
            return
        if p.cn in (CN.REQUEST_ANSWER, CN.EXECUTION_RESULT, CN.NOTIFICATION_ANSWER):
            return
        self.counters["requests"] += 1
        logger.info("hj212: platform request CN=%s QN=%s", p.cn, p.qn)
        qn_rtn = self._check_request(p)
        if p.cn == CN.STOP_REALTIME and qn_rtn == 1:  # a notification: 9013, no 9011/9012
            self._set_realtime(False)
            self._reply(p, CN.NOTIFICATION_ANSWER, [])
            return
        self._reply(p, CN.REQUEST_ANSWER, [("QnRtn", str(qn_rtn))])
        if qn_rtn != 1:
            return
        handler = _REQUESTS[p.cn]
        data, exe_rtn, extra = handler(self, p)
        packets = list(extra)
        if data is not None:
            packets += self.packer.packets(p.cn, (data, {}), ack=False, qn=p.qn)
        packets += self._reply_packets(p, CN.EXECUTION_RESULT, [("ExeRtn", str(exe_rtn))])
        self.queue.enqueue(packets, prio=PRIO_ANSWER, state=self._qn_state())

    def _check_request(self, p: Hj212Packet) -> int:
        """Table 7 QnRtn: 1 ready, 2 refused, 3 PW, 4 MN, 6 Flag, 7 QN, 8 CN error."""
        if p.pw != self.config.pw:
            return 3
        if p.mn.upper() != self.config.mn.upper():
            return 4
        if p.qn is None:
            return 7
        if p.version != self.config.version:
            return 6
        if p.cn in _REQUESTS or p.cn == CN.STOP_REALTIME:
            return 1
        return 2 if p.cn in _TABLE9 else 8  # a command we do not serve: refused; else CN error

    def _reply_packets(self, p: Hj212Packet, cn: str, items: list) -> list[NewPacket]:
        return self.packer.packets(cn, (items, {}), ack=False, qn=p.qn or self.packer.clock.next(),
                                   st=ST_REPLY)  # fmt: skip

    def _reply(self, p: Hj212Packet, cn: str, items: list) -> None:
        """An immediate answer (9011, 9013), written now: it means nothing on a later link."""
        for packet in self._reply_packets(p, cn, items):
            if self._sock is None or not self._write(packet.packet):
                return

    def _now_platform(self) -> datetime:
        return datetime.fromtimestamp(
            time.time() + self.time_offset_s, ZoneInfo(self.config.timezone)
        )

    def _set_realtime(self, on: bool) -> None:
        self.realtime_on = on and self.config.realtime
        self.queue.set_state({"realtime_on": "1" if on else "0"})

    def _req_set_timeout(self, p: Hj212Packet):
        try:
            overtime, recount = int(p.cp.get("OverTime") or ""), int(p.cp.get("ReCount") or "")
        except ValueError:
            return None, 3, []
        if not (0 < overtime <= 99 and 0 < recount <= 99):
            return None, 3, []
        self.overtime_s, self.retries = float(overtime), recount
        self.queue.set_state({"overtime_s": str(overtime), "retries": str(recount)})
        logger.info("hj212: platform set OverTime=%d s, ReCount=%d", overtime, recount)
        return None, 1, []

    def _req_get_time(self, p: Hj212Packet):
        items = [("SystemTime", self._now_platform().strftime("%Y%m%d%H%M%S"))]
        return items, 1, []

    def _req_set_time(self, p: Hj212Packet):
        try:
            platform_s = parse_data_time(p.cp.get("SystemTime") or "", self.config.timezone,
                                         field="SystemTime")  # fmt: skip
        except ValueError as exc:
            logger.warning("hj212: CN 1012 refused: %s", exc)
            return None, 3, []
        offset_s = platform_s - time.time()
        if self.config.time_sync == "system":
            try:
                time.clock_settime(time.CLOCK_REALTIME, platform_s)
                offset_s = 0.0
            except OSError as exc:
                logger.error("hj212: CN 1012: cannot set the system clock (%s)", exc)
                return None, 2, []
        self.time_offset_s = round(offset_s, 3)
        self.queue.set_state({"time_offset_s": str(self.time_offset_s)})
        level = logging.WARNING if abs(offset_s) > 5 else logging.INFO
        logger.log(level, "hj212: platform time differs from the box's by %+.1f s", offset_s)
        return None, 1, []

    def _req_get_rtd(self, p: Hj212Packet):
        return [("RtdInterval", str(int(self.realtime_interval_s)))], 1, []

    def _req_set_rtd(self, p: Hj212Packet):
        text = p.cp.get("RtdInterval") or ""
        if not text.isdigit() or not 30 <= int(text) <= 3600:
            return None, 3, []
        self.realtime_interval_s = float(text)
        self._next_realtime_s = min(self._next_realtime_s, time.time() + self.realtime_interval_s)
        self.queue.set_state({"realtime_interval_s": text})
        return None, 1, []

    def _req_get_min(self, p: Hj212Packet):
        return [("MinInterval", str(self.config.minute_interval_s // 60))], 1, []

    def _req_start_realtime(self, p: Hj212Packet):
        self._set_realtime(True)
        return None, 1, []

    def _req_history(self, p: Hj212Packet):
        """History re-upload: every period with data in BeginTime..EndTime, oldest first."""
        tz = self.config.timezone
        try:
            begin_s = parse_data_time(p.cp.get("BeginTime") or "", tz, field="BeginTime")
            end_s = parse_data_time(p.cp.get("EndTime") or "", tz, field="EndTime")
        except ValueError as exc:
            logger.warning("hj212: history request refused: %s", exc)
            return None, 3, []
        starts = period_starts(p.cn, begin_s, end_s, self.config.minute_interval_s, tz)
        if starts is None:
            return None, 3, []
        packets: list[NewPacket] = []
        if starts:  # one read of the store, then each summary to its period
            firsts = [start for start, _ in starts]
            by_period: dict[int, list[dict[str, Any]]] = {}
            for s in self.producer.summaries_between(starts[0][0], starts[-1][1]):
                i = bisect.bisect_right(firsts, iso_to_s(s["interval_start"])) - 1
                by_period.setdefault(i, []).append(s)
            for i in sorted(by_period):
                start, end = starts[i]
                packets += self.producer.period_packets(p.cn, start, end, ack=self.config.ack,
                                                        summaries=by_period[i])  # fmt: skip
        logger.info("hj212: history %s %s..%s: %d packets", _PERIODS[p.cn],
                    data_time(begin_s, tz), data_time(end_s, tz), len(packets))  # fmt: skip
        return None, (1 if packets else 100), packets


#: Table 9 commands a platform may send that the box refuses (QnRtn=2) rather than not knowing
_TABLE9 = frozenset(
    {"1013", "1064", "1072", "2021", "2022", "2041", "2081"} | {str(c) for c in range(3011, 3022)}
)

_REQUESTS: dict[str, Callable[..., tuple[list | None, int, list[NewPacket]]]] = {
    CN.SET_TIMEOUT_RETRY: Hj212Link._req_set_timeout,
    CN.GET_TIME: Hj212Link._req_get_time,
    CN.SET_TIME: Hj212Link._req_set_time,
    CN.GET_RTD_INTERVAL: Hj212Link._req_get_rtd,
    CN.SET_RTD_INTERVAL: Hj212Link._req_set_rtd,
    CN.GET_MIN_INTERVAL: Hj212Link._req_get_min,
    CN.REALTIME: Hj212Link._req_start_realtime,
    CN.MINUTE: Hj212Link._req_history,
    CN.HOUR: Hj212Link._req_history,
    CN.DAY: Hj212Link._req_history,
}


def start_link(
    site_config: Any, health: Callable[[], dict[str, Any]] | None = None
) -> Hj212Link | None:
    """Start the HJ 212 link of a validated site config (None when it has no ``hj212``).

    ``health`` is ``Site.health``: the live sensor states set the real-time data flags.
    """
    if getattr(site_config, "hj212", None) is None:
        return None

    def states() -> dict[str, str]:
        assert health is not None
        return {k: str(v.get("state")) for k, v in health().get("sensors", {}).items()}

    return Hj212Link(site_config.hj212, sqlite_path=site_config.output.sqlite_path,
                     states=states if health is not None else None).start()  # fmt: skip
