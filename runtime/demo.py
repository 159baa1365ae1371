"""``carbonedge demo``: the slice on the embedded synthetic road scene, or on a real video.

Without arguments it needs no weights and no footage: the synthetic scene (known lanes, speeds and
geometry) runs through the weight-free motion detector, ByteTrack, the scene's ground-plane
calibration (length classes, speeds) and a counting line; counts per class and speeds are scored
against the scene's exact truth, and the interval summaries carry emission estimates.
``--video PATH`` runs YOLOX on real footage instead.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, TextIO

from carbonedge.devices.sources.synthetic import EPOCH_S, SyntheticScene, SyntheticSceneConfig
from carbonedge.devices.sources.video_file import VideoFileConfig, VideoFileSource
from carbonedge.emissions import EmissionsConfig
from carbonedge.runtime.audit_traffic import AuditReport, score_events, synthetic_truth
from carbonedge.runtime.base.errors import ConfigError
from carbonedge.runtime.pipeline import CameraPlan, SourcePipeline, SourceResult
from carbonedge.runtime.store import Store
from carbonedge.vision.counting.line import LineConfig
from carbonedge.vision.detectors.motion import MotionDetector, MotionDetectorConfig
from carbonedge.vision.detectors.yolox import YoloxConfig, YoloxDetector

if TYPE_CHECKING:
    from carbonedge.calibration.ground_plane import GroundPlane
    from carbonedge.runtime.base.events import LineCrossed

DEVICE_ID = "demo-box"


@dataclass
class DemoOutcome:
    result: SourceResult
    audit: AuditReport | None = None  # synthetic scene only: counts, classes, speeds vs truth
    summaries: list[dict] = field(default_factory=list)
    line_text: str = ""  # --video: where the counting line was drawn, said before the counts

    def counted(self) -> dict[str, int]:
        per_dir = self.result.counts().get("line", {"in": {}, "out": {}})
        return {d: sum(per_dir.get(d, {}).values()) for d in ("in", "out")}


def run_synthetic(out_dir: Path, *, duration_s: float = 60.0, seed: int = 7) -> DemoOutcome:
    """The weight-free path with the scene's ground-plane calibration: counts, length classes,
    speeds and emissions, scored against the scene's exact truth."""
    scene = SyntheticScene(SyntheticSceneConfig(id="synthetic", duration_s=duration_s, seed=seed))
    (x1, y1), (x2, y2) = scene.ground_truth.counting_line_px
    line = LineConfig(id="line", start_px=(x1, y1), end_px=(x2, y2))
    truth = synthetic_truth(scene, line)
    events: list = []
    result = _run(scene, MotionDetector(MotionDetectorConfig()), line, out_dir, interval_s=15.0,
                  ground_plane=truth.ground_plane, on_events=events.extend)  # fmt: skip
    audit = score_events(truth, events, t0_wall_s=EPOCH_S, fps=scene.fps, frames=result.frames,
                         clip=f"synthetic scene (seed {seed}, {duration_s:g} s)",
                         detector="motion+length_classes")  # fmt: skip
    return DemoOutcome(result, audit, [s.to_dict() for s in result.summaries])


def run_video(path: Path, out_dir: Path, *, line_y_px: float | None, model: str) -> DemoOutcome:
    source_id = re.sub(r"[^A-Za-z0-9_.-]+", "_", path.stem)[:60] or "video"
    source = VideoFileSource(VideoFileConfig(id=source_id, path=path))
    with source:  # the same checks and messages as the run itself; gives the frame size
        first = source.read()
    height, width = first.shape_hw if first is not None else (0, 0)
    if line_y_px is not None and not 0 <= line_y_px < height:
        raise ConfigError(
            f"--line-y {line_y_px:g}: outside {path.name}'s {width}x{height} frame "
            f"(rows 0 to {height - 1})"
        )
    y = line_y_px if line_y_px is not None else round(height * 0.625)
    line = LineConfig(id="line", start_px=(0.0, float(y)), end_px=(float(width), float(y)))
    detector = YoloxDetector(YoloxConfig(model=model))
    how = "--line-y" if line_y_px is not None else "default: 62.5 % of the height; set --line-y"
    text = (
        f"counting line: row y = {y:g} px across the whole {width}x{height} frame ({how}; "
        f"`carbonedge count {path.name} --line x1,y1,x2,y2` draws any line and writes an "
        "annotated video)"
    )
    return DemoOutcome(_run(source, detector, line, out_dir, interval_s=60.0), None, [], text)


def _run(
    source,
    detector,
    line: LineConfig,
    out_dir: Path,
    *,
    interval_s: float,
    ground_plane: GroundPlane | None = None,
    on_events: Callable[[list[LineCrossed]], None] | None = None,
) -> SourceResult:
    """One camera with one line (and the scene's ground plane): counts, speeds, emissions."""
    detector.warmup()
    camera = CameraPlan(lines=[line], ground_plane=ground_plane, emissions=EmissionsConfig())
    with Store(out_dir / "demo.sqlite", out_dir / "demo-summaries.jsonl") as store:
        pipeline = SourcePipeline(
            device_id=DEVICE_ID, source=source, detector=detector, camera=camera,
            interval_s=interval_s, store=store, on_events=on_events,
        )  # fmt: skip
        return pipeline.run()


def print_outcome(outcome: DemoOutcome, out: TextIO, out_dir: Path) -> None:
    r = outcome.result
    if outcome.line_text:
        out.write(outcome.line_text + "\n")
    out.write(
        f"source {r.source_id}: {r.frames} frames in {r.elapsed_s:.1f} s ({r.fps:.0f} FPS), "
        f"{r.detections} detections, {r.summary_count} interval summaries\n"
        + (
            f"the file ENDED EARLY at frame {r.ended_early[0]} of {r.ended_early[1]} expected "
            "(truncated or damaged): counted up to there\n"
            if r.ended_early
            else ""
        )
        + "\n"
    )
    if outcome.audit is not None:
        out.write(outcome.audit.format() + "\n")
        out.write(
            "\n('in' is down the image. The weight-free motion detector sees 'a vehicle'; with the "
            "scene's ground-plane calibration its boxes are classed by length in metres.)\n"
        )
        _print_emissions(outcome.summaries, out)
    else:
        counted = outcome.counted()
        per_dir = r.counts().get("line", {})
        for d in ("in", "out"):
            classes = ", ".join(f"{k} {v}" for k, v in sorted(per_dir.get(d, {}).items())) or "-"
            out.write(f"{d:<4} {counted[d]:>4}  ({classes})\n")
        out.write(f"total {sum(counted.values())}\n")
    out.write(f"\nsummaries: {out_dir / 'demo-summaries.jsonl'} and {out_dir / 'demo.sqlite'}\n")


def _print_emissions(summaries: list[dict], out: TextIO) -> None:
    """Sum of the intervals' central estimates (each interval has its own 95 % range)."""
    totals: dict[str, float] = {}
    for s in summaries:
        for name, value in (s.get("emissions") or {}).get("total", {}).items():
            if name.endswith("_g"):
                totals[name] = totals.get(name, 0.0) + value[0]
    if totals:
        text = ", ".join(f"{k[:-2].upper()} {v:.3g} g" for k, v in totals.items())
        out.write(f"\nemissions in the scene (COPERT, default Chinese-city fleet): {text}\n")
