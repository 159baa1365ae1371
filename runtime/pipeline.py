"""One camera end to end: source -> its list of stages -> interval summaries -> store.

The pipeline is the list of stages the camera's config asks for (``carbonedge.runtime.stages``,
in ``STAGE_ORDER``: camera_moved, fire, motion_gate, roi, detect, exclusion, length_classes,
track, analytics, emissions). Per frame, a ``Packet`` goes through every stage's ``process``;
tracks that ended go to every stage's ``forget``; when an interval closes, each stage's
``close_interval`` hands over the summary sections it owns. This module only runs them: it knows
no analytic by name.

One ``SourcePipeline`` per source (``runtime/site.py`` runs every source of a site config at once,
each on its own thread, with one shared detector). Per frame, a failure is
logged, counted (the interval summary reports ``frame_errors``) and skipped; only a systematic
failure (many frames in a row) stops a source, and one failed source does not stop the others.
A run keeps totals and the most recent summaries only: its memory does not grow with its length.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

from carbonedge.calibration.geometry import LineConfig, ZoneConfig
from carbonedge.calibration.ground_plane import GroundPlane, GroundPlaneConfig
from carbonedge.runtime.base.errors import DeviceError
from carbonedge.runtime.base.events import IntervalSummary, LineCrossed
from carbonedge.runtime.base.stage import Stage, StageContext
from carbonedge.runtime.base.types import Detections, Frame, Packet
from carbonedge.runtime.light_profiles import LightProfilesConfig
from carbonedge.runtime.motion_gate import GateConfig
from carbonedge.runtime.prefetch import frames_of
from carbonedge.runtime.store import QueuedWriter, Store
from carbonedge.runtime.stride import Stride
from carbonedge.runtime.summary import IntervalAggregator
from carbonedge.vision.analytics.kinematics import SpeedConfig
from carbonedge.vision.counting.loops import LoopsConfig
from carbonedge.vision.taxonomy import RoadClassesConfig
from carbonedge.vision.tracking.bytetrack import ByteTrackConfig

if TYPE_CHECKING:  # the fire monitor, emissions and masks are imported only when a site uses them
    from carbonedge.calibration.masks import SourceMasks
    from carbonedge.devices.sources import FrameSource
    from carbonedge.emissions import EmissionsConfig
    from carbonedge.runtime.annotate_config import AnnotateConfig
    from carbonedge.runtime.camera_moved_stage import CameraMovedStage
    from carbonedge.runtime.metrics import Metrics
    from carbonedge.vision.detectors import Detector
    from carbonedge.vision.fire import FireMonitorConfig

logger = logging.getLogger(__name__)

MAX_CONSECUTIVE_FRAME_ERRORS = 50
RECENT_SUMMARIES = 256


@dataclass
class SourceResult:
    """What one source produced in a run: totals and the most recent summaries."""

    source_id: str
    frames: int = 0
    frame_errors: int = 0
    decode_errors: int = 0
    detections: int = 0
    crossings: int = 0
    elapsed_s: float = 0.0
    summaries: deque[IntervalSummary] = field(
        default_factory=lambda: deque(maxlen=RECENT_SUMMARIES)
    )
    summary_count: int = 0
    line_counts: dict[str, dict[str, dict[str, int]]] = field(default_factory=dict)
    unwritten: int = 0  # items not in the store when the run ended (spilled or lost)
    spilled: int = 0  # of those, kept in the spill file (replayed at the next start)
    detector_calls: int = 0
    gated_frames: int = 0  # frames the motion gate let skip the detector (detections reused)
    strided_frames: int = 0  # frames between a detection stride's frames (runtime/stride.py)
    annotate_dropped: int = 0  # frames left out of the annotated video (its writer was behind)
    inference_s: float = 0.0  # time spent in the detector
    last_frame_s: float | None = None  # time.monotonic() when the last frame was handled
    ended_early: tuple[int, int] | None = None  # a file cut short: (frames read, announced)
    error: str | None = None

    def counts(self) -> dict[str, dict[str, dict[str, int]]]:
        """line id -> direction ("in"/"out") -> class name -> vehicles, over the whole run."""
        return self.line_counts

    @property
    def fps(self) -> float:
        return self.frames / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def gated_fraction(self) -> float:
        """Share of frames for which the detector did not run."""
        handled = self.detector_calls + self.gated_frames
        return self.gated_frames / handled if handled else 0.0


@dataclass(frozen=True)
class CameraPlan:
    """One camera resolved for a run: what its stages read. The site makes it from the camera's
    config with its calibration record laid over it (``of_config``); tests and tools build one
    directly (every field but the lines has a default)."""

    lines: Sequence[LineConfig] = ()
    zones: Sequence[ZoneConfig] = ()
    ground_plane: GroundPlane | None = None  # a GroundPlaneConfig is built into one
    tracker: ByteTrackConfig = field(default_factory=ByteTrackConfig)
    speed: SpeedConfig = field(default_factory=SpeedConfig)
    gating: GateConfig | None = None
    length_classes: bool = True
    road_classes: RoadClassesConfig = field(default_factory=RoadClassesConfig)
    emissions: EmissionsConfig | None = None
    fire: FireMonitorConfig | None = None
    masks: SourceMasks | None = None
    annotate_path: Path | None = None  # write an annotated MP4 here (stage "annotate")
    annotate: AnnotateConfig | None = None  # the camera's annotate: (video and/or alarm clips)
    profiles: LightProfilesConfig = field(default_factory=LightProfilesConfig)  # light profiles
    loops: LoopsConfig = field(default_factory=LoopsConfig)  # virtual loops on the lines

    def __post_init__(self) -> None:
        if isinstance(self.ground_plane, GroundPlaneConfig):
            object.__setattr__(self, "ground_plane", GroundPlane.from_config(self.ground_plane))
        if self.masks is not None and self.masks.empty:
            object.__setattr__(self, "masks", None)
        object.__setattr__(self, "lines", list(self.lines))
        object.__setattr__(self, "zones", list(self.zones))

    @classmethod
    def of_config(cls, camera: Any, masks: SourceMasks | None) -> CameraPlan:
        """From a resolved ``CameraConfig`` (``runtime.config``) and its built masks."""
        return cls(
            lines=camera.lines, zones=camera.zones, ground_plane=camera.ground_plane,
            tracker=camera.tracker, speed=camera.speed, gating=camera.gating,
            length_classes=camera.length_classes, road_classes=camera.road_classes,
            emissions=camera.emissions, fire=camera.fire, masks=masks,
            annotate=getattr(camera, "annotate", None),
            profiles=getattr(camera, "profiles", LightProfilesConfig()),
            loops=getattr(camera, "loops", LoopsConfig()),
        )  # fmt: skip


class SourcePipeline:
    """Runs one source through its stages and writes the interval summaries."""

    def __init__(
        self,
        *,
        device_id: str,
        source: FrameSource,
        detector: Detector,
        camera: CameraPlan,
        interval_s: float,
        store: Store | None = None,
        metrics: Metrics | None = None,
        on_events: Callable[[list[LineCrossed]], None] | None = None,
        calibration_id: str | None = None,
        camera_moved: CameraMovedStage | None = None,
        stage_order: tuple[str, ...] | None = None,
        shutdown_flush_s: float = 10.0,
        spill_to: Path | None = None,
        live: Any = None,
    ) -> None:
        """``camera`` is what the stages read; the stages are built from it when ``run`` starts.

        ``on_events`` (optional) sees every batch of final crossings, as the store does.
        ``calibration_id`` (the calibration record in force) goes into every interval summary.
        ``camera_moved`` compares the view with its calibration snapshot (built by the site, so it
        outlives restarts). ``stage_order`` replaces ``STAGE_ORDER`` (tests, a custom analytic).
        At the end of a run a failing store is retried for ``shutdown_flush_s``; what it still
        refuses goes to the spill file ``spill_to`` (``runtime/store/spill.py``).
        ``live`` (a ``runtime.live.hub.LiveHub``) gets frames for the live page (stage annotate).
        """
        self.device_id, self.source, self.detector = device_id, source, detector
        self.camera = camera
        self._writer = QueuedWriter(store) if store is not None else None
        self._shutdown_flush_s, self._spill_to = shutdown_flush_s, spill_to
        self._on_events = on_events
        self._interval_s = interval_s
        self._metrics = metrics
        self._local_seq = 0
        self.calibration_id = calibration_id
        self.camera_moved = camera_moved
        self._stage_order = stage_order
        self.live = live
        self.stages: list[Stage] = []
        self.result = SourceResult(source.source_id)  # updated live while run() runs

    def _next_seq(self) -> int:
        """Sequence numbers without a store; with one, the store assigns them when writing."""
        self._local_seq += 1
        return self._local_seq

    def stage(self, name: str) -> Stage | None:
        """The running stage called ``name`` (None: this camera does not run it)."""
        return next((s for s in self.stages if s.name == name), None)

    def run(
        self, *, max_frames: int | None = None, stop: threading.Event | None = None
    ) -> SourceResult:
        """Process the source until it ends, ``max_frames`` or ``stop``; flush the last summary."""
        result = self.result = SourceResult(self.source.source_id)
        stop = stop or threading.Event()
        with self.source as src:
            aggregator = self._start(src, result)
            t0 = time.perf_counter()
            last: Frame | None = None
            try:
                for frame in frames_of(src, stop):
                    if max_frames is not None and result.frames + result.frame_errors >= max_frames:
                        break
                    last = frame
                    self._handle_frame(frame, aggregator, result)
                    result.last_frame_s = time.monotonic()
            finally:
                result.elapsed_s = time.perf_counter() - t0
                result.decode_errors = src.decode_errors
                result.ended_early = getattr(src, "ended_early", None)
                if last is not None:
                    self._end_all_tracks(aggregator, result)
                    self._emit(aggregator.flush(last.t_wall_s + 1.0 / src.fps), result)
                for stage in self.stages:
                    stage.close()
                self._take_line_counts(result)
                if self._writer is not None and self._writer.pending:
                    self._drain_writer(result)
        return result

    def _drain_writer(self, result: SourceResult) -> None:
        """The store failed until the end: retry for a bounded time, then spill the rest."""
        assert self._writer is not None
        queued = self._writer.pending
        written, spilled, lost = self._writer.drain(self._shutdown_flush_s, self._spill_to)
        self._log_written(written, result)
        result.spilled, result.unwritten = spilled, spilled + lost
        if spilled or lost:
            logger.error(
                "source %s: store still failing after %.0f s at the end of the run: of %d queued "
                "items %d written, %d spilled to %s (replayed at the next start), %d LOST",
                self.source.source_id, self._shutdown_flush_s, queued, queued - spilled - lost,
                spilled, self._spill_to, lost,
            )  # fmt: skip

    def _start(self, src: FrameSource, result: SourceResult) -> IntervalAggregator:
        """Build and start the camera's stages; the interval aggregator that closes them."""
        from carbonedge.runtime.stages import STAGE_ORDER, build_stages

        self._late: list[LineCrossed] = []
        detect_fps, every_frame = (getattr(self.detector, name, None)
                                   for name in ("detect_fps", "needs_every_frame"))  # fmt: skip
        self._stride, self._held = Stride(src.fps, detect_fps, every_frame), Detections.empty()
        if self._stride.k > 1:
            logger.info("source %s: vehicle stages on 1 frame in %d (detect_fps %s, %.1f fps)",
                        src.source_id, self._stride.k, detect_fps, src.fps)  # fmt: skip
        context = StageContext(
            device_id=self.device_id, camera_id=src.source_id, fps=src.fps, stride=self._stride.k,
            interval_s=self._interval_s, emit_now=self._store_now, emit_late=self._late.extend,
            observe=self._observe, count=self._count,
            services={"detector": self.detector, "camera_moved": self.camera_moved,
                      "live": self.live},
        )  # fmt: skip
        self.stages = build_stages(self.camera, context, self._stage_order or STAGE_ORDER)
        for stage in self.stages:
            stage.start(context)
        self._context = context
        self._take_line_counts(result)
        length = self.stage("length_classes") is not None
        return IntervalAggregator(
            device_id=self.device_id, source_id=src.source_id,
            line_ids=[line.id for line in self.camera.lines], interval_s=self._interval_s,
            detector=self.detector.name + ("+length_classes" if length else ""),
            next_seq=self._next_seq, calibration_id=self.calibration_id,
            on_close=lambda start_s, end_s: self._close_interval(result, start_s, end_s),
        )  # fmt: skip

    def _take_line_counts(self, result: SourceResult) -> None:
        analytics = self.stage("analytics")
        if analytics is not None:  # live: the same dicts the counters update
            result.line_counts = analytics.line_counts  # type: ignore[attr-defined]

    def _observe(self, name: str, value: float) -> None:
        if self._metrics is not None:
            self._metrics.observe(name, value, source=self.source.source_id)

    def _count(self, name: str, n: float = 1) -> None:
        setattr(self.result, name, getattr(self.result, name) + n)

    def _store_now(self, events: list) -> None:
        """Events stored (and queued upstream) at once: fire alarms, camera moved."""
        if self._writer is not None:
            self._writer.add_events(events)

    def _close_interval(
        self, result: SourceResult, start_s: float, end_s: float
    ) -> tuple[list[LineCrossed], dict[str, Any]]:
        """Every stage closes the interval in order: the sections they own, and the crossings
        made final now (stored too; they count in this interval)."""
        sections = self._context.closing = {}
        self._late.clear()
        for stage in self.stages:
            closed = stage.close_interval(start_s, end_s)
            if closed:
                unowned = set(closed) - set(stage.sections)
                if unowned:
                    raise RuntimeError(f"stage {stage.name!r} closed sections it does not own: "
                                       f"{sorted(unowned)}")  # fmt: skip
                sections.update({k: v for k, v in closed.items() if v is not None})
        late = list(self._late)
        self._keep_events(late)
        result.crossings += len(late)
        return late, dict(sections)

    def _end_all_tracks(self, aggregator: IntervalAggregator, result: SourceResult) -> None:
        """End of the source: every live track ends (its crossings and movement count)."""
        track = self.stage("track")
        if track is None:
            return
        events = self._forget(track.end_all())  # type: ignore[attr-defined]
        self._keep_events(events)
        aggregator.add_crossings(events)
        result.crossings += len(events)

    def _forget(self, track_ids: list[int]) -> list:
        events: list = []
        for stage in self.stages:
            events += stage.forget(track_ids)
        return events

    def _handle_frame(self, frame: Frame, aggregator: IntervalAggregator,
                      result: SourceResult) -> None:  # fmt: skip
        """One frame: process it, or log, count and skip it when it fails."""
        self._emit(aggregator.roll(frame.t_wall_s), result)
        try:
            packet = self._process(frame)
        except Exception as exc:  # noqa: BLE001 - per frame: log, count, skip, go on
            result.frame_errors += 1
            self._emit(aggregator.add_frame(frame.t_wall_s, ok=False), result)
            logger.warning("source %s frame %d skipped: %s", frame.source_id, frame.index, exc)
            self._error_streak += 1
            if self._error_streak >= MAX_CONSECUTIVE_FRAME_ERRORS:
                raise DeviceError(
                    f"source {frame.source_id!r}: {MAX_CONSECUTIVE_FRAME_ERRORS} frames in a row "
                    f"failed; last error (frame {frame.index}): {exc}"
                ) from exc
            return
        self._error_streak = 0
        self._keep_events(packet.events)
        self._emit(aggregator.add_frame(frame.t_wall_s, packet.events), result)
        result.crossings += len(packet.events)
        result.detections += 0 if packet.strided else len(packet.detections)
        result.frames += 1

    _error_streak = 0

    def _process(self, frame: Frame) -> Packet:
        packet = Packet(frame)
        if self._stride.take(frame.t_mono_s):
            for stage in self.stages:
                packet = stage.process(packet)
            self._held = packet.detections
        else:  # between strided frames: no vehicle stage; the last tracked boxes (annotate)
            packet.detections, packet.strided = self._held, True
            self._count("strided_frames")
            for stage in self.stages:
                if not stage.vehicles:
                    packet = stage.process(packet)
        if packet.ended_track_ids:
            packet.events.extend(self._forget(packet.ended_track_ids))
        return packet

    def _keep_events(self, events: list[LineCrossed]) -> None:
        if not events:
            return
        if self._writer is not None:
            self._writer.add_events(events)
        if self._on_events is not None:
            self._on_events(events)

    def _emit(self, summary: IntervalSummary | None, result: SourceResult) -> None:
        """Queue ``summary`` (if any) and write what is queued; a store error keeps it queued."""
        if summary is None and (self._writer is None or not self._writer.pending):
            return  # most frames (twice each): nothing to write
        if self._writer is None:
            written = [summary] if summary is not None else []
        else:
            if summary is not None:
                self._writer.add_summary(summary)
            written = self._writer.flush()
        self._log_written(written, result)

    @staticmethod
    def _log_written(written: list[IntervalSummary], result: SourceResult) -> None:
        for s in written:
            result.summaries.append(s)
            result.summary_count += 1
            logger.info(
                "summary %s seq=%d %s: %d vehicles, %d frames, %d frame errors (id %s)",
                s.source_id, s.seq, s.to_dict()["interval_start"], s.total(), s.frames,
                s.frame_errors, s.id,
            )  # fmt: skip
