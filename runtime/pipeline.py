"""The first end-to-end slice.

source -> detector -> ByteTrack -> line counters -> interval summaries.

One ``SourcePipeline`` per source; ``run_site`` runs every source of a site config in turn with one
shared detector (the runtime issue adds threads per source and batching). Per frame, a failure is
logged, counted and skipped; only systematic failures (many frames in a row) stop a source.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field

from carbonedge.devices.sources import FrameSource, create_source
from carbonedge.runtime.errors import CarbonEdgeError, DeviceError
from carbonedge.runtime.events import IntervalSummary, LineCrossed
from carbonedge.runtime.store import Store
from carbonedge.runtime.summary import IntervalAggregator
from carbonedge.runtime.types import Frame, Packet
from carbonedge.vision.counting.line import LineConfig, LineCounter
from carbonedge.vision.detectors import Detector, create_detector
from carbonedge.vision.tracking.bytetrack import ByteTrack, ByteTrackConfig

logger = logging.getLogger(__name__)

MAX_CONSECUTIVE_FRAME_ERRORS = 50


@dataclass
class SourceResult:
    """What one source produced in a run."""

    source_id: str
    frames: int = 0
    frame_errors: int = 0
    detections: int = 0
    elapsed_s: float = 0.0
    crossings: list[LineCrossed] = field(default_factory=list)
    summaries: list[IntervalSummary] = field(default_factory=list)

    def counts(self) -> dict[str, dict[str, dict[str, int]]]:
        """line id -> direction -> class name -> vehicles, over the whole run."""
        out: dict[str, dict[str, dict[str, int]]] = {}
        for ev in self.crossings:
            by_class = out.setdefault(ev.line_id, {"in": {}, "out": {}}).setdefault(
                ev.direction, {}
            )
            by_class[ev.class_name] = by_class.get(ev.class_name, 0) + 1
        return out

    @property
    def fps(self) -> float:
        return self.frames / self.elapsed_s if self.elapsed_s > 0 else 0.0


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
    ) -> None:
        self.device_id, self.source, self.detector, self.store = device_id, source, detector, store
        self._tracker_config, self._lines, self._interval_s = tracker, lines, interval_s
        self._local_seq = 0

    def _next_seq(self) -> int:
        if self.store is not None:
            return self.store.next_seq(self.device_id)
        self._local_seq += 1
        return self._local_seq

    def run(
        self, *, max_frames: int | None = None, stop: threading.Event | None = None
    ) -> SourceResult:
        """Process the source until it ends, ``max_frames`` or ``stop`` is set.

        The open summary interval is flushed at the end.
        """
        src = self.source
        result = SourceResult(src.source_id)
        with src:
            tracker = ByteTrack(self._tracker_config, fps=src.fps)
            tracker.warmup()
            counters = [
                LineCounter(
                    line,
                    device_id=self.device_id,
                    source_id=src.source_id,
                    class_names=self.detector.class_names,
                )
                for line in self._lines
            ]
            aggregator = IntervalAggregator(
                device_id=self.device_id,
                source_id=src.source_id,
                line_ids=[line.id for line in self._lines],
                interval_s=self._interval_s,
                detector=self.detector.name,
                next_seq=self._next_seq,
            )
            t0 = time.perf_counter()
            last: Frame | None = None
            consecutive_errors = 0
            for frame in src:
                if (max_frames is not None and result.frames >= max_frames) or (
                    stop and stop.is_set()
                ):
                    break
                self._emit(aggregator.add_frame(frame.t_wall_s), result)
                try:
                    packet = self._process(frame, tracker, counters)
                except (CarbonEdgeError, ValueError, RuntimeError) as exc:
                    consecutive_errors += 1
                    result.frame_errors += 1
                    logger.warning(
                        "source %s frame %d skipped: %s", src.source_id, frame.index, exc
                    )
                    if consecutive_errors >= MAX_CONSECUTIVE_FRAME_ERRORS:
                        raise DeviceError(
                            f"source {src.source_id!r}: {consecutive_errors} frames in a row "
                            f"failed; last error: {exc}"
                        ) from exc
                    continue
                consecutive_errors = 0
                aggregator.add_crossings(packet.events)
                if self.store is not None:
                    self.store.write_events(packet.events)
                result.crossings.extend(packet.events)
                result.detections += len(packet.detections)
                result.frames += 1
                last = frame
            result.elapsed_s = time.perf_counter() - t0
            if last is not None:
                self._emit(aggregator.flush(last.t_wall_s + 1.0 / max(src.fps, 1e-6)), result)
        forget = getattr(self.detector, "forget", None)
        if forget is not None:
            forget(src.source_id)
        return result

    def _process(self, frame: Frame, tracker: ByteTrack, counters: list[LineCounter]) -> Packet:
        detections = self.detector.detect(frame)
        tracked = tracker.update(detections)
        removed = tracker.pop_removed()
        packet = Packet(frame, tracked)
        for counter in counters:
            packet.events.extend(counter.update(tracked, frame))
            if removed:
                counter.forget(removed)
        return packet

    def _emit(self, summary: IntervalSummary | None, result: SourceResult) -> None:
        if summary is None:
            return
        result.summaries.append(summary)
        if self.store is not None:
            self.store.write_summary(summary)
        logger.info(
            "summary %s seq=%d %s: %d vehicles",
            summary.source_id,
            summary.seq,
            summary.to_dict()["interval_start"],
            summary.total(),
        )


def run_site(
    config,
    *,
    max_frames: int | None = None,
    stop: threading.Event | None = None,
    detector: Detector | None = None,
) -> list[SourceResult]:
    """Run every source of a validated site config with one shared detector.

    Returns one ``SourceResult`` per source.
    """
    detector = detector or create_detector(config.detector)
    detector.warmup()
    results = []
    with Store(config.output.sqlite_path, config.output.jsonl_path) as store:
        for source_config in config.sources:
            pipeline = SourcePipeline(
                device_id=config.device_id,
                source=create_source(source_config),
                detector=detector,
                tracker=config.tracker,
                lines=list(config.lines.get(source_config.id, [])),
                interval_s=config.summary.interval_s,
                store=store,
            )
            results.append(pipeline.run(max_frames=max_frames, stop=stop))
    detector.close()
    return results
