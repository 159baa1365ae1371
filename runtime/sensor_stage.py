"""Sensors in the runtime: readings aggregated into interval summaries, like a camera's.

Each configured sensor (PM, CO2, Modbus registers) runs its driver thread; this stage takes its
readings and, per interval aligned like the cameras' (``summary.interval_s``), writes an
``IntervalSummary`` whose ``source_id`` is the sensor id and whose ``sensor`` section holds, per
value (units in the names: ``pm2_5_ugm3``, ``co2_ppm``), the mean, min and max and the number of
readings, plus the device's state and error counters. The summaries take the same path as the
cameras' (store, sequence numbers, outbox, compaction), so an outage loses nothing. Intervals
without a single reading are reported with ``readings: 0`` only when the sensor is known to be
failing (the health says so), never as zero concentrations. A store that fails keeps the summaries
queued in memory; at the end of the run it is retried for ``shutdown_flush_s`` and what it still
refuses goes to the spill file (``runtime/store/spill.py``), replayed at the next start, as for
the cameras.

A sensor calibration (``correction``: ``carbonedge.calibration.sensor.SensorCorrection``) is
applied by the driver before aggregation; the section then carries ``correction`` (record id and
gain/offset per corrected value, so raw = (value - offset) / gain). While the ``zero_span_marker``
file says a zero/span runs, the driver reads ``calibrating`` and so does the section's ``state``
for every interval that had a reading in that state.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Any

from carbonedge.calibration.sensor import SensorCorrection, zero_span_in_progress
from carbonedge.devices.sensors import create_sensor
from carbonedge.devices.sensors.base import SensorConfig, SensorReading
from carbonedge.runtime.base.events import IntervalSummary
from carbonedge.runtime.base.sections import merge_by_key, register_section, weighted_mean
from carbonedge.runtime.stages.section_schema import section_schema
from carbonedge.runtime.store import QueuedWriter, Store
from carbonedge.runtime.summary import IntervalAggregator

logger = logging.getLogger(__name__)

__all__ = ["SensorStage"]


def merge_sensor(a: Any, b: Any, _ba: Any, _bb: Any) -> dict[str, Any] | None:
    if a is None or b is None:
        return a or b
    na, nb = a["readings"], b["readings"]

    def merge(x: dict, y: dict) -> dict:
        return {"mean": weighted_mean(x["mean"], na, y["mean"], nb), "min": min(x["min"], y["min"]),
                "max": max(x["max"], y["max"])}  # fmt: skip

    errors = {k: a["errors"].get(k, 0) + b["errors"].get(k, 0)
              for k in set(a["errors"]) | set(b["errors"])}  # fmt: skip
    calibrating = "calibrating" in (a["state"], b["state"])  # data C stays C when merged
    merged = {"type": a["type"], "readings": na + nb,
              "state": "calibrating" if calibrating else b["state"], "errors": errors,
              "values": merge_by_key(a["values"], b["values"], merge)}  # fmt: skip
    if a.get("correction") == b.get("correction") and a.get("correction") is not None:
        merged["correction"] = a["correction"]  # different corrections: raw is not recoverable
    return merged


register_section("sensor", schema=section_schema("sensor"), merge=merge_sensor,
                 owner="sensor_stage")  # fmt: skip


class _Values:
    """Mean/min/max per value name over one interval."""

    def __init__(self) -> None:
        self.readings = 0
        self.calibrating = False
        self.sums: dict[str, float] = {}
        self.mins: dict[str, float] = {}
        self.maxs: dict[str, float] = {}

    def add(self, reading: SensorReading) -> None:
        self.readings += 1
        for name, value in reading.values.items():
            v = float(value)
            self.sums[name] = self.sums.get(name, 0.0) + v
            self.mins[name] = min(self.mins.get(name, v), v)
            self.maxs[name] = max(self.maxs.get(name, v), v)


class SensorStage:
    """One sensor: driver, per-interval aggregation, summaries to the store."""

    def __init__(
        self,
        config: SensorConfig,
        *,
        device_id: str,
        interval_s: float,
        store: Store | None,
        correction: SensorCorrection | None = None,
        zero_span_marker: Path | None = None,
        shutdown_flush_s: float = 10.0,
        spill_to: Path | None = None,
    ) -> None:
        """At the end of a run a failing store is retried for ``shutdown_flush_s``; what it still
        refuses goes to the spill file ``spill_to`` (None: it is lost, and logged as LOST)."""
        self.config = config
        self.sensor = create_sensor(config, device_id)
        self.sensor.set_correction(correction)
        self._marker, self._marker_checked_s = zero_span_marker, -1.0
        self._writer = QueuedWriter(store) if store is not None else None
        self._shutdown_flush_s, self._spill_to = shutdown_flush_s, spill_to
        self.unwritten = 0  # items not in the store when the run ended (spilled or lost)
        self.spilled = 0  # of those, kept in the spill file (replayed at the next start)
        self._values = _Values()
        self._seq = 0
        self.summaries: list[IntervalSummary] = []  # written ones (tests, CLI); the last 256
        self._aggregator = IntervalAggregator(
            device_id=device_id, source_id=config.id, line_ids=(), interval_s=interval_s,
            detector=f"sensor:{config.type}", next_seq=self._next_seq, on_close=self._close,
            calibration_id=correction.record_id if correction is not None else None,
        )  # fmt: skip

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def _close(self, start_s: float, end_s: float) -> tuple[list, dict[str, Any]]:
        v, self._values = self._values, _Values()
        snap = self.sensor.health.snapshot()
        section: dict[str, Any] = {
            "type": self.config.type,
            "readings": v.readings,
            "state": "calibrating" if v.calibrating else snap["state"],
            "errors": {k: n for k, n in snap["counters"].items() if k != "readings" and n},
            "values": {
                name: {
                    "mean": round(v.sums[name] / v.readings, 3),
                    "min": round(v.mins[name], 3),
                    "max": round(v.maxs[name], 3),
                }
                for name in sorted(v.sums)
            },
        }
        if self.sensor.correction is not None:
            section["correction"] = self.sensor.correction.summary()
        return [], {"sensor": section}

    def _check_marker(self) -> None:
        """Follow the zero/span marker file (once a second at most)."""
        now = time.monotonic()
        if self._marker is None or now - self._marker_checked_s < 1.0:
            return
        self._marker_checked_s = now
        detail = zero_span_in_progress(self._marker)
        if (detail is not None) != self.sensor.calibrating:
            self.sensor.set_calibrating(detail is not None, detail or "")

    def run(self, stop: threading.Event) -> None:
        """Read until ``stop``; flush the open interval; what the store still refuses then is
        retried for ``shutdown_flush_s`` and spilled."""
        last_t: float | None = None
        try:
            with self.sensor:
                while not stop.is_set():
                    self._check_marker()
                    reading = self.sensor.read(timeout_s=0.5)
                    if reading is None:
                        continue
                    self._emit(self._aggregator.roll(reading.t_wall_s))
                    self._values.add(reading)
                    self._values.calibrating |= self.sensor.calibrating
                    self._emit(self._aggregator.add_frame(reading.t_wall_s))
                    last_t = reading.t_wall_s
            if last_t is not None:
                self._emit(self._aggregator.flush(last_t + 1e-3))
        finally:
            if self._writer is not None and self._writer.pending:
                self._drain_writer()

    def _drain_writer(self) -> None:
        """The store failed until the end: retry for a bounded time, then spill the rest."""
        assert self._writer is not None
        queued = self._writer.pending
        written, self.spilled, lost = self._writer.drain(self._shutdown_flush_s, self._spill_to)
        self._keep(written)
        self.unwritten = self.spilled + lost
        if self.unwritten:
            logger.error(
                "sensor %s: store still failing after %.0f s at the end of the run: of %d queued "
                "items %d written, %d spilled to %s (replayed at the next start), %d LOST",
                self.config.id, self._shutdown_flush_s, queued, queued - self.unwritten,
                self.spilled, self._spill_to, lost,
            )  # fmt: skip

    def _emit(self, summary: IntervalSummary | None) -> None:
        if self._writer is None:
            if summary is not None:
                self._keep([summary])
            return
        if summary is not None:
            self._writer.add_summary(summary)
        self._keep(self._writer.flush())

    def _keep(self, written: list[IntervalSummary]) -> None:
        self.summaries = (self.summaries + written)[-256:]
        for s in written:
            logger.info("sensor %s seq=%d: %d readings", s.source_id, s.seq, s.frames)
