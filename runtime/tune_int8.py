"""``carbonedge tune --int8``: the fastest FP32 match quantized on the footage and tried.

``vision/quantize.py`` makes the INT8 model (QDQ, per-channel U8S8, percentile calibration) at the
candidate's own input size, calibrated on 32 frames spread over the footage, cropped as the
candidate crops them; the result is cached next to the other variants (``model_variants``).
Quantizing takes tens of seconds per model, so it is asked for, not done by default.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from carbonedge.runtime.tune import try_candidate
from carbonedge.runtime.tune_result import Candidate, Trial

logger = logging.getLogger(__name__)

__all__ = ["int8_trials"]


def int8_trials(runner: Any, trials: list[Trial], reference: Trial, tolerance: int,
                frame_hw: tuple[int, int], base: Trial | None = None) -> list[Trial]:  # fmt: skip
    """The fastest FP32 match quantized on 32 of the footage's frames (its crop, its input
    size) and tried; nothing when no candidate matched or quantization fails."""
    from carbonedge.runtime.base.errors import ModelError
    from carbonedge.runtime.model_check import read_frames
    from carbonedge.runtime.stages.traffic import regions_px
    from carbonedge.vision.detectors import roi
    from carbonedge.vision.detectors.model_variants import variant_path
    from carbonedge.vision.quantize import quantize_model

    matching = [t for t in trials
                if t.matches(tolerance, base) and t.candidate.input_hw is not None]  # fmt: skip
    if not matching:
        return []
    best = max(matching, key=lambda t: t.fps_median).candidate
    det = runner.detector(best)
    hw = tuple(best.input_hw)
    box = det.roi_box(frame_hw, regions_px(runner.plan))
    sized = runner.detector(Candidate(f"{best.name} sized", {**best.detector, "roi": None,
                                      "input_fit": False, "input_hw": list(hw)}))  # fmt: skip
    frames = read_frames(runner.clip, 32, step=max(1, (runner.frames or 320) // 32))
    tensors = [sized._preprocess(np.ascontiguousarray(f if box is None else roi.crop(f, box)))[0]
               .copy() for f in frames]  # fmt: skip
    out = variant_path(det.model_path, f"{hw[0]}x{hw[1]}-int8-tune")
    try:
        strides = tuple(best.detector.get("strides") or (8, 16, 32))
        quantize_model(det.model_path, tensors, out, input_hw=hw, strides=strides)
    except ModelError as exc:
        logger.warning("tune: INT8 of %s not made: %s", best.name, exc)
        return []
    settings = {**best.detector, "model": str(out), "input_hw": None, "input_fit": False}
    return [try_candidate(runner, Trial(Candidate(f"{best.name} INT8", settings, hw)), reference)]
