"""``carbonedge demo``: the slice on the embedded synthetic road scene, or on a real video.

Without arguments it needs no weights and no footage: the synthetic scene (known lanes, speeds and
geometry) runs through the weight-free motion detector, ByteTrack and a counting line, and the
counts are printed next to the scene's ground truth. ``--video PATH`` runs YOLOX on real footage
instead.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from carbonedge.devices.sources.synthetic import SyntheticScene, SyntheticSceneConfig
from carbonedge.devices.sources.video_file import VideoFileConfig, VideoFileSource
from carbonedge.runtime.pipeline import SourcePipeline, SourceResult
from carbonedge.runtime.store import Store
from carbonedge.vision.counting.line import LineConfig
from carbonedge.vision.detectors.motion import MotionDetector, MotionDetectorConfig
from carbonedge.vision.detectors.yolox import YoloxConfig, YoloxDetector
from carbonedge.vision.tracking.bytetrack import ByteTrackConfig

DEVICE_ID = "demo-box"
#: Ground-truth direction of the synthetic scene -> line direction for a left-to-right line.
TRUTH_TO_LINE_DIRECTION = {"down": "in", "up": "out"}


@dataclass
class DemoOutcome:
    result: SourceResult
    truth: dict[str, int] | None  # line direction -> vehicles, synthetic scene only
    truth_classes: dict[str, int] | None = None  # class name -> vehicles crossing, synthetic only

    def counted(self) -> dict[str, int]:
        per_dir = self.result.counts().get("line", {"in": {}, "out": {}})
        return {d: sum(per_dir.get(d, {}).values()) for d in ("in", "out")}


def run_synthetic(out_dir: Path, *, duration_s: float = 60.0, seed: int = 7) -> DemoOutcome:
    scene = SyntheticScene(SyntheticSceneConfig(id="synthetic", duration_s=duration_s, seed=seed))
    (x1, y1), (x2, y2) = scene.ground_truth.counting_line_px
    line = LineConfig(id="line", start_px=(x1, y1), end_px=(x2, y2))
    truth = {"in": 0, "out": 0}
    classes: dict[str, int] = {}
    class_of = {v.vehicle_id: v.class_name for v in scene.ground_truth.vehicles}
    for vehicle_id, direction, _ in scene.ground_truth.crossings():
        truth[TRUTH_TO_LINE_DIRECTION[direction]] += 1
        classes[class_of[vehicle_id]] = classes.get(class_of[vehicle_id], 0) + 1
    detector = MotionDetector(MotionDetectorConfig())
    result = _run(scene, detector, line, out_dir, interval_s=15.0)
    return DemoOutcome(result, truth, classes)


def run_video(path: Path, out_dir: Path, *, line_y_px: float | None, model: str) -> DemoOutcome:
    source_id = re.sub(r"[^A-Za-z0-9_.-]+", "_", path.stem)[:60] or "video"
    source = VideoFileSource(VideoFileConfig(id=source_id, path=path))
    with source:  # the same checks and messages as the run itself; gives the frame size
        first = source.read()
    height, width = first.shape_hw if first is not None else (0, 0)
    y = line_y_px if line_y_px is not None else round(height * 0.625)
    line = LineConfig(id="line", start_px=(0.0, float(y)), end_px=(float(width), float(y)))
    detector = YoloxDetector(YoloxConfig(model=model))
    return DemoOutcome(_run(source, detector, line, out_dir, interval_s=60.0), None)


def _run(source, detector, line: LineConfig, out_dir: Path, *, interval_s: float) -> SourceResult:
    detector.warmup()
    with Store(out_dir / "demo.sqlite", out_dir / "demo-summaries.jsonl") as store:
        pipeline = SourcePipeline(
            device_id=DEVICE_ID,
            source=source,
            detector=detector,
            tracker=ByteTrackConfig(),
            lines=[line],
            interval_s=interval_s,
            store=store,
        )
        return pipeline.run()


def print_outcome(outcome: DemoOutcome, out: TextIO, out_dir: Path) -> None:
    r = outcome.result
    out.write(
        f"source {r.source_id}: {r.frames} frames in {r.elapsed_s:.1f} s ({r.fps:.0f} FPS), "
        f"{r.detections} detections, {r.summary_count} interval summaries\n\n"
    )
    counted = outcome.counted()
    if outcome.truth is not None:
        out.write(f"{'direction':<22}{'counted':>8}{'ground truth':>14}\n")
        for d, label in (("in", "in  (down the image)"), ("out", "out (up the image)")):
            out.write(f"{label:<22}{counted[d]:>8}{outcome.truth[d]:>14}\n")
        out.write(f"{'total':<22}{sum(counted.values()):>8}{sum(outcome.truth.values()):>14}\n")
        mix = ", ".join(f"{n} {name}" for name, n in sorted((outcome.truth_classes or {}).items()))
        out.write(
            f"\nthe scene's vehicles: {mix}; the weight-free motion detector sees them all as "
            f"'vehicle' (classes need a model: carbonedge demo --video PATH)\n"
        )
    else:
        per_dir = r.counts().get("line", {})
        for d in ("in", "out"):
            classes = ", ".join(f"{k} {v}" for k, v in sorted(per_dir.get(d, {}).items())) or "-"
            out.write(f"{d:<4} {counted[d]:>4}  ({classes})\n")
        out.write(f"total {sum(counted.values())}\n")
    out.write(f"\nsummaries: {out_dir / 'demo-summaries.jsonl'} and {out_dir / 'demo.sqlite'}\n")
