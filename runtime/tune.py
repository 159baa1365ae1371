"""``carbonedge tune``: the cheapest detector settings that keep a camera's line crossings.

For one camera and the site's own footage:

1. The REFERENCE: the camera's detector model at its full input size on the whole frame
   (``roi: null, input_fit: false, input_hw: null``), through the real pipeline (the camera's
   lines, zones, masks, gating and tracker), the way ``audit_clip`` runs a clip. Its crossings
   are the standard; the tracked boxes at the lines (``roi.near_regions``) give the crop's
   margins (``roi.margins_from_boxes``).
2. Cheaper CANDIDATES, each through the same pipeline on the same frames: the model (the
   reference's, and YOLOX-nano or PicoDet-S as the other), the region (whole frame, or the crop
   around the lines and zones with the learned margins: ``roi: auto`` + ``roi_margin_px``) and
   the input scale (the fitted size, ``roi.fitted_input_hw``, then 0.75x and 0.5x of it); the
   camera's settings as configured are tried too. A chain (model, region) stops at its first
   scale that loses events: smaller inputs do not find them again. Optionally (``int8``) the
   fastest match is quantized on the footage's frames (``vision/quantize.py``) and tried.
3. SCORE: crossings matched one-to-one to the reference's (same line, direction and class,
   within ``MATCH_WINDOW_S`` = 1 s; ``audit_events.match_events`` with the class in the key);
   speed = frames per second of the pipeline and model ms per frame, every candidate that
   matched timed again in rounds taking turns with the reference in this process (median).
   The fastest candidate with missed + extra <= ``tolerance`` wins.

   With a HAND COUNT of the footage (``truth``: ``carbonedge tune --truth T.yaml``), the hand
   count is the standard instead: the reference and every candidate are scored against it the
   same way, and a candidate may miss no more of its crossings than the reference misses and
   count no more extra ones than the reference does (``tolerance`` errors beyond those in all:
   ``Trial.matches``). The reference's own mistakes (a phantom it counts, a class it gets wrong)
   then no longer reject a candidate that gets those crossings right, and a candidate cannot buy
   fewer extras with more misses.

4. ZOOM (``runtime/tune_zoom.py``): the fastest match (or the reference) with its zoom windows
   off, where it has any: a site whose road users the whole-frame pass sees needs none.
5. STRIDE (``runtime/tune_stride.py``): the fastest match (or the reference) with the vehicle
   stages seeing every 2nd, 3rd, ... frame (``detect_fps``, ``runtime/stride.py``), until a miss.
   The reference sees every frame.
"""

from __future__ import annotations

import dataclasses
import logging
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from carbonedge.runtime.audit_events import Crossing
from carbonedge.runtime.base.errors import ConfigError
from carbonedge.runtime.pipeline import CameraPlan, SourcePipeline
from carbonedge.runtime.tune_result import Candidate, Trial, TuneResult, score_trial

logger = logging.getLogger(__name__)

__all__ = ["check_tuned", "reference_settings", "truth_for_camera", "try_candidate", "tune_camera"]

SCALES: tuple[float, ...] = (1.0, 0.75, 0.5)  # of the fitted input size
_START = datetime(2026, 1, 1, tzinfo=timezone.utc)  # media time = wall time - _START
#: The other model tried for each family (DEIMv2-Femto is slower than both: not tried).
OTHER_MODEL: dict[str, dict[str, Any]] = {
    "picodet": {"type": "yolox"},
    "yolox": {"type": "picodet"},
}
_YOLO_FAMILY = ("picodet", "yolox", "ultralytics")


def reference_settings(detector: Any) -> dict[str, Any]:
    """The full-frame, full-size settings of a camera's detector (a detector config model);
    ``ConfigError`` for a detector without a model input to tune (motion, say)."""
    if detector.type not in _YOLO_FAMILY:
        raise ConfigError(f"detector type {detector.type!r}: nothing to tune (tune needs one of "
                          f"{', '.join(_YOLO_FAMILY)})")  # fmt: skip
    data = detector.model_dump(mode="json")
    data.update(roi=None, input_fit=False, input_hw=None, detect_fps=None)
    return data


class _ProbedPipeline(SourcePipeline):
    """The real pipeline, keeping the tracked boxes whose anchor is at a line or zone."""

    def __init__(self, *args: Any, regions: list, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.regions = regions
        self.boxes_at_lines: list[np.ndarray] = []

    def _process(self, frame):  # type: ignore[no-untyped-def]
        from carbonedge.vision.detectors.roi import near_regions

        packet = super()._process(frame)
        det = packet.detections
        if self.regions and len(det):
            near = near_regions(det.xyxy, self.regions) & (det.tracker_id >= 0)
            if near.any():
                self.boxes_at_lines.append(det.xyxy[near].copy())
        return packet


class _Runner:
    """Runs the clip through one camera's pipeline with a given detector."""

    def __init__(self, camera: Any, plan: CameraPlan, clip: Path, max_frames: int | None) -> None:
        self.camera, self.plan, self.clip, self.max_frames = camera, plan, clip, max_frames
        self.detectors: dict[str, Any] = {}

    def detector(self, candidate: Candidate) -> Any:
        from pydantic import TypeAdapter, ValidationError

        from carbonedge.runtime.config import DetectorConfig, format_validation_error
        from carbonedge.vision.detectors import create_detector

        if candidate.name not in self.detectors:
            try:
                config = TypeAdapter(DetectorConfig).validate_python(candidate.detector)
            except ValidationError as exc:
                raise ConfigError(f"tune candidate {candidate.name}: "
                                  f"{format_validation_error(exc)}") from None  # fmt: skip
            det = create_detector(config)
            det.warmup()
            self.detectors[candidate.name] = det
        return self.detectors[candidate.name]

    def run(self, trial: Trial, *, probe: bool = False) -> _ProbedPipeline:
        """One pass; appends the pass's FPS and model ms to ``trial``, sets its crossings."""
        from carbonedge.devices.sources.video_file import VideoFileConfig, VideoFileSource
        from carbonedge.runtime.stages.traffic import regions_px

        events: list = []
        source = VideoFileSource(VideoFileConfig(id=self.camera.id, path=self.clip,
                                                 start_wall=_START))  # fmt: skip
        pipeline = _ProbedPipeline(
            device_id="tune", source=source, detector=self.detector(trial.candidate),
            camera=self.plan, interval_s=60.0, on_events=events.extend,
            regions=regions_px(self.plan) if probe else [],
        )  # fmt: skip
        result = pipeline.run(max_frames=self.max_frames)
        if result.error or result.frames == 0:
            raise ConfigError(f"{self.clip}: no frames could be processed ({result.error})")
        trial.fps.append(result.fps)
        trial.model_ms.append(1000.0 * result.inference_s / max(result.detector_calls, 1))
        t0 = _START.timestamp()
        trial.crossings = [Crossing(e.line_id, e.direction, e.t_wall_s - t0, e.frame_index,
                                    e.class_name) for e in events]  # fmt: skip
        self.frames = result.frames
        return pipeline


def camera_plan(camera: Any) -> CameraPlan:
    """The camera's pipeline plan as ``carbonedge run`` makes it, without an annotated video."""
    from carbonedge.runtime.calibrate.overlay import source_masks

    plan = CameraPlan.of_config(camera, source_masks(camera))
    return dataclasses.replace(plan, annotate=None, annotate_path=None)


def _scaled(hw: tuple[int, int], scale: float) -> tuple[int, int]:
    return tuple(max(32, round(side * scale / 32) * 32) for side in hw)  # type: ignore[return-value]


def candidates(runner: _Runner, reference: Candidate, configured: dict[str, Any],
               frame_hw: tuple[int, int], margins: tuple[float, ...] | None,
               scales: tuple[float, ...] = SCALES,
               models: int = 2) -> list[list[Candidate]]:  # fmt: skip
    """Chains of candidates, cheapest last in each: the camera as configured (alone), then per
    model (the reference's, the other family's) and region (whole frame; the crop with
    ``margins``) the fitted input size times each of ``scales``."""
    from carbonedge.runtime.stages.traffic import regions_px
    from carbonedge.vision.detectors import roi

    chains: list[list[Candidate]] = [[Candidate("as configured", configured)]]
    regions = regions_px(runner.plan)
    crop = None if margins is None else roi.auto_roi(regions, frame_hw, margins)
    ref = reference.detector
    families = [ref]
    if ref["type"] in OTHER_MODEL and models > 1:
        # every frame, as the reference (strides are tried last)
        other = {**OTHER_MODEL[ref["type"]], "session": ref.get("session", {}),
                 "detect_fps": None}  # fmt: skip
        families.append(other)
    for family in families:
        base = reference if family is ref else Candidate(
            f"{family['type']} full frame", {**family, "roi": None, "input_fit": False,
                                             "input_hw": None})  # fmt: skip
        base_hw = tuple(runner.detector(base).input_hw)
        for region in ("frame", "crop"):
            if region == "crop" and crop is None:
                continue
            x0, y0, x1, y1 = crop if region == "crop" else (0, 0, frame_hw[1], frame_hw[0])
            fit_hw = roi.fitted_input_hw(frame_hw, (y1 - y0, x1 - x0), base_hw,
                                         stretch=runner.detector(base).stretches)  # fmt: skip
            where = ({"roi": None} if region == "frame" else
                     {"roi": "auto", "roi_margin_px": list(margins)})  # fmt: skip
            chain, seen = [], {base_hw} if region == "frame" and family is ref else set()
            for s in scales:
                hw = fit_hw if s == 1.0 else _scaled(fit_hw, s)
                if hw in seen:
                    continue
                seen.add(hw)
                settings = {**family, **where, "input_fit": s == 1.0,
                            "input_hw": None if s == 1.0 else list(hw)}  # fmt: skip
                name = f"{family['type']} {region} x{s:g}"
                chain.append(Candidate(name, settings, hw))
            chains.append(chain)
    return chains


def _frame_hw(clip: Path) -> tuple[tuple[int, int], float]:
    """The clip's (height, width) px and frame rate."""
    import cv2

    cap = cv2.VideoCapture(str(clip))
    ok, image = cap.read()
    fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
    cap.release()
    if not ok:
        raise ConfigError(f"--clip {clip}: not a readable video")
    return (image.shape[0], image.shape[1]), fps


def _camera(config: Any, camera_id: str) -> Any:
    """The camera with its current calibration record laid over it (what ``run`` runs)."""
    from carbonedge.runtime.calibrate.overlay import current_records, overlay_record

    if camera_id not in config.cameras:
        raise ConfigError(f"--camera {camera_id}: no such camera (cameras: "
                          f"{', '.join(config.cameras)})")  # fmt: skip
    return overlay_record(config.cameras[camera_id], current_records(config).get(camera_id))


def try_candidate(runner: _Runner, trial: Trial, reference: Trial) -> Trial:
    """Run ``trial`` once and score it against ``reference``; a candidate that cannot run
    (a model that cannot be resized, say) is kept with its error."""
    from carbonedge.runtime.base.errors import ModelError

    try:
        runner.run(trial)
    except (ModelError, ConfigError, ValueError) as exc:
        trial.error = f"failed: {exc}"[:160]
        logger.info("tune: %s %s", trial.candidate.name, trial.error)
        return trial
    score_trial(trial, reference.crossings)
    logger.info("tune: %s: %.1f FPS, %d matched, %d missed, %d extra", trial.candidate.name,
                trial.fps_median, trial.matched, trial.missed, trial.extra)  # fmt: skip
    return trial


def tune_camera(
    config: Any,
    camera_id: str,
    clip: Path,
    *,
    max_frames: int | None = None,
    tolerance: int = 0,
    repeats: int = 3,
    scales: tuple[float, ...] = SCALES,
    models: int = 2,
    int8: bool = False,
    stride: bool = True,
    zoom: bool = True,
    truth: list[Crossing] | None = None,
) -> TuneResult:
    """Search the cheaper settings of ``camera_id`` of ``config`` (a ``SiteConfig`` read
    without its tuned sidecar) on ``clip`` (its first ``max_frames``); see the module
    docstring. ``repeats``: timing passes of each matching candidate and the reference (taking
    turns); ``scales``/``models``/``zoom``/``stride``: fewer candidates (tests); ``truth``: a
    hand count of the clip's crossings (media time), the standard instead of the reference."""
    from carbonedge.vision.detectors.roi import margins_from_boxes

    camera = _camera(config, camera_id)
    frame_hw, clip_fps = _frame_hw(clip)
    runner = _Runner(camera, camera_plan(camera), clip, max_frames)
    ref_settings = reference_settings(camera.detector)
    reference = Candidate(f"reference: {ref_settings['type']} whole frame", ref_settings)
    reference = dataclasses.replace(reference, input_hw=tuple(runner.detector(reference).input_hw))
    # Step 1: the reference, and the vehicles' sizes at the lines
    ref_trial = Trial(reference)
    probe = runner.run(ref_trial, probe=True)
    ref_trial.matched = len(ref_trial.crossings)
    standard = _standard(ref_trial, truth)
    margins = None
    if probe.boxes_at_lines:
        margins = margins_from_boxes(np.concatenate(probe.boxes_at_lines))
    else:
        logger.warning("tune: camera %s: no tracked vehicle at the lines in %s: no crop tried",
                       camera_id, clip)  # fmt: skip
    # Step 2: every chain until its first miss
    trials: list[Trial] = []
    for chain in candidates(runner, reference, camera.detector.model_dump(mode="json"),
                            frame_hw, margins, scales, models):  # fmt: skip
        for candidate in chain:
            if candidate.detector == ref_settings:  # the camera is configured as the reference
                continue
            trial = try_candidate(runner, Trial(candidate), standard)
            trials.append(trial)
            if not trial.matches(tolerance, ref_trial):
                break
    if int8:
        from carbonedge.runtime.tune_int8 import int8_trials

        trials.extend(int8_trials(runner, trials, standard, tolerance, frame_hw, ref_trial))
    if zoom:
        from carbonedge.runtime.tune_zoom import zoom_trials

        trials.extend(zoom_trials(runner, trials, ref_trial, tolerance, standard))
    if stride:
        from carbonedge.runtime.tune_stride import stride_trials

        trials.extend(stride_trials(runner, trials, ref_trial, tolerance, clip_fps, standard))
    # Step 3: time the reference and every match again, taking turns
    timed = [ref_trial, *(t for t in trials if t.matches(tolerance, ref_trial))]
    for r in range(1, repeats):
        for trial in timed if r % 2 else reversed(timed):
            crossings = trial.crossings
            runner.run(trial)
            trial.crossings = crossings  # the first pass's (a pass is deterministic)
    chosen = max(timed, key=lambda t: t.fps_median)
    for det in runner.detectors.values():
        det.close()
    return TuneResult(camera_id, clip, runner.frames, ref_trial, trials, chosen, margins,
                      tolerance, truth)  # fmt: skip


def _standard(ref_trial: Trial, truth: list[Crossing] | None) -> Trial:
    """What candidates are scored against: the reference, or the hand count (the reference is
    then scored against it too: its missed and extra are what a candidate may also make)."""
    if truth is None:
        return ref_trial
    standard = Trial(Candidate("hand count", {}), crossings=list(truth))
    score_trial(ref_trial, truth)
    logger.info(
        "tune: the reference against the hand count: %d of %d matched, %d missed, %d extra",
        ref_trial.matched,
        len(truth),
        ref_trial.missed,
        ref_trial.extra,
    )
    return standard


def check_tuned(config: Any, camera_id: str, tuned_detector: dict[str, Any], clip: Path, *,
                max_frames: int | None = None, tolerance: int = 0,
                truth: list[Crossing] | None = None) -> TuneResult:  # fmt: skip
    """The tuned settings against the reference (or the hand count ``truth``) on ``clip``
    again (one pass each)."""
    camera = _camera(config, camera_id)
    runner = _Runner(camera, camera_plan(camera), clip, max_frames)
    ref_settings = reference_settings(camera.detector)
    reference = Candidate(f"reference: {ref_settings['type']} whole frame", ref_settings)
    reference = dataclasses.replace(reference, input_hw=tuple(runner.detector(reference).input_hw))
    ref_trial = Trial(reference)
    runner.run(ref_trial)
    ref_trial.matched = len(ref_trial.crossings)
    standard = _standard(ref_trial, truth)
    trial = try_candidate(runner, Trial(Candidate("tuned", tuned_detector)), standard)
    for det in runner.detectors.values():
        det.close()
    chosen = trial if trial.matches(tolerance, ref_trial) else ref_trial
    return TuneResult(camera_id, clip, runner.frames, ref_trial, [trial], chosen, None, tolerance,
                      truth)  # fmt: skip


def truth_for_camera(path: Path, config: Any, camera_id: str, clip: Path) -> list[Crossing]:
    """The crossings of the hand count ``path`` (the truth format of ``carbonedge audit``) in
    ``clip``'s media time; its lines must be the camera's (by id)."""
    from carbonedge.runtime.audit_traffic import load_truth, truth_crossings

    camera = _camera(config, camera_id)
    truth = load_truth(path)
    if not truth.vehicles:
        raise ConfigError(f"--truth {path}: no crossings listed (vehicles:): nothing to score by")
    ids = {line.id for line in camera.lines}
    unknown = sorted({v.line for v in truth.vehicles} - ids)
    if unknown:
        raise ConfigError(f"--truth {path}: line(s) {', '.join(unknown)} are not lines of the "
                          f"camera (its lines: {', '.join(sorted(ids)) or 'none'})")  # fmt: skip
    return truth_crossings(truth, _frame_hw(clip)[1])
