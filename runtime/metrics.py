"""The box's Prometheus metrics, kept and rendered by ``prometheus_client``.

Each ``Metrics`` has its own ``CollectorRegistry`` (never the library's global one), so several
sites in one process or test do not collide. The pipeline threads update it on every frame
through ``inc`` / ``set`` / ``observe`` (one dict lookup, then prometheus_client's own locked
update); a scrape runs the ``on_scrape`` hooks, then reads every family and the process metrics.
Every metric is declared once with its kind, help text and label names (``define``); the standard
set of the runtime is ``STANDARD_METRICS`` and is defined by default. Process metrics (memory, CPU
time, open files from prometheus_client's ``ProcessCollector``; CPU temperature where the kernel
exposes it, uptime, build) are read at scrape time by a custom collector.

    metrics = Metrics()
    metrics.inc("carbonedge_frames_total", source="north")
    metrics.observe("carbonedge_inference_seconds", 0.012, source="north")
    metrics.set_state("carbonedge_source_state", "streaming", SOURCE_STATES, source="north")
    text = metrics.render()  # Prometheus text format 0.0.4
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Literal

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Summary
from prometheus_client import generate_latest as _generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector

from carbonedge.runtime import __version__

logger = logging.getLogger(__name__)

MetricKind = Literal["counter", "gauge", "summary", "histogram"]
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"  # what generate_latest writes

# Inference and decode latencies on a 2-8 core box: 1 ms .. 2.5 s.
DEFAULT_BUCKETS_S: tuple[float, ...] = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
)  # fmt: skip

# States of a source or sensor, as in ``carbonedge.devices.health.DeviceState``.
SOURCE_STATES: tuple[str, ...] = (
    "connecting", "streaming", "stalled", "frozen", "calibrating", "failed", "closed",
)  # fmt: skip

# name, kind, help, label names (units are in the names: seconds, bytes, celsius).
STANDARD_METRICS: tuple[tuple[str, MetricKind, str, tuple[str, ...]], ...] = (
    ("carbonedge_frames_total", "counter",
     "Frames decoded and taken from the source.", ("source",)),
    ("carbonedge_frames_dropped_total", "counter",
     "Frames dropped by the source queue's drop policy (latest-frame).", ("source",)),
    ("carbonedge_frames_skipped_total", "counter",
     "Frames the motion gate let pass without a detector call.", ("source",)),
    ("carbonedge_frames_strided_total", "counter",
     "Frames between detection strides: no vehicle stage saw them (detect_fps).", ("source",)),
    ("carbonedge_detector_calls_total", "counter",
     "Frames that went through the detector.", ("source",)),
    ("carbonedge_inference_seconds", "histogram",
     "Detector time per frame (seconds).", ("source",)),
    ("carbonedge_frame_errors_total", "counter",
     "Frames that failed in analysis (logged and skipped).", ("source",)),
    ("carbonedge_queue_depth", "gauge", "Frames waiting in the source's queue.", ("source",)),
    ("carbonedge_source_fps", "gauge", "Frames per second analysed, recent average.", ("source",)),
    ("carbonedge_source_reconnects_total", "counter",
     "Reconnects of a live source.", ("source",)),
    ("carbonedge_source_state", "gauge",
     "1 for the source's current state, 0 for the others.", ("source", "state")),
    ("carbonedge_light_profile", "gauge",
     "1 for the camera's current light profile (day, dusk, night, glare, fog), 0 for the others.",
     ("source", "state")),
    ("carbonedge_uplink_backlog_messages", "gauge",
     "Messages in the uplink outbox waiting for an acknowledgement.", ()),
    ("carbonedge_store_write_failures_total", "counter",
     "Store writes that failed (disk full, locked, I/O); kind: summary or events.", ("kind",)),
    ("carbonedge_store_disk_free_bytes", "gauge",
     "Free space on the filesystem of the store (bytes).", ()),
    ("carbonedge_summaries_total", "counter",
     "Interval summaries written to the store.", ("source",)),
    ("carbonedge_annotate_frames_dropped_total", "counter",
     "Frames left out of the annotated video (its writer was behind; counting unaffected).",
     ("source",)),
    ("carbonedge_crossings_total", "counter",
     "Vehicles that crossed a counting line.", ("source", "line")),
)  # fmt: skip

# Help of the ProcessCollector's families as this runtime has always exposed it (family name:
# prometheus_client strips a counter's ``_total``).
_PROCESS_HELP = {
    "process_resident_memory_bytes": "Resident memory size in bytes.",
    "process_cpu_seconds": "User and system CPU time spent in seconds.",
    "process_start_time_seconds": "Start time of the process since the epoch (s).",
    "process_open_fds": "Open file descriptors.",
}

_NAME = re.compile(r"^[A-Za-z_:][A-Za-z0-9_:]*$")
_CLASSES: dict[str, Any] = {
    "counter": Counter, "gauge": Gauge, "summary": Summary, "histogram": Histogram,
}  # fmt: skip


@dataclass(frozen=True)
class _Entry:
    """One declared metric: its spec and the prometheus_client object that keeps its values."""

    kind: MetricKind
    help: str
    labels: tuple[str, ...]
    buckets: tuple[float, ...]
    metric: Any  # Counter | Gauge | Summary | Histogram, not registered anywhere by itself


class Metrics:
    """Labelled metrics in a private ``CollectorRegistry`` (``registry``), rendered by
    prometheus_client.

    Args:
        standard: define ``STANDARD_METRICS`` (the runtime's set).
        process: also expose the scrape-time process metrics.
    """

    def __init__(self, *, standard: bool = True, process: bool = True) -> None:
        self._lock = threading.Lock()  # define, hooks, and set_state vs. a scrape
        self._entries: dict[str, _Entry] = {}
        self._hooks: list[Callable[[Metrics], None]] = []
        self.registry = CollectorRegistry()
        self.registry.register(_Families(self))
        if process:
            self.registry.register(_ProcessMetrics(time.monotonic()))
        if standard:
            for name, kind, help_text, labels in STANDARD_METRICS:
                self.define(name, kind, help_text, labels)

    def define(
        self,
        name: str,
        kind: MetricKind,
        help: str,
        labels: Iterable[str] = (),
        *,
        buckets: Iterable[float] = DEFAULT_BUCKETS_S,
    ) -> None:
        """Declare a metric once. Re-declaring it identically is a no-op; differently, an error."""
        if kind not in _CLASSES:
            raise ValueError(f"metric {name}: unknown kind {kind!r}")
        if not _NAME.match(name):
            raise ValueError(f"metric name {name!r}: use letters, digits, '_' and ':'")
        if kind == "counter" and not name.endswith("_total"):
            raise ValueError(f"counter {name}: counter names end in '_total'")
        label_names = tuple(labels)
        if kind == "histogram" and "le" in label_names:
            raise ValueError(f"metric {name}: 'le' is reserved for histogram buckets")
        bounds = tuple(sorted(float(b) for b in buckets)) if kind == "histogram" else ()
        with self._lock:
            old = self._entries.get(name)
            if old is not None:
                if (old.kind, old.help, old.labels, old.buckets) != (kind, help, label_names,
                                                                     bounds):  # fmt: skip
                    raise ValueError(f"metric {name} is already defined differently")
                return
            options = {"buckets": bounds} if kind == "histogram" else {}
            metric = _CLASSES[kind](name, help, label_names, registry=None, **options)
            self._entries[name] = _Entry(kind, help, label_names, bounds, metric)

    def on_scrape(self, hook: Callable[[Metrics], None]) -> None:
        """Call ``hook(metrics)`` at the start of every scrape (to ``set`` gauges that are
        cheaper to read on demand, such as the uplink backlog). Its errors are logged."""
        with self._lock:
            self._hooks.append(hook)

    # -- updates (called per frame: keep them cheap) -------------------------------------------

    def inc(self, name: str, value: float = 1.0, **labels: str) -> None:
        """Add ``value`` (>= 0 for counters) to the series of ``name`` with these labels."""
        entry = self._entry(name)
        if entry.kind == "counter" and value < 0:
            raise ValueError(f"counter {name} cannot decrease (inc by {value})")
        if entry.kind in ("summary", "histogram"):
            raise ValueError(f"{name} is a {entry.kind}: use observe()")
        _child(name, entry, labels).inc(value)

    def set(self, name: str, value: float, **labels: str) -> None:
        """Set the gauge ``name`` with these labels to ``value``."""
        entry = self._entry(name)
        if entry.kind != "gauge":
            raise ValueError(f"{name} is a {entry.kind}, not a gauge: cannot set()")
        _child(name, entry, labels).set(value)

    def observe(self, name: str, value: float, **labels: str) -> None:
        """Record one observation (e.g. seconds) in the summary or histogram ``name``."""
        entry = self._entry(name)
        if entry.kind not in ("summary", "histogram"):
            raise ValueError(f"{name} is a {entry.kind}: use inc() or set()")
        _child(name, entry, labels).observe(value)

    def set_state(
        self, name: str, current: str, states: Iterable[str] = SOURCE_STATES, **labels: str
    ) -> None:
        """An enum gauge: ``state=current`` is 1, every other state in ``states`` is 0 (a scrape
        sees the switch whole)."""
        entry = self._entry(name)
        if entry.kind != "gauge":
            raise ValueError(f"{name} is a {entry.kind}, not a gauge: cannot set_state()")
        with self._lock:
            for state in (*states, current):
                _child(name, entry, {**labels, "state": state}).set(float(state == current))

    def value(self, name: str, **labels: str) -> float:
        """Current value of a counter or gauge series (the count for summaries/histograms)."""
        entry = self._entries.get(name)
        if entry is None:
            raise KeyError(f"metric {name} is not defined")
        sample_name = name if entry.kind in ("counter", "gauge") else f"{name}_count"
        wanted = {k: str(v) for k, v in labels.items()}
        for family in entry.metric.collect():
            for sample in family.samples:
                if sample.name == sample_name and sample.labels == wanted:
                    return float(sample.value)
        return 0.0

    def _entry(self, name: str) -> _Entry:
        entry = self._entries.get(name)
        if entry is None:
            raise KeyError(f"metric {name} is not defined (Metrics.define it first)")
        return entry

    # -- a scrape -------------------------------------------------------------------------------

    def render(self) -> str:
        """The whole registry (plus process metrics) in the Prometheus text format 0.0.4."""
        return _generate_latest(self.registry).decode("utf-8")

    def _run_hooks(self) -> None:
        with self._lock:
            hooks = list(self._hooks)
        for hook in hooks:
            try:
                hook(self)
            except Exception:  # noqa: BLE001 - one broken hook must not break the scrape
                logger.exception("metrics collector %r failed; its values are stale", hook)

    def _families(self) -> Iterator[Metric]:
        with self._lock:
            for entry in self._entries.values():
                for family in entry.metric.collect():
                    created = family.name + "_created"  # per-series creation times: left out
                    family.samples = [s for s in family.samples if s.name != created]
                    yield family


def _child(name: str, entry: _Entry, labels: dict[str, str]) -> Any:
    """The series of ``entry`` with these labels (prometheus_client's ``labels()``)."""
    if not entry.labels and not labels:
        return entry.metric
    try:
        return entry.metric.labels(**labels)
    except ValueError:  # wrong names, or label values missing
        raise ValueError(
            f"metric {name} takes labels {sorted(entry.labels)}, got {sorted(labels)}"
        ) from None


class _Families(Collector):
    """The declared metrics of one ``Metrics``, after its ``on_scrape`` hooks ran."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    def collect(self) -> Iterator[Metric]:
        self._metrics._run_hooks()
        yield from list(self._metrics._families())  # the lock is not held while rendering


class _ProcessMetrics(Collector):
    """Read at scrape time: prometheus_client's process metrics (Linux ``/proc``; absent
    elsewhere), uptime, CPU temperatures and the build."""

    def __init__(self, created_mono_s: float) -> None:
        self._created_mono_s = created_mono_s
        self._process = ProcessCollector(registry=None)

    def collect(self) -> Iterator[Metric]:
        for family in self._process.collect():
            family.documentation = _PROCESS_HELP.get(family.name, family.documentation)
            yield family
        yield GaugeMetricFamily(
            "carbonedge_uptime_seconds", "Seconds since the metrics registry was created.",
            value=time.monotonic() - self._created_mono_s,
        )  # fmt: skip
        temperatures = cpu_temperatures_c()
        if temperatures:
            family = GaugeMetricFamily(
                "carbonedge_cpu_temperature_celsius",
                "Temperature of each readable thermal zone (absent where none is readable).",
                labels=("zone",),
            )
            for zone, celsius in temperatures.items():
                family.add_metric((zone,), celsius)
            yield family
        build = GaugeMetricFamily(
            "carbonedge_build_info", "Always 1; the version is a label.", labels=("version",)
        )
        build.add_metric((__version__,), 1.0)
        yield build


def cpu_temperatures_c(root: Path = Path("/sys/class/thermal")) -> dict[str, float]:
    """Thermal zone name -> degrees Celsius, for each zone whose ``temp`` can be read.

    The key is the zone's ``type`` (e.g. ``x86_pkg_temp``, ``cpu-thermal``) or, without one, the
    folder name. Containers and VMs often expose none: the result is then empty.
    """
    out: dict[str, float] = {}
    try:
        zones = sorted(root.glob("thermal_zone*"))
    except OSError:
        return out
    for zone in zones:
        try:
            millidegrees = float((zone / "temp").read_text().strip())
        except (OSError, ValueError):
            continue
        try:
            name = (zone / "type").read_text().strip() or zone.name
        except OSError:
            name = zone.name
        if name in out:
            name = f"{name}-{zone.name}"
        out[name] = millidegrees / 1000.0
    return out
