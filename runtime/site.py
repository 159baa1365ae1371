"""A site: every camera of a config running at once, shared detectors, a watchdog.

Each camera runs its own ``SourcePipeline`` on its own thread (decoding on a further thread, see
``prefetch``), so two cameras keep two cores busy: OpenCV decoding, ONNX Runtime inference and the
compiled kernels release the GIL. Cameras whose detector config is the site's default share one
detector: one ONNX Runtime session serves them concurrently (its ``run`` is thread-safe); each
other distinct detector config gets one instance, shared by the cameras that use it. A camera
with light profiles (``profiles:``, on by default) gets its own ``ProfiledDetector`` around its
detector; the detectors its profiles switch to (the fused one at dusk, say) come from one pool,
built on first use and shared by every camera whose profile needs equal settings. Batching
frames of several sources into one call needs a model with a free batch dimension; the shipped
models are exported with batch 1, so sources are served concurrently instead. Each camera runs
with its current calibration record laid over its config (``calibrate.overlay``).

The watchdog (the calling thread) looks at every source once a second:

- a live source (camera) whose pipeline failed, or that delivered no frame for
  ``stall_restart_s``, is restarted (closed and opened again) with a capped backoff (the sources
  themselves also reconnect on their own); files, the synthetic scene and an image folder that
  reached its last image run once;
- a live source that still delivers frames that no longer change is reported ``frozen`` (the
  camera is blind: counts of zero mean nothing), in the log and in ``health()``, and reconnected
  after ``frozen_restart_s`` (a stream stuck on one picture often recovers on a new connection);
- on ``stop`` (SIGTERM) every source is closed, which unblocks a read waiting on a stalled
  camera; each pipeline then flushes its open interval.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from pydantic import BaseModel, ConfigDict, Field

from carbonedge.calibration.sensor import SensorCorrection, zero_span_marker
from carbonedge.devices.sources import FrameSource, create_source
from carbonedge.runtime.base.backoff import Backoff
from carbonedge.runtime.base.errors import CarbonEdgeError, ConfigError, StoreError
from carbonedge.runtime.calibrate.active import report_changes
from carbonedge.runtime.calibrate.overlay import current_records, overlay_record, source_masks
from carbonedge.runtime.camera_moved_stage import camera_moved_stages
from carbonedge.runtime.health_server import HealthServer
from carbonedge.runtime.light_profiles import DetectorPool, ProfiledDetector
from carbonedge.runtime.live.hub import LiveHub
from carbonedge.runtime.metrics import Metrics
from carbonedge.runtime.pipeline import CameraPlan, SourcePipeline, SourceResult
from carbonedge.runtime.sensor_stage import SensorStage
from carbonedge.runtime.site_metrics import SiteMetrics
from carbonedge.runtime.store import Store
from carbonedge.runtime.store.spill import replay_spill, spill_path
from carbonedge.vision.detectors import Detector, create_detector

if TYPE_CHECKING:  # runtime.config imports this module (WatchdogConfig)
    from carbonedge.runtime.config import CameraConfig, SiteConfig

logger = logging.getLogger(__name__)

__all__ = ["Site", "WatchdogConfig", "run_site"]


class WatchdogConfig(BaseModel):
    """When the watchdog restarts a live source (``watchdog:`` in the site config)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    stall_restart_s: float = Field(30.0, gt=0.0, description="no frame for this long: restart")
    frozen_restart_s: float | None = Field(
        60.0, gt=0.0, description="frozen this long: reconnect (None: only report it)"
    )
    restart_backoff_max_s: float = Field(
        60.0,
        gt=0.0,
        description="longest wait between two restarts of a failing source",
    )
    check_every_s: float = Field(
        1.0,
        gt=0.0,
        description="how often the watchdog looks at the sources",
    )


def _is_live(source: FrameSource) -> bool:
    from carbonedge.devices.sources.live import LiveSource

    return isinstance(source, LiveSource)


@dataclass
class _Runner:
    """One source's thread: builds the pipeline, runs it, restarts it when it is live."""

    source_id: str
    pipeline: SourcePipeline | None = None
    thread: threading.Thread | None = None
    results: list[SourceResult] = field(default_factory=list)  # one per (re)start
    restarts: int = 0
    started_s: float = 0.0
    live: bool = False
    frozen: bool = False
    frozen_since_s: float = 0.0
    restart_requested: bool = False  # the watchdog closed it: start it again
    lock: threading.Lock = field(default_factory=threading.Lock)


class Site:
    """Runs a validated site config; ``health()`` may be called from any thread."""

    def __init__(
        self,
        config: SiteConfig,
        *,
        detector: Detector | None = None,
        max_frames: int | None = None,
        stop: threading.Event | None = None,
    ) -> None:
        """``detector`` (optional) serves the cameras whose detector is the site default."""
        self.config = config
        self.detector = detector or create_detector(config.detector)
        self.max_frames = max_frames
        self.stop = stop or threading.Event()
        self.watchdog: WatchdogConfig = config.watchdog
        self._runners = {camera_id: _Runner(camera_id) for camera_id in config.cameras}
        self.started_s = time.monotonic()
        self.sensors: list[SensorStage] = []
        self.metrics = Metrics()
        SiteMetrics(self, self.metrics)
        self.server: HealthServer | None = None
        self.live = LiveHub()  # each camera's latest frame for the live page (while served)
        self.store: Store | None = None  # open while run() runs
        #: returns the uplink's health (``Forwarder.health``); set by ``carbonedge run``
        self.uplink_health: Callable[[], dict[str, Any]] | None = None
        #: sees every batch of final crossings (``uplink.live_events``); set by ``carbonedge run``
        self.on_crossings: Callable[[list[Any]], None] | None = None
        # signed calibration records: a bad key fails here, a tampered file is logged and skipped
        self.calibrations = current_records(config)
        self.cameras: dict[str, CameraConfig] = {
            camera_id: overlay_record(camera, self.calibrations.get(camera_id))
            for camera_id, camera in config.cameras.items()
        }  # what each camera runs: its config with its current record laid over it
        self.camera_checks = camera_moved_stages(config, self.calibrations)  # view vs snapshot
        self.detector_pool = DetectorPool()  # the profiles' detectors, built on first use
        self.detectors = self._camera_detectors()
        self.pipeline_detectors = self._profiled_detectors()

    def _profiled_detectors(self) -> dict[str, Any]:
        """camera id -> what its pipeline runs: a ``ProfiledDetector`` around its detector when
        its light profiles are on (they share the pool), else its detector."""
        out: dict[str, Any] = {}
        for camera_id, camera in self.config.cameras.items():
            detector = self.detectors[camera_id]
            profiles = camera.profiles
            if profiles.enabled and hasattr(detector, "config"):
                detector = ProfiledDetector(detector, profiles, self.detector_pool, camera_id)
            out[camera_id] = detector
        return out

    def _camera_detectors(self) -> dict[str, Detector]:
        """camera id -> its detector: the site's, or one instance per other distinct config."""
        built: list[tuple[Any, Detector]] = [(self.config.detector, self.detector)]
        out = {}
        for camera_id, camera in self.config.cameras.items():
            match = next((d for c, d in built if c == camera.detector), None)
            if match is None:
                match = create_detector(camera.detector)
                built.append((camera.detector, match))
                logger.info("camera %s: its own detector (%s)", camera_id, camera.detector.type)
            out[camera_id] = match
        return out

    def _all_detectors(self) -> list[Detector]:
        """Every distinct detector instance, the site default first."""
        unique = {id(d): d for d in (self.detector, *self.detectors.values())}
        return list(unique.values())

    # --- running ----------------------------------------------------------------------------------
    def run(self) -> list[SourceResult]:
        """Run until every finite source ended, or ``stop``; one merged result per source."""
        self._start_server()
        try:
            for detector in self._all_detectors():
                detector.warmup()
            with Store(self.config.output.sqlite_path, self.config.output.jsonl_path,
                       uplink=self.config.uplink is not None) as store:  # fmt: skip
                self.store = store
                self._replay_spill(store)
                report_changes(store, self.config.device_id, self.calibrations)
                for camera_id, camera in self.cameras.items():
                    runner = self._runners[camera_id]
                    runner.thread = threading.Thread(
                        target=self._run_source,
                        args=(runner, camera, store),
                        name=f"source-{camera_id}",
                        daemon=True,
                    )
                    runner.thread.start()
                sensors_stop = threading.Event()
                sensor_threads = self._start_sensors(store, sensors_stop)
                try:
                    self._watch()
                finally:  # the cameras are done (or stop): the sensors flush and end too
                    sensors_stop.set()
                    for thread in sensor_threads:
                        thread.join()
        finally:
            for detector in self._all_detectors():
                detector.close()
            self.detector_pool.close()
            if self.server is not None:
                self.server.stop()
        return [self._merged(r) for r in self._runners.values()]

    def _spill_path(self) -> Path:
        output = self.config.output
        return spill_path(output.sqlite_path, output.spill_dir)

    def _replay_spill(self, store: Store) -> None:
        """What the last run could not write at its shutdown goes in first (idempotent)."""
        try:
            replay_spill(store, self._spill_path())
        except StoreError as exc:
            logger.error("%s; the spill file is kept for the next start", exc)

    def _start_sensors(self, store: Store, stop: threading.Event) -> list[threading.Thread]:
        threads = []
        calibration = self.config.calibration
        for sensor_config in self.config.sensors:
            marker = (zero_span_marker(calibration.records_dir, sensor_config.id)
                      if calibration is not None else None)  # fmt: skip
            stage = SensorStage(sensor_config, device_id=self.config.device_id,
                                interval_s=self.config.summary.interval_s, store=store,
                                correction=SensorCorrection.of_record(
                                    self.calibrations.get(sensor_config.id)),
                                zero_span_marker=marker,
                                shutdown_flush_s=self.config.output.shutdown_flush_s,
                                spill_to=self._spill_path())  # fmt: skip
            self.sensors.append(stage)
            thread = threading.Thread(target=stage.run, args=(stop,), daemon=True,
                                      name=f"sensor-stage-{sensor_config.id}")  # fmt: skip
            thread.start()
            threads.append(thread)
        return threads

    def _start_server(self) -> None:
        """``/healthz`` and ``/metrics``; a port in use stops the start (ConfigError naming it)."""
        health_config = getattr(self.config, "health", None)
        if health_config is None:
            return
        from carbonedge.runtime.live.view import LiveView

        try:
            server = HealthServer.from_config(
                health_config, self.metrics, self.health,
                live=lambda: LiveView(self, self.live, host=health_config.host),
            )  # fmt: skip
            if server is None:
                return
            self.server = server.start()
        except ConfigError as exc:  # a second instance, or another service: nothing would watch it
            raise ConfigError(
                f"{exc}; set health.port to a free port (0: any), or health: {{enabled: false}}"
            ) from None

    def _run_source(self, runner: _Runner, camera: CameraConfig, store: Store) -> None:
        backoff = Backoff(1.0, self.watchdog.restart_backoff_max_s)
        while not self.stop.is_set():
            result = self._run_once(runner, camera, store)
            if not runner.live or self.stop.is_set():
                return
            if result.error is None and not runner.restart_requested:
                return  # a finite live source (an image folder) reached its end
            runner.restart_requested = False
            if self.max_frames is not None and result.frames >= self.max_frames:
                return
            runner.restarts += 1
            delay_s = backoff.next_delay_s()
            logger.warning(
                "source %s ended (%s); restarting in %.0f s",
                runner.source_id, result.error or "stream ended", delay_s,
            )  # fmt: skip
            if self.stop.wait(delay_s):
                return

    def _run_once(self, runner: _Runner, camera: CameraConfig, store: Store) -> SourceResult:
        """One run of ``camera`` (already overlaid with its calibration record)."""
        applied = camera.applied_record
        try:
            masks = source_masks(camera)  # a polygon that cannot be used fails here
            source = create_source(camera.source)
            pipeline = SourcePipeline(
                device_id=self.config.device_id,
                source=source,
                detector=self.pipeline_detectors[camera.id],
                camera=CameraPlan.of_config(camera, masks),
                interval_s=self.config.summary.interval_s,
                store=store,
                metrics=self.metrics,
                calibration_id=applied.record_id if applied else None,
                camera_moved=self.camera_checks.get(camera.id),
                shutdown_flush_s=self.config.output.shutdown_flush_s,
                spill_to=self._spill_path(),
                live=self.live if self.server is not None and self.server.live else None,
                on_events=self.on_crossings,
            )
        except CarbonEdgeError as exc:
            logger.error("%s", exc)
            result = SourceResult(camera.id, error=str(exc))
            runner.results.append(result)
            return result
        with runner.lock:
            runner.pipeline, runner.live = pipeline, _is_live(source)
            runner.started_s = time.monotonic()
        try:
            result = pipeline.run(max_frames=self.max_frames, stop=self.stop)
        except CarbonEdgeError as exc:
            logger.error("%s", exc)
            result = pipeline.result
            result.error = str(exc)
        except Exception as exc:  # noqa: BLE001 - a bug in one source must not stop the others
            logger.error("source %r failed: %s: %s", camera.id, type(exc).__name__, exc)
            logger.debug("traceback of source %r", camera.id, exc_info=True)
            result = pipeline.result
            result.error = f"{type(exc).__name__}: {exc}"
        runner.results.append(result)
        return result

    def _watch(self) -> None:
        """The watchdog loop: stalls, frozen streams, stop."""
        runners = list(self._runners.values())
        while any(r.thread is not None and r.thread.is_alive() for r in runners):
            if self.stop.wait(self.watchdog.check_every_s):
                for r in runners:  # unblock reads waiting on a stalled camera
                    self._close_source(r)
                for r in runners:
                    if r.thread is not None:
                        r.thread.join()
                return
            now = time.monotonic()
            for r in runners:
                self._check(r, now)

    def _check(self, runner: _Runner, now_s: float) -> None:
        pipeline = runner.pipeline
        if pipeline is None or not runner.live:
            return
        last = pipeline.result.last_frame_s or runner.started_s
        if now_s - last > self.watchdog.stall_restart_s:
            logger.warning("source %s: no frame for %.0f s; restarting it",
                           runner.source_id, now_s - last)  # fmt: skip
            runner.restart_requested = True
            self._close_source(runner)  # its read returns None, the runner starts it again
            runner.started_s = now_s
        frozen = getattr(pipeline.source, "state", None)
        is_frozen = getattr(frozen, "value", frozen) == "frozen"
        if is_frozen != runner.frozen:
            runner.frozen = is_frozen
            runner.frozen_since_s = now_s
            if is_frozen:
                logger.error("source %s is frozen: frames arrive but no longer change (camera "
                             "blind?); its counts mean nothing until it recovers",
                             runner.source_id)  # fmt: skip
            else:
                logger.warning("source %s: frames change again (no longer frozen)",
                               runner.source_id)  # fmt: skip
        limit_s = self.watchdog.frozen_restart_s
        if is_frozen and limit_s is not None and now_s - runner.frozen_since_s > limit_s:
            # a stream stuck on one picture often comes back on a fresh connection
            logger.warning("source %s frozen for %.0f s; reconnecting it",
                           runner.source_id, now_s - runner.frozen_since_s)  # fmt: skip
            runner.restart_requested = True
            runner.frozen_since_s = now_s
            self._close_source(runner)

    @staticmethod
    def _close_source(runner: _Runner) -> None:
        pipeline = runner.pipeline
        if pipeline is not None and runner.live:
            try:
                pipeline.source.close()
            except Exception as exc:  # noqa: BLE001 - closing is best effort
                logger.debug("closing source %s: %s", runner.source_id, exc)

    # --- reporting --------------------------------------------------------------------------------
    @staticmethod
    def _merged(runner: _Runner) -> SourceResult:
        """One result per source over all its (re)starts: totals added, last error kept."""
        if not runner.results:
            return SourceResult(runner.source_id, error="never started")
        if len(runner.results) == 1:
            return runner.results[0]
        out = SourceResult(runner.source_id)
        for r in runner.results:
            for name in _SUMMED:
                setattr(out, name, getattr(out, name) + getattr(r, name))
            out.elapsed_s += r.elapsed_s
            out.inference_s += r.inference_s
            out.summaries.extend(r.summaries)
            out.line_counts = r.line_counts  # per run; the store has the full history
        out.error = runner.results[-1].error
        return out

    def health(self) -> dict[str, Any]:
        """``{"status": "ok"|"degraded", "sources": {...}, "reasons": [...], ...}`` for
        ``/healthz`` (``runtime/site_health.py``)."""
        from carbonedge.runtime.site_health import site_health

        return site_health(self)

    def runners(self) -> dict[str, _Runner]:
        return self._runners


_SUMMED = ("frames", "frame_errors", "decode_errors", "detections", "crossings", "summary_count",
           "unwritten", "spilled", "detector_calls", "gated_frames", "strided_frames",
           "annotate_dropped")  # fmt: skip


def run_site(
    config: SiteConfig,
    *,
    max_frames: int | None = None,
    stop: threading.Event | None = None,
    detector: Detector | None = None,
) -> list[SourceResult]:
    """Run every source of a validated site config at once (see ``Site``)."""
    return Site(config, detector=detector, max_frames=max_frames, stop=stop).run()
