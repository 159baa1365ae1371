"""One source end to end: source -> detector -> ByteTrack -> scene analytics -> summaries.

The scene analytics (``carbonedge.vision.analytics``) measure speeds, line crossings, zones and
turning movements on the tracks; with a ground-plane calibration and a detector that only sees
"vehicle" (the weight-free motion detector), boxes are first classed by length in metres.

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
from typing import TYPE_CHECKING, Callable

import numpy as np

from carbonedge.calibration.ground_plane import GroundPlane, GroundPlaneConfig
from carbonedge.runtime.base.errors import DeviceError
from carbonedge.runtime.base.events import IntervalSummary, LineCrossed
from carbonedge.runtime.base.types import Detections, Frame, Packet
from carbonedge.runtime.metrics import Metrics
from carbonedge.runtime.motion_gate import GateConfig, MotionGate
from carbonedge.runtime.prefetch import frames_of
from carbonedge.runtime.store import QueuedWriter, Store
from carbonedge.runtime.summary import IntervalAggregator, IntervalSections
from carbonedge.vision.analytics.kinematics import SpeedConfig
from carbonedge.vision.analytics.length_classes import LengthClassifier
from carbonedge.vision.analytics.scene import SceneAnalytics
from carbonedge.vision.analytics.zones import ZoneConfig
from carbonedge.vision.counting.line import LineConfig
from carbonedge.vision.tracking.bytetrack import ByteTrack, ByteTrackConfig

if TYPE_CHECKING:  # the fire monitor, emissions and masks are imported only when a site uses them
    from carbonedge.calibration.masks import ExclusionFilter, SourceMasks
    from carbonedge.devices.sources import FrameSource
    from carbonedge.emissions import EmissionsConfig
    from carbonedge.runtime.camera_moved_stage import CameraMovedStage
    from carbonedge.runtime.fire_stage import FireStage
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
    unwritten: int = 0  # items still queued for the store when the run ended (store failing)
    detector_calls: int = 0
    gated_frames: int = 0  # frames the motion gate let skip the detector (detections reused)
    inference_s: float = 0.0  # time spent in the detector
    last_frame_s: float | None = None  # time.monotonic() when the last frame was handled
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


@dataclass
class _Stages:
    """Per-run state of one source: its tracker, analytics and interval aggregator."""

    tracker: ByteTrack
    analytics: SceneAnalytics
    aggregator: IntervalAggregator
    length_classes: bool  # class boxes by length (needs the frame size: built on first use)
    gate: MotionGate | None = None
    fire: FireStage | None = None
    last_detections: Detections | None = None  # of the last inference (reused on gated frames)
    length_classifier: LengthClassifier | None = None
    error_streak: int = 0  # frames in a row that failed
    exclusion: ExclusionFilter | None = None  # drops detections anchored in exclusion masks


class SourcePipeline:
    """Runs one source through detection, tracking, counting and summaries."""

    def __init__(
        self,
        *,
        device_id: str,
        source: FrameSource,
        detector: Detector,
        tracker: ByteTrackConfig,
        lines: list[LineConfig],
        interval_s: float,
        store: Store | None = None,
        zones: list[ZoneConfig] | None = None,
        ground_plane: GroundPlaneConfig | GroundPlane | None = None,
        speed: SpeedConfig | None = None,
        length_classes: bool = True,
        on_events: Callable[[list[LineCrossed]], None] | None = None,
        emissions: EmissionsConfig | None = None,
        gate: GateConfig | None = None,
        fire: FireMonitorConfig | None = None,
        metrics: Metrics | None = None,
        calibration_id: str | None = None,
        camera_moved: CameraMovedStage | None = None,
        masks: SourceMasks | None = None,
    ) -> None:
        """``on_events`` (optional) sees every batch of final crossings, as the store does.

        ``calibration_id`` (the calibration record in force) goes into every interval summary.
        ``camera_moved`` compares the view with its calibration snapshot: its events are stored
        and each summary says whether the calibration held (``calibration_valid``).

        ``fire`` runs the fire/smoke monitor on this source too. A source with a fire monitor and
        neither lines nor zones (a forest tower camera) skips vehicle detection altogether.

        ``masks`` (``SourceMasks.of_record``): detections anchored in its exclusion masks are
        dropped before tracking; the fire monitor takes its sky, exclusions and azimuth.
        """
        self.device_id, self.source, self.detector = device_id, source, detector
        self._writer = QueuedWriter(store) if store is not None else None
        self._on_events = on_events
        self._emissions = emissions
        self._tracker_config, self._lines, self._interval_s = tracker, lines, interval_s
        self._zones = list(zones or [])
        if isinstance(ground_plane, GroundPlaneConfig):
            ground_plane = GroundPlane.from_config(ground_plane)
        self._ground_plane = ground_plane
        self._speed = speed or SpeedConfig()
        # the weight-free detector sees only "vehicle": with metres, class it by length
        self._length_classes = (
            length_classes and ground_plane is not None and len(detector.class_names) == 1
        )
        self._gate = gate if gate is not None and gate.enabled else None
        if self._gate is not None and detector.needs_every_frame:
            self._gate = None  # a detector with per-frame state must see every frame
        self._fire = fire
        self._metrics = metrics
        self._traffic = fire is None or bool(lines) or bool(zones)
        self._local_seq = 0
        self.calibration_id = calibration_id
        self.camera_moved = camera_moved
        self._masks = masks if masks is not None and not masks.empty else None
        self.result = SourceResult(source.source_id)  # updated live while run() runs

    def _next_seq(self) -> int:
        """Sequence numbers without a store; with one, the store assigns them when writing."""
        self._local_seq += 1
        return self._local_seq

    def run(
        self, *, max_frames: int | None = None, stop: threading.Event | None = None
    ) -> SourceResult:
        """Process the source until it ends, ``max_frames`` or ``stop``; flush the last summary."""
        result = self.result = SourceResult(self.source.source_id)
        stop = stop or threading.Event()
        with self.source as src:
            stages = self._build_stages(src, result)
            t0 = time.perf_counter()
            last: Frame | None = None
            try:
                for frame in frames_of(src, stop):
                    if max_frames is not None and result.frames + result.frame_errors >= max_frames:
                        break
                    last = frame
                    self._handle_frame(frame, stages, result)
                    result.last_frame_s = time.monotonic()
            finally:
                result.elapsed_s = time.perf_counter() - t0
                result.line_counts = {c.config.id: c.counts for c in stages.analytics.counters}
                result.decode_errors = src.decode_errors
                self.detector.forget(src.source_id)
                if last is not None:
                    self._end_all_tracks(stages, result)
                    self._emit(stages.aggregator.flush(last.t_wall_s + 1.0 / src.fps), result)
                if self._writer is not None and self._writer.pending:
                    result.unwritten = self._writer.pending
                    logger.error(
                        "source %s: %d queued items could not be written to the store",
                        src.source_id, self._writer.pending,
                    )  # fmt: skip
        return result

    def _build_stages(self, src: FrameSource, result: SourceResult) -> _Stages:
        tracker = ByteTrack(self._tracker_config, fps=src.fps)
        tracker.warmup()
        scene_calibration = {src.source_id: self._masks} if self._masks is not None else None
        fire = None
        if self._fire is not None:
            from carbonedge.runtime.fire_stage import FireStage  # heavy: scipy, numba kernels

            fire = FireStage(self._fire, self.device_id, scene_calibration)
            fire.warmup()
        class_names = (
            LengthClassifier.class_names if self._length_classes else self.detector.class_names
        )
        analytics = SceneAnalytics(
            device_id=self.device_id, source_id=src.source_id, class_names=class_names,
            lines=self._lines, zones=self._zones, ground_plane=self._ground_plane,
            speed=self._speed,
        )  # fmt: skip
        analytics.kinematics.warmup()  # Numba step compiled or loaded before the first frame
        result.line_counts = {c.config.id: c.counts for c in analytics.counters}  # live
        aggregator = IntervalAggregator(
            device_id=self.device_id, source_id=src.source_id,
            line_ids=[line.id for line in self._lines], interval_s=self._interval_s,
            detector=self.detector.name + ("+length_classes" if self._length_classes else ""),
            next_seq=self._next_seq, calibration_id=self.calibration_id,
            on_close=lambda start_s, end_s: self._close_interval(
                analytics, fire, result, start_s, end_s
            ),
        )  # fmt: skip
        areas = [np.array([line.start_px, line.end_px]) for line in self._lines]
        areas += [np.array(zone.polygon_px) for zone in self._zones]
        self.detector.use_regions(src.source_id, areas)  # for a detector with roi: auto
        gate = None
        if self._gate is not None:
            regions = []
            if self._gate.regions == "lines_and_zones":
                regions = [np.array([line.start_px, line.end_px]) for line in self._lines]
                regions += [np.array(zone.polygon_px) for zone in self._zones]
            gate = MotionGate(self._gate, regions)
        stages = _Stages(tracker, analytics, aggregator, self._length_classes, gate, fire)
        if self._masks is not None and self._masks.exclusion_px:
            from carbonedge.calibration.masks import ExclusionFilter, counting_anchor

            anchor = counting_anchor(self._lines, self._zones)
            stages.exclusion = ExclusionFilter(self._masks, anchor)
        return stages

    def _close_interval(
        self,
        analytics: SceneAnalytics,
        fire: FireStage | None,
        result: SourceResult,
        start_s: float,
        end_s: float,
    ) -> IntervalSections:
        """The aggregator closes an interval: crossings made final now are stored too, and the
        traffic by class becomes the interval's emission estimate when emissions are set up."""
        sections = analytics.close_interval()
        if not self._traffic:  # a fire-only camera: no traffic sections
            sections = IntervalSections(events=sections.events)
        if fire is not None:
            sections.fire = fire.close_interval()
        if self.camera_moved is not None:
            sections.calibration_valid = self.camera_moved.close_interval()
        if self._emissions is not None and sections.traffic:
            from carbonedge.runtime.traffic_emissions import interval_emissions  # numba

            sections.emissions = interval_emissions(sections.traffic, self._emissions,
                                                    start_s, end_s)  # fmt: skip
        self._keep_events(sections.events)
        result.crossings += len(sections.events)
        return sections

    def _end_all_tracks(self, stages: _Stages, result: SourceResult) -> None:
        """End of the source: every live track ends (its crossings and movement count)."""
        stages.tracker.reset()
        events = stages.analytics.forget(stages.tracker.pop_removed())
        self._keep_events(events)
        stages.aggregator.add_crossings(events)
        result.crossings += len(events)

    def _handle_frame(self, frame: Frame, stages: _Stages, result: SourceResult) -> None:
        """One frame: process it, or log, count and skip it when it fails."""
        self._emit(stages.aggregator.roll(frame.t_wall_s), result)
        try:
            packet = self._process(frame, stages)
        except Exception as exc:  # noqa: BLE001 - per frame: log, count, skip, go on
            result.frame_errors += 1
            self._emit(stages.aggregator.add_frame(frame.t_wall_s, ok=False), result)
            logger.warning("source %s frame %d skipped: %s", frame.source_id, frame.index, exc)
            stages.error_streak += 1
            if stages.error_streak >= MAX_CONSECUTIVE_FRAME_ERRORS:
                raise DeviceError(
                    f"source {frame.source_id!r}: {MAX_CONSECUTIVE_FRAME_ERRORS} frames in a row "
                    f"failed; last error (frame {frame.index}): {exc}"
                ) from exc
            return
        stages.error_streak = 0
        self._keep_events(packet.events)
        self._emit(stages.aggregator.add_frame(frame.t_wall_s, packet.events), result)
        result.crossings += len(packet.events)
        result.detections += len(packet.detections)
        result.frames += 1

    def _detect(self, frame: Frame, stages: _Stages) -> Detections:
        """The detector's output, or the last inference's when the motion gate saw no change."""
        result = self.result
        gate = stages.gate
        if gate is not None and stages.last_detections is not None:
            if not gate.should_run(frame.image, frame.t_mono_s):
                result.gated_frames += 1
                return stages.last_detections
        elif gate is not None:
            gate.should_run(frame.image, frame.t_mono_s)  # learn the first background
        t0 = time.perf_counter()
        detections = self.detector.detect(frame)
        dt_s = time.perf_counter() - t0
        result.inference_s += dt_s
        if self._metrics is not None:
            self._metrics.observe("carbonedge_inference_seconds", dt_s, source=frame.source_id)
        result.detector_calls += 1
        stages.last_detections = detections
        return detections

    def _process(self, frame: Frame, stages: _Stages) -> Packet:
        if self.camera_moved is not None:
            moved = self.camera_moved.update(frame)
            if moved and self._writer is not None:
                self._writer.add_events(moved)
        if stages.fire is not None:
            alarms = stages.fire.update(frame)
            if alarms and self._writer is not None:
                self._writer.add_events(alarms)  # stored and queued for the uplink at once
        if not self._traffic:
            return Packet(frame, Detections.empty())
        detections = self._detect(frame, stages)
        if stages.exclusion is not None:
            detections = stages.exclusion.keep(detections, frame.shape_hw)
        if stages.length_classes:
            if stages.length_classifier is None:
                h, w = frame.image.shape[:2]
                assert isinstance(self._ground_plane, GroundPlane)
                stages.length_classifier = LengthClassifier(self._ground_plane, (w, h))
            detections = stages.length_classifier.classify(detections)
        tracked = stages.tracker.update(detections)
        packet = Packet(frame, tracked)
        packet.events.extend(stages.analytics.update(tracked, frame))
        packet.events.extend(stages.analytics.forget(stages.tracker.pop_removed()))
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
        if self._writer is None:
            written = [summary] if summary is not None else []
        else:
            if summary is not None:
                self._writer.add_summary(summary)
            written = self._writer.flush()
        for s in written:
            result.summaries.append(s)
            result.summary_count += 1
            logger.info(
                "summary %s seq=%d %s: %d vehicles, %d frames, %d frame errors", s.source_id,
                s.seq, s.to_dict()["interval_start"], s.total(), s.frames, s.frame_errors,
            )  # fmt: skip
