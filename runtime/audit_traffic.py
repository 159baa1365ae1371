"""``carbonedge audit traffic``: run a clip and score counts and speeds against ground truth.

Ground-truth file (YAML), documented in the README ("Self-audit"):

.. code-block:: yaml

    lines:                       # the counting lines the truth refers to (pixels of the clip)
      - {id: y150, start_px: [0, 150], end_px: [320, 150]}
    counts:                      # line -> direction -> total, or -> class -> total
      y150: {in: 27, out: 0}
    tolerance: 1                 # allowed |error| per line and direction (default 0)
    vehicles:                    # optional: each crossing, for the per-segment score and speeds
      - {line: y150, direction: in, frame: 150}          # or t_s: 2.5; class, speed_kmh optional
    segments: 10                 # the clip is cut into this many equal segments (default 10)
    detector: {type: yolox, model: yolox_nano_416.onnx}  # optional, default: DEFAULT_DETECTOR
    ground_plane: {...}          # optional, as in a site config: gives speeds
    tracker: {...}               # optional ByteTrack settings

The report gives, per line and direction (and class where the truth has classes), the true and
counted numbers and the error; with ``vehicles``, the AI City Challenge track-1 style score
(1 - nwRMSE over cumulative counts at the end of each segment, weighted towards later segments),
and with truth speeds and a ground plane the speed error of each matched crossing.
``carbonedge audit traffic --synthetic`` audits the weight-free path on the built-in scene, whose
truth (every crossing, class and speed) is exact.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from carbonedge.calibration.ground_plane import GroundPlaneConfig
from carbonedge.runtime.audit_events import MATCH_WINDOW_S, Crossing, EventScore, match_events
from carbonedge.runtime.base.errors import ConfigError
from carbonedge.runtime.base.events import LineCrossed
from carbonedge.vision.counting.line import LineConfig
from carbonedge.vision.detectors.base import DEFAULT_DETECTOR
from carbonedge.vision.tracking.bytetrack import ByteTrackConfig

__all__ = [
    "AuditReport",
    "TrafficTruth",
    "audit_clip",
    "audit_synthetic",
    "nwrmse_score",
    "score_events",
    "synthetic_truth",
]

#: Ground-truth direction of the synthetic scene -> line direction for a left-to-right line.
TRUTH_TO_LINE_DIRECTION = {"down": "in", "up": "out"}


class TruthVehicle(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    line: str
    direction: Literal["in", "out"]
    frame: int | None = Field(None, ge=0)
    t_s: float | None = Field(None, ge=0)
    class_name: str | None = Field(None, alias="class")
    speed_kmh: float | None = Field(None, ge=0)
    id: int | str | None = Field(None, description="the same road user across lines (movements)")
    note: str | None = None

    @model_validator(mode="after")
    def _when(self) -> TruthVehicle:
        if (self.frame is None) == (self.t_s is None):
            raise ValueError("give exactly one of frame or t_s")
        return self


class TruthQueue(BaseModel):
    """Road users standing in the queue behind a (stop) line at one moment."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    line: str
    frame: int = Field(ge=0)
    vehicles: int = Field(ge=0)
    note: str | None = None


class TrafficTruth(BaseModel):
    """A ground-truth file (see the module docstring)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    lines: list[LineConfig] = Field(min_length=1)
    counts: dict[str, dict[Literal["in", "out"], int | dict[str, int]]] | None = None
    tolerance: int = Field(0, ge=0)
    vehicles: list[TruthVehicle] | None = None
    segments: int = Field(10, ge=1)
    detector: dict[str, Any] = Field(default_factory=lambda: dict(DEFAULT_DETECTOR))
    ground_plane: GroundPlaneConfig | None = None
    tracker: ByteTrackConfig = ByteTrackConfig()
    # provenance, carried along and not scored
    clip: str | None = Field(None, description="file name of the clip in ../shared/media/traffic")
    taxonomy: str | None = Field(None, description="class names used, e.g. road-v1")
    conditions: str | None = None
    counted_by: str | None = None
    notes: str | None = None
    queues: list[TruthQueue] | None = None

    @model_validator(mode="after")
    def _consistent(self) -> TrafficTruth:
        ids = {line.id for line in self.lines}
        if self.counts is None and self.vehicles is None:
            raise ValueError("give counts, vehicles or both")
        referred = [v.line for v in self.vehicles or []] + [q.line for q in self.queues or []]
        for line_id in list(self.counts or {}) + referred:
            if line_id not in ids:
                raise ValueError(f"truth refers to line {line_id!r}, not among lines")
        return self

    def totals(self) -> dict[tuple[str, str, str], int]:
        """(line, direction, class or "*") -> true count."""
        out: dict[tuple[str, str, str], int] = {}
        if self.counts is not None:
            for line_id, per_dir in self.counts.items():
                for direction, value in per_dir.items():
                    if isinstance(value, int):
                        out[(line_id, direction, "*")] = value
                    else:
                        for cls, n in value.items():
                            out[(line_id, direction, cls)] = n
            return out
        for v in self.vehicles or []:
            for cls in ("*",) if v.class_name is None else ("*", v.class_name):
                key = (v.line, v.direction, cls)
                out[key] = out.get(key, 0) + 1
        return out


def load_truth(path: Path) -> TrafficTruth:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: truth file not found") from None
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read truth file ({exc})") from None
    try:
        return TrafficTruth.model_validate(data)
    except ValidationError as exc:
        from carbonedge.runtime.config import format_validation_error

        raise ConfigError(f"{path}: {format_validation_error(exc)}") from None


def nwrmse_score(
    counted_s: list[float], truth_s: list[float], duration_s: float, segments: int
) -> float:
    """AI City track-1 style score in [0, 1] for one line/direction: 1 - nwRMSE.

    Cumulative counts at the end of each of ``segments`` equal parts of the clip are compared;
    segment ``i`` (1-based) has weight ``i / sum(1..k)``; the weighted RMSE is normalised by the
    true total (clipped to 1). A clip with no true vehicles scores 1 if none was counted, else 0.
    """
    ends = duration_s * np.arange(1, segments + 1) / segments
    ends[-1] = math.inf  # the last segment takes everything up to the end of the clip
    c = np.searchsorted(np.sort(counted_s), ends, side="left")
    g = np.searchsorted(np.sort(truth_s), ends, side="left")
    if g[-1] == 0:
        return 1.0 if c[-1] == 0 else 0.0
    w = np.arange(1, segments + 1) / (segments * (segments + 1) / 2)
    wrmse = math.sqrt(float(np.sum(w * (c - g) ** 2)))
    return 1.0 - min(wrmse / g[-1], 1.0)


@dataclass
class AuditReport:
    """What the audit found; ``rows`` are (line, direction, class, truth, counted)."""

    clip: str
    frames: int
    duration_s: float
    rows: list[tuple[str, str, str, int, int]]
    tolerance: int
    nwrmse: dict[str, float] = field(default_factory=dict)  # "line/direction" -> score
    speed_errors_pct: list[float] = field(default_factory=list)
    unmatched_truth: int = 0
    detector: str = ""
    events: EventScore | None = None  # per-event matching, when the truth lists crossings

    @property
    def passed(self) -> bool:
        return all(abs(c - t) <= self.tolerance for _, _, _, t, c in self.rows)

    def to_dict(self) -> dict[str, Any]:
        speed = np.abs(self.speed_errors_pct)
        return {
            "clip": self.clip,
            "detector": self.detector,
            "frames": self.frames,
            "duration_s": round(self.duration_s, 2),
            "counts": [
                {"line": ln, "direction": d, "class": c, "truth": t, "counted": n, "error": n - t}
                for ln, d, c, t, n in self.rows
            ],
            "tolerance": self.tolerance,
            "passed": self.passed,
            "nwrmse_score": self.nwrmse,
            "speed_error_pct": None
            if not len(speed)
            else {
                "matched": len(speed),
                "mean_abs": round(float(speed.mean()), 2),
                "max_abs": round(float(speed.max()), 2),
                "mean_signed": round(float(np.mean(self.speed_errors_pct)), 2),
            },
            "unmatched_truth_crossings": self.unmatched_truth,
            "events": None if self.events is None else self.events.to_dict(),
        }

    def format(self) -> str:
        out = [f"audit of {self.clip}: {self.frames} frames ({self.duration_s:.1f} s), "
               f"detector {self.detector}", ""]  # fmt: skip
        out.append(f"{'line':<12}{'dir':<5}{'class':<14}{'truth':>6}{'counted':>9}{'error':>7}")
        for line_id, direction, cls, truth, counted in self.rows:
            out.append(
                f"{line_id:<12}{direction:<5}{cls:<14}{truth:>6}{counted:>9}{counted - truth:>+7}"
            )
        if self.nwrmse:
            scores = ", ".join(f"{k} {v:.3f}" for k, v in self.nwrmse.items())
            out.append(f"\nAI City-style score (1 - nwRMSE, 1 is perfect): {scores}")
        d = self.to_dict()["speed_error_pct"]
        if d:
            out.append(
                f"speed error over {d['matched']} matched crossings: mean |error| "
                f"{d['mean_abs']:.1f} %, max {d['max_abs']:.1f} %, bias {d['mean_signed']:+.1f} %"
            )
        if self.events is not None:
            out.extend(_format_events(self.events))
        verdict = "PASS" if self.passed else "FAIL"
        out.append(f"\n{verdict}: every count within +-{self.tolerance}" if self.passed else
                   f"\n{verdict}: some counts are off by more than {self.tolerance}")  # fmt: skip
        return "\n".join(out)


def _format_events(score: EventScore) -> list[str]:
    """The per-event part of the text report: F1, groups, confusion, every miss and phantom."""
    out = [f"\nevents (matched within {MATCH_WINDOW_S:g} s, same line and direction): "
           f"{score.matched} matched of {len(score.truth)} true and {len(score.counted)} counted, "
           f"event F1 {score.f1:.3f}"]  # fmt: skip
    out.append(f"{'group':<13}{'true':>6}{'counted':>9}{'matched':>9}{'missed':>8}{'phantom':>9}")
    for g, row in score.by_group().items():
        out.append(f"{g:<13}{row['true']:>6}{row['counted']:>9}{row['matched']:>9}"
                   f"{row['missed']:>8}{row['phantom']:>9}")  # fmt: skip
    confused = {t: {c: n for c, n in row.items() if c != t}
                for t, row in score.confusion().items()}  # fmt: skip
    confused = {t: row for t, row in confused.items() if row}
    if confused:
        out.append("class confusion (true -> counted): " + "; ".join(
            f"{t} -> " + ", ".join(f"{c} {n}" for c, n in row.items())
            for t, row in confused.items()))  # fmt: skip
    for label, rows in (("missed", score.missed), ("phantom", score.phantoms)):
        for c in rows:
            out.append(f"  {label:<8} {c.line}/{c.direction} frame {c.frame} ({c.t_s:.2f} s) "
                       f"{c.class_name or '?'}")  # fmt: skip
    return out


def score_events(
    truth: TrafficTruth,
    events: list[LineCrossed],
    *,
    t0_wall_s: float,
    fps: float,
    frames: int,
    clip: str,
    detector: str,
) -> AuditReport:
    """Compare final crossings with ``truth``; ``t0_wall_s`` is the wall time of media time 0."""
    duration_s = frames / fps if fps > 0 else 0.0
    counted: dict[tuple[str, str, str], int] = {}
    for ev in events:
        for cls in ("*", ev.class_name):
            key = (ev.line_id, ev.direction, cls)
            counted[key] = counted.get(key, 0) + 1
    truth_totals = truth.totals()
    if any(cls != "*" for _, _, cls in truth_totals):
        # a per-class truth: a class counted that the truth lacks is a row too (true 0), so a
        # right total made of wrong classes cannot pass
        for key in counted:
            truth_totals.setdefault(key, 0)
    rows = [
        (ln, d, cls, n, counted.get((ln, d, cls), 0))
        for (ln, d, cls), n in sorted(truth_totals.items())
    ]
    report = AuditReport(clip, frames, duration_s, rows, truth.tolerance, detector=detector)
    if truth.vehicles:
        t_of = {id(ev): ev.t_wall_s - t0_wall_s for ev in events}
        for line in truth.lines:
            for direction in ("in", "out"):
                true_s = [_truth_time(v, fps) for v in truth.vehicles
                          if v.line == line.id and v.direction == direction]  # fmt: skip
                ours = [ev for ev in events if ev.line_id == line.id and ev.direction == direction]
                if not true_s and not ours:
                    continue
                report.nwrmse[f"{line.id}/{direction}"] = round(
                    nwrmse_score([t_of[id(e)] for e in ours], true_s, duration_s, truth.segments), 4
                )
        report.events = match_events(
            truth_crossings(truth, fps),
            [Crossing(ev.line_id, ev.direction, t_of[id(ev)], ev.frame_index, ev.class_name)
             for ev in events],
        )  # fmt: skip
        _match_speeds(truth, events, report)
    return report


def _truth_time(v: TruthVehicle, fps: float) -> float:
    return v.t_s if v.t_s is not None else (v.frame or 0) / fps


def truth_crossings(truth: TrafficTruth, fps: float) -> list[Crossing]:
    """The truth's listed crossings (``vehicles``) with media time and frame, for matching."""
    return [
        Crossing(v.line, v.direction, _truth_time(v, fps),
                 v.frame if v.frame is not None else round(_truth_time(v, fps) * fps),
                 v.class_name)
        for v in truth.vehicles or []
    ]  # fmt: skip


def _match_speeds(truth: TrafficTruth, events: list[LineCrossed], report: AuditReport) -> None:
    """Speed error of each matched crossing whose truth has a speed."""
    assert report.events is not None and truth.vehicles is not None
    for i, j in report.events.pairs:
        v, ev = truth.vehicles[i], events[j]
        if v.speed_kmh and ev.speed_kmh is not None:
            report.speed_errors_pct.append((ev.speed_kmh - v.speed_kmh) / v.speed_kmh * 100.0)
    report.unmatched_truth = len(report.events.missed)


def _run(source, detector, truth: TrafficTruth, ground_plane) -> tuple[list[LineCrossed], Any]:
    from carbonedge.runtime.pipeline import CameraPlan, SourcePipeline

    events: list[LineCrossed] = []
    pipeline = SourcePipeline(
        device_id="audit",
        source=source,
        detector=detector,
        camera=CameraPlan(
            tracker=truth.tracker,
            lines=list(truth.lines),
            ground_plane=ground_plane,
        ),
        interval_s=60.0,
        on_events=events.extend,
    )  # fmt: skip
    detector.warmup()
    try:
        result = pipeline.run()
    finally:
        detector.close()
    return events, result


def audit_clip(clip: Path, truth: TrafficTruth) -> AuditReport:
    """Run ``clip`` through the detector, tracker and lines of ``truth``; score the result."""
    from pydantic import TypeAdapter

    from carbonedge.devices.sources.video_file import VideoFileConfig, VideoFileSource
    from carbonedge.runtime.config import DetectorConfig
    from carbonedge.vision.detectors import create_detector

    try:
        detector = create_detector(TypeAdapter(DetectorConfig).validate_python(truth.detector))
    except ValidationError as exc:
        from carbonedge.runtime.config import format_validation_error

        raise ConfigError(f"truth detector: {format_validation_error(exc)}") from None
    start = datetime(2026, 1, 1, tzinfo=timezone.utc)  # any fixed time: media time = wall - start
    source = VideoFileSource(VideoFileConfig(id="audit", path=clip, start_wall=start))
    events, result = _run(source, detector, truth, truth.ground_plane)
    return score_events(truth, events, t0_wall_s=start.timestamp(), fps=source.fps,
                  frames=result.frames, clip=str(clip), detector=detector.name)  # fmt: skip


def synthetic_truth(scene, line: LineConfig) -> TrafficTruth:
    """Exact truth of the built-in synthetic scene for its counting line (``line``)."""
    gt = scene.ground_truth
    vehicles = {v.vehicle_id: v for v in gt.vehicles}
    length_class = {"bus": "bus_or_truck", "truck": "bus_or_truck"}  # what a length can tell
    rows = [
        {"line": line.id, "direction": TRUTH_TO_LINE_DIRECTION[d], "t_s": t_s,
         "class": length_class.get(vehicles[vid].class_name, vehicles[vid].class_name),
         "speed_kmh": vehicles[vid].speed_kmh}
        for vid, d, t_s in gt.crossings()
    ]  # fmt: skip
    h = np.linalg.inv(np.asarray(gt.homography_world_to_image, np.float64))
    return TrafficTruth.model_validate(
        {"lines": [line], "vehicles": rows, "detector": {"type": "motion"},
         "ground_plane": {"image_to_world": h.tolist()}}
    )  # fmt: skip


def audit_synthetic(duration_s: float = 60.0, seed: int = 7) -> AuditReport:
    """The weight-free path (motion detector, length classes, speeds) on the synthetic scene."""
    from carbonedge.devices.sources.synthetic import EPOCH_S, SyntheticScene, SyntheticSceneConfig
    from carbonedge.vision.detectors.motion import MotionDetector, MotionDetectorConfig

    scene = SyntheticScene(SyntheticSceneConfig(id="synthetic", duration_s=duration_s, seed=seed))
    (x1, y1), (x2, y2) = scene.ground_truth.counting_line_px
    truth = synthetic_truth(scene, LineConfig(id="line", start_px=(x1, y1), end_px=(x2, y2)))
    detector = MotionDetector(MotionDetectorConfig())
    events, result = _run(scene, detector, truth, truth.ground_plane)
    return score_events(truth, events, t0_wall_s=EPOCH_S, fps=scene.fps, frames=result.frames,
                  clip=f"synthetic scene (seed {seed}, {duration_s:g} s)",
                  detector="motion+length_classes")  # fmt: skip
