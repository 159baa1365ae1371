"""Prometheus metrics without a dependency: counters, gauges, summaries and histograms with labels.

The pipeline threads update a ``Metrics`` registry on every frame, so an update is one dict lookup
and one add under a lock; rendering (a scrape, a few times a minute) does the formatting. The text
is Prometheus' exposition format 0.0.4 (``# HELP``, ``# TYPE``, escaped label values, ``_sum`` /
``_count`` for summaries and cumulative ``_bucket{le=...}`` series for histograms).

Every metric is declared once with its kind, help text and label names (``define``); the standard
set of the runtime is ``STANDARD_METRICS`` and is defined by default. Process metrics (memory, CPU
time, CPU temperature where the kernel exposes it, start time, uptime) are read at scrape time.

    metrics = Metrics()
    metrics.inc("carbonedge_frames_total", source="north")
    metrics.observe("carbonedge_inference_seconds", 0.012, source="north")
    metrics.set_state("carbonedge_source_state", "streaming", SOURCE_STATES, source="north")
    text = metrics.render()
"""

from __future__ import annotations

import bisect
import logging
import math
import os
import resource
import threading
import time
from pathlib import Path
from typing import Callable, Iterable, Literal

from carbonedge.runtime import __version__

logger = logging.getLogger(__name__)

MetricKind = Literal["counter", "gauge", "summary", "histogram"]
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

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
    ("carbonedge_uplink_backlog_messages", "gauge",
     "Messages in the uplink outbox waiting for an acknowledgement.", ()),
    ("carbonedge_summaries_total", "counter",
     "Interval summaries written to the store.", ("source",)),
    ("carbonedge_crossings_total", "counter",
     "Vehicles that crossed a counting line.", ("source", "line")),
)  # fmt: skip

# Scrape-time process metrics (names as prometheus_client's process collector where they exist).
_PROCESS_METRICS: tuple[tuple[str, MetricKind, str, tuple[str, ...]], ...] = (
    ("process_resident_memory_bytes", "gauge", "Resident memory size in bytes.", ()),
    ("process_cpu_seconds_total", "counter", "User and system CPU time spent in seconds.", ()),
    ("process_start_time_seconds", "gauge", "Start time of the process since the epoch (s).", ()),
    ("process_open_fds", "gauge", "Open file descriptors.", ()),
    ("carbonedge_uptime_seconds", "gauge", "Seconds since the metrics registry was created.", ()),
    ("carbonedge_cpu_temperature_celsius", "gauge",
     "Temperature of each readable thermal zone (absent where none is readable).", ("zone",)),
    ("carbonedge_build_info", "gauge", "Always 1; the version is a label.", ("version",)),
)  # fmt: skip

_LabelKey = tuple[tuple[str, str], ...]


class _Family:
    """One declared metric and its series: label key -> value (counter, gauge), or a list
    ``[sum, count]`` (summary) or ``[sum, count, *per-bucket counts]`` (histogram)."""

    __slots__ = ("name", "kind", "help", "labels", "buckets", "series")

    def __init__(
        self, name: str, kind: MetricKind, help: str, labels: tuple[str, ...],
        buckets: tuple[float, ...],
    ) -> None:  # fmt: skip
        self.name, self.kind, self.help, self.labels = name, kind, help, labels
        self.buckets = buckets
        self.series: dict[_LabelKey, float | list[float]] = {}


class Metrics:
    """Thread-safe registry of labelled metrics that renders the Prometheus text format.

    Args:
        standard: define ``STANDARD_METRICS`` (the runtime's set).
        process: add the scrape-time process metrics to ``render()``.
    """

    def __init__(self, *, standard: bool = True, process: bool = True) -> None:
        self._lock = threading.Lock()
        self._families: dict[str, _Family] = {}
        self._collectors: list[Callable[[Metrics], None]] = []
        self._created_mono_s = time.monotonic()
        self._process = process
        if standard:
            for name, kind, help_text, labels in STANDARD_METRICS:
                buckets = DEFAULT_BUCKETS_S if kind == "histogram" else ()
                self.define(name, kind, help_text, labels, buckets=buckets)

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
        if kind not in ("counter", "gauge", "summary", "histogram"):
            raise ValueError(f"metric {name}: unknown kind {kind!r}")
        if not name.replace("_", "a").replace(":", "a").isalnum() or name[0].isdigit():
            raise ValueError(f"metric name {name!r}: use letters, digits, '_' and ':'")
        label_names = tuple(labels)
        if kind == "histogram" and "le" in label_names:
            raise ValueError(f"metric {name}: 'le' is reserved for histogram buckets")
        bounds = tuple(sorted(float(b) for b in buckets)) if kind == "histogram" else ()
        family = _Family(name, kind, help, label_names, bounds)
        with self._lock:
            old = self._families.get(name)
            if old is not None:
                if (old.kind, old.help, old.labels, old.buckets) != (kind, help, label_names,
                                                                     bounds):  # fmt: skip
                    raise ValueError(f"metric {name} is already defined differently")
                return
            if not label_names:  # a label-less counter or gauge shows 0 before its first update
                family.series[()] = self._new_value(family)
            self._families[name] = family

    def on_scrape(self, collector: Callable[[Metrics], None]) -> None:
        """Call ``collector(metrics)`` at the start of every ``render()`` (to ``set`` gauges that
        are cheaper to read on demand, such as the uplink backlog). Its errors are logged."""
        with self._lock:
            self._collectors.append(collector)

    # -- updates (called per frame: keep them cheap) -------------------------------------------

    def inc(self, name: str, value: float = 1.0, **labels: str) -> None:
        """Add ``value`` (>= 0 for counters) to the series of ``name`` with these labels."""
        with self._lock:
            family, series, key = self._series(name, labels)
            if family.kind == "counter" and value < 0:
                raise ValueError(f"counter {name} cannot decrease (inc by {value})")
            if family.kind in ("summary", "histogram"):
                raise ValueError(f"{name} is a {family.kind}: use observe()")
            series[key] = series.get(key, 0.0) + value

    def set(self, name: str, value: float, **labels: str) -> None:
        """Set the gauge ``name`` with these labels to ``value``."""
        with self._lock:
            family, series, key = self._series(name, labels)
            if family.kind != "gauge":
                raise ValueError(f"{name} is a {family.kind}, not a gauge: cannot set()")
            series[key] = float(value)

    def observe(self, name: str, value: float, **labels: str) -> None:
        """Record one observation (e.g. seconds) in the summary or histogram ``name``."""
        with self._lock:
            family, series, key = self._series(name, labels)
            if family.kind not in ("summary", "histogram"):
                raise ValueError(f"{name} is a {family.kind}: use inc() or set()")
            state = series.get(key)
            if state is None:
                state = series[key] = self._new_value(family)
            state[0] += value
            state[1] += 1
            if family.buckets:  # per-bucket counts; made cumulative when rendered
                state[2 + bisect.bisect_left(family.buckets, value)] += 1

    def set_state(
        self, name: str, current: str, states: Iterable[str] = SOURCE_STATES, **labels: str
    ) -> None:
        """An enum gauge: ``state=current`` is 1, every other state in ``states`` is 0."""
        with self._lock:
            for state in (*states, current):
                family, series, key = self._series(name, {**labels, "state": state})
                series[key] = 1.0 if state == current else 0.0

    def value(self, name: str, **labels: str) -> float:
        """Current value of a counter or gauge series (the count for summaries/histograms)."""
        with self._lock:
            family = self._families.get(name)
            if family is None:
                raise KeyError(f"metric {name} is not defined")
            state = family.series.get(_key(labels), 0.0)
        return float(state[1] if isinstance(state, list) else state)

    def _series(self, name: str, labels: dict[str, str]) -> tuple[_Family, dict, _LabelKey]:
        family = self._families.get(name)
        if family is None:
            raise KeyError(f"metric {name} is not defined (Metrics.define it first)")
        key = _key(labels)
        if key not in family.series and tuple(k for k, _ in key) != tuple(sorted(family.labels)):
            raise ValueError(
                f"metric {name} takes labels {sorted(family.labels)}, got {sorted(labels)}"
            )
        return family, family.series, key

    @staticmethod
    def _new_value(family: _Family) -> float | list[float]:
        if family.kind == "summary":
            return [0.0, 0]
        if family.kind == "histogram":
            return [0.0, 0] + [0] * (len(family.buckets) + 1)
        return 0.0

    # -- rendering (a scrape) -------------------------------------------------------------------

    def render(self) -> str:
        """The whole registry (plus process metrics) in the Prometheus text format 0.0.4."""
        with self._lock:
            collectors = list(self._collectors)
        for collector in collectors:
            try:
                collector(self)
            except Exception:  # noqa: BLE001 - one broken collector must not break the scrape
                logger.exception("metrics collector %r failed; its values are stale", collector)
        with self._lock:
            snapshot = [
                (f, {k: (list(v) if isinstance(v, list) else v) for k, v in f.series.items()})
                for f in self._families.values()
            ]
        lines: list[str] = []
        for family, series in snapshot:
            _render_family(lines, family, series)
        if self._process:
            for family, series in self._process_families():
                _render_family(lines, family, series)
        return "\n".join(lines) + "\n"

    def _process_families(self) -> list[tuple[_Family, dict]]:
        values: dict[str, dict[_LabelKey, float]] = {
            "carbonedge_uptime_seconds": {(): time.monotonic() - self._created_mono_s},
            "carbonedge_build_info": {(("version", __version__),): 1.0},
        }
        usage = resource.getrusage(resource.RUSAGE_SELF)
        values["process_cpu_seconds_total"] = {(): usage.ru_utime + usage.ru_stime}
        rss = _resident_memory_bytes()
        if rss is not None:
            values["process_resident_memory_bytes"] = {(): rss}
        start = _process_start_time_s()
        if start is not None:
            values["process_start_time_seconds"] = {(): start}
        try:
            values["process_open_fds"] = {(): float(len(os.listdir("/proc/self/fd")))}
        except OSError:
            pass
        temperatures = cpu_temperatures_c()
        if temperatures:
            values["carbonedge_cpu_temperature_celsius"] = {
                (("zone", zone),): t for zone, t in temperatures.items()
            }
        out = []
        for name, kind, help_text, labels in _PROCESS_METRICS:
            if name in values:
                out.append((_Family(name, kind, help_text, labels, ()), values[name]))
        return out


def _key(labels: dict[str, str]) -> _LabelKey:
    if len(labels) == 1:
        ((k, v),) = labels.items()
        return ((k, str(v)),)
    return tuple(sorted((k, str(v)) for k, v in labels.items()))


def _render_family(lines: list[str], family: _Family, series: dict) -> None:
    lines.append(f"# HELP {family.name} {_escape_help(family.help)}")
    lines.append(f"# TYPE {family.name} {family.kind}")
    for key in sorted(series):
        value = series[key]
        if family.kind == "histogram":
            cumulative = 0
            for bound, count in zip((*family.buckets, math.inf), value[2:], strict=True):
                cumulative += count
                le = (("le", "+Inf" if math.isinf(bound) else repr(bound)),)  # "1.0" as client libs
                lines.append(f"{family.name}_bucket{_format_labels(key + le)} {cumulative}")
        if family.kind in ("histogram", "summary"):
            lines.append(f"{family.name}_sum{_format_labels(key)} {_format_value(value[0])}")
            lines.append(f"{family.name}_count{_format_labels(key)} {int(value[1])}")
        else:
            lines.append(f"{family.name}{_format_labels(key)} {_format_value(value)}")


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _escape_label_value(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _format_labels(key: _LabelKey) -> str:
    if not key:
        return ""
    return "{" + ",".join(f'{k}="{_escape_label_value(v)}"' for k, v in key) + "}"


def _format_value(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if math.isnan(value):
        return "NaN"
    if float(value).is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(float(value))


# -- process readings (Linux /proc and /sys; absent elsewhere, never an error) ------------------


def _resident_memory_bytes() -> float | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return float(line.split()[1]) * 1024.0  # reported in kB
    except (OSError, ValueError, IndexError):
        pass
    return None


def _process_start_time_s() -> float | None:
    """Start time from /proc/self/stat (clock ticks after boot) and the boot time in /proc/stat."""
    try:
        stat = Path("/proc/self/stat").read_text()
        start_ticks = float(stat.rsplit(")", 1)[1].split()[19])  # field 22 of the whole line
        boot_s = next(
            float(line.split()[1])
            for line in Path("/proc/stat").read_text().splitlines()
            if line.startswith("btime ")
        )
        return boot_s + start_ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration):
        return None


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
