"""``carbonedge quantize MODEL --frames DIR|CLIP``: an INT8 model calibrated on the site's frames,
with a check a technician can read (count and detections before vs after, speed in one run).

    carbonedge quantize yolox_nano_416.onnx --frames site.avi --check site.avi --line-y 150
    carbonedge quantize yolox_nano_416.onnx --frames shots/ --input-hw 256 320 --out int8.onnx

Without ``--out`` the model goes to the user cache (``~/.cache/carbonedge/variants``), named
after the source's SHA-256, the input size and the quantization; the path is printed so it can be
put in the site config (``detector: {model: <path>}``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

VEHICLES = ("car", "bus", "truck", "motorcycle")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("quantize", help="INT8 model calibrated on the site's frames, with a check")
    p.add_argument("model", help="FP32 .onnx (file name searched like the config's, or a path)")
    p.add_argument("--frames", type=Path, required=True, help="calibration: image folder or clip")
    p.add_argument("--out", type=Path, default=None, help="output .onnx (default: user cache)")
    p.add_argument("--type", choices=("yolox", "ultralytics"), default="yolox", dest="family")
    p.add_argument("--input-hw", type=int, nargs=2, metavar=("H", "W"), default=None,
                   help="also rewrite the input to H x W px (multiples of 32)")  # fmt: skip
    p.add_argument("--calibration-frames", type=int, default=64, help="frames to calibrate on")
    p.add_argument("--format", choices=("qdq", "qoperator"), default="qdq", dest="quant_format")
    p.add_argument("--types", choices=("u8s8", "u8u8", "s8s8"), default="u8s8",
                   help="activation/weight types")  # fmt: skip
    p.add_argument("--per-tensor", action="store_true", help="one scale per tensor, not channel")
    p.add_argument("--calibration", choices=("percentile", "minmax", "entropy"),
                   default="percentile", help="activation ranges (99.9999 %% pct)")  # fmt: skip
    p.add_argument("--check", type=Path, default=None, help="clip to compare FP32 and INT8 on")
    p.add_argument("--line-y", type=float, default=None, help="counting line row px (--check)")
    p.add_argument("--check-frames", type=int, default=None, help="only the first N clip frames")
    p.add_argument("--threads", type=int, default=2, help="onnxruntime intra-op threads")
    p.set_defaults(handler=_cmd_quantize)


def _cmd_quantize(args: argparse.Namespace) -> int:
    from carbonedge.runtime.base.errors import ConfigError
    from carbonedge.vision.detectors.model_files import locate_model
    from carbonedge.vision.detectors.model_variants import variant_path
    from carbonedge.vision.quantize import quantize_model

    if args.check is not None and args.line_y is None:
        raise ConfigError("--check needs --line-y (the counting line's row in px)")
    if args.calibration_frames < 1:
        raise ConfigError(f"--calibration-frames must be >= 1, got {args.calibration_frames}")
    from carbonedge.runtime.progress import JobProgress

    source = locate_model(args.model)
    with JobProgress("quantize") as progress:  # stderr: phase, frames done / total, FPS, ETA
        progress.phase(f"loading {source.name}")
        fp32 = _detector(args, str(source), args.input_hw)
        progress.phase(f"reading {args.calibration_frames} calibration frames")
        tensors = _calibration_tensors(fp32, args.frames, args.calibration_frames)
        h, w = fp32.input_hw
        tag = f"{h}x{w}-int8-{args.quant_format}-{args.types}-{args.calibration}"
        out = args.out or variant_path(source, tag)
        progress.phase(f"quantizing ({args.calibration} calibration on {len(tensors)} frames)")
        quantize_model(
            source, tensors, out, input_hw=(h, w), quant_format=args.quant_format,
            types=args.types, per_channel=not args.per_tensor, calibration=args.calibration,
        )  # fmt: skip
        progress.phase("loading the INT8 model")
        int8 = _detector(args, str(out), None)
        int8.warmup()  # proves the file loads and runs
        table = _check_table(args, fp32, int8, progress) if args.check is not None else None
    sys.stdout.write(
        f"wrote {out}\n  from {source.name} at {h}x{w} (h x w), {len(tensors)} calibration "
        f"frames from {args.frames}, {args.quant_format} {args.types} "
        f"{'per-tensor' if args.per_tensor else 'per-channel'}, {args.calibration} calibration\n"
    )
    if table is not None:
        sys.stdout.write(table + "\n")
    sys.stdout.write(f"use it: detector: {{type: {args.family}, model: {out}}}\n")
    return 0


def _detector(args: argparse.Namespace, model: str, input_hw):
    from pydantic import ValidationError

    from carbonedge.runtime.base.errors import ConfigError
    from carbonedge.vision.detectors import create_detector
    from carbonedge.vision.detectors.onnx_session import SessionConfig
    from carbonedge.vision.detectors.ultralytics import UltralyticsConfig
    from carbonedge.vision.detectors.yolox import YoloxConfig

    try:
        session = SessionConfig(intra_op_threads=args.threads)
        if args.family == "yolox":
            config = YoloxConfig(model=model, classes=VEHICLES, input_hw=input_hw, session=session)
        else:
            config = UltralyticsConfig(model=model, input_hw=input_hw, session=session)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ConfigError(f"quantize: {where}: {first['msg']}") from None
    return create_detector(config)


def _calibration_tensors(detector, frames_path: Path, limit: int) -> list:
    """The detector's own preprocessing of up to ``limit`` frames spread over the clip/folder."""
    import cv2

    from carbonedge.runtime.base.errors import ConfigError
    from carbonedge.runtime.model_check import read_frames

    step = 1
    if frames_path.is_file():
        cap = cv2.VideoCapture(str(frames_path))
        step = max(1, int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0) // limit)
        cap.release()
    elif not frames_path.is_dir():
        raise ConfigError(f"--frames {frames_path}: no such file or folder")
    try:
        frames = read_frames(frames_path, limit, step=step)
    except ValueError as exc:
        raise ConfigError(f"--frames: {exc}") from None
    return [detector._preprocess(image)[0].copy() for image in frames]


def _check_table(args: argparse.Namespace, fp32, int8, progress) -> str:
    """Count, detections and speed of both models on ``args.check``, as a small table."""
    from carbonedge.runtime.model_check import count_on_clip, interleaved_ms, read_frames

    counts = {}
    for name, det in (("FP32", fp32), ("INT8", int8)):
        progress.phase(f"check: counting on {args.check.name} with {name}")
        counts[name] = count_on_clip(det, args.check, args.line_y, max_frames=args.check_frames)
    sample = read_frames(args.check, 1)[0]
    tensor = fp32._preprocess(sample)[0].copy()
    progress.phase("check: timing both models")
    ms = interleaved_ms({"FP32": (fp32.session, tensor), "INT8": (int8.session, tensor)})
    progress.phase("check: matching detections")
    matched, total, mean_iou, sampled = _matched(args, fp32, int8)
    h, w = fp32.input_hw
    lines = [
        f"check on {args.check.name} (line y = {args.line_y:g} px, "
        f"{counts['FP32'].frames} frames, {args.threads} threads):",
        "| model | input | model ms (interleaved, best of 5) | speed vs FP32 | line count "
        "| detections |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for name, c in counts.items():
        lines.append(
            f"| {name} | {h}x{w} | {ms[name]:.2f} | {ms['FP32'] / ms[name]:.2f}x "
            f"| {c.count} | {c.detections} |"
        )
    diff = counts["INT8"].count - counts["FP32"].count
    lines.append(
        f"count difference INT8 - FP32: {diff:+d}; detections matched (IoU >= 0.5, same class) "
        f"on {sampled} sampled frames: "
        f"{matched}/{total} of FP32's ({100 * matched / max(total, 1):.1f} %), mean IoU "
        f"{mean_iou:.3f}"
    )
    return "\n".join(lines)


def _matched(args: argparse.Namespace, fp32, int8, n_frames: int = 40):
    """(INT8 detections matched to FP32's, FP32 detections, mean IoU, frames) over every 10th
    frame of the check clip."""
    import numpy as np

    from carbonedge.runtime.base.types import Frame
    from carbonedge.runtime.model_check import match_detections, read_frames

    total_frames = args.check_frames or 1_000_000
    frames = read_frames(args.check, min(n_frames, -(-total_frames // 10)), step=10)
    matched = total = 0
    ious: list[float] = []
    for i, image in enumerate(frames):
        frame = Frame("check", i, i / 10.0, 0.0, np.ascontiguousarray(image), 10.0)
        a, b = fp32.detect(frame), int8.detect(frame)
        m, iou = match_detections(a, b)
        matched, total = matched + m, total + len(a)
        ious += [iou] * m
    return matched, total, float(np.mean(ious)) if ious else 0.0, len(frames)
