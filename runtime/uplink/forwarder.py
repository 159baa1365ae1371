"""The forwarder: a thread that drains the outbox into a sink, in order, at a bounded rate.

Loop: collect outcomes (ack -> delete, permanent -> dead letter, retry -> send again), keep the
outbox within its bound (``compact.py``), then hand the next rows to the sink as its window and the
drain-rate token bucket allow. A row is marked ``sent_at`` (committed) before it is handed over.
Messages are signed at send time from the stored row: deterministic, so a resend is byte-identical.
"""

from __future__ import annotations

import logging
import os
import shutil
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any, Callable

from carbonedge.runtime import __version__
from carbonedge.runtime.base.errors import CarbonEdgeError
from carbonedge.runtime.base.events import stable_id, utc_iso
from carbonedge.runtime.uplink.compact import enforce_bound
from carbonedge.runtime.uplink.config import UplinkConfig
from carbonedge.runtime.uplink.envelope import build_envelope, signer_from_config
from carbonedge.runtime.uplink.outbox import Outbox, OutboxRow, pending_count
from carbonedge.runtime.uplink.schema import health_entries, validate_body
from carbonedge.runtime.uplink.sink import Outcome, Outgoing, Sink

logger = logging.getLogger(__name__)

BOUND_CHECK_S = 2.0


def make_sink(uplink: UplinkConfig, device_id: str) -> Sink:
    if uplink.sink.type == "mqtt":
        from carbonedge.runtime.uplink.mqtt_sink import MqttSink

        return MqttSink(uplink.sink, site_id=uplink.site_id, device_id=device_id)
    from carbonedge.runtime.uplink.http_sink import HttpSink

    return HttpSink(uplink.sink, site_id=uplink.site_id, device_id=device_id)


class _TokenBucket:
    def __init__(self, rate_per_s: float) -> None:
        self.rate, self.burst = rate_per_s, max(1.0, rate_per_s * 0.1)
        self.tokens, self._t = self.burst, time.monotonic()

    def available(self) -> int:
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self._t) * self.rate)
        self._t = now
        return int(self.tokens)

    def take(self, n: int) -> None:
        self.tokens -= n


class Forwarder:
    """Drains ``sqlite_path``'s outbox to the configured sink until ``stop``."""

    def __init__(
        self, uplink: UplinkConfig, *, device_id: str, sqlite_path: Path, sink: Sink | None = None
    ) -> None:
        self.uplink, self.device_id = uplink, device_id
        self.key = signer_from_config(uplink.signing)
        self.outbox = Outbox(sqlite_path)  # OutboxCorruptError names the file and the way out
        self.sink = sink or make_sink(uplink, device_id)
        self.max_bytes = int(uplink.outbox_max_mb * 1024 * 1024)
        self._bucket = _TokenBucket(uplink.drain_rate_msg_s)
        self._handed: set[int] = set()
        self._unrecorded: list[Outcome] = []
        self._cursor = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._started_s = time.monotonic()
        #: callable returning the site's health (``Site.health``); set by ``carbonedge run``
        self.health_provider: Callable[[], dict[str, Any]] | None = None
        self._next_bound_s = self._next_health_s = 0.0
        self.submitted = self.acked = self.dead_lettered = 0
        self.last_delivery_mono_s: float | None = None  # the last acknowledgement

    # --- lifecycle -------------------------------------------------------------------------
    def start(self) -> Forwarder:
        self.sink.start()
        self._thread = threading.Thread(target=self._run, name="uplink-forwarder", daemon=True)
        self._thread.start()
        return self

    def stop(self, flush_timeout_s: float | None = None) -> dict[str, Any]:
        """Keep sending up to ``flush_timeout_s`` (default from config) until the outbox is empty,
        then disconnect. What is left stays in the outbox for the next start."""
        timeout_s = self.uplink.flush_timeout_s if flush_timeout_s is None else flush_timeout_s
        self.wait_empty(timeout_s)
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        self.sink.stop()
        stats = self.outbox.stats()
        self.outbox.close()
        if stats["pending"]:
            logger.warning("uplink stopped with %d messages in the outbox (sent at next start)",
                           stats["pending"])  # fmt: skip
        return stats

    def wait_empty(self, timeout_s: float) -> bool:
        """Block until every queued message was acknowledged (or ``timeout_s``)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._pending_count() == 0:
                return True
            time.sleep(0.05)
        return self._pending_count() == 0

    def backlog(self) -> int:
        """Messages in the outbox not acknowledged yet (for the metrics endpoint)."""
        return self._pending_count()

    def health(self) -> dict[str, Any]:
        """For ``/healthz``: the backlog, whether messages are being delivered, and a one-line
        ``reason`` when nothing was acknowledged for ``uplink.stalled_after_s`` while messages
        wait (a blackholed broker shows here long before the MQTT keepalive notices)."""
        backlog, now = self._pending_count(), time.monotonic()
        last = self.last_delivery_mono_s
        quiet_s = now - (last if last is not None else self._started_s)
        delivering = backlog == 0 or quiet_s < self.uplink.stalled_after_s
        return {
            "backlog": backlog,
            "delivering": delivering,
            "last_delivery_age_s": None if last is None else round(now - last, 1),
            "reason": None if delivering else
            f"nothing delivered for {quiet_s:.0f} s, {backlog} messages waiting",
        }  # fmt: skip

    def _pending_count(self) -> int:
        return pending_count(self.outbox.path)  # any thread: a connection of its own

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.step(wait_s=0.05)
            except CarbonEdgeError as exc:
                logger.error("uplink: %s", exc)
                time.sleep(0.5)
            except sqlite3.Error as exc:  # locked beyond the timeout, disk full: retry later
                logger.error("uplink: outbox %s: %s; retrying", self.outbox.path, exc)
                time.sleep(0.5)
            except Exception:  # noqa: BLE001 - a bug must not silently end the uplink
                logger.exception("uplink: unexpected error in the forwarder; going on")
                time.sleep(1.0)

    # --- one iteration ---------------------------------------------------------------------
    def step(self, wait_s: float = 0.0) -> None:
        """Collect outcomes, keep the bound, emit health, hand over the next rows."""
        self._collect(wait_s)
        now = time.monotonic()
        if now >= self._next_bound_s:
            self._next_bound_s = now + BOUND_CHECK_S
            enforce_bound(self.outbox.db, max_bytes=self.max_bytes,
                          max_interval_s=self.uplink.compact_max_interval_s)  # fmt: skip
        if self.uplink.health_interval_s and now >= self._next_health_s:
            self._next_health_s = now + self.uplink.health_interval_s
            self.enqueue_health()
        self._hand_over()

    def _collect(self, wait_s: float) -> None:
        """Record outcomes in the outbox. A row stays in ``_handed`` until its outcome is
        committed, so a failed commit (disk full, locked) is retried, never resent or lost."""
        for o in self.sink.outcomes(wait_s):
            if o.status == "retry":
                self._handed.discard(o.row_id)
                self._cursor = min(self._cursor, o.row_id - 1)
            else:
                self._unrecorded.append(o)
        if not self._unrecorded:
            return
        acked = [o.row_id for o in self._unrecorded if o.status == "acked"]
        self.outbox.ack(acked)
        self.acked += len(acked)
        if acked:
            self.last_delivery_mono_s = time.monotonic()
        self._handed.difference_update(acked)
        self._unrecorded = [o for o in self._unrecorded if o.status != "acked"]
        while self._unrecorded:
            o = self._unrecorded[0]
            self._dead_letter(o.row_id, o.detail)
            self._handed.discard(o.row_id)
            self._unrecorded.pop(0)

    def _dead_letter(self, row_id: int, error: str) -> None:
        self.outbox.dead_letter(row_id, error)
        self.dead_lettered += 1
        logger.error("uplink: message row %d moved to the dead-letter table: %s", row_id, error)

    def _hand_over(self) -> None:
        n = min(self.sink.free_slots(), self._bucket.available())
        if n <= 0:
            return
        rows = [r for r in self.outbox.pending(after_id=self._cursor, limit=n + len(self._handed))
                if r.id not in self._handed][:n]  # fmt: skip
        if not rows:
            return
        self.outbox.mark_sent([r.id for r in rows])
        for row in rows:
            message = self._encode(row)
            self._cursor = max(self._cursor, row.id)
            if message is None:
                continue
            try:
                self.sink.submit(message)
            except Exception as exc:  # noqa: BLE001 - keep the row, try again on the next step
                logger.error("uplink: cannot hand message row %d to the sink: %s", row.id, exc)
                self._cursor = row.id - 1
                return
            self._handed.add(row.id)
            self._bucket.take(1)
            self.submitted += 1

    def _encode(self, row: OutboxRow) -> Outgoing | None:
        """Sign one row; a body that breaks its schema or the size limit is dead-lettered."""
        import json

        body = json.loads(row.body)
        try:
            validate_body(row.kind, body)
            payload = build_envelope(
                kind=row.kind, site_id=self.uplink.site_id, device_id=row.device_id,
                msg_id=row.msg_id, seq=row.seq, created_at=row.created_at, body=body,
                key=self.key, merged_seqs=row.merged_seqs,
                max_bytes=self.uplink.max_message_bytes,
            )  # fmt: skip
        except CarbonEdgeError as exc:
            self._dead_letter(row.id, str(exc))
            return None
        return Outgoing(row.id, row.kind, row.kind, payload, row.msg_id, row.seq)

    # --- health ----------------------------------------------------------------------------
    def enqueue_health(self) -> None:
        """Queue one ``device_health`` message with the outbox's state."""
        t = time.time()
        stats = self.outbox.stats()
        body: dict[str, Any] = {
            "kind": "device_health", "schema_version": 1,
            "id": stable_id("device_health", self.device_id, round(t * 1000)),
            "device_id": self.device_id, "t_wall": utc_iso(t),
            "uptime_s": round(time.monotonic() - self._started_s, 3),
            "software_version": __version__,
            "outbox": {
                "pending": stats["pending"], "pending_bytes": stats["pending_bytes"],
                "oldest_age_s": round(stats["oldest_age_s"], 3),
                "dead_letters": stats["dead_letters"], "compacted": stats["compacted"],
                "reconnects": int(getattr(self.sink, "reconnects", 0)),
            },
        }  # fmt: skip
        if self.health_provider is not None:  # the site's cameras and sensors
            try:
                site = self.health_provider()
                body["status"] = site["status"]
                body["sources"] = health_entries("sources", site["sources"])
                body["sensors"] = health_entries("sensors", site.get("sensors", {}))
            except Exception as exc:  # noqa: BLE001 - the outbox part is still worth sending
                logger.warning("device health: the site's part failed (%s)", exc)
        if hasattr(os, "getloadavg"):
            body["load_avg_1m"] = round(os.getloadavg()[0], 2)
        try:
            body["disk_free_mb"] = round(shutil.disk_usage(self.outbox.path.parent).free / 2**20)
        except OSError:
            pass
        self.outbox.enqueue("device_health", self.device_id, body, body["id"])


def start_forwarder(site_config: Any) -> Forwarder | None:
    """Start the forwarder for a validated site config (None when it has no ``uplink``)."""
    if getattr(site_config, "uplink", None) is None:
        return None
    return Forwarder(
        site_config.uplink, device_id=site_config.device_id,
        sqlite_path=site_config.output.sqlite_path,
    ).start()  # fmt: skip
