"""One source end to end: source -> detector -> ByteTrack -> scene analytics -> summaries.

The scene analytics (``carbonedge.vision.analytics``) measure speeds, line crossings, zones and
turning movements on the tracks; with a ground-plane calibration and a detector that only sees
"vehicle" (the weight-free motion detector), boxes are first classed by length in metres.

One ``SourcePipeline`` per source; ``run_site`` runs every source of a site config in turn with one
shared detector (the runtime issue adds threads per source and batching). Per frame, a failure is
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
from typing import Callable

from carbonedge.calibration.ground_plane import GroundPlane, GroundPlaneConfig
from carbonedge.devices.sources import FrameSource, create_source
from carbonedge.emissions import EmissionsConfig
from carbonedge.runtime.errors import CarbonEdgeError, DeviceError
from carbonedge.runtime.events import IntervalSummary, LineCrossed
from carbonedge.runtime.store import QueuedWriter, Store
from carbonedge.runtime.summary import IntervalAggregator
from carbonedge.runtime.traffic_emissions import interval_emissions
from carbonedge.runtime.types import Frame, Packet
from carbonedge.vision.analytics.kinematics import SpeedConfig
from carbonedge.vision.analytics.length_classes import LengthClassifier
from carbonedge.vision.analytics.scene import IntervalSections, SceneAnalytics
from carbonedge.vision.analytics.zones import ZoneConfig
from carbonedge.vision.counting.line import LineConfig
from carbonedge.vision.detectors import Detector, create_detector
from carbonedge.vision.tracking.bytetrack import ByteTrack, ByteTrackConfig

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
    error: str | None = None

    def counts(self) -> dict[str, dict[str, dict[str, int]]]:
        """line id -> direction ("in"/"out") -> class name -> vehicles, over the whole run."""
        return self.line_counts

    @property
    def fps(self) -> float:
        return self.frames / self.elapsed_s if self.elapsed_s > 0 else 0.0


@dataclass
class _Stages:
    """Per-run state of one source: its tracker, analytics and interval aggregator."""

    tracker: ByteTrack
    analytics: SceneAnalytics
    aggregator: IntervalAggregator
    length_classes: bool  # class boxes by length (needs the frame size: built on first use)
    length_classifier: LengthClassifier | None = None
    error_streak: int = 0  # frames in a row that failed


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
    ) -> None:
        """``on_events`` (optional) sees every batch of final crossings, as the store does."""
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
        self._local_seq = 0

    def _next_seq(self) -> int:
        """Sequence numbers without a store; with one, the store assigns them when writing."""
        self._local_seq += 1
        return self._local_seq

    def run(
        self, *, max_frames: int | None = None, stop: threading.Event | None = None
    ) -> SourceResult:
        """Process the source until it ends, ``max_frames`` or ``stop``; flush the last summary."""
        result = SourceResult(self.source.source_id)
        with self.source as src:
            stages = self._build_stages(src, result)
            t0 = time.perf_counter()
            last: Frame | None = None
            try:
                for frame in src:
                    if max_frames is not None and result.frames + result.frame_errors >= max_frames:
                        break
                    if stop is not None and stop.is_set():
                        break
                    last = frame
                    self._handle_frame(frame, stages, result)
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
        class_names = (
            LengthClassifier.class_names if self._length_classes else self.detector.class_names
        )
        analytics = SceneAnalytics(
            device_id=self.device_id, source_id=src.source_id, class_names=class_names,
            lines=self._lines, zones=self._zones, ground_plane=self._ground_plane,
            speed=self._speed,
        )  # fmt: skip
        aggregator = IntervalAggregator(
            device_id=self.device_id, source_id=src.source_id,
            line_ids=[line.id for line in self._lines], interval_s=self._interval_s,
            detector=self.detector.name + ("+length_classes" if self._length_classes else ""),
            next_seq=self._next_seq,
            on_close=lambda start_s, end_s: self._close_interval(analytics, result, start_s, end_s),
        )  # fmt: skip
        return _Stages(tracker, analytics, aggregator, self._length_classes)

    def _close_interval(
        self, analytics: SceneAnalytics, result: SourceResult, start_s: float, end_s: float
    ) -> IntervalSections:
        """The aggregator closes an interval: crossings made final now are stored too, and the
        traffic by class becomes the interval's emission estimate when emissions are set up."""
        sections = analytics.close_interval()
        if self._emissions is not None and sections.traffic:
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

    def _process(self, frame: Frame, stages: _Stages) -> Packet:
        detections = self.detector.detect(frame)
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


def run_site(
    config,
    *,
    max_frames: int | None = None,
    stop: threading.Event | None = None,
    detector: Detector | None = None,
) -> list[SourceResult]:
    """Run every source of a validated site config with one shared detector.

    A source that fails (cannot open, too many bad frames) is logged and reported in its
    ``SourceResult.error``; the other sources still run.
    """
    detector = detector or create_detector(config.detector)
    results = []
    try:
        detector.warmup()
        with Store(config.output.sqlite_path, config.output.jsonl_path) as store:
            for source_config in config.sources:
                if stop is not None and stop.is_set():
                    break
                results.append(_run_one(config, source_config, detector, store, max_frames, stop))
    finally:
        detector.close()
    return results


def _run_one(config, source_config, detector, store, max_frames, stop) -> SourceResult:
    pipeline = SourcePipeline(
        device_id=config.device_id, source=create_source(source_config), detector=detector,
        tracker=config.tracker, lines=list(config.lines.get(source_config.id, [])),
        interval_s=config.summary.interval_s, store=store,
        zones=list(config.zones.get(source_config.id, [])),
        ground_plane=config.ground_planes.get(source_config.id), speed=config.speed,
        length_classes=config.length_classes, emissions=config.emissions,
    )  # fmt: skip
    try:
        return pipeline.run(max_frames=max_frames, stop=stop)
    except CarbonEdgeError as exc:
        logger.error("%s", exc)
        return SourceResult(source_config.id, error=str(exc))
    except Exception as exc:  # noqa: BLE001 - a bug in one source must not stop the others
        logger.error("source %r failed: %s: %s", source_config.id, type(exc).__name__, exc)
        logger.debug("traceback of source %r", source_config.id, exc_info=True)
        return SourceResult(source_config.id, error=f"{type(exc).__name__}: {exc}")
