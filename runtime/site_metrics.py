"""The site's figures as Prometheus metrics, read when ``/metrics`` is scraped.

Counters are derived from each source's running totals (all its restarts added up) and
advanced by the difference since the last scrape, so the pipeline threads pay nothing per frame
except the inference-time histogram, which the pipeline observes itself. Live sources add their
device health: state, dropped frames, reconnects. The store's failed writes (per kind), the free
space of its filesystem and the uplink backlog (counted in the store file itself, so it reads
the real backlog while writes fail) are read at the same time.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from carbonedge.runtime.metrics import SOURCE_STATES, Metrics
from carbonedge.runtime.site_faults import disk_free_bytes
from carbonedge.runtime.store.outbox import pending_count
from carbonedge.runtime.store.write_health import write_health
from carbonedge.vision.light import LIGHT_STATES

if TYPE_CHECKING:
    from carbonedge.runtime.site import Site

__all__ = ["SiteMetrics"]

# SourceResult attribute -> counter
_COUNTERS = {
    "frames": "carbonedge_frames_total",
    "gated_frames": "carbonedge_frames_skipped_total",
    "strided_frames": "carbonedge_frames_strided_total",
    "detector_calls": "carbonedge_detector_calls_total",
    "frame_errors": "carbonedge_frame_errors_total",
    "summary_count": "carbonedge_summaries_total",
    "annotate_dropped": "carbonedge_annotate_frames_dropped_total",
}
# device health counter -> metric
_HEALTH_COUNTERS = {
    "dropped_frames": "carbonedge_frames_dropped_total",
    "reconnects": "carbonedge_source_reconnects_total",
}


class SiteMetrics:
    """Registers a scrape-time collector on ``metrics`` for ``site``."""

    def __init__(self, site: Site, metrics: Metrics) -> None:
        self.site = site
        self._exported: dict[tuple[str, ...], float] = {}
        self._fps_mark: dict[str, tuple[float, int]] = {}
        metrics.on_scrape(self.collect)

    def _advance(self, metrics: Metrics, name: str, total: float, **labels: str) -> None:
        key = (name, *sorted(labels.items()))  # type: ignore[arg-type]
        delta = total - self._exported.get(key, 0.0)
        if delta > 0:
            metrics.inc(name, delta, **labels)
            self._exported[key] = total

    def collect(self, metrics: Metrics) -> None:
        self._collect_store(metrics)
        self._collect_sources(metrics)

    def _collect_store(self, metrics: Metrics) -> None:
        store = self.site.store
        if store is not None:
            for kind, n in write_health(store).snapshot()["failures_total"].items():
                self._advance(metrics, "carbonedge_store_write_failures_total", n, kind=kind)
        sqlite_path = self.site.config.output.sqlite_path
        free = disk_free_bytes(sqlite_path)
        if free is not None:
            metrics.set("carbonedge_store_disk_free_bytes", free)
        if sqlite_path.exists():  # a read error keeps the last value (logged by the scrape)
            metrics.set("carbonedge_uplink_backlog_messages", pending_count(sqlite_path))

    def _collect_sources(self, metrics: Metrics) -> None:
        now = time.monotonic()
        for source_id, runner in self.site.runners().items():
            results = list(runner.results)
            pipeline = runner.pipeline
            if pipeline is not None and pipeline.result not in results:
                results.append(pipeline.result)
            for attr, name in _COUNTERS.items():
                self._advance(metrics, name, sum(getattr(r, attr) for r in results),
                              source=source_id)  # fmt: skip
            lines: dict[str, int] = {}
            for r in results:
                for line_id, per_dir in r.line_counts.items():
                    n = sum(sum(d.values()) for d in per_dir.values())
                    lines[line_id] = lines.get(line_id, 0) + n
            for line_id, n in lines.items():
                self._advance(metrics, "carbonedge_crossings_total", n, source=source_id,
                              line=line_id)  # fmt: skip
            frames = sum(r.frames for r in results)
            then_s, then_frames = self._fps_mark.get(source_id, (runner.started_s, 0))
            if now > then_s:
                metrics.set("carbonedge_source_fps", (frames - then_frames) / (now - then_s),
                            source=source_id)  # fmt: skip
            self._fps_mark[source_id] = (now, frames)
            light = pipeline.stage("light_profile") if pipeline is not None else None
            if light is not None:
                metrics.set_state("carbonedge_light_profile", light.state,  # type: ignore[attr-defined]
                                  LIGHT_STATES, source=source_id)  # fmt: skip
            health = getattr(pipeline.source, "health", None) if pipeline is not None else None
            if health is not None:
                snap = health.snapshot()
                if snap["state"] in SOURCE_STATES:
                    metrics.set_state("carbonedge_source_state", snap["state"], SOURCE_STATES,
                                      source=source_id)  # fmt: skip
                for key, name in _HEALTH_COUNTERS.items():
                    if key in snap["counters"]:
                        self._advance(metrics, name, snap["counters"][key], source=source_id)
