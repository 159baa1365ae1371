"""Model time on the highway clip: FP32 416 vs a smaller input vs a crop around the line vs INT8.

Every variant is the same YOLOX-nano weights (``../shared/models``): rewritten to another fixed
input size (``vision/detectors/model_variants.py``), run on a crop around the counting line
(``roi: auto``), and/or statically quantized to INT8 on frames of the clip itself
(``vision/quantize.py``, QDQ per-channel U8S8, 99.9999 % percentile calibration on 64 frames,
the head's output tail kept in float).

Speed: ``session.run`` on a real frame, preprocessed as the detector does it, all variants taking
turns in one process (best of 9 rounds, 5 with ``--quick``, order flipped every round); the ratio
is against FP32 416 in the same run. Accuracy: the line count of the whole pipeline (ByteTrack,
line at y = 150 px) on the clip (hand count 27). FLOPs from the graph and the fraction of the
CPU's peak: ``benchmarks/model_flops.py`` (the formula is printed in each row).

``--quick`` (part of ``carbonedge bench --quick``): the FP32 variants only (no quantization,
which takes 20-40 s a model), counts on the first 300 frames (hand count 3).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from carbonedge.benchmarks._harness import Row

logger = logging.getLogger(__name__)

LINE_Y_PX = 150.0
THREADS = 2
CALIBRATION_FRAMES = 64
ROI_MARGIN_PX = (0.0, 88.0, 0.0, 40.0)  # left, top, right, bottom: bodies lie above the line


@dataclass(frozen=True)
class Variant:
    name: str
    input_hw: tuple[int, int] | None  # None: the model's own (416x416)
    roi: str | None = None
    int8: bool = False


VARIANTS = (
    Variant("FP32 416 (reference)", None),
    Variant("FP32 256x320", (256, 320)),
    Variant("FP32 192x256", (192, 256)),
    Variant("FP32 roi auto 128x320 (rows 62-190)", (128, 320), "auto"),
    Variant("FP32 roi auto 96x256 (rows 62-190 at 0.8)", (96, 256), "auto"),
    Variant("INT8 416", None, int8=True),
    Variant("INT8 roi auto 128x320 (rows 62-190)", (128, 320), "auto", int8=True),
)


def _detector(model: Path, variant: Variant, int8_path: Path | None):
    from carbonedge.vision.detectors.onnx_session import SessionConfig
    from carbonedge.vision.detectors.yolox import YoloxConfig, YoloxDetector

    return YoloxDetector(
        YoloxConfig(
            model=str(int8_path or model),
            input_hw=None if int8_path else variant.input_hw,
            roi=variant.roi,
            roi_margin_px=ROI_MARGIN_PX,
            session=SessionConfig(intra_op_threads=THREADS),
        )
    )


def _int8_model(model: Path, clip: Path, fp32) -> Path:
    """The INT8 model at ``fp32``'s input size, calibrated on the clip (cached)."""
    from carbonedge.runtime.model_check import read_frames
    from carbonedge.vision.detectors.model_variants import variant_path
    from carbonedge.vision.quantize import quantize_model

    h, w = fp32.input_hw
    tag = f"{h}x{w}-int8-qdq-u8s8-percentile" + ("-roi" if fp32.config.roi else "")
    out = variant_path(model, tag)  # calibrated on this clip: the bench's "site"
    if out.is_file():
        return out
    frames = read_frames(clip, CALIBRATION_FRAMES, step=1699 // CALIBRATION_FRAMES)
    tensors = [fp32._preprocess(_input_of(fp32, f))[0].copy() for f in frames]
    return quantize_model(model, tensors, out, input_hw=(h, w))


def _line_regions(image_width_px: int) -> list:
    """The clip's counting line (full width at ``LINE_Y_PX``) as ``roi: auto`` regions."""
    import numpy as np

    return [np.array([(0.0, LINE_Y_PX), (float(image_width_px), LINE_Y_PX)])]


def _input_of(detector, image):
    """The part of ``image`` the detector feeds the model (its roi crop, when it has one): the box
    the ROI stage would compute for the clip's line."""
    from carbonedge.vision.detectors import roi

    box = detector.roi_box(image.shape[:2], _line_regions(image.shape[1]))
    return image if box is None else roi.crop(image, box)


def run(quick: bool) -> list[Row]:
    from carbonedge.benchmarks.bench_e2e import shared_paths, truth_before
    from carbonedge.benchmarks.model_flops import achieved, count_flops, cpu_peak
    from carbonedge.runtime.model_check import count_on_clip, interleaved_ms, read_frames

    paths = shared_paths()
    if paths is None:
        return []
    model, clip = paths
    max_frames, truth = (300, truth_before(300)) if quick else (None, 27)
    image = read_frames(clip, 1, step=1)[0] if quick else read_frames(clip, 300)[-1]
    detectors, sessions, flops = {}, {}, {}
    variants = [v for v in VARIANTS if not (quick and v.int8)]
    for v in variants:
        det = _detector(model, v, None)
        flops[v.name] = count_flops(det.session_path)["total"]
        if v.int8:
            det = _detector(model, v, _int8_model(model, clip, det))
        detectors[v.name] = det
        sessions[v.name] = (det.session, det._preprocess(_input_of(det, image))[0].copy())
    ms = interleaved_ms(sessions, rounds=5 if quick else 9, inner=10 if quick else 20)
    peak = cpu_peak(THREADS)
    ref_name = VARIANTS[0].name
    rows = []
    for v in variants:
        det = detectors[v.name]
        det.warmup()
        counted = count_on_clip(det, clip, LINE_Y_PX, max_frames=max_frames)
        gflops, fraction = achieved(
            flops[v.name], ms[v.name], peak.int8_gops if v.int8 else peak.fp32_gflops
        )
        h, w = det.input_hw
        case = (
            f"{v.name}: input {h}x{w}, {flops[v.name] / 1e9:.3f} GFLOP/frame, "
            f"{gflops:.0f} G{'OP' if v.int8 else 'FLOP'}/s = {100 * fraction:.0f} % of peak "
            f"{peak.int8_gops if v.int8 else peak.fp32_gflops:.0f} ({peak.formula}); count "
            f"{counted.count} (truth {truth}), {counted.frames} frames"
        )
        rows.append(Row("model", case, ms[v.name], ms[ref_name], f"{ref_name}, same run"))
    return rows
